# Shared start-up of the measurement scripts (bench-ab.sh, profile.sh, walframes.sh): sourced, not run.
# Each function starts or waits for one thing on loopback; the caller owns the processes (their PIDs are
# set in variables) and stops them in its own EXIT trap.
# Needs: pebble-challtestsrv (Debian package pebble), python3, curl, Linux /proc.

# The Go toolchain of go.mod's toolchain line (scripts/toolchain.sh).
. "$(dirname "${BASH_SOURCE[0]}")/toolchain.sh"

# port prints a free TCP port on 127.0.0.1.
port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }

# start_dns LOG starts pebble-challtestsrv as the DNS server (every name → 127.0.0.1, no challenge
# servers) on free ports, logging to LOG; sets DNS (its DNS port) and DNS_PID.
start_dns() {
	local mgmt
	DNS=$(port)
	mgmt=$(port)
	pebble-challtestsrv -defaultIPv4 127.0.0.1 -defaultIPv6 "" -dns01 "127.0.0.1:$DNS" -management "127.0.0.1:$mgmt" \
		-http01 "" -https01 "" -tlsalpn01 "" >"$1" 2>&1 &
	DNS_PID=$!
}

# start_serve BIN DATA PORT RESP LOG starts `BIN serve` on DATA, listening on 127.0.0.1:PORT, validating
# http-01 on port RESP and resolving with start_dns's server, --log-level warn, logging to LOG; sets
# SERVE_PID. Environment given before the call (e.g. CERTGATE_CPUPROFILE=FILE start_serve ...) reaches
# the server, as do the assignments in SERVE_ENV (e.g. SERVE_ENV="GOMAXPROCS=4").
start_serve() {
	# shellcheck disable=SC2086 # SERVE_ENV holds zero or more NAME=VALUE words
	env ${SERVE_ENV:-} "$1" serve --data "$2" --listen "127.0.0.1:$3" --va-http-port "$4" --va-dns-resolver "127.0.0.1:$DNS" \
		--log-level warn >"$5" 2>&1 &
	SERVE_PID=$!
}

# wait_healthz PORT waits up to about 30 s for https://127.0.0.1:PORT/healthz to answer.
wait_healthz() {
	for _ in $(seq 150); do curl -sfk -o /dev/null --max-time 2 "https://127.0.0.1:$1/healthz" && break; sleep 0.2; done
}

# ca_root BIN DATA OUT writes the root certificate of the server on DATA to OUT, retrying for about 10 s
# while the server creates its CA.
ca_root() {
	for _ in $(seq 50); do "$1" ca root --data "$2" >"$3" 2>/dev/null && break; sleep 0.2; done
}

# ticks PID prints the CPU time (utime+stime, clock ticks) process PID has used (/proc/PID/stat).
ticks() { awk '{sub(/.*\) /, ""); print $12 + $13}' "/proc/$1/stat"; }

# start_node BIN DIR starts start_dns's server and `BIN serve` (start_serve) on DIR/data, logging to
# DIR/dns.log and DIR/serve.log, waits for it and writes its root certificate to DIR/root.pem; sets P
# (its port), RESP (its http-01 port), DNS_PID and SERVE_PID.
start_node() {
	RESP=$(port)
	P=$(port)
	start_dns "$2/dns.log"
	start_serve "$1" "$2/data" "$P" "$RESP" "$2/serve.log"
	wait_healthz "$P"
	ca_root "$1" "$2/data" "$2/root.pem"
}

# bench_flows BIN PORT ROOT RESP N JSON [CONCURRENCY] runs N flows of `BIN bench acme -k 8
# --key-type ec256` at CONCURRENCY (default 8) against https://localhost:PORT (trusting ROOT, answering
# http-01 on port RESP) and writes the JSON summary to JSON. The assignments in TOOL_ENV (e.g.
# TOOL_ENV="GOMAXPROCS=1") reach the load tool's environment, as SERVE_ENV's reach the server's.
bench_flows() {
	# shellcheck disable=SC2086 # TOOL_ENV holds zero or more NAME=VALUE words
	env ${TOOL_ENV:-} "$1" bench acme -d "https://localhost:$2/acme/directory" --ca "$3" --http01-listen "127.0.0.1:$4" \
		-n "$5" -c "${7:-8}" -k 8 --key-type ec256 --json "$6" >/dev/null
}
