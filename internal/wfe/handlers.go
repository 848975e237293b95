package wfe

import (
	"bytes"
	"context"
	"encoding/json"
	"encoding/pem"
	"errors"
	"io"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/certgate/certgate/internal/acme"
	"github.com/certgate/certgate/internal/policy"
	"github.com/certgate/certgate/internal/ra"
	"github.com/certgate/certgate/internal/store"
	jose "github.com/go-jose/go-jose/v4"
)

// retryAfter is the polling hint, in seconds, sent with processing orders
// and with challenges and authorizations still being validated.
const retryAfter = "1"

func (x *exchange) accountURL(id string) string { return x.base + accountPath + id }
func (x *exchange) orderURL(id string) string   { return x.base + orderPath + id }
func (x *exchange) authzURL(id string) string   { return x.base + authzPath + id }

func (x *exchange) accountView(a *store.Account) acme.Account {
	return acme.Account{Status: a.Status, Contact: a.Contact, TermsOfServiceAgreed: a.TOSAgreed, Orders: x.accountURL(a.ID) + "/orders"}
}

func ts(t time.Time) *time.Time {
	if t.IsZero() {
		return nil
	}
	u := t.UTC().Truncate(time.Second)
	return &u
}

// ---- accounts ----

func (w *WFE) newAccount(ctx context.Context, x *exchange) error {
	req, err := w.post(ctx, x, needJWK)
	if err != nil {
		return err
	}
	var nar acme.NewAccountRequest
	if err := decodePayload(req.payload, &nar); err != nil {
		return err
	}
	jwkJSON, err := req.jwk.MarshalJSON()
	if err != nil {
		return w.internal(ctx, "encode JWK", err)
	}
	acct, created, err := w.ra.NewAccountIn(ctx, profileOf(x.r.URL.Path), x.base+x.r.URL.Path, req.thumbprint, jwkJSON, nar)
	if err != nil {
		return err
	}
	x.rw.Header().Set("Location", x.accountURL(acct.ID))
	code := http.StatusOK
	if created {
		code = http.StatusCreated
	}
	return writeJSON(x.rw, code, x.accountView(acct))
}

// account serves POST /acme/account/{id} (fetch, update, deactivate; RFC
// 8555 §7.3.2, §7.3.6) and POST /acme/account/{id}/orders (§7.1.2.1).
func (w *WFE) account(ctx context.Context, x *exchange) error {
	rest := strings.TrimPrefix(x.r.URL.Path, accountPath)
	id, sub, slash := strings.Cut(rest, "/")
	mode := kidAnyKey // an account with a key outside the policy may fetch, update, deactivate itself
	if slash {
		mode = needKid
	}
	req, err := w.post(ctx, x, mode)
	if err != nil {
		return err
	}
	if id == "" { // "/acme/account/": no resource, as "/acme/order/"
		return w.notFound(ctx, x)
	}
	if req.account.ID != id {
		return acme.NewProblem(acme.Unauthorized, "the request is not signed by this account's key")
	}
	switch {
	case !slash:
	case sub == "orders":
		return w.ordersList(ctx, x, req)
	default:
		// Including the account URL with a "/" appended: no resource.
		return w.notFound(ctx, x)
	}
	acct := req.account
	if !req.postAsGet() {
		var upd acme.AccountUpdateRequest
		if err := decodePayload(req.payload, &upd); err != nil {
			return err
		}
		acct, err = w.ra.UpdateAccount(ctx, acct, upd)
		w.accounts.forget(id)
		if err != nil {
			return err
		}
	}
	x.rw.Header().Set("Location", x.accountURL(acct.ID))
	return writeJSON(x.rw, http.StatusOK, x.accountView(acct))
}

