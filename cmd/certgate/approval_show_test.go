package main

import (
	"context"
	"encoding/json"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/certgate/certgate/internal/acme"
	"github.com/certgate/certgate/internal/adminapi"
	"github.com/certgate/certgate/internal/server"
	"github.com/certgate/certgate/internal/store"
)

// TestApprovalShowCLI: `certgate approval show ID` shows what the approver
// decides on (there was no such command, and `approval list` showed neither
// the order's attributes nor the EAB key's owner): the identifiers, the
// order's custom attributes and requested validity, the CSR's key type,
// the account and the EAB key and owner it was bound with, and the history
// (requested, escalated, decided by); --format json prints the admin API's
// answer. `approval list` adds ATTRIBUTES and EAB-OWNER after its former
// columns, which stay in place; an unknown ID is one line naming the list.
func TestApprovalShowCLI(t *testing.T) {
	data := t.TempDir()
	initDataDir(t, data)
	if _, _, err := runCLI(t, nil, "profile", "create", "billing", "--data", data, "--validity", "30d", "--require-attr", "billing_code"); err != nil {
		t.Fatal(err)
	}
	out, _, err := runCLI(t, nil, "eab", "create", "--profile", "billing", "--attr", "billing_code=CC-7", "--owner", "team-a", "--data", data, "--format", "json")
	if err != nil {
		t.Fatal(err)
	}
	var key adminapi.CreatedEABKey
	if err := json.Unmarshal([]byte(out), &key); err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	st, err := store.Open(ctx, server.DSN(data, ""))
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	now := time.Now().UTC().Truncate(time.Second)
	if err := st.CreateAccount(ctx, &store.Account{ID: "acct", KeyThumbprint: "tp", JWK: []byte(`{}`), Status: acme.StatusValid, CreatedAt: now, EABKid: key.KID}); err != nil {
		t.Fatal(err)
	}
	nb, na := now.Add(time.Hour), now.Add(20*24*time.Hour)
	o := &store.Order{ID: "ord", AccountID: "acct", Status: acme.StatusPending, Expires: now.Add(time.Hour), Profile: "billing",
		Identifiers: []acme.Identifier{{Type: "dns", Value: "pay.team.test"}, {Type: "ip", Value: "192.0.2.7"}}, AuthzIDs: []string{},
		Attributes: map[string]string{"billing_code": "CC-7"}, NotBefore: nb, NotAfter: na, CreatedAt: now, UpdatedAt: now}
	if err := st.CreateOrder(ctx, o, nil); err != nil {
		t.Fatal(err)
	}
	if err := st.RequestApproval(ctx, &store.Approval{ID: "ap1", OrderID: o.ID, AccountID: "acct", Profile: "billing", Identifiers: o.Identifiers,
		KeyType: "rsa-3072", Reason: "always", CSR: []byte{1}, Status: store.ApprovalPending, RequestedAt: now}, now); err != nil {
		t.Fatal(err)
	}
	if err := st.MarkApprovalEscalated(ctx, "ap1", now.Add(4*time.Hour)); err != nil {
		t.Fatal(err)
	}

	out, _, err = runCLI(t, nil, "approval", "list", "--data", data)
	lines := strings.Split(out, "\n")
	if err != nil || len(lines) < 2 || !strings.HasPrefix(strings.Join(strings.Fields(lines[0]), " "),
		"ID STATUS PROFILE IDENTIFIERS KEY REQUESTED ESCALATED DECIDED-BY REASON ATTRIBUTES EAB-OWNER") ||
		!strings.HasSuffix(strings.TrimSpace(lines[1]), "always  billing_code=CC-7  team-a") {
		t.Fatalf("approval list: %v\n%s", err, out)
	}
	out, _, err = runCLI(t, nil, "approval", "list", "--data", data, "--format", "json")
	var items []adminapi.ApprovalItem
	if err != nil || json.Unmarshal([]byte(out), &items) != nil || len(items) != 1 || items[0].EABOwner != "team-a" || items[0].EABKid != key.KID ||
		items[0].Attributes["billing_code"] != "CC-7" {
		t.Fatalf("approval list --format json: %v\n%s", err, out)
	}

	out, _, err = runCLI(t, nil, "approval", "show", "ap1", "--data", data)
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"dns:pay.team.test, ip:192.0.2.7", "billing_code=CC-7", "rsa-3072", key.KID + " (owner team-a)", "acct (valid)",
		"notBefore " + nb.Format(time.RFC3339) + ", notAfter " + na.Format(time.RFC3339),
		now.Format(time.RFC3339) + " requested by acme-account:acct", now.Add(4*time.Hour).Format(time.RFC3339) + " escalated by system"} {
		if !strings.Contains(out, want) {
			t.Errorf("approval show lacks %q:\n%s", want, out)
		}
	}
	// A decider's name or comment with control characters is refused
	// (it was recorded as "cli:evil\nuser"), the approval left pending.
	for _, args := range [][]string{{"--by", "evil\nuser", "--comment", "no"}, {"--by", "alice", "--comment", "a\x1bb"}} {
		if _, _, err := runCLI(t, nil, append([]string{"approval", "reject", "ap1", "--data", data}, args...)...); err == nil || !strings.Contains(err.Error(), "control character") {
			t.Errorf("approval reject %q: %v, want refused naming the control character", args, err)
		}
	}
	if _, _, err := runCLI(t, nil, "approval", "reject", "ap1", "--by", "alice", "--comment", "wrong team", "--data", data); err != nil {
		t.Fatal(err)
	}
	out, _, err = runCLI(t, nil, "approval", "show", "ap1", "--data", data, "--format", "json")
	var d adminapi.ApprovalDetail
	if err != nil || json.Unmarshal([]byte(out), &d) != nil {
		t.Fatalf("approval show --format json: %v\n%s", err, out)
	}
	if d.Status != store.ApprovalRejected || d.EABOwner != "team-a" || d.AccountStatus != acme.StatusValid || d.NotAfter == nil || !d.NotAfter.Equal(na) ||
		len(d.History) != 3 || d.History[2].Event != "rejected" || d.History[2].Actor != "cli:alice" || d.History[2].Comment != "wrong team" {
		t.Errorf("approval show --format json:\n%s", out)
	}
	if out, _, err := runCLI(t, nil, "approval", "show", "ap1", "--data", data); err != nil || !strings.Contains(out, "rejected by cli:alice: wrong team") {
		t.Errorf("approval show of the rejected approval: %v\n%s", err, out)
	}
	// Its order, invalid, is deleted once expired: still shown.
	if n, _, err := st.DeleteStale(ctx, now.Add(2*time.Hour)); err != nil || n != 1 {
		t.Fatalf("DeleteStale: %d orders, %v", n, err)
	}
	if out, _, err := runCLI(t, nil, "approval", "show", "ap1", "--data", data); err != nil || !strings.Contains(out, "ord (no longer stored") ||
		!strings.Contains(out, "team-a") {
		t.Errorf("approval show after its order was deleted: %v\n%s", err, out)
	}
	if _, _, err := runCLI(t, nil, "approval", "show", "nope", "--data", data); err == nil ||
		err.Error() != `there is no approval "nope" (see 'certgate approval list')` {
		t.Errorf("unknown approval: %v", err)
	}
}

