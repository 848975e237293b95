// Package e2e holds end-to-end tests that drive real ACME clients from
// Debian (certbot, lego, uacme with ualpn, dehydrated, acme-tiny) against a
// freshly built certgate binary on loopback ports.
//
// Run them with `go test ./test/e2e/` (or scripts/test.sh). Every client and
// helper tool must be installed; a missing one fails the test with the name
// of the Debian package to install. The uacme tests run as root (uacme
// 1.7.4 trusts only the system CA bundle, which they bind-mount over in a
// private mount namespace). TestClusterClients creates (and drops) a
// database on the PostgreSQL server of CERTGATE_TEST_POSTGRES, else
// postgres://postgres@127.0.0.1:5432/postgres.
//
// Besides issuance, the tests cover each client's less common paths:
// account update, key rollover and deactivation, forced renewal,
// revocation with reasons and by the certificate key or another
// authorized account, IP identifiers (IPv4 and IPv6, http-01 and
// tls-alpn-01), dns-01 wildcards, EAB, approvals, badNonce retries (the
// server is restarted in a client's hook), rateLimited with Retry-After,
// the §6.7 problem type of each refusal, and a two-node cluster.
// docs/clients.md maps each operation and client to its test; the
// *Matrix tests hold the cells the others leave out (external CSRs,
// preferred chains, renewal reusing the key or by the client's own
// window, authorization reuse and deactivation), and TestGoLibraries the
// operations no Debian client has (notBefore/notAfter, the newOrder
// profile field, ARI) through x/crypto/acme and lego v5.
//
// For developing the harness itself, CERTGATE_E2E_SERVER=pebble runs the
// same tests against Debian's pebble instead of certgate. The default, and
// the only mode CI uses, is certgate.
package e2e
