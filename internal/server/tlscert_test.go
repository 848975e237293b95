package server_test

import (
	"crypto/tls"
	"strings"
	"testing"
	"time"

	"github.com/certgate/certgate/internal/certlint"
	"github.com/certgate/certgate/internal/testenv"
)

// TestServerCertificateLifetime: the server's own HTTPS certificate lives
// under 47 days (the CA/B Forum BR limit for TLS server certificates issued
// from 2029-03-15, ballot SC-081), so that it still passes the issuance
// lint then, and passes it now.
func TestServerCertificateLifetime(t *testing.T) {
	env := testenv.New(t)
	conn, err := tls.Dial("tcp", strings.TrimPrefix(env.BaseURL, "https://"), &tls.Config{RootCAs: env.Roots, ServerName: "localhost"})
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	leaf := conn.ConnectionState().PeerCertificates[0]
	// The validity period counts the notAfter second (RFC 5280 §4.1.2.5).
	if life := leaf.NotAfter.Sub(leaf.NotBefore) + time.Second; life >= 47*24*time.Hour {
		t.Errorf("server certificate valid for %s, want under 47 days", life)
	}
	if err := certlint.Check(leaf.Raw); err != nil {
		t.Errorf("server certificate fails the lint: %v", err)
	}
}
