package inventory

import (
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/x509"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"net/netip"
	"slices"
	"strings"
	"time"

	"github.com/certgate/certgate/internal/store"
)

// Expiring returns one page of the valid certificates expiring within d
// from now, soonest first (the "expiring soon" report), leaving out those
// whose ARI replacement (RFC 9773) has been issued. It is List with
// ExpiringWithin and NotRenewed set; other filters of q apply too.
func (s *Service) Expiring(ctx context.Context, d time.Duration, q Query) (*Page, error) {
	if d <= 0 {
		return nil, JoinInvalid(invalid("within", d.String(), "the expiry window must be positive"), s.Check(ctx, q))
	}
	q.ExpiringWithin, q.NotRenewed = d, true
	return s.List(ctx, q)
}

// WeakKeys returns one page of the unexpired, unrevoked certificates with
// an RSA key under 2048 bits, an RSA key with the ROCA fingerprint
// (CVE-2017-15361: made by Infineon's vulnerable key generation, it can be
// factored; the check issuance applies too) or a SHA-1 (or MD5/MD2)
// signature. Keys that
// violate their profile's current rules are reported by Violations.
func (s *Service) WeakKeys(ctx context.Context, q Query) (*Page, error) {
	q.Weak = true
	if q.Status == "" {
		q.Status = store.StatusValid
	}
	return s.List(ctx, q)
}

// Count is one group of the issued-certificates report.
type Count struct {
	Key   string `json:"key"`   // day (YYYY-MM-DD, UTC), profile or issuer
	Count int    `json:"count"` // certificates in the group
}

// CountPage is one page of the issued-certificates report: groups in
// ascending key order; NextCursor ("" on the last page) continues after
// the last one. A page holds at most Limit groups; by day it may hold
// fewer (days without certificates have no group) but never none while a
// next page exists.
type CountPage struct {
	Items      []Count `json:"items"`                 // the groups of the page
	NextCursor string  `json:"next_cursor,omitempty"` // continues after the last group; "" on the last page
}

// countCursor is the issued report's pagination token: the grouping and
// the key of the last group returned, base64url-encoded JSON.
type countCursor struct {
	By  string `json:"b"`
	Key string `json:"k"`
}

// Issued returns one page of the counts of the certificates whose validity
// began (NotBefore) in the last since, grouped by "day", "profile" or
// "issuer" (all sources: issued and imported), in key order. limit is the
// page size, 1..1000 (0: DefaultLimit); cursor the NextCursor of the
// previous page ("" for the first). Errors: ErrInvalid (wrapped, each bad
// parameter named) for another grouping, a window that is not positive, a
// bad limit or a malformed cursor or one of another grouping; or a
// storage error.
func (s *Service) Issued(ctx context.Context, by string, since time.Duration, limit int, cursor string) (*CountPage, error) {
	var errs []error
	switch by {
	case store.ByDay, store.ByProfile, store.ByIssuer:
	default:
		errs = append(errs, invalid("by", by, "group by %q (day, profile or issuer)", by))
	}
	if since <= 0 {
		errs = append(errs, invalid("since", since.String(), "the report window must be positive"))
	}
	if limit == 0 {
		limit = DefaultLimit
	}
	if limit < 1 || limit > 1000 {
		errs = append(errs, invalid("limit", limit, "limit %d (1 to 1000)", limit))
	}
	var after string
	if cursor != "" {
		b, err := base64.RawURLEncoding.DecodeString(cursor)
		var c countCursor
		if err == nil {
			err = json.Unmarshal(b, &c)
		}
		switch {
		case err != nil || c.Key == "" || !store.PlainText(c.Key) || (c.By == store.ByDay && !isDay(c.Key)):
			// A key with a NUL (a "\u0000" escape) is no group's:
			// PostgreSQL's text type refuses it (a 500).
			errs = append(errs, invalid("cursor", cursor, "malformed cursor"))
		case c.By != by:
			errs = append(errs, invalid("cursor", cursor, "the cursor belongs to a report grouped by %q, not %q", c.By, by))
		default:
			after = c.Key
		}
	}
	if err := errors.Join(errs...); err != nil {
		return nil, err
	}
	now := s.now().UTC()
	rows, more, err := s.st.CountCertificatesBy(ctx, by, now.Add(-since), now.Add(time.Nanosecond), after, limit)
	if err != nil {
		return nil, fmt.Errorf("issued report: %w", err)
	}
	p := &CountPage{Items: make([]Count, len(rows))}
	for i, r := range rows {
		p.Items[i] = Count{Key: r.Key, Count: r.Count}
	}
	if more && len(rows) > 0 {
		b, _ := json.Marshal(countCursor{By: by, Key: rows[len(rows)-1].Key})
		p.NextCursor = base64.RawURLEncoding.EncodeToString(b)
	}
	return p, nil
}

