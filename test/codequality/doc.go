// Package codequality holds source checks of the module's non-test Go code
// under internal/ and cmd/ that the compiler, go vet and staticcheck do not
// make: every exported identifier has a doc comment
// (TestExportedIdentifiersDocumented). The checks parse the source with
// go/parser and need nothing else; run them with
// `go test ./test/codequality/`; a failure names each identifier (file and
// line) to document.
package codequality
