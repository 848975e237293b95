package ra

import (
	"context"
	"crypto"
	"crypto/x509"
	"errors"
	"fmt"
	"net/netip"
	"slices"
	"strings"
	"time"

	"github.com/certgate/certgate/internal/acme"
	"github.com/certgate/certgate/internal/audit"
	"github.com/certgate/certgate/internal/issuer"
	"github.com/certgate/certgate/internal/policy"
	"github.com/certgate/certgate/internal/store"
)

// remoteStoreTime is how long an issuance detached for a CA elsewhere may
// take, after the CA's IssueTimeout, to store the certificate.
const remoteStoreTime = 30 * time.Second

// issuerFor returns the issuer profile prof names (Profile.Issuer; the
// built-in one for "" and issuer.LocalName). A name this server has no
// issuer of (the issuers file lost an entry the profile still names) is a
// serverInternal problem saying so: the order stays ready.
func (r *RA) issuerFor(prof *policy.Profile) (issuer.Issuer, error) {
	name := prof.Issuer
	if name == "" || name == issuer.LocalName {
		return r.issuer, nil
	}
	if iss, ok := r.issuers[name]; ok {
		return iss, nil
	}
	return nil, acme.NewProblem(acme.ServerInternal, "profile %s names issuer %s, which this server does not have configured; ask its operator", prof.Name, name)
}

// RemoteRecoveryWindow is how long after the upstream order was recorded
// (before finalize) certgate keeps looking for its outcome when the
// process that asked for it died or gave up waiting (recoverRemote): the
// order stays processing while the upstream is; after it, the order
// becomes invalid with a problem naming the upstream order.
const RemoteRecoveryWindow = 24 * time.Hour

// startRemote issues the certificate of order o, already processing, at
// the CA elsewhere iss, detached from the request: the order is answered
// processing (wfe: Retry-After) while the CA works, for at most its
// IssueTimeout. The upstream's order is recorded before the CA is asked
// to issue (recordRemote), so that the sweep finds the certificate when
// this process dies meanwhile (recoverRemote). The outcome is stored as a
// local issuance's (store FinishRemoteOrder: the certificate, audit event
// and order valid in one transaction), or the order becomes invalid with
// the CA's problem; when the outcome is open (the CA still issuing at the
// timeout, or unreachable after finalize), the order stays processing
// for recoverRemote. During Shutdown the issuance runs before the call
// returns. It returns the order as it is while the CA works.
func (r *RA) startRemote(ctx context.Context, a *store.Account, o *store.Order, csr *x509.CertificateRequest, prof *policy.Profile, iss issuer.Remote, now time.Time) *store.Order {
	if r.detach(ctx, iss.IssueTimeout()+remoteStoreTime, func(ctx context.Context) {
		r.finishRemote(ctx, a, o, csr, prof, iss, now)
	}) {
		return r.orderAfter(context.WithoutCancel(ctx), o)
	}
	processing := *o
	processing.Status, processing.UpdatedAt = acme.StatusProcessing, now
	return &processing
}

// detach runs work, bounded by timeout, in the background (counted by
// Shutdown), or at once when Shutdown has begun; it reports whether work
// ran at once.
func (r *RA) detach(ctx context.Context, timeout time.Duration, work func(context.Context)) bool {
	run := func(ctx context.Context) {
		ctx, cancel := context.WithTimeout(ctx, timeout)
		defer cancel()
		work(ctx)
	}
	detached := context.WithoutCancel(ctx)
	r.waitMu.Lock() // see enqueue: counted in r.wg before Shutdown waits, or run here
	select {
	case <-r.closing:
		r.waitMu.Unlock()
		run(detached)
		return true
	default:
	}
	r.wg.Add(1)
	r.waitMu.Unlock()
	go func() {
		defer r.wg.Done()
		// Ended by Shutdown when its grace runs out (valCtx): the
		// order then stays processing for recoverRemote.
		run(r.valCtx)
	}()
	return false
}

// orderAfter reads order o again, o itself when that fails.
func (r *RA) orderAfter(ctx context.Context, o *store.Order) *store.Order {
	if got, err := r.store.GetOrder(ctx, o.ID); err == nil {
		return got
	}
	return o
}