// ordersList serves an account's orders list (RFC 8555 §7.1.2.1), a page
// of OrdersPerPage orders at a time with a Link rel="next" to the next.
// Invalid orders are left out (the list SHOULD NOT include them): those
// stored as invalid by the query, and pending orders whose authorizations
// make them invalid (a failed validation, ra.OrderStatus) here, so a page
// may hold fewer orders than the page size.
func (w *WFE) ordersList(ctx context.Context, x *exchange, req *request) error {
	if !req.postAsGet() {
		return acme.NewProblem(acme.Malformed, "the orders list is fetched with POST-as-GET (empty payload)")
	}
	var after time.Time
	var afterID string
	if c := x.r.URL.Query().Get("cursor"); c != "" {
		var ok bool
		if after, afterID, ok = parseCursor(c); !ok {
			return acme.NewProblem(acme.Malformed, "invalid cursor")
		}
	}
	now := w.ra.Now()
	orders, err := w.store.ListACMEOrders(ctx, req.account.ID, after, afterID, now, w.cfg.OrdersPerPage+1)
	if err != nil {
		return w.internal(ctx, "orders list", err)
	}
	if len(orders) > w.cfg.OrdersPerPage {
		last := orders[w.cfg.OrdersPerPage-1]
		next := x.accountURL(req.account.ID) + "/orders?cursor=" + newCursor(last.CreatedAt, last.ID)
		x.rw.Header().Add("Link", link(next, "next"))
		orders = orders[:w.cfg.OrdersPerPage]
	}
	authzs, err := w.pendingAuthorizations(ctx, orders)
	if err != nil {
		return w.internal(ctx, "orders list authorizations", err)
	}
	list := acme.OrdersList{Orders: []string{}}
	for _, o := range orders {
		var azs []*store.Authorization
		if o.Status == acme.StatusPending {
			azs = make([]*store.Authorization, len(o.AuthzIDs))
			for i, id := range o.AuthzIDs {
				azs[i] = authzs[id]
			}
		}
		if ra.OrderStatus(o, azs, now) == acme.StatusInvalid {
			continue
		}
		list.Orders = append(list.Orders, x.orderURL(o.ID))
	}
	return writeJSON(x.rw, http.StatusOK, list)
}

// pendingAuthorizations reads the authorizations of the pending orders
// among orders (the others' status does not depend on them), by ID, with
// one read per maxIdentifiers of them: the size of one order's read, so
// that the statements are those that order reads prepare.
func (w *WFE) pendingAuthorizations(ctx context.Context, orders []*store.Order) (map[string]*store.Authorization, error) {
	var ids []string
	seen := map[string]bool{}
	for _, o := range orders {
		if o.Status != acme.StatusPending {
			continue
		}
		for _, id := range o.AuthzIDs {
			if !seen[id] {
				seen[id] = true
				ids = append(ids, id)
			}
		}
	}
	out := make(map[string]*store.Authorization, len(ids))
	for chunk := range slices.Chunk(ids, authzReadChunk) {
		azs, err := w.store.GetAuthorizations(ctx, chunk)
		if err != nil {
			return nil, err
		}
		for _, a := range azs {
			out[a.ID] = a
		}
	}
	return out, nil
}

// authzReadChunk bounds the authorizations of one read of the orders list:
// the most one order has (ra's limit on identifiers).
const authzReadChunk = 100

