package main

import (
	"bytes"
	"context"
	"crypto/x509"
	"encoding/base64"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/certgate/certgate/internal/audit"
	"github.com/certgate/certgate/internal/issuer/local"
	"github.com/certgate/certgate/internal/server"
	"github.com/certgate/certgate/internal/store"
	"github.com/certgate/certgate/internal/store/storetest"
)

// TestCARotateAndRevokeIntermediateCLI: `certgate ca rotate` retires the
// intermediate and makes a new one the one that signs, `certgate ca
// revoke-intermediate ID` puts the retired one on the root's CRL; each is
// one line of output and one audit event by the CLI user. Refused, in one
// line and changing nothing: either while a server holds the data
// directory, revoking the intermediate that signs, a reason a CA
// certificate cannot have, and revoking twice. The former code had
// neither command.
func TestCARotateAndRevokeIntermediateCLI(t *testing.T) {
	data := t.TempDir()
	var before *x509.Certificate
	t.Run("serve", func(t *testing.T) {
		srv, err := startNode(t, data, "")
		if err != nil {
			t.Fatal(err)
		}
		before = srv.CA().Intermediate()
		if _, _, err := runCLI(t, nil, "ca", "rotate", "--data", data); err == nil || !strings.Contains(err.Error(), "in use by a running certgate process") {
			t.Errorf("rotate while the server runs: %v, want refused", err)
		}
	})
	oldID := local.IntermediateID(before)
	out, _, err := runCLI(t, nil, "ca", "rotate", "--data", data)
	if err != nil {
		t.Fatal(err)
	}
	cur, err := local.ReadIntermediate(server.CADir(data))
	if err != nil {
		t.Fatal(err)
	}
	newID := local.IntermediateID(cur)
	if newID == oldID || !strings.Contains(out, "the intermediate "+newID) || !strings.Contains(out, oldID) || strings.Count(out, "\n") != 1 {
		t.Errorf("rotate printed %q, want one line naming %s and %s", out, newID, oldID)
	}
	if _, err := os.Stat(filepath.Join(server.CADir(data), local.RetiredDir, oldID, local.IntermediateKeyFile)); err != nil {
		t.Errorf("the old intermediate is not retired: %v", err)
	}

	for _, tc := range []struct{ args []string }{
		{[]string{newID}},
		{[]string{oldID, "--reason", "certificateHold"}},
		// BR §7.2.2: a CA certificate's CRL entry carries a reason
		// code, never 0; it was listed with none.
		{[]string{oldID, "--reason", "unspecified"}},
		{[]string{oldID, "--reason", "0"}},
		{[]string{oldID, "--reason", "aACompromise"}},
		{[]string{"00ff"}},
	} {
		_, _, err := runCLI(t, nil, append([]string{"ca", "revoke-intermediate", "--data", data}, tc.args...)...)
		if err == nil || strings.Contains(err.Error(), "\n") {
			t.Errorf("revoke-intermediate %v: %v, want refused in one line", tc.args, err)
		}
	}
	out, _, err = runCLI(t, nil, "ca", "revoke-intermediate", oldID, "--data", data, "--reason", "cACompromise")
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(out, "revoked the intermediate "+oldID) || !strings.Contains(out, "cACompromise") {
		t.Errorf("revoke-intermediate printed %q", out)
	}
	if _, _, err := runCLI(t, nil, "ca", "revoke-intermediate", oldID, "--data", data); err == nil || !strings.Contains(err.Error(), "revoked at") {
		t.Errorf("revoking twice: %v, want refused", err)
	}
	der, err := os.ReadFile(filepath.Join(server.CADir(data), local.RootCRLFile))
	if err != nil {
		t.Fatal(err)
	}
	crl, err := x509.ParseRevocationList(der)
	if err != nil {
		t.Fatal(err)
	}
	if len(crl.RevokedCertificateEntries) != 1 || crl.RevokedCertificateEntries[0].SerialNumber.Cmp(before.SerialNumber) != 0 || crl.RevokedCertificateEntries[0].ReasonCode != 2 {
		t.Errorf("root CRL lists %+v, want the old intermediate, cACompromise", crl.RevokedCertificateEntries)
	}

	ctx := context.Background()
	st, err := store.OpenExisting(ctx, server.DSN(data, ""))
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	// The new root CRL is in the database too (setting ca_root_crl), as
	// serve publishes the ones it signs; the former code left the one
	// serve published before the revocation there.
	if v, err := st.GetSetting(ctx, server.RootCRLSetting); err != nil || v != base64.StdEncoding.EncodeToString(der) {
		t.Errorf("setting %s after the revocation: %v; want the root CRL that lists the revoked intermediate", server.RootCRLSetting, err)
	}
	for action, id := range map[string]string{audit.ActionIntermediateRotate: newID, audit.ActionIntermediateRevoke: oldID} {
		evs, err := audit.New(st, nil).List(ctx, store.AuditFilter{Action: action})
		if err != nil {
			t.Fatal(err)
		}
		if len(evs) != 1 || evs[0].ObjectType != audit.ObjectIntermediate || evs[0].ObjectID != id || !strings.HasPrefix(evs[0].Actor, "cli:") {
			t.Errorf("audit %s: %+v, want one event about %s by the CLI user", action, evs, id)
		}
	}
}

