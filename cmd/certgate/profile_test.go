package main

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"encoding/json"
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/certgate/certgate/internal/acme"
	"github.com/certgate/certgate/internal/adminapi"
	"github.com/certgate/certgate/internal/policy"
	"github.com/certgate/certgate/internal/ra"
	"github.com/certgate/certgate/internal/server"
	"github.com/certgate/certgate/internal/store"
	"github.com/certgate/certgate/internal/testenv/testca"
)

// TestProfileCLI: create from flags and from a YAML file, list, show,
// update, delete; invalid profiles are refused with one line.
func TestProfileCLI(t *testing.T) {
	data := t.TempDir()
	initDataDir(t, data)
	out, _, err := runCLI(t, nil, "profile", "create", "web", "--data", data, "--description", "Web servers", "--allow", "*.example.test",
		"--deny", "admin.example.test", "--wildcard", "--key-types", "ecdsa-p256,ecdsa-p384", "--validity", "90d", "--max-validity", "160d",
		"--require-attr", "billing_code", "--challenges", "http-01,dns-01")
	if err != nil || !strings.Contains(out, "/acme/web/directory") {
		t.Fatalf("create: %q, %v", out, err)
	}
	file := filepath.Join(t.TempDir(), "code.yaml")
	os.WriteFile(file, []byte(`name: code
description: Code signing, approved by security
validity: 365d
ekus: [codeSigning]
keyTypes: [ecdsa-p384]
requireEAB: true
attributes:
  - name: owner
    required: true
  - name: environment
    enum: [prod, test]
approval:
  always: true
  escalateAfter: 4h
`), 0o600)
	if _, _, err := runCLI(t, nil, "profile", "create", "--file", file, "--data", data); err != nil {
		t.Fatalf("create --file: %v", err)
	}
	out, _, err = runCLI(t, nil, "profile", "list", "--data", data)
	if err != nil || !strings.Contains(out, "built-in default") || !strings.Contains(out, "codeSigning") || !strings.Contains(out, "Web servers") {
		t.Fatalf("list: %q, %v", out, err)
	}
	out, _, err = runCLI(t, nil, "profile", "show", "code", "--data", data)
	if err != nil || !strings.Contains(out, "escalateAfter: 4h") || !strings.Contains(out, "validity: 365d") {
		t.Fatalf("show: %q, %v", out, err)
	}
	if _, _, err := runCLI(t, nil, "profile", "update", "web", "--data", data, "--validity", "30d", "--eku", "serverAuth,clientAuth"); err != nil {
		t.Fatal(err)
	}
	out, _, _ = runCLI(t, nil, "profile", "show", "web", "--data", data, "--format", "json")
	var p policy.Profile
	if err := json.Unmarshal([]byte(out), &p); err != nil {
		t.Fatal(err)
	}
	if p.Validity != policy.Duration(30*24*time.Hour) || p.MaxValidity != policy.Duration(160*24*time.Hour) || len(p.EKUs) != 2 || p.Allow[0] != "*.example.test" ||
		len(p.Attributes) != 1 {
		t.Errorf("updated profile %+v", p)
	}
	for _, args := range [][]string{
		{"profile", "create", "web", "--validity", "90d"},     // exists
		{"profile", "create", "bad", "--eku", "timeStamping"}, // invalid EKU
		{"profile", "create", "new-order"},                    // reserved
		{"profile", "create", "big", "--validity", "90d", "--max-validity", "30d"},
		{"profile", "update", "missing", "--validity", "1d"},
		{"profile", "delete", "missing"},
	} {
		_, _, err := runCLI(t, nil, append(args, "--data", data)...)
		if err == nil || strings.Contains(err.Error(), "\n") {
			t.Errorf("%v: error %v, want one line", args, err)
		}
	}
	if _, _, err := runCLI(t, nil, "profile", "delete", "web", "--data", data); err != nil {
		t.Fatal(err)
	}
}

