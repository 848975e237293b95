package adminapi

import (
	"context"
	"crypto/x509"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/certgate/certgate/internal/acme"
	"github.com/certgate/certgate/internal/auth"
	"github.com/certgate/certgate/internal/inventory"
	"github.com/certgate/certgate/internal/ra"
	"github.com/danielgtaylor/huma/v2"
)

// CertFilters are the inventory filters shared by the certificate list and
// the reports (see inventory.Query).
type CertFilters struct {
	Issuer     string   `query:"issuer" doc:"issuer name (local) or issuer DN of imported certificates"`
	Profile    string   `query:"profile" doc:"profile name: a defined one, or one some certificate carries (a profile deleted since); another is a 422"`
	Attributes []string `query:"attr,explode" doc:"custom attribute key=value; repeat for several (all must match)"`
	Sort       string   `query:"sort" enum:"not_after,-not_after,serial" default:"not_after" doc:"not_after: soonest expiry first"`
	Limit      int      `query:"limit" minimum:"1" maximum:"1000" default:"100" doc:"page size"`
	Cursor     string   `query:"cursor" doc:"next_cursor of the previous page"`
}

// query returns the inventory query of f and the inventory.ErrInvalid
// error of a malformed attr, if any (the handler joins it with the others,
// see inventory.JoinInvalid, and answers invalidInventory).
func (f *CertFilters) query() (inventory.Query, error) {
	attrs, err := inventory.ParseAttributes(f.Attributes)
	return inventory.Query{Issuer: f.Issuer, Profile: f.Profile, Attributes: attrs, Sort: f.Sort, Limit: f.Limit, Cursor: f.Cursor}, err
}

// parseDuration parses the duration of query parameter param
// (inventory.ParseDuration); its error is an *inventory.InvalidError
// naming param.
func parseDuration(param, s string) (time.Duration, error) {
	d, err := inventory.ParseDuration(s)
	if err != nil {
		return 0, &inventory.InvalidError{Param: param, Value: s, Msg: invalidDetail(err)}
	}
	return d, nil
}

// invalidQuery is the 422 of a query whose parameters the handler refused
// itself (bad, not nil): it names those and every other bad parameter the
// inventory refuses (inventory.Service.Check), so that one answer lists
// them all; a storage error of that check is answered as such.
func (a *API) invalidQuery(ctx context.Context, q inventory.Query, bad error) error {
	err := inventory.JoinInvalid(bad, a.d.Inventory.Check(ctx, q))
	return a.inventoryError(ctx, "query", err)
}

type listCertificatesIn struct {
	CertFilters
	Name           string `query:"name" doc:"a subject alternative name, exactly (case-insensitive)"`
	Suffix         string `query:"suffix" doc:"a domain: example.com selects it and the names under it, .example.com or *.example.com only the names under it"`
	Serial         string `query:"serial" doc:"serial number (hex, colons allowed)"`
	Fingerprint    string `query:"fingerprint" doc:"SHA-256 fingerprint (hex, colons allowed)"`
	Status         string `query:"status" enum:"valid,revoked,expired"`
	Source         string `query:"source" enum:"issued,imported,discovered,listener"`
	ExpiringWithin string `query:"expiring_within" doc:"valid certificates expiring within this duration, e.g. 30d or 12h"`
}

type pageOut struct {
	Body *inventory.Page
}

type certificateIn struct {
	Ref string `path:"ref" maxLength:"200" doc:"serial number (hex), SHA-256 fingerprint (64 hex digits) or the SERIAL-FINGERPRINT16 key of an imported certificate"`
}

type certificateOut struct {
	Body *inventory.Certificate
}

