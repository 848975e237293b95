package vaultpki_test

// A stand-in for Vault's HTTP API, because Vault itself cannot run on the
// machines these tests run on (it is not packaged in Debian, and its Go
// module's replace directives make `go install` fail). It is a TLS server
// on loopback (net/http/httptest) that implements only what the connector
// uses, as Vault's API documentation describes it
// (developer.hashicorp.com/vault/api-docs/secret/pki and
// .../auth/approle): POST/PUT /v1/auth/approle/login (role_id,
// secret_id; answers auth.client_token and auth.lease_duration), POST/PUT
// /v1/MOUNT/sign/ROLE (csr, common_name, alt_names, ip_sans, format pem or
// pem_bundle, ttl; answers data.certificate, issuing_ca, ca_chain,
// serial_number, expiration), POST/PUT /v1/MOUNT/revoke (serial_number;
// answers data.revocation_time), the X-Vault-Token and X-Vault-Namespace
// headers, and Vault's error answers ({"errors": [...]} with 400, 403,
// 404, 429). It signs with a test CA of its own (a root and an
// intermediate, ECDSA P-256). A real Vault checks far more (role
// policies, key types, TTL limits); what it answers the connector is
// this shape.

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/hex"
	"encoding/json"
	"encoding/pem"
	"math/big"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// standIn is the stand-in Vault.
type standIn struct {
	srv      *httptest.Server
	CABundle string // PEM file of the certificate of srv's HTTPS
	Root     *x509.Certificate
	inter    *x509.Certificate
	interKey *ecdsa.PrivateKey

	mount, role, namespace string
	roleID, secretID       string
	allowed                []string // DNS suffixes the role allows ("" any)

	// holdSign makes sign requests wait until their client goes away
	// (Vault signing while certgate shuts down), counted in held.
	holdSign atomic.Bool
	held     atomic.Int32
	release  chan struct{} // closed when the test ends: held requests fail

	mu           sync.Mutex
	tokens       map[string]bool // valid tokens
	leaseSeconds int             // lease_duration of AppRole tokens
	logins       int
	signs        []map[string]any // the sign requests' bodies
	signTokens   []string         // their X-Vault-Token
	namespaces   []string         // X-Vault-Namespace of every request
	wrapTTLs     []string         // X-Vault-Wrap-TTL of every request
	revoked      []string         // serial_number of accepted revocations
	issued       map[string]bool  // serial_number of issued certificates
	lastSerial   string           // serial_number of the last one
	names        []string         // names to sign instead of the request's, when set
	fail         *vaultFail       // the answer to the next sign requests, when set
	revokeFail   *vaultFail       // the answer to revoke requests, when set
}

// vaultFail is an error answer of Vault: its status and errors array.
type vaultFail struct {
	status int
	errors []string
	raw    string // the body as it is, instead of errors, when set
}

// newStandIn starts a stand-in with mount "pki", role "web" allowing
// names under allowed, the static token "s.static-token" valid, and the
// AppRole "role-1"/"secret-1".
func newStandIn(t *testing.T, allowed ...string) *standIn {
	t.Helper()
	v := &standIn{mount: "pki", role: "web", roleID: "role-1", secretID: "secret-1", allowed: allowed,
		tokens: map[string]bool{"s.static-token": true}, leaseSeconds: 3600, issued: map[string]bool{}}
	rootKey, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	v.interKey, _ = ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	now := time.Now()
	rootTmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "Stand-in Vault Root"},
		NotBefore: now.Add(-time.Hour), NotAfter: now.Add(24 * time.Hour), IsCA: true, BasicConstraintsValid: true,
		KeyUsage: x509.KeyUsageCertSign | x509.KeyUsageCRLSign}
	der, err := x509.CreateCertificate(rand.Reader, rootTmpl, rootTmpl, &rootKey.PublicKey, rootKey)
	if err != nil {
		t.Fatal(err)
	}
	v.Root, _ = x509.ParseCertificate(der)
	interTmpl := &x509.Certificate{SerialNumber: big.NewInt(2), Subject: pkix.Name{CommonName: "Stand-in Vault Intermediate"},
		NotBefore: now.Add(-time.Hour), NotAfter: now.Add(24 * time.Hour), IsCA: true, BasicConstraintsValid: true,
		KeyUsage: x509.KeyUsageCertSign | x509.KeyUsageCRLSign}
	der, err = x509.CreateCertificate(rand.Reader, interTmpl, v.Root, &v.interKey.PublicKey, rootKey)
	if err != nil {
		t.Fatal(err)
	}
	v.inter, _ = x509.ParseCertificate(der)
	v.release = make(chan struct{})
	v.srv = httptest.NewTLSServer(http.HandlerFunc(v.serve))
	t.Cleanup(v.srv.Close)
	t.Cleanup(func() { close(v.release) }) // before Close, which waits for held requests
	v.CABundle = filepath.Join(t.TempDir(), "vault-ca.pem")
	if err := os.WriteFile(v.CABundle, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: v.srv.Certificate().Raw}), 0o600); err != nil {
		t.Fatal(err)
	}
	return v
}