// TestProfileCLILintsWithTheCA: with the server's CA in the data
// directory, a profile whose certificates would fail zlint (validity over
// the CA/B Forum limit, 199 days since 2026-03-15, with serverAuth) is
// refused, and so is one with an EKU the CA's intermediate does not allow
// (codeSigning, emailProtection: the CA certgate makes allows serverAuth
// and clientAuth only), in one line saying why and what to do; its
// certificates were issued and failed verification for that purpose.
// A 365-day clientAuth profile (no TLS server limit) is stored.
func TestProfileCLILintsWithTheCA(t *testing.T) {
	data := t.TempDir()
	if _, err := startNode(t, data, ""); err != nil {
		t.Fatal(err)
	}
	_, _, err := runCLI(t, nil, "profile", "create", "toolong", "--data", data, "--validity", "500d")
	if err == nil || !strings.Contains(err.Error(), "lint") {
		t.Fatalf("500-day TLS profile: %v, want a lint refusal", err)
	}
	if _, _, err := runCLI(t, nil, "profile", "create", "year", "--data", data, "--validity", "365d", "--eku", "clientAuth"); err != nil {
		t.Errorf("365-day clientAuth profile: %v", err)
	}
	for eku, want := range map[string]string{
		"emailProtection": "profile smime: the built-in CA's intermediate allows only serverAuth, clientAuth (EKU); leaf certificates with emailProtection " +
			"would not verify for that purpose; use an issuer whose CA allows emailProtection (an imported CA or an upstream issuer, docs/issuers.md)",
		"codeSigning": "leaf certificates with codeSigning would not verify for that purpose",
	} {
		_, _, err := runCLI(t, nil, "profile", "create", "smime", "--data", data, "--validity", "365d", "--eku", eku)
		if err == nil || !strings.Contains(err.Error(), want) || strings.Contains(err.Error(), "\n") {
			t.Errorf("profile create --eku %s with the CA certgate made: %v, want one line containing %q", eku, err, want)
		}
	}
	if _, _, err := runCLI(t, nil, "profile", "update", "year", "--data", data, "--eku", "clientAuth,emailProtection"); err == nil ||
		!strings.Contains(err.Error(), "or leave emailProtection out of ekus") {
		t.Errorf("profile update --eku clientAuth,emailProtection: %v, want the EKU refusal", err)
	}
	out, _, err := runCLI(t, nil, "profile", "list", "--data", data)
	if err != nil || strings.Contains(out, "smime") || strings.Contains(out, "emailProtection") {
		t.Errorf("profile list after the refusals: %v\n%s", err, out)
	}
}

// TestProfileCLIEKUsOfAnImportedCA: with an imported CA whose intermediate
// has no EKU extension (any purpose) in the data directory, S/MIME and
// code-signing profiles, the examples of docs/profiles.md among them, are
// stored; `ca rotate` then warns, naming each, that the new
// intermediate (serverAuth and clientAuth, as every one certgate makes)
// does not allow their EKUs. Without a CA in the data directory (a
// throwaway CA lints) such a profile is stored with a warning: the
// server's CA may be an imported one.
func TestProfileCLIEKUsOfAnImportedCA(t *testing.T) {
	data := filepath.Join(t.TempDir(), "data")
	rootKey, _ := ecdsa.GenerateKey(elliptic.P384(), rand.Reader)
	interKey, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	bundle := filepath.Join(t.TempDir(), "bundle.pem")
	if err := os.WriteFile(bundle, testca.BundleEKUs(t, time.Now(), rootKey, interKey, nil), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, _, err := runCLI(t, nil, "ca", "import", "--data", data, "--in", bundle); err != nil {
		t.Fatalf("ca import: %v", err)
	}
	initDataDir(t, data)
	for _, f := range []string{"smime-ready.yaml", "code-signing.yaml"} {
		if _, stderr, err := runCLI(t, nil, "profile", "create", "--file", "../../docs/examples/profiles/"+f, "--data", data); err != nil || stderr != "" {
			t.Errorf("profile create --file %s with an imported CA without EKUs: %v %s", f, err, stderr)
		}
	}
	_, stderr, err := runCLI(t, nil, "ca", "rotate", "--data", data, "--pki-url", "http://127.0.0.1:8080")
	if err != nil {
		t.Fatalf("ca rotate: %v", err)
	}
	for _, want := range []string{
		"certgate: warning: from the next start on, profile smime-ready: the built-in CA's intermediate allows only serverAuth, clientAuth (EKU); " +
			"leaf certificates with emailProtection would not verify for that purpose",
		"certgate: warning: from the next start on, profile code-signing: the built-in CA's intermediate allows only serverAuth, clientAuth (EKU); " +
			"leaf certificates with codeSigning would not verify for that purpose",
	} {
		if !strings.Contains(stderr, want) {
			t.Errorf("ca rotate stderr lacks %q:\n%s", want, stderr)
		}
	}

	bare := filepath.Join(t.TempDir(), "bare")
	initDataDir(t, bare)
	_, stderr, err = runCLI(t, nil, "profile", "create", "smime", "--data", bare, "--validity", "365d", "--eku", "emailProtection")
	if err != nil || !strings.Contains(stderr, "certgate: warning: "+filepath.Join(bare, "ca")+" holds no CA, so the profile's EKUs were not checked") ||
		!strings.Contains(stderr, "leaf certificates with emailProtection would not verify for that purpose") {
		t.Errorf("profile create --eku emailProtection without a CA in --data: %v, stderr %q; want it stored with a warning", err, stderr)
	}
}

// TestProfileCLILintsWithoutTheCA: with no CA in the data directory (an
// administrator who gives only the database, e.g. --db of a PostgreSQL
// cluster, from another host), profile create and update lint with a
// throwaway CA and refuse a profile whose certificates would fail zlint,
// instead of storing it to make every order of it fail at issuance; the
// throwaway CA is not left in the data directory.
func TestProfileCLILintsWithoutTheCA(t *testing.T) {
	data := filepath.Join(t.TempDir(), "data")
	initDataDir(t, data)
	_, _, err := runCLI(t, nil, "profile", "create", "toolong", "--data", data, "--validity", "300d")
	if err == nil || !strings.Contains(err.Error(), "profile toolong: validity 300d: leaf certificates would fail lint") {
		t.Fatalf("300-day TLS profile without a CA in --data: %v, want a lint refusal", err)
	}
	if _, _, err := runCLI(t, nil, "profile", "create", "ok", "--data", data, "--validity", "90d"); err != nil {
		t.Fatalf("90-day TLS profile: %v", err)
	}
	_, _, err = runCLI(t, nil, "profile", "update", "ok", "--data", data, "--validity", "300d", "--max-validity", "300d")
	if err == nil || !strings.Contains(err.Error(), "would fail lint") {
		t.Fatalf("update to 300 days without a CA in --data: %v, want a lint refusal", err)
	}
	stdout, _, err := runCLI(t, nil, "profile", "list", "--data", data)
	if err != nil || strings.Contains(stdout, "toolong") || !strings.Contains(stdout, "90d") {
		t.Fatalf("profile list: %v\n%s", err, stdout)
	}
	if _, err := os.Stat(filepath.Join(data, "ca")); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("data directory's ca after linting: %v, want none", err)
	}
}