// finishRemote is startRemote's detached work.
func (r *RA) finishRemote(ctx context.Context, a *store.Account, o *store.Order, csr *x509.CertificateRequest, prof *policy.Profile, iss issuer.Remote, now time.Time) {
	cert, err := r.issue(ctx, a, o, csr, prof, iss, nil, "", now)
	// What the upstream answered is recorded even when Shutdown's grace
	// ran out meanwhile (valCtx): an issued certificate is stored, a
	// refusal makes the order invalid.
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), remoteStoreTime)
	defer cancel()
	if errors.Is(err, issuer.ErrRemoteProcessing) {
		r.log.WarnContext(ctx, "upstream issuance not finished; the order stays processing and the sweep fetches the upstream order",
			"order", o.ID, "issuer", iss.Name(), "err", err)
		return
	}
	if err != nil {
		p := r.failProcessing(ctx, o.ID, err)
		r.log.WarnContext(ctx, "upstream issuance failed", "order", o.ID, "issuer", iss.Name(), "problem", p)
		return
	}
	r.storeRemote(ctx, a, o.ID, prof, iss, cert)
}

// storeRemote stores cert, issued by the CA elsewhere iss for order
// orderID of account a, with its audit event, and makes the order valid
// (storeIssued). When cert's key was blocked (keyCompromise) while the
// CA issued it, cert is stored revoked and the CA is asked to revoke it
// for keyCompromise too (revokeBlockedRemote).
func (r *RA) storeRemote(ctx context.Context, a *store.Account, orderID string, prof *policy.Profile, iss issuer.Remote, cert *store.Certificate) {
	done := r.now()
	ev, err := r.auditEvent(ctx, issueEvent(a, cert, done))
	if err != nil {
		// Issued upstream, not stored: logged as certificateLost does.
		r.certificateLost(ctx, orderID, cert, err)
		return
	}
	if err := r.storeIssued(ctx, orderID, cert, done, ev); err != nil {
		if kb := (*store.KeyBlockedError)(nil); errors.As(err, &kb) {
			r.revokeBlockedRemote(ctx, iss, cert)
		}
		_ = r.finishRefused(ctx, orderID, err)
		return
	}
	r.cfg.Metrics.CertificateIssued(prof.Name, cert.Issuer)
	r.log.InfoContext(ctx, "certificate issued by the upstream CA", "order", orderID, "issuer", iss.Name(), "serial", cert.Serial, "names", cert.SANs)
}

// revokeBlockedRemote asks the CA elsewhere iss to revoke cert for
// keyCompromise: its key was blocked while the CA issued it, so
// FinishRemoteOrder stored it revoked for keyCompromise, which the CA
// must learn too (docs/issuers.md: certgate's record alone revokes
// nothing there). A failure is logged at ERROR, naming the certificate
// to revoke at the CA.
func (r *RA) revokeBlockedRemote(ctx context.Context, iss issuer.Remote, cert *store.Certificate) {
	rv, ok := iss.(issuer.Revoker)
	if !ok {
		r.log.ErrorContext(ctx, "certificate issued upstream for a key blocked meanwhile is recorded revoked, but the upstream cannot be asked to revoke it: revoke it there",
			"issuer", iss.Name(), "serial", cert.Serial)
		return
	}
	if err := rv.Revoke(ctx, cert.DER, acme.ReasonKeyCompromise); err != nil {
		r.log.ErrorContext(ctx, "certificate issued upstream for a key blocked meanwhile is recorded revoked, but the upstream did not revoke it: revoke it there",
			"issuer", iss.Name(), "serial", cert.Serial, "err", err)
		return
	}
	r.log.InfoContext(ctx, "certificate issued upstream for a key blocked meanwhile revoked there for keyCompromise", "issuer", iss.Name(), "serial", cert.Serial)
}

// recordRemote records durably the upstream order ro that issues order
// orderID's certificate, before the upstream is asked to issue
// (issuer.IssueRequest.Placed). An order no longer processing (the
// sweep failed it meanwhile) is refused: the upstream is not asked.
func (r *RA) recordRemote(ctx context.Context, orderID string, iss issuer.Issuer, csr *x509.CertificateRequest, ro issuer.RemoteOrder) error {
	err := r.store.RecordRemoteOrder(ctx, &store.RemoteOrder{OrderID: orderID, Issuer: iss.Name(), UpstreamOrder: ro.OrderURL,
		UpstreamAccount: ro.AccountURL, CSR: csr.Raw, CreatedAt: r.now()})
	if errors.Is(err, store.ErrStale) {
		return acme.NewProblem(acme.ServerInternal, "the order is no longer processing; the upstream CA was not asked to issue; please create a new order")
	}
	if err != nil {
		return r.internal(ctx, "record the upstream order", err)
	}
	return nil
}

