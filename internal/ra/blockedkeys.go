package ra

import (
	"context"
	"crypto"
	"errors"

	jose "github.com/go-jose/go-jose/v4"

	"github.com/certgate/certgate/internal/acme"
	"github.com/certgate/certgate/internal/store"
)

// checkKeyNotBlocked refuses pub when a certificate with it was revoked
// for keyCompromise (store.BlockedKey; CA/B Forum BR §6.1.1.3: the CA must
// reject a certificate request whose key is known to be compromised), with
// a badPublicKey problem (RFC 8555 §6.7) whose detail, beginning with
// what ("the CSR's public key", "the account key"), says when and by which
// certificate's revocation. One primary-key read (store.GetBlockedKey).
func (r *RA) checkKeyNotBlocked(ctx context.Context, pub crypto.PublicKey, what string) error {
	h, err := store.KeyHash(pub)
	if err != nil {
		return acme.NewProblem(acme.BadPublicKey, "%s cannot be encoded: %v", what, err)
	}
	b, err := r.store.GetBlockedKey(ctx, h)
	switch {
	case errors.Is(err, store.ErrNotFound):
		return nil
	case err != nil:
		return r.internal(ctx, "blocked key lookup", err)
	}
	return blockedKeyProblem(b, what)
}

// blockedKeyProblem is the badPublicKey problem (RFC 8555 §6.7) for the
// blocked key b, what naming it ("the CSR's public key", "the account
// key").
func blockedKeyProblem(b *store.BlockedKey, what string) *acme.Problem {
	return store.BlockedKeyProblem(b, what)
}

// checkNewAccountKey checks the account key jwk (JSON) of a new account or
// the new key of a key change: within the account key policy
// (CheckAccountKey: badPublicKey), and not blocked (checkKeyNotBlocked: a
// key known to be compromised cannot authenticate a new account either;
// its holder may not be its owner).
func (r *RA) checkNewAccountKey(ctx context.Context, jwk []byte) error {
	var k jose.JSONWebKey
	if err := k.UnmarshalJSON(jwk); err != nil {
		return r.internal(ctx, "account key", err)
	}
	if err := CheckAccountKey(k.Key); err != nil {
		return err
	}
	return r.checkKeyNotBlocked(ctx, k.Key, "the account key")
}
