// Package auth authenticates callers of the admin API and decides what
// they may do: API tokens (created with `certgate token create`, stored as
// SHA-256 hashes, sent as "Authorization: Bearer", RFC 6750 §2.1), roles,
// and the one permission table that both the API and docs/api.md use; and
// the web dashboard's sign-in sessions (Sessions), which act with the role
// of the token signed in with, or, signed in with OpenID Connect (OIDC),
// with the role mapped from the ID token's claims.
package auth

import (
	"fmt"
	"slices"
	"strings"
)

// Role is what a token holder is: one of Roles.
type Role string

// The roles, from most to least powerful.
const (
	// RoleAdmin may do everything, including managing tokens.
	RoleAdmin Role = "admin"
	// RoleApprover reads accounts, orders, certificates, reports,
	// profiles and approvals (not tokens, the audit log or EAB keys) and
	// decides on approvals.
	RoleApprover Role = "approver"
	// RoleOperator reads what the approver reads and EAB keys (not tokens
	// or the audit log) and runs day-to-day changes: revoking
	// certificates, deactivating accounts.
	RoleOperator Role = "operator"
	// RoleAuditor reads everything, including the audit log and the token
	// list, and changes nothing.
	RoleAuditor Role = "auditor"
)

// Roles lists every role, most powerful first.
func Roles() []Role { return []Role{RoleAdmin, RoleApprover, RoleOperator, RoleAuditor} }

// ParseRole returns the role named s, or an error listing the roles.
func ParseRole(s string) (Role, error) {
	for _, r := range Roles() {
		if string(r) == s {
			return r, nil
		}
	}
	return "", fmt.Errorf("unknown role %q: use admin, approver, operator or auditor", s)
}

// Permission is one kind of admin API action, "<object>:<verb>".
type Permission string

// The permissions. Each admin API operation requires exactly one.
const (
	PermAccountsRead       Permission = "accounts:read"
	PermAccountsDeactivate Permission = "accounts:deactivate"
	PermOrdersRead         Permission = "orders:read"
	PermCertificatesRead   Permission = "certificates:read"
	PermCertificatesRevoke Permission = "certificates:revoke"
	PermReportsRead        Permission = "reports:read"
	PermTokensRead         Permission = "tokens:read"
	PermTokensWrite        Permission = "tokens:write"
	PermAuditRead          Permission = "audit:read"
	PermProfilesRead       Permission = "profiles:read"
	PermProfilesWrite      Permission = "profiles:write"
	PermEABRead            Permission = "eab:read"
	PermEABWrite           Permission = "eab:write"
	PermApprovalsRead      Permission = "approvals:read"
	PermApprovalsDecide    Permission = "approvals:decide"
	PermScansRead          Permission = "scans:read"
	PermNotificationsRead  Permission = "notifications:read"
)

// Grant is one row of the permission table: a permission and the roles
// that hold it.
type Grant struct {
	Permission  Permission // what the grant allows
	Roles       []Role     // the roles holding it
	Description string     // one line for docs/api.md's table
}

// Table is THE permission table: the admin API checks it on every request
// and docs/api.md shows it (a test keeps the two equal; regenerate the
// docs section with MarkdownTable). Adding a permission means adding a row
// here.
func Table() []Grant {
	all := []Role{RoleAdmin, RoleApprover, RoleOperator, RoleAuditor}
	return []Grant{
		{PermAccountsRead, all, "list and show ACME accounts"},
		{PermAccountsDeactivate, []Role{RoleAdmin, RoleOperator}, "deactivate an ACME account"},
		{PermOrdersRead, all, "list and show ACME orders"},
		{PermCertificatesRead, all, "search, show and download certificates"},
		{PermCertificatesRevoke, []Role{RoleAdmin, RoleOperator}, "revoke a certificate"},
		{PermReportsRead, all, "run reports (expiring, issued, weak keys, profile violations)"},
		{PermTokensRead, []Role{RoleAdmin, RoleAuditor}, "list API tokens (never their secrets)"},
		{PermTokensWrite, []Role{RoleAdmin}, "create and revoke API tokens"},
		{PermAuditRead, []Role{RoleAdmin, RoleAuditor}, "list audit events and verify the chain"},
		{PermProfilesRead, all, "list and show profiles"},
		{PermProfilesWrite, []Role{RoleAdmin}, "create, change and delete profiles"},
		{PermEABRead, []Role{RoleAdmin, RoleOperator, RoleAuditor}, "list EAB keys (never their secrets)"},
		{PermEABWrite, []Role{RoleAdmin}, "create and revoke EAB keys"},
		{PermApprovalsRead, all, "list and show approval requests"},
		{PermApprovalsDecide, []Role{RoleAdmin, RoleApprover}, "approve or reject a request"},
		{PermScansRead, all, "list and show certificate discovery scans and where certificates are served"},
		{PermNotificationsRead, all, "list expiry notification deliveries"},
	}
}

// Allowed reports whether role holds permission p according to Table.
// Unknown roles and permissions hold nothing.
func Allowed(role Role, p Permission) bool {
	for _, g := range Table() {
		if g.Permission == p {
			return slices.Contains(g.Roles, role)
		}
	}
	return false
}

// MarkdownTable renders Table as the Markdown table docs/api.md shows
// between its "permission table" markers: one row per permission, one
// column per role, "yes" where the role holds it.
func MarkdownTable() string {
	var b strings.Builder
	b.WriteString("| permission | description |")
	for _, r := range Roles() {
		b.WriteString(" " + string(r) + " |")
	}
	b.WriteString("\n|---|---|")
	for range Roles() {
		b.WriteString("---|")
	}
	b.WriteString("\n")
	for _, g := range Table() {
		fmt.Fprintf(&b, "| `%s` | %s |", g.Permission, g.Description)
		for _, r := range Roles() {
			if slices.Contains(g.Roles, r) {
				b.WriteString(" yes |")
			} else {
				b.WriteString(" — |")
			}
		}
		b.WriteString("\n")
	}
	return b.String()
}
