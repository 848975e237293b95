package main

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"crypto/x509"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"encoding/pem"
	"fmt"
	"math/big"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/certgate/certgate/internal/acme"
	"github.com/certgate/certgate/internal/issuer/local"
	"github.com/certgate/certgate/internal/store"
	"github.com/certgate/certgate/internal/testenv"
)

// issueDirect signs a 90-day leaf with the server's CA and records it as
// the built-in issuer's, as finalize would.
func issueDirect(t *testing.T, env *testenv.Env) *x509.Certificate {
	t.Helper()
	return issueDirectProfile(t, env, "")
}

// issueDirectProfile is issueDirect for a certificate of the named profile
// ("" for the default).
func issueDirectProfile(t *testing.T, env *testenv.Env, profile string) *x509.Certificate {
	t.Helper()
	ctx := context.Background()
	st := env.Server.Store()
	if _, err := st.GetAccount(ctx, "acct"); err != nil {
		if err := st.CreateAccount(ctx, &store.Account{ID: "acct", KeyThumbprint: "tp", JWK: []byte("{}"), Status: acme.StatusValid, CreatedAt: time.Now()}); err != nil {
			t.Fatal(err)
		}
	}
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	serial, err := local.RandomSerial()
	if err != nil {
		t.Fatal(err)
	}
	now := time.Now().UTC().Truncate(time.Second)
	der, err := env.Server.CA().SignLeaf(ctx, local.LeafRequest{Serial: serial, PublicKey: key.Public(), DNSNames: []string{"ari.example.test"},
		NotBefore: now.Add(-time.Minute), NotAfter: now.Add(90*24*time.Hour - time.Minute)})
	if err != nil {
		t.Fatal(err)
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatal(err)
	}
	id := serial.Text(16)
	fp := sha256.Sum256(der)
	az := &store.Authorization{ID: "az" + id, AccountID: "acct", Identifier: acme.Identifier{Type: acme.IdentifierDNS, Value: "ari.example.test"},
		Status: acme.StatusValid, Expires: now.Add(time.Hour), CreatedAt: now}
	o := &store.Order{ID: "o" + id, AccountID: "acct", Status: acme.StatusValid, Expires: now.Add(time.Hour), Identifiers: []acme.Identifier{az.Identifier},
		AuthzIDs: []string{az.ID}, CertSerial: id, CreatedAt: now, UpdatedAt: now}
	c := &store.Certificate{Serial: id, Issuer: "local", OrderID: o.ID, AccountID: "acct", DER: der, ChainPEM: string(env.Server.CA().ChainPEM(der)),
		SANs: []string{"ari.example.test"}, KeyType: "ECDSA P-256", FingerprintSHA256: hex.EncodeToString(fp[:]),
		NotBefore: cert.NotBefore, NotAfter: cert.NotAfter, Status: acme.StatusValid, CreatedAt: now, Profile: profile}
	if err := st.InsertIssued(ctx, []store.IssuedRecord{{Order: o, Authz: az, Cert: c}}); err != nil {
		t.Fatal(err)
	}
	return cert
}

// renewalWindow GETs the certificate's renewalInfo (RFC 9773 §4.2) from
// the running server.
func renewalWindow(t *testing.T, env *testenv.Env, cert *x509.Certificate) acme.TimeWindow {
	t.Helper()
	ser := cert.SerialNumber.Bytes()
	if ser[0]&0x80 != 0 {
		ser = append([]byte{0}, ser...)
	}
	u := env.BaseURL + "/acme/renewal-info/" + base64.RawURLEncoding.EncodeToString(cert.AuthorityKeyId) + "." + base64.RawURLEncoding.EncodeToString(ser)
	res, err := env.HTTPClient.Get(u)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	var info acme.RenewalInfo
	if res.StatusCode != http.StatusOK || json.NewDecoder(res.Body).Decode(&info) != nil {
		t.Fatalf("GET %s: %s", u, res.Status)
	}
	return info.SuggestedWindow
}

func near(a, b time.Time) bool { return a.Sub(b).Abs() <= 5*time.Second }

