#!/usr/bin/env bash
# Side-by-side issuance throughput of certgate and Pebble on loopback (issue 3).
#
#   ./scripts/bench-compare.sh                 # 2000 flows, 8 concurrent, 8 accounts, ec256
#   ROUNDS=2 ./scripts/bench-compare.sh        # pebble, certgate, pebble, certgate
#   ./scripts/bench-compare.sh -n 5000 --rounds 2 --high
#
# It builds certgate, starts pebble-challtestsrv as the DNS server of both
# (every name → 127.0.0.1), Debian's pebble (artificial sleeps, nonce
# rejection and authorization reuse off) and `certgate serve` (fresh data
# directory, SQLite), then runs `certgate bench acme` with the same flags
# against each in turn. For every run it prints flows/s, p50/p99 of the whole
# flow, the server's CPU time per completed flow (utime+stime from
# /proc/PID/stat before and after the run) and its RSS after the run, then the
# ratio certgate/pebble of flows/s. --high also runs certgate alone at 32 and
# 64 concurrent flows. Every process it starts is stopped on exit.
#
# Settings (flag, or environment variable):
#   -n N            N=2000        flows per run
#   -c C            C=8           concurrent flows
#   -k K            K=8           accounts
#   --key-type T    KEY_TYPE=ec256  certificate key: ec256 or rsa2048
#   --rounds R      ROUNDS=1      runs against each server (alternating)
#   --high          HIGH=1        then certgate alone at HIGH_C (default "32 64")
#   --timeout D     TIMEOUT=10m   bound of one run (certgate bench acme --timeout)
#   --keep          KEEP=1        keep the work directory (logs, JSON summaries)
#   --ignore-retry-after  IGNORE_RETRY_AFTER=1  poll from 10 ms regardless of Retry-After
#   --http2         HTTP2=1       let the load tool use HTTP/2 where a server offers it
#                                 (Pebble does, certgate only with `serve --http2`); by
#                                 default it speaks HTTP/1.1 to both
#   --stall S       STALL=15      stop a run whose server used no CPU for S seconds
#   PEBBLE_RETRIES=2              after a pebble run stalls (Pebble 2.4 can deadlock),
#                                 restart pebble and run the round again (round R.1, R.2)
#   TOOL_ENV=                     NAME=VALUE words for the load tool's environment, the same
#                                 for both servers' runs, e.g. TOOL_ENV="GOMAXPROCS=1"
#                                 (docs/performance.md, "Load tool CPU per flow (session 15)")
# Needs: go, pebble and pebble-challtestsrv (Debian package pebble), openssl,
# jq or python3, ss (iproute2), Linux /proc.
set -euo pipefail
cd "$(dirname "$0")/.."
. scripts/toolchain.sh

N=${N:-2000}
C=${C:-8}
K=${K:-8}
KEY_TYPE=${KEY_TYPE:-ec256}
ROUNDS=${ROUNDS:-1}
HIGH=${HIGH:-0}
HIGH_C=${HIGH_C:-32 64}
TIMEOUT=${TIMEOUT:-10m}
KEEP=${KEEP:-0}
IGNORE_RETRY_AFTER=${IGNORE_RETRY_AFTER:-0}
HTTP2=${HTTP2:-0}
STALL=${STALL:-15}
PEBBLE_RETRIES=${PEBBLE_RETRIES:-2}
TOOL_ENV=${TOOL_ENV:-}

usage() { sed -n '2,/^set -euo/p' "$0" | sed '$d; s/^# \{0,1\}//'; }
die() {
	echo "bench-compare: $*" >&2
	exit 1
}

while (($#)); do
	case $1 in
	-n) N=${2:?-n needs a value}; shift 2 ;;
	-c) C=${2:?-c needs a value}; shift 2 ;;
	-k) K=${2:?-k needs a value}; shift 2 ;;
	--key-type) KEY_TYPE=${2:?--key-type needs a value}; shift 2 ;;
	--rounds) ROUNDS=${2:?--rounds needs a value}; shift 2 ;;
	--high) HIGH=1; shift ;;
	--timeout) TIMEOUT=${2:?--timeout needs a value}; shift 2 ;;
	--keep) KEEP=1; shift ;;
	--stall) STALL=${2:?--stall needs a value}; shift 2 ;;
	--ignore-retry-after) IGNORE_RETRY_AFTER=1; shift ;;
	--http2) HTTP2=1; shift ;;
	-h | --help) usage; exit 0 ;;
	*) die "unknown argument $1 (see --help)" ;;
	esac
