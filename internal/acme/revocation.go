package acme

import (
	"fmt"
	"strconv"
	"strings"
)

// ReasonKeyCompromise is the RFC 5280 §5.3.1 CRLReason code keyCompromise
// (1). A certificate revoked with it blocks its public key from further
// issuance (CA/B Forum BR §6.1.1.3; docs/pki.md).
const ReasonKeyCompromise = 1

// ReasonCessationOfOperation is the RFC 5280 §5.3.1 CRLReason code
// cessationOfOperation (5): among others, the subscriber no longer controls
// the certificate's names (Mozilla Root Store Policy §6.1.1), the reason of
// a revocation by another account that holds authorizations for all of
// them (RFC 8555 §7.6).
const ReasonCessationOfOperation = 5

// AllowedRevocationReasons names the revocation reasons certgate accepts,
// for error messages and help texts: the RFC 5280 §5.3.1 CRLReason codes
// the CA/Browser Forum Baseline Requirements (§7.2.2) allow in a subscriber
// certificate's CRL entry. ACME revokeCert (RFC 8555 §7.6), the admin API
// and `certgate cert revoke` all accept exactly these.
const AllowedRevocationReasons = "unspecified (0), keyCompromise (1), affiliationChanged (3), superseded (4), " +
	"cessationOfOperation (5), privilegeWithdrawn (9)"

// RevocationReasonAllowed reports whether code is one of
// AllowedRevocationReasons. The other RFC 5280 §5.3.1 codes are refused:
// cACompromise (2) and aACompromise (10) concern a CA, not a subscriber
// certificate; certificateHold (6) and removeFromCRL (8) would make a
// revocation reversible; 7 is unassigned.
func RevocationReasonAllowed(code int) bool {
	switch code {
	case 0, 1, 3, 4, 5, 9:
		return true
	}
	return false
}

// SubscriberRevocationReasons names the revocation reasons an ACME client
// may give in revokeCert (RFC 8555 §7.6), for its error messages:
// AllowedRevocationReasons without privilegeWithdrawn (9), which the
// CA/Browser Forum Baseline Requirements (§7.2.2) say SHOULD NOT be made
// available to the subscriber (the CA decides on it: the admin API and
// `certgate cert revoke` take it).
const SubscriberRevocationReasons = "unspecified (0), keyCompromise (1), affiliationChanged (3), superseded (4), " +
	"cessationOfOperation (5)"

// SubscriberRevocationReasonAllowed reports whether code is one of
// SubscriberRevocationReasons.
func SubscriberRevocationReasonAllowed(code int) bool {
	return code != 9 && RevocationReasonAllowed(code)
}

// RevocationReasonName returns the RFC 5280 §5.3.1 CRLReason name of code
// (e.g. 1 → "keyCompromise"), or its decimal number for an unassigned code.
func RevocationReasonName(code int) string {
	switch code {
	case 0:
		return "unspecified"
	case 1:
		return "keyCompromise"
	case 2:
		return "cACompromise"
	case 3:
		return "affiliationChanged"
	case 4:
		return "superseded"
	case 5:
		return "cessationOfOperation"
	case 6:
		return "certificateHold"
	case 8:
		return "removeFromCRL"
	case 9:
		return "privilegeWithdrawn"
	case 10:
		return "aACompromise"
	}
	return strconv.Itoa(code)
}

// ParseRevocationReason parses a revocation reason given by its RFC 5280
// §5.3.1 name (case-insensitive, e.g. "keyCompromise") or decimal code, and
// returns the code if RevocationReasonAllowed accepts it. The error names
// the reason and AllowedRevocationReasons.
func ParseRevocationReason(s string) (int, error) {
	code, err := strconv.Atoi(s)
	if err != nil {
		code = -1
		for c := 0; c <= 10; c++ {
			if strings.EqualFold(RevocationReasonName(c), s) {
				code = c
				break
			}
		}
	}
	if code < 0 || !RevocationReasonAllowed(code) {
		return 0, fmt.Errorf("revocation reason %q is not accepted; use %s (RFC 5280 §5.3.1)", s, AllowedRevocationReasons)
	}
	return code, nil
}
