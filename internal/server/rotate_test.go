package server_test

import (
	"bytes"
	"context"
	"crypto"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"io"
	"net/http"
	"net/url"
	"testing"
	"time"

	"golang.org/x/crypto/acme"
	"golang.org/x/crypto/ocsp"

	"github.com/certgate/certgate/internal/audit"
	"github.com/certgate/certgate/internal/issuer/local"
	"github.com/certgate/certgate/internal/ra"
	"github.com/certgate/certgate/internal/server"
	"github.com/certgate/certgate/internal/store"
	"github.com/certgate/certgate/internal/testenv"
)

// pkiGet fetches the plain-HTTP URL u (a URL a certificate names) and
// returns its body; anything but 200 ends the test.
func pkiGet(t *testing.T, u string) []byte {
	t.Helper()
	res, err := http.Get(u)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	b, err := io.ReadAll(res.Body)
	if err != nil {
		t.Fatal(err)
	}
	if res.StatusCode != http.StatusOK {
		t.Fatalf("GET %s: %d %s", u, res.StatusCode, b)
	}
	return b
}

// onServer returns u, a URL a certificate names (http://localhost:PORT of
// the server that issued it), on env's listener: the port of each start
// differs.
func onServer(t *testing.T, env *testenv.Env, u string) string {
	t.Helper()
	p, err := url.Parse(u)
	if err != nil {
		t.Fatal(err)
	}
	return "http://" + env.Server.Addr().String() + p.Path
}

