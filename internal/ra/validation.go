package ra

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/certgate/certgate/internal/acme"
	"github.com/certgate/certgate/internal/store"
)

// KeyAuthorization is token || "." || base64url(JWK thumbprint) (RFC 8555 §8.1).
func KeyAuthorization(token, thumbprint string) string {
	return token + "." + thumbprint
}

// RespondChallenge is the client's signal that challenge c of
// authorization az of account acct is ready (RFC 8555 §7.5.1). A pending
// challenge becomes processing and is validated in the background. A
// response to a processing challenge is the client's request for a retry
// (RFC 8555 §8.2), granted by requestRetry; any other state is answered
// as is (the request is idempotent). It returns the challenge as stored
// afterwards.
func (r *RA) RespondChallenge(ctx context.Context, acct *store.Account, az *store.Authorization, c *store.Challenge) (*store.Challenge, error) {
	now := r.now()
	start, err := mayStart(c, az, now)
	if err != nil {
		return nil, err
	}
	if start {
		// This node takes the validation lease as it starts the challenge.
		err := r.store.StartChallengeLeased(ctx, c.ID, r.node, now, now.Add(r.cfg.LeaseDuration))
		switch {
		case err == nil:
			started := *c
			started.Status, started.UpdatedAt = acme.StatusProcessing, now
			r.validateStarted(acct, az, &started, now)
			return &started, nil
		case errors.Is(err, store.ErrStale):
			// Another challenge of this authorization, or a concurrent
			// request, got there first; report the current state.
		default:
			return nil, r.internal(ctx, "challenge start", err)
		}
	}
	cur, err := r.store.GetChallenge(ctx, c.ID)
	if err != nil {
		return nil, r.internal(ctx, "challenge lookup", err)
	}
	if cur.Status == acme.StatusProcessing {
		if err := r.requestRetry(ctx, cur.ID, now); err != nil {
			return nil, err
		}
	}
	return cur, nil
}

// ErrNotOwner is RespondChallengeID's error for a challenge of another
// account's authorization.
var ErrNotOwner = errors.New("ra: the authorization belongs to another account")

// RespondChallengeID is RespondChallenge for the challenge with id, which
// it reads and starts in one storage write (store.RespondChallenge): the
// client's response to a challenge costs one turn of the SQLite writer
// instead of two. It returns the challenge as stored afterwards and its
// authorization. Errors: store.ErrNotFound (no such challenge),
// ErrNotOwner (acct does not own its authorization), an *acme.Problem
// (unauthorized when acct, maybe a cached copy, is no longer valid:
// checkAccountStillValid; or the authorization can no longer be
// answered), or an internal error.
func (r *RA) RespondChallengeID(ctx context.Context, acct *store.Account, id string) (*store.Challenge, *store.Authorization, error) {
	if err := r.checkAccountStillValid(ctx, acct); err != nil {
		return nil, nil, err
	}
	now := r.now()
	c, az, started, err := r.store.RespondChallenge(ctx, id, r.node, now, now.Add(r.cfg.LeaseDuration),
		func(c *store.Challenge, az *store.Authorization) (bool, error) {
			if az.AccountID != acct.ID {
				return false, ErrNotOwner
			}
			return mayStart(c, az, now)
		})
	var p *acme.Problem
	switch {
	case errors.Is(err, store.ErrNotFound), errors.Is(err, ErrNotOwner), errors.As(err, &p):
		return nil, nil, err
	case err != nil:
		return nil, nil, r.internal(ctx, "challenge start", err)
	}
	switch {
	case started:
		r.validateStarted(acct, az, c, now)
	case c.Status == acme.StatusProcessing:
		if err := r.requestRetry(ctx, c.ID, now); err != nil {
			return nil, nil, err
		}
	}
	return c, az, nil
}