// isDay reports whether k is a day key (YYYY-MM-DD).
func isDay(k string) bool {
	_, err := time.Parse(time.DateOnly, k)
	return err == nil
}

// KeyInfo describes a public key for the inventory: its type as the RA
// names it ("RSA 2048", "ECDSA P-256", "Ed25519") and its size in bits.
func KeyInfo(pub crypto.PublicKey) (keyType string, bits int) {
	switch k := pub.(type) {
	case *rsa.PublicKey:
		return fmt.Sprintf("RSA %d", k.N.BitLen()), k.N.BitLen()
	case *ecdsa.PublicKey:
		return "ECDSA " + k.Curve.Params().Name, k.Curve.Params().BitSize
	case ed25519.PublicKey:
		return "Ed25519", 256
	default:
		return fmt.Sprintf("%T", pub), 0
	}
}

// Record builds the inventory record of a parsed certificate that did not
// come from an ACME order: issuer is the issuer DN, names the DNS names
// (lower-cased, without a trailing dot, each once) and IP addresses (when there are none, the subject common name if it is
// a host name or IP address, see cnName, and the certificate is not a CA),
// status valid, profile "default", the given source and chain (PEM, leaf
// first). The caller sets CreatedAt.
func Record(cert *x509.Certificate, chainPEM, source string) *store.Certificate {
	fp := sha256.Sum256(cert.Raw)
	var names []string
	for _, n := range cert.DNSNames {
		// Lower case without the trailing dot of an absolute name, as
		// NormalizeName writes searched names, so searches find it.
		n = strings.TrimSuffix(strings.ToLower(n), ".")
		if n != "" && !slices.Contains(names, n) {
			names = append(names, n)
		}
	}
	for _, ip := range cert.IPAddresses {
		names = append(names, ip.String())
	}
	if len(names) == 0 && !cert.IsCA {
		if n, ok := cnName(cert.Subject.CommonName); ok {
			names = append(names, n)
		}
	}
	kt, bits := KeyInfo(cert.PublicKey)
	return &store.Certificate{Serial: cert.SerialNumber.Text(16), Issuer: cert.Issuer.String(),
		DER: cert.Raw, ChainPEM: chainPEM, SANs: names, KeyType: kt, KeyBits: bits,
		SignatureAlgorithm: cert.SignatureAlgorithm.String(), FingerprintSHA256: hex.EncodeToString(fp[:]),
		NotBefore: cert.NotBefore.UTC(), NotAfter: cert.NotAfter.UTC(), Status: store.StatusValid,
		Profile: store.DefaultProfile, Source: source, Attributes: map[string]string{}}
}

// cnName returns the subject common name cn as an inventory name when it
// is an IP address (in canonical form) or a fully qualified DNS name: at
// least two labels of letters, digits, hyphens (not first or last) and
// underscores, 1 to 63 octets each, 253 in all, an optional leading "*."
// wildcard label and trailing dot; lower-cased. CNs such as "R11" or
// "ACME Corp Root CA" are not names (RFC 1123 §2.1, CA/B BR §7.1.4.3).
func cnName(cn string) (string, bool) {
	if ip, err := netip.ParseAddr(cn); err == nil {
		return ip.Unmap().String(), true
	}
	n := strings.TrimSuffix(strings.ToLower(cn), ".")
	host := strings.TrimPrefix(n, "*.")
	if len(n) > 253 || !strings.Contains(host, ".") {
		return "", false
	}
	for _, label := range strings.Split(host, ".") {
		if len(label) == 0 || len(label) > 63 || label[0] == '-' || label[len(label)-1] == '-' {
			return "", false
		}
		for i := 0; i < len(label); i++ {
			c := label[i]
			if !(c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '-' || c == '_') {
				return "", false
			}
		}
	}
	return n, true
}
