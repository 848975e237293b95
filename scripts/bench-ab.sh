#!/usr/bin/env bash
# Server CPU per flow of two certgate source trees, measured under the same
# machine load (issue 3): on a shared machine a server's CPU time per flow
# rises with the load on the cores (caches, SMT siblings), so comparing
# runs made minutes apart says little. This script builds both trees, runs
# both servers at once (fresh SQLite data directories, one shared
# pebble-challtestsrv as DNS), and alternates runs of `certgate bench acme`
# against each, so that both see the same load.
#
#   ./scripts/bench-ab.sh OLD_TREE NEW_TREE [CHUNKS [FLOWS [CONCURRENCY]]]
#   ./scripts/bench-ab.sh /tmp/old . 4 500 8
#
# OLD_TREE / NEW_TREE are directories holding a certgate source tree, e.g.
# made with `git archive REV | tar -x -C DIR`. Each server first serves 200
# warm-up flows, then CHUNKS (default 4) runs of FLOWS (default 500) flows
# at CONCURRENCY (default 8), alternating. It prints each run (completed,
# failed, flows/s, p99 ms, server CPU ticks) and per tree the server CPU per
# completed flow (utime+stime from /proc/PID/stat).
#
# DATA_OLD / DATA_NEW (environment) name an existing --data directory for a
# server instead of a fresh one, e.g. one seeded with `certgate bench seed`
# to compare a large database with an empty one on the same tree:
#   DATA_NEW=/tmp/s1m/data ./scripts/bench-ab.sh . . 4 2000
# The runs add their flows to that directory. ENV_OLD / ENV_NEW hold
# NAME=VALUE words passed to that server's environment, e.g. to compare one
# tree with two settings: ENV_NEW="GOMAXPROCS=4" ./scripts/bench-ab.sh . . 4 1000
# TOOL_ENV holds NAME=VALUE words for the load tool's environment (both
# servers' runs), e.g. TOOL_ENV="GOMAXPROCS=1" (docs/performance.md, "Load
# tool CPU per flow (session 15)").
# Needs go, pebble-challtestsrv (Debian package pebble), python3, Linux /proc.
set -euo pipefail
. "$(dirname "$0")/lib.sh"
(($# >= 2)) || { sed -n '2,/^set -euo/p' "$0" | sed '$d; s/^# \{0,1\}//'; exit 2; }
A=$(cd "$1" && pwd)
B=$(cd "$2" && pwd)
CHUNKS=${3:-4}
N=${4:-500}
C=${5:-8}
command -v pebble-challtestsrv >/dev/null || { echo "bench-ab: pebble-challtestsrv is not installed (apt-get install pebble)" >&2; exit 1; }
W=$(mktemp -d "${TMPDIR:-/tmp}/bench-ab.XXXXXX")
PIDS=()
cleanup() {
	for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null || true; done
	wait 2>/dev/null || true
	rm -rf "$W"
}
trap cleanup EXIT
(cd "$A" && go build -o "$W/a" ./cmd/certgate)
(cd "$B" && go build -o "$W/b" ./cmd/certgate)
RESP=$(port); PA=$(port); PB=$(port)
start_dns "$W/dns.log"
PIDS+=("$DNS_PID")
DA=${DATA_OLD:-$W/da}
DB=${DATA_NEW:-$W/db}
SERVE_ENV=${ENV_OLD:-} start_serve "$W/a" "$DA" "$PA" "$RESP" "$W/a.log"
SA=$SERVE_PID
PIDS+=("$SA")
SERVE_ENV=${ENV_NEW:-} start_serve "$W/b" "$DB" "$PB" "$RESP" "$W/b.log"
SB=$SERVE_PID
PIDS+=("$SB")
for p in "$PA" "$PB"; do
	wait_healthz "$p"
done
"$W/a" ca root --data "$DA" >"$W/ra.pem"
"$W/b" ca root --data "$DB" >"$W/rb.pem"
run() { # run NAME PID PORT ROOT FLOWS
	local t0 t1
	t0=$(ticks "$2")
	bench_flows "$W/b" "$3" "$4" "$RESP" "$5" "$W/s.json" "$C"
	t1=$(ticks "$2")
	python3 -c 'import json,sys; d=json.load(open(sys.argv[1])); print(sys.argv[2], d["completed"], d["failed"], round(d["flows_per_second"],1), round(d["overall"]["p99_ms"],1), sys.argv[3], *[round(s["mean_ms"],2) for s in d["steps"] if s["name"] != "validation wait"])' \
		"$W/s.json" "$1" "$((t1 - t0))"
}
run old "$SA" "$PA" "$W/ra.pem" 200 >/dev/null
run new "$SB" "$PB" "$W/rb.pem" 200 >/dev/null
echo "tree completed failed flows/s p99-ms cpu-ticks, then mean ms of newOrder, authz fetch, challenge, finalize, certificate fetch"
for _ in $(seq "$CHUNKS"); do
	run old "$SA" "$PA" "$W/ra.pem" "$N"
	run new "$SB" "$PB" "$W/rb.pem" "$N"
done | tee "$W/runs.txt"
awk -v hz="$(getconf CLK_TCK)" -v a="$A" -v b="$B" '
	{ n[$1] += $2; f[$1] += $3; t[$1] += $6; r[$1] += $4; q[$1] += $5; k[$1]++; for (i = 7; i <= NF; i++) st[$1, i] += $i; ns = NF }
	END {
		printf "old (%s): %d completed, %d failed, server CPU %.2f ms/flow, mean flows/s %.1f, mean p99 %.1f ms\n", a, n["old"], f["old"], t["old"] * 1000 / hz / n["old"], r["old"] / k["old"], q["old"] / k["old"]
		printf "new (%s): %d completed, %d failed, server CPU %.2f ms/flow, mean flows/s %.1f, mean p99 %.1f ms\n", b, n["new"], f["new"], t["new"] * 1000 / hz / n["new"], r["new"] / k["new"], q["new"] / k["new"]
		for (w = 0; w < 2; w++) {
			tr = w ? "new" : "old"
			printf "%s step means (ms: newOrder, authz, challenge, finalize, cert):", tr
			for (i = 7; i <= ns; i++) printf " %.2f", st[tr, i] / k[tr]
			printf "\n"
		}
		printf "new/old: %.3f\n", (t["new"] / n["new"]) / (t["old"] / n["old"])
	}' "$W/runs.txt"
