package store

import (
	"bytes"
	"context"
	"database/sql"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"time"
)

// Profile is a stored certificate profile: its name and its JSON document
// (internal/policy.Profile, which validates it).
type Profile struct {
	Name      string    // unique profile name
	Spec      []byte    // the profile as JSON
	CreatedAt time.Time // UTC
	UpdatedAt time.Time // UTC
}

// EAB key statuses.
const (
	EABActive  = "active"  // accepts new bindings
	EABUsed    = "used"    // single-use key that bound its account
	EABRevoked = "revoked" // refuses new bindings
)

// EABKey is an External Account Binding key (RFC 8555 §7.3.4): the MAC key
// a CA hands out of band, and what binding to it gives an account.
type EABKey struct {
	KID        string            // key ID, the kid of the binding JWS
	HMACKey    []byte            // raw key bytes (clients receive them base64url)
	Profile    string            // the profile the key is for
	Owner      string            // team or person the bound accounts belong to
	Attributes map[string]string // custom attributes of the accounts it binds
	Allow      []string          // identifier rules (internal/policy.Rule); empty: the profile's
	SingleUse  bool              // binds one account, then becomes used
	Status     string            // EABActive, EABUsed or EABRevoked
	Expires    time.Time         // zero: never expires
	CreatedAt  time.Time         // UTC
	UsedAt     time.Time         // last binding
	AccountID  string            // last bound account
}

const insertAccountSQL = `INSERT INTO accounts (id, key_thumbprint, jwk, status, contact, tos_agreed, created_at, eab_kid, attributes)
	VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)`

func accountArgs(a *Account) []any {
	contact, _ := json.Marshal(nonNil(a.Contact))
	var kid any
	if a.EABKid != "" {
		kid = a.EABKid
	}
	return []any{a.ID, a.KeyThumbprint, string(a.JWK), a.Status, string(contact), a.TOSAgreed, ts(a.CreatedAt), kid, marshalAttributes(a.Attributes)}
}

func marshalAttributes(m map[string]string) string {
	if len(m) == 0 {
		return "{}"
	}
	b, _ := json.Marshal(m)
	return string(b)
}

// unmarshalAttributes decodes a stored attributes object; nil for none.
func unmarshalAttributes(s string) (map[string]string, error) {
	if s == "" || s == "{}" {
		return nil, nil
	}
	var m map[string]string
	if err := json.Unmarshal([]byte(s), &m); err != nil {
		return nil, err
	}
	return m, nil
}

// ---- profiles ----

// PutProfile inserts p, or with update replaces the stored profile of the
// same name whatever it holds, and appends events (nil ones skipped) to
// the audit log in the same transaction. ErrConflict when inserting an
// existing name; ErrNotFound when updating a missing one; an append's
// error rolls the change back. An update gives the events' Replaced hooks
// the *Profile it replaces. A change derived from a read of the profile
// (read, modify, write back) uses UpdateProfileIf instead, so that it
// cannot overwrite a change committed after that read.
func (s *Store) PutProfile(ctx context.Context, p *Profile, update bool, events ...*AuditAppend) error {
	if update {
		return s.updateProfile(ctx, p, nil, events)
	}
	return s.tx(ctx, func(tx txConn) error {
		_, err := tx.ExecContext(ctx, `INSERT INTO profiles (name, spec, created_at, updated_at) VALUES (?, ?, ?, ?)`,
			p.Name, string(p.Spec), ts(p.CreatedAt), ts(p.UpdatedAt))
		if isUniqueViolation(err) {
			return fmt.Errorf("profile %s: %w", p.Name, ErrConflict)
		}
		if err != nil {
			return fmt.Errorf("insert profile: %w", err)
		}
		return appendAll(ctx, tx, events)
	})
}

