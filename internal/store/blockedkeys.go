package store

import (
	"context"
	"crypto"
	"crypto/sha256"
	"crypto/x509"
	"database/sql"
	"errors"
	"fmt"
	"time"

	"github.com/certgate/certgate/internal/acme"
)

// BlockedKey is a public key the CA refuses to certify because a
// certificate with it was revoked for keyCompromise (CA/B Forum BR
// §6.1.1.3, §4.9.1.1; RFC 8555 §7.6). Rows are written by RevokeCertificate
// in the revocation's transaction and never deleted.
type BlockedKey struct {
	SPKISHA256 []byte    // KeyHash of the key: SHA-256 of its DER SubjectPublicKeyInfo (32 bytes)
	BlockedAt  time.Time // when the revocation that blocked it was made
	Serial     string    // the revoked certificate (lower-case hex serial)
	Reason     int       // its RFC 5280 §5.3.1 reason code (acme.ReasonKeyCompromise)
}

// KeyHash returns the SHA-256 (32 bytes) of pub's DER SubjectPublicKeyInfo
// (RFC 5280 §4.1.2.7) as crypto/x509 encodes it (MarshalPKIXPublicKey), the
// key of the blocked_keys table. Hashing the re-encoded key rather than the
// bytes a certificate or CSR carries gives every encoding of one key (say,
// RSA parameters NULL or absent) one hash. Errors: a key type crypto/x509
// cannot encode.
func KeyHash(pub crypto.PublicKey) ([]byte, error) {
	spki, err := x509.MarshalPKIXPublicKey(pub)
	if err != nil {
		return nil, fmt.Errorf("key hash: %w", err)
	}
	h := sha256.Sum256(spki)
	return h[:], nil
}

// certKeyHash is KeyHash of the key of the certificate der, or, for a key
// crypto/x509 cannot encode (an algorithm it does not know, which no CSR
// could carry here), the SHA-256 of the SubjectPublicKeyInfo as the
// certificate carries it.
func certKeyHash(der []byte) ([]byte, error) {
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		return nil, fmt.Errorf("parse certificate: %w", err)
	}
	if h, err := KeyHash(cert.PublicKey); err == nil {
		return h, nil
	}
	h := sha256.Sum256(cert.RawSubjectPublicKeyInfo)
	return h[:], nil
}

// BlockedKeyProblem is the badPublicKey problem (RFC 8555 §6.7) for the
// blocked key b, what naming it ("the CSR's public key", "the account
// key"): when and by which certificate's revocation it was blocked.
func BlockedKeyProblem(b *BlockedKey, what string) *acme.Problem {
	// BlockedAt is when the key was blocked, which is the revocation's
	// time only when the certificate was revoked for keyCompromise at
	// once: a revocation for another reason turned into keyCompromise
	// later keeps its first time (RFC 5280 §5.3.1), so the message names
	// the block's time as such, not as the revocation's.
	return acme.NewProblem(acme.BadPublicKey, "%s is blocked since %s: certificate %s with this key is revoked for %s; "+
		"this CA issues no further certificate for it (CA/B Forum BR 6.1.1.3): generate a new key",
		what, b.BlockedAt.UTC().Format(time.RFC3339), b.Serial, acme.RevocationReasonName(b.Reason))
}

// keyHashOf returns c.KeyHash, or certKeyHash of c.DER when it is nil;
// nil when that DER does not parse.
func keyHashOf(c *Certificate) []byte {
	if c.KeyHash != nil {
		return c.KeyHash
	}
	h, err := certKeyHash(c.DER)
	if err != nil {
		return nil
	}
	return h
}

// keyHashArg is h as a statement argument: NULL for nil.
func keyHashArg(h []byte) any {
	if h == nil {
		return nil
	}
	return h
}

const blockedKeySQL = `SELECT blocked_at, serial, reason FROM blocked_keys WHERE spki_sha256 = ?` // primary key

// GetBlockedKey returns the blocked key whose KeyHash is spkiSHA256, or
// ErrNotFound when that key is not blocked. A primary-key point read; on
// SQLite a hot read (Store.hot), as it runs on every finalize.
func (s *Store) GetBlockedKey(ctx context.Context, spkiSHA256 []byte) (b *BlockedKey, err error) {
	err = s.hot(ctx, func(q querier) error {
		b, err = blockedKeyIn(ctx, q, spkiSHA256)
		return err
	})
	if err != nil {
		return nil, err
	}
	return b, nil
}

// blockedKeyIn reads the blocked key spkiSHA256 with q; ErrNotFound when
// it is not blocked.
func blockedKeyIn(ctx context.Context, q querier, spkiSHA256 []byte) (*BlockedKey, error) {
	b := &BlockedKey{SPKISHA256: spkiSHA256}
	var at int64
	err := q.QueryRowContext(ctx, blockedKeySQL, spkiSHA256).Scan(&at, &b.Serial, &b.Reason)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, fmt.Errorf("blocked key: %w", ErrNotFound)
	}
	if err != nil {
		return nil, fmt.Errorf("blocked key: %w", err)
	}
	b.BlockedAt = fromTS(at)
	return b, nil
}

// blockKey blocks the key whose KeyHash is h, as the revocation of the
// certificate serial at at with reason did, in tx. A key blocked already
// keeps its first row (the earliest revocation that blocked it).
func blockKey(ctx context.Context, tx txConn, h []byte, serial string, reason int, at time.Time) error {
	if _, err := tx.ExecContext(ctx, `INSERT INTO blocked_keys (spki_sha256, blocked_at, serial, reason) VALUES (?, ?, ?, ?)
		ON CONFLICT (spki_sha256) DO NOTHING`, h, ts(at), serial, reason); err != nil {
		return fmt.Errorf("block key of certificate %s: %w", serial, err)
	}
	return nil
}