done
[[ $PEBBLE_RETRIES =~ ^[0-9]+$ ]] || die "PEBBLE_RETRIES must be 0 or a positive integer, got '$PEBBLE_RETRIES'"
for v in N C K ROUNDS STALL; do
	[[ ${!v} =~ ^[1-9][0-9]*$ ]] || die "$v must be a positive integer, got '${!v}'"
done
for c in $HIGH_C; do
	[[ $c =~ ^[1-9][0-9]*$ ]] || die "HIGH_C must list positive integers, got '$HIGH_C'"
done

# --- tools ---
command -v pebble >/dev/null 2>&1 || die "pebble is not installed (Debian/Ubuntu: apt-get install pebble)"
command -v pebble-challtestsrv >/dev/null 2>&1 || die "pebble-challtestsrv is not installed (Debian/Ubuntu: apt-get install pebble)"
command -v openssl >/dev/null 2>&1 || die "openssl is not installed (apt-get install openssl)"
command -v go >/dev/null 2>&1 || die "go is not installed"
command -v ss >/dev/null 2>&1 || die "ss is not installed (apt-get install iproute2)"
if command -v jq >/dev/null 2>&1; then
	json() { jq -r "$2" "$1"; }
elif command -v python3 >/dev/null 2>&1; then
	json() { python3 -c 'import json,sys; d=json.load(open(sys.argv[1])); print(eval(sys.argv[2], {"d": d}))' "$1" "$(jq2py "$2")"; }
	jq2py() { sed -E 's/\.([a-z_0-9]+)/["\1"]/g; s/^/d/' <<<"$1"; }
else
	die "jq or python3 is needed to read the load tool's JSON summary (apt-get install jq)"
fi
[[ -r /proc/self/stat ]] || die "/proc is needed to measure server CPU time"
CLK_TCK=$(getconf CLK_TCK)