// TestEABAndApprovalCLI: eab create prints a kid and an unpadded
// base64url key that the store holds; attributes are checked against the
// profile; list and revoke; approval list/approve/reject act on the
// database.
func TestEABAndApprovalCLI(t *testing.T) {
	data := t.TempDir()
	initDataDir(t, data)
	if _, _, err := runCLI(t, nil, "profile", "create", "billing", "--data", data, "--validity", "30d", "--require-attr", "billing_code",
		"--optional-attr", "owner"); err != nil {
		t.Fatal(err)
	}
	out, _, err := runCLI(t, nil, "eab", "create", "--profile", "billing", "--attr", "billing_code=CC-7", "--allow", "*.team.test",
		"--expires", "30d", "--single-use", "--owner", "team", "--data", data, "--format", "json")
	if err != nil {
		t.Fatal(err)
	}
	var created struct{ KID, HMAC, Profile string }
	if err := json.Unmarshal([]byte(out), &created); err != nil || created.KID == "" || strings.ContainsAny(created.HMAC, "=+/") || len(created.HMAC) != 86 {
		t.Fatalf("eab create: %q, %v", out, err)
	}
	ctx := context.Background()
	st, err := store.Open(ctx, server.DSN(data, ""))
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	k, err := st.GetEABKey(ctx, created.KID)
	if err != nil || k.Attributes["billing_code"] != "CC-7" || !k.SingleUse || k.Owner != "team" || k.Expires.IsZero() || len(k.HMACKey) != ra.EABKeySize {
		t.Fatalf("stored key %+v, %v", k, err)
	}
	if _, _, err := runCLI(t, nil, "eab", "create", "--profile", "billing", "--attr", "colour=red", "--data", data); err == nil ||
		!strings.Contains(err.Error(), "colour") {
		t.Errorf("undeclared attribute: %v", err)
	}
	if _, _, err := runCLI(t, nil, "eab", "create", "--profile", "nope", "--data", data); err == nil {
		t.Errorf("unknown profile accepted")
	}
	out, _, err = runCLI(t, nil, "eab", "list", "--data", data)
	if err != nil || !strings.Contains(out, created.KID) || strings.Contains(out, created.HMAC) || !strings.Contains(out, "billing_code=CC-7") {
		t.Errorf("eab list: %q, %v", out, err)
	}
	// --format json prints the admin API's items (GET /api/v1/eab-keys):
	// created_at was missing.
	out, _, err = runCLI(t, nil, "eab", "list", "--data", data, "--format", "json")
	var keys []adminapi.EABKeyView
	if err != nil || json.Unmarshal([]byte(out), &keys) != nil || len(keys) != 1 || keys[0].KID != created.KID ||
		keys[0].CreatedAt.IsZero() || !keys[0].SingleUse || keys[0].Attributes["billing_code"] != "CC-7" {
		t.Errorf("eab list --format json: %s, %v; want the API's fields, created_at included", out, err)
	}
	if _, _, err := runCLI(t, nil, "eab", "revoke", created.KID, "--data", data); err != nil {
		t.Fatal(err)
	}
	if _, _, err := runCLI(t, nil, "eab", "revoke", created.KID, "--data", data); err == nil {
		t.Errorf("second revoke accepted")
	}

	// Approvals: two orders waiting.
	now := time.Now().UTC()
	a := &store.Account{ID: "acct", KeyThumbprint: "tp", JWK: []byte(`{}`), Status: acme.StatusValid, CreatedAt: now}
	if err := st.CreateAccount(ctx, a); err != nil {
		t.Fatal(err)
	}
	for _, id := range []string{"one", "two"} {
		o := &store.Order{ID: "ord-" + id, AccountID: a.ID, Status: acme.StatusPending, Expires: now.Add(time.Hour), Profile: "billing",
			Identifiers: []acme.Identifier{{Type: "dns", Value: id + ".test"}}, AuthzIDs: []string{}, CreatedAt: now, UpdatedAt: now}
		if err := st.CreateOrder(ctx, o, nil); err != nil {
			t.Fatal(err)
		}
		if err := st.RequestApproval(ctx, &store.Approval{ID: "ap-" + id, OrderID: o.ID, AccountID: a.ID, Profile: "billing", Identifiers: o.Identifiers,
			KeyType: "ecdsa-p256", Reason: "always", CSR: []byte{1}, Status: store.ApprovalPending, RequestedAt: now}, now); err != nil {
			t.Fatal(err)
		}
	}
	out, _, err = runCLI(t, nil, "approval", "list", "--data", data)
	if err != nil || !strings.Contains(out, "ap-one") || !strings.Contains(out, "two.test") {
		t.Fatalf("approval list: %q, %v", out, err)
	}
	if out, _, err := runCLI(t, nil, "approval", "approve", "ap-one", "--by", "alice", "--data", data); err != nil || !strings.Contains(out, "alice") {
		t.Fatalf("approve: %q, %v", out, err)
	}
	if _, _, err := runCLI(t, nil, "approval", "reject", "ap-two", "--data", data); err == nil {
		t.Errorf("reject without --comment accepted")
	}
	if _, _, err := runCLI(t, nil, "approval", "reject", "ap-two", "--comment", "wrong team", "--data", data); err != nil {
		t.Fatal(err)
	}
	if _, _, err := runCLI(t, nil, "approval", "approve", "ap-two", "--data", data); err == nil || !strings.Contains(err.Error(), "already decided") {
		t.Errorf("deciding twice: %v", err)
	}
	if _, _, err := runCLI(t, nil, "approval", "approve", "nope", "--data", data); err == nil ||
		err.Error() != `there is no approval "nope" (see 'certgate approval list')` {
		t.Errorf("approving an unknown approval: %v", err)
	}
	// An order that expired while it waited: its approval is refused
	// (it would issue nothing) and stays pending.
	late := &store.Order{ID: "ord-late", AccountID: a.ID, Status: acme.StatusPending, Expires: now.Add(-time.Second), Profile: "billing",
		Identifiers: []acme.Identifier{{Type: "dns", Value: "late.test"}}, AuthzIDs: []string{}, CreatedAt: now.Add(-time.Hour), UpdatedAt: now}
	if err := st.CreateOrder(ctx, late, nil); err != nil {
		t.Fatal(err)
	}
	if err := st.RequestApproval(ctx, &store.Approval{ID: "ap-late", OrderID: late.ID, AccountID: a.ID, Profile: "billing", Identifiers: late.Identifiers,
		KeyType: "ecdsa-p256", Reason: "always", CSR: []byte{1}, Status: store.ApprovalPending, RequestedAt: now.Add(-time.Hour)}, now); err != nil {
		t.Fatal(err)
	}
	if _, _, err := runCLI(t, nil, "approval", "approve", "ap-late", "--data", data); err == nil || !strings.Contains(err.Error(), "its order expired") {
		t.Errorf("approving the approval of an expired order: %v, want refused", err)
	}
	if ap, err := st.GetApproval(ctx, "ap-late"); err != nil || ap.Status != store.ApprovalPending {
		t.Errorf("approval of the expired order after the refused approve: %+v, %v; want pending", ap, err)
	}
	// So is one of an account no longer valid.
	gone := &store.Account{ID: "acct-gone", KeyThumbprint: "tp-gone", JWK: []byte(`{}`), Status: acme.StatusValid, CreatedAt: now}
	if err := st.CreateAccount(ctx, gone); err != nil {
		t.Fatal(err)
	}
	og := &store.Order{ID: "ord-gone", AccountID: gone.ID, Status: acme.StatusPending, Expires: now.Add(time.Hour), Profile: "billing",
		Identifiers: []acme.Identifier{{Type: "dns", Value: "gone.test"}}, AuthzIDs: []string{}, CreatedAt: now, UpdatedAt: now}
	if err := st.CreateOrder(ctx, og, nil); err != nil {
		t.Fatal(err)
	}
	if err := st.RequestApproval(ctx, &store.Approval{ID: "ap-gone", OrderID: og.ID, AccountID: gone.ID, Profile: "billing", Identifiers: og.Identifiers,
		KeyType: "ecdsa-p256", Reason: "always", CSR: []byte{1}, Status: store.ApprovalPending, RequestedAt: now}, now); err != nil {
		t.Fatal(err)
	}
	// Deactivated while its approval waits (an order of a deactivated
	// account cannot be created).
	if err := st.DeactivateAccount(ctx, gone.ID, nil); err != nil {
		t.Fatal(err)
	}
	if _, _, err := runCLI(t, nil, "approval", "approve", "ap-gone", "--data", data); err == nil || !strings.Contains(err.Error(), "its account is no longer valid") {
		t.Errorf("approving the approval of a deactivated account: %v, want refused", err)
	}
	o2, _ := st.GetOrder(ctx, "ord-two")
	if o2.Status != acme.StatusInvalid || !strings.Contains(o2.Error.Detail, "wrong team") {
		t.Errorf("rejected order %+v", o2)
	}
	out, _, _ = runCLI(t, nil, "approval", "list", "--status", "all", "--data", data, "--format", "json")
	if !strings.Contains(out, `"decided_by": "cli:alice"`) || !strings.Contains(out, `"status": "rejected"`) {
		t.Errorf("approval list --status all: %s", out)
	}
	// The items are the admin API's (GET /api/v1/approvals): identifiers
	// as ACME identifier objects and the account (they were bare names,
	// without the account).
	var aps []ra.ApprovalView
	if err := json.Unmarshal([]byte(out), &aps); err != nil {
		t.Fatalf("approval list --format json is not the API's approvals: %v\n%s", err, out)
	}
	for _, ap := range aps {
		if ap.ID == "ap-one" && (ap.Account != "acct" || ap.Order != "ord-one" || len(ap.Identifiers) != 1 ||
			ap.Identifiers[0] != (acme.Identifier{Type: "dns", Value: "one.test"}) || ap.DecidedBy != "cli:alice") {
			t.Errorf("approval list --format json, ap-one: %+v", ap)
		}
	}

	// Every change is in the audit log, which still verifies; no HMAC key in it.
	out, _, err = runCLI(t, nil, "audit", "list", "--data", data, "--format", "json")
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"profile.create", "eab_key.create", "eab_key.revoke", "approval.approve", "approval.reject", "cli:alice", "wrong team"} {
		if !strings.Contains(out, want) {
			t.Errorf("audit log lacks %q", want)
		}
	}
	if strings.Contains(out, created.HMAC) {
		t.Errorf("the audit log holds the EAB HMAC key")
	}
	if _, _, err := runCLI(t, nil, "audit", "verify", "--data", data); err != nil {
		t.Errorf("audit verify: %v", err)
	}
}