// recoverRemote takes over the processing order ro.OrderID, whose
// process died or gave up waiting after it recorded the upstream order
// ro (the sweep found it stuck, last updated before stuckBefore, or
// abandoned): when this node wins the claim (store ClaimRemoteOrder, which
// checks both again; across a cluster one node does), it
// fetches the upstream order in the background (resumeRemote). Past
// RemoteRecoveryWindow, or when this server no longer has the issuer,
// the order becomes invalid with a problem naming the upstream order.
func (r *RA) recoverRemote(ctx context.Context, ro *store.RemoteOrder, stuckBefore, now time.Time) error {
	if err := r.store.ClaimRemoteOrder(ctx, ro, r.processingNode(), stuckBefore, now); err != nil {
		if errors.Is(err, store.ErrStale) {
			return nil // another node recovers it, or it is done
		}
		return fmt.Errorf("claim upstream order of %s: %w", ro.OrderID, err)
	}
	iss, ok := r.issuers[ro.Issuer].(issuer.Remote)
	if !ok {
		_ = r.failProcessing(ctx, ro.OrderID, acme.NewProblem(acme.ServerInternal,
			"issuance was interrupted and this server no longer has issuer %s to fetch its upstream order %s; please create a new order", ro.Issuer, ro.UpstreamOrder))
		r.log.ErrorContext(ctx, "upstream order not recovered: its issuer is not configured", "order", ro.OrderID, "issuer", ro.Issuer, "upstream_order", ro.UpstreamOrder)
		return nil
	}
	r.detach(ctx, iss.IssueTimeout()+remoteStoreTime, func(ctx context.Context) {
		r.resumeRemote(ctx, ro, iss)
	})
	return nil
}

// resumeRemote is recoverRemote's background work: the certificate of a
// valid upstream order is checked and stored as finishRemote stores it;
// an invalid one makes the order invalid with the upstream's problem; one
// never finalized, invalid as interrupted; one still processing (or an
// upstream not answering) leaves the order processing until
// RemoteRecoveryWindow has passed.
func (r *RA) resumeRemote(ctx context.Context, ro *store.RemoteOrder, iss issuer.Remote) {
	out, err := iss.Resume(ctx, issuer.RemoteOrder{OrderURL: ro.UpstreamOrder, AccountURL: ro.UpstreamAccount})
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), remoteStoreTime)
	defer cancel()
	log := r.log.With("order", ro.OrderID, "issuer", ro.Issuer, "upstream_order", ro.UpstreamOrder)
	switch {
	case errors.Is(err, issuer.ErrRemoteProcessing):
		if r.now().Before(ro.CreatedAt.Add(RemoteRecoveryWindow)) {
			log.WarnContext(ctx, "upstream order still processing or not reachable; the order stays processing", "err", err)
			return
		}
		_ = r.failProcessing(ctx, ro.OrderID, acme.NewProblem(acme.ServerInternal,
			"upstream CA %s did not finish order %s within %s; please create a new order", ro.Issuer, ro.UpstreamOrder, RemoteRecoveryWindow))
		log.ErrorContext(ctx, "upstream order given up: still not finished", "window", RemoteRecoveryWindow, "err", err)
		return
	case errors.Is(err, issuer.ErrRemoteNotFinalized):
		_ = r.failProcessing(ctx, ro.OrderID, acme.NewProblem(acme.ServerInternal,
			"issuance was interrupted before upstream CA %s was asked to issue; please create a new order", ro.Issuer))
		log.WarnContext(ctx, "upstream order never finalized: nothing was issued", "err", err)
		return
	case err != nil:
		p := r.failProcessing(ctx, ro.OrderID, err)
		log.WarnContext(ctx, "upstream order failed", "problem", p)
		return
	}
	o, err := r.store.GetOrder(ctx, ro.OrderID)
	if err != nil {
		r.log.ErrorContext(ctx, "recovered upstream certificate: order lookup failed; the sweep tries again", "order", ro.OrderID, "err", err)
		return
	}
	a, err := r.store.GetAccount(ctx, o.AccountID)
	if err != nil {
		r.log.ErrorContext(ctx, "recovered upstream certificate: account lookup failed; the sweep tries again", "order", ro.OrderID, "err", err)
		return
	}
	csr, err := x509.ParseCertificateRequest(ro.CSR)
	if err != nil {
		_ = r.failProcessing(ctx, ro.OrderID, r.internal(ctx, "stored CSR", err))
		return
	}
	prof, err := r.Profile(ctx, o.Profile)
	if err != nil {
		// The profile was deleted since: the certificate is stored
		// all the same, under the order's profile name.
		prof = &policy.Profile{Name: o.Profile}
	}
	cert, err := r.issuedRecord(ctx, a, o, csr, prof, iss, out, nil, "")
	if err != nil {
		p := r.failProcessing(ctx, ro.OrderID, err)
		log.WarnContext(ctx, "recovered upstream certificate refused", "problem", p)
		return
	}
	log.InfoContext(ctx, "certificate recovered from the upstream order", "serial", cert.Serial)
	r.storeRemote(ctx, a, ro.OrderID, prof, iss, cert)
}