// requestRetry asks the validation of processing challenge id to make its
// next attempt now: a client that responds to a challenge again (at now)
// asks the server to retry (RFC 8555 §8.2: "Servers SHOULD retry a request
// immediately on receiving such a POST request", e.g. after the client
// fixed its firewall). A validation waiting between attempts (the
// doubling RetryDelay) stops waiting; one in an attempt makes its next
// attempt, if any, without waiting (a request made before an attempt
// starts is answered by that attempt: a response repeated before the
// first attempt adds no early one). The retry is one of the validation's
// ValidationAttempts, not one more: requests for a retry only bring the
// remaining attempts forward, so they cannot make a challenge validated
// more often (the rate limiting §8.2 asks for), and a validation that
// fails is charged to the failed-validations limit once, as before.
//
// When the validation runs in this process it is told in memory, at no
// cost. Otherwise (another node holds its lease, or it waits to be
// resumed) the request is recorded in the challenge's row
// (store.RequestChallengeRetry, one conditional UPDATE, nothing when the
// challenge is no longer processing), where the validating node sees it
// within RetryPoll while it waits (waitRetry); with Exclusive storage
// there is no other node and nothing is written. It returns an internal
// error when that write fails.
func (r *RA) requestRetry(ctx context.Context, id string, now time.Time) error {
	r.waitMu.Lock()
	wt := r.waiters[id]
	r.waitMu.Unlock()
	if wt != nil {
		select {
		case wt.retry <- struct{}{}:
		default: // a retry is already asked for
		}
		return nil
	}
	if r.cfg.Exclusive {
		return nil
	}
	if err := r.store.RequestChallengeRetry(ctx, id, now); err != nil && !errors.Is(err, store.ErrStale) {
		return r.internal(ctx, "challenge retry request", err)
	}
	return nil
}

// mayStart reports whether a response to challenge c of az at now starts
// it: only a pending challenge starts, and only while its authorization
// is pending (else a malformed problem); any other challenge is answered
// as it stands.
func mayStart(c *store.Challenge, az *store.Authorization, now time.Time) (bool, error) {
	if c.Status != acme.StatusPending {
		return false, nil
	}
	if st := AuthorizationStatus(az, now); st != acme.StatusPending {
		return false, acme.NewProblem(acme.Malformed, "the authorization is %s; its challenges can no longer be answered", st)
	}
	return true, nil
}

// validateStarted queues the validation of challenge c of az, which this
// node has just started at now, from what is known of it already.
func (r *RA) validateStarted(acct *store.Account, az *store.Authorization, c *store.Challenge, now time.Time) {
	var pre *startedChallenge
	if acct != nil && acct.ID == az.AccountID {
		pre = &startedChallenge{c: c, az: az, thumbprint: acct.KeyThumbprint, leasedAt: now}
	}
	r.enqueue(c.ID, pre)
}

// startedChallenge is what RespondChallenge knows about a challenge it has
// just moved to processing: its validation starts from it instead of
// reading the challenge, its authorization and its account back.
type startedChallenge struct {
	c          *store.Challenge
	az         *store.Authorization
	thumbprint string    // the account key's JWK thumbprint (RFC 7638)
	leasedAt   time.Time // when StartChallengeLeased gave this node the lease
}

// freshLease is how recently a lease must have been taken for the first
// attempt of a validation to run without renewing it: an attempt then
// still holds it for at least LeaseDuration minus this.
const freshLease = time.Second

// enqueue starts the background validation of a processing challenge,
// bounded by the worker pool. Nothing is started once Shutdown began; the
// challenge stays processing and the next Start resumes it. pre is nil
// when the challenge is resumed (the validation then loads it).
//
// A validation runs on a worker: a goroutine that holds one of the
// pool's ValidationWorkers slots (r.sem) and, after a validation, waits
// up to workerIdle for the next one before it gives the slot back. A
// validation's goroutine stack grows (DNS, HTTP, the store) to several
// times a new goroutine's; a worker that lives on keeps it grown, where a
// goroutine per validation copied its stack as it grew every time (about
// 1% of a flow's server CPU, docs/performance.md). The validation is
// handed to an idle worker when there is one; otherwise a new goroutine
// waits for a free slot (as before) or for a worker to become idle,
// whichever comes first.
func (r *RA) enqueue(id string, pre *startedChallenge) {
	// closing is checked and r.wg added to under waitMu, under which
	// Shutdown closes it: a validation either counts in r.wg before
	// Shutdown waits for it, or does not start.
	r.waitMu.Lock()
	select {
	case <-r.closing:
		r.waitMu.Unlock()
		return
	default:
	}
	if _, ok := r.waiters[id]; ok {
		r.waitMu.Unlock()
		return // already queued or running in this process
	}
	wt := &waiter{done: make(chan struct{}), retry: make(chan struct{}, 1)}
	r.waiters[id] = wt
	r.wg.Add(1)
	r.waitMu.Unlock()
	j := valJob{id: id, pre: pre, wt: wt}
	r.jobs.Add(1)
	select {
	case r.valJobs <- j:
		r.wg.Done() // an idle worker, counted in r.wg, runs it
		return
	default:
	}
	go func() {
		defer r.wg.Done()
		select {
		case r.sem <- struct{}{}:
			r.workers.Add(1)
		case r.valJobs <- j:
			return // a worker became idle first and runs it
		case <-r.valCtx.Done():
			r.finishJob(j) // not run: stays processing, resumed later
			return
		}
		r.worker(j)
	}()
}