// TestProfileCLIValidationDNS: --dns-resolver, --dns-timeout and --dnssec
// set the profile's own resolver settings; a bad resolver is refused.
func TestProfileCLIValidationDNS(t *testing.T) {
	data := t.TempDir()
	initDataDir(t, data)
	if _, _, err := runCLI(t, nil, "profile", "create", "internal", "--data", data, "--validity", "30d",
		"--dns-resolver", "10.0.0.53:53,[fd00::53]:53", "--dns-timeout", "3s", "--dnssec"); err != nil {
		t.Fatalf("create: %v", err)
	}
	out, _, err := runCLI(t, nil, "profile", "show", "internal", "--data", data, "--format", "json")
	var p policy.Profile
	if err != nil || json.Unmarshal([]byte(out), &p) != nil {
		t.Fatalf("show: %q, %v", out, err)
	}
	v := p.Validation
	if v == nil || strings.Join(v.DNSResolvers, ",") != "10.0.0.53:53,[fd00::53]:53" || v.DNSTimeout != policy.Duration(3*time.Second) || v.DNSSEC == nil || !*v.DNSSEC {
		t.Fatalf("validation settings %+v", v)
	}
	if _, _, err := runCLI(t, nil, "profile", "update", "internal", "--data", data, "--dns-resolver", "10.0.0.53"); err == nil ||
		!strings.Contains(err.Error(), "dnsResolvers") {
		t.Errorf("resolver without a port: %v", err)
	}
}

