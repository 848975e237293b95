#!/usr/bin/env bash
# The project's one test command:  ./scripts/test.sh
#
# Runs go vet, the gofmt check, staticcheck (when installed), the unit and
# integration tests of the core packages (internal/..., test/cluster) with
# -race, the CLI's tests (cmd/...) and the code-quality checks without it,
# and the end-to-end tests that drive real
# Debian ACME clients (certbot, lego, uacme, dehydrated, acme-tiny) against a
# freshly built certgate. Every step runs; the script exits non-zero if any
# failed and names the failures at the end.
set -uo pipefail
cd "$(dirname "$0")/.."
. scripts/toolchain.sh
export PATH="$PATH:$(go env GOPATH)/bin"

failed=()
step() { printf '\n==> %s\n' "$*"; }

# --- tools the end-to-end tests (and the dashboard's browser test, and the
# PKCS#11 tests: SoftHSM2, and gcc for cgo) need: fail early and say what
# to install ---
missing=()
missing_pkgs=()
for pair in certbot:certbot lego:lego uacme:uacme ualpn:uacme dehydrated:dehydrated \
	acme-tiny:acme-tiny pebble-challtestsrv:pebble named:bind9 openssl:openssl curl:curl \
	unshare:util-linux mount:mount chromium:chromium softhsm2-util:softhsm2 gcc:gcc; do
	bin=${pair%%:*} pkg=${pair#*:}
	# named is in /usr/sbin, which not every user has in PATH.
	if ! command -v "$bin" >/dev/null 2>&1 && ! [[ -x /usr/sbin/$bin ]]; then
		missing+=("$bin (Debian package: $pkg)")
		case " ${missing_pkgs[*]-} " in *" $pkg "*) ;; *) missing_pkgs+=("$pkg") ;; esac
	fi
done
# certbot's RFC 2136 DNS plugin, imported with certbot's own interpreter.
certbot_python=$(sed -n '1s/^#! *//p' "$(command -v certbot 2>/dev/null || echo /dev/null)" 2>/dev/null)
if [[ -n $certbot_python ]] && ! $certbot_python -c 'import certbot_dns_rfc2136' >/dev/null 2>&1; then
	missing+=("certbot's dns-rfc2136 plugin (Debian package: python3-certbot-dns-rfc2136)")
	missing_pkgs+=(python3-certbot-dns-rfc2136)
fi
if ((${#missing[@]})); then
	echo "scripts/test.sh: the end-to-end tests need tools that are not installed:" >&2
	printf '  %s\n' "${missing[@]}" >&2
	echo "install them with: apt-get install ${missing_pkgs[*]}  (.ci/run does this)" >&2
	exit 1
fi

step "go vet ./..."
# -pgo=off: see the cmd step below; with the profile, vet compiles the ~490
# packages cmd/certgate imports twice, once with it and once without.
go vet -pgo=off ./... || failed+=("go vet")

step "gofmt -l"
mapfile -t gofiles < <(git ls-files -co --exclude-standard -- '*.go' 2>/dev/null || find . -name '*.go' -not -path './.git/*')
if ((${#gofiles[@]})); then
	unformatted=$(gofmt -l "${gofiles[@]}")
	if [[ -n $unformatted ]]; then
		echo "these files are not gofmt-formatted (run gofmt -w on them):"
		printf '  %s\n' $unformatted
		failed+=("gofmt")
	fi
fi

step "staticcheck ./..."
if command -v staticcheck >/dev/null 2>&1; then
	# staticcheck reads the standard library of the toolchain in use, so it
	# must be built with that Go version or a later one.
	go_version=$(go env GOVERSION)
	sc_go=$(go version "$(command -v staticcheck)" 2>/dev/null | awk '{print $2}')
	if [[ -n $sc_go && $sc_go != "$go_version" && $(printf '%s\n%s\n' "$sc_go" "$go_version" | sort -V | head -n 1) == "$sc_go" ]]; then
		echo "staticcheck was built with $sc_go, older than the $go_version this module builds with: reinstall it with GOTOOLCHAIN=$go_version go install honnef.co/go/tools/cmd/staticcheck@v0.8.2 (.ci/run does this)"
		failed+=("staticcheck")
	else
		staticcheck ./... || failed+=("staticcheck")
	fi
else
	echo "staticcheck not installed; skipped (go install honnef.co/go/tools/cmd/staticcheck@v0.8.2; .ci/run does this)"
fi

# The race detector runs on the core packages: everything under internal/
# and the multi-node tests of test/cluster, which run several nodes in one
# process. The CLI's tests (cmd/...) drive that same code through commands,
# one at a time, and under -race they took as long as all core packages
# together (RSA keys and CA creation run ~20x slower under the detector), so
# they and the code-quality checks run without it.
uncovered=$(go list ./... | grep -Ev '/(internal/.*|test/cluster|cmd/.*|test/codequality|test/e2e)$')
if [[ -n $uncovered ]]; then
	echo "scripts/test.sh: packages no test step runs (add them to a step below): $uncovered"
	failed+=("package list")
fi
step "go test -race (core packages: internal/..., test/cluster)"
# The longest packages first: go test starts them in the order given, two
# at a time on two cores; in alphabetical order internal/store (~6 min
# under -race) started after most others and ran alone for its last minutes.
first=(./internal/store ./test/cluster)
mapfile -t pkgs < <(printf '%s\n' "${first[@]}"; go list ./internal/... | grep -vx "$(go list ./internal/store)")
if ((${#pkgs[@]})); then
	go test -race -timeout 25m "${pkgs[@]}" || failed+=("go test -race")
fi

# -pgo=off here, in go vet and in the tests' own builds of the binary: the
# profile (cmd/certgate/default.pgo, which `go build` uses) would compile
# every package cmd/certgate imports once more, about a minute on 2 cores,
# for a speed no test measures.
step "go test (cmd/..., test/codequality)"
go test -pgo=off -timeout 15m ./cmd/... ./test/codequality || failed+=("go test (cmd, codequality)")

step "go test ./test/e2e/... (real ACME clients against certgate)"
# -v lists every client subtest; the === RUN/PAUSE/CONT lines are noise.
# -parallel 4: the clients mostly wait (their start-up, polling, the
# server's validation), so four at a time take ~100 s where two took ~150 s.
go test -pgo=off -count=1 -timeout 10m -parallel 4 -v ./test/e2e/... 2>&1 | grep -Ev '^=== (RUN|PAUSE|CONT|NAME)'
e2e_status=${PIPESTATUS[0]}
if ((e2e_status != 0)); then failed+=("e2e tests"); fi

echo
if ((${#failed[@]})); then
	echo "scripts/test.sh: FAILED: ${failed[*]}"
	exit 1
fi
echo "scripts/test.sh: all checks passed"