// revokedCertificate is the answer to a revocation: the certificate as
// revoked and, for keyCompromise, the other certificates of its key that
// the same transaction revoked (CA/B Forum BR §4.9.1.1).
type revokedCertificate struct {
	*inventory.Certificate
	RevokedWith []string `json:"revoked_with,omitempty" doc:"keyCompromise only: serials (lower-case hex, sorted) of the key's other unexpired certificates of this CA (issued by the built-in CA, or imported and signed by its intermediate), revoked with this one or, revoked before for another reason, changed to keyCompromise"`
	OtherCAs    []string `json:"other_cas,omitempty" doc:"keyCompromise only: inventory keys (sorted) of the valid, unexpired certificates of other CAs (imported or discovered, or issued through an upstream CA) with the key; they keep their status, only their CA can revoke them (revoke one of an upstream CA here: it is sent there)"`
	// InventoryOnly is ra.Revocation.InventoryOnly.
	InventoryOnly bool `json:"inventory_only" doc:"true when another CA issued the certificate (imported or discovered, not signed by this server's CA): the revocation is recorded in the inventory only; that CA (see issuer) still answers it valid in its CRL and OCSP, and only it can revoke the certificate. false for a certificate of this CA, which is on its CRL and revoked in OCSP"`
}

type revokeOut struct {
	Body *revokedCertificate
}

type pemIn struct {
	Ref   string `path:"ref" maxLength:"200" doc:"serial number (hex), SHA-256 fingerprint (64 hex digits) or the SERIAL-FINGERPRINT16 key of an imported certificate"`
	Chain bool   `query:"chain" default:"true" doc:"append the intermediates the certificate was stored with"`
}

type pemOut struct {
	ContentType        string `header:"Content-Type"`
	ContentDisposition string `header:"Content-Disposition"`
	Body               []byte
}

// RevokeRequest is the optional body of a revocation.
type RevokeRequest struct {
	Reason RevocationReason `json:"reason,omitempty" doc:"RFC 5280 §5.3.1 reason, a code or a name; absent: unspecified (0)"`
}

// RevocationReason is the reason of a revocation request as given: an RFC
// 5280 §5.3.1 CRLReason code (a JSON number, e.g. 1) or name (a JSON
// string, case-insensitive, e.g. "keyCompromise"), the values `certgate
// cert revoke --reason` takes. Code parses it with the CLI's parser
// (acme.ParseRevocationReason); the zero value is no reason given.
type RevocationReason struct {
	given bool
	text  string // a name as given, a code in decimal
}

// UnmarshalJSON keeps a string as given and a number in decimal (a whole
// number of int's range as an integer, any other as a float, which Code
// refuses as it does any code it does not accept). A null is no reason
// given, as encoding/json leaves a number field alone for it (the field
// was a number before it took names).
func (r *RevocationReason) UnmarshalJSON(b []byte) error {
	var v any
	if err := json.Unmarshal(b, &v); err != nil {
		return err
	}
	switch v := v.(type) {
	case nil:
		return nil
	case string:
		*r = RevocationReason{true, v}
	case float64:
		if v != math.Trunc(v) || math.Abs(v) > 1<<31 {
			*r = RevocationReason{true, strconv.FormatFloat(v, 'g', -1, 64)}
			return nil
		}
		*r = RevocationReason{true, strconv.Itoa(int(v))}
	default:
		return fmt.Errorf("revocation reason %s: want a code (number) or name (string)", b)
	}
	return nil
}

// String returns the reason as given (a code in decimal), "" for none.
func (r RevocationReason) String() string { return r.text }

// Code returns the reason's code, 0 (unspecified) when none was given, or
// acme.ParseRevocationReason's error naming the accepted reasons.
func (r RevocationReason) Code() (int, error) {
	if !r.given {
		return 0, nil
	}
	return acme.ParseRevocationReason(r.text)
}