// keyChange rolls an account over to a new key (RFC 8555 §7.3.5).
// The outer JWS may be signed by an account key outside the account key
// policy (kidAnyKey), so that such an account can roll over to a key
// within it; the new key must be within it (checked on the inner JWS's
// "jwk" and by ra.ChangeKey).
func (w *WFE) keyChange(ctx context.Context, x *exchange) error {
	outer, err := w.post(ctx, x, kidAnyKey)
	if err != nil {
		return err
	}
	inner, err := w.verify(ctx, outer.payload, x.base, outer.url, innerJWKNo)
	if err != nil {
		// The client is told the fault is in the inner JWS, not in the
		// request it sent ("the JWS signature does not verify").
		if p, ok := acme.AsProblem(err); ok {
			switch p.Type {
			case acme.Unauthorized:
				return acme.NewProblem(acme.Malformed, "inner JWS: %s", p.Detail)
			case acme.Malformed, acme.BadSignatureAlgorithm, acme.BadPublicKey:
				if !strings.Contains(p.Detail, "inner") {
					q := *p
					q.Detail = "inner JWS: " + p.Detail
					return &q
				}
			}
		}
		return err
	}
	var kc acme.KeyChangeInner
	if len(bytes.TrimSpace(inner.payload)) == 0 {
		return acme.NewProblem(acme.Malformed, "inner JWS: the payload must be the key-change object (RFC 8555 §7.3.5), not empty")
	}
	if err := decodePayload(inner.payload, &kc); err != nil {
		// As the inner JWS's own faults above: the client is told which
		// of its two payloads is wrong.
		if p, ok := acme.AsProblem(err); ok {
			q := *p
			q.Detail = "inner JWS: " + strings.Replace(p.Detail, "the request payload", "the payload", 1)
			return &q
		}
		return err
	}
	var acctURL string
	if json.Unmarshal(kc.Account, &acctURL) != nil || acctURL != x.accountURL(outer.account.ID) {
		return acme.NewProblem(acme.Malformed, "the inner payload's \"account\" must be the URL of the signing account")
	}
	var oldKey jose.JSONWebKey
	if err := oldKey.UnmarshalJSON(kc.OldKey); err != nil || !oldKey.Valid() {
		return acme.NewProblem(acme.Malformed, "the inner payload's \"oldKey\" is not a JWK")
	}
	if !oldKey.IsPublic() {
		// As a "jwk" header with a private key (verify): the client
		// is told rather than its mistake passing unnoticed.
		return acme.NewProblem(acme.Malformed, "the inner payload's \"oldKey\" contains the private key; send the public key only")
	}
	if tp, err := thumbprint(&oldKey); err != nil || tp != outer.thumbprint {
		return acme.NewProblem(acme.Malformed, "\"oldKey\" is not the account's current key")
	}
	newJWK, err := inner.jwk.MarshalJSON()
	if err != nil {
		return w.internal(ctx, "encode JWK", err)
	}
	err = w.ra.ChangeKey(ctx, outer.account, inner.thumbprint, newJWK)
	w.accounts.forget(outer.account.ID)
	if err != nil {
		return err
	}
	acct, err := w.store.GetAccount(ctx, outer.account.ID)
	if err != nil {
		return w.internal(ctx, "account lookup", err)
	}
	x.rw.Header().Set("Location", x.accountURL(acct.ID))
	return writeJSON(x.rw, http.StatusOK, x.accountView(acct))
}

// ---- orders ----

func (x *exchange) orderView(o *store.Order, authzs []*store.Authorization, now time.Time) acme.Order {
	v := acme.Order{Status: ra.OrderStatus(o, authzs, now), Expires: ts(o.Expires), Identifiers: o.Identifiers,
		NotBefore: ts(o.NotBefore), NotAfter: ts(o.NotAfter), Error: ra.OrderError(o, authzs, now),
		Finalize: x.orderURL(o.ID) + "/finalize", Authorizations: make([]string, len(o.AuthzIDs)), Replaces: o.Replaces, Profile: o.Profile}
	if v.Profile == "" {
		v.Profile = policy.DefaultName
	}
	for i, id := range o.AuthzIDs {
		v.Authorizations[i] = x.authzURL(id)
	}
	if o.CertSerial != "" {
		v.Certificate = x.base + certPath + o.CertSerial
	}
	return v
}

// writeOrder renders o; authzs are its authorizations, or nil to load them.
func (w *WFE) writeOrder(ctx context.Context, x *exchange, o *store.Order, authzs []*store.Authorization, code int) error {
	if authzs == nil {
		var err error
		if authzs, err = w.store.GetAuthorizations(ctx, o.AuthzIDs); err != nil {
			return w.internal(ctx, "authorizations lookup", err)
		}
	}
	v := x.orderView(o, authzs, w.ra.Now())
	switch {
	case o.Status == store.OrderAwaitingApproval:
		x.rw.Header().Set("Retry-After", strconv.Itoa(ra.ApprovalRetryAfter))
	case v.Status == acme.StatusProcessing:
		x.rw.Header().Set("Retry-After", retryAfter)
	}
	x.rw.Header().Set("Location", x.orderURL(o.ID))
	return writeJSON(x.rw, code, v)
}

