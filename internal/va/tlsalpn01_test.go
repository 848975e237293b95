package va

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/asn1"
	"math/big"
	"net"
	"sync"
	"testing"
	"time"

	"github.com/certgate/certgate/internal/acme"
)

// certOpts describes a tls-alpn-01 validation certificate to build.
type certOpts struct {
	dnsNames    []string
	ips         []net.IP
	keyAuth     string
	notCritical bool
	noExt       bool
	rawValue    []byte // extension value override
}

func alpnCert(t *testing.T, o certOpts) tls.Certificate {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1),
		Subject:      pkix.Name{CommonName: "acme validation"},
		NotBefore:    time.Now().Add(-time.Hour),
		NotAfter:     time.Now().Add(time.Hour),
		DNSNames:     o.dnsNames,
		IPAddresses:  o.ips,
	}
	if !o.noExt {
		sum := sha256.Sum256([]byte(o.keyAuth))
		val, err := asn1.Marshal(sum[:])
		if err != nil {
			t.Fatal(err)
		}
		if o.rawValue != nil {
			val = o.rawValue
		}
		tmpl.ExtraExtensions = []pkix.Extension{{Id: oidACMEIdentifier, Critical: !o.notCritical, Value: val}}
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, key.Public(), key)
	if err != nil {
		t.Fatal(err)
	}
	return tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key}
}

// startTLS serves TLS handshakes with cert on host:0, offering protos; it
// records the SNI of each handshake. It returns the port.
func startTLS(t *testing.T, host string, cert tls.Certificate, protos []string) (int, func() []string) {
	t.Helper()
	var mu sync.Mutex
	var snis []string
	cfg := &tls.Config{
		Certificates: []tls.Certificate{cert},
		NextProtos:   protos,
		GetConfigForClient: func(hi *tls.ClientHelloInfo) (*tls.Config, error) {
			mu.Lock()
			snis = append(snis, hi.ServerName)
			mu.Unlock()
			return nil, nil
		},
	}
	ln, err := tls.Listen("tcp", net.JoinHostPort(host, "0"), cfg)
	if err != nil {
		t.Skipf("cannot listen on %s: %v", host, err)
	}
	t.Cleanup(func() { _ = ln.Close() })
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go func() {
				defer func() { _ = c.Close() }()
				_ = c.SetDeadline(time.Now().Add(3 * time.Second))
				_ = c.(*tls.Conn).Handshake()
				buf := make([]byte, 1)
				_, _ = c.Read(buf) // wait for the client to close
			}()
		}
	}()
	return ln.Addr().(*net.TCPAddr).Port, func() []string {
		mu.Lock()
		defer mu.Unlock()
		return append([]string(nil), snis...)
	}
}

