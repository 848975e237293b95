// Package e2e holds end-to-end tests that drive real ACME clients from
// Debian (certbot, lego, uacme with ualpn, dehydrated, acme-tiny) against a
// freshly built certgate binary on loopback ports.
//
// Run them with `go test ./test/e2e/` (or scripts/test.sh). Every client and
// helper tool must be installed; a missing one fails the test with the name
// of the Debian package to install.
//
// For developing the harness itself, CERTGATE_E2E_SERVER=pebble runs the
// same tests against Debian's pebble instead of certgate. The default, and
// the only mode CI uses, is certgate.
package e2e
