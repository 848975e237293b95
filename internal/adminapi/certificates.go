package adminapi

import (
	"context"
	"errors"
	"net/http"
	"strings"
	"time"

	"github.com/certgate/certgate/internal/auth"
	"github.com/certgate/certgate/internal/ra"
	"github.com/certgate/certgate/internal/store"
	"github.com/danielgtaylor/huma/v2"
)

// Certificate is an issued certificate's record as the admin API shows it.
type Certificate struct {
	Serial            string     `json:"serial" doc:"serial number, lower-case hex without leading zeros"`
	Issuer            string     `json:"issuer" doc:"issuer name, e.g. local (the built-in CA)"`
	AccountID         string     `json:"account_id,omitempty"`
	OrderID           string     `json:"order_id,omitempty"`
	SANs              []string   `json:"sans"`
	KeyType           string     `json:"key_type" example:"ECDSA P-256"`
	FingerprintSHA256 string     `json:"fingerprint_sha256" doc:"SHA-256 of the DER, hex"`
	NotBefore         time.Time  `json:"not_before"`
	NotAfter          time.Time  `json:"not_after"`
	Status            string     `json:"status" enum:"valid,revoked,expired" doc:"expired: past not_after and not revoked"`
	RevokedAt         *time.Time `json:"revoked_at,omitempty"`
	RevocationReason  *int       `json:"revocation_reason,omitempty" doc:"RFC 5280 §5.3.1 reason code"`
	ReplacedBy        string     `json:"replaced_by,omitempty" doc:"ID of the order replacing it (RFC 9773)"`
	CreatedAt         time.Time  `json:"created_at"`
}

func certificateView(c *store.Certificate, now time.Time) Certificate {
	v := Certificate{Serial: c.Serial, Issuer: c.Issuer, AccountID: c.AccountID, OrderID: c.OrderID, SANs: c.SANs, KeyType: c.KeyType,
		FingerprintSHA256: c.FingerprintSHA256, NotBefore: c.NotBefore, NotAfter: c.NotAfter, Status: c.Status,
		ReplacedBy: c.ReplacedBy, CreatedAt: c.CreatedAt}
	if v.SANs == nil {
		v.SANs = []string{}
	}
	if c.Status == "revoked" {
		at, reason := c.RevokedAt, c.RevocationReason
		v.RevokedAt, v.RevocationReason = &at, &reason
	} else if !now.Before(c.NotAfter) {
		v.Status = "expired"
	}
	return v
}

type certificateIn struct {
	Serial string `path:"serial" maxLength:"64" pattern:"^[0-9a-fA-F]+$" doc:"serial number in hex"`
}

// serial normalizes a hex serial as stored: lower case, no leading zeros.
func (in *certificateIn) serial() string {
	s := strings.TrimLeft(strings.ToLower(in.Serial), "0")
	if s == "" {
		return "0"
	}
	return s
}

type certificateOut struct {
	Body Certificate
}

type pemOut struct {
	ContentType        string `header:"Content-Type"`
	ContentDisposition string `header:"Content-Disposition"`
	Body               []byte
}

type revokeIn struct {
	Serial string `path:"serial" maxLength:"64" pattern:"^[0-9a-fA-F]+$" doc:"serial number in hex"`
	Body   *RevokeRequest
}

// RevokeRequest is the optional body of a revocation.
type RevokeRequest struct {
	Reason int `json:"reason,omitempty" enum:"0,1,3,4,5,9" default:"0" doc:"RFC 5280 §5.3.1 reason: 0 unspecified, 1 keyCompromise, 3 affiliationChanged, 4 superseded, 5 cessationOfOperation, 9 privilegeWithdrawn"`
}

func certificateRoutes(a *API) {
	Register(a, auth.PermCertificatesRead, huma.Operation{OperationID: "get-certificate", Method: http.MethodGet,
		Path: Prefix + "/certificates/{serial}", Summary: "Show a certificate", Tags: []string{"certificates"}, Errors: []int{404}},
		func(ctx context.Context, _ *auth.Principal, in *certificateIn) (*certificateOut, error) {
			c, err := a.d.Store.GetCertificate(ctx, in.serial())
			if err != nil {
				return nil, a.storeError(ctx, "certificate "+in.Serial, err)
			}
			return &certificateOut{Body: certificateView(c, a.d.Now())}, nil
		})
	Register(a, auth.PermCertificatesRead, huma.Operation{OperationID: "download-certificate", Method: http.MethodGet,
		Path: Prefix + "/certificates/{serial}/pem", Summary: "Download a certificate with its chain (PEM)", Tags: []string{"certificates"},
		Description: "The certificate followed by its intermediates, as served to the ACME client (application/pem-certificate-chain, RFC 8555 §9.1).",
		Errors:      []int{404},
		Responses: map[string]*huma.Response{"200": {Description: "PEM certificate chain",
			Content: map[string]*huma.MediaType{"application/pem-certificate-chain": {Schema: &huma.Schema{Type: "string"}}}}}},
		func(ctx context.Context, _ *auth.Principal, in *certificateIn) (*pemOut, error) {
			c, err := a.d.Store.GetCertificate(ctx, in.serial())
			if err != nil {
				return nil, a.storeError(ctx, "certificate "+in.Serial, err)
			}
			return &pemOut{ContentType: "application/pem-certificate-chain", ContentDisposition: `attachment; filename="` + c.Serial + `.pem"`,
				Body: []byte(c.ChainPEM)}, nil
		})
	Register(a, auth.PermCertificatesRevoke, huma.Operation{OperationID: "revoke-certificate", Method: http.MethodPost,
		Path: Prefix + "/certificates/{serial}/revoke", Summary: "Revoke a certificate", Tags: []string{"certificates"},
		Description: "Revokes the certificate with an RFC 5280 reason code; the CRL lists it from its next signing. " +
			"409 when it is already revoked. Audited as certificate.revoke.",
		Errors: []int{404, 409}},
		func(ctx context.Context, p *auth.Principal, in *revokeIn) (*certificateOut, error) {
			cin := certificateIn{Serial: in.Serial}
			reason := 0
			if in.Body != nil {
				reason = in.Body.Reason
			}
			c, err := a.d.Revoker.RevokeSerial(ctx, cin.serial(), reason, p.Actor())
			switch {
			case errors.Is(err, ra.ErrUnknownCertificate):
				return nil, huma.Error404NotFound("certificate " + in.Serial + " not found")
			case errors.Is(err, ra.ErrAlreadyRevoked):
				return nil, huma.Error409Conflict("certificate " + in.Serial + " is already revoked")
			case errors.Is(err, ra.ErrBadReason):
				return nil, huma.Error422UnprocessableEntity(err.Error())
			case err != nil:
				return nil, a.storeError(ctx, "certificate "+in.Serial, err)
			}
			return &certificateOut{Body: certificateView(c, a.d.Now())}, nil
		})
}
