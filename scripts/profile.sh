#!/usr/bin/env bash
# CPU profile of `certgate serve` under the load tool (docs/performance.md).
#
#   ./scripts/profile.sh [TREE [OUTDIR [FLOWS]]]
#
# Builds certgate from TREE (default: this checkout), starts
# pebble-challtestsrv as DNS (every name → 127.0.0.1) and `certgate serve`
# (fresh SQLite data directory, --log-level warn) with CERTGATE_CPUPROFILE,
# runs 200 warm-up flows and then FLOWS (default 2000) flows of
# `certgate bench acme -c 8 -k 8 --key-type ec256`, and prints the measured
# run's flows/s, p99 and the server's CPU time per flow (utime+stime from
# /proc). OUTDIR (default: a new directory under $TMPDIR) gets the binary, cpu.out (the whole
# run, warm-up included), top.txt (`go tool pprof -top -cum`) and flat.txt.
# Needs: go, pebble-challtestsrv (Debian package pebble), python3, Linux /proc.
set -euo pipefail
. "$(dirname "$0")/lib.sh"
T=$(cd "${1:-$(dirname "$0")/..}" 2>/dev/null && pwd) || { echo "profile: no source tree at '${1}'" >&2; exit 1; }
O=${2:-$(mktemp -d "${TMPDIR:-/tmp}/certgate-profile.XXXXXX")}
N=${3:-2000}
[[ $N =~ ^[1-9][0-9]*$ ]] || { echo "profile: FLOWS must be a positive integer, got '$N'" >&2; exit 1; }
command -v pebble-challtestsrv >/dev/null || { echo "profile: pebble-challtestsrv is not installed (apt-get install pebble)" >&2; exit 1; }
mkdir -p "$O"
O=$(cd "$O" && pwd)
rm -rf "$O/data"
(cd "$T" && go build -o "$O/certgate" ./cmd/certgate)
trap 'kill ${DNS_PID:-} ${SERVE_PID:-} 2>/dev/null || true' EXIT
CERTGATE_CPUPROFILE=$O/cpu.out start_node "$O/certgate" "$O"
SP=$SERVE_PID
flows() { bench_flows "$O/certgate" "$P" "$O/root.pem" "$RESP" "$1" "$O/summary.json"; }
flows 200
t0=$(ticks "$SP")
flows "$N"
t1=$(ticks "$SP")
python3 -c 'import json,sys; d=json.load(open(sys.argv[1])); print("completed", d["completed"], "failed", d["failed"], "flows/s", round(d["flows_per_second"], 1), "p99 ms", round(d["overall"]["p99_ms"], 1))' "$O/summary.json"
echo "server CPU ms/flow: $(python3 -c "print(round(($t1 - $t0) * 1000 / $(getconf CLK_TCK) / $N, 3))")"
kill -INT "$SP"
wait "$SP" || true
go tool pprof -top -cum "$O/certgate" "$O/cpu.out" 2>/dev/null | head -120 >"$O/top.txt"
go tool pprof -top "$O/certgate" "$O/cpu.out" 2>/dev/null | head -60 >"$O/flat.txt"
echo "profile: $O/cpu.out (go tool pprof $O/certgate $O/cpu.out)"