// UpdateProfileIf is PutProfile's update (ErrNotFound, events and their
// Replaced hooks alike) made only while the stored profile's spec is still
// prev, the Spec of the Profile the caller read and derived p from: the
// transaction reads the row locked (SELECT ... FOR UPDATE on PostgreSQL;
// SQLite's write transaction is exclusive) and compares. ErrStale, with
// nothing changed, when another change has replaced the spec since: the
// caller reads again and reapplies its change, or reports the conflict. A
// concurrent change that left the spec as it was (back and forth) is no
// conflict: p derives from the same spec. A nil prev stands for the empty
// spec (it never means "any").
func (s *Store) UpdateProfileIf(ctx context.Context, p *Profile, prev []byte, events ...*AuditAppend) error {
	if prev == nil {
		prev = []byte{}
	}
	return s.updateProfile(ctx, p, prev, events)
}

// updateProfile replaces the stored profile p.Name; with prev non-nil only
// while its spec is prev (else ErrStale).
func (s *Store) updateProfile(ctx context.Context, p *Profile, prev []byte, events []*AuditAppend) error {
	return s.tx(ctx, func(tx txConn) error {
		if err := s.profileUnchanged(ctx, tx, p.Name, prev, false, events); err != nil {
			return err
		}
		res, err := tx.ExecContext(ctx, `UPDATE profiles SET spec = ?, updated_at = ? WHERE name = ?`, string(p.Spec), ts(p.UpdatedAt), p.Name)
		if err := checkOne(res, err, "update profile"); err != nil {
			if errors.Is(err, ErrStale) {
				return fmt.Errorf("profile %s: %w", p.Name, ErrNotFound)
			}
			return err
		}
		return appendAll(ctx, tx, events)
	})
}

// profileUnchanged is the check of a change to the stored profile name
// within tx, before the change: with prev non-nil, unused, or events with
// a Replaced hook, it reads the row locked (readLocked); ErrNotFound when
// there is none, ErrStale when prev is non-nil and the spec is no longer
// prev; with unused, a *ProfileInUseError when something refers to the
// profile (profileUse, counted after the lock: see shareProfile); then it
// hands the row to the Replaced hooks.
func (s *Store) profileUnchanged(ctx context.Context, tx txConn, name string, prev []byte, unused bool, events []*AuditAppend) error {
	if prev == nil && !unused && !wantsReplaced(events) {
		return nil
	}
	old, err := readLocked(ctx, s, tx, scanProfile, `FOR UPDATE`, `SELECT name, spec, created_at, updated_at FROM profiles WHERE name = ?`, name)
	if err != nil {
		return fmt.Errorf("profile %s: %w", name, err)
	}
	if prev != nil && !bytes.Equal(old.Spec, prev) {
		return fmt.Errorf("profile %s changed since it was read: %w", name, ErrStale)
	}
	if unused {
		use, err := profileUse(ctx, tx, name)
		if err != nil {
			return err
		}
		if use.InUse() {
			return &ProfileInUseError{Name: name, Use: use}
		}
	}
	return callReplaced(events, old)
}

func scanProfile(row interface{ Scan(...any) error }) (*Profile, error) {
	var p Profile
	var spec string
	var c, u int64
	if err := row.Scan(&p.Name, &spec, &c, &u); err != nil {
		if errors.Is(err, sql.ErrNoRows) {
			return nil, ErrNotFound
		}
		return nil, fmt.Errorf("scan profile: %w", err)
	}
	p.Spec, p.CreatedAt, p.UpdatedAt = []byte(spec), fromTS(c), fromTS(u)
	return &p, nil
}

// GetProfile returns the stored profile called name, or ErrNotFound.
func (s *Store) GetProfile(ctx context.Context, name string) (*Profile, error) {
	return scanProfile(s.r.QueryRowContext(ctx, `SELECT name, spec, created_at, updated_at FROM profiles WHERE name = ?`, name))
}

