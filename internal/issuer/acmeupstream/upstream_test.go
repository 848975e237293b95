package acmeupstream

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"errors"
	"net"
	"net/http"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/certgate/certgate/internal/acme"
	"github.com/certgate/certgate/internal/issuer"
)

// request is an IssueRequest as the RA makes it for an order of
// dnsNames and ips (lower case, as certgate writes identifiers), with a
// CSR that spells the names as csrNames (its common name the first).
func request(t *testing.T, dnsNames []string, ips []net.IP, csrNames ...string) issuer.IssueRequest {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	der, err := x509.CreateCertificateRequest(rand.Reader, &x509.CertificateRequest{Subject: pkix.Name{CommonName: csrNames[0]},
		DNSNames: csrNames, IPAddresses: ips}, key)
	if err != nil {
		t.Fatal(err)
	}
	csr, err := x509.ParseCertificateRequest(der)
	if err != nil {
		t.Fatal(err)
	}
	return issuer.IssueRequest{PublicKey: key.Public(), DNSNames: dnsNames, IPAddresses: ips, CSR: csr}
}

// TestOrderNamesNormalized: a CSR whose names differ from the order's
// only in case (Mx1.Example.Test for the order's mx1.example.test) is
// issued: the upstream order is placed for the order's names, in lower
// case, with the IP address in its canonical text (not the CSR's
// spelling, which an upstream answers in lower case and lego then refused
// as "order identifiers have been modified"), and the CSR goes to
// finalize as the client signed it.
func TestOrderNamesNormalized(t *testing.T) {
	f := newFakeACME(t)
	is := f.issuer(t, "30s")
	req := request(t, []string{"mx1.example.test", "www.example.test"}, []net.IP{net.ParseIP("2001:DB8:0:0::1")}, "Mx1.Example.Test", "WWW.example.TEST")
	out, err := is.Issue(context.Background(), req)
	if err != nil {
		t.Fatalf("Issue for a CSR of upper-case names: %v", err)
	}
	if leaf, err := x509.ParseCertificate(out.DER); err != nil || !reflect.DeepEqual(leaf.DNSNames, []string{"mx1.example.test", "www.example.test"}) {
		t.Fatalf("issued certificate %v, %v", leaf, err)
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	want := []fakeID{{"dns", "mx1.example.test"}, {"dns", "www.example.test"}, {"ip", "2001:db8::1"}}
	if len(f.newOrders) != 1 || !reflect.DeepEqual(f.newOrders[0], want) {
		t.Fatalf("upstream newOrder identifiers %v; want %v", f.newOrders, want)
	}
	if len(f.csrs) != 1 || f.csrs[0].Subject.CommonName != "Mx1.Example.Test" || string(f.csrs[0].Raw) != string(req.CSR.Raw) {
		t.Fatalf("finalize did not send the client's CSR as it was: %v", f.csrs)
	}
}

// TestSlowUpstreamWithinTimeout: an upstream that takes longer than 30
// seconds to answer one request, within the entry's timeout of a minute,
// is waited for and issues (a fixed 30-second bound on the wait for an
// answer's headers failed the issuance, with a detail naming the
// timeout it did not reach).
func TestSlowUpstreamWithinTimeout(t *testing.T) {
	t.Parallel() // it waits 31 seconds: the old limit was 30
	f := newFakeACME(t)
	f.set(func(f *fakeACME) { f.delay = 31 * time.Second })
	is := f.issuer(t, "1m")
	start := time.Now()
	if _, err := is.Issue(context.Background(), request(t, []string{"slow.example.test"}, nil, "slow.example.test")); err != nil {
		t.Fatalf("Issue at an upstream answering newOrder after 31s, timeout 1m: %v", err)
	}
	if d := time.Since(start); d < 31*time.Second {
		t.Fatalf("issued after %s; the upstream held newOrder 31s", d)
	}
}

// placeOne issues at f through is with the order read processing
// (f.processing) and returns the upstream order Placed received and
// Issue's outcome.
func placeOne(t *testing.T, is *Issuer, name string) (issuer.RemoteOrder, *issuer.Issued, error) {
	t.Helper()
	var ro issuer.RemoteOrder
	req := request(t, []string{name}, nil, name)
	req.Placed = func(_ context.Context, o issuer.RemoteOrder) error { ro = o; return nil }
	out, err := is.Issue(context.Background(), req)
	if ro.OrderURL == "" {
		t.Fatalf("Placed was not called (Issue: %v)", err)
	}
	return ro, out, err
}

// TestLostOrderFails: an upstream that refuses for good to read an order
// (it lost its state: 404 for the order, accountDoesNotExist,
// unauthorized) ends the order, from Resume and from Issue's polling
// after finalize alike, with a serverInternal problem naming the
// upstream order and its problem, not issuer.ErrRemoteProcessing (which
// kept the order processing for a day); an upstream failing in a way
// that may pass (503, 429 rateLimited, a connection closed) leaves it
// processing.
func TestLostOrderFails(t *testing.T) {
	f := newFakeACME(t)
	is := f.issuer(t, "10s")
	ro, _, err := placeOne(t, is, "lost.example.test")
	if err != nil {
		t.Fatal(err)
	}
	answer := func(status int, typ, detail string) func(http.ResponseWriter) bool {
		return func(w http.ResponseWriter) bool { problem(w, status, typ, detail); return true }
	}
	for _, tc := range []struct {
		name    string
		read    func(http.ResponseWriter) bool
		forGood string // the detail's end when the order fails; "" when it stays processing
	}{
		{"order gone", answer(http.StatusNotFound, "malformed", "No order for ID 1"), "HTTP 404 malformed: No order for ID 1"},
		{"account gone", answer(http.StatusBadRequest, "accountDoesNotExist", "unable to find existing account"), "HTTP 400 accountDoesNotExist: unable to find existing account"},
		{"unauthorized", answer(http.StatusForbidden, "unauthorized", "account does not own this order"), "HTTP 403 unauthorized: account does not own this order"},
		{"unavailable", answer(http.StatusServiceUnavailable, "serverInternal", "down for maintenance"), ""},
		{"rate limited", answer(http.StatusTooManyRequests, "rateLimited", "slow down"), ""},
		{"connection closed", func(w http.ResponseWriter) bool {
			c, _, err := w.(http.Hijacker).Hijack()
			if err == nil {
				c.Close()
			}
			return true
		}, ""},
	} {
		f.set(func(f *fakeACME) { f.orderRead = tc.read })
		_, err := is.Resume(context.Background(), ro)
		p, ok := acme.AsProblem(err)
		switch {
		case tc.forGood == "" && (!ok || !errors.Is(err, issuer.ErrRemoteProcessing)):
			t.Errorf("%s: Resume: %v; want a problem, still processing (ErrRemoteProcessing)", tc.name, err)
		case tc.forGood != "" && (!ok || p.Type != acme.ServerInternal || errors.Is(err, issuer.ErrRemoteProcessing) ||
			!strings.Contains(p.Detail, "upstream CA fake did not answer for its order "+ro.OrderURL+", and will not: "+tc.forGood) ||
			!strings.HasSuffix(p.Detail, "please create a new order")):
			t.Errorf("%s: Resume: %v; want the order failed with a detail naming it and %q", tc.name, err, tc.forGood)
		}
	}

	// Issue's polling after finalize: the order processing, then gone.
	f.set(func(f *fakeACME) {
		f.processing = 5
		f.orderRead = answer(http.StatusNotFound, "malformed", "No order for ID 2")
	})
	if _, _, err := placeOne(t, is, "lost2.example.test"); errors.Is(err, issuer.ErrRemoteProcessing) || err == nil ||
		!strings.Contains(err.Error(), "and will not: HTTP 404 malformed: No order for ID 2") {
		t.Fatalf("Issue whose order the upstream lost while processing: %v; want the order failed", err)
	}
}

// TestUnparsableCertificateFetchedAgain: a certificate download answered
// 200 with a body that is not PEM leaves the order processing
// (issuer.ErrRemoteProcessing), since the upstream issued; Resume then
// downloads the certificate of the same upstream order, without placing
// or finalizing another (which would issue twice).
func TestUnparsableCertificateFetchedAgain(t *testing.T) {
	f := newFakeACME(t)
	is := f.issuer(t, "10s")
	f.set(func(f *fakeACME) { f.certBody = []byte("<html>502 Bad Gateway</html>") })
	ro, _, err := placeOne(t, is, "garbled.example.test")
	if !errors.Is(err, issuer.ErrRemoteProcessing) || !strings.Contains(err.Error(), "served one that does not parse") {
		t.Fatalf("Issue whose certificate download is not PEM: %v; want it processing (ErrRemoteProcessing)", err)
	}
	f.set(func(f *fakeACME) { f.certBody = nil })
	out, err := is.Resume(context.Background(), ro)
	if err != nil {
		t.Fatalf("Resume once the download is PEM: %v", err)
	}
	if leaf, err := x509.ParseCertificate(out.DER); err != nil || leaf.DNSNames[0] != "garbled.example.test" {
		t.Fatalf("resumed certificate %v, %v", leaf, err)
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	if len(f.newOrders) != 1 || len(f.csrs) != 1 {
		t.Fatalf("%d upstream orders, %d finalizes; want one of each (no second issuance)", len(f.newOrders), len(f.csrs))
	}
}
