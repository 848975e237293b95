package web

import (
	"encoding/json"
	"errors"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/certgate/certgate/internal/acme"
	"github.com/certgate/certgate/internal/adminapi"
	"github.com/certgate/certgate/internal/audit"
	"github.com/certgate/certgate/internal/display"
	"github.com/certgate/certgate/internal/inventory"
	"github.com/certgate/certgate/internal/ra"
	"github.com/certgate/certgate/internal/store"
)

// pageSize is the number of rows of a list page.
const pageSize = 50

// invalidMessage is the readable text of an inventory.ErrInvalid error:
// the message of each bad parameter, joined.
func invalidMessage(err error) string {
	ies := inventory.InvalidErrors(err)
	if len(ies) == 0 {
		return strings.TrimPrefix(err.Error(), inventory.ErrInvalid.Error()+": ")
	}
	msgs := make([]string, len(ies))
	for i, ie := range ies {
		msgs[i] = ie.Msg
	}
	return strings.Join(msgs, "; ")
}

// certFilter is the certificate list's form, as the query string has it.
type certFilter struct {
	Q       string // the search text
	In      string // what Q is: name, domain (names under it) or serial; "" guesses
	Status  string // valid, expiring, expired, revoked or ""
	Profile string
	Sort    string // not_after (expiring first), -not_after, serial
	Cursor  string
}

// query returns the inventory query of f.
func (f *certFilter) query() inventory.Query {
	q := inventory.Query{Profile: f.Profile, Sort: f.Sort, Limit: pageSize, Cursor: f.Cursor, Status: f.Status}
	if f.Status == "expiring" {
		q.Status, q.ExpiringWithin = "", 30*24*time.Hour
	}
	in := f.In
	if in == "" && f.Q != "" {
		in = "name"
		if isSerialText(f.Q) {
			in = "serial"
		}
	}
	switch in {
	case "name":
		q.Name = f.Q
	case "domain":
		q.Suffix = f.Q
	case "serial":
		q.Serial = f.Q
	}
	return q
}

// isSerialText reports whether s looks like a serial (hex digits and
// colons, no dot) rather than a name.
func isSerialText(s string) bool {
	for _, c := range s {
		if !(c >= '0' && c <= '9' || c >= 'a' && c <= 'f' || c >= 'A' && c <= 'F' || c == ':') {
			return false
		}
	}
	return len(s) >= 8 || strings.Contains(s, ":")
}

// values returns f as a query string, with cursor.
func (f *certFilter) values(cursor string) string {
	v := url.Values{}
	for k, s := range map[string]string{"q": f.Q, "in": f.In, "status": f.Status, "profile": f.Profile, "sort": f.Sort, "cursor": cursor} {
		if s != "" {
			v.Set(k, s)
		}
	}
	return v.Encode()
}

// certificates lists and searches the inventory.
func (u *UI) certificates(w http.ResponseWriter, r *http.Request, v *view) {
	qs := r.URL.Query()
	f := &certFilter{Q: strings.TrimSpace(qs.Get("q")), In: qs.Get("in"), Status: qs.Get("status"), Profile: strings.TrimSpace(qs.Get("profile")),
		Sort: qs.Get("sort"), Cursor: qs.Get("cursor")}
	if f.Sort == "" {
		f.Sort = store.SortNotAfter
	}
	type data struct {
		F      *certFilter
		Items  []inventory.Certificate
		Next   string // URL of the next page; "" on the last
		First  string // URL of the first page, when not on it
		Status []string
	}
	d := data{F: f, Status: []string{"valid", "expiring", "expired", "revoked"}}
	v.Title, v.Nav, v.Data = "Certificates", "certificates", &d
	var err error
	switch f.In {
	case "", "name", "domain", "serial":
	default:
		err = errors.New("search in name, domain or serial")
	}
	switch f.Status {
	case "", "valid", "expiring", "expired", "revoked":
	default:
		err = errors.Join(err, errors.New("status must be valid, expiring, expired or revoked"))
	}
	if err != nil {
		v.Error = strings.ReplaceAll(err.Error(), "\n", "; ")
		u.render(w, r, http.StatusBadRequest, "certificates", v)
		return
	}
	p, err := u.d.Inventory.List(r.Context(), f.query())
	if errors.Is(err, inventory.ErrInvalid) {
		v.Error = invalidMessage(err)
		u.render(w, r, http.StatusBadRequest, "certificates", v)
		return
	}
	if err != nil {
		u.internal(w, r, v, "the certificates", err)
		return
	}
	d.Items = p.Items
	if p.NextCursor != "" {
		d.Next = Root + "certificates?" + f.values(p.NextCursor)
	}
	if f.Cursor != "" {
		d.First = Root + "certificates?" + f.values("")
	}
	u.render(w, r, http.StatusOK, "certificates", v)
}