// workerIdle is how long a validation worker waits for the next
// validation before it ends and frees its slot.
const workerIdle = 10 * time.Second

// valJob is one validation to run: the challenge, what the request that
// started it loaded (nil when resumed) and its waiter.
type valJob struct {
	id  string
	pre *startedChallenge
	wt  *waiter
}

// worker runs j and then every validation handed to it until it has been
// idle for workerIdle or Shutdown began; it holds a slot of r.sem, which
// it frees when it ends.
func (r *RA) worker(j valJob) {
	defer func() { <-r.sem }()
	idle := time.NewTimer(workerIdle)
	defer idle.Stop()
	for {
		r.runJob(j)
		idle.Reset(workerIdle)
		select {
		case j = <-r.valJobs:
		case <-idle.C:
			return
		case <-r.closing:
			return
		}
	}
}

// runJob runs the validation of j and publishes its result to WaitResult.
func (r *RA) runJob(j valJob) {
	defer r.finishJob(j)
	j.wt.result = r.validate(r.valCtx, j.id, j.pre, j.wt.retry)
}

// finishJob ends j: its waiter is removed and woken (with j.wt.result,
// nil when it did not run) and the job leaves r.jobs.
func (r *RA) finishJob(j valJob) {
	r.waitMu.Lock()
	delete(r.waiters, j.id)
	r.waitMu.Unlock()
	close(j.wt.done) // publishes wt.result to WaitResult
	r.jobs.Done()
}

// waiter is one validation running in this process: done is closed when
// it ends, and result is then the challenge as its final write stored it
// (nil when it stored none: shutdown, another node finished it, an error);
// retry (buffered, one) holds a client's request for the next attempt now
// (requestRetry).
type waiter struct {
	done   chan struct{}
	result *store.Challenge
	retry  chan struct{}
}

// WaitResult waits until the validation of challenge id running in this
// process ends, the configured ResultWait passes, or ctx is done; it
// returns at once when no validation of id runs here. When the validation
// ended by storing the challenge's result, it returns the challenge as
// stored (valid or invalid): what a read would return, without one.
// Otherwise (nil) callers read the challenge's current state.
func (r *RA) WaitResult(ctx context.Context, id string) *store.Challenge {
	if r.cfg.ResultWait <= 0 {
		return nil
	}
	r.waitMu.Lock()
	wt := r.waiters[id]
	r.waitMu.Unlock()
	if wt == nil {
		return nil
	}
	t := time.NewTimer(r.cfg.ResultWait)
	defer t.Stop()
	select {
	case <-wt.done:
		if wt.result != nil {
			c := *wt.result
			return &c
		}
	case <-t.C:
	case <-ctx.Done():
	}
	return nil
}

