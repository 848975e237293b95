package e2e

import (
	"context"
	"crypto"
	"crypto/rand"
	"crypto/x509"
	"database/sql"
	"encoding/json"
	"encoding/pem"
	"fmt"
	"path/filepath"
	"strings"
	"testing"
	"time"

	xacme "golang.org/x/crypto/acme"
	_ "modernc.org/sqlite" // the test reads and locks certgate's database
)

// TestUpstreamPebbleKilled: certgate killed (SIGKILL) after pebble, its
// upstream, issued an order's certificate and before certgate stored it
// loses nothing: started again, it fetches the upstream order it recorded
// before finalize, stores pebble's certificate and makes the client's
// order valid. The moment is made certain, not timed: once certgate has
// recorded the upstream order, the test holds the database's write lock
// (certgate cannot store), waits until pebble's order is valid (read with
// certgate's upstream account), then kills certgate.
func TestUpstreamPebbleKilled(t *testing.T) {
	t.Parallel()
	requireTool(t, "pebble", "pebble")
	if serverKind != "certgate" {
		t.Skip("certgate's issuers-file exists only on certgate") // the harness's pebble mode only
	}
	up := startPebbleEnv(t, "PEBBLE_VA_ALWAYS_VALID=1")
	dir := t.TempDir()
	s, issuersFile := startGateway(t, up, dir)
	certgateCLI(t, s, "profile", "create", "gw", "--issuer", "upstream-pebble", "--issuers-file", issuersFile)
	gwDir := strings.Replace(s.DirURL, "/acme/directory", "/acme/gw/directory", 1)
	waitDirectory(t, s, gwDir)
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	const name = "gw-killed.example.test"
	c, o := readyGatewayOrder(ctx, t, s, gwDir, dir, name)
	orderID := o.URI[strings.LastIndex(o.URI, "/")+1:]

	db, err := sql.Open("sqlite", "file:"+filepath.Join(s.Data, "certgate.db")+"?_pragma=busy_timeout(10000)")
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	csr, err := x509.CreateCertificateRequest(rand.Reader, &x509.CertificateRequest{DNSNames: []string{name}}, newP256(t))
	if err != nil {
		t.Fatal(err)
	}
	go func() { // answered processing; its wait ends with the kill
		_, _, _ = c.CreateOrderCert(ctx, o.FinalizeURL, csr, true)
	}()
	var upOrder, upAccount string
	for deadline := time.Now().Add(30 * time.Second); upOrder == ""; time.Sleep(2 * time.Millisecond) {
		err := db.QueryRowContext(ctx, `SELECT upstream_order, upstream_account FROM remote_orders WHERE order_id = ?`, orderID).Scan(&upOrder, &upAccount)
		if err != nil && err != sql.ErrNoRows {
			t.Fatal(err)
		}
		if time.Now().After(deadline) {
			t.Fatal("certgate recorded no upstream order within 30s")
		}
	}
	lock, err := db.Conn(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := lock.ExecContext(ctx, "BEGIN IMMEDIATE"); err != nil {
		t.Fatal(err)
	}
	var status string
	if err := lock.QueryRowContext(ctx, `SELECT status FROM orders WHERE id = ?`, orderID).Scan(&status); err != nil || status != "processing" {
		t.Fatalf("order %s when the database was locked: %q, %v; want processing (certgate polls pebble for at least 250ms after finalize)", orderID, status, err)
	}

	// pebble issues; certgate cannot store it.
	upc := &xacme.Client{Key: upstreamAccountKey(t, s), KID: xacme.KeyID(upAccount), DirectoryURL: up.DirURL, HTTPClient: up.client}
	var upo *xacme.Order
	for deadline := time.Now().Add(30 * time.Second); ; time.Sleep(50 * time.Millisecond) {
		if upo, err = upc.GetOrder(ctx, upOrder); err != nil {
			t.Fatal(err)
		}
		if upo.Status == xacme.StatusValid {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("pebble order %s: %s after 30s; want valid", upOrder, upo.Status)
		}
	}
	s.kill()
	if _, err := lock.ExecContext(ctx, "ROLLBACK"); err != nil {
		t.Fatal(err)
	}
	lock.Close()
	var n int
	if err := db.QueryRowContext(ctx, `SELECT COUNT(*) FROM certificates WHERE source <> 'listener'`).Scan(&n); err != nil || n != 0 {
		t.Fatalf("certificates stored before the restart: %d, %v; want none (certgate was killed before storing)", n, err)
	}
	upChain, err := upc.FetchCert(ctx, upo.CertURL, false)
	if err != nil {
		t.Fatal(err)
	}
	upLeaf, err := x509.ParseCertificate(upChain[0])
	if err != nil {
		t.Fatal(err)
	}

	// Started again: the order is recovered from pebble.
	if err := s.restart(t); err != nil {
		t.Fatal(err)
	}
	got, err := c.WaitOrder(ctx, o.URI)
	if err != nil {
		t.Fatalf("order after the restart: %v; want valid with pebble's certificate", err)
	}
	chain, err := c.FetchCert(ctx, got.CertURL, true)
	if err != nil {
		t.Fatal(err)
	}
	leaf, err := x509.ParseCertificate(chain[0])
	if err != nil || leaf.SerialNumber.Cmp(upLeaf.SerialNumber) != 0 {
		t.Fatalf("certificate served after the restart: serial %x, %v; want pebble's %x", leaf.SerialNumber, err, upLeaf.SerialNumber)
	}
	var rec struct{ Serial, Issuer, Status, Profile string }
	if err := json.Unmarshal(certgateCLI(t, s, "cert", "show", fmt.Sprintf("%x", upLeaf.SerialNumber), "--format", "json"), &rec); err != nil {
		t.Fatal(err)
	}
	if rec.Issuer != "upstream-pebble" || rec.Status != "valid" || rec.Profile != "gw" {
		t.Fatalf("inventory record %+v; want pebble's certificate, valid, profile gw", rec)
	}
}

// upstreamAccountKey reads the upstream account key certgate made for
// upstream-pebble in s's data directory.
func upstreamAccountKey(t *testing.T, s *acmeServer) crypto.Signer {
	t.Helper()
	blk, _ := pem.Decode(readFile(t, filepath.Join(s.Data, "issuers", "upstream-pebble", "account.key")))
	if blk == nil {
		t.Fatal("no PEM in the upstream account key file")
	}
	k, err := x509.ParsePKCS8PrivateKey(blk.Bytes)
	if err != nil {
		t.Fatal(err)
	}
	return k.(crypto.Signer)
}