// TestEABCreatePrintsWhatItCreated: `eab create` printed the kid, the HMAC
// key and the profile only; it also prints the owner, attributes,
// identifier allowlist, single-use flag and expiry it stored, as `eab list`
// shows them ("-" for unset, with what that means), between the HMAC key
// and the directory, which stay the second and the last line; --format
// json has the same values.
func TestEABCreatePrintsWhatItCreated(t *testing.T) {
	data := t.TempDir()
	initDataDir(t, data)
	if _, _, err := runCLI(t, nil, "profile", "create", "billing", "--data", data, "--validity", "30d", "--optional-attr", "billing_code"); err != nil {
		t.Fatal(err)
	}
	out, _, err := runCLI(t, nil, "eab", "create", "--profile", "billing", "--attr", "billing_code=CC-7", "--allow", "*.team.test", "--allow", "192.0.2.0/24",
		"--expires", "30d", "--single-use", "--owner", "team", "--data", data)
	if err != nil {
		t.Fatal(err)
	}
	kid, _, _ := strings.Cut(strings.TrimPrefix(out, "kid: "), "\n")
	ctx := context.Background()
	st, err := store.Open(ctx, server.DSN(data, ""))
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	k, err := st.GetEABKey(ctx, kid)
	if err != nil {
		t.Fatalf("eab create printed %q: %v", out, err)
	}
	if !strings.HasPrefix(out, "kid: "+kid+"\nhmac: ") || !strings.HasSuffix(out, "\nprofile: billing (directory /acme/billing/directory)\n") {
		t.Errorf("eab create: kid and hmac not first, or the profile's directory not last:\n%s", out)
	}
	for _, want := range []string{"\nowner: team\n", "\nattributes: billing_code=CC-7\n", "\nallow: *.team.test,192.0.2.0/24\n", "\nsingle-use: true\n",
		"\nexpires: " + k.Expires.Format(time.RFC3339) + "\n"} {
		if !strings.Contains(out, want) {
			t.Errorf("eab create lacks %q:\n%s", want, out)
		}
	}
	list, _, err := runCLI(t, nil, "eab", "list", "--data", data)
	if err != nil || !strings.Contains(list, k.Expires.Format(time.RFC3339)) || !strings.Contains(list, "*.team.test,192.0.2.0/24") {
		t.Errorf("eab list shows the key otherwise: %v\n%s", err, list)
	}
	out, _, err = runCLI(t, nil, "eab", "create", "--profile", "billing", "--data", data)
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"\nowner: -\n", "\nattributes: -\n", "\nallow: - (the profile's rules)\n", "\nsingle-use: false\n", "\nexpires: - (never)\n"} {
		if !strings.Contains(out, want) {
			t.Errorf("eab create without options lacks %q:\n%s", want, out)
		}
	}
	out, _, err = runCLI(t, nil, "eab", "create", "--profile", "billing", "--expires", "7d", "--single-use", "--allow", "*.x.test", "--data", data, "--format", "json")
	var v adminapi.CreatedEABKey
	if err != nil || json.Unmarshal([]byte(out), &v) != nil || !v.SingleUse || v.Expires == nil || len(v.Allow) != 1 || v.Allow[0] != "*.x.test" {
		t.Errorf("eab create --format json: %v\n%s", err, out)
	}
}