func TestTLSALPN01(t *testing.T) {
	acmeProtos := []string{ALPNProto}
	tests := []struct {
		name    string
		id      acme.Identifier
		listen  string
		cert    certOpts
		protos  []string
		want    acme.ProblemType
		details []string
		wantSNI string
	}{
		{
			name:    "success dns",
			id:      dnsID("example.com"),
			cert:    certOpts{dnsNames: []string{"example.com"}, keyAuth: testKeyAuth},
			protos:  acmeProtos,
			wantSNI: "example.com",
		},
		{
			name:    "success ip v4",
			id:      ipID("127.0.0.1"),
			cert:    certOpts{ips: []net.IP{net.ParseIP("127.0.0.1")}, keyAuth: testKeyAuth},
			protos:  acmeProtos,
			wantSNI: "1.0.0.127.in-addr.arpa",
		},
		{
			name:    "success ip v6",
			id:      ipID("::1"),
			listen:  "::1",
			cert:    certOpts{ips: []net.IP{net.ParseIP("::1")}, keyAuth: testKeyAuth},
			protos:  acmeProtos,
			wantSNI: "1.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.ip6.arpa",
		},
		{
			name:    "server without ALPN",
			id:      dnsID("example.com"),
			cert:    certOpts{dnsNames: []string{"example.com"}, keyAuth: testKeyAuth},
			protos:  nil,
			want:    acme.Unauthorized,
			details: []string{"did not negotiate", ALPNProto},
		},
		{
			name:    "server with other ALPN",
			id:      dnsID("example.com"),
			cert:    certOpts{dnsNames: []string{"example.com"}, keyAuth: testKeyAuth},
			protos:  []string{"h2", "http/1.1"},
			want:    acme.Unauthorized,
			details: []string{ALPNProto},
		},
		{
			name:    "wrong digest",
			id:      dnsID("example.com"),
			cert:    certOpts{dnsNames: []string{"example.com"}, keyAuth: "other.key"},
			protos:  acmeProtos,
			want:    acme.IncorrectResponse,
			details: []string{"does not match the key authorization"},
		},
		{
			name:    "extension not critical",
			id:      dnsID("example.com"),
			cert:    certOpts{dnsNames: []string{"example.com"}, keyAuth: testKeyAuth, notCritical: true},
			protos:  acmeProtos,
			want:    acme.IncorrectResponse,
			details: []string{"not marked critical"},
		},
		{
			name:    "extension missing",
			id:      dnsID("example.com"),
			cert:    certOpts{dnsNames: []string{"example.com"}, noExt: true},
			protos:  acmeProtos,
			want:    acme.IncorrectResponse,
			details: []string{"missing acmeIdentifier"},
		},
		{
			name:    "extension value not an OCTET STRING",
			id:      dnsID("example.com"),
			cert:    certOpts{dnsNames: []string{"example.com"}, keyAuth: testKeyAuth, rawValue: []byte{0x05, 0x00}},
			protos:  acmeProtos,
			want:    acme.IncorrectResponse,
			details: []string{"not an OCTET STRING"},
		},
		{
			name:    "extra SAN",
			id:      dnsID("example.com"),
			cert:    certOpts{dnsNames: []string{"example.com", "evil.example"}, keyAuth: testKeyAuth},
			protos:  acmeProtos,
			want:    acme.IncorrectResponse,
			details: []string{"exactly one subjectAltName", "found 2"},
		},
		{
			name:    "extra SAN of another kind",
			id:      dnsID("example.com"),
			cert:    certOpts{dnsNames: []string{"example.com"}, ips: []net.IP{net.ParseIP("127.0.0.1")}, keyAuth: testKeyAuth},
			protos:  acmeProtos,
			want:    acme.IncorrectResponse,
			details: []string{"found 2"},
		},
		{
			name:    "wrong SAN",
			id:      dnsID("example.com"),
			cert:    certOpts{dnsNames: []string{"example.org"}, keyAuth: testKeyAuth},
			protos:  acmeProtos,
			want:    acme.IncorrectResponse,
			details: []string{"not dNSName example.com", "example.org"},
		},
		{
			// RFC 8737 §3: the dNSName is the identifier itself; a
			// trailing dot names it differently.
			name:    "SAN with trailing dot",
			id:      dnsID("example.com"),
			cert:    certOpts{dnsNames: []string{"example.com."}, keyAuth: testKeyAuth},
			protos:  acmeProtos,
			want:    acme.IncorrectResponse,
			details: []string{"not dNSName example.com", "example.com."},
		},
		{
			name:    "SAN in other case",
			id:      dnsID("example.com"),
			cert:    certOpts{dnsNames: []string{"Example.COM"}, keyAuth: testKeyAuth},
			protos:  acmeProtos,
			wantSNI: "example.com",
		},
		{
			name:    "dNSName SAN for ip identifier",
			id:      ipID("127.0.0.1"),
			cert:    certOpts{dnsNames: []string{"127.0.0.1"}, keyAuth: testKeyAuth},
			protos:  acmeProtos,
			want:    acme.IncorrectResponse,
			details: []string{"not iPAddress 127.0.0.1"},
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			listen := tc.listen
			if listen == "" {
				listen = "127.0.0.1"
			}
			port, snis := startTLS(t, listen, alpnCert(t, tc.cert), tc.protos)
			dnsSrv := startDNS(t)
			v := newVA(t, Config{TLSPort: port, DNSResolver: dnsSrv.Addr(), Timeout: 2 * time.Second})
			err := v.Validate(t.Context(), tc.id, acme.ChallengeTLSALPN01, testToken, testKeyAuth)
			checkResult(t, err, tc.id, tc.want, tc.details...)
			if tc.wantSNI != "" {
				if got := snis(); len(got) != 1 || got[0] != tc.wantSNI {
					t.Fatalf("SNI %v, want %q", got, tc.wantSNI)
				}
			}
		})
	}
}