// URL is the stand-in's address, https://127.0.0.1:PORT.
func (v *standIn) URL() string { return v.srv.URL }

// writeErr answers Vault's error shape.
func writeErr(w http.ResponseWriter, status int, errs ...string) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	if errs == nil {
		errs = []string{}
	}
	json.NewEncoder(w).Encode(map[string]any{"errors": errs})
}

// writeJSON answers 200 with v.
func writeJSON(w http.ResponseWriter, v any) {
	w.Header().Set("Content-Type", "application/json")
	json.NewEncoder(w).Encode(v)
}

func (v *standIn) serve(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodPost && r.Method != http.MethodPut {
		writeErr(w, http.StatusMethodNotAllowed, "1 error occurred:\n\t* unsupported operation\n\n")
		return
	}
	if v.holdSign.Load() && strings.Contains(r.URL.Path, "/sign/") {
		v.held.Add(1)
		select {
		case <-r.Context().Done():
		case <-v.release:
			writeErr(w, http.StatusServiceUnavailable, "Vault is sealed")
		}
		return
	}
	var body map[string]any
	if err := json.NewDecoder(r.Body).Decode(&body); err != nil {
		writeErr(w, http.StatusBadRequest, "failed to parse JSON input: "+err.Error())
		return
	}
	v.mu.Lock()
	defer v.mu.Unlock()
	v.namespaces = append(v.namespaces, r.Header.Get("X-Vault-Namespace"))
	v.wrapTTLs = append(v.wrapTTLs, r.Header.Get("X-Vault-Wrap-TTL"))
	if v.namespace != "" && r.Header.Get("X-Vault-Namespace") != v.namespace {
		writeErr(w, http.StatusForbidden, "permission denied")
		return
	}
	switch p := r.URL.Path; {
	case p == "/v1/auth/approle/login":
		v.logins++
		if body["role_id"] != v.roleID || body["secret_id"] != v.secretID {
			writeErr(w, http.StatusBadRequest, "invalid role or secret ID")
			return
		}
		tok := "s.approle-" + randHex(8)
		v.tokens[tok] = true
		writeJSON(w, map[string]any{"request_id": randHex(8), "lease_id": "", "renewable": false, "lease_duration": 0, "data": nil,
			"auth": map[string]any{"client_token": tok, "accessor": "acc-" + randHex(4), "policies": []string{"default", "pki-sign"},
				"lease_duration": v.leaseSeconds, "renewable": true}})
	case !v.tokens[r.Header.Get("X-Vault-Token")]:
		writeErr(w, http.StatusForbidden, "permission denied")
	case p == "/v1/"+v.mount+"/sign/"+v.role:
		v.signs = append(v.signs, body)
		v.signTokens = append(v.signTokens, r.Header.Get("X-Vault-Token"))
		v.sign(w, body)
	case p == "/v1/"+v.mount+"/revoke":
		if f := v.revokeFail; f != nil {
			writeErr(w, f.status, f.errors...)
			return
		}
		s, _ := body["serial_number"].(string)
		if !v.issued[s] {
			writeErr(w, http.StatusBadRequest, "certificate with serial "+s+" not found.")
			return
		}
		v.revoked = append(v.revoked, s)
		now := time.Now()
		writeJSON(w, map[string]any{"data": map[string]any{"revocation_time": now.Unix(), "revocation_time_rfc3339": now.UTC().Format(time.RFC3339Nano)}})
	default:
		writeErr(w, http.StatusNotFound, "1 error occurred:\n\t* unsupported path\n\n")
	}
}