func (w *WFE) newOrder(ctx context.Context, x *exchange) error {
	req, err := w.post(ctx, x, needKid)
	if err != nil {
		return err
	}
	var nor acme.NewOrderRequest
	if err := decodePayload(req.payload, &nor); err != nil {
		return err
	}
	if nor.Profile, err = orderProfile(x.r.URL.Path, nor.Profile); err != nil {
		return err
	}
	// The order is rendered from what NewOrderAuthz stored or read, not
	// read back.
	o, authzs, err := w.ra.NewOrderAuthz(ctx, req.account, nor)
	if err != nil {
		return err
	}
	return w.writeOrder(ctx, x, o, authzs, http.StatusCreated)
}

// order serves POST /acme/order/{id} (POST-as-GET) and
// POST /acme/order/{id}/finalize (RFC 8555 §7.4).
func (w *WFE) order(ctx context.Context, x *exchange) error {
	id, sub, slash := strings.Cut(strings.TrimPrefix(x.r.URL.Path, orderPath), "/")
	if slash && sub != "finalize" {
		// Including the order URL with a "/" appended: no resource.
		return w.notFound(ctx, x)
	}
	req, err := w.post(ctx, x, needKid)
	if err != nil {
		return err
	}
	// The order and its authorizations in one read.
	o, authzs, err := w.store.GetOrderAuthorizations(ctx, id)
	if o == nil && errors.Is(err, store.ErrNotFound) || (o != nil && o.AccountID != req.account.ID) {
		p := acme.NewProblem(acme.Malformed, "no such order")
		p.Status = http.StatusNotFound
		return p
	}
	if o == nil {
		return w.internal(ctx, "order lookup", err)
	}
	if err != nil {
		return w.internal(ctx, "authorizations lookup", err)
	}
	if sub == "" {
		if !req.postAsGet() {
			return acme.NewProblem(acme.Malformed, "an order is fetched with POST-as-GET (empty payload)")
		}
		if o, err = w.ra.ResumeApproved(ctx, o); err != nil {
			return err
		}
		return w.writeOrder(ctx, x, o, authzs, http.StatusOK)
	}
	var fr acme.FinalizeRequest
	if err := decodePayload(req.payload, &fr); err != nil {
		return err
	}
	csr, err := decodeB64("csr", fr.CSR)
	if err != nil {
		p := err.(*acme.Problem)
		p.Type = acme.BadCSR
		return p
	}
	done, err := w.ra.Finalize(ctx, req.account, o, authzs, csr, req.jwk.Key)
	if err != nil {
		return err
	}
	return w.writeOrder(ctx, x, done, authzs, http.StatusOK)
}

// ---- authorizations and challenges ----

func (x *exchange) challengeView(c *store.Challenge) acme.Challenge {
	return acme.Challenge{Type: c.Type, URL: x.base + challengePath + c.ID, Status: c.Status, Validated: ts(c.ValidatedAt),
		Error: c.Error, Token: c.Token}
}

func (x *exchange) authzView(a *store.Authorization, now time.Time) (acme.Authorization, bool) {
	v := acme.Authorization{Identifier: a.Identifier, Status: ra.AuthorizationStatus(a, now), Expires: ts(a.Expires), Wildcard: a.Wildcard,
		Challenges: []acme.Challenge{}}
	// Once an authorization is valid, only the challenge that made it so
	// is listed; once it is invalid, only the challenge that was attempted
	// and failed (RFC 8555 §7.1.4), not the others, which can no longer be
	// answered. An authorization invalid without a failed challenge lists
	// them all.
	only := ""
	switch {
	case v.Status == acme.StatusValid:
		only = acme.StatusValid
	case v.Status == acme.StatusInvalid && slices.ContainsFunc(a.Challenges, func(c store.Challenge) bool { return c.Status == acme.StatusInvalid }):
		only = acme.StatusInvalid
	}
	busy := false
	for i := range a.Challenges {
		c := &a.Challenges[i]
		if only != "" && c.Status != only {
			continue
		}
		busy = busy || c.Status == acme.StatusProcessing
		v.Challenges = append(v.Challenges, x.challengeView(c))
	}
	return v, busy && v.Status == acme.StatusPending
}