// TestProfileShowBuiltinDefault: `profile show default` without a stored
// default shows the built-in default the server applies, as `profile list`
// and GET /api/v1/profiles/default do (it exited 1 saying only that the
// built-in default applies), described by --cert-validity and
// --client-auth; its YAML says it is the built-in one in a comment, and
// --format json is list's first entry.
func TestProfileShowBuiltinDefault(t *testing.T) {
	data := t.TempDir()
	initDataDir(t, data)
	out, _, err := runCLI(t, nil, "profile", "show", "default", "--data", data)
	if err != nil || !strings.HasPrefix(out, "# built-in default") || !strings.Contains(out, "name: default") ||
		!strings.Contains(out, "validity: 90d") || !strings.Contains(out, "serverAuth") || strings.Contains(out, "clientAuth") {
		t.Fatalf("profile show default: %v\n%s", err, out)
	}
	out, _, err = runCLI(t, nil, "profile", "show", "default", "--data", data, "--cert-validity", "30d", "--client-auth")
	if err != nil || !strings.Contains(out, "validity: 30d") || !strings.Contains(out, "clientAuth") {
		t.Errorf("profile show default --cert-validity 30d --client-auth: %v\n%s", err, out)
	}
	show, _, err := runCLI(t, nil, "profile", "show", "default", "--data", data, "--format", "json")
	if err != nil {
		t.Fatal(err)
	}
	list, _, err := runCLI(t, nil, "profile", "list", "--data", data, "--format", "json")
	var ps []json.RawMessage
	if err != nil || json.Unmarshal([]byte(list), &ps) != nil || len(ps) == 0 {
		t.Fatalf("profile list --format json: %v\n%s", err, list)
	}
	var a, b any
	if json.Unmarshal([]byte(show), &a) != nil || json.Unmarshal(ps[0], &b) != nil || !reflect.DeepEqual(a, b) {
		t.Errorf("profile show default --format json:\n%s\nwant profile list's first entry:\n%s", show, ps[0])
	}
	if _, _, err := runCLI(t, nil, "profile", "show", "default", "--data", data, "--cert-validity", "x"); err == nil || !strings.HasPrefix(err.Error(), "--cert-validity") {
		t.Errorf("bad --cert-validity: %v", err)
	}
}

