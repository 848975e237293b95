# Sourced by the scripts that build or test certgate (scripts/test.sh,
# scripts/lib.sh, .ci/run): they use the Go toolchain that go.mod's
# `toolchain` line names (go1.27.3), as the go command does with its
# default GOTOOLCHAIN=auto, fetching it once from the Go module proxy
# (about 76 MB). Some Go installations (Debian images among them) set
# GOTOOLCHAIN=local in their go.env, which would keep the installed Go
# instead. GOTOOLCHAIN set in the environment wins, e.g. GOTOOLCHAIN=local
# to build with the installed Go (1.26.8 or later also builds certgate;
# docs/performance.md, "Go 1.27 (session 16)", says what the newer
# toolchain changes).
if [[ -z ${GOTOOLCHAIN:-} ]]; then
	export GOTOOLCHAIN=auto
fi
