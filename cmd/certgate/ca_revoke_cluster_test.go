package main

import (
	"context"
	"crypto/x509"
	"encoding/json"
	"net/http"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/certgate/certgate/internal/audit"
	"github.com/certgate/certgate/internal/auth"
	"github.com/certgate/certgate/internal/issuer/local"
	"github.com/certgate/certgate/internal/ra"
	"github.com/certgate/certgate/internal/server"
	"github.com/certgate/certgate/internal/store/storetest"
	"github.com/certgate/certgate/internal/testenv"
)

// TestClusterRevokedIntermediateRenewalInfo: in a cluster (PostgreSQL), an
// intermediate revoked on node 1's data directory (`ca revoke-intermediate
// --db`, which publishes the root CRL that lists it) counts as revoked on
// node 2, whose DATA/ca was copied after the rotation and not again: its
// renewalInfo (RFC 9773) asks to renew the certificates it signed at once,
// and the admin API and `cert show` say "intermediate-revoked". So when
// node 2 starts after the revocation (it adopts the CRL at its start), and
// when it runs during it (it adopts it within revocation-refresh); `cert
// show` says so also before node 2 adopted it (the database's CRL). The
// former code counted the revocation marks of node 2's DATA/ca alone:
// node 2 served the root CRL listing the intermediate, but the default
// renewal window.
func TestClusterRevokedIntermediateRenewalInfo(t *testing.T) {
	dsn := storetest.PostgresDSN(t)
	data1 := filepath.Join(t.TempDir(), "node1")
	data2 := filepath.Join(t.TempDir(), "node2")
	// Node 1 issues a certificate with intermediate a, rotates, issues one
	// with b, and rotates again: c signs.
	var leaves, inters []*x509.Certificate
	for range 2 {
		t.Run("node1", func(t *testing.T) {
			env := testenv.NewWithOptions(t, testenv.Options{Data: data1, DB: dsn})
			leaves = append(leaves, issueDirect(t, env))
			inters = append(inters, env.Server.CA().Intermediate())
		})
		if t.Failed() {
			t.FailNow()
		}
		if _, _, err := runCLI(t, nil, "ca", "rotate", "--data", data1, "--db", dsn); err != nil {
			t.Fatal(err)
		}
	}
	bundle, _, err := runCLI(t, nil, "ca", "export", "--data", data1, "--with-retired")
	if err != nil {
		t.Fatal(err)
	}
	if _, _, err := runCLI(t, []byte(bundle), "ca", "import", "--data", data2); err != nil {
		t.Fatal(err)
	}

	var mu sync.Mutex
	offset := time.Duration(0)
	now := func() time.Time {
		mu.Lock()
		defer mu.Unlock()
		return time.Now().Add(offset)
	}
	startNode2 := func(t *testing.T) *testenv.Env {
		t.Helper()
		return testenv.NewWithOptions(t, testenv.Options{Data: data2, DB: dsn, Server: server.Options{Now: now}})
	}
	// check asks node 2 about leaf: renewalInfo, the admin API and `cert
	// show`; revoked says whether its intermediate is.
	tokens := 0
	check := func(t *testing.T, env *testenv.Env, leaf *x509.Certificate, revoked bool) {
		t.Helper()
		tokens++
		serial := leaf.SerialNumber.Text(16)
		if w := renewalWindow(t, env, leaf); w.End.After(now()) == revoked {
			t.Errorf("renewalInfo of %s: %v .. %v at %v; want a window in the past: %v", serial, w.Start, w.End, now(), revoked)
		}
		wantSource := "default"
		if revoked {
			wantSource = ra.WindowIntermediateRevoked
		}
		ctx := context.Background()
		st := env.Server.Store()
		tok, _, err := auth.NewTokens(st, audit.New(st, nil), nil).Create(ctx, auth.CreateRequest{Name: "it-" + strconv.Itoa(tokens), Role: auth.RoleAuditor, Actor: "cli:test"})
		if err != nil {
			t.Fatal(err)
		}
		req, _ := http.NewRequest("GET", env.BaseURL+"/api/v1/certificates/"+serial, nil)
		req.Header.Set("Authorization", "Bearer "+tok)
		res, err := env.HTTPClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		var got struct {
			RenewalWindow *struct{ Source string } `json:"renewal_window"`
		}
		err = json.NewDecoder(res.Body).Decode(&got)
		res.Body.Close()
		if err != nil || res.StatusCode != http.StatusOK || got.RenewalWindow == nil || got.RenewalWindow.Source != wantSource {
			t.Errorf("admin API certificate %s: %d %v %+v; want renewal_window source %s", serial, res.StatusCode, err, got.RenewalWindow, wantSource)
		}
		out, _, err := runCLI(t, nil, "cert", "show", serial, "--data", data2, "--db", dsn)
		if err != nil {
			t.Fatal(err)
		}
		if strings.Contains(out, "its intermediate is revoked") != revoked {
			t.Errorf("cert show %s on node 2:\n%s\nwant \"its intermediate is revoked\": %v", serial, out, revoked)
		}
	}

	t.Run("before", func(t *testing.T) {
		env := startNode2(t)
		check(t, env, leaves[0], false)
		check(t, env, leaves[1], false)
	})
	// a revoked on node 1's data directory, node 2 stopped.
	if _, _, err := runCLI(t, nil, "ca", "revoke-intermediate", local.IntermediateID(inters[0]), "--data", data1, "--db", dsn); err != nil {
		t.Fatal(err)
	}
	// `cert show` on node 2, stopped, reads the cluster's root CRL from
	// the database: its DATA/ca has not adopted it yet.
	if out, _, err := runCLI(t, nil, "cert", "show", leaves[0].SerialNumber.Text(16), "--data", data2, "--db", dsn); err != nil || !strings.Contains(out, "its intermediate is revoked") {
		t.Errorf("cert show on node 2 before its restart: %v\n%s\nwant \"its intermediate is revoked\"", err, out)
	}
	t.Run("restarted", func(t *testing.T) {
		env := startNode2(t)
		if rev := env.Server.CA().RevokedIntermediates(); len(rev) != 1 || !rev[0].Cert.Equal(inters[0]) {
			t.Errorf("node 2's revoked intermediates: %+v, want a", rev)
		}
		check(t, env, leaves[0], true)
		check(t, env, leaves[1], false)
		// b revoked on node 1's data directory while node 2 runs: counted
		// once node 2 reads the cluster's root CRL again, within
		// revocation-refresh (a minute in testenv).
		if _, _, err := runCLI(t, nil, "ca", "revoke-intermediate", local.IntermediateID(inters[1]), "--data", data1, "--db", dsn); err != nil {
			t.Fatal(err)
		}
		mu.Lock()
		offset += 2 * time.Minute
		mu.Unlock()
		check(t, env, leaves[1], true)
		check(t, env, leaves[0], true)
	})
}
