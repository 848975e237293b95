package acme

import (
	"encoding/json"
	"time"
)

// Identifier types (RFC 8555 §9.7.7, RFC 8738).
const (
	IdentifierDNS = "dns"
	IdentifierIP  = "ip"
)

// Challenge types (RFC 8555 §8.3, §8.4; RFC 8737).
const (
	ChallengeHTTP01    = "http-01"
	ChallengeDNS01     = "dns-01"
	ChallengeTLSALPN01 = "tls-alpn-01"
)

// Status values of ACME objects (RFC 8555 §7.1.6).
const (
	StatusPending     = "pending"
	StatusReady       = "ready"
	StatusProcessing  = "processing"
	StatusValid       = "valid"
	StatusInvalid     = "invalid"
	StatusDeactivated = "deactivated"
	StatusExpired     = "expired"
	StatusRevoked     = "revoked"
)

// Identifier is an ACME identifier (RFC 8555 §7.1.3): Type is "dns" or "ip",
// Value a DNS name (lower case, no trailing dot, may start with "*.") or an
// IP address in its canonical text form (RFC 8738 §3).
type Identifier struct {
	Type  string `json:"type"`  // "dns" or "ip"
	Value string `json:"value"` // the DNS name or IP address
}

// Directory is the directory object (RFC 8555 §7.1.1).
type Directory struct {
	NewNonce   string `json:"newNonce"`   // URL of newNonce (RFC 8555 §7.2)
	NewAccount string `json:"newAccount"` // URL of newAccount (§7.3)
	NewOrder   string `json:"newOrder"`   // URL of newOrder (§7.4)
	RevokeCert string `json:"revokeCert"` // URL of revokeCert (§7.6)
	KeyChange  string `json:"keyChange"`  // URL of keyChange (§7.3.5)
	// RenewalInfo is the ACME Renewal Information base URL (RFC 9773 §3).
	RenewalInfo string         `json:"renewalInfo,omitempty"`
	Meta        *DirectoryMeta `json:"meta,omitempty"` // nil: no "meta" member
}

// DirectoryMeta is the directory "meta" member (RFC 8555 §7.1.1).
type DirectoryMeta struct {
	TermsOfService          string   `json:"termsOfService,omitempty"` // URL of the current terms of service
	Website                 string   `json:"website,omitempty"`        // URL of a page about the CA
	CAAIdentities           []string `json:"caaIdentities,omitempty"`  // issuer domain names that CAA "issue" records name this CA by (RFC 8659 §4)
	ExternalAccountRequired bool     `json:"externalAccountRequired"`  // newAccount requires an EAB (§7.3.4)
	// Profiles maps each profile name to its description
	// (draft-ietf-acme-profiles §3).
	Profiles map[string]string `json:"profiles,omitempty"`
}

// Account is the account object (RFC 8555 §7.1.2).
type Account struct {
	Status                 string          `json:"status"`                           // "valid", "deactivated" or "revoked"
	Contact                []string        `json:"contact,omitempty"`                // contact URLs, e.g. "mailto:ops@example.com"
	TermsOfServiceAgreed   bool            `json:"termsOfServiceAgreed,omitempty"`   // the client agreed to the terms of service
	ExternalAccountBinding json.RawMessage `json:"externalAccountBinding,omitempty"` // §7.1.2 externalAccountBinding; certgate leaves it empty
	Orders                 string          `json:"orders"`                           // URL of the account's orders list (§7.1.2.1)
}

// Order is the order object (RFC 8555 §7.1.3).
type Order struct {
	Status         string       `json:"status"`                // pending, ready, processing, valid or invalid (§7.1.6)
	Expires        *time.Time   `json:"expires,omitempty"`     // after it the order is invalid unless valid already; nil: none
	Identifiers    []Identifier `json:"identifiers"`           // the identifiers the certificate is for
	NotBefore      *time.Time   `json:"notBefore,omitempty"`   // requested notBefore of the certificate; nil: none
	NotAfter       *time.Time   `json:"notAfter,omitempty"`    // requested notAfter of the certificate; nil: none
	Error          *Problem     `json:"error,omitempty"`       // why the order is invalid (§6.7); nil: none
	Authorizations []string     `json:"authorizations"`        // URLs of the order's authorizations
	Finalize       string       `json:"finalize"`              // URL to POST the CSR to (§7.4)
	Certificate    string       `json:"certificate,omitempty"` // URL of the certificate once valid (§7.4.2)
	Replaces       string       `json:"replaces,omitempty"`    // RFC 9773 §5 CertID
	// Profile is the order's profile (draft-ietf-acme-profiles §4).
	Profile string `json:"profile,omitempty"`
}