// reasonOption is one revocation reason of the revoke form.
type reasonOption struct {
	Code int
	Name string
}

// revocationReasons are the reasons certgate accepts
// (acme.RevocationReasonAllowed), in code order.
func revocationReasons() []reasonOption {
	var out []reasonOption
	for c := 0; c <= 10; c++ {
		if acme.RevocationReasonAllowed(c) {
			out = append(out, reasonOption{c, acme.RevocationReasonName(c)})
		}
	}
	return out
}

// certificate shows one certificate, with the revoke form for a role that
// may revoke.
func (u *UI) certificate(w http.ResponseWriter, r *http.Request, v *view) {
	c, ok := u.lookup(w, r, v)
	if !ok {
		return
	}
	if err := adminapi.WithRenewal(r.Context(), u.d.Store, c, u.d.RevokedIntermediates, u.d.Now()); err != nil {
		u.internal(w, r, v, "the certificate's renewal window", err)
		return
	}
	type data struct {
		C       *inventory.Certificate
		Reasons []reasonOption
	}
	switch r.URL.Query().Get("done") {
	case "revoked":
		v.Flash = "The certificate is revoked."
	}
	v.Title, v.Nav, v.Data = "Certificate "+c.Serial, "certificates", data{C: c, Reasons: revocationReasons()}
	u.render(w, r, http.StatusOK, "certificate", v)
}

// lookup returns the certificate the path's {serial} names, or renders a
// 404 or 400 page and returns false.
func (u *UI) lookup(w http.ResponseWriter, r *http.Request, v *view) (*inventory.Certificate, bool) {
	ref := r.PathValue("serial")
	c, err := u.d.Inventory.Get(r.Context(), ref)
	switch {
	case errors.Is(err, inventory.ErrNotFound):
		u.fail(w, r, v, http.StatusNotFound, "There is no certificate "+ref+" in the inventory.")
		return nil, false
	case errors.Is(err, inventory.ErrInvalid):
		u.fail(w, r, v, http.StatusBadRequest, invalidMessage(err))
		return nil, false
	case err != nil:
		u.internal(w, r, v, "the certificate", err)
		return nil, false
	}
	return c, true
}

// certificatePEM downloads the certificate with its chain.
func (u *UI) certificatePEM(w http.ResponseWriter, r *http.Request, v *view) {
	c, ok := u.lookup(w, r, v)
	if !ok {
		return
	}
	pem, err := u.d.Inventory.PEM(r.Context(), c.Serial, true)
	if err != nil {
		u.internal(w, r, v, "the certificate", err)
		return
	}
	w.Header().Set("Content-Type", "application/pem-certificate-chain")
	w.Header().Set("Content-Disposition", `attachment; filename="`+c.Serial+`.pem"`)
	_, _ = w.Write(pem)
}

// revoke revokes the certificate through the RA, as the admin API does.
func (u *UI) revoke(w http.ResponseWriter, r *http.Request, v *view) {
	c, ok := u.lookup(w, r, v)
	if !ok {
		return
	}
	reason, err := acme.ParseRevocationReason(r.PostFormValue("reason"))
	if err != nil {
		u.fail(w, r, v, http.StatusBadRequest, err.Error())
		return
	}
	_, err = u.d.Revoker.RevokeSerial(r.Context(), c.Serial, reason, v.P.Actor())
	switch {
	case errors.Is(err, ra.ErrUnknownCertificate):
		u.fail(w, r, v, http.StatusNotFound, "There is no certificate "+c.Serial+" to revoke.")
		return
	case errors.Is(err, ra.ErrAlreadyRevoked):
		u.fail(w, r, v, http.StatusConflict, "Certificate "+c.Serial+" is already revoked.")
		return
	case errors.Is(err, ra.ErrBadReason):
		u.fail(w, r, v, http.StatusBadRequest, err.Error())
		return
	case errors.As(err, new(*ra.IssuerNotConfiguredError)):
		// Issued through an upstream CA this server does not have
		// configured: nothing was recorded (as the admin API's 503).
		var nc *ra.IssuerNotConfiguredError
		errors.As(err, &nc)
		u.fail(w, r, v, http.StatusServiceUnavailable, "Certificate "+c.Serial+" is not revoked: "+nc.Error())
		return
	case errors.As(err, new(*acme.Problem)):
		// The upstream CA that issued it refused or could not be
		// reached (docs/issuers.md): nothing was recorded. Its detail
		// is client-safe, as the admin API's 502 shows it.
		p, _ := acme.AsProblem(err)
		u.fail(w, r, v, http.StatusBadGateway, "Certificate "+c.Serial+" is not revoked: "+p.Detail)
		return
	case err != nil:
		u.internal(w, r, v, "the revocation", err)
		return
	}
	http.Redirect(w, r, Root+"certificates/"+url.PathEscape(c.Serial)+"?done=revoked", http.StatusSeeOther)
}

