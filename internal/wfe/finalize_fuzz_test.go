package wfe_test

// Fuzz target for the CSRs ACME clients finalize orders with (RFC 8555
// §7.4), through the front end of FuzzJWS's harness: the finalize payload
// is decoded, the CSR checked by the RA, and what passes signed by the
// built-in CA. Findings are kept in testdata/fuzz/FuzzFinalize/ and
// replayed by plain `go test`.
//
//	go test -run '^$' -fuzz '^FuzzFinalize$' -fuzztime 3m -parallel 1 ./internal/wfe/

import (
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/base64"
	"encoding/json"
	"net"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/certgate/certgate/internal/acme"
	"github.com/certgate/certgate/internal/certlint"
)

// fuzzFinalizeProblems are the problems a finalize of a ready order may be
// refused with (RFC 8555 §7.4: badCSR, and the checks of the CSR's names
// and key).
var fuzzFinalizeProblems = map[acme.ProblemType]bool{
	acme.Malformed: true, acme.BadCSR: true, acme.RejectedIdentifier: true, acme.BadPublicKey: true,
}

// readyOrder creates an order for the identifiers of lines (one a line,
// an IP address or a DNS name) with newOrder, as a client would, and
// validates its authorizations as the validation authority would (the
// first challenge of each passes). It returns the order's ID and
// identifiers, or "" when newOrder refuses the order.
func (f *fuzzJWSEnv) readyOrder(t testing.TB, lines string) (string, []acme.Identifier) {
	ctx := context.Background()
	var req acme.NewOrderRequest
	for n := range strings.SplitSeq(lines, "\n") {
		id := acme.Identifier{Type: acme.IdentifierDNS, Value: n}
		if net.ParseIP(n) != nil {
			id.Type = acme.IdentifierIP
		}
		req.Identifiers = append(req.Identifiers, id)
	}
	payload, err := json.Marshal(req)
	if err != nil {
		t.Fatal(err)
	}
	const path = "/acme/new-order"
	rec := f.serve(f.build(t, `{"alg":"ES256","kid":"$KID","nonce":"$NONCE","url":"$URL"}`, benchBase+path, payload,
		`{"protected":"$P","payload":"$L","signature":"$S"}`, 0, 0), path)
	if rec.Code != http.StatusCreated {
		return "", nil
	}
	var o acme.Order
	if err := json.Unmarshal(rec.Body.Bytes(), &o); err != nil {
		t.Fatal(err)
	}
	now := time.Now().UTC()
	for _, u := range o.Authorizations {
		az, err := f.st.GetAuthorization(ctx, u[strings.LastIndex(u, "/")+1:])
		if err != nil {
			t.Fatal(err)
		}
		if az.Status == acme.StatusValid {
			continue // reused
		}
		c := &az.Challenges[0]
		if err := f.st.StartChallenge(ctx, c.ID, now); err != nil {
			t.Fatal(err)
		}
		c.Status = acme.StatusProcessing
		if err := f.st.FinishChallenge(ctx, c, nil, now, now.Add(time.Hour)); err != nil {
			t.Fatal(err)
		}
	}
	loc := rec.Header().Get("Location")
	return loc[strings.LastIndex(loc, "/")+1:], o.Identifiers
}

// fuzzCSRKeys are the keys FuzzFinalize's built CSRs are signed with, by
// the input's key number: P-256, P-384, P-521, RSA 2048 (the harness's
// RSA key, which no account has), Ed25519, RSA 1024 (too small), and the
// account key (refused: RFC 8555 §11.1).
func (f *fuzzJWSEnv) fuzzCSRKeys(t testing.TB) []crypto.Signer {
	var out []crypto.Signer
	for _, c := range []elliptic.Curve{elliptic.P256(), elliptic.P384(), elliptic.P521()} {
		k, err := ecdsa.GenerateKey(c, rand.Reader)
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, k)
	}
	small, err := rsa.GenerateKey(rand.Reader, 1024)
	if err != nil {
		t.Fatal(err)
	}
	_, ed, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	return append(out, f.rsaKey, ed, small, f.key)
}