// Authorization is the authorization object (RFC 8555 §7.1.4).
type Authorization struct {
	Identifier Identifier  `json:"identifier"`         // the identifier, without "*." for a wildcard
	Status     string      `json:"status"`             // pending, valid, invalid, deactivated, expired or revoked (§7.1.6)
	Expires    *time.Time  `json:"expires,omitempty"`  // when a valid authorization stops being usable
	Challenges []Challenge `json:"challenges"`         // one per challenge type offered (§8)
	Wildcard   bool        `json:"wildcard,omitempty"` // the order asked for "*." + Identifier.Value (§7.1.4)
}

// Challenge is the challenge object (RFC 8555 §7.1.5, §8).
type Challenge struct {
	Type      string     `json:"type"`                // "http-01", "dns-01" or "tls-alpn-01"
	URL       string     `json:"url"`                 // URL the client POSTs {} to when ready (§7.5.1)
	Status    string     `json:"status"`              // pending, processing, valid or invalid (§7.1.6)
	Validated *time.Time `json:"validated,omitempty"` // when the challenge was validated; nil until valid
	Error     *Problem   `json:"error,omitempty"`     // why the last attempt failed (§6.7); nil: none
	Token     string     `json:"token"`               // random token, base64url, at least 128 bits of entropy (§8.3)
}

// OrdersList is the orders list object (RFC 8555 §7.1.2.1).
type OrdersList struct {
	Orders []string `json:"orders"` // URLs of the account's orders, one page (§7.1.2.1)
}

// NewAccountRequest is the newAccount payload (RFC 8555 §7.3).
type NewAccountRequest struct {
	Contact                []string        `json:"contact"`                // contact URLs, e.g. "mailto:ops@example.com"
	TermsOfServiceAgreed   bool            `json:"termsOfServiceAgreed"`   // the client agrees to the terms of service
	OnlyReturnExisting     bool            `json:"onlyReturnExisting"`     // look the key's account up, create none (§7.3.1)
	ExternalAccountBinding json.RawMessage `json:"externalAccountBinding"` // the EAB JWS (§7.3.4); empty: none
}

// AccountUpdateRequest is the payload of a POST to an account URL (RFC 8555 §7.3.2, §7.3.6).
type AccountUpdateRequest struct {
	Contact *[]string `json:"contact"` // nil: keep the contacts; else replace them
	Status  string    `json:"status"`  // "deactivated" to deactivate (§7.3.6); "" otherwise
}

// NewOrderRequest is the newOrder payload (RFC 8555 §7.4).
type NewOrderRequest struct {
	Identifiers []Identifier `json:"identifiers"` // the identifiers the certificate is for
	NotBefore   string       `json:"notBefore"`   // RFC 3339 time; "" for none
	NotAfter    string       `json:"notAfter"`    // RFC 3339 time; "" for none
	// Replaces is the CertID (RFC 9773 §4.1) of the certificate this
	// order replaces, "" for none (RFC 9773 §5).
	Replaces string `json:"replaces"`
	// Profile names the certificate profile (draft-ietf-acme-profiles
	// §4); "" for the directory's own profile.
	Profile string `json:"profile"`
	// Certgate is certgate's optional extension object; standard clients
	// omit it.
	Certgate *OrderExtension `json:"certgate,omitempty"`
}

// OrderExtension is the optional "certgate" member of a newOrder payload:
// {"certgate": {"attributes": {"billing_code": "X"}}}. Its attributes
// override those of the account and its EAB key.
type OrderExtension struct {
	Attributes map[string]string `json:"attributes,omitempty"` // custom attribute name to value
}

// RenewalInfo is the body of a renewalInfo response (RFC 9773 §4.2).
type RenewalInfo struct {
	SuggestedWindow TimeWindow `json:"suggestedWindow"`          // when to renew
	ExplanationURL  string     `json:"explanationURL,omitempty"` // page explaining the window; "" for none
}

// TimeWindow is RFC 9773's suggestedWindow: renew at a time in [Start, End].
type TimeWindow struct {
	Start time.Time `json:"start"` // earliest time to renew
	End   time.Time `json:"end"`   // latest time to renew
}

// FinalizeRequest is the finalize payload (RFC 8555 §7.4): CSR is base64url DER.
type FinalizeRequest struct {
	CSR string `json:"csr"` // base64url DER PKCS#10 CSR (RFC 2986)
}

// AuthorizationUpdateRequest deactivates an authorization (RFC 8555 §7.5.2).
type AuthorizationUpdateRequest struct {
	Status string `json:"status"` // "deactivated" (§7.5.2)
}

// RevocationRequest is the revokeCert payload (RFC 8555 §7.6): Certificate
// is base64url DER; Reason is an RFC 5280 §5.3.1 reason code.
type RevocationRequest struct {
	Certificate string `json:"certificate"` // base64url DER certificate
	Reason      *int   `json:"reason"`      // RFC 5280 §5.3.1 reason code; nil: unspecified (0)
}

// KeyChangeInner is the payload of the inner JWS of keyChange (RFC 8555 §7.3.5).
type KeyChangeInner struct {
	Account json.RawMessage `json:"account"` // URL of the account, a JSON string
	OldKey  json.RawMessage `json:"oldKey"`  // the current account key, a JWK
}