// ListProfiles returns every stored profile by name.
func (s *Store) ListProfiles(ctx context.Context) ([]Profile, error) {
	rows, err := s.r.QueryContext(ctx, `SELECT name, spec, created_at, updated_at FROM profiles ORDER BY name`)
	if err != nil {
		return nil, fmt.Errorf("list profiles: %w", err)
	}
	defer rows.Close()
	var out []Profile
	for rows.Next() {
		p, err := scanProfile(rows)
		if err != nil {
			return nil, err
		}
		out = append(out, *p)
	}
	return out, rows.Err()
}

// DeleteProfile deletes the stored profile called name and appends events
// (nil ones skipped) to the audit log in the same transaction; ErrNotFound
// when there is none. Orders and EAB keys keep naming it. An append's
// error rolls the deletion back. The events' Replaced hooks get the
// deleted *Profile. It is DeleteProfileWhen with no condition.
func (s *Store) DeleteProfile(ctx context.Context, name string, events ...*AuditAppend) error {
	return s.DeleteProfileWhen(ctx, name, ProfileDeletion{}, events...)
}

// DeleteProfileIf is DeleteProfile (ErrNotFound, events and their
// Replaced hooks alike) made only while the stored profile's spec is
// still prev, the Spec of the Profile the caller read: the transaction
// reads the row locked (SELECT ... FOR UPDATE on PostgreSQL; SQLite's
// write transaction is exclusive) and compares, as UpdateProfileIf does.
// ErrStale, with nothing deleted, when another change has replaced the
// spec since. A nil prev stands for the empty spec (it never means "any").
func (s *Store) DeleteProfileIf(ctx context.Context, name string, prev []byte, events ...*AuditAppend) error {
	return s.DeleteProfileWhen(ctx, name, ProfileDeletion{CheckSpec: true, Spec: prev}, events...)
}

// ProfileDeletion is what DeleteProfileWhen checks, within the deleting
// transaction and with the profile's row locked, before it deletes.
type ProfileDeletion struct {
	// CheckSpec deletes only while the stored spec is still Spec (nil
	// stands for the empty spec), the Spec of the Profile the caller
	// read; ErrStale otherwise (DeleteProfileIf).
	CheckSpec bool
	Spec      []byte // see CheckSpec
	// Unused deletes only while nothing refers to the profile: no EAB key
	// that is not revoked, no order, no certificate (ProfileUse, counted
	// in the transaction); a *ProfileInUseError otherwise. On PostgreSQL
	// the row is locked before the count, and the transactions that store
	// such rows lock it too (shareProfile), so a key or order stored
	// concurrently is either counted or stored after the deletion.
	Unused bool
}

// DeleteProfileWhen is DeleteProfile (ErrNotFound, events and their
// Replaced hooks alike) made only when the checks of when pass: ErrStale
// or a *ProfileInUseError, with nothing deleted and no event recorded,
// when one fails.
func (s *Store) DeleteProfileWhen(ctx context.Context, name string, when ProfileDeletion, events ...*AuditAppend) error {
	prev := when.Spec
	if !when.CheckSpec {
		prev = nil
	} else if prev == nil {
		prev = []byte{}
	}
	return s.tx(ctx, func(tx txConn) error {
		if err := s.profileUnchanged(ctx, tx, name, prev, when.Unused, events); err != nil {
			return err
		}
		res, err := tx.ExecContext(ctx, `DELETE FROM profiles WHERE name = ?`, name)
		if err := checkOne(res, err, "delete profile"); err != nil {
			if errors.Is(err, ErrStale) {
				return fmt.Errorf("profile %s: %w", name, ErrNotFound)
			}
			return err
		}
		return appendAll(ctx, tx, events)
	})
}

// ---- EAB keys ----

