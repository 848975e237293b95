package store

import "sync"

// maxRecentCerts bounds the recently issued certificates a Store keeps for
// their download: an ACME client downloads its certificate right after the
// finalize that issued it, so a few hundred cover every flow in flight.
const maxRecentCerts = 256

// recentCerts holds what CertificateChain returns for the certificates
// this Store most recently committed with FinishOrder (the writer hands
// back what it wrote), so that their download reads nothing. A certificate
// row's account, DER and chain never change once stored, so an entry is
// exactly what a read of the row returns for as long as it is kept.
// Oldest first out.
type recentCerts struct {
	mu     sync.Mutex
	bySer  map[string]recentCert
	order  [maxRecentCerts]string // ring of serials, oldest at next once full
	next   int
	filled bool
}

type recentCert struct {
	accountID, chainPEM string
	commits             int64 // the writer's commit count once the row was committed (SQLite): the download waits until the WAL is synced that far
}

func newRecentCerts() *recentCerts {
	return &recentCerts{bySer: make(map[string]recentCert, maxRecentCerts)}
}

// add keeps the committed certificate serial's download answer; commits
// is the writer's commit count after its commit (0 on PostgreSQL).
func (r *recentCerts) add(serial, accountID, chainPEM string, commits int64) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if _, ok := r.bySer[serial]; ok {
		return
	}
	if r.filled {
		delete(r.bySer, r.order[r.next])
	}
	r.bySer[serial] = recentCert{accountID: accountID, chainPEM: chainPEM, commits: commits}
	r.order[r.next] = serial
	r.next = (r.next + 1) % maxRecentCerts
	r.filled = r.filled || r.next == 0
}

// get returns serial's download answer, if kept.
func (r *recentCerts) get(serial string) (recentCert, bool) {
	r.mu.Lock()
	defer r.mu.Unlock()
	c, ok := r.bySer[serial]
	return c, ok
}