// TestProfileDefaultNotStored: `profile list` shows the built-in default,
// so `profile update|delete default` without a stored one says that the
// built-in default applies and what to do, in one line, instead of "there
// is no stored profile" for the name the list just showed (`show` shows
// it: TestProfileShowBuiltinDefault); other names still point to the list.
func TestProfileDefaultNotStored(t *testing.T) {
	data := t.TempDir()
	initDataDir(t, data)
	out, _, err := runCLI(t, nil, "profile", "list", "--data", data)
	if err != nil || !strings.Contains(out, "built-in default") {
		t.Fatalf("profile list: %q, %v", out, err)
	}
	const applies = `no profile "default" is stored, so the built-in default applies (any name, every key type, serverAuth, the server's --cert-validity and --client-auth; docs/profiles.md): `
	for _, c := range []struct {
		args []string
		want string
	}{
		{[]string{"update", "default", "--validity", "10d"}, applies + "'certgate profile create default' with the fields you want stores one in its place"},
		{[]string{"delete", "default"}, applies + "it cannot be deleted"},
		{[]string{"show", "nope"}, `there is no stored profile "nope" (see 'certgate profile list')`},
		{[]string{"delete", "nope"}, `there is no stored profile "nope" (see 'certgate profile list')`},
	} {
		_, _, err := runCLI(t, nil, append(append([]string{"profile"}, c.args...), "--data", data)...)
		if err == nil || err.Error() != c.want {
			t.Errorf("profile %v: %v, want %q", c.args, err, c.want)
		}
	}
	if _, _, err := runCLI(t, nil, "profile", "create", "default", "--validity", "30d", "--data", data); err != nil {
		t.Fatal(err)
	}
	if out, _, err := runCLI(t, nil, "profile", "show", "default", "--data", data); err != nil || !strings.Contains(out, "validity: 30d") {
		t.Errorf("profile show of a stored default: %q, %v", out, err)
	}
}