func (w *WFE) loadAuthz(ctx context.Context, id string, acct *store.Account) (*store.Authorization, error) {
	a, err := w.store.GetAuthorization(ctx, id)
	if errors.Is(err, store.ErrNotFound) || (err == nil && a.AccountID != acct.ID) {
		p := acme.NewProblem(acme.Malformed, "no such authorization")
		p.Status = http.StatusNotFound
		return nil, p
	}
	if err != nil {
		return nil, w.internal(ctx, "authorization lookup", err)
	}
	return a, nil
}

// authorization serves POST /acme/authz/{id}: POST-as-GET, or
// {"status":"deactivated"} (RFC 8555 §7.5, §7.5.2).
func (w *WFE) authorization(ctx context.Context, x *exchange) error {
	req, err := w.post(ctx, x, needKid)
	if err != nil {
		return err
	}
	a, err := w.loadAuthz(ctx, strings.TrimPrefix(x.r.URL.Path, authzPath), req.account)
	if err != nil {
		return err
	}
	if !req.postAsGet() {
		var upd acme.AuthorizationUpdateRequest
		if err := decodePayload(req.payload, &upd); err != nil {
			return err
		}
		if upd.Status != acme.StatusDeactivated {
			return acme.NewProblem(acme.Malformed, "an authorization can only be updated to {\"status\": \"deactivated\"}")
		}
		if a, err = w.ra.DeactivateAuthorization(ctx, req.account, a.ID); err != nil {
			return err
		}
	}
	v, busy := x.authzView(a, w.ra.Now())
	if busy {
		for _, c := range a.Challenges {
			if c.Status == acme.StatusProcessing {
				w.ra.WaitResult(ctx, c.ID)
			}
		}
		if a, err = w.store.GetAuthorization(ctx, a.ID); err != nil {
			return w.internal(ctx, "authorization lookup", err)
		}
		v, busy = x.authzView(a, w.ra.Now())
	}
	if busy {
		x.rw.Header().Set("Retry-After", retryAfter)
	}
	return writeJSON(x.rw, http.StatusOK, v)
}

// challenge serves POST /acme/chall/{id}: an empty JSON object ({}) asks
// for validation, an empty payload fetches it (RFC 8555 §7.5.1).
func (w *WFE) challenge(ctx context.Context, x *exchange) error {
	req, err := w.post(ctx, x, needKid)
	if err != nil {
		return err
	}
	id := strings.TrimPrefix(x.r.URL.Path, challengePath)
	var c *store.Challenge
	var a *store.Authorization
	if req.postAsGet() {
		// The challenge and its authorization in one read.
		c, a, err = w.store.GetChallengeAuthorization(ctx, id)
		if err == nil && a.AccountID != req.account.ID {
			err = ra.ErrNotOwner
		}
	} else {
		// A response to the challenge: read and started (when pending) in
		// one storage write.
		var obj map[string]json.RawMessage
		if perr := decodePayload(req.payload, &obj); perr != nil {
			// As when the challenge was read before the payload: an
			// unknown challenge or another account's is a 404 whatever
			// the payload; only then is the payload's problem told.
			if c, a, err = w.store.GetChallengeAuthorization(ctx, id); err == nil {
				if a.AccountID != req.account.ID {
					err = ra.ErrNotOwner
				} else {
					err = perr
				}
			}
		} else {
			c, a, err = w.ra.RespondChallengeID(ctx, req.account, id)
		}
	}
	var p *acme.Problem
	switch {
	case errors.Is(err, store.ErrNotFound), errors.Is(err, ra.ErrNotOwner):
		// Another account's challenge looks exactly like one that does
		// not exist, so that its ID cannot be probed.
		p := acme.NewProblem(acme.Malformed, "no such challenge")
		p.Status = http.StatusNotFound
		return p
	case errors.As(err, &p):
		return p
	case err != nil:
		return w.internal(ctx, "challenge lookup", err)
	}
	if c.Status == acme.StatusProcessing {
		// A validation that ends in this process hands back what it
		// stored; otherwise read the challenge's current state.
		if done := w.ra.WaitResult(ctx, c.ID); done != nil {
			c = done
		} else if c, err = w.store.GetChallenge(ctx, c.ID); err != nil {
			return w.internal(ctx, "challenge lookup", err)
		}
	}
	x.rw.Header().Add("Link", link(x.authzURL(a.ID), "up"))
	if c.Status == acme.StatusPending || c.Status == acme.StatusProcessing {
		x.rw.Header().Set("Retry-After", retryAfter)
	}
	return writeJSON(x.rw, http.StatusOK, x.challengeView(c))
}

