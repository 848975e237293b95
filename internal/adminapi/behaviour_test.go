package adminapi

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"encoding/json"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/certgate/certgate/internal/acme"
	"github.com/certgate/certgate/internal/audit"
	"github.com/certgate/certgate/internal/auth"
	"github.com/certgate/certgate/internal/inventory"
	"github.com/certgate/certgate/internal/store"
	"github.com/certgate/certgate/internal/store/storetest"
)

func decode[T any](t *testing.T, r response) T {
	t.Helper()
	var v T
	if err := json.Unmarshal(r.body, &v); err != nil {
		t.Fatalf("decode %s: %v", r.body, err)
	}
	return v
}

// TestRevokeKeyCompromiseAfterAnotherReason, on both engines: a
// certificate revoked as superseded can be revoked again for
// keyCompromise (its reason changes, its revocation time stays, its key is
// blocked); after that any revocation is a 409.
func TestRevokeKeyCompromiseAfterAnotherReason(t *testing.T) {
	eachEngine(t, func(t *testing.T, f *fixture) {
		admin := f.tokens[auth.RoleAdmin]
		c := f.certificate()
		first := decode[inventory.Certificate](t, f.do("POST", "/api/v1/certificates/"+c.Serial+"/revoke", admin, map[string]int{"reason": 4}))
		r := f.do("POST", "/api/v1/certificates/"+c.Serial+"/revoke", admin, map[string]int{"reason": 1})
		if v := decode[inventory.Certificate](t, r); r.status != 200 || v.RevocationReason != "keyCompromise" || first.RevokedAt == nil ||
			v.RevokedAt == nil || !v.RevokedAt.Equal(*first.RevokedAt) {
			t.Errorf("keyCompromise after superseded: %d %s; want 200, keyCompromise, revoked at %v", r.status, r.body, first.RevokedAt)
		}
		leaf, err := x509.ParseCertificate(c.DER)
		if err != nil {
			t.Fatal(err)
		}
		h, err := store.KeyHash(leaf.PublicKey)
		if err != nil {
			t.Fatal(err)
		}
		if b, err := f.st.GetBlockedKey(context.Background(), h); err != nil || b.Serial != c.Serial {
			t.Errorf("blocked key: %+v, %v; want blocked by %s", b, err, c.Serial)
		}
		for _, reason := range []int{1, 4} {
			if err := isProblem(f.do("POST", "/api/v1/certificates/"+c.Serial+"/revoke", admin, map[string]int{"reason": reason}), 409); err != nil {
				t.Errorf("reason %d after keyCompromise: %v", reason, err)
			}
		}
	})
}

