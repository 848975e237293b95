package ra_test

// Benchmarks of finalize (issue 3): the CSR checks (ra.CheckCSR) and the
// built-in CA's signature (local.CA.SignLeaf) with and without the
// pre-issuance lint, and the RA's whole Finalize (CSR checks, order
// ready→processing, serial reservation, signing, parsing the leaf, storing
// the certificate) against SQLite.
//
//	go test -run '^$' -bench Finalize -benchmem ./internal/ra/

import (
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"path/filepath"
	"testing"
	"time"

	"github.com/certgate/certgate/internal/acme"
	"github.com/certgate/certgate/internal/issuer/local"
	"github.com/certgate/certgate/internal/ra"
	"github.com/certgate/certgate/internal/store"
)

const (
	benchIssuerURL = "http://localhost:8443/pki/intermediate.crt"
	benchCRLURL    = "http://localhost:8443/pki/crl"
)

func benchCA(b *testing.B, lint bool) *local.CA {
	b.Helper()
	ca, err := local.LoadOrCreate(filepath.Join(b.TempDir(), "ca"), local.Options{LintBeforeSign: lint,
		IssuerURL: benchIssuerURL, CRLURL: benchCRLURL})
	if err != nil {
		b.Fatal(err)
	}
	return ca
}

// benchCSR returns a CSR for name with a fresh P-256 key, as the load tool
// sends (CN and SAN = name).
func benchCSR(b *testing.B, name string) []byte {
	b.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		b.Fatal(err)
	}
	der, err := x509.CreateCertificateRequest(rand.Reader, &x509.CertificateRequest{Subject: pkix.Name{CommonName: name},
		DNSNames: []string{name}}, key)
	if err != nil {
		b.Fatal(err)
	}
	return der
}

func benchAccountKey(b *testing.B) crypto.PublicKey {
	b.Helper()
	k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		b.Fatal(err)
	}
	return k.Public()
}

// benchLeaf is the leaf request the RA makes for csr (local.Issuer fields).
func benchLeaf(b *testing.B, csr *x509.CertificateRequest) local.LeafRequest {
	serial, err := local.RandomSerial()
	if err != nil {
		b.Fatal(err)
	}
	nb := time.Now().UTC().Add(-time.Minute)
	return local.LeafRequest{Serial: serial, PublicKey: csr.PublicKey, DNSNames: csr.DNSNames,
		NotBefore: nb, NotAfter: nb.Add(90 * 24 * time.Hour), IssuerURL: benchIssuerURL, CRLURL: benchCRLURL}
}

func BenchmarkFinalize(b *testing.B) {
	const name = "f1.bench.test"
	ids := []acme.Identifier{{Type: acme.IdentifierDNS, Value: name}}
	csrDER := benchCSR(b, name)
	acctKey := benchAccountKey(b)
	ctx := context.Background()

	b.Run("checkcsr", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			if _, err := ra.CheckCSR(csrDER, ids, acctKey); err != nil {
				b.Fatal(err)
			}
		}
	})
	for _, lint := range []bool{false, true} {
		suffix := "/lint=off"
		if lint {
			suffix = "/lint=on"
		}
		// checkcsr+sign is the crypto of a finalize: CSR parse and
		// signature check, leaf template, (lint-sign and lint), the real
		// signature and SignLeaf's check that it signed what it linted.
		b.Run("checkcsr+sign"+suffix, func(b *testing.B) {
			ca := benchCA(b, lint)
			b.ReportAllocs()
			for b.Loop() {
				csr, err := ra.CheckCSR(csrDER, ids, acctKey)
				if err != nil {
					b.Fatal(err)
				}
				if _, err := ca.SignLeaf(ctx, benchLeaf(b, csr)); err != nil {
					b.Fatal(err)
				}
			}
		})
		b.Run("checkcsr+sign"+suffix+"/parallel", func(b *testing.B) {
			ca := benchCA(b, lint)
			b.ReportAllocs()
			b.RunParallel(func(pb *testing.PB) {
				for pb.Next() {
					csr, err := ra.CheckCSR(csrDER, ids, acctKey)
					if err != nil {
						panic(err)
					}
					if _, err := ca.SignLeaf(ctx, benchLeaf(b, csr)); err != nil {
						panic(err)
					}
				}
			})
		})
	}
	// ra is RA.Finalize as the server runs it (lint on), on ready orders
	// made ahead (NewOrder, challenge started and finished valid).
	b.Run("ra/lint=on", func(b *testing.B) {
		ca := benchCA(b, true)
		r, st, a := benchRA(b, 30*24*time.Hour, &local.Issuer{CA: ca, IssuerURL: benchIssuerURL, CRLURL: benchCRLURL})
		type ready struct {
			o      *store.Order
			authzs []*store.Authorization
			csr    []byte
		}
		var seq int64
		const chunk = 256
		b.ReportAllocs()
		b.ResetTimer()
		for done := 0; done < b.N; {
			n := min(chunk, b.N-done)
			b.StopTimer()
			orders := make([]ready, n)
			for i := range orders {
				seq++
				req := benchOrderRequest("r", seq)
				o, err := r.NewOrder(ctx, a, req)
				if err != nil {
					b.Fatal(err)
				}
				az, err := st.GetAuthorization(ctx, o.AuthzIDs[0])
				if err != nil {
					b.Fatal(err)
				}
				now := time.Now().UTC()
				ch := az.Challenges[0]
				if err := st.StartChallenge(ctx, ch.ID, now); err != nil {
					b.Fatal(err)
				}
				if err := st.FinishChallenge(ctx, &ch, nil, now, now.Add(30*24*time.Hour)); err != nil {
					b.Fatal(err)
				}
				authzs, err := st.GetAuthorizations(ctx, o.AuthzIDs)
				if err != nil {
					b.Fatal(err)
				}
				orders[i] = ready{o: o, authzs: authzs, csr: benchCSR(b, req.Identifiers[0].Value)}
			}
			b.StartTimer()
			for _, x := range orders {
				o, err := r.Finalize(ctx, a, x.o, x.authzs, x.csr, acctKey)
				if err != nil {
					b.Fatal(err)
				}
				if o.Status != acme.StatusValid {
					b.Fatalf("order %s", o.Status)
				}
			}
			done += n
		}
	})
}
