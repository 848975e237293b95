#!/usr/bin/env bash
# Regenerates cmd/certgate/default.pgo, the CPU profile the Go toolchain uses
# for profile-guided optimisation of every `go build` / `go run` of
# ./cmd/certgate (docs/performance.md, "Profile-guided optimisation").
#
#   ./scripts/pgo.sh [FLOWS]
#
# Builds certgate from this checkout, starts pebble-challtestsrv as DNS
# (every name → 127.0.0.1) and `certgate serve` on a fresh SQLite data
# directory with CERTGATE_CPUPROFILE, runs 200 warm-up flows and then FLOWS
# (default 3000) flows of `certgate bench acme -c 8 -k 8 --key-type ec256`
# with the load tool profiled too, and writes the merge of the two profiles
# (server and load tool: both are this binary) to cmd/certgate/default.pgo.
# Run it after changes that move where the server spends its CPU; a stale
# profile still builds correct code, only less of it is optimised.
# Needs: go, pebble-challtestsrv (Debian package pebble), python3, Linux /proc.
set -euo pipefail
. "$(dirname "$0")/lib.sh"
T=$(cd "$(dirname "$0")/.." && pwd)
N=${1:-3000}
[[ $N =~ ^[1-9][0-9]*$ ]] || { echo "pgo: FLOWS must be a positive integer, got '$N'" >&2; exit 1; }
command -v pebble-challtestsrv >/dev/null || { echo "pgo: pebble-challtestsrv is not installed (apt-get install pebble)" >&2; exit 1; }
O=$(mktemp -d "${TMPDIR:-/tmp}/certgate-pgo.XXXXXX")
trap 'kill ${DNS_PID:-} ${SERVE_PID:-} 2>/dev/null || true; rm -rf "$O"' EXIT
# Built as users build it (with the current default.pgo, if any): Go's PGO is
# meant to be refreshed from profiles of PGO-built binaries.
(cd "$T" && go build -o "$O/certgate" ./cmd/certgate)
CERTGATE_CPUPROFILE=$O/server.out start_node "$O/certgate" "$O"
SP=$SERVE_PID
bench_flows "$O/certgate" "$P" "$O/root.pem" "$RESP" 200 "$O/warmup.json"
CERTGATE_CPUPROFILE=$O/tool.out bench_flows "$O/certgate" "$P" "$O/root.pem" "$RESP" "$N" "$O/summary.json"
kill -INT "$SP"
wait "$SP" || true
python3 -c 'import json,sys; d=json.load(open(sys.argv[1])); print("pgo: profiled", d["completed"], "flows,", d["failed"], "failed,", round(d["flows_per_second"], 1), "flows/s")' "$O/summary.json"
go tool pprof -proto "$O/certgate" "$O/server.out" "$O/tool.out" >"$T/cmd/certgate/default.pgo" 2>/dev/null
echo "pgo: wrote $T/cmd/certgate/default.pgo ($(stat -c %s "$T/cmd/certgate/default.pgo") bytes)"