// cessationOfOperation is the RFC 5280 §5.3.1 reason a refused upstream
// certificate is revoked with: it is never used.
const cessationOfOperation = 5

// upstreamRefused is a refused upstream certificate as the audit log
// records it (certificate.upstream_refused).
type upstreamRefused struct {
	Issuer            string    `json:"issuer"`
	Serial            string    `json:"serial"` // the upstream's, lower-case hex
	FingerprintSHA256 string    `json:"fingerprint_sha256"`
	Names             []string  `json:"names"`
	NotBefore         time.Time `json:"not_before"`
	NotAfter          time.Time `json:"not_after"`
	Order             string    `json:"order"`
	Reason            string    `json:"reason"`
	RevokedUpstream   bool      `json:"revoked_upstream"`
	RevokeError       string    `json:"revoke_error,omitempty"`
}

// refuseRemote deals with leaf, a certificate the CA elsewhere iss issued
// for order o that checkRemoteLeaf refused (why): it is not served, but
// asked to be revoked at the CA (cessationOfOperation, when iss is a
// Revoker) and recorded in the audit log with its serial and
// fingerprint, so that no valid certificate exists that the inventory's
// users cannot find.
func (r *RA) refuseRemote(ctx context.Context, o *store.Order, iss issuer.Issuer, leaf *x509.Certificate, fp string, why error) {
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), remoteStoreTime)
	defer cancel()
	ev := upstreamRefused{Issuer: iss.Name(), Serial: leaf.SerialNumber.Text(16), FingerprintSHA256: fp, NotBefore: leaf.NotBefore,
		NotAfter: leaf.NotAfter, Order: o.ID, Reason: why.Error()}
	for _, id := range certIdentifiers(leaf) {
		ev.Names = append(ev.Names, id.Value)
	}
	if rv, ok := iss.(issuer.Revoker); ok {
		if err := rv.Revoke(ctx, leaf.Raw, cessationOfOperation); err != nil {
			ev.RevokeError = err.Error()
		} else {
			ev.RevokedUpstream = true
		}
	}
	r.log.ErrorContext(ctx, "upstream CA returned a certificate that is refused: not served, revoked upstream", "order", o.ID, "issuer", ev.Issuer,
		"serial", ev.Serial, "fingerprint_sha256", fp, "names", ev.Names, "revoked_upstream", ev.RevokedUpstream, "revoke_error", ev.RevokeError, "why", why)
	evs, err := r.auditEvent(ctx, audit.Event{Actor: audit.ActorSystem, Action: audit.ActionCertificateUpstreamRefused,
		ObjectType: audit.ObjectCertificate, ObjectID: ev.Serial, After: ev})
	for _, a := range evs {
		if err == nil {
			err = r.store.AppendAudit(ctx, a)
		}
	}
	if err != nil {
		r.log.ErrorContext(ctx, "audit of a refused upstream certificate", "order", o.ID, "serial", ev.Serial, "err", err)
	}
}

// checkRemoteLeaf checks the certificate a CA elsewhere returned for csr
// against what the client asked: the CSR's public key, exactly the
// order's identifiers ids and nothing else (RFC 8555 §7.4: the
// certificate has the requested contents, or is not issued), and what any
// subscriber certificate must be (RemoteLeafFault: no CA, valid now, a
// chain that signs it). chainPEM is the issuer's chain, leaf first. It
// returns the key to store it under (its serial, lower-case hex;
// store.RemoteSerialKey).
func (r *RA) checkRemoteLeaf(ctx context.Context, iss issuer.Issuer, leaf *x509.Certificate, chainPEM []byte, csr *x509.CertificateRequest, ids []acme.Identifier, fp string) (string, error) {
	if eq, ok := leaf.PublicKey.(interface{ Equal(crypto.PublicKey) bool }); !ok || !eq.Equal(csr.PublicKey) {
		return "", acme.NewProblem(acme.ServerInternal, "upstream CA %s returned a certificate for another key than the CSR's; it is not served", iss.Name())
	}
	if fault := RemoteLeafFault(leaf, chainPEM, ids, r.now()); fault != "" {
		return "", acme.NewProblem(acme.ServerInternal, "upstream CA %s returned %s; it is not served", iss.Name(), fault)
	}
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), remoteStoreTime) // issued: look up even during shutdown
	defer cancel()
	key, err := r.store.RemoteSerialKey(ctx, leaf.SerialNumber.Text(16), fp)
	if err != nil {
		return "", r.internal(ctx, "serial lookup", err)
	}
	return key, nil
}