// TestClusterSharesOneRootCRL: two nodes on one PostgreSQL database serve
// the same root CRL, the one the first node signed and published in the
// database (setting ca_root_crl), where each node signed one of its own
// before (other numbers, times and signature bytes). An intermediate
// revoked on one node's data directory (stopped, then started again) is
// listed on the root CRL the other node serves, without copying files: the
// revocation publishes its newer CRL, which the other adopts. A node
// whose CA directory predates the rotation is refused at its start.
func TestClusterSharesOneRootCRL(t *testing.T) {
	dsn := storetest.PostgresDSN(t)
	data1 := filepath.Join(t.TempDir(), "node1")
	data2 := filepath.Join(t.TempDir(), "node2")
	node1, err := startNode(t, data1, dsn)
	if err != nil {
		t.Fatal(err)
	}
	bundle, _, err := runCLI(t, nil, "ca", "export", "--data", data1)
	if err != nil {
		t.Fatal(err)
	}
	if _, _, err := runCLI(t, []byte(bundle), "ca", "import", "--data", data2); err != nil {
		t.Fatal(err)
	}
	rootCRL := func(srv *server.Server) []byte {
		t.Helper()
		res, err := http.Get("http://" + srv.Addr().String() + "/pki/root.crl")
		if err != nil {
			t.Fatal(err)
		}
		defer res.Body.Close()
		b, err := io.ReadAll(res.Body)
		if err != nil || res.StatusCode != http.StatusOK {
			t.Fatalf("GET /pki/root.crl: %d %v", res.StatusCode, err)
		}
		return b
	}
	var oldInter *x509.Certificate
	t.Run("both", func(t *testing.T) {
		node2, err := startNode(t, data2, dsn)
		if err != nil {
			t.Fatal(err)
		}
		if a, b := rootCRL(node1), rootCRL(node2); !bytes.Equal(a, b) {
			t.Fatalf("the nodes serve different root CRLs (%d and %d bytes)", len(a), len(b))
		}
		oldInter = node2.CA().Intermediate()
	})
	if t.Failed() {
		t.FailNow()
	}
	// Node 2, stopped: rotate and revoke the old intermediate; the
	// revocation publishes the root CRL that lists it, node 1 serves it.
	if _, _, err := runCLI(t, nil, "ca", "rotate", "--data", data2, "--db", dsn); err != nil {
		t.Fatal(err)
	}
	if _, _, err := runCLI(t, nil, "ca", "revoke-intermediate", local.IntermediateID(oldInter), "--data", data2, "--db", dsn); err != nil {
		t.Fatal(err)
	}
	node2, err := startNode(t, data2, dsn)
	if err != nil {
		t.Fatal(err)
	}
	// A third node given the CA as it was before the rotation is refused:
	// it would sign with the old intermediate beside the others.
	data3 := filepath.Join(t.TempDir(), "node3")
	if _, _, err := runCLI(t, []byte(bundle), "ca", "import", "--data", data3); err != nil {
		t.Fatal(err)
	}
	if _, err := startNode(t, data3, dsn); err == nil || !strings.Contains(err.Error(), "sign with the intermediate "+local.IntermediateID(node2.CA().Intermediate())) {
		t.Errorf("a node with the intermediate of before the rotation: %v, want refused naming the new one", err)
	}
	got := rootCRL(node1)
	if !bytes.Equal(got, rootCRL(node2)) {
		t.Fatal("after the revocation the nodes serve different root CRLs")
	}
	crl, err := x509.ParseRevocationList(got)
	if err != nil {
		t.Fatal(err)
	}
	if len(crl.RevokedCertificateEntries) != 1 || crl.RevokedCertificateEntries[0].SerialNumber.Cmp(oldInter.SerialNumber) != 0 {
		t.Fatalf("node 1's root CRL lists %+v, want the revoked intermediate", crl.RevokedCertificateEntries)
	}
}

