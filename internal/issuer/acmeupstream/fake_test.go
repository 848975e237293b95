package acmeupstream

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"fmt"
	"math/big"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/certgate/certgate/internal/issuer"
)

// fakeACME is a small upstream ACME CA (RFC 8555) on loopback over TLS,
// enough for lego's client as this connector drives it: directory,
// newNonce, newAccount, newOrder (names pre-authorized: the order is
// ready at once, with no authorizations), finalize, the order and the
// certificate (POST-as-GET). It does not check the JWS signatures. As a
// real CA (Pebble, Boulder) does, it writes an order's DNS identifiers in
// lower case in its answer. The hooks, set through set, change its
// answers.
type fakeACME struct {
	srv    *httptest.Server
	bundle string // PEM file of the certificate of srv's HTTPS
	caKey  *ecdsa.PrivateKey
	ca     *x509.Certificate

	mu        sync.Mutex
	nonce     int
	newOrders [][]fakeID                 // the identifiers of every newOrder request
	csrs      []*x509.CertificateRequest // the CSR of every finalize
	orders    map[string]*fakeOrder      // by number
	// delay, when set, holds every newOrder request that long.
	delay time.Duration
	// processing is how many reads an order stays processing after
	// finalize.
	processing int
	// orderRead, when set, answers a read of an order instead (true).
	orderRead func(w http.ResponseWriter) bool
	// certBody, when set, is the body of a certificate download (200).
	certBody []byte
}

// fakeID is an ACME identifier (RFC 8555 §7.1.4).
type fakeID struct {
	Type  string `json:"type"`
	Value string `json:"value"`
}

// fakeOrder is an order at the fake.
type fakeOrder struct {
	ids     []fakeID
	status  string
	reads   int    // reads since finalize
	certPEM []byte // once finalized
}

// newFakeACME starts a fake upstream until the test ends.
func newFakeACME(t *testing.T) *fakeACME {
	t.Helper()
	f := &fakeACME{orders: map[string]*fakeOrder{}}
	var err error
	if f.caKey, err = ecdsa.GenerateKey(elliptic.P256(), rand.Reader); err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "Fake Upstream CA"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(24 * time.Hour), IsCA: true, BasicConstraintsValid: true,
		KeyUsage: x509.KeyUsageCertSign}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, f.caKey.Public(), f.caKey)
	if err != nil {
		t.Fatal(err)
	}
	f.ca, _ = x509.ParseCertificate(der)
	f.srv = httptest.NewTLSServer(http.HandlerFunc(f.serve))
	t.Cleanup(f.srv.Close)
	f.bundle = filepath.Join(t.TempDir(), "upstream-ca.pem")
	if err := os.WriteFile(f.bundle, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: f.srv.Certificate().Raw}), 0o600); err != nil {
		t.Fatal(err)
	}
	return f
}