// TestRateLimitZero: --rate 0 is unlimited (the subject is exempt), which
// set now says with the command that removes the override; a count of 0
// with a period (0/1h), which reads as a block but exempted the subject
// without a word, is refused in one line naming `ratelimit delete`; the
// help says 0 is unlimited.
func TestRateLimitZero(t *testing.T) {
	data := t.TempDir()
	initDataDir(t, data)
	createOverrideSubjects(t, data, []string{"acct1"}, nil)
	out, _, err := runCLI(t, nil, "ratelimit", "set", "new-orders-per-account", "--account", "acct1", "--rate", "0", "--data", data)
	if err != nil || out != "new-orders-per-account for account:acct1: unlimited (exempt from the limit; "+
		"'certgate ratelimit delete new-orders-per-account --account acct1' gives it the configured rate again)\n" {
		t.Errorf("--rate 0: %q, %v", out, err)
	}
	for _, args := range [][]string{
		{"new-orders-per-account", "--account", "acct1", "--rate", "0/1h"},
		{"pending-authorizations-per-account", "--account", "acct1", "--rate", "0/1h"},
		{"certificates-per-domain", "--domain", "example.com", "--rate", "0/7d"},
	} {
		_, _, err := runCLI(t, nil, append(append([]string{"ratelimit", "set"}, args...), "--data", data)...)
		if err == nil || strings.Contains(err.Error(), "\n") || !strings.Contains(err.Error(), "does not block") ||
			!strings.Contains(err.Error(), "'certgate ratelimit delete "+args[0]+"'") {
			t.Errorf("%v: %v, want one line refusing it and naming ratelimit delete", args, err)
		}
	}
	list, _, _ := runCLI(t, nil, "ratelimit", "list", "--data", data, "--format", "json")
	if strings.Contains(list, "certificates-per-domain") || strings.Contains(list, "pending-authorizations") {
		t.Errorf("a refused set stored an override:\n%s", list)
	}
	help, _, err := runCLI(t, nil, "ratelimit", "set", "--help")
	if err != nil || !strings.Contains(help, "--rate 0 means unlimited") || !strings.Contains(help, "0 = unlimited") {
		t.Errorf("ratelimit set --help:\n%s", help)
	}
}

// TestRateLimitSetRateSpaces: surrounding space in --rate is ignored on
// every limit alike (the pending-authorizations count refused " 0 " that
// ParseRate, for the other limits, trimmed).
func TestRateLimitSetRateSpaces(t *testing.T) {
	data := t.TempDir()
	initDataDir(t, data)
	createOverrideSubjects(t, data, []string{"acct1"}, nil)
	for _, limit := range []string{"pending-authorizations-per-account", "new-orders-per-account"} {
		out, _, err := runCLI(t, nil, "ratelimit", "set", limit, "--account", "acct1", "--rate", " 0 ", "--data", data)
		if err != nil || !strings.HasPrefix(out, limit+" for account:acct1: unlimited") {
			t.Errorf("%s --rate ' 0 ': %q, %v", limit, out, err)
		}
	}
	out, _, err := runCLI(t, nil, "ratelimit", "set", "pending-authorizations-per-account", "--account", "acct1", "--rate", " 7 ", "--data", data)
	if err != nil || !strings.Contains(out, "7") {
		t.Errorf("pending-authorizations-per-account --rate ' 7 ': %q, %v", out, err)
	}
}