// TestChangesAreAuditedAndPaginated, on both engines: deactivation and
// token changes made through the API are in the audit log with the token
// as actor and the client address as source; conflicts and unknown
// objects are 409/404 problems; accounts, orders and audit events page
// by cursor without repeats or gaps.
func TestChangesAreAuditedAndPaginated(t *testing.T) {
	eachEngine(t, func(t *testing.T, f *fixture) {
		admin := f.tokens[auth.RoleAdmin]
		id, oid := f.account()

		r := f.do("POST", "/api/v1/accounts/"+id+"/deactivate", f.tokens[auth.RoleOperator], nil)
		if r.status != 200 || decode[Account](t, r).Status != "deactivated" {
			t.Fatalf("deactivate: %d %s", r.status, r.body)
		}
		if err := isProblem(f.do("POST", "/api/v1/accounts/"+id+"/deactivate", admin, nil), 409); err != nil {
			t.Errorf("second deactivation: %v", err)
		}
		for _, p := range []string{"/api/v1/accounts/nope", "/api/v1/orders/nope", "/api/v1/accounts/nope/orders"} {
			if err := isProblem(f.do("GET", p, admin, nil), 404); err != nil {
				t.Errorf("GET %s: %v", p, err)
			}
		}
		if err := isProblem(f.do("POST", "/api/v1/accounts/nope/deactivate", admin, nil), 404); err != nil {
			t.Errorf("deactivate unknown: %v", err)
		}
		if o := decode[Order](t, f.do("GET", "/api/v1/orders/"+oid, admin, nil)); o.AccountID != id || o.Identifiers[0].Value != "a.example.com" {
			t.Errorf("order: %+v", o)
		}

		r = f.do("POST", "/api/v1/tokens", admin, map[string]string{"name": "robot", "role": "operator"})
		created := decode[CreatedToken](t, r)
		if r.status != 201 || !strings.HasPrefix(created.Token, "cgt_"+created.ID+"_") || created.Role != "operator" {
			t.Fatalf("create token: %d %s", r.status, r.body)
		}
		if r := f.do("GET", "/api/v1/accounts", created.Token, nil); r.status != 200 {
			t.Fatalf("new token does not work: %d", r.status)
		}
		if err := isProblem(f.do("POST", "/api/v1/tokens", admin, map[string]string{"name": "robot", "role": "auditor"}), 409); err != nil {
			t.Errorf("duplicate name: %v", err)
		}
		if err := isProblem(f.do("POST", "/api/v1/tokens", admin, map[string]string{"name": "x", "role": "auditor", "expires": "soon"}), 422); err != nil {
			t.Errorf("bad expires: %v", err)
		}
		if r := f.do("POST", "/api/v1/tokens/robot/revoke", admin, nil); r.status != 200 || decode[auth.TokenView](t, r).Status != "revoked" {
			t.Fatalf("revoke by name: %d %s", r.status, r.body)
		}
		if err := isProblem(f.do("POST", "/api/v1/tokens/"+created.ID+"/revoke", admin, nil), 409); err != nil {
			t.Errorf("second revoke: %v", err)
		}
		if err := isProblem(f.do("GET", "/api/v1/accounts", created.Token, nil), 401); err != nil {
			t.Errorf("revoked token: %v", err)
		}

		evs := decode[struct{ Items []AuditEvent }](t, f.do("GET", "/api/v1/audit/events?limit=3", admin, nil)).Items
		var got []string
		for _, e := range evs {
			if !strings.HasPrefix(e.Source, "127.0.0.1:") {
				t.Errorf("event %d source %q", e.Seq, e.Source)
			}
			got = append(got, e.Actor+" "+e.Action)
		}
		want := []string{f.actor(auth.RoleAdmin) + " token.revoke", f.actor(auth.RoleAdmin) + " token.create", f.actor(auth.RoleOperator) + " account.deactivate"}
		if strings.Join(got, "|") != strings.Join(want, "|") {
			t.Fatalf("newest events %q, want %q", got, want)
		}
		if before, _ := evs[2].Before.(map[string]any); before["status"] != "valid" {
			t.Errorf("deactivation before: %v", evs[2].Before)
		}

		// Pagination: 7 accounts in pages of 3; orders of one account; audit events.
		// The orders are listed for the last of these accounts: the first
		// one is deactivated by now and can order nothing.
		var pid, poid string
		for range 5 {
			pid, poid = f.account()
		}
		seen := map[string]bool{}
		cursor, pages := "", 0
		for {
			page := decode[struct {
				Items      []Account
				NextCursor string `json:"next_cursor"`
			}](t, f.do("GET", "/api/v1/accounts?limit=3&cursor="+cursor, admin, nil))
			pages++
			for _, a := range page.Items {
				if seen[a.ID] {
					t.Fatalf("account %s on two pages", a.ID)
				}
				seen[a.ID] = true
			}
			if cursor = page.NextCursor; cursor == "" {
				break
			}
		}
		if len(seen) != 6 || pages != 2 {
			t.Fatalf("%d accounts on %d pages, want 6 on 2", len(seen), pages)
		}
		ctx := context.Background()
		for i := range 4 {
			if err := f.st.CreateOrder(ctx, &store.Order{ID: fmt.Sprintf("o%d", i), AccountID: pid, Status: "pending", Expires: f.now,
				AuthzIDs: []string{}, CreatedAt: f.now, UpdatedAt: f.now}, nil); err != nil {
				t.Fatal(err)
			}
		}
		var orderIDs []string
		cursor = ""
		for {
			page := decode[struct {
				Items      []Order
				NextCursor string `json:"next_cursor"`
			}](t, f.do("GET", "/api/v1/accounts/"+pid+"/orders?limit=2&cursor="+cursor, admin, nil))
			for _, o := range page.Items {
				orderIDs = append(orderIDs, o.ID)
			}
			if cursor = page.NextCursor; cursor == "" {
				break
			}
		}
		if strings.Join(orderIDs, ",") != "o0,o1,o2,o3,"+poid {
			t.Fatalf("orders %v", orderIDs)
		}
		if err := isProblem(f.do("GET", "/api/v1/accounts/"+pid+"/orders?cursor=!!", admin, nil), 422); err != nil {
			t.Errorf("bad cursor: %v", err)
		}
		var seqs []int64
		before := int64(0)
		for {
			page := decode[struct {
				Items      []AuditEvent
				NextBefore int64 `json:"next_before"`
			}](t, f.do("GET", fmt.Sprintf("/api/v1/audit/events?limit=2&before=%d", before), admin, nil))
			for _, e := range page.Items {
				seqs = append(seqs, e.Seq)
			}
			if before = page.NextBefore; before == 0 {
				break
			}
		}
		for i, s := range seqs {
			if s != int64(len(seqs)-i) {
				t.Fatalf("audit pages give seqs %v", seqs)
			}
		}
		// Certificates: show (by serial in any case with leading zeros, by
		// fingerprint), PEM, revoke (audited with the token as actor), conflicts.
		c := f.certificate()
		upper := strings.ToUpper("000" + c.Serial)
		for _, ref := range []string{upper, c.FingerprintSHA256} {
			if v := decode[inventory.Certificate](t, f.do("GET", "/api/v1/certificates/"+ref, admin, nil)); v.Serial != c.Serial || v.Status != "valid" || v.RevokedAt != nil {
				t.Errorf("certificate %s: %+v", ref, v)
			}
		}
		r = f.do("GET", "/api/v1/certificates/"+c.Serial+"/pem", f.tokens[auth.RoleAuditor], nil)
		if r.status != 200 || string(r.body) != c.ChainPEM || r.header.Get("Content-Type") != "application/pem-certificate-chain" {
			t.Errorf("PEM download: %d %q %q", r.status, r.header.Get("Content-Type"), r.body)
		}
		r = f.do("POST", "/api/v1/certificates/"+c.Serial+"/revoke", f.tokens[auth.RoleOperator], map[string]int{"reason": 1})
		if v := decode[inventory.Certificate](t, r); r.status != 200 || v.Status != "revoked" || v.RevocationReason != "keyCompromise" {
			t.Fatalf("revoke: %d %s", r.status, r.body)
		}
		// keyCompromise blocked the certificate's key (CA/B BR 6.1.1.3).
		if leaf, err := x509.ParseCertificate(c.DER); err != nil {
			t.Fatal(err)
		} else if h, err := store.KeyHash(leaf.PublicKey); err != nil {
			t.Fatal(err)
		} else if b, err := f.st.GetBlockedKey(context.Background(), h); err != nil || b.Serial != c.Serial {
			t.Errorf("blocked key after the revocation for keyCompromise: %+v, %v; want blocked by %s", b, err, c.Serial)
		}
		if err := isProblem(f.do("POST", "/api/v1/certificates/"+c.Serial+"/revoke", admin, map[string]int{"reason": 1}), 409); err != nil {
			t.Errorf("second revocation: %v", err)
		}
		if err := isProblem(f.do("POST", "/api/v1/certificates/"+f.certificate().Serial+"/revoke", admin, map[string]int{"reason": 2}), 422); err != nil {
			t.Errorf("reason 2: %v", err)
		}
		for _, p := range []string{"/api/v1/certificates/abc", "/api/v1/certificates/abc/pem"} {
			if err := isProblem(f.do("GET", p, admin, nil), 404); err != nil {
				t.Errorf("GET %s: %v", p, err)
			}
		}
		if err := isProblem(f.do("POST", "/api/v1/certificates/abc/revoke", admin, nil), 404); err != nil {
			t.Errorf("revoke unknown: %v", err)
		}
		revs := decode[struct{ Items []AuditEvent }](t, f.do("GET", "/api/v1/audit/events?action=certificate.revoke", admin, nil)).Items
		if len(revs) != 1 || revs[0].ObjectID != c.Serial || revs[0].Actor != f.actor(auth.RoleOperator) {
			t.Errorf("revocation events: %+v", revs)
		}

		// Search: status filter, name suffix, pages by cursor; reports.
		f.rsaBits, f.sigAlg = 1024, x509.SHA256WithRSA
		weak := f.certificate()
		f.rsaBits = 0
		var serials []string
		cursor = ""
		for {
			page := decode[inventory.Page](t, f.do("GET", "/api/v1/certificates?suffix=example.com&status=valid&limit=1&sort=serial&cursor="+cursor, admin, nil))
			for _, v := range page.Items {
				serials = append(serials, v.Serial)
			}
			if cursor = page.NextCursor; cursor == "" {
				break
			}
		}
		if len(serials) != 2 || !slices.IsSorted(serials) || !slices.Contains(serials, weak.Serial) || slices.Contains(serials, c.Serial) {
			t.Errorf("valid certificates by serial, one per page: %v (revoked %s)", serials, c.Serial)
		}
		if p := decode[inventory.Page](t, f.do("GET", "/api/v1/certificates?suffix=other.org", admin, nil)); len(p.Items) != 0 {
			t.Errorf("suffix other.org: %d certificates", len(p.Items))
		}
		if p := decode[inventory.Page](t, f.do("GET", "/api/v1/reports/weak-keys", admin, nil)); len(p.Items) != 1 || p.Items[0].Serial != weak.Serial {
			t.Errorf("weak keys: %+v", p.Items)
		}
		if p := decode[inventory.Page](t, f.do("GET", "/api/v1/reports/expiring?within=91d", admin, nil)); len(p.Items) != 2 {
			t.Errorf("expiring within 91d: %d certificates, want 2", len(p.Items))
		}
		if p := decode[inventory.Page](t, f.do("GET", "/api/v1/reports/expiring?within=89d", admin, nil)); len(p.Items) != 0 {
			t.Errorf("expiring within 89d: %d certificates, want 0", len(p.Items))
		}
		issued := decode[struct{ Items []inventory.Count }](t, f.do("GET", "/api/v1/reports/issued?by=issuer&since=1d", admin, nil)).Items
		if len(issued) != 1 || issued[0].Key != "local" || issued[0].Count != 3 {
			t.Errorf("issued by issuer: %+v", issued)
		}
		for _, p := range []string{"/api/v1/reports/expiring?within=soon", "/api/v1/certificates?expiring_within=x", "/api/v1/certificates?attr=novalue"} {
			if err := isProblem(f.do("GET", p, admin, nil), 422); err != nil {
				t.Errorf("GET %s: %v", p, err)
			}
		}
		if v := decode[struct{ OK bool }](t, f.do("GET", "/api/v1/audit/verify", admin, nil)); !v.OK {
			t.Fatal("audit log does not verify")
		}
	})
}

