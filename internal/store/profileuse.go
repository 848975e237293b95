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
	EABKeys      int
	Orders       int
	Certificates int
}

// InUse reports whether anything refers to the profile.
func (u ProfileUse) InUse() bool { return u.EABKeys+u.Orders+u.Certificates > 0 }

// ProfileUse counts the EAB keys, orders and certificates of profile name
// (see ProfileUse), in one read transaction. Errors are the database's.
func (s *Store) ProfileUse(ctx context.Context, name string) (ProfileUse, error) {
	var u ProfileUse
	orderProfile := name // orders record the default profile as ""
	if name == DefaultProfile {
		orderProfile = ""
	}
	err := s.r.QueryRowContext(ctx, `SELECT
		(SELECT COUNT(*) FROM eab_keys WHERE profile = ? AND status <> ?),
		(SELECT COUNT(*) FROM orders WHERE profile IN (?, ?)),
		(SELECT COUNT(*) FROM certificates WHERE profile = ?)`, name, EABRevoked, name, orderProfile, name).Scan(&u.EABKeys, &u.Orders, &u.Certificates)
	if err != nil {
		return u, fmt.Errorf("profile use: %w", err)
	}
	return u, nil
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