// CreateEABKey inserts k and appends events (nil ones skipped) to the
// audit log in the same transaction. ErrConflict when its KID is taken; an
// append's error rolls the insert back. It first locks its profile's row
// (shareProfile).
func (s *Store) CreateEABKey(ctx context.Context, k *EABKey, events ...*AuditAppend) error {
	allow, _ := json.Marshal(nonNil(k.Allow))
	return s.tx(ctx, func(tx txConn) error {
		if err := s.shareProfile(ctx, tx, k.Profile); err != nil {
			return err
		}
		_, err := tx.ExecContext(ctx, `INSERT INTO eab_keys (kid, hmac_key, profile, owner, attributes, allow, single_use, status, expires_at, created_at)
			VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`, k.KID, b64(k.HMACKey), k.Profile, k.Owner, marshalAttributes(k.Attributes), string(allow),
			k.SingleUse, k.Status, ts(k.Expires), ts(k.CreatedAt))
		if isUniqueViolation(err) {
			return fmt.Errorf("EAB key %s: %w", k.KID, ErrConflict)
		}
		if err != nil {
			return fmt.Errorf("insert EAB key: %w", err)
		}
		return appendAll(ctx, tx, events)
	})
}

const eabCols = `kid, hmac_key, profile, owner, attributes, allow, single_use, status, expires_at, created_at, used_at, account_id`

func scanEAB(row interface{ Scan(...any) error }) (*EABKey, error) {
	var k EABKey
	var key, attrs, allow string
	var exp, c, used int64
	var acct *string
	if err := row.Scan(&k.KID, &key, &k.Profile, &k.Owner, &attrs, &allow, &k.SingleUse, &k.Status, &exp, &c, &used, &acct); err != nil {
		if errors.Is(err, sql.ErrNoRows) {
			return nil, ErrNotFound
		}
		return nil, fmt.Errorf("scan EAB key: %w", err)
	}
	var err error
	if k.HMACKey, err = unb64(key); err != nil {
		return nil, fmt.Errorf("EAB key %s: %w", k.KID, err)
	}
	if k.Attributes, err = unmarshalAttributes(attrs); err != nil {
		return nil, fmt.Errorf("EAB key %s attributes: %w", k.KID, err)
	}
	if err := json.Unmarshal([]byte(allow), &k.Allow); err != nil {
		return nil, fmt.Errorf("EAB key %s allow: %w", k.KID, err)
	}
	k.Expires, k.CreatedAt, k.UsedAt = fromTS(exp), fromTS(c), fromTS(used)
	if acct != nil {
		k.AccountID = *acct
	}
	return &k, nil
}

// GetEABKey returns the EAB key kid, or ErrNotFound.
func (s *Store) GetEABKey(ctx context.Context, kid string) (*EABKey, error) {
	return scanEAB(s.r.QueryRowContext(ctx, `SELECT `+eabCols+` FROM eab_keys WHERE kid = ?`, kid))
}

// ListEABKeys returns every EAB key, newest first.
func (s *Store) ListEABKeys(ctx context.Context) ([]*EABKey, error) {
	rows, err := s.r.QueryContext(ctx, `SELECT `+eabCols+` FROM eab_keys ORDER BY created_at DESC, kid`)
	if err != nil {
		return nil, fmt.Errorf("list EAB keys: %w", err)
	}
	defer rows.Close()
	var out []*EABKey
	for rows.Next() {
		k, err := scanEAB(rows)
		if err != nil {
			return nil, err
		}
		out = append(out, k)
	}
	return out, rows.Err()
}