// sign is the sign endpoint, called with v.mu held.
func (v *standIn) sign(w http.ResponseWriter, body map[string]any) {
	if f := v.fail; f != nil {
		if f.raw != "" {
			w.WriteHeader(f.status)
			w.Write([]byte(f.raw))
			return
		}
		writeErr(w, f.status, f.errors...)
		return
	}
	csrPEM, _ := body["csr"].(string)
	blk, _ := pem.Decode([]byte(csrPEM))
	if blk == nil {
		writeErr(w, http.StatusBadRequest, "csr contains no data")
		return
	}
	csr, err := x509.ParseCertificateRequest(blk.Bytes)
	if err != nil || csr.CheckSignature() != nil {
		writeErr(w, http.StatusBadRequest, "certificate request could not be parsed")
		return
	}
	cn, _ := body["common_name"].(string)
	var dns []string
	if cn != "" {
		dns = append(dns, cn)
	}
	if alt, _ := body["alt_names"].(string); alt != "" {
		for _, n := range strings.Split(alt, ",") {
			if n != cn {
				dns = append(dns, n)
			}
		}
	}
	for _, n := range dns {
		if !v.allows(n) {
			what := "subject alternate name"
			if n == cn {
				what = "common name"
			}
			writeErr(w, http.StatusBadRequest, what+" "+n+" not allowed by this role")
			return
		}
	}
	var ips []net.IP
	if s, _ := body["ip_sans"].(string); s != "" {
		for _, a := range strings.Split(s, ",") {
			ip := net.ParseIP(a)
			if ip == nil {
				writeErr(w, http.StatusBadRequest, "the value \""+a+"\" is not a valid IP address")
				return
			}
			ips = append(ips, ip)
		}
	}
	if v.names != nil {
		dns, cn = v.names, v.names[0]
	}
	ttl := time.Hour
	if s, _ := body["ttl"].(string); s != "" {
		d, err := time.ParseDuration(s)
		if err != nil {
			writeErr(w, http.StatusBadRequest, "error parsing ttl: "+err.Error())
			return
		}
		ttl = d
	}
	serial := make([]byte, 20)
	rand.Read(serial)
	serial[0] &= 0x7f
	now := time.Now()
	tmpl := &x509.Certificate{SerialNumber: new(big.Int).SetBytes(serial), Subject: pkix.Name{CommonName: cn}, DNSNames: dns, IPAddresses: ips,
		NotBefore: now.Add(-30 * time.Second), NotAfter: now.Add(ttl), KeyUsage: x509.KeyUsageDigitalSignature,
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, v.inter, csr.PublicKey, v.interKey)
	if err != nil {
		writeErr(w, http.StatusInternalServerError, "error signing: "+err.Error())
		return
	}
	leaf, _ := x509.ParseCertificate(der)
	sn := colonHex(leaf.SerialNumber)
	v.issued[sn], v.lastSerial = true, sn
	pemOf := func(c []byte) string { return string(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: c})) }
	certificate := strings.TrimSpace(pemOf(der))
	if body["format"] == "pem_bundle" {
		certificate += "\n" + strings.TrimSpace(pemOf(v.inter.Raw))
	}
	writeJSON(w, map[string]any{"request_id": randHex(8), "lease_id": "", "renewable": false, "lease_duration": 0,
		"data": map[string]any{"certificate": certificate, "issuing_ca": strings.TrimSpace(pemOf(v.inter.Raw)),
			"ca_chain":      []string{strings.TrimSpace(pemOf(v.inter.Raw)), strings.TrimSpace(pemOf(v.Root.Raw))},
			"serial_number": sn, "expiration": leaf.NotAfter.Unix()}, "auth": nil})
}

// allows reports whether the role allows DNS name n.
func (v *standIn) allows(n string) bool {
	if len(v.allowed) == 0 {
		return true
	}
	for _, a := range v.allowed {
		if strings.HasSuffix(n, "."+a) {
			return true
		}
	}
	return false
}

// set changes the stand-in under its lock.
func (v *standIn) set(f func(v *standIn)) {
	v.mu.Lock()
	defer v.mu.Unlock()
	f(v)
}

// get reads the stand-in under its lock.
func get[T any](v *standIn, f func(v *standIn) T) T {
	v.mu.Lock()
	defer v.mu.Unlock()
	return f(v)
}

// colonHex is serial as Vault writes it ("39:dd:...").
func colonHex(serial *big.Int) string {
	h := hex.EncodeToString(serial.Bytes())
	var parts []string
	for i := 0; i < len(h); i += 2 {
		parts = append(parts, h[i:i+2])
	}
	return strings.Join(parts, ":")
}

func randHex(n int) string {
	b := make([]byte, n)
	rand.Read(b)
	return hex.EncodeToString(b)
}