// TestInvalidInventoryRequestDetail: a malformed certificate-list cursor or
// attribute filter is a 422 problem whose detail says what is wrong without
// the inventory package's internal prefix.
func TestInvalidInventoryRequestDetail(t *testing.T) {
	f := newFixture(t, storetest.Engines()[0].Open(t))
	for path, want := range map[string]string{
		"/api/v1/certificates?cursor=not-a-cursor": "malformed cursor",
		"/api/v1/certificates?attr=noequals":       `attribute \"noequals\" is not key=value`,
		"/api/v1/reports/expiring?attr=noequals":   `attribute \"noequals\" is not key=value`,
		"/api/v1/reports/violations?attr=noequals": `attribute \"noequals\" is not key=value`,
		"/api/v1/reports/weak-keys?attr=noequals":  `attribute \"noequals\" is not key=value`,
	} {
		r := f.do("GET", path, f.tokens[auth.RoleAdmin], nil)
		if err := isProblem(r, 422); err != nil {
			t.Fatalf("%s: %v", path, err)
		}
		if body := string(r.body); strings.Contains(body, "inventory:") || !strings.Contains(body, want) {
			t.Errorf("%s: problem %s: want the detail %s without \"inventory:\"", path, body, want)
		}
	}
}

// TestRevokeKeyCompromiseNamesRevokedWith, on both engines: the answer to
// a keyCompromise revocation names the key's other certificates that it
// revoked (revoked_with), and those are revoked; it names the imported
// certificate of another CA with the key (other_cas), which stays valid
// (before, only the server log named it); another reason's answer has
// neither field.
func TestRevokeKeyCompromiseNamesRevokedWith(t *testing.T) {
	eachEngine(t, func(t *testing.T, f *fixture) {
		admin := f.tokens[auth.RoleAdmin]
		key, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
		first, second := f.certificateWithKey(key), f.certificateWithKey(key)
		foreign := f.importedWithKey(key)
		other := f.certificate()
		r := f.do("POST", "/api/v1/certificates/"+first.Serial+"/revoke", admin, map[string]int{"reason": 1})
		var got struct {
			Serial      string   `json:"serial"`
			Status      string   `json:"status"`
			RevokedWith []string `json:"revoked_with"`
			OtherCAs    []string `json:"other_cas"`
		}
		if err := json.Unmarshal(r.body, &got); r.status != 200 || err != nil || got.Serial != first.Serial || got.Status != "revoked" ||
			len(got.RevokedWith) != 1 || got.RevokedWith[0] != second.Serial || len(got.OtherCAs) != 1 || got.OtherCAs[0] != foreign.Serial {
			t.Fatalf("keyCompromise revocation: %d %s; want 200, %s revoked, revoked_with [%s], other_cas [%s]",
				r.status, r.body, first.Serial, second.Serial, foreign.Serial)
		}
		if c, err := f.st.GetCertificate(context.Background(), second.Serial); err != nil || c.Status != store.StatusRevoked {
			t.Errorf("the key's other certificate: %+v, %v; want revoked", c, err)
		}
		if c, err := f.st.GetCertificate(context.Background(), foreign.Serial); err != nil || c.Status != store.StatusValid {
			t.Errorf("another CA's certificate with the key: %+v, %v; want valid", c, err)
		}
		r = f.do("POST", "/api/v1/certificates/"+other.Serial+"/revoke", admin, map[string]int{"reason": 4})
		if r.status != 200 || strings.Contains(string(r.body), "revoked_with") || strings.Contains(string(r.body), "other_cas") {
			t.Errorf("superseded revocation: %d %s; want 200 without revoked_with and other_cas", r.status, r.body)
		}
	})
}