# --- work directory and cleanup ---
WORK=$(mktemp -d "${TMPDIR:-/tmp}/bench-compare.XXXXXX")
PIDS=()
BENCH_PID=
STALLED=()
cleanup() {
	local rc=$?
	trap - EXIT INT TERM
	local pid
	[[ -n $BENCH_PID ]] && kill -INT "$BENCH_PID" 2>/dev/null && wait "$BENCH_PID" 2>/dev/null
	for pid in "${PIDS[@]}"; do
		kill "$pid" 2>/dev/null || true
	done
	for pid in "${PIDS[@]}"; do
		# give each up to 5 s, then kill it
		for _ in $(seq 50); do
			kill -0 "$pid" 2>/dev/null || break
			sleep 0.1
		done
		kill -9 "$pid" 2>/dev/null || true
		wait "$pid" 2>/dev/null || true
	done
	if [[ $KEEP == 1 ]]; then
		echo "work directory kept: $WORK" >&2
	else
		rm -rf "$WORK"
	fi
	exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

# free_port prints a TCP and UDP port on 127.0.0.1 that nothing listens on
# and that this script has not handed out yet.
TAKEN=" "
free_port() {
	local used p
	used=" $(ss -Htanu 2>/dev/null | awk '{n=split($5, a, ":"); print a[n]}' | sort -u | tr '\n' ' ') "
	for _ in $(seq 200); do
		p=$((20000 + RANDOM % 40000))
		if [[ $used != *" $p "* && $TAKEN != *" $p "* ]]; then
			TAKEN+="$p "
			echo "$p"
			return
		fi
	done
	die "no free port found"
}

# wait_tcp PORT PID NAME LOG [URL]: wait until 127.0.0.1:PORT accepts
# connections or, given URL, until URL answers (certgate binds its port
# before it has created its CA, so its readiness is /healthz answering).
wait_tcp() {
	local port=$1 pid=$2 name=$3 log=$4 url=${5:-}
	for _ in $(seq 300); do
		if ! kill -0 "$pid" 2>/dev/null; then
			echo "bench-compare: $name exited during start-up; its log ($log):" >&2
			tail -n 20 "$log" >&2
			exit 1
		fi
		if [[ -n $url ]]; then
			curl -sfk -o /dev/null --max-time 2 "$url" && return
		elif (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null; then
			return
		fi
		sleep 0.1
	done
	die "$name did not answer on 127.0.0.1:$port within 30 s (log: $log)"
}

# cpu_ticks PID: utime+stime of the process, in clock ticks. Fields 14 and
# 15 of /proc/PID/stat, counted after the ")" that ends the command name.
cpu_ticks() { awk '{sub(/.*\) /, ""); print $12 + $13}' "/proc/$1/stat"; }
rss_mib() { awk '/^VmRSS:/ {printf "%.1f", $2 / 1024}' "/proc/$1/status"; }

# --- build ---
echo "building certgate ..." >&2
go build -o "$WORK/certgate" ./cmd/certgate
CERTGATE=$WORK/certgate

DNS_PORT=$(free_port)
DNS_MGMT_PORT=$(free_port)
RESPONDER_PORT=$(free_port)
PEBBLE_PORT=$(free_port)
PEBBLE_MGMT_PORT=$(free_port)
PEBBLE_TLS_PORT=$(free_port)
CERTGATE_PORT=$(free_port)

# --- DNS: every name resolves to 127.0.0.1, no AAAA ---
pebble-challtestsrv -defaultIPv4 127.0.0.1 -defaultIPv6 "" -dns01 "127.0.0.1:$DNS_PORT" \
	-management "127.0.0.1:$DNS_MGMT_PORT" -http01 "" -https01 "" -tlsalpn01 "" \
	>"$WORK/challtestsrv.log" 2>&1 &
PIDS+=($!)
wait_tcp "$DNS_MGMT_PORT" "$!" pebble-challtestsrv "$WORK/challtestsrv.log"

# --- pebble ---
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -days 7 \
	-subj /CN=localhost -addext "subjectAltName=DNS:localhost,IP:127.0.0.1" \
	-keyout "$WORK/pebble-key.pem" -out "$WORK/pebble-cert.pem" >/dev/null 2>&1 ||
	die "openssl could not make pebble's TLS certificate"
cat >"$WORK/pebble-config.json" <<EOF
{
  "pebble": {
    "listenAddress": "127.0.0.1:$PEBBLE_PORT",
    "managementListenAddress": "127.0.0.1:$PEBBLE_MGMT_PORT",
    "certificate": "$WORK/pebble-cert.pem",
    "privateKey": "$WORK/pebble-key.pem",
    "httpPort": $RESPONDER_PORT,
    "tlsPort": $PEBBLE_TLS_PORT,
    "ocspResponderURL": "",
    "externalAccountBindingRequired": false
  }
}
EOF
PEBBLE_STARTS=0
start_pebble() { # a fresh pebble (its state is in memory); its log is pebble.log, then pebble-2.log …
	PEBBLE_STARTS=$((PEBBLE_STARTS + 1))
	local log=$WORK/pebble.log
	((PEBBLE_STARTS > 1)) && log=$WORK/pebble-$PEBBLE_STARTS.log
	PEBBLE_VA_NOSLEEP=1 PEBBLE_WFE_NONCEREJECT=0 PEBBLE_AUTHZREUSE=0 \
		pebble -config "$WORK/pebble-config.json" -dnsserver "127.0.0.1:$DNS_PORT" >"$log" 2>&1 &
	PEBBLE_PID=$!
	PIDS+=("$PEBBLE_PID")
	wait_tcp "$PEBBLE_PORT" "$PEBBLE_PID" pebble "$log"
}
start_pebble

# --- certgate ---
"$CERTGATE" serve --data "$WORK/certgate-data" --listen "127.0.0.1:$CERTGATE_PORT" \
	--va-http-port "$RESPONDER_PORT" --va-dns-resolver "127.0.0.1:$DNS_PORT" --log-level warn \
	>"$WORK/certgate.log" 2>&1 &
CERTGATE_PID=$!
PIDS+=("$CERTGATE_PID")
wait_tcp "$CERTGATE_PORT" "$CERTGATE_PID" "certgate serve" "$WORK/certgate.log" "https://127.0.0.1:$CERTGATE_PORT/healthz"
# The CA exists once serve has started; on a loaded machine the port can
# answer (another process, or serve itself) a moment before, so retry.
for _ in $(seq 100); do
	"$CERTGATE" ca root --data "$WORK/certgate-data" >"$WORK/certgate-root.pem" 2>"$WORK/ca-root.log" && break
	kill -0 "$CERTGATE_PID" 2>/dev/null || die "certgate serve exited during start-up; its log: $(tail -n 20 "$WORK/certgate.log")"
	sleep 0.3
done
[[ -s $WORK/certgate-root.pem ]] || die "certgate ca root failed: $(cat "$WORK/ca-root.log")"

PEBBLE_DIR=https://localhost:$PEBBLE_PORT/dir
CERTGATE_DIR=https://localhost:$CERTGATE_PORT/acme/directory

# --- runs ---
RESULTS=() # lines: server c round flows/s p50 p99 cpu_ms/flow rss completed failed
run() { # run NAME PID DIRECTORY CAFILE CONCURRENCY ROUND
	local name=$1 pid=$2 dir=$3 ca=$4 c=$5 round=$6
	local out=$WORK/$name-c$c-r$round
	local extra=()
	[[ $IGNORE_RETRY_AFTER == 1 ]] && extra+=(--ignore-retry-after)
	[[ $HTTP2 == 1 ]] && extra+=(--http2)
	echo >&2
	echo "=== $name: $N flows, concurrency $c, $K accounts, $KEY_TYPE (round $round) ===" >&2
	kill -0 "$pid" 2>/dev/null || die "$name is no longer running (log: $WORK/$name.log)"
	local t0 t1 rc=0
	t0=$(cpu_ticks "$pid")
	# shellcheck disable=SC2086 # TOOL_ENV holds zero or more NAME=VALUE words
	env $TOOL_ENV "$CERTGATE" bench acme -d "$dir" --ca "$ca" --http01-listen "127.0.0.1:$RESPONDER_PORT" \
		-n "$N" -c "$c" -k "$K" --key-type "$KEY_TYPE" --timeout "$TIMEOUT" --json "$out.json" "${extra[@]}" \
		>"$out.txt" &
	BENCH_PID=$!
	# Watchdog: a server that uses no CPU while flows are in flight is
	# stuck (Pebble 2.4 can deadlock); interrupt the load tool, which then
	# reports what completed and counts the rest as failed.
	local last=$t0 now idle=0
	while kill -0 "$BENCH_PID" 2>/dev/null; do
		sleep 1
		now=$(cpu_ticks "$pid" 2>/dev/null) || now=$last
		if ((now - last < 2)); then idle=$((idle + 1)); else idle=0; fi
		last=$now
		if ((idle == STALL)); then
			echo "bench-compare: $name used no CPU for $STALL s with flows in flight: stalled; stopping this run" >&2
			kill -INT "$BENCH_PID" 2>/dev/null || true
		fi
	done
	wait "$BENCH_PID" || rc=$?
	BENCH_PID=
	t1=$(cpu_ticks "$pid")
	LAST_STALLED=0
	if ((idle >= STALL)); then
		STALLED+=("$name (concurrency $c, round $round)")
		LAST_STALLED=1
	fi
	cat "$out.txt" >&2
	if [[ ! -s $out.json ]]; then
		echo "bench-compare: the run against $name did not complete (exit $rc); see above" >&2
		RESULTS+=("$name $c $round - - - - $(rss_mib "$pid") 0 $N")
		return
	fi
	local fps p50 p99 completed failed cpu
	fps=$(printf '%.1f' "$(json "$out.json" .flows_per_second)")
	p50=$(printf '%.1f' "$(json "$out.json" .overall.p50_ms)")
	p99=$(printf '%.1f' "$(json "$out.json" .overall.p99_ms)")
	completed=$(json "$out.json" .completed)
	failed=$(json "$out.json" .failed)
	cpu=$(awk -v t="$((t1 - t0))" -v hz="$CLK_TCK" -v n="$completed" 'BEGIN { if (n > 0) printf "%.2f", t * 1000 / hz / n; else print "-" }')
	RESULTS+=("$name $c $round $fps $p50 $p99 $cpu $(rss_mib "$pid") $completed $failed")
}

for round in $(seq "$ROUNDS"); do
	run pebble "$PEBBLE_PID" "$PEBBLE_DIR" "$WORK/pebble-cert.pem" "$C" "$round"
	# Pebble 2.4 can deadlock (its in-memory store takes locks in two
	# orders); the stalled run stays in the table, and the round is run
	# again against a fresh pebble, up to PEBBLE_RETRIES times.
	for retry in $(seq "$PEBBLE_RETRIES"); do
		((LAST_STALLED)) || break
		echo "bench-compare: restarting pebble after its stall; running round $round again" >&2
		kill -KILL "$PEBBLE_PID" 2>/dev/null || true # deadlocked; it keeps nothing on disk
		wait "$PEBBLE_PID" 2>/dev/null || true
		start_pebble
		run pebble "$PEBBLE_PID" "$PEBBLE_DIR" "$WORK/pebble-cert.pem" "$C" "$round.$retry"
	done
	run certgate "$CERTGATE_PID" "$CERTGATE_DIR" "$WORK/certgate-root.pem" "$C" "$round"
done
if [[ $HIGH == 1 ]]; then
	for c in $HIGH_C; do
		run certgate "$CERTGATE_PID" "$CERTGATE_DIR" "$WORK/certgate-root.pem" "$c" 1
	done
fi

# --- summary ---
echo
echo "bench-compare: $N flows per run, $K accounts, $KEY_TYPE keys, loopback, $(nproc) CPUs ($(awk -F': ' '/^model name/ {print $2; exit}' /proc/cpuinfo))"
echo "pebble: $(dpkg-query -W -f '${Version}' pebble 2>/dev/null || echo '?') (PEBBLE_VA_NOSLEEP=1 PEBBLE_WFE_NONCEREJECT=0 PEBBLE_AUTHZREUSE=0); certgate: $(git describe --always --dirty 2>/dev/null || echo '?')"
echo
printf '%-9s %4s %5s %9s %8s %8s %12s %9s %9s %7s\n' server C round flows/s p50-ms p99-ms cpu-ms/flow rss-MiB completed failed
for r in "${RESULTS[@]}"; do
	# shellcheck disable=SC2086
	printf '%-9s %4s %5s %9s %8s %8s %12s %9s %9s %7s\n' $r
done
echo
# ratio of the mean flows/s at concurrency C over the rounds in which
# every flow completed (a stalled or failing run says nothing about speed)
awk -v c="$C" '
	$2 == c && $4 != "-" && $10 == 0 { sum[$1] += $4; n[$1]++ }
	$2 == c && ($4 == "-" || $10 != 0) { bad[$1]++ }
	END {
		if (n["pebble"] && n["certgate"]) {
			cg = sum["certgate"] / n["certgate"]; pb = sum["pebble"] / n["pebble"]
			printf "certgate/pebble flows/s at concurrency %d: %.2f (%.1f / %.1f", c, cg / pb, cg, pb
			if (n["pebble"] > 1 || n["certgate"] > 1) printf "; means of %d and %d rounds", n["certgate"], n["pebble"]
			print ")"
		} else {
			print "certgate/pebble flows/s: n/a (no run of one of them completed every flow)"
		}
		for (s in bad) printf "  (%d %s run(s) with failed flows left out of the ratio)\n", bad[s], s
	}' < <(printf '%s\n' "${RESULTS[@]}")
for s in "${STALLED[@]}"; do
	echo "stalled: $s — the server stopped using CPU with flows in flight"
done

# Exit status: 1 when a certgate run failed flows, or when no pebble run
# at concurrency C completed (no ratio); a pebble stall followed by a
# complete run of the same round is reported above but is not a failure.
fail=0 pebble_ok=0
for r in "${RESULTS[@]}"; do
	read -r name c _ fps _ _ _ _ _ failed <<<"$r"
	if [[ $fps == "-" || $failed != 0 ]]; then
		[[ $name == certgate ]] && fail=1
	elif [[ $name == pebble && $c == "$C" ]]; then
		pebble_ok=1
	fi
done
((pebble_ok)) || fail=1
exit "$fail"