// validate runs the attempts of one challenge (RFC 8555 §8.2): up to
// ValidationAttempts tries with doubling delays, then valid or invalid; a
// receive from retry (the client asked for a retry: requestRetry) ends a
// delay early. It returns the challenge as its final write stored it, nil
// when it stored no result.
func (r *RA) validate(ctx context.Context, id string, pre *startedChallenge, retry <-chan struct{}) (done *store.Challenge) {
	// Each record names the challenge itself: r.log.With would format
	// the attribute for every validation, even when nothing is logged.
	var err error
	if pre == nil {
		if pre, err = r.loadChallenge(ctx, id); err != nil {
			r.log.Error("validation: load", "challenge", id, "err", err)
			return nil
		}
	}
	c, az := pre.c, pre.az
	keyAuth := KeyAuthorization(c.Token, pre.thumbprint)
	finished := false
	defer func() {
		if finished {
			return // no longer processing: there is no lease to hand back
		}
		// Hand the lease back at once if the challenge is still processing
		// (shutdown), so that the next start or another node resumes it.
		if err := r.store.LeaseChallenge(context.WithoutCancel(ctx), id, r.node, r.now(), time.Time{}); err != nil && !errors.Is(err, store.ErrStale) {
			r.log.Error("validation: release lease", "challenge", id, "err", err)
		}
	}()
	leasedAt := pre.leasedAt
	for attempt := c.Attempts; ; attempt++ {
		if c.Status != acme.StatusProcessing {
			return
		}
		now := r.now()
		// A challenge RespondChallenge started a moment ago comes with the
		// lease; it is renewed when the validation waited for a worker, and
		// before every later attempt.
		fresh := now.Sub(leasedAt) < freshLease
		leasedAt = time.Time{}
		if !fresh {
			if err := r.store.LeaseChallenge(ctx, id, r.node, now, now.Add(r.cfg.LeaseDuration)); err != nil {
				if !errors.Is(err, store.ErrStale) {
					r.log.Error("validation: lease", "challenge", id, "err", err)
				}
				return // another node validates it, or it is finished
			}
		}
		// A retry asked for before this attempt starts is this attempt
		// (requestRetry): only one asked for from now on skips the delay
		// before the next.
		select {
		case <-retry:
		default:
		}
		attemptAt := now // and through another node, one recorded before now (waitRetry)
		start := time.Now()
		// Control, then CAA before the authorization turns valid, from
		// every network perspective when configured; a CAA refusal is
		// final, not retried.
		verr, caaRefused := r.attempt(ctx, az, c, keyAuth, attempt)
		if ctx.Err() != nil {
			return // shutting down: stays processing, resumed on restart
		}
		var prob *acme.Problem
		if verr != nil {
			var ok bool
			if prob, ok = acme.AsProblem(verr); !ok {
				r.log.Error("validation error", "challenge", id, "err", verr)
				prob = acme.NewProblem(acme.ServerInternal, "validation failed unexpectedly")
			}
			if prob.Identifier == nil {
				id := az.Identifier
				prob.Identifier = &id
			}
		}
		took := time.Since(start)
		r.cfg.Metrics.ValidationAttempt(c.Type, took)
		now = r.now()
		if r.log.Enabled(context.Background(), slog.LevelInfo) { // arguments boxed only when logged
			r.log.Info("validation attempt", "challenge", id, "type", c.Type, "identifier", az.Identifier.Value, "attempt", attempt+1,
				"ok", verr == nil, slog.Float64("ms", float64(took.Microseconds())/1000), "problem", problemType(prob))
		}
		if prob == nil || caaRefused || attempt+1 >= r.cfg.ValidationAttempts || AuthorizationStatus(az, now) != acme.StatusPending {
			if prob == nil && AuthorizationStatus(az, now) != acme.StatusPending {
				prob = acme.NewProblem(acme.Unauthorized, "the authorization expired during validation")
			}
			err := r.store.FinishChallenge(ctx, c, prob, now, now.Add(r.cfg.ValidAuthzLifetime))
			// Only a failure the client can be held to counts against its
			// failed-validations limit: not the server's own error.
			charge := err == nil && prob != nil && prob.Type != acme.ServerInternal
			if errors.Is(err, store.ErrStale) {
				// The authorization was decided meanwhile (another of its
				// challenges, a deactivation, its expiry), or the challenge
				// was ended elsewhere: end it without touching the
				// authorization, or the sweep would validate it again and
				// again (ErrStale again when it is no longer processing).
				err = r.store.EndChallenge(ctx, c, prob, now)
			}
			if err != nil && !errors.Is(err, store.ErrStale) {
				r.log.Error("validation: store result", "challenge", id, "err", err)
			}
			finished = err == nil
			if finished {
				r.cfg.Metrics.ValidationFinished(c.Type, prob == nil)
				done = store.FinishedChallenge(c, prob, now) // the row as FinishChallenge wrote it
			}
			if charge {
				r.chargeFailedValidation(ctx, az.AccountID)
			}
			return done
		}
		if err := r.store.RecordAttempt(ctx, c.ID, prob, now); err != nil {
			if !errors.Is(err, store.ErrStale) {
				r.log.Error("validation: record attempt", "challenge", id, "err", err)
			}
			return
		}
		if !r.waitRetry(ctx, id, r.cfg.RetryDelay<<attempt, attemptAt, retry) {
			// Shutting down: no new attempt; the challenge stays processing
			// and the next start resumes it.
			return
		}
		if c, err = r.store.GetChallenge(ctx, id); err != nil {
			r.log.Error("validation: reload challenge", "challenge", id, "err", err)
			return
		}
	}
}