// TestApproveExpiredOrderConflict, on both engines: approving the
// approval of an order that expired, or of an account deactivated
// meanwhile, answers 409 (the approval would issue
// nothing, RFC 8555 §7.1.3) and records nothing: the approval stays
// pending, for the sweep's rejection, and no approval.approve event is
// logged. The former code answered 200 with the approval approved and
// audited, and no certificate came of it.
func TestApproveExpiredOrderConflict(t *testing.T) {
	eachEngine(t, func(t *testing.T, f *fixture) {
		admin := f.tokens[auth.RoleAdmin]
		id := f.approval()
		f.now = f.now.Add(time.Hour) // the order's expiry
		if r := f.do("POST", "/api/v1/approvals/"+id+"/approve", admin, map[string]any{}); isProblem(r, 409) != nil || !strings.Contains(string(r.body), "expired") {
			t.Errorf("approval of an expired order: %d %s; want a 409 problem saying it expired", r.status, r.body)
		}
		ap, err := f.st.GetApproval(context.Background(), id)
		if err != nil || ap.Status != store.ApprovalPending {
			t.Errorf("approval after the refused approve: %+v, %v; want pending", ap, err)
		}
		evs, err := f.st.ListAudit(context.Background(), store.AuditFilter{ObjectType: audit.ObjectApproval, ObjectID: id, Action: audit.ActionApprovalApprove})
		if err != nil || len(evs) != 0 {
			t.Errorf("approval.approve events of the refused approve: %d, %v; want none", len(evs), err)
		}

		// Likewise for an account deactivated meanwhile.
		id = f.approval()
		ap, err = f.st.GetApproval(context.Background(), id)
		if err != nil {
			t.Fatal(err)
		}
		acct, err := f.st.GetAccount(context.Background(), ap.AccountID)
		if err != nil {
			t.Fatal(err)
		}
		acct.Status = acme.StatusDeactivated
		if err := f.st.UpdateAccount(context.Background(), acct); err != nil {
			t.Fatal(err)
		}
		if r := f.do("POST", "/api/v1/approvals/"+id+"/approve", admin, map[string]any{}); isProblem(r, 409) != nil || !strings.Contains(string(r.body), "account") {
			t.Errorf("approval for a deactivated account: %d %s; want a 409 problem naming the account", r.status, r.body)
		}
		if ap, err := f.st.GetApproval(context.Background(), id); err != nil || ap.Status != store.ApprovalPending {
			t.Errorf("approval after the refused approve: %+v, %v; want pending", ap, err)
		}
	})
}

