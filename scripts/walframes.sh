#!/usr/bin/env bash
# SQLite writes per issuance flow of `certgate serve`, counted (docs/performance.md, "WAL frames per
# flow"): deterministic where CPU time on a shared machine is not.
#
#   ./scripts/walframes.sh [TREE [FLOWS [OUTDIR]]]
#
# Builds certgate from TREE (default: this checkout), starts pebble-challtestsrv as DNS and
# `certgate serve` on a fresh SQLite data directory, runs 200 warm-up flows, then traces the server
# with strace (pwrite64, pread64, fcntl, fsync by file) during FLOWS (default 500) flows of
# `certgate bench acme -c 8 -k 8 --key-type ec256`, and prints per flow: the system calls by file
# (WAL, database, -shm, temporary files), WAL frames and commits, and the frames by table or index
# (each frame header's page number, mapped with dbstat once the server has stopped). strace slows the
# server to a few dozen flows/s, so commits carry fewer jobs than at full speed; compare trees with the
# same FLOWS, and expect a few percent between runs. DATA=DIR (environment) runs the server on an
# existing data directory instead (e.g. one made by `certgate bench seed`; the flows are added to it).
# Needs: go, strace, sqlite3, pebble-challtestsrv, python3.
set -euo pipefail
. "$(dirname "$0")/lib.sh"
T=$(cd "${1:-$(dirname "$0")/..}" 2>/dev/null && pwd) || { echo "walframes: no source tree at '${1}'" >&2; exit 1; }
N=${2:-500}
[[ $N =~ ^[1-9][0-9]*$ ]] || { echo "walframes: FLOWS must be a positive integer, got '$N'" >&2; exit 1; }
O=${3:-$(mktemp -d "${TMPDIR:-/tmp}/certgate-walframes.XXXXXX")}
for c in strace sqlite3 pebble-challtestsrv python3; do
	command -v "$c" >/dev/null || { echo "walframes: $c is not installed" >&2; exit 1; }
done
mkdir -p "$O"
O=$(cd "$O" && pwd)
rm -rf "$O/data"
if [[ -n ${DATA:-} ]]; then
	ln -s "$(cd "$DATA" && pwd)" "$O/data"
fi
(cd "$T" && go build -o "$O/certgate" ./cmd/certgate)
STP=
trap 'kill ${DNS_PID:-} ${SERVE_PID:-} $STP 2>/dev/null || true' EXIT
start_node "$O/certgate" "$O"
SP=$SERVE_PID
flows() { bench_flows "$O/certgate" "$P" "$O/root.pem" "$RESP" "$1" "$O/summary.json"; }
flows 200
strace -f -qq -y -e trace=pwrite64,pread64,fcntl,fsync,fdatasync -o "$O/strace.txt" -p "$SP" &
STP=$!
sleep 1
flows "$N"
sleep 0.5
kill -INT "$STP"
wait "$STP" || true
STP=
kill -INT "$SP"
wait "$SP" || true
python3 -c 'import json,sys; d=json.load(open(sys.argv[1])); print("completed", d["completed"], "failed", d["failed"], "flows/s", round(d["flows_per_second"], 1))' "$O/summary.json"
python3 - "$O/strace.txt" "$O/data/certgate.db" "$N" <<'PY'
import collections, re, subprocess, sys
trace, db, n = sys.argv[1], sys.argv[2], int(sys.argv[3])
pages = {}
for line in subprocess.run(["sqlite3", db, "SELECT pageno, name FROM dbstat"], capture_output=True, text=True, check=True).stdout.splitlines():
    p, name = line.split("|", 1)
    pages[int(p)] = name

def unescape(s):  # strace's C escapes of the buffer's first bytes
    out, i = bytearray(), 0
    simple = {"n": 10, "t": 9, "r": 13, "v": 11, "f": 12, "a": 7, "b": 8, "\\": 92, '"': 34, "e": 27}
    while i < len(s):
        if s[i] != "\\":
            out.append(ord(s[i])); i += 1; continue
        d = s[i + 1]
        if d == "x":
            out.append(int(s[i + 2:i + 4], 16)); i += 4
        elif d in "01234567":
            j = i + 1
            while j < len(s) and j < i + 4 and s[j] in "01234567":
                j += 1
            out.append(int(s[i + 1:j], 8)); i = j
        else:
            out.append(simple[d]); i += 2
    return bytes(out)

calls, trees = collections.Counter(), collections.Counter()
frames = commits = 0
for line in open(trace):
    m = re.search(r'(pwrite64|pread64|fcntl|fsync|fdatasync)\(\d+<([^>]*)>', line)
    if not m:
        continue
    path = m.group(2)
    kind = "wal" if path.endswith("-wal") else "shm" if path.endswith("-shm") else "db" if path.endswith(".db") else \
        "temporary file" if "/#" in path or "etilqs_" in path else None  # SQLite's deleted temporary files
    if kind is None:
        continue
    calls[(m.group(1), kind)] += 1
    h = re.search(r'pwrite64\(\d+<[^>]*-wal>, "((?:[^"\\]|\\.)*)"(?:\.\.\.)?, 24, ', line)
    if h:
        b = unescape(h.group(1))
        frames += 1
        commits += int.from_bytes(b[4:8], "big") != 0
        trees[pages.get(int.from_bytes(b[:4], "big"), "?")] += 1
print("per flow:")
for (call, kind), v in sorted(calls.items()):
    print(f"  {call:10s} {kind:15s} {v / n:7.2f}")
print(f"  WAL frames {frames / n:.2f}, commits {commits / n:.2f} ({frames / max(commits, 1):.1f} frames per commit)")
print("WAL frames per flow by table or index:")
for name, v in trees.most_common():
    print(f"  {name:40s} {v / n:6.2f}")
PY
echo "walframes: trace in $O/strace.txt"