// issuer is a connector to f with timeout, its account key in a
// temporary directory.
func (f *fakeACME) issuer(t *testing.T, timeout string) *Issuer {
	t.Helper()
	is, err := New(Config{Name: "fake", Directory: f.srv.URL + "/directory", CABundle: f.bundle, Timeout: timeout}, issuer.Env{Data: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	return is
}

// set runs change with f's lock held.
func (f *fakeACME) set(change func(f *fakeACME)) {
	f.mu.Lock()
	defer f.mu.Unlock()
	change(f)
}

// problem answers an RFC 8555 problem document.
func problem(w http.ResponseWriter, status int, typ, detail string) {
	w.Header().Set("Content-Type", "application/problem+json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(map[string]any{"type": "urn:ietf:params:acme:error:" + typ, "detail": detail, "status": status})
}

// payload is the decoded payload of the JWS request r ("" for
// POST-as-GET).
func payload(r *http.Request) ([]byte, error) {
	var jws struct {
		Payload string `json:"payload"`
	}
	if err := json.NewDecoder(r.Body).Decode(&jws); err != nil {
		return nil, err
	}
	return base64.RawURLEncoding.DecodeString(jws.Payload)
}

func (f *fakeACME) serve(w http.ResponseWriter, r *http.Request) {
	f.mu.Lock()
	f.nonce++
	w.Header().Set("Replay-Nonce", "nonce-"+strconv.Itoa(f.nonce))
	delay := f.delay
	f.mu.Unlock()
	base := f.srv.URL
	if r.URL.Path == "/directory" {
		_ = json.NewEncoder(w).Encode(map[string]string{"newNonce": base + "/nonce", "newAccount": base + "/account",
			"newOrder": base + "/new-order", "revokeCert": base + "/revoke", "keyChange": base + "/key-change"})
		return
	}
	if r.URL.Path == "/nonce" {
		w.WriteHeader(http.StatusNoContent)
		return
	}
	body, err := payload(r)
	if err != nil {
		problem(w, http.StatusBadRequest, "malformed", err.Error())
		return
	}
	if r.URL.Path == "/new-order" && delay > 0 {
		select {
		case <-time.After(delay):
		case <-r.Context().Done():
			return
		}
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	kind, num, _ := strings.Cut(strings.TrimPrefix(r.URL.Path, "/"), "/")
	switch kind {
	case "account":
		w.Header().Set("Location", base+"/acct/1")
		w.WriteHeader(http.StatusCreated)
		_ = json.NewEncoder(w).Encode(map[string]any{"status": "valid"})
	case "new-order":
		var req struct {
			Identifiers []fakeID `json:"identifiers"`
		}
		if err := json.Unmarshal(body, &req); err != nil {
			problem(w, http.StatusBadRequest, "malformed", err.Error())
			return
		}
		f.newOrders = append(f.newOrders, req.Identifiers)
		o := &fakeOrder{status: "ready"}
		for _, id := range req.Identifiers {
			o.ids = append(o.ids, fakeID{id.Type, strings.ToLower(id.Value)})
		}
		num := strconv.Itoa(len(f.orders) + 1)
		f.orders[num] = o
		w.Header().Set("Location", base+"/order/"+num)
		w.WriteHeader(http.StatusCreated)
		f.writeOrder(w, num)
	case "finalize":
		o := f.orders[num]
		var req struct {
			CSR string `json:"csr"`
		}
		var csr *x509.CertificateRequest
		var der []byte
		err := json.Unmarshal(body, &req)
		if err == nil {
			der, err = base64.RawURLEncoding.DecodeString(req.CSR)
		}
		if err == nil {
			csr, err = x509.ParseCertificateRequest(der)
		}
		if o == nil || err != nil {
			problem(w, http.StatusBadRequest, "badCSR", fmt.Sprint("no such order or a bad CSR: ", err))
			return
		}
		f.csrs = append(f.csrs, csr)
		leaf := &x509.Certificate{SerialNumber: big.NewInt(int64(100 + len(f.csrs))), NotBefore: time.Now().Add(-time.Minute),
			NotAfter: time.Now().Add(time.Hour), ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}}
		for _, id := range o.ids {
			if id.Type == "ip" {
				leaf.IPAddresses = append(leaf.IPAddresses, net.ParseIP(id.Value))
			} else {
				leaf.DNSNames = append(leaf.DNSNames, id.Value)
			}
		}
		cert, err := x509.CreateCertificate(rand.Reader, leaf, f.ca, csr.PublicKey, f.caKey)
		if err != nil {
			problem(w, http.StatusInternalServerError, "serverInternal", err.Error())
			return
		}
		o.certPEM = append(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: cert}), pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: f.ca.Raw})...)
		o.status = "valid"
		if f.processing > 0 {
			o.status = "processing"
		}
		f.writeOrder(w, num)
	case "order":
		if f.orderRead != nil && f.orderRead(w) {
			return
		}
		o := f.orders[num]
		if o == nil {
			problem(w, http.StatusNotFound, "malformed", "No order for ID "+num)
			return
		}
		if o.status == "processing" {
			if o.reads++; o.reads >= f.processing {
				o.status = "valid"
			}
		}
		f.writeOrder(w, num)
	case "cert":
		o := f.orders[num]
		if o == nil || o.certPEM == nil {
			problem(w, http.StatusNotFound, "malformed", "No certificate for ID "+num)
			return
		}
		w.Header().Set("Content-Type", "application/pem-certificate-chain")
		if f.certBody != nil {
			_, _ = w.Write(f.certBody)
			return
		}
		_, _ = w.Write(o.certPEM)
	default:
		problem(w, http.StatusNotFound, "malformed", "no such resource")
	}
}

// writeOrder answers order num as its JSON (RFC 8555 §7.1.3); f.mu is
// held.
func (f *fakeACME) writeOrder(w http.ResponseWriter, num string) {
	o := f.orders[num]
	body := map[string]any{"status": o.status, "identifiers": o.ids, "authorizations": []string{},
		"finalize": f.srv.URL + "/finalize/" + num, "expires": time.Now().Add(time.Hour).UTC().Format(time.RFC3339)}
	if o.status == "valid" {
		body["certificate"] = f.srv.URL + "/cert/" + num
	}
	w.Header().Set("Content-Type", "application/json")
	_ = json.NewEncoder(w).Encode(body)
}