// ---- certificates ----

// certificate serves POST /acme/cert/{serial} as
// application/pem-certificate-chain (RFC 8555 §7.4.2).
func (w *WFE) certificate(ctx context.Context, x *exchange) error {
	req, err := w.post(ctx, x, needKid)
	if err != nil {
		return err
	}
	if !req.postAsGet() {
		return acme.NewProblem(acme.Malformed, "a certificate is fetched with POST-as-GET (empty payload)")
	}
	owner, chain, err := w.store.CertificateChain(ctx, strings.TrimPrefix(x.r.URL.Path, certPath))
	if errors.Is(err, store.ErrNotFound) || (err == nil && owner != req.account.ID) {
		p := acme.NewProblem(acme.Malformed, "no such certificate")
		p.Status = http.StatusNotFound
		return p
	}
	if err != nil {
		return w.internal(ctx, "certificate lookup", err)
	}
	if up, ok := w.upPath(chain); ok {
		x.rw.Header().Add("Link", link(x.base+up, "up"))
	}
	x.rw.Header().Set("Content-Type", "application/pem-certificate-chain")
	x.rw.WriteHeader(http.StatusOK)
	_, err = io.WriteString(x.rw, chain)
	return err
}

// upPath returns the path at which this server serves the certificate
// that issued the leaf of chainPEM (the chain's second certificate): the
// certificate download's Link rel="up" (RFC 8555 §7.4.2). ok is false
// when the chain has no second certificate or its issuer is not served
// here (an upstream CA's).
func (w *WFE) upPath(chainPEM string) (path string, ok bool) {
	rest := []byte(chainPEM)
	if b, r := pem.Decode(rest); b != nil {
		if b, _ = pem.Decode(r); b != nil {
			path, ok = w.upByIssuer[string(b.Bytes)]
		}
	}
	return path, ok
}

// revokeCert revokes a certificate (RFC 8555 §7.6); signed either by an
// account (kid) or by the certificate's key (jwk).
func (w *WFE) revokeCert(ctx context.Context, x *exchange) error {
	req, err := w.post(ctx, x, jwkOrKid)
	if err != nil {
		return err
	}
	var rr acme.RevocationRequest
	if err := decodePayload(req.payload, &rr); err != nil {
		return err
	}
	der, err := decodeB64("certificate", rr.Certificate)
	if err != nil {
		return err
	}
	rq := ra.RevokeRequest{CertDER: der, Reason: rr.Reason, Account: req.account}
	if req.account == nil {
		rq.CertKey = req.jwk.Key
	}
	if err := w.ra.Revoke(ctx, rq); err != nil {
		return err
	}
	x.rw.WriteHeader(http.StatusOK)
	return nil
}
