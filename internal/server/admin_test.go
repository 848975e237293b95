package server_test

import (
	"context"
	"crypto/x509"
	"encoding/json"
	"net/http"
	"strings"
	"testing"

	"github.com/certgate/certgate/internal/audit"
	"github.com/certgate/certgate/internal/auth"
	"github.com/certgate/certgate/internal/store"
	"github.com/certgate/certgate/internal/testenv"
	"golang.org/x/crypto/acme"
)

// issue registers an account and issues a certificate for name over
// http-01 with x/crypto/acme; it returns the client, account and leaf DER.
func issue(t *testing.T, env *testenv.Env, name string) (*acme.Client, *acme.Account, []byte) {
	t.Helper()
	c, acct, chain := env.IssueHTTP01(t, name)
	return c, acct, chain[0]
}

// TestAdminAPIOnHTTPSAndAuditedIssuance: the admin API answers on the
// server's HTTPS listener beside ACME; an ACME issuance and revocation are
// each recorded in the audit log in the same transaction, with the ACME
// account as actor and the client's address as source, and the chain
// verifies (also through the API).
func TestAdminAPIOnHTTPSAndAuditedIssuance(t *testing.T) {
	env := testenv.New(t)
	client, acct, leafDER := issue(t, env, "audited.example.test")
	leaf, _ := x509.ParseCertificate(leafDER)
	serial := leaf.SerialNumber.Text(16)
	accountID := acct.URI[strings.LastIndex(acct.URI, "/")+1:]

	st := env.Server.Store()
	ctx := context.Background()
	log := audit.New(st, nil)
	tok, _, err := auth.NewTokens(st, log, nil).Create(ctx, auth.CreateRequest{Name: "it", Role: auth.RoleAuditor, Actor: "cli:test"})
	if err != nil {
		t.Fatal(err)
	}
	get := func(path, token string, v any) int {
		t.Helper()
		req, _ := http.NewRequest("GET", env.BaseURL+path, nil)
		if token != "" {
			req.Header.Set("Authorization", "Bearer "+token)
		}
		resp, err := env.HTTPClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		if v != nil {
			if err := json.NewDecoder(resp.Body).Decode(v); err != nil {
				t.Fatal(err)
			}
		}
		return resp.StatusCode
	}
	var doc map[string]any
	if st := get("/api/v1/openapi.json", "", &doc); st != 200 || doc["openapi"] != "3.1.0" {
		t.Fatalf("openapi.json over HTTPS: %d %v", st, doc["openapi"])
	}
	if st := get("/api/v1/accounts", "", nil); st != 401 {
		t.Fatalf("accounts without a token: %d", st)
	}
	var accts struct {
		Items []struct{ ID string } `json:"items"`
	}
	if st := get("/api/v1/accounts", tok, &accts); st != 200 || len(accts.Items) != 1 || accts.Items[0].ID != accountID {
		t.Fatalf("accounts: %d %+v", st, accts)
	}

	// Revoke over ACME (RFC 8555 §7.6), signed by the account.
	if err := client.RevokeCert(ctx, nil, leafDER, acme.CRLReasonKeyCompromise); err != nil {
		t.Fatal(err)
	}
	// Those of the ACME certificate (the server's listener certificate has
	// its certificate.issue event too).
	evs, err := st.ListAudit(ctx, store.AuditFilter{ObjectType: audit.ObjectCertificate, ObjectID: serial})
	if err != nil {
		t.Fatal(err)
	}
	if len(evs) != 2 {
		t.Fatalf("%d certificate events after issuance and revocation, want 2", len(evs))
	}
	e := evs[0]
	if e.Action != audit.ActionCertificateIssue || e.ObjectID != serial || e.Actor != "acme-account:"+accountID ||
		!strings.HasPrefix(e.Source, "127.0.0.1:") || !strings.Contains(e.After, `"audited.example.test"`) {
		t.Fatalf("issuance event: %+v", e)
	}
	r := evs[1]
	if r.Action != audit.ActionCertificateRevoke || r.ObjectID != serial || r.Actor != "acme-account:"+accountID ||
		!strings.Contains(r.Before, `"status":"valid"`) || !strings.Contains(r.After, `"status":"revoked"`) ||
		!strings.Contains(r.After, `"revocation_reason":1`) {
		t.Fatalf("revocation event: %+v", r)
	}
	// The account deactivates itself (RFC 8555 §7.3.6).
	if err := client.DeactivateReg(ctx); err != nil {
		t.Fatal(err)
	}
	evs, err = st.ListAudit(ctx, store.AuditFilter{ObjectType: audit.ObjectAccount})
	if err != nil || len(evs) != 2 || evs[0].Action != audit.ActionAccountCreate || evs[0].ObjectID != accountID ||
		evs[1].Action != audit.ActionAccountDeactivate || evs[1].Actor != "acme-account:"+accountID ||
		!strings.Contains(evs[1].After, `"status":"deactivated"`) || !strings.HasPrefix(evs[1].Source, "127.0.0.1:") {
		t.Fatalf("account events (creation, deactivation): %v %+v", err, evs)
	}
	var res audit.VerifyResult
	// 5 and the listener certificate's certificate.issue.
	if st := get("/api/v1/audit/verify", tok, &res); st != 200 || !res.OK || res.Events != 6 {
		t.Fatalf("verify over the API: %d %+v", st, res)
	}
}
