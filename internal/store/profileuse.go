package store

import (
	"context"
	"fmt"
	"strconv"
	"strings"
)

// ProfileUse counts what still refers to a certificate profile: its EAB
// keys that are not revoked (active or used), and the orders and
// certificates recorded under it (any status).
type ProfileUse struct {
	EABKeys      int // EAB keys, active or used
	Orders       int // orders of any status
	Certificates int // certificates of any status
}

// InUse reports whether anything refers to the profile.
func (u ProfileUse) InUse() bool { return u.EABKeys+u.Orders+u.Certificates > 0 }

// profileUse counts the EAB keys, orders and certificates of profile name
// (see ProfileUse) with q: within the deleting transaction
// (DeleteProfileWhen with Unused, after the row lock), as a count read
// before it may be stale by the time the deletion runs. Errors are the
// database's.
func profileUse(ctx context.Context, q querier, name string) (ProfileUse, error) {
	var u ProfileUse
	orderProfile := name // orders record the default profile as ""
	if name == DefaultProfile {
		orderProfile = ""
	}
	err := q.QueryRowContext(ctx, profileUseSQL, name, EABRevoked, name, orderProfile, name).Scan(&u.EABKeys, &u.Orders, &u.Certificates)
	if err != nil {
		return u, fmt.Errorf("profile use: %w", err)
	}
	return u, nil
}

// profileUseSQL counts what refers to a profile (profileUse); the
// certificates by certificates_profile.
const profileUseSQL = `SELECT
		(SELECT COUNT(*) FROM eab_keys WHERE profile = ? AND status <> ?),
		(SELECT COUNT(*) FROM orders WHERE profile IN (?, ?)),
		(SELECT COUNT(*) FROM certificates WHERE profile = ?)`

// ProfileInUseError is the error of a deletion with Unused
// (DeleteProfileWhen) of a profile that something still refers to:
// nothing was deleted. errors.Is(err, ErrConflict) holds.
type ProfileInUseError struct {
	Name string     // the profile
	Use  ProfileUse // what referred to the profile, counted in the deleting transaction
}

// Error implements error: "profile NAME is still used by ..." (ProfileUse.String).
func (e *ProfileInUseError) Error() string {
	return fmt.Sprintf("profile %s is still used by %s", e.Name, e.Use)
}

// Unwrap returns ErrConflict.
func (e *ProfileInUseError) Unwrap() error { return ErrConflict }

// shareProfile is the first step, on PostgreSQL, of a transaction that
// stores a row referring to profile name (an order, whose "" is
// DefaultProfile; an EAB key; a certificate without an order): it locks
// the stored profile's row, if there is one, FOR KEY SHARE until the
// transaction ends. A deletion with Unused locks that row FOR UPDATE
// before it counts the profile's use, so the two wait for each other: a
// deletion that locked first commits before the row is stored (the row
// then names a deleted profile, as after a forced deletion); a row whose
// transaction locked first is committed, and counted, before the deletion
// counts. FOR KEY SHARE does not wait for a change of the profile's spec
// (UPDATE of a non-key column), nor for another row's transaction. SQLite
// needs nothing: its write transactions are exclusive.
//
// insertOrder takes the lock in its INSERT statement (insertOrderPG).
func (s *Store) shareProfile(ctx context.Context, tx txConn, name string) error {
	if s.engine != EnginePostgres {
		return nil
	}
	if _, err := tx.ExecContext(ctx, shareProfileSQL, profileRow(name)); err != nil {
		return fmt.Errorf("lock profile %s: %w", name, err)
	}
	return nil
}

// shareProfileSQL locks the stored profile named by its argument, if
// there is one, FOR KEY SHARE (PostgreSQL only).
const shareProfileSQL = `SELECT 1 FROM profiles WHERE name = ? FOR KEY SHARE`

// profileRow returns the name of the stored profile's row that a row
// naming profile refers to: DefaultProfile for "", as orders record it.
func profileRow(profile string) string {
	if profile == "" {
		return DefaultProfile
	}
	return profile
}

// String lists the non-zero counts, e.g. "2 EAB keys not revoked, 1 order,
// 3 certificates"; "nothing" when the profile is unused.
func (u ProfileUse) String() string {
	var parts []string
	add := func(n int, one, many string) {
		switch {
		case n == 1:
			parts = append(parts, "1 "+one)
		case n > 1:
			parts = append(parts, strconv.Itoa(n)+" "+many)
		}
	}
	add(u.EABKeys, "EAB key not revoked", "EAB keys not revoked")
	add(u.Orders, "order", "orders")
	add(u.Certificates, "certificate", "certificates")
	if len(parts) == 0 {
		return "nothing"
	}
	return strings.Join(parts, ", ")
}

// ProfileKnown reports whether name is a profile a certificate filter may
// name: DefaultProfile, a stored profile, or the profile recorded on some
// certificate (one issued or imported under a profile deleted since).
// Three index lookups at most (certificates_profile, migration 00022).
// Errors are the database's.
func (s *Store) ProfileKnown(ctx context.Context, name string) (bool, error) {
	if name == DefaultProfile {
		return true, nil
	}
	var known bool
	err := s.r.QueryRowContext(ctx, profileKnownSQL, name, name).Scan(&known)
	if err != nil {
		return false, fmt.Errorf("profile lookup: %w", err)
	}
	return known, nil
}

// profileKnownSQL is ProfileKnown's lookup.
const profileKnownSQL = `SELECT EXISTS (SELECT 1 FROM profiles WHERE name = ?) OR EXISTS (SELECT 1 FROM certificates WHERE profile = ?)`