func TestCertSuggestRenewal(t *testing.T) {
	env := testenv.New(t)
	cert := issueDirect(t, env)
	data := env.Config.Data
	serial := cert.SerialNumber.Text(16)

	def := renewalWindow(t, env, cert)
	life := cert.NotAfter.Sub(cert.NotBefore)
	if !near(def.Start, cert.NotBefore.Add(life*2/3)) {
		t.Fatalf("default window starts %v, want two thirds into the lifetime", def.Start)
	}

	// 24h from now, given as the serial in colon form: the window now
	// runs from now to 24h from now.
	colons := strings.ToUpper(fmt.Sprintf("% x", cert.SerialNumber.Bytes()))
	colons = strings.ReplaceAll(colons, " ", ":")
	out, _, err := runCLI(t, nil, "cert", "suggest-renewal", colons, "--before", "24h", "--data", data)
	if err != nil {
		t.Fatalf("suggest-renewal: %v", err)
	}
	if !strings.HasPrefix(out, "certificate "+serial+": renewal window ") || strings.Count(out, "\n") != 1 {
		t.Fatalf("output %q", out)
	}
	now := time.Now()
	w := renewalWindow(t, env, cert)
	if !near(w.Start, now) || !near(w.End, now.Add(24*time.Hour)) {
		t.Fatalf("after --before 24h: window %v .. %v, want now (%v) .. +24h", w.Start, w.End, now)
	}

	// Not earlier than the current end: refused, window unchanged.
	_, _, err = runCLI(t, nil, "cert", "suggest-renewal", serial, "--before", "48h", "--data", data)
	if err == nil || !strings.Contains(err.Error(), "would not move it earlier") || strings.Contains(err.Error(), "\n") {
		t.Fatalf("--before 48h after 24h: err = %v, want one line refusing", err)
	}
	if got := renewalWindow(t, env, cert); got != w {
		t.Fatalf("a refused call changed the window to %v", got)
	}

	// An RFC 3339 time in the past (after the certificate's notBefore, a
	// minute ago): renew at once (window wholly past).
	past := time.Now().Add(-30 * time.Second).UTC().Truncate(time.Second)
	if _, _, err := runCLI(t, nil, "cert", "suggest-renewal", serial, "--before", past.Format(time.RFC3339), "--data", data); err != nil {
		t.Fatal(err)
	}
	w = renewalWindow(t, env, cert)
	if !w.End.Equal(past) || !w.Start.Equal(past.Add(-time.Hour)) {
		t.Fatalf("after --before %v: window %v .. %v", past, w.Start, w.End)
	}

	for _, tt := range []struct {
		name string
		args []string
		want string
	}{
		{"not hex", []string{"xyz", "--before", "24h"}, "is not a hexadecimal certificate serial"},
		{"zero", []string{"00", "--before", "24h"}, "is not a hexadecimal certificate serial"},
		{"unknown serial", []string{"abc123", "--before", "24h"}, `there is no certificate with serial "abc123" (see 'certgate cert list')`},
		{"bad time", []string{serial, "--before", "tomorrow"}, "is not an RFC 3339 time (" + time.Now().Add(7*24*time.Hour).UTC().Truncate(24*time.Hour).Format(time.RFC3339) + "), a duration from now (24h, 7d) or now"},
		{"no --before", []string{serial}, `required flag(s) "before" not set`},
		{"two serials", []string{serial, serial, "--before", "1h"}, "accepts 1 arg(s)"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			_, _, err := runCLI(t, nil, append(append([]string{"cert", "suggest-renewal"}, tt.args...), "--data", data)...)
			if err == nil || !strings.Contains(err.Error(), tt.want) || strings.Contains(err.Error(), "\n") {
				t.Fatalf("err = %v, want one line containing %q", err, tt.want)
			}
		})
	}
}

// TestCertSuggestRenewalRevoked: a revoked certificate already asks for
// renewal at once; the command says so and fails.
func TestCertSuggestRenewalRevoked(t *testing.T) {
	env := testenv.New(t)
	cert := issueDirect(t, env)
	serial := cert.SerialNumber.Text(16)
	if err := env.Server.Store().RevokeCertificate(context.Background(), serial, 0, time.Now()); err != nil {
		t.Fatal(err)
	}
	_, _, err := runCLI(t, nil, "cert", "suggest-renewal", serial, "--before", "1h", "--data", env.Config.Data)
	if err == nil || !strings.Contains(err.Error(), "is revoked") {
		t.Fatalf("err = %v", err)
	}
}

// TestCertSuggestRenewalImported: renewalInfo answers only for certificates
// this server issued, so a window for an imported one would reach no
// client; the command refuses it and stores nothing.
func TestCertSuggestRenewalImported(t *testing.T) {
	env := testenv.New(t)
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	now := time.Now()
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(0x5eed), DNSNames: []string{"imported.example.test"},
		NotBefore: now.Add(-time.Hour), NotAfter: now.Add(30 * 24 * time.Hour)}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	file := filepath.Join(t.TempDir(), "foreign.pem")
	if err := os.WriteFile(file, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, _, err := runCLI(t, nil, "cert", "import", file, "--data", env.Config.Data); err != nil {
		t.Fatal(err)
	}
	_, _, err = runCLI(t, nil, "cert", "suggest-renewal", "5eed", "--before", "1h", "--data", env.Config.Data)
	if err == nil || !strings.Contains(err.Error(), "not issued by this server") {
		t.Fatalf("err = %v, want a refusal naming the certificate as not issued by this server", err)
	}
	start, end, err := env.Server.Store().RenewalWindow(context.Background(), "5eed")
	if err != nil || !start.IsZero() || !end.IsZero() {
		t.Fatalf("stored window %v .. %v (%v), want none", start, end, err)
	}
}