// RevokeEABKey makes key kid refuse new bindings (accounts already bound
// keep working) and appends events (nil ones skipped) to the audit log in
// the same transaction. It returns the key as the revocation left it, read
// in the revocation's transaction with the row locked (so with, say, an
// account bound after the caller's last read). ErrNotFound when missing;
// ErrStale when already revoked; an append's error rolls the revocation
// back. The events' Replaced hooks get the *EABKey as it was before.
func (s *Store) RevokeEABKey(ctx context.Context, kid string, events ...*AuditAppend) (*EABKey, error) {
	var revoked *EABKey
	err := s.tx(ctx, func(tx txConn) error {
		old, err := readLocked(ctx, s, tx, scanEAB, `FOR UPDATE`, `SELECT `+eabCols+` FROM eab_keys WHERE kid = ?`, kid)
		if err != nil {
			return fmt.Errorf("EAB key %s: %w", kid, err)
		}
		if old.Status == EABRevoked {
			return fmt.Errorf("revoke EAB key %s: %w", kid, ErrStale)
		}
		if err := callReplaced(events, old); err != nil {
			return err
		}
		// The row is locked: the update changes the row just read.
		if revoked, err = scanEAB(txQueryRow(ctx, tx, `UPDATE eab_keys SET status = 'revoked' WHERE kid = ? AND status <> 'revoked' RETURNING `+eabCols, kid)); err != nil {
			if errors.Is(err, ErrNotFound) {
				return fmt.Errorf("revoke EAB key %s: %w", kid, ErrStale)
			}
			return fmt.Errorf("revoke EAB key %s: %w", kid, err)
		}
		return appendAll(ctx, tx, events)
	})
	if err != nil {
		return nil, err
	}
	return revoked, nil
}

// CreateAccountEAB inserts account a bound to the EAB key a.EABKid in one
// transaction: the key must be active and unexpired at now; it records the
// binding and, when single-use, becomes used. The spend (nil: none) is
// made after the insert, as CreateAccountSpend makes it, and events (nil
// ones skipped) are appended to the audit log in the same transaction,
// last. ErrStale when the key is no longer usable (used, revoked,
// expired); ErrConflict when a's key thumbprint is taken; ErrRateLimited
// when the spend is refused; nothing is stored, spent or appended then.
func (s *Store) CreateAccountEAB(ctx context.Context, a *Account, now time.Time, spend *RateSpend, events ...*AuditAppend) error {
	return s.tx(ctx, func(tx txConn) error {
		res, err := tx.ExecContext(ctx, `UPDATE eab_keys SET used_at = ?, account_id = ?,
			status = CASE WHEN single_use THEN 'used' ELSE status END
			WHERE kid = ? AND status = 'active' AND (expires_at = 0 OR expires_at > ?)`, ts(now), a.ID, a.EABKid, ts(now))
		if err := checkOne(res, err, "bind EAB key"); err != nil {
			return err
		}
		_, err = tx.ExecContext(ctx, insertAccountSQL, accountArgs(a)...)
		if isUniqueViolation(err) {
			return fmt.Errorf("account key: %w", ErrConflict)
		}
		if err != nil {
			return fmt.Errorf("insert account: %w", err)
		}
		if err := s.spendRates(ctx, tx, []*RateSpend{spend}); err != nil {
			return err
		}
		return appendAll(ctx, tx, events)
	})
}

// SetAccountAttributes replaces the custom attributes of account id and
// appends events (nil ones skipped) to the audit log in the same
// transaction. ErrNotFound when there is no such account; an append's
// error rolls the change back. The events' Replaced hooks get the *Account
// as it was before.
func (s *Store) SetAccountAttributes(ctx context.Context, id string, attrs map[string]string, events ...*AuditAppend) error {
	return s.tx(ctx, func(tx txConn) error {
		if err := readReplaced(ctx, s, tx, events, scanAccount, `SELECT `+accountCols+` FROM accounts WHERE id = ?`, id); err != nil {
			return fmt.Errorf("account %s: %w", id, err)
		}
		res, err := tx.ExecContext(ctx, `UPDATE accounts SET attributes = ? WHERE id = ?`, marshalAttributes(attrs), id)
		if err := checkOne(res, err, "set account attributes"); err != nil {
			if errors.Is(err, ErrStale) {
				return fmt.Errorf("account %s: %w", id, ErrNotFound)
			}
			return err
		}
		return appendAll(ctx, tx, events)
	})
}

func b64(b []byte) string { return base64.RawURLEncoding.EncodeToString(b) }

func unb64(s string) ([]byte, error) { return base64.RawURLEncoding.DecodeString(s) }