// Schema is the reason's OpenAPI schema: a code or a name.
func (RevocationReason) Schema(huma.Registry) *huma.Schema {
	return &huma.Schema{
		Description: "RFC 5280 §5.3.1 reason, by code or by name (case-insensitive), default 0 (unspecified): " +
			acme.AllowedRevocationReasons + ". Another is a 422.",
		OneOf: []*huma.Schema{
			{Type: huma.TypeInteger, Description: "the reason's code", Examples: []any{1}},
			{Type: huma.TypeString, Description: "the reason's name", Examples: []any{"keyCompromise"}},
		},
	}
}

type revokeIn struct {
	Ref  string `path:"ref" maxLength:"200" doc:"serial number (hex), SHA-256 fingerprint (64 hex digits) or the SERIAL-FINGERPRINT16 key of an imported certificate"`
	Body *RevokeRequest
}

// inventoryError turns an inventory error into a problem.
func (a *API) inventoryError(ctx context.Context, what string, err error) error {
	switch {
	case errors.Is(err, inventory.ErrNotFound):
		return huma.Error404NotFound(what + " not found")
	case errors.Is(err, inventory.ErrInvalid):
		return invalidInventory(err, "query", nil)
	case errors.Is(err, inventory.ErrAlreadyRevoked):
		return huma.Error409Conflict(what + " is already revoked")
	}
	return a.storeError(ctx, what, err)
}

// certificateByRef looks up the certificate the path's {ref} names
// (Inventory.Get; errors as refError gives them). A ref with white space
// or a control character (%09, %0D, %0B, %0C, %C2%A0, ...) is a malformed
// reference, a 422 naming path.ref, on every engine (inventory.CheckRef,
// which the CLI's certificate commands apply too).
func (a *API) certificateByRef(ctx context.Context, ref string) (*inventory.Certificate, error) {
	c, err := a.d.Inventory.Get(ctx, ref)
	if err != nil {
		return nil, a.refError(ctx, ref, err)
	}
	return c, nil
}

// refError is inventoryError for the lookup of the path's {ref}: a ref
// the inventory refuses (not hexadecimal) is a 422 naming "path.ref", the
// parameter the client sent, not the inventory's "serial" query filter.
func (a *API) refError(ctx context.Context, ref string, err error) error {
	if !errors.Is(err, inventory.ErrInvalid) {
		return a.inventoryError(ctx, "certificate "+ref, err)
	}
	detail := invalidDetail(err)
	if ies := inventory.InvalidErrors(err); len(ies) > 0 {
		msgs := make([]string, len(ies))
		for i, ie := range ies {
			msgs[i] = ie.Msg
		}
		detail = strings.Join(msgs, "; ")
	}
	return invalidField("path.ref", detail, ref)
}

// invalidInventory is the 422 of an inventory.ErrInvalid error: its
// errors list names each parameter an *inventory.InvalidError in err names
// ("query." + Param) with the value refused (the detail is their messages,
// joined by "; "), and otherwise location with value.
func invalidInventory(err error, location string, value any) error {
	ies := inventory.InvalidErrors(err)
	if len(ies) == 0 {
		return invalidField(location, invalidDetail(err), value)
	}
	fields := make([]*huma.ErrorDetail, len(ies))
	msgs := make([]string, len(ies))
	for i, ie := range ies {
		msgs[i] = ie.Msg
		fields[i] = &huma.ErrorDetail{Location: "query." + ie.Param, Message: ie.Msg, Value: ie.Value}
	}
	return invalidFields(strings.Join(msgs, "; "), fields...)
}

// invalidDetail is the detail of an inventory.ErrInvalid error: what
// follows "inventory: invalid request: ", the package's own prefix, which
// says nothing to an API client.
func invalidDetail(err error) string {
	detail := err.Error()
	if _, rest, ok := strings.Cut(detail, inventory.ErrInvalid.Error()+": "); ok {
		detail = rest
	}
	return detail
}