// TestProfileListJSONHasDefault: `profile list --format json` lists the
// profiles as the table and GET /api/v1/profiles do: "default" first (the
// built-in one, described by --cert-validity and --client-auth, while none
// is stored; else the stored one), then the other stored profiles.
func TestProfileListJSONHasDefault(t *testing.T) {
	data := t.TempDir()
	initDataDir(t, data)
	list := func(args ...string) []policy.Profile {
		t.Helper()
		out, _, err := runCLI(t, nil, append([]string{"profile", "list", "--data", data, "--format", "json"}, args...)...)
		var ps []policy.Profile
		if err != nil || json.Unmarshal([]byte(out), &ps) != nil {
			t.Fatalf("profile list --format json %v: %v\n%s", args, err, out)
		}
		return ps
	}
	ps := list()
	if len(ps) != 1 || ps[0].Name != "default" || ps[0].Validity != policy.Duration(90*24*time.Hour) ||
		ps[0].MaxValidity != ps[0].Validity || !reflect.DeepEqual(ps[0].EKUs, []string{"serverAuth"}) {
		t.Fatalf("empty database: %+v, want the built-in default only", ps)
	}
	if ps := list("--cert-validity", "30d", "--client-auth"); len(ps) != 1 || ps[0].Validity != policy.Duration(30*24*time.Hour) ||
		!reflect.DeepEqual(ps[0].EKUs, []string{"serverAuth", "clientAuth"}) {
		t.Fatalf("--cert-validity 30d --client-auth: %+v", ps)
	}
	if out, _, err := runCLI(t, nil, "profile", "list", "--data", data, "--cert-validity", "30d"); err != nil ||
		!strings.Contains(out, "default  30d") || !strings.Contains(out, "built-in default") {
		t.Fatalf("table with --cert-validity 30d: %v\n%s", err, out)
	}
	for _, args := range [][]string{{"aaa", "--validity", "10d"}, {"default", "--validity", "20d"}} {
		if _, _, err := runCLI(t, nil, append([]string{"profile", "create", "--data", data}, args...)...); err != nil {
			t.Fatal(err)
		}
	}
	ps = list()
	if len(ps) != 2 || ps[0].Name != "default" || ps[0].Validity != policy.Duration(20*24*time.Hour) || ps[1].Name != "aaa" {
		t.Fatalf("stored default and aaa: %+v, want the stored default first, then aaa", ps)
	}
	out, _, err := runCLI(t, nil, "profile", "list", "--data", data)
	if lines := strings.Split(strings.TrimSpace(out), "\n"); err != nil || len(lines) != 3 || !strings.HasPrefix(lines[1], "default") ||
		strings.Contains(out, "built-in") {
		t.Fatalf("table with a stored default: %v\n%s", err, out)
	}
}

// TestEABCreateJSONIsTheAPIs: `eab create --format json` prints the admin
// API's answer to POST /api/v1/eab-keys (adminapi.CreatedEABKey: hmac and
// the key's fields, status, single_use, expires, created_at, ...,
// directory); it printed kid, hmac, profile and directory only. Without
// the server's hostname or listen setting the directory is its path.
func TestEABCreateJSONIsTheAPIs(t *testing.T) {
	data := t.TempDir()
	initDataDir(t, data)
	out, _, err := runCLI(t, nil, "eab", "create", "--allow", "*.team.test", "--expires", "30d", "--single-use", "--owner", "team",
		"--data", data, "--format", "json")
	var got adminapi.CreatedEABKey
	if err != nil || json.Unmarshal([]byte(out), &got) != nil {
		t.Fatalf("eab create: %v\n%s", err, out)
	}
	if got.KID == "" || len(got.HMAC) != 86 || got.Profile != "default" || got.Owner != "team" || !got.SingleUse || got.Status != "active" ||
		got.Expires == nil || time.Until(*got.Expires) < 29*24*time.Hour || got.CreatedAt.IsZero() || !reflect.DeepEqual(got.Allow, []string{"*.team.test"}) ||
		got.Directory != "/acme/default/directory" {
		t.Fatalf("eab create --format json: %+v\n%s", got, out)
	}
	for _, field := range []string{`"status"`, `"single_use"`, `"created_at"`, `"expires"`} {
		if !strings.Contains(out, field) {
			t.Errorf("eab create --format json lacks %s:\n%s", field, out)
		}
	}
}

