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
	Type  string `json:"type"`
	Value string `json:"value"`
}

// Directory is the directory object (RFC 8555 §7.1.1).
type Directory struct {
	NewNonce   string `json:"newNonce"`
	NewAccount string `json:"newAccount"`
	NewOrder   string `json:"newOrder"`
	RevokeCert string `json:"revokeCert"`
	KeyChange  string `json:"keyChange"`
	// RenewalInfo is the ACME Renewal Information base URL (RFC 9773 §3).
	RenewalInfo string         `json:"renewalInfo,omitempty"`
	Meta        *DirectoryMeta `json:"meta,omitempty"`
}

// DirectoryMeta is the directory "meta" member (RFC 8555 §7.1.1).
type DirectoryMeta struct {
	TermsOfService          string   `json:"termsOfService,omitempty"`
	Website                 string   `json:"website,omitempty"`
	CAAIdentities           []string `json:"caaIdentities,omitempty"`
	ExternalAccountRequired bool     `json:"externalAccountRequired"`
	// Profiles maps each profile name to its description
	// (draft-ietf-acme-profiles §3).
	Profiles map[string]string `json:"profiles,omitempty"`
}

// Account is the account object (RFC 8555 §7.1.2).
type Account struct {
	Status                 string          `json:"status"`
	Contact                []string        `json:"contact,omitempty"`
	TermsOfServiceAgreed   bool            `json:"termsOfServiceAgreed,omitempty"`
	ExternalAccountBinding json.RawMessage `json:"externalAccountBinding,omitempty"`
	Orders                 string          `json:"orders"`
}

// Order is the order object (RFC 8555 §7.1.3).
type Order struct {
	Status         string       `json:"status"`
	Expires        *time.Time   `json:"expires,omitempty"`
	Identifiers    []Identifier `json:"identifiers"`
	NotBefore      *time.Time   `json:"notBefore,omitempty"`
	NotAfter       *time.Time   `json:"notAfter,omitempty"`
	Error          *Problem     `json:"error,omitempty"`
	Authorizations []string     `json:"authorizations"`
	Finalize       string       `json:"finalize"`
	Certificate    string       `json:"certificate,omitempty"`
	Replaces       string       `json:"replaces,omitempty"` // RFC 9773 §5 CertID
	// Profile is the order's profile (draft-ietf-acme-profiles §4).
	Profile string `json:"profile,omitempty"`
}

// Authorization is the authorization object (RFC 8555 §7.1.4).
type Authorization struct {
	Identifier Identifier  `json:"identifier"`
	Status     string      `json:"status"`
	Expires    *time.Time  `json:"expires,omitempty"`
	Challenges []Challenge `json:"challenges"`
	Wildcard   bool        `json:"wildcard,omitempty"`
}

// Challenge is the challenge object (RFC 8555 §7.1.5, §8).
type Challenge struct {
	Type      string     `json:"type"`
	URL       string     `json:"url"`
	Status    string     `json:"status"`
	Validated *time.Time `json:"validated,omitempty"`
	Error     *Problem   `json:"error,omitempty"`
	Token     string     `json:"token"`
}

// OrdersList is the orders list object (RFC 8555 §7.1.2.1).
type OrdersList struct {
	Orders []string `json:"orders"`
}

// NewAccountRequest is the newAccount payload (RFC 8555 §7.3).
type NewAccountRequest struct {
	Contact                []string        `json:"contact"`
	TermsOfServiceAgreed   bool            `json:"termsOfServiceAgreed"`
	OnlyReturnExisting     bool            `json:"onlyReturnExisting"`
	ExternalAccountBinding json.RawMessage `json:"externalAccountBinding"`
}

// AccountUpdateRequest is the payload of a POST to an account URL (RFC 8555 §7.3.2, §7.3.6).
type AccountUpdateRequest struct {
	Contact *[]string `json:"contact"`
	Status  string    `json:"status"`
}

// NewOrderRequest is the newOrder payload (RFC 8555 §7.4).
type NewOrderRequest struct {
	Identifiers []Identifier `json:"identifiers"`
	NotBefore   string       `json:"notBefore"`
	NotAfter    string       `json:"notAfter"`
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
	Attributes map[string]string `json:"attributes,omitempty"`
}

// RenewalInfo is the body of a renewalInfo response (RFC 9773 §4.2).
type RenewalInfo struct {
	SuggestedWindow TimeWindow `json:"suggestedWindow"`
	ExplanationURL  string     `json:"explanationURL,omitempty"`
}

// TimeWindow is RFC 9773's suggestedWindow: renew at a time in [Start, End].
type TimeWindow struct {
	Start time.Time `json:"start"`
	End   time.Time `json:"end"`
}

// FinalizeRequest is the finalize payload (RFC 8555 §7.4): CSR is base64url DER.
type FinalizeRequest struct {
	CSR string `json:"csr"`
}

// AuthorizationUpdateRequest deactivates an authorization (RFC 8555 §7.5.2).
type AuthorizationUpdateRequest struct {
	Status string `json:"status"`
}

// RevocationRequest is the revokeCert payload (RFC 8555 §7.6): Certificate
// is base64url DER; Reason is an RFC 5280 §5.3.1 reason code.
type RevocationRequest struct {
	Certificate string `json:"certificate"`
	Reason      *int   `json:"reason"`
}

// KeyChangeInner is the payload of the inner JWS of keyChange (RFC 8555 §7.3.5).
type KeyChangeInner struct {
	Account json.RawMessage `json:"account"`
	OldKey  json.RawMessage `json:"oldKey"`
}
