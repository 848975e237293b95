package ra

import (
	"context"
	"crypto"
	"crypto/x509"
	"net/netip"
	"slices"
	"strings"
	"time"

	"github.com/certgate/certgate/internal/acme"
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

// startRemote issues the certificate of order o, already processing, at
// the CA elsewhere iss, detached from the request: the order is answered
// processing (wfe: Retry-After) while the CA works, for at most its
// IssueTimeout. The outcome is stored as a local issuance's (store
// FinishRemoteOrder: the certificate, audit event and order valid in one
// transaction), or the order becomes invalid with the CA's problem. During
// Shutdown the issuance runs before the call returns. It returns the
// order as it is while the CA works.
func (r *RA) startRemote(ctx context.Context, a *store.Account, o *store.Order, csr *x509.CertificateRequest, prof *policy.Profile, iss issuer.Remote, now time.Time) *store.Order {
	run := func(ctx context.Context) {
		ctx, cancel := context.WithTimeout(ctx, iss.IssueTimeout()+remoteStoreTime)
		defer cancel()
		r.finishRemote(ctx, a, o, csr, prof, iss, now)
	}
	detached := context.WithoutCancel(ctx)
	r.waitMu.Lock() // see enqueue: counted in r.wg before Shutdown waits, or run here
	select {
	case <-r.closing:
		r.waitMu.Unlock()
		run(detached)
		return r.orderAfter(detached, o)
	default:
	}
	r.wg.Add(1)
	r.waitMu.Unlock()
	go func() {
		defer r.wg.Done()
		// Ended by Shutdown when its grace runs out (valCtx): the
		// order then becomes invalid, not stuck.
		run(r.valCtx)
	}()
	processing := *o
	processing.Status, processing.UpdatedAt = acme.StatusProcessing, now
	return &processing
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
	if err != nil {
		p := r.failProcessing(ctx, o.ID, err)
		r.log.WarnContext(ctx, "upstream issuance failed", "order", o.ID, "issuer", iss.Name(), "problem", p)
		return
	}
	done := r.now()
	ev, err := r.auditEvent(ctx, issueEvent(a, cert, done))
	if err != nil {
		// Issued upstream, not stored: logged as certificateLost does.
		r.certificateLost(ctx, o.ID, cert, err)
		return
	}
	if err := r.storeIssued(ctx, o.ID, cert, done, ev); err != nil {
		_ = r.finishRefused(ctx, o.ID, err)
		return
	}
	r.cfg.Metrics.CertificateIssued(prof.Name, cert.Issuer)
	r.log.InfoContext(ctx, "certificate issued by the upstream CA", "order", o.ID, "issuer", iss.Name(), "serial", cert.Serial, "names", cert.SANs)
}

// checkRemoteLeaf checks the certificate a CA elsewhere returned for csr
// against what the client asked: the CSR's public key and exactly the
// order's identifiers ids (RFC 8555 §7.4: the certificate has the
// requested contents, or is not issued). It returns the key to store it
// under (its serial, lower-case hex; store.RemoteSerialKey).
func (r *RA) checkRemoteLeaf(ctx context.Context, iss issuer.Issuer, leaf *x509.Certificate, csr *x509.CertificateRequest, ids []acme.Identifier, fp string) (string, error) {
	if eq, ok := leaf.PublicKey.(interface{ Equal(crypto.PublicKey) bool }); !ok || !eq.Equal(csr.PublicKey) {
		return "", acme.NewProblem(acme.ServerInternal, "upstream CA %s returned a certificate for another key than the CSR's; it is not served", iss.Name())
	}
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
	if !slices.Equal(slices.Compact(want), slices.Compact(got)) {
		return "", acme.NewProblem(acme.ServerInternal, "upstream CA %s returned a certificate for %s, not the order's %s; it is not served",
			iss.Name(), strings.Join(got, ", "), strings.Join(want, ", "))
	}
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), remoteStoreTime) // issued: look up even during shutdown
	defer cancel()
	key, err := r.store.RemoteSerialKey(ctx, leaf.SerialNumber.Text(16), fp)
	if err != nil {
		return "", r.internal(ctx, "serial lookup", err)
	}
	return key, nil
}