// ocspAsk POSTs an OCSP request about leaf, naming inter as its issuer, to
// env's responder and returns the raw response.
func ocspAsk(t *testing.T, env *testenv.Env, leaf, inter *x509.Certificate) []byte {
	t.Helper()
	req, err := ocsp.CreateRequest(leaf, inter, &ocsp.RequestOptions{Hash: crypto.SHA256})
	if err != nil {
		t.Fatal(err)
	}
	res, err := http.Post("http://"+env.Server.Addr().String()+"/pki/ocsp", "application/ocsp-request", bytes.NewReader(req))
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	b, err := io.ReadAll(res.Body)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// verifies reports whether leaf verifies to root through inter.
func verifies(leaf, inter, root *x509.Certificate) error {
	roots, inters := x509.NewCertPool(), x509.NewCertPool()
	roots.AddCert(root)
	inters.AddCert(inter)
	_, err := leaf.Verify(x509.VerifyOptions{Roots: roots, Intermediates: inters})
	return err
}

// TestRotateIntermediateEndToEnd: a certificate issued, the intermediate
// rotated (local.Rotate, what `certgate ca rotate` runs), a certificate
// issued again: the second is signed by the new intermediate, whose
// certificates name it by its ID (/pki/ca/ID/...), and both verify to the
// root through the intermediate their AIA caIssuers serves. The first
// one's OCSP and CRL are still answered by the old intermediate, at the
// URLs it names (/pki/crl, /pki/ocsp), also after it is revoked; the new
// intermediate's CRL does not list it, nor is it answered for under the
// new intermediate's name. Revoking the old intermediate
// (local.RevokeIntermediate) puts it on the root's CRL. The former code
// had no rotation at all.
func TestRotateIntermediateEndToEnd(t *testing.T) {
	data := t.TempDir()
	caDir := server.CADir(data)
	var first, kept, oldInter *x509.Certificate
	var firstKey crypto.Signer
	t.Run("before", func(t *testing.T) {
		env := testenv.NewWithOptions(t, testenv.Options{Data: data})
		c, _, chain := env.IssueHTTP01(t, "one.example.test")
		firstKey = c.Key
		var err error
		if first, err = x509.ParseCertificate(chain[0]); err != nil {
			t.Fatal(err)
		}
		_, _, chain = env.IssueHTTP01(t, "kept.example.test")
		if kept, err = x509.ParseCertificate(chain[0]); err != nil {
			t.Fatal(err)
		}
		oldInter = env.Server.CA().Intermediate()
	})
	if first == nil || kept == nil {
		t.FailNow()
	}
	old, cur, err := local.Rotate(caDir, local.RotateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if !old.Equal(oldInter) || cur.Equal(oldInter) || bytes.Equal(cur.RawSubject, old.RawSubject) {
		t.Fatalf("Rotate: retired %q, new %q; want the old one retired and a new one of another name", old.Subject, cur.Subject)
	}
	if cur.PublicKeyAlgorithm != old.PublicKeyAlgorithm {
		t.Errorf("new intermediate key %v, want the old one's type %v", cur.PublicKeyAlgorithm, old.PublicKeyAlgorithm)
	}
	newID, oldID := local.IntermediateID(cur), local.IntermediateID(old)

	t.Run("after", func(t *testing.T) {
		env := testenv.NewWithOptions(t, testenv.Options{Data: data})
		ca := env.Server.CA()
		root := ca.Root()
		if !ca.Intermediate().Equal(cur) {
			t.Fatalf("the server signs with %q, want the new intermediate %q", ca.Intermediate().Subject, cur.Subject)
		}
		// The rotation above did not tell the database (as one whose
		// write failed): the start records it, with its audit event.
		evs, err := audit.New(env.Server.Store(), nil).List(t.Context(), store.AuditFilter{Action: audit.ActionIntermediateRotate, Limit: 10})
		if err != nil || len(evs) != 1 || evs[0].ObjectID != newID || evs[0].Actor != audit.ActorSystem {
			t.Fatalf("intermediate.rotate events after the start: %+v, %v; want one by %s for %s", evs, err, audit.ActorSystem, newID)
		}
		client, _, chain := env.IssueHTTP01(t, "two.example.test")
		second, err := x509.ParseCertificate(chain[0])
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(second.RawIssuer, cur.RawSubject) {
			t.Fatalf("second certificate issued by %q, want the new intermediate %q", second.Issuer, cur.Subject)
		}
		// Each certificate's AIA caIssuers serves its intermediate, and it
		// verifies to the root through it.
		for name, leaf := range map[string]*x509.Certificate{"first": first, "second": second} {
			if len(leaf.IssuingCertificateURL) != 1 || len(leaf.CRLDistributionPoints) != 1 {
				t.Fatalf("%s: AIA %q, CRL DP %q", name, leaf.IssuingCertificateURL, leaf.CRLDistributionPoints)
			}
			inter, err := x509.ParseCertificate(pkiGet(t, onServer(t, env, leaf.IssuingCertificateURL[0])))
			if err != nil {
				t.Fatal(err)
			}
			if err := verifies(leaf, inter, root); err != nil {
				t.Errorf("%s certificate through the intermediate at %s: %v", name, leaf.IssuingCertificateURL[0], err)
			}
		}
		if p, _ := url.Parse(second.CRLDistributionPoints[0]); p.Path != "/pki/ca/"+newID+"/crl" {
			t.Errorf("second certificate's CRL DP %q, want /pki/ca/%s/crl", second.CRLDistributionPoints[0], newID)
		}
		for _, p := range []string{"/pki/ca/00000000000000ff/crl", "/pki/ca/00000000000000ff/intermediate.crt"} {
			res, err := http.Get("http://" + env.Server.Addr().String() + p)
			if err != nil {
				t.Fatal(err)
			}
			res.Body.Close()
			if res.StatusCode != http.StatusNotFound || res.Header.Get("Content-Type") != "application/problem+json" {
				t.Errorf("GET %s (no such intermediate): %d %s, want a 404 problem document", p, res.StatusCode, res.Header.Get("Content-Type"))
			}
		}
		// The prefix itself, over plain HTTP and HTTPS, with and without
		// its "/": a 404 problem document naming the intermediates' IDs,
		// never a redirect (plain HTTP answered "/pki/ca" with ServeMux's
		// 301 to "/pki/ca/").
		noRedirect := *env.HTTPClient
		noRedirect.CheckRedirect = func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }
		https, _ := url.Parse(env.DirectoryURL)
		for _, base := range []string{"http://" + env.Server.Addr().String(), "https://" + https.Host} {
			for _, p := range []string{"/pki/ca", "/pki/ca/"} {
				res, err := noRedirect.Get(base + p)
				if err != nil {
					t.Fatal(err)
				}
				b, _ := io.ReadAll(res.Body)
				res.Body.Close()
				if res.StatusCode != http.StatusNotFound || res.Header.Get("Content-Type") != "application/problem+json" ||
					!bytes.Contains(b, []byte(newID)) || res.Header.Get("Location") != "" {
					t.Errorf("GET %s%s: %d %s %s (Location %q), want a 404 problem document naming %s", base, p, res.StatusCode,
						res.Header.Get("Content-Type"), b, res.Header.Get("Location"), newID)
				}
			}
		}
		// An intermediate's bare ID, with or without "/": its two paths are
		// named (the "/" form was told "did you mean /pki/ca/ID?", itself a
		// 404).
		for _, p := range []string{"/pki/ca/" + newID, "/pki/ca/" + newID + "/"} {
			res, err := http.Get("http://" + env.Server.Addr().String() + p)
			if err != nil {
				t.Fatal(err)
			}
			b, _ := io.ReadAll(res.Body)
			res.Body.Close()
			want := "the intermediate " + newID + " is at /pki/ca/" + newID + "/intermediate.crt, its CRL at /pki/ca/" + newID + "/crl"
			if res.StatusCode != http.StatusNotFound || !bytes.Contains(b, []byte(want)) {
				t.Errorf("GET %s: %d %s, want a 404 problem saying %q", p, res.StatusCode, b, want)
			}
		}
		// A doubled slash before a served intermediate's path: the path meant.
		if res, err := http.Get("http://" + env.Server.Addr().String() + "/pki/ca//" + newID + "/crl"); err != nil {
			t.Fatal(err)
		} else {
			b, _ := io.ReadAll(res.Body)
			res.Body.Close()
			if want := "did you mean /pki/ca/" + newID + "/crl?"; res.StatusCode != http.StatusNotFound || !bytes.Contains(b, []byte(want)) {
				t.Errorf("GET /pki/ca//%s/crl: %d %s, want a 404 problem saying %q", newID, res.StatusCode, b, want)
			}
		}
		if p, _ := url.Parse(first.CRLDistributionPoints[0]); p.Path != "/pki/crl" {
			t.Fatalf("first certificate's CRL DP %q", first.CRLDistributionPoints[0])
		}
		// OCSP: the first answered by the old intermediate, the second by
		// the new one; the first under the new one's name is not this
		// responder's to answer.
		good := func(leaf, inter *x509.Certificate, want int) {
			t.Helper()
			r, err := ocsp.ParseResponseForCert(ocspAsk(t, env, leaf, inter), leaf, inter)
			if err != nil {
				t.Fatalf("OCSP about %s from %q: %v", leaf.Subject.CommonName, inter.Subject, err)
			}
			if r.Status != want {
				t.Fatalf("OCSP about %s: status %d, want %d", leaf.DNSNames, r.Status, want)
			}
		}
		good(first, old, ocsp.Good)
		good(second, cur, ocsp.Good)
		if b := ocspAsk(t, env, first, cur); !bytes.Equal(b, ocsp.UnauthorizedErrorResponse) {
			t.Errorf("OCSP about the first certificate under the new intermediate's name: %x, want unauthorized", b)
		}
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		if err := client.RevokeCert(ctx, nil, first.Raw, acme.CRLReasonSuperseded); err == nil {
			t.Fatal("the second certificate's account revoked the first")
		}
		// Revoked by its own account: it shows on the old intermediate's
		// CRL and OCSP.
		owner := &acme.Client{Key: firstKey, DirectoryURL: env.DirectoryURL, HTTPClient: env.HTTPClient}
		if err := owner.RevokeCert(ctx, nil, first.Raw, acme.CRLReasonSuperseded); err != nil {
			t.Fatal(err)
		}
		good(first, old, ocsp.Revoked)
		oldCRL, err := x509.ParseRevocationList(pkiGet(t, onServer(t, env, first.CRLDistributionPoints[0])))
		if err != nil {
			t.Fatal(err)
		}
		if err := oldCRL.CheckSignatureFrom(old); err != nil {
			t.Errorf("the first certificate's CRL is not signed by the old intermediate: %v", err)
		}
		if len(oldCRL.RevokedCertificateEntries) != 1 || oldCRL.RevokedCertificateEntries[0].SerialNumber.Cmp(first.SerialNumber) != 0 {
			t.Errorf("the old intermediate's CRL lists %d entries, want the first certificate", len(oldCRL.RevokedCertificateEntries))
		}
		newCRL, err := x509.ParseRevocationList(pkiGet(t, onServer(t, env, second.CRLDistributionPoints[0])))
		if err != nil {
			t.Fatal(err)
		}
		if err := newCRL.CheckSignatureFrom(cur); err != nil {
			t.Errorf("the second certificate's CRL is not signed by the new intermediate: %v", err)
		}
		if len(newCRL.RevokedCertificateEntries) != 0 {
			t.Errorf("the new intermediate's CRL lists %d entries, want none (the first certificate is the old one's)", len(newCRL.RevokedCertificateEntries))
		}
	})

	if _, err := local.RevokeIntermediate(caDir, cur.SerialNumber.Text(16), 2, time.Now()); err == nil {
		t.Error("RevokeIntermediate revoked the intermediate that signs")
	}
	if _, err := local.RevokeIntermediate(caDir, oldID, 2, time.Now()); err != nil {
		t.Fatal(err)
	}
	t.Run("revoked", func(t *testing.T) {
		env := testenv.NewWithOptions(t, testenv.Options{Data: data})
		crl, err := x509.ParseRevocationList(pkiGet(t, "http://"+env.Server.Addr().String()+"/pki/root.crl"))
		if err != nil {
			t.Fatal(err)
		}
		if err := crl.CheckSignatureFrom(env.Server.CA().Root()); err != nil {
			t.Fatalf("root CRL: %v", err)
		}
		if len(crl.RevokedCertificateEntries) != 1 || crl.RevokedCertificateEntries[0].SerialNumber.Cmp(old.SerialNumber) != 0 ||
			crl.RevokedCertificateEntries[0].ReasonCode != 2 {
			t.Fatalf("root CRL lists %+v, want the old intermediate %s (cACompromise)", crl.RevokedCertificateEntries, old.SerialNumber.Text(16))
		}
		// The old intermediate's CRL is still served for its certificates.
		pkiGet(t, "http://"+env.Server.Addr().String()+"/pki/crl")
		// renewalInfo (RFC 9773) asks the holder of a certificate the
		// revoked intermediate signed to renew at once: a window that has
		// ended. It served the default window, two thirds into the
		// lifetime.
		res, err := env.HTTPClient.Get(env.BaseURL + "/acme/renewal-info/" + rotateCertID(kept))
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(res.Body)
		res.Body.Close()
		var ri struct {
			SuggestedWindow struct{ Start, End time.Time } `json:"suggestedWindow"`
		}
		if err := json.Unmarshal(b, &ri); err != nil || res.StatusCode != http.StatusOK {
			t.Fatalf("renewalInfo of a certificate of the revoked intermediate: %d %s", res.StatusCode, b)
		}
		if w := ri.SuggestedWindow; w.End.After(time.Now()) || !w.Start.Before(w.End) {
			t.Errorf("renewalInfo of a certificate of the revoked intermediate: %v .. %v, want a window in the past", w.Start, w.End)
		}
		// The admin's view shows the same window and says why.
		var revoked []*x509.Certificate
		for _, ri := range env.Server.CA().RevokedIntermediates() {
			revoked = append(revoked, ri.Cert)
		}
		w, source, ok, err := ra.CertificateRenewal(t.Context(), env.Server.Store(), kept.SerialNumber.Text(16), revoked, time.Now())
		if err != nil || !ok || source != ra.WindowIntermediateRevoked || w.End.After(time.Now()) {
			t.Errorf("CertificateRenewal: %v .. %v %q %v %v, want %q in the past", w.Start, w.End, source, ok, err, ra.WindowIntermediateRevoked)
		}
	})
}

// rotateCertID is leaf's RFC 9773 §4.1 certificate identifier.
func rotateCertID(leaf *x509.Certificate) string {
	serial := leaf.SerialNumber.Bytes()
	if serial[0]&0x80 != 0 {
		serial = append([]byte{0}, serial...)
	}
	return base64.RawURLEncoding.EncodeToString(leaf.AuthorityKeyId) + "." + base64.RawURLEncoding.EncodeToString(serial)
}
