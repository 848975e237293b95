package store_test

import (
	"context"
	"errors"
	"slices"
	"testing"
	"time"

	"github.com/certgate/certgate/internal/store"
	"github.com/certgate/certgate/internal/store/storetest"
)

// TestEachCertificateEndingAfter: the certificates stored under the
// issuers named whose notAfter is after the time given are read, in serial
// order, revoked ones included, on both engines; others' issuers and
// earlier notAfters are not; fn's error stops the reading and is returned.
func TestEachCertificateEndingAfter(t *testing.T) {
	storetest.EachStore(t, func(t *testing.T, st *store.Store) {
		ctx := context.Background()
		now := time.Now().UTC().Truncate(time.Second)
		rec := func(serial, iss string, notAfter time.Time, status string) *store.Certificate {
			return &store.Certificate{Serial: serial, Issuer: iss, DER: []byte("der-" + serial), SANs: []string{serial + ".example.test"},
				KeyType: "ECDSA P-256", FingerprintSHA256: "fp-" + serial, NotBefore: now.Add(-90 * 24 * time.Hour), NotAfter: notAfter,
				Status: status, CreatedAt: now, Source: store.SourceImported}
		}
		if err := st.InsertCertificates(ctx, []*store.Certificate{
			rec("0a", "local", now.Add(time.Hour), store.StatusValid),
			rec("0b", "CN=Old Intermediate", now.Add(-time.Hour), store.StatusValid),
			rec("0c", "CN=Old Intermediate", now.Add(2*time.Hour), store.StatusValid),
			rec("0d", "local", now.Add(-3*24*time.Hour), store.StatusValid),
			rec("0e", "CN=Another CA", now.Add(time.Hour), store.StatusValid),
		}); err != nil {
			t.Fatal(err)
		}
		if err := st.RevokeCertificate(ctx, "0c", 4, now); err != nil { // superseded
			t.Fatal(err)
		}
		var got []string
		err := st.EachCertificateEndingAfter(ctx, []string{"local", "CN=Old Intermediate"}, now.Add(-2*time.Hour), func(der []byte, notAfter time.Time) error {
			got = append(got, string(der)+"@"+notAfter.Sub(now).String())
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
		if want := []string{"der-0a@1h0m0s", "der-0b@-1h0m0s", "der-0c@2h0m0s"}; !slices.Equal(got, want) {
			t.Errorf("read %q, want %q", got, want)
		}
		stop := errors.New("stop")
		n := 0
		if err := st.EachCertificateEndingAfter(ctx, []string{"local", "CN=Old Intermediate"}, now.Add(-2*time.Hour), func([]byte, time.Time) error {
			n++
			return stop
		}); !errors.Is(err, stop) || n != 1 {
			t.Errorf("fn's error: %v after %d calls, want it returned after the first", err, n)
		}
		if err := st.EachCertificateEndingAfter(ctx, nil, now, func([]byte, time.Time) error { return stop }); err != nil {
			t.Errorf("no issuers: %v, want none read", err)
		}
	})
}