// waitRetry waits d before the next attempt of the validation of
// challenge id, whose last attempt started at attemptAt, and reports
// whether to make it: false when ctx is done or Shutdown began. The wait
// ends early when the client asks for a retry (requestRetry): through this
// node, by a receive from retry; through another node, by a request
// recorded at or after attemptAt in the challenge's row, read every
// RetryPoll while it waits (one read by primary key each; none when d is
// not longer than RetryPoll, or with Exclusive storage). A read that fails
// is logged and the wait goes on to d without more reads.
func (r *RA) waitRetry(ctx context.Context, id string, d time.Duration, attemptAt time.Time, retry <-chan struct{}) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	var poll <-chan time.Time
	if every := r.cfg.RetryPoll; every > 0 && every < d && !r.cfg.Exclusive {
		tick := time.NewTicker(every)
		defer tick.Stop()
		poll = tick.C
	}
	for {
		select {
		case <-ctx.Done():
			return false
		case <-r.closing:
			return false
		case <-retry:
			return true // the client asked this node for a retry
		case <-t.C:
			return true
		case <-poll:
			at, err := r.store.ChallengeRetryRequestedAt(ctx, id)
			switch {
			case err == nil && !at.Before(attemptAt):
				return true // the client asked another node for a retry
			case err != nil && ctx.Err() == nil:
				r.log.Error("validation: read retry request", "challenge", id, "err", err)
				poll = nil
			}
		}
	}
}

// loadChallenge reads challenge id, its authorization and its account's
// key thumbprint, for a validation that did not start in RespondChallenge.
func (r *RA) loadChallenge(ctx context.Context, id string) (*startedChallenge, error) {
	c, err := r.store.GetChallenge(ctx, id)
	if err != nil {
		return nil, fmt.Errorf("load challenge: %w", err)
	}
	az, err := r.store.GetAuthorization(ctx, c.AuthzID)
	if err != nil {
		return nil, fmt.Errorf("load authorization: %w", err)
	}
	acct, err := r.store.GetAccount(ctx, az.AccountID)
	if err != nil {
		return nil, fmt.Errorf("load account: %w", err)
	}
	return &startedChallenge{c: c, az: az, thumbprint: acct.KeyThumbprint}, nil
}

func problemType(p *acme.Problem) string {
	if p == nil {
		return ""
	}
	return string(p.Type)
}

// problemTypeOf is the problem type err is rendered with: its own for a
// problem, serverInternal for any other error.
func problemTypeOf(err error) acme.ProblemType {
	if p, ok := acme.AsProblem(err); ok {
		return p.Type
	}
	return acme.ServerInternal
}

// accountURIs returns the URLs of account id (Config.AccountURIPrefixes),
// which CAA accounturi parameters are compared with (RFC 8657 §3).
func (r *RA) accountURIs(id string) []string {
	out := make([]string, 0, len(r.cfg.AccountURIPrefixes))
	for _, p := range r.cfg.AccountURIPrefixes {
		out = append(out, p+id)
	}
	return out
}