func TestTLSALPN01Failures(t *testing.T) {
	dnsSrv := startDNS(t)
	id := dnsID("example.com")

	t.Run("connection refused", func(t *testing.T) {
		v := newVA(t, Config{TLSPort: freePort(t, "127.0.0.1"), DNSResolver: dnsSrv.Addr()})
		err := v.Validate(t.Context(), id, acme.ChallengeTLSALPN01, testToken, testKeyAuth)
		checkResult(t, err, id, acme.Connection, "connection refused")
	})

	t.Run("not TLS", func(t *testing.T) {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		defer func() { _ = ln.Close() }()
		go func() {
			for {
				c, err := ln.Accept()
				if err != nil {
					return
				}
				_, _ = c.Write([]byte("HTTP/1.1 400 Bad Request\r\n\r\n"))
				_ = c.Close()
			}
		}()
		v := newVA(t, Config{TLSPort: ln.Addr().(*net.TCPAddr).Port, DNSResolver: dnsSrv.Addr()})
		err = v.Validate(t.Context(), id, acme.ChallengeTLSALPN01, testToken, testKeyAuth)
		checkResult(t, err, id, acme.TLS, "handshake")
	})

	t.Run("NXDOMAIN", func(t *testing.T) {
		srv := startDNS(t)
		srv.SetDefaultA(nil)
		v := newVA(t, Config{TLSPort: 1, DNSResolver: srv.Addr()})
		err := v.Validate(t.Context(), id, acme.ChallengeTLSALPN01, testToken, testKeyAuth)
		checkResult(t, err, id, acme.DNS, "NXDOMAIN looking up A for example.com")
	})
}

// silentTLSPort listens on 127.0.0.1 and accepts connections without ever
// answering a ClientHello; accepted is closed once the first connection's
// ClientHello has begun to arrive.
func silentTLSPort(t *testing.T) (port int, accepted <-chan struct{}) {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	got, done := make(chan struct{}), make(chan struct{})
	t.Cleanup(func() {
		close(done)
		_ = ln.Close()
	})
	go func() {
		c, err := ln.Accept()
		if err != nil {
			return
		}
		// Signal once the first byte of the ClientHello arrives: the
		// client's dial has returned and its handshake has begun (an
		// accepted connection alone may still be in the client's dial).
		var b [1]byte
		_, _ = c.Read(b[:])
		close(got)
		<-done
		_ = c.Close()
	}()
	return ln.Addr().(*net.TCPAddr).Port, got
}

// TestTLSALPN01Interrupted: a validation whose handshake is cut short by
// its context fails as http-01's exchange does (TestHTTP01Cancelled), a
// connection problem: "validation cancelled" when the context was
// cancelled, a timeout when its deadline passed; not a tls problem
// blaming the server's TLS.
func TestTLSALPN01Interrupted(t *testing.T) {
	id := dnsID("example.com")
	t.Run("cancelled", func(t *testing.T) {
		port, accepted := silentTLSPort(t)
		v := newVA(t, Config{TLSPort: port, DNSResolver: startDNS(t).Addr(), Timeout: 5 * time.Second})
		ctx, cancel := context.WithCancel(t.Context())
		go func() { <-accepted; cancel() }()
		err := v.Validate(ctx, id, acme.ChallengeTLSALPN01, testToken, testKeyAuth)
		checkResult(t, err, id, acme.Connection, "tls-alpn-01 handshake with 127.0.0.1:", "validation cancelled")
	})
	t.Run("deadline", func(t *testing.T) {
		port, _ := silentTLSPort(t)
		v := newVA(t, Config{TLSPort: port, DNSResolver: startDNS(t).Addr(), Timeout: 300 * time.Millisecond})
		err := v.Validate(t.Context(), id, acme.ChallengeTLSALPN01, testToken, testKeyAuth)
		checkResult(t, err, id, acme.Connection, "tls-alpn-01 handshake with 127.0.0.1:", "timeout")
	})
}

func TestReverseName(t *testing.T) {
	for in, want := range map[string]string{
		"192.0.2.5":   "5.2.0.192.in-addr.arpa",
		"2001:db8::1": "1.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.8.b.d.0.1.0.0.2.ip6.arpa",
	} {
		got, err := ReverseName(in)
		if err != nil || got != want {
			t.Errorf("ReverseName(%s) = %q, %v; want %q", in, got, err, want)
		}
	}
	if _, err := ReverseName("nope"); err == nil {
		t.Error("ReverseName(nope) succeeded")
	}
}