// TestEABCreatePrintsAbsoluteDirectory: when `eab create` has the server's
// hostname or listen setting (flags, CERTGATE_HOSTNAME or CERTGATE_LISTEN,
// the --config file serve reads), the directory it prints is the absolute
// URL a client needs, https://HOSTNAME:PORT/acme/PROFILE/directory, as
// POST /api/v1/eab-keys answers it; it printed the path only.
func TestEABCreatePrintsAbsoluteDirectory(t *testing.T) {
	data := t.TempDir()
	initDataDir(t, data)
	if _, _, err := runCLI(t, nil, "profile", "create", "partners", "--data", data); err != nil {
		t.Fatal(err)
	}
	cfg := filepath.Join(t.TempDir(), "certgate.yaml")
	if err := os.WriteFile(cfg, []byte("hostname: acme.corp.test\nlisten: 0.0.0.0:9443\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name string
		env  map[string]string
		args []string
		want string
	}{
		{"flags", nil, []string{"--hostname", "ca.example.test", "--listen", ":443"}, "https://ca.example.test:443/acme/partners/directory"},
		{"hostname only: serve's default port", nil, []string{"--hostname", "ca.example.test"}, "https://ca.example.test:8443/acme/partners/directory"},
		{"listen only: serve's default hostname", nil, []string{"--listen", "[::]:9000"}, "https://localhost:9000/acme/partners/directory"},
		{"upper-case hostname: lower case, as serve uses it", nil, []string{"--hostname", "CA.Example.TEST"}, "https://ca.example.test:8443/acme/partners/directory"},
		{"IPv6 hostname", nil, []string{"--hostname", "2001:db8::1"}, "https://[2001:db8::1]:8443/acme/partners/directory"},
		{"environment", map[string]string{"CERTGATE_HOSTNAME": "env.example.test", "CERTGATE_LISTEN": ":8444"}, nil, "https://env.example.test:8444/acme/partners/directory"},
		{"configuration file", nil, []string{"--config", cfg}, "https://acme.corp.test:9443/acme/partners/directory"},
		{"neither: the path", nil, nil, "/acme/partners/directory"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			for k, v := range tc.env {
				t.Setenv(k, v)
			}
			args := append([]string{"eab", "create", "--profile", "partners", "--data", data}, tc.args...)
			out, _, err := runCLI(t, nil, append(args, "--format", "json")...)
			var got adminapi.CreatedEABKey
			if err != nil || json.Unmarshal([]byte(out), &got) != nil || got.Directory != tc.want {
				t.Fatalf("eab create --format json: %v, directory %q, want %q\n%s", err, got.Directory, tc.want, out)
			}
			out, _, err = runCLI(t, nil, args...)
			if want := "profile: partners (directory " + tc.want + ")\n"; err != nil || !strings.HasSuffix(out, want) {
				t.Fatalf("eab create: %v\n%s\nwant the last line %q", err, out, want)
			}
		})
	}
	if _, _, err := runCLI(t, nil, "eab", "create", "--data", data, "--listen", "ca.example.test"); err == nil ||
		err.Error() != `--listen "ca.example.test": not the server's HOST:PORT (e.g. :8443)` {
		t.Fatalf("eab create --listen without a port: %v", err)
	}
	if _, _, err := runCLI(t, nil, "eab", "create", "--data", data, "--hostname", "https://ca.example.test"); err == nil ||
		err.Error() != `--hostname: "https://ca.example.test" is not a DNS name or IP address: give the name only, without a scheme (e.g. acme.example.com, not https://acme.example.com)` {
		t.Fatalf("eab create --hostname with a scheme: %v", err)
	}
}

