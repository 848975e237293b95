package ra

import (
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"encoding/json"
	"errors"
	"log/slog"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/certgate/certgate/internal/acme"
	"github.com/certgate/certgate/internal/audit"
	"github.com/certgate/certgate/internal/store"
	"github.com/certgate/certgate/internal/store/storetest"
)

// flakyFinishStore fails the first fails FinishOrder calls with a
// transient error (a dropped database connection); with commitFirst the
// failed calls commit first, as when the commit's answer is lost.
type flakyFinishStore struct {
	*store.Store
	fails       int
	commitFirst bool
	mu          sync.Mutex
	calls       int
}

func (s *flakyFinishStore) FinishOrder(ctx context.Context, orderID string, c *store.Certificate, now time.Time, events ...*store.AuditAppend) error {
	s.mu.Lock()
	s.calls++
	n := s.calls
	s.mu.Unlock()
	if n > s.fails {
		return s.Store.FinishOrder(ctx, orderID, c, now, events...)
	}
	if s.commitFirst {
		if err := s.Store.FinishOrder(ctx, orderID, c, now, events...); err != nil {
			return err
		}
	}
	return errors.New("read tcp 127.0.0.1:5432: connection reset by peer")
}

// lockedBuffer is a log destination safe for concurrent writes.
type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

// TestFinalizeRetriesStoringCertificate: on both engines, a signed
// certificate whose store step (FinishOrder) fails with a transient error
// is stored by a retry: after 3 failures; after a failure whose commit
// went through (the retry finds it stored, once); and when every attempt
// fails, the certificate is not silently lost: an ERROR names its serial
// (no PEM), the audit log records certificate.store_failed for it, and
// the order becomes invalid. Before, the first failure threw the signed
// certificate away with a serverInternal problem, and the order stayed
// processing until the sweep.
func TestFinalizeRetriesStoringCertificate(t *testing.T) {
	for _, tc := range []struct {
		name        string
		fails       int
		commitFirst bool
		wantCalls   int
	}{
		{"fails 3 times", 3, false, 4},
		{"commit answer lost", 1, true, 2},
		{"fails every time", 1 << 20, false, storeAttempts},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			storetest.EachStore(t, func(t *testing.T, st *store.Store) {
				ctx := context.Background()
				now := time.Now().UTC()
				acct := &store.Account{ID: "a", KeyThumbprint: "tp", JWK: []byte("{}"), Status: "valid", CreatedAt: now}
				if err := st.CreateAccount(ctx, acct); err != nil {
					t.Fatal(err)
				}
				f := addReadyOrder(t, st, acct, "o", "x.example.test", now)
				fs := &flakyFinishStore{Store: st, fails: tc.fails, commitFirst: tc.commitFirst}
				logs := &lockedBuffer{}
				caKey, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
				alog := audit.New(st, nil)
				r := New(Config{Audit: alog}, fs, nopVA{}, cancellingIssuer{cancel: func() {}, key: caKey}, nil, slog.New(slog.NewJSONHandler(logs, nil)))
				done, err := finalizeOrder(ctx, r, f)
				if fs.calls != tc.wantCalls {
					t.Errorf("FinishOrder called %d times, want %d", fs.calls, tc.wantCalls)
				}
				stored, gerr := st.GetOrder(ctx, f.o.ID)
				if gerr != nil {
					t.Fatal(gerr)
				}
				issued, aerr := alog.List(ctx, store.AuditFilter{Action: audit.ActionCertificateIssue})
				if aerr != nil {
					t.Fatal(aerr)
				}
				lost, aerr := alog.List(ctx, store.AuditFilter{Action: audit.ActionCertificateStoreFailed})
				if aerr != nil {
					t.Fatal(aerr)
				}
				if tc.wantCalls < storeAttempts {
					if err != nil {
						t.Fatalf("finalize: %v; want the certificate stored by a retry", err)
					}
					if stored.Status != acme.StatusValid || stored.CertSerial != done.CertSerial {
						t.Fatalf("order %+v; want valid with %s", stored, done.CertSerial)
					}
					if _, err := st.GetCertificate(ctx, done.CertSerial); err != nil {
						t.Fatalf("certificate %s: %v", done.CertSerial, err)
					}
					if len(issued) != 1 || issued[0].ObjectID != done.CertSerial || len(lost) != 0 {
						t.Fatalf("audit: %d certificate.issue, %d certificate.store_failed events; want one issue of %s", len(issued), len(lost), done.CertSerial)
					}
					return
				}
				p, ok := acme.AsProblem(err)
				if !ok || p.Type != acme.ServerInternal {
					t.Fatalf("finalize: %v; want serverInternal", err)
				}
				if stored.Status != acme.StatusInvalid || stored.Error == nil || !strings.Contains(stored.Error.Detail, "could not be stored") {
					t.Fatalf("order %s with error %+v; want invalid: the certificate could not be stored", stored.Status, stored.Error)
				}
				// The ERROR record names the certificate, without its PEM.
				var serial string
				for line := range strings.Lines(logs.String()) {
					var rec map[string]any
					if err := json.Unmarshal([]byte(line), &rec); err != nil {
						t.Fatal(err)
					}
					if rec["level"] == "ERROR" && strings.HasPrefix(rec["msg"].(string), "signed certificate lost") {
						serial, _ = rec["serial"].(string)
						if rec["order"] != f.o.ID || rec["fingerprint_sha256"] == "" || rec["not_after"] == nil {
							t.Errorf("lost certificate's ERROR record lacks identifying data: %s", line)
						}
					}
				}
				if serial == "" {
					t.Fatalf("no ERROR record of the lost certificate in:\n%s", logs)
				}
				if strings.Contains(logs.String(), "CERTIFICATE-----") {
					t.Errorf("the log holds a PEM:\n%s", logs)
				}
				if len(lost) != 1 || lost[0].ObjectID != serial || !strings.Contains(lost[0].After, `"fingerprint_sha256"`) || strings.Contains(lost[0].After, "CERTIFICATE-----") {
					t.Fatalf("certificate.store_failed events %+v; want one of %s with its fingerprint and no PEM", lost, serial)
				}
				if len(issued) != 0 {
					t.Errorf("%d certificate.issue events of a certificate not stored", len(issued))
				}
				if _, err := st.GetCertificate(ctx, serial); !errors.Is(err, store.ErrNotFound) {
					t.Errorf("lost certificate %s: %v, want not stored", serial, err)
				}
				if res, err := alog.Verify(ctx); err != nil || !res.OK {
					t.Errorf("audit verify: %+v %v", res, err)
				}
			})
		})
	}
}