// RemoteClockSkew is how far in the future a CA elsewhere may set a
// certificate's notBefore (its clock ahead of ours) before
// RemoteLeafFault calls the certificate not yet valid.
const RemoteClockSkew = time.Hour

// RemoteLeafFault says what is wrong with leaf, a certificate a CA
// elsewhere returned for an order of ids with the PEM chain chainPEM (leaf
// first, then its issuers), at now: "" when nothing, else a phrase that
// follows "returned", e.g. "a CA certificate". Faults: names other than
// exactly the order's (DNS and IP SANs), URI or email SANs, a subject
// common name that is not one of the order's names, a CA certificate
// (basicConstraints cA, or keyCertSign/cRLSign key usage), expired, not
// valid before now+RemoteClockSkew, or a chain whose first certificate is
// not leaf or whose second did not sign it.
func RemoteLeafFault(leaf *x509.Certificate, chainPEM []byte, ids []acme.Identifier, now time.Time) string {
	var want, got []string
	for _, id := range ids {
		want = append(want, id.Value)
	}
	for _, n := range leaf.DNSNames {
		got = append(got, strings.ToLower(n))
	}
	for _, ip := range leaf.IPAddresses {
		addr, _ := netip.AddrFromSlice(ip)
		got = append(got, addr.Unmap().String())
	}
	slices.Sort(want)
	slices.Sort(got)
	want, got = slices.Compact(want), slices.Compact(got)
	switch {
	case !slices.Equal(want, got):
		return fmt.Sprintf("a certificate for %s, not the order's %s", strings.Join(got, ", "), strings.Join(want, ", "))
	case len(leaf.URIs) > 0 || len(leaf.EmailAddresses) > 0:
		var extra []string
		for _, u := range leaf.URIs {
			extra = append(extra, "URI "+u.String())
		}
		for _, e := range leaf.EmailAddresses {
			extra = append(extra, "email "+e)
		}
		return fmt.Sprintf("a certificate that also names %s, beyond the order's %s", strings.Join(extra, ", "), strings.Join(want, ", "))
	case leaf.Subject.CommonName != "" && !slices.Contains(want, cnName(leaf.Subject.CommonName)):
		return fmt.Sprintf("a certificate whose subject common name %q is not one of the order's names %s", leaf.Subject.CommonName, strings.Join(want, ", "))
	case leaf.IsCA || leaf.KeyUsage&(x509.KeyUsageCertSign|x509.KeyUsageCRLSign) != 0:
		return "a CA certificate (basicConstraints cA or keyCertSign/cRLSign key usage), not a subscriber certificate"
	case !now.Before(leaf.NotAfter):
		return "a certificate that expired at " + leaf.NotAfter.UTC().Format(time.RFC3339)
	case leaf.NotBefore.After(now.Add(RemoteClockSkew)):
		return "a certificate not valid before " + leaf.NotBefore.UTC().Format(time.RFC3339)
	}
	chain, err := issuer.ParsePEMCertificates(chainPEM)
	if err != nil {
		return "a chain with a certificate that does not parse: " + err.Error()
	}
	if len(chain) > 0 && !chain[0].Equal(leaf) {
		return "a chain that does not start with the certificate"
	}
	// The issuer that signed it comes next (RFC 8555 §7.4.2); what follows
	// may hold cross-signed copies, duplicates or roots, which clients
	// sort out for themselves.
	if len(chain) > 1 {
		if err := leaf.CheckSignatureFrom(chain[1]); err != nil {
			return fmt.Sprintf("a chain whose second certificate (%s) did not sign it: %v", chain[1].Subject, err)
		}
	}
	return ""
}

// cnName is a subject common name as the order's identifiers are written:
// an IP address in its canonical text (RFC 5952; an IPv4-mapped IPv6
// address as IPv4), as finalize reads a CSR's common name; else lower
// case in ASCII only (acme.LowerASCII: "\u212Aey.example" is not
// "key.example").
func cnName(cn string) string {
	if addr, err := netip.ParseAddr(cn); err == nil {
		return addr.Unmap().String()
	}
	return acme.LowerASCII(cn)
}
