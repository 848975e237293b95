package adminapi

import (
	"context"
	"errors"
	"net/http"
	"time"

	"github.com/certgate/certgate/internal/auth"
	"github.com/certgate/certgate/internal/config"
	"github.com/certgate/certgate/internal/store"
	"github.com/danielgtaylor/huma/v2"
)

type listTokensIn struct {
	All bool `query:"all" doc:"include revoked tokens"`
}

type tokensOut struct {
	Body struct {
		Items []auth.TokenView `json:"items"`
	}
}

type createTokenIn struct {
	Body struct {
		Name    string `json:"name" minLength:"1" maxLength:"64" pattern:"^[A-Za-z0-9._@-]+$"`
		Role    string `json:"role" enum:"admin,approver,operator,auditor"`
		Expires string `json:"expires,omitempty" doc:"lifetime, e.g. 90d or 12h; empty: never expires; 422 when it would end after 2262-04-11T23:47:16Z, the latest expiry stored" example:"90d"`
	}
}

// CreatedToken is a new token: its secret, shown this once, and its record.
type CreatedToken struct {
	Token string `json:"token" doc:"the secret token; it cannot be retrieved again"`
	auth.TokenView
}

type createTokenOut struct {
	// CacheControl is "no-store" (noStore): the body holds the token.
	CacheControl string `header:"Cache-Control"`
	Body         CreatedToken
}

// noStore is the Cache-Control of the responses that carry a secret (a
// new token, a new EAB key's HMAC key): no cache, private or shared, may
// keep them (RFC 9111 §5.2.2.5).
const noStore = "no-store"

type tokenIn struct {
	ID string `path:"id" maxLength:"64" doc:"token ID, name of an unrevoked token, or the whole token (its ID is revoked)"`
}

type tokenOut struct {
	Body auth.TokenView
}

func tokenRoutes(a *API) {
	Register(a, auth.PermTokensRead, huma.Operation{OperationID: "list-tokens", Method: http.MethodGet, Path: Prefix + "/tokens",
		Summary: "List API tokens", Tags: []string{"tokens"}, Description: "Tokens ordered by name; never their secrets."},
		func(ctx context.Context, _ *auth.Principal, in *listTokensIn) (*tokensOut, error) {
			recs, err := a.d.Tokens.List(ctx, in.All)
			if err != nil {
				return nil, a.storeError(ctx, "tokens", err)
			}
			out := &tokensOut{}
			out.Body.Items = []auth.TokenView{}
			now := a.d.Now()
			for _, r := range recs {
				out.Body.Items = append(out.Body.Items, auth.View(r, now))
			}
			return out, nil
		})
	Register(a, auth.PermTokensWrite, huma.Operation{OperationID: "create-token", Method: http.MethodPost, Path: Prefix + "/tokens",
		Summary: "Create an API token", Tags: []string{"tokens"}, DefaultStatus: http.StatusCreated, Errors: []int{409},
		Description: "Returns the token once, with Cache-Control: no-store; only its SHA-256 hash is stored. 409 when an unrevoked token has the name. Audited as token.create."},
		func(ctx context.Context, p *auth.Principal, in *createTokenIn) (*createTokenOut, error) {
			if err := auth.CheckName(in.Body.Name); err != nil {
				return nil, invalidField("body.name", err.Error(), in.Body.Name)
			}
			var ttl time.Duration
			if in.Body.Expires != "" {
				var err error
				if ttl, err = config.ParseDuration(in.Body.Expires); err != nil || ttl <= 0 {
					return nil, invalidField("body.expires", "expires must be a positive duration such as 90d or 12h", in.Body.Expires)
				}
				if err := store.CheckLifetime(a.d.Now(), ttl); err != nil {
					return nil, invalidField("body.expires", "expires: "+err.Error(), in.Body.Expires)
				}
			}
			tok, rec, err := a.d.Tokens.Create(ctx, auth.CreateRequest{Name: in.Body.Name, Role: auth.Role(in.Body.Role), TTL: ttl, Actor: p.Actor()})
			if errors.Is(err, auth.ErrNameTaken) {
				return nil, huma.Error409Conflict("an unrevoked token is already named " + in.Body.Name)
			}
			if errors.Is(err, auth.ErrInvalid) {
				location, value := "body", any(nil)
				var f interface{ InvalidField() (string, any) }
				if errors.As(err, &f) {
					var field string
					field, value = f.InvalidField()
					location = "body." + field
					if field == "expires" {
						value = in.Body.Expires // as sent, not as parsed
					}
				}
				return nil, invalidField(location, err.Error(), value)
			}
			if err != nil {
				return nil, a.storeError(ctx, "token", err)
			}
			return &createTokenOut{CacheControl: noStore, Body: CreatedToken{Token: tok, TokenView: auth.View(rec, a.d.Now())}}, nil
		})
	Register(a, auth.PermTokensWrite, huma.Operation{OperationID: "revoke-token", Method: http.MethodPost, Path: Prefix + "/tokens/{id}/revoke",
		Summary: "Revoke an API token", Tags: []string{"tokens"}, Errors: []int{404, 409},
		Description: "Requests with the token get 401 from then on. 409 when it is already revoked. Audited as token.revoke."},
		func(ctx context.Context, p *auth.Principal, in *tokenIn) (*tokenOut, error) {
			rec, err := a.d.Tokens.Revoke(ctx, in.ID, p.Actor())
			switch {
			case errors.Is(err, auth.ErrNoToken):
				return nil, huma.Error404NotFound("no token with ID or name " + auth.RedactToken(in.ID))
			case errors.Is(err, auth.ErrRevoked):
				return nil, huma.Error409Conflict("the token is already revoked")
			case err != nil:
				return nil, a.storeError(ctx, "token", err)
			}
			return &tokenOut{Body: auth.View(rec, a.d.Now())}, nil
		})
}
