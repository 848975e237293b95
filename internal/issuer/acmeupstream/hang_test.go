package acmeupstream

import (
	"context"
	"crypto/x509"
	"encoding/pem"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/certgate/certgate/internal/issuer"
)

// TestHangingUpstreamDoesNotQueue: while the first issuance waits on an
// upstream that never answers its directory request (the account is being
// set up), a second issuance whose context ends returns at once with an
// error, instead of waiting for the first to give up (each up to its
// timeout: a queue of them waited the sum, and held server shutdown).
func TestHangingUpstreamDoesNotQueue(t *testing.T) {
	entered, gate := make(chan struct{}, 8), make(chan struct{})
	srv := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		entered <- struct{}{}
		select {
		case <-gate:
		case <-r.Context().Done():
		}
		http.Error(w, "gone", http.StatusServiceUnavailable)
	}))
	defer srv.Close()
	dir := t.TempDir()
	bundle := filepath.Join(dir, "ca.pem")
	if err := os.WriteFile(bundle, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: srv.Certificate().Raw}), 0o600); err != nil {
		t.Fatal(err)
	}
	is, err := New(Config{Name: "hang", Directory: srv.URL + "/directory", CABundle: bundle, Timeout: "1h"}, issuer.Env{Data: dir})
	if err != nil {
		t.Fatal(err)
	}
	req := issuer.IssueRequest{CSR: &x509.CertificateRequest{}}
	firstDone := make(chan struct{})
	go func() {
		defer close(firstDone)
		_, _ = is.Issue(context.Background(), req)
	}()
	defer func() { close(gate); <-firstDone }() // before the data directory is removed
	<-entered                                   // the first issuance is inside the registration

	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() {
		_, err := is.Issue(ctx, req)
		done <- err
	}()
	cancel()
	select {
	case err := <-done:
		if err == nil {
			t.Fatal("the second issuance succeeded against an upstream that never answers")
		}
	case <-time.After(30 * time.Second): // a guard against a hang, not a measurement
		t.Fatal("the second issuance, its context ended, still waits for the first one's registration")
	}
}