// approvals lists approval requests in a status (pending by default),
// oldest first, with approve and reject forms for a role that decides.
func (u *UI) approvals(w http.ResponseWriter, r *http.Request, v *view) {
	status := r.URL.Query().Get("status")
	switch status {
	case "":
		status = store.ApprovalPending
	case store.ApprovalPending, store.ApprovalApproved, store.ApprovalRejected, "all":
	default:
		u.fail(w, r, v, http.StatusBadRequest, "The status must be pending, approved, rejected or all.")
		return
	}
	filter := status
	if filter == "all" {
		filter = ""
	}
	cursor := r.URL.Query().Get("cursor")
	after, err := adminapi.ParseApprovalCursor(cursor)
	if err != nil {
		u.fail(w, r, v, http.StatusBadRequest, "The page link is malformed; start again from the first page.")
		return
	}
	aps, err := u.d.Store.ListApprovalsPage(r.Context(), filter, after, pageSize+1)
	if err != nil {
		u.internal(w, r, v, "the approvals", err)
		return
	}
	var next string
	if len(aps) > pageSize {
		aps = aps[:pageSize]
		next = Root + "approvals?" + url.Values{"status": {status}, "cursor": {adminapi.ApprovalCursor(aps[len(aps)-1])}}.Encode()
	}
	items, err := adminapi.ApprovalItems(r.Context(), u.d.Store, aps)
	if err != nil {
		u.internal(w, r, v, "the approvals", err)
		return
	}
	type data struct {
		Status   string
		Statuses []string
		Items    []adminapi.ApprovalItem
		Next     string // URL of the next page; "" on the last
		First    string // URL of the first page, when not on it
	}
	switch r.URL.Query().Get("done") {
	case "approved":
		v.Flash = "The request is approved: the certificate is issued at the client's next poll."
	case "rejected":
		v.Flash = "The request is rejected."
	}
	v.Title, v.Nav = "Approvals", "approvals"
	d := data{Status: status, Statuses: []string{store.ApprovalPending, store.ApprovalApproved, store.ApprovalRejected, "all"}, Items: items, Next: next}
	if cursor != "" {
		d.First = Root + "approvals?" + url.Values{"status": {status}}.Encode()
	}
	v.Data = d
	u.render(w, r, http.StatusOK, "approvals", v)
}

// unissuable says why ra.Decide refused to approve a request that would
// issue nothing ("ACME account is no longer valid"), or "" when err is
// not such a refusal.
func unissuable(err error) string {
	for _, c := range []struct {
		err error
		why string
	}{
		{store.ErrAccountNotValid, "ACME account is no longer valid"},
		{store.ErrOrderExpired, "order expired"},
		{store.ErrKeyBlocked, "key was blocked since (a certificate with it was revoked for key compromise)"},
		{store.ErrProfileDeleted, "profile was deleted"},
		{store.ErrAuthzNotValid, "order has an authorization deactivated, revoked or expired since it was finalized"},
	} {
		if errors.Is(err, c.err) {
			return c.why
		}
	}
	return ""
}