// TestEscalateAfterNeedsApprovalRule: --escalate-after on a profile without
// an approval rule (create or update) is refused in one line and nothing is
// stored; it was dropped while "updated profile" was printed. With a rule,
// given or stored, it is set.
func TestEscalateAfterNeedsApprovalRule(t *testing.T) {
	data := filepath.Join(t.TempDir(), "data")
	initDataDir(t, data)
	if _, _, err := runCLI(t, nil, "profile", "create", "plain", "--data", data, "--validity", "30d"); err != nil {
		t.Fatal(err)
	}
	for _, args := range [][]string{
		{"profile", "update", "plain", "--escalate-after", "4h"},
		{"profile", "create", "other", "--validity", "30d", "--escalate-after", "4h"},
		{"profile", "update", "plain", "--approval=false", "--escalate-after", "4h"},
	} {
		out, _, err := runCLI(t, nil, append(args, "--data", data)...)
		if err == nil || out != "" || !strings.Contains(err.Error(), "has no approval rule, so no approval can wait") {
			t.Errorf("%v: %v, stdout %q; want the refusal", args, err, out)
		}
	}
	if _, _, err := runCLI(t, nil, "profile", "show", "other", "--data", data); err == nil {
		t.Error("the refused create stored profile other")
	}
	if _, _, err := runCLI(t, nil, "profile", "update", "plain", "--approval", "--escalate-after", "4h", "--data", data); err != nil {
		t.Fatal(err)
	}
	if _, _, err := runCLI(t, nil, "profile", "update", "plain", "--escalate-after", "2h", "--data", data); err != nil {
		t.Fatal(err)
	}
	out, _, err := runCLI(t, nil, "profile", "show", "plain", "--data", data)
	if err != nil || !strings.Contains(out, "escalateAfter: 2h") {
		t.Errorf("after setting a rule and escalateAfter: %v\n%s", err, out)
	}
}

// TestProfileListApprovalColumn: the APPROVAL column says yes for a profile
// with an approval rule only; "approval: {always: false}" (no rule) said yes
// though no certificate of the profile waits.
func TestProfileListApprovalColumn(t *testing.T) {
	data := filepath.Join(t.TempDir(), "data")
	initDataDir(t, data)
	dir := t.TempDir()
	for name, approval := range map[string]string{"none": "{always: false}", "rule": "{keyTypes: [rsa2048]}"} {
		f := filepath.Join(dir, name+".yaml")
		if err := os.WriteFile(f, []byte("name: "+name+"\nvalidity: 30d\napproval: "+approval+"\n"), 0o600); err != nil {
			t.Fatal(err)
		}
		if _, _, err := runCLI(t, nil, "profile", "create", "--file", f, "--data", data); err != nil {
			t.Fatal(err)
		}
	}
	out, _, err := runCLI(t, nil, "profile", "list", "--data", data)
	if err != nil {
		t.Fatal(err)
	}
	for name, want := range map[string]string{"none": "-", "rule": "yes"} {
		found := false
		for _, line := range strings.Split(out, "\n") {
			if f := strings.Fields(line); len(f) >= 6 && f[0] == name {
				found = true
				if f[5] != want {
					t.Errorf("profile %s: APPROVAL %q, want %q\n%s", name, f[5], want, out)
				}
			}
		}
		if !found {
			t.Errorf("profile %s not listed:\n%s", name, out)
		}
	}
}

// TestProfileDNSSECNeedsResolver: a profile that turns DNSSEC on without
// resolvers of its own is refused unless the server's --va-dns-resolver
// (flag, CERTGATE_VA_DNS_RESOLVER or the config file) names one; it was
// stored, and every validation of the profile failed with serverInternal
// on a server using the system resolver.
func TestProfileDNSSECNeedsResolver(t *testing.T) {
	t.Setenv("CERTGATE_VA_DNS_RESOLVER", "")
	data := t.TempDir()
	initDataDir(t, data)
	_, _, err := runCLI(t, nil, "profile", "create", "sec", "--data", data, "--dnssec")
	if err == nil || !strings.Contains(err.Error(), "profile sec: validation.dnssec needs a validating DNS resolver") ||
		!strings.Contains(err.Error(), "--va-dns-resolver") {
		t.Fatalf("create --dnssec without a resolver: %v", err)
	}
	if _, _, err := runCLI(t, nil, "profile", "create", "sec", "--data", data, "--dnssec", "--dns-resolver", "127.0.0.1:53"); err != nil {
		t.Fatalf("create --dnssec with its own resolver: %v", err)
	}
	if _, _, err := runCLI(t, nil, "profile", "create", "sec2", "--data", data, "--dnssec", "--va-dns-resolver", "127.0.0.1:53"); err != nil {
		t.Fatalf("create --dnssec with the server's resolver: %v", err)
	}
	t.Setenv("CERTGATE_VA_DNS_RESOLVER", "127.0.0.1:53")
	if _, _, err := runCLI(t, nil, "profile", "create", "sec3", "--data", data, "--dnssec"); err != nil {
		t.Fatalf("create --dnssec with CERTGATE_VA_DNS_RESOLVER: %v", err)
	}
	t.Setenv("CERTGATE_VA_DNS_RESOLVER", "")
	// Dropping the profile's own resolver while DNSSEC stays on.
	if _, _, err := runCLI(t, nil, "profile", "update", "sec", "--data", data, "--dns-resolver", ""); err == nil ||
		!strings.Contains(err.Error(), "validation.dnssec needs a validating DNS resolver") {
		t.Errorf("update dropping the resolver: %v", err)
	}
}