// TestRenamedFieldHint: a body field spelt as another field of the
// operation's body with other case or underscores — the camelCase names
// EAB keys had before this release, or snake_case for a profile's
// camelCase fields — is refused (422) with a message naming the field to
// use; an unknown field like no other keeps huma's message. It said only
// "unexpected property".
func TestRenamedFieldHint(t *testing.T) {
	f := newFixture(t, storetest.Engines()[0].Open(t))
	admin := f.tokens[auth.RoleAdmin]
	for _, c := range []struct {
		path string
		body any
		want string
	}{
		{"/api/v1/eab-keys", map[string]any{"profile": "default", "singleUse": true}, `unexpected property; the field is \"single_use\"`},
		{"/api/v1/profiles", map[string]any{"name": "p", "max_validity": "30d"}, `unexpected property; the field is \"maxValidity\"`},
		{"/api/v1/eab-keys", map[string]any{"profile": "default", "colour": "red"}, `"message":"unexpected property","location":"body.colour"`},
	} {
		r := f.do("POST", c.path, admin, c.body)
		if err := isProblem(r, 422); err != nil {
			t.Fatalf("POST %s %v: %v", c.path, c.body, err)
		}
		if !strings.Contains(string(r.body), c.want) {
			t.Errorf("POST %s %v: %s; want %s", c.path, c.body, r.body, c.want)
		}
	}
}