// fuzzCSR is a CSR signed by key, with subject CN cn (none when empty) and
// the names of lines, one a line: an IP address, "email:" or "uri:" and a
// value for those SAN types, else a DNS name. It is nil when x509 cannot
// build it.
func fuzzCSR(key crypto.Signer, cn, lines string) []byte {
	tmpl := &x509.CertificateRequest{Subject: pkix.Name{CommonName: cn}}
	for n := range strings.SplitSeq(lines, "\n") {
		switch {
		case n == "":
		case strings.HasPrefix(n, "email:"):
			tmpl.EmailAddresses = append(tmpl.EmailAddresses, n[6:])
		case strings.HasPrefix(n, "uri:"):
			if u, err := url.Parse(n[4:]); err == nil {
				tmpl.URIs = append(tmpl.URIs, u)
			}
		case net.ParseIP(n) != nil:
			tmpl.IPAddresses = append(tmpl.IPAddresses, net.ParseIP(n))
		default:
			tmpl.DNSNames = append(tmpl.DNSNames, n)
		}
	}
	der, err := x509.CreateCertificateRequest(rand.Reader, tmpl, key)
	if err != nil {
		return nil
	}
	return der
}

// FuzzFinalize finalizes a fresh ready order for the fuzzed identifiers
// (order, one a line; newOrder must accept them) with a fuzzed payload in which $CSR stands for the base64url of a CSR: the
// fuzzed DER when raw is set, else one built from the fuzzed CN and names
// with key number key of fuzzCSRKeys. Never a panic or 5xx; a refusal is
// a 4xx problem of fuzzFinalizeProblems; an accepted finalize leaves the
// order valid with a certificate for exactly the order's identifiers
// that passes zlint (certlint.Check).
//
// The certificate's names are compared with the order's identifiers as
// newOrder returned them (normalised) and as x509 reads them back.
func FuzzFinalize(f *testing.F) {
	const all = "a.fuzz.test\n*.b.fuzz.test\n192.0.2.7"
	for _, s := range []struct {
		raw     bool
		der     []byte
		cn      string
		names   string
		key     uint8
		payload string
		order   string
	}{
		{false, nil, "", all, 0, `{"csr":"$CSR"}`, all},
		{false, nil, "a.fuzz.test", all, 1, `{"csr":"$CSR"}`, all},
		{false, nil, "*.b.fuzz.test", all, 2, `{"csr":"$CSR"}`, all},
		{false, nil, "192.0.2.7", all, 3, `{"csr":"$CSR"}`, all},
		{false, nil, "", all, 4, `{"csr":"$CSR"}`, all},
		{false, nil, "", all, 5, `{"csr":"$CSR"}`, all},
		{false, nil, "", all, 6, `{"csr":"$CSR"}`, all},
		{false, nil, "", "A.FUZZ.TEST\n*.b.fuzz.test\n192.0.2.7", 0, `{"csr":"$CSR"}`, all},
		{false, nil, "", "a.fuzz.test.\n*.b.fuzz.test\n192.0.2.7", 0, `{"csr":"$CSR"}`, all},
		{false, nil, "", "a.fuzz.test\n*.b.fuzz.test\n::ffff:192.0.2.7", 0, `{"csr":"$CSR"}`, all},
		{false, nil, "", "a.fuzz.test\n*.b.fuzz.test", 0, `{"csr":"$CSR"}`, all},
		{false, nil, "", all + "\nc.fuzz.test", 0, `{"csr":"$CSR"}`, all},
		{false, nil, "", all + "\nemail:a@fuzz.test", 0, `{"csr":"$CSR"}`, all},
		{false, nil, "", all + "\nuri:https://fuzz.test/", 0, `{"csr":"$CSR"}`, all},
		{false, nil, "c.fuzz.test", all, 0, `{"csr":"$CSR"}`, all},
		{false, nil, strings.Repeat("a", 64) + ".fuzz.test", all, 0, `{"csr":"$CSR"}`, all},
		{false, nil, "", all + "\n" + all, 0, `{"csr":"$CSR"}`, all},
		{false, nil, "", all, 0, `{"csr":"$CSR","notAfter":"2030-01-01T00:00:00Z"}`, all},
		{false, nil, "", all, 0, `{"csr":"$CSR="}`, all},
		{false, nil, "", all, 0, `{"csr":"$CSR","csr":"AA"}`, all},
		{false, nil, "", all, 0, `{"CSR":"$CSR"}`, all},
		{false, nil, "", all, 0, `{"csr":["$CSR"]}`, all},
		{false, nil, "", all, 0, `{}`, all},
		{false, nil, "", all, 0, ``, all},
		{true, []byte{0x30, 0x03, 0x02, 0x01, 0x01}, "", "", 0, `{"csr":"$CSR"}`, all},
		{true, nil, "", "", 0, `{"csr":"$CSR"}`, all},
		{false, nil, "", "xn--bcher-kva.fuzz.test", 0, `{"csr":"$CSR"}`, "xn--bcher-kva.fuzz.test"},
		{false, nil, "", "bücher.fuzz.test", 0, `{"csr":"$CSR"}`, "xn--bcher-kva.fuzz.test"},
		{false, nil, "", "::1", 0, `{"csr":"$CSR"}`, "::1"},
		{false, nil, "", "0:0::1", 0, `{"csr":"$CSR"}`, "::1"},
		{false, nil, "", "*.fuzz.test\nfuzz.test", 0, `{"csr":"$CSR"}`, "fuzz.test\n*.fuzz.test"},
		{false, nil, "", "a-.fuzz.test", 0, `{"csr":"$CSR"}`, "a-.fuzz.test"},
		{false, nil, strings.Repeat("b", 63) + ".fuzz.test", strings.Repeat("b", 63) + ".fuzz.test", 0, `{"csr":"$CSR"}`, strings.Repeat("b", 63) + ".fuzz.test"},
		{false, nil, "", "10.0.0.1\nfd00::1", 1, `{"csr":"$CSR"}`, "fd00::1\n10.0.0.1"},
		{false, nil, "A.FUZZ.TEST", all, 0, `{"csr":"$CSR"}`, all},
		{false, nil, "a.fuzz.test.", all, 0, `{"csr":"$CSR"}`, all},
		{false, nil, "::ffff:192.0.2.7", all, 0, `{"csr":"$CSR"}`, all},
		{false, nil, "0:0::1", "::1", 0, `{"csr":"$CSR"}`, "::1"},
		{false, nil, "FD00:0::1", "fd00::1", 0, `{"csr":"$CSR"}`, "fd00::1"},
		{false, nil, "*.B.fuzz.test", all, 0, `{"csr":"$CSR"}`, all},
	} {
		f.Add(s.raw, s.der, s.cn, s.names, s.key, s.payload, s.order)
	}
	e := newFuzzJWSEnv(f)
	keys := e.fuzzCSRKeys(f)
	const kidHdr = `{"alg":"ES256","kid":"$KID","nonce":"$NONCE","url":"$URL"}`
	f.Fuzz(func(t *testing.T, raw bool, der []byte, cn, names string, key uint8, payload, order string) {
		if !raw {
			if der = fuzzCSR(keys[int(key)%len(keys)], cn, names); der == nil {
				return
			}
		}
		id, ids := e.readyOrder(t, order)
		if id == "" {
			return
		}
		path := "/acme/order/" + id + "/finalize"
		body := strings.ReplaceAll(payload, "$CSR", base64.RawURLEncoding.EncodeToString(der))
		req := e.build(t, kidHdr, benchBase+path, []byte(body), `{"protected":"$P","payload":"$L","signature":"$S"}`, 0, 0)
		rec := e.serve(req, path)
		checkReplayNonce(t, rec, req)
		if rec.Code >= 300 {
			var p acme.Problem
			if rec.Header().Get("Content-Type") != "application/problem+json" || json.Unmarshal(rec.Body.Bytes(), &p) != nil {
				t.Fatalf("status %d without a problem document: %q\npayload: %s", rec.Code, rec.Body, body)
			}
			if rec.Code >= 500 || !fuzzFinalizeProblems[p.Type] {
				t.Fatalf("finalize refused with %d %s (%s), want a 4xx badCSR, rejectedIdentifier, badPublicKey or malformed\npayload: %s", rec.Code, p.Type, p.Detail, body)
			}
			return
		}
		if rec.Code != http.StatusOK {
			t.Fatalf("finalize: %d %s", rec.Code, rec.Body)
		}
		var ord acme.Order
		if err := json.Unmarshal(rec.Body.Bytes(), &ord); err != nil || ord.Status != acme.StatusValid || ord.Certificate == "" {
			t.Fatalf("finalize accepted: %s (%v), want a valid order with a certificate", rec.Body, err)
		}
		o, err := e.st.GetOrder(context.Background(), id)
		if err != nil {
			t.Fatal(err)
		}
		c, err := e.st.GetCertificate(context.Background(), o.CertSerial)
		if err != nil {
			t.Fatal(err)
		}
		if err := certlint.Check(c.DER); err != nil {
			t.Fatalf("issued a certificate that fails zlint: %v\nCSR: %x", err, der)
		}
		cert, err := x509.ParseCertificate(c.DER)
		if err != nil {
			t.Fatal(err)
		}
		got := slices.Clone(cert.DNSNames)
		for _, ip := range cert.IPAddresses {
			got = append(got, ip.String())
		}
		var want []string
		for _, id := range ids {
			want = append(want, id.Value)
		}
		slices.Sort(got)
		slices.Sort(want)
		if !slices.Equal(got, want) || len(cert.EmailAddresses)+len(cert.URIs) > 0 {
			t.Fatalf("certificate for %v %v %v, want %v\nCSR: %x", got, cert.EmailAddresses, cert.URIs, want, der)
		}
	})
}