// decide approves or rejects an approval request (ra.Decide, as the admin
// API).
func (u *UI) decide(w http.ResponseWriter, r *http.Request, v *view) {
	id, decision := r.PathValue("id"), r.PathValue("decision")
	if decision != "approve" && decision != "reject" {
		u.fail(w, r, v, http.StatusNotFound, "There is no such page: "+r.URL.Path+".")
		return
	}
	approve := decision == "approve"
	_, err := ra.Decide(r.Context(), u.d.Store, u.d.Audit, id, approve, v.P.Actor(), strings.TrimSpace(r.PostFormValue("comment")), u.d.Now().UTC())
	switch {
	case errors.Is(err, ra.ErrNoRejectionComment):
		u.fail(w, r, v, http.StatusBadRequest, "A rejection needs a comment saying why: the ACME client sees it.")
		return
	case errors.Is(err, ra.ErrInvalidComment):
		u.fail(w, r, v, http.StatusBadRequest, "The comment cannot be recorded: "+strings.TrimPrefix(err.Error(), ra.ErrInvalidComment.Error()+": the comment ")+".")
		return
	case errors.Is(err, store.ErrNotFound):
		u.fail(w, r, v, http.StatusNotFound, "There is no approval request "+id+".")
		return
	case errors.Is(err, store.ErrStale):
		u.fail(w, r, v, http.StatusConflict, "The request was already decided.")
		return
	case unissuable(err) != "":
		u.fail(w, r, v, http.StatusConflict, "The request's "+unissuable(err)+", so it can no longer be approved; the server rejects it.")
		return
	case err != nil:
		u.internal(w, r, v, "the approval", err)
		return
	}
	done := "approved"
	if !approve {
		done = "rejected"
	}
	http.Redirect(w, r, Root+"approvals?done="+done, http.StatusSeeOther)
}

// auditRow is one audit event as the audit page shows it.
type auditRow struct {
	*store.AuditRecord
	Before, After string // indented JSON, display.EscapeLines; "" for none
}

// auditLog lists audit events newest first, filtered as the admin API's
// list-audit-events, paginated by seq.
func (u *UI) auditLog(w http.ResponseWriter, r *http.Request, v *view) {
	qs := r.URL.Query()
	action, objectType, objectID := qs.Get("action"), qs.Get("object_type"), strings.TrimSpace(qs.Get("object_id"))
	var before int64
	type data struct {
		Action, ObjectType, ObjectID string
		Actions, ObjectTypes         []string
		Items                        []auditRow
		Next                         string
	}
	d := data{Action: action, ObjectType: objectType, ObjectID: objectID, Actions: audit.Actions(), ObjectTypes: audit.ObjectTypes()}
	v.Title, v.Nav, v.Data = "Audit log", "audit", &d
	var msgs []string
	if s := qs.Get("before"); s != "" {
		n, err := strconv.ParseInt(s, 10, 64)
		if err != nil || n < 0 {
			msgs = append(msgs, "before must be an event number")
		}
		before = n
	}
	if action != "" {
		if err := audit.CheckAction(action); err != nil {
			msgs = append(msgs, "unknown action "+strconv.Quote(action))
		}
	}
	if objectType != "" {
		if err := audit.CheckObjectType(objectType); err != nil {
			msgs = append(msgs, "unknown object type "+strconv.Quote(objectType))
		}
	}
	if err := inventory.CheckAuditObjectID(objectType, objectID); err != nil {
		msgs = append(msgs, invalidMessage(err))
	}
	if len(msgs) > 0 {
		v.Error = strings.Join(msgs, "; ")
		u.render(w, r, http.StatusBadRequest, "audit", v)
		return
	}
	evs, err := u.d.Audit.List(r.Context(), store.AuditFilter{Newest: true, BeforeSeq: before, Action: action, ObjectType: objectType,
		ObjectID: inventory.AuditObjectID(objectType, objectID), Limit: pageSize})
	if err != nil {
		u.internal(w, r, v, "the audit log", err)
		return
	}
	for _, e := range evs {
		d.Items = append(d.Items, auditRow{AuditRecord: e, Before: display.EscapeLines(indentJSON(e.Before)), After: display.EscapeLines(indentJSON(e.After))})
	}
	if len(evs) == pageSize && evs[len(evs)-1].Seq > 1 {
		q := url.Values{}
		for k, s := range map[string]string{"action": action, "object_type": objectType, "object_id": objectID} {
			if s != "" {
				q.Set(k, s)
			}
		}
		q.Set("before", strconv.FormatInt(evs[len(evs)-1].Seq, 10))
		d.Next = Root + "audit?" + q.Encode()
	}
	u.render(w, r, http.StatusOK, "audit", v)
}

// indentJSON returns the JSON text s indented, "" for none.
func indentJSON(s string) string {
	if s == "" {
		return ""
	}
	var v any
	if json.Unmarshal([]byte(s), &v) != nil {
		return s
	}
	b, err := json.MarshalIndent(v, "", "  ")
	if err != nil {
		return s
	}
	return string(b)
}