// TestRevokeIntermediatePublishesRootCRL: in a cluster (PostgreSQL),
// `ca revoke-intermediate --db` publishes the root CRL it signs in the
// database in the same run, so that a running node serves it (within
// revocation-refresh, 0 here) and a node started afterwards serves it at
// once, without a restart of the node whose data directory revoked it;
// and the CRL it signs keeps a revocation made on another node's data
// directory that only the database's CRL lists. The former code published
// nothing: the other nodes served the root CRL of before the revocation
// until the revoking node's server was started again.
func TestRevokeIntermediatePublishesRootCRL(t *testing.T) {
	dsn := storetest.PostgresDSN(t)
	data1 := filepath.Join(t.TempDir(), "node1")
	t.Run("serve", func(t *testing.T) {
		if _, err := startNode(t, data1, dsn); err != nil {
			t.Fatal(err)
		}
	})
	if t.Failed() {
		t.FailNow()
	}
	// Two rotations on node 1: two retired intermediates, a and b.
	var retired []*x509.Certificate
	for range 2 {
		cur, err := local.ReadIntermediate(server.CADir(data1))
		if err != nil {
			t.Fatal(err)
		}
		if _, _, err := runCLI(t, nil, "ca", "rotate", "--data", data1, "--db", dsn); err != nil {
			t.Fatal(err)
		}
		retired = append(retired, cur)
	}
	a, b := retired[0], retired[1]
	bundle, _, err := runCLI(t, nil, "ca", "export", "--data", data1, "--with-retired")
	if err != nil {
		t.Fatal(err)
	}
	data2 := filepath.Join(t.TempDir(), "node2")
	data3 := filepath.Join(t.TempDir(), "node3")
	for _, d := range []string{data2, data3} {
		if _, _, err := runCLI(t, []byte(bundle), "ca", "import", "--data", d); err != nil {
			t.Fatal(err)
		}
	}
	// a revoked on node 2's data directory: published, node 1's DATA/ca
	// does not know it.
	if _, _, err := runCLI(t, nil, "ca", "revoke-intermediate", local.IntermediateID(a), "--data", data2, "--db", dsn, "--reason", "superseded"); err != nil {
		t.Fatal(err)
	}
	node3, err := startNode(t, data3, dsn)
	if err != nil {
		t.Fatal(err)
	}
	// b revoked on node 1's data directory, node 3 running.
	if _, _, err := runCLI(t, nil, "ca", "revoke-intermediate", local.IntermediateID(b), "--data", data1, "--db", dsn, "--reason", "keyCompromise"); err != nil {
		t.Fatal(err)
	}
	lists := func(what string, der []byte) {
		t.Helper()
		crl, err := x509.ParseRevocationList(der)
		if err != nil {
			t.Fatalf("%s: %v", what, err)
		}
		reasons := map[string]int{}
		for _, e := range crl.RevokedCertificateEntries {
			reasons[e.SerialNumber.Text(16)] = e.ReasonCode
		}
		if len(reasons) != 2 || reasons[a.SerialNumber.Text(16)] != 4 || reasons[b.SerialNumber.Text(16)] != 1 {
			t.Errorf("%s lists %v, want %s (superseded) and %s (keyCompromise)", what, reasons, a.SerialNumber.Text(16), b.SerialNumber.Text(16))
		}
	}
	own, err := os.ReadFile(filepath.Join(server.CADir(data1), local.RootCRLFile))
	if err != nil {
		t.Fatal(err)
	}
	lists("node 1's "+local.RootCRLFile, own)
	ctx := context.Background()
	st, err := store.OpenExisting(ctx, dsn)
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	if v, err := st.GetSetting(ctx, server.RootCRLSetting); err != nil || v != base64.StdEncoding.EncodeToString(own) {
		t.Errorf("setting %s: %v; want node 1's new root CRL", server.RootCRLSetting, err)
	}
	get := func(srv *server.Server) []byte {
		t.Helper()
		res, err := http.Get("http://" + srv.Addr().String() + "/pki/root.crl")
		if err != nil {
			t.Fatal(err)
		}
		defer res.Body.Close()
		body, err := io.ReadAll(res.Body)
		if err != nil || res.StatusCode != http.StatusOK {
			t.Fatalf("GET /pki/root.crl: %d %v", res.StatusCode, err)
		}
		return body
	}
	lists("the root CRL of node 3 (running)", get(node3))
	node2, err := startNode(t, data2, dsn)
	if err != nil {
		t.Fatal(err)
	}
	got := get(node2)
	lists("the root CRL of node 2 (started after)", got)
	if !bytes.Equal(got, own) {
		t.Error("node 2 serves another root CRL than the one node 1's revocation signed")
	}
}