// TestCertSuggestRenewalAudited: moving a certificate's renewal window is
// an administrator's change and is recorded in the audit log (one
// certificate.suggest_renewal event naming the serial, with the stored
// window before — none — and the new one after), and the chain verifies.
func TestCertSuggestRenewalAudited(t *testing.T) {
	env := testenv.New(t)
	cert := issueDirect(t, env)
	serial := cert.SerialNumber.Text(16)
	if _, _, err := runCLI(t, nil, "cert", "suggest-renewal", serial, "--before", "24h", "--data", env.Config.Data); err != nil {
		t.Fatal(err)
	}
	w := renewalWindow(t, env, cert)
	evs, err := env.Server.Store().ListAudit(context.Background(), store.AuditFilter{Action: "certificate.suggest_renewal", Limit: 10})
	if err != nil {
		t.Fatal(err)
	}
	if len(evs) != 1 {
		t.Fatalf("%d certificate.suggest_renewal events, want 1", len(evs))
	}
	ev := evs[0]
	if ev.ObjectType != "certificate" || ev.ObjectID != serial || !strings.HasPrefix(ev.Actor, "cli:") {
		t.Fatalf("event %+v", ev)
	}
	var before, after map[string]any
	if err := json.Unmarshal([]byte(ev.Before), &before); err != nil {
		t.Fatalf("before %q: %v", ev.Before, err)
	}
	if err := json.Unmarshal([]byte(ev.After), &after); err != nil {
		t.Fatalf("after %q: %v", ev.After, err)
	}
	if _, ok := before["renewal_window"]; !ok || before["renewal_window"] != nil {
		t.Fatalf("before = %s, want renewal_window null (none stored)", ev.Before)
	}
	aw, _ := after["renewal_window"].(map[string]any)
	if aw["start"] != w.Start.UTC().Format(time.RFC3339Nano) || aw["end"] != w.End.UTC().Format(time.RFC3339Nano) {
		t.Fatalf("after = %s, want the stored window %v .. %v", ev.After, w.Start, w.End)
	}
	out, _, err := runCLI(t, nil, "audit", "verify", "--data", env.Config.Data)
	if err != nil || !strings.Contains(out, "intact") {
		t.Fatalf("audit verify: %q %v", out, err)
	}
}

// TestCertSuggestRenewalBeforeNotBefore: a --before earlier than the
// certificate's notBefore would store a renewal window that ends before
// the certificate was valid; it is refused on one line and the window
// stays as it was.
func TestCertSuggestRenewalBeforeNotBefore(t *testing.T) {
	env := testenv.New(t)
	cert := issueDirect(t, env)
	serial := cert.SerialNumber.Text(16)
	def := renewalWindow(t, env, cert)
	_, _, err := runCLI(t, nil, "cert", "suggest-renewal", serial, "--before", "2020-01-01T00:00:00Z", "--data", env.Config.Data)
	if err == nil || !strings.Contains(err.Error(), "notBefore "+cert.NotBefore.UTC().Format(time.RFC3339)) || strings.Contains(err.Error(), "\n") {
		t.Fatalf("err = %v, want one line naming the certificate's notBefore", err)
	}
	if got := renewalWindow(t, env, cert); got != def {
		t.Fatalf("a refused call changed the window from %v to %v", def, got)
	}
}

// TestCertSuggestRenewalBeforeNow: `--before now` asks for renewal at
// once, the window ending when the command runs (docs/pki.md: "now" is
// always accepted). It was refused as neither a time nor a duration, so
// the way to say "at once" was `--before 0s`.
func TestCertSuggestRenewalBeforeNow(t *testing.T) {
	env := testenv.New(t)
	cert := issueDirect(t, env)
	before := time.Now()
	if _, _, err := runCLI(t, nil, "cert", "suggest-renewal", cert.SerialNumber.Text(16), "--before", "now", "--data", env.Config.Data); err != nil {
		t.Fatalf("--before now: %v", err)
	}
	w := renewalWindow(t, env, cert)
	if w.End.Before(before.Truncate(time.Second)) || w.End.After(time.Now()) || w.Start.After(w.End) {
		t.Fatalf("after --before now: window %v .. %v, want one ending between %v and now", w.Start, w.End, before)
	}
}