// WithRenewal sets c's RenewalWindow to the ACME Renewal Information
// window (RFC 9773) the server serves for it at now (ra.CertificateRenewal;
// none for a certificate not issued here), as GET
// /api/v1/certificates/{ref} and the web dashboard show it; revoked
// returns the CA's revoked intermediates (Deps.RevokedIntermediates; nil:
// none). Errors are the store's.
func WithRenewal(ctx context.Context, st ra.RenewalStore, c *inventory.Certificate, revoked func() []*x509.Certificate, now time.Time) error {
	var inters []*x509.Certificate
	if revoked != nil {
		inters = revoked()
	}
	w, source, ok, err := ra.CertificateRenewal(ctx, st, c.Serial, inters, now)
	if err != nil {
		return err
	}
	if ok {
		c.RenewalWindow = &inventory.RenewalSuggestion{Start: w.Start, End: w.End, Source: source}
	}
	return nil
}

func certificateRoutes(a *API) {
	Register(a, auth.PermCertificatesRead, huma.Operation{OperationID: "list-certificates", Method: http.MethodGet,
		Path: Prefix + "/certificates", Summary: "List and search certificates", Tags: []string{"certificates"},
		Description: "Every certificate of the inventory (issued, imported, discovered, and the server's own listener certificates), filtered, sorted and paginated by cursor (keyset pagination).",
		Errors:      []int{422}},
		func(ctx context.Context, _ *auth.Principal, in *listCertificatesIn) (*pageOut, error) {
			q, bad := in.query()
			q.Name, q.Suffix, q.Serial, q.Fingerprint, q.Status, q.Source = in.Name, in.Suffix, in.Serial, in.Fingerprint, in.Status, in.Source
			if in.ExpiringWithin != "" {
				d, err := parseDuration("expiring_within", in.ExpiringWithin)
				q.ExpiringWithin, bad = d, errors.Join(bad, err)
			}
			if bad != nil {
				return nil, a.invalidQuery(ctx, q, bad)
			}
			p, err := a.d.Inventory.List(ctx, q)
			if err != nil {
				return nil, a.inventoryError(ctx, "query", err)
			}
			return &pageOut{Body: p}, nil
		})
	Register(a, auth.PermCertificatesRead, huma.Operation{OperationID: "get-certificate", Method: http.MethodGet,
		Path: Prefix + "/certificates/{ref}", Summary: "Show a certificate", Tags: []string{"certificates"}, Errors: []int{404, 422}},
		func(ctx context.Context, _ *auth.Principal, in *certificateIn) (*certificateOut, error) {
			c, err := a.certificateByRef(ctx, in.Ref)
			if err != nil {
				return nil, err
			}
			if err := WithRenewal(ctx, a.d.Store, c, a.d.RevokedIntermediates, a.d.Now()); err != nil {
				return nil, a.storeError(ctx, "certificate "+in.Ref, err)
			}
			return &certificateOut{Body: c}, nil
		})
	Register(a, auth.PermCertificatesRead, huma.Operation{OperationID: "download-certificate", Method: http.MethodGet,
		Path: Prefix + "/certificates/{ref}/pem", Summary: "Download a certificate (PEM)", Tags: []string{"certificates"},
		Description: "The certificate, followed by its intermediates unless chain=false (application/pem-certificate-chain, RFC 8555 §9.1).",
		Errors:      []int{404, 422},
		Responses: map[string]*huma.Response{"200": {Description: "PEM certificate (chain)",
			Content: map[string]*huma.MediaType{"application/pem-certificate-chain": {Schema: &huma.Schema{Type: "string"}}}}}},
		func(ctx context.Context, _ *auth.Principal, in *pemIn) (*pemOut, error) {
			c, err := a.certificateByRef(ctx, in.Ref)
			if err != nil {
				return nil, err
			}
			pem, err := a.d.Inventory.PEM(ctx, in.Ref, in.Chain)
			if err != nil {
				return nil, a.inventoryError(ctx, "certificate "+in.Ref, err)
			}
			return &pemOut{ContentType: "application/pem-certificate-chain", ContentDisposition: `attachment; filename="` + c.Serial + `.pem"`,
				Body: pem}, nil
		})
	Register(a, auth.PermCertificatesRevoke, huma.Operation{OperationID: "revoke-certificate", Method: http.MethodPost,
		Path: Prefix + "/certificates/{ref}/revoke", Summary: "Revoke a certificate", Tags: []string{"certificates"},
		Description: "Revokes the certificate with an RFC 5280 reason, by code or name (default 0, unspecified); this node's CRL and OCSP answers reflect it at once, " +
			"other nodes' within --revocation-refresh. Reason 1 (keyCompromise) also blocks the certificate's public key: " +
			"no certificate or ACME account is accepted for it afterwards (CA/B Forum BR 6.1.1.3), the other unexpired certificates " +
			"of this CA with that key (issued here, or imported and signed by its intermediate) are revoked with it (BR 4.9.1.1; " +
			"imported certificates of other CAs and those issued through an upstream CA keep their status and are listed in other_cas; " +
			"each audited; those revoked before for another reason get " +
			"reason keyCompromise, their revocation time stays, BR 7.2.2), and it applies to a certificate revoked " +
			"before for another reason (its reason becomes keyCompromise). A certificate of another CA (imported or discovered, not signed by this CA) " +
			"is revoked in the inventory only, which the answer's inventory_only says: that CA's CRL and OCSP still say valid. " +
			"A certificate issued through an upstream CA is revoked there first and recorded only when it accepted: 502 when it refused " +
			"or could not be reached, 503 when this server does not have that upstream configured (issuers-file); nothing is recorded. " +
			"409 when it is already revoked (for reason 1: for keyCompromise). " +
			"Audited as certificate.revoke.",
		Errors: []int{404, 409, 422, 502, 503}},
		func(ctx context.Context, p *auth.Principal, in *revokeIn) (*revokeOut, error) {
			c, err := a.certificateByRef(ctx, in.Ref)
			if err != nil {
				return nil, err
			}
			reason := 0
			if in.Body != nil {
				if reason, err = in.Body.Reason.Code(); err != nil {
					return nil, invalidField("body.reason", err.Error(), in.Body.Reason.String())
				}
			}
			rev, err := a.d.Revoker.RevokeSerial(ctx, c.Serial, reason, p.Actor())
			switch {
			case errors.Is(err, ra.ErrUnknownCertificate):
				return nil, huma.Error404NotFound("certificate " + in.Ref + " not found")
			case errors.Is(err, ra.ErrAlreadyRevoked):
				return nil, huma.Error409Conflict("certificate " + in.Ref + " is already revoked")
			case errors.Is(err, ra.ErrBadReason):
				return nil, invalidField("body.reason", err.Error(), reason)
			case errors.As(err, new(*ra.IssuerNotConfiguredError)):
				// Issued through an upstream CA this server does not have
				// configured: it cannot be told, so nothing was recorded.
				var nc *ra.IssuerNotConfiguredError
				errors.As(err, &nc)
				return nil, huma.Error503ServiceUnavailable(nc.Error())
			case errors.As(err, new(*acme.Problem)):
				// The upstream CA that issued it refused or could not
				// be reached (docs/issuers.md): nothing was recorded.
				p, _ := acme.AsProblem(err)
				return nil, huma.NewError(http.StatusBadGateway, p.Detail)
			case err != nil:
				return nil, a.storeError(ctx, "certificate "+in.Ref, err)
			}
			if c, err = a.d.Inventory.Get(ctx, c.Serial); err != nil {
				return nil, a.inventoryError(ctx, "certificate "+in.Ref, err)
			}
			return &revokeOut{Body: &revokedCertificate{Certificate: c, RevokedWith: rev.RevokedWith, OtherCAs: rev.OtherCAs,
				InventoryOnly: rev.InventoryOnly}}, nil
		})
}
