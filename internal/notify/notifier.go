package notify

import (
	"cmp"
	"context"
	"crypto/x509"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"time"

	"github.com/certgate/certgate/internal/audit"
	"github.com/certgate/certgate/internal/metrics"
	"github.com/certgate/certgate/internal/store"
)

// Config configures a Notifier.
type Config struct {
	Rules []Rule // the alert rules; none: the notifier sends nothing
	// Channels by name (ChannelEmail, ChannelWebhook); a rule naming a
	// channel that is not here is refused by New.
	Channels map[string]Channel
	// Interval is how often the certificates are scanned for thresholds
	// crossed (0: 1 hour). Deliveries due (retries) are looked for every
	// minute, or every Interval when that is shorter.
	Interval time.Duration
	// MaxAttempts is how many attempts a delivery gets before it is given
	// up (status failed) (0: 5).
	MaxAttempts int
	// RetryDelay is the wait after the first failed attempt, doubled after
	// each further one, at most 24 hours (0: 5 minutes).
	RetryDelay time.Duration
	// Lease is how long a node's claim on the deliveries it sends lasts
	// (0: 5 minutes); a delivery whose node died is sent again after it.
	Lease time.Duration
	Now   func() time.Time // nil: time.Now
	Log   *slog.Logger     // nil: discard
	Audit *audit.Log       // records sends and failures; nil records nothing
	// Metrics counts sends and failures; nil counts nothing.
	Metrics *metrics.Metrics
}

// Store is what a Notifier needs from storage; *store.Store implements it.
type Store interface {
	// SearchCertificates finds the certificates a rule selects.
	SearchCertificates(ctx context.Context, q store.CertQuery) ([]*store.Certificate, error)
	// TakeJobLease takes or renews a cluster-wide job lease.
	TakeJobLease(ctx context.Context, name, node string, now, until time.Time) (bool, error)
	// ReleaseJobLease hands a job lease back.
	ReleaseJobLease(ctx context.Context, name, node string) error
	// AddNotifications records pending deliveries not recorded yet.
	AddNotifications(ctx context.Context, ns []*store.Notification, now time.Time) ([]*store.Notification, error)
	// ClaimNotifications claims the deliveries due for a node.
	ClaimNotifications(ctx context.Context, node string, now, dueBy, leaseUntil time.Time, limit int) ([]*store.Notification, error)
	// FinishNotification records the outcome of a claimed delivery and
	// the rule it was sent or skipped under.
	FinishNotification(ctx context.Context, id, node, rule, status, lastErr string, next, now time.Time, events ...*store.AuditAppend) error
	// PruneNotifications deletes finished deliveries past their retention.
	PruneNotifications(ctx context.Context, now time.Time) (int64, error)
}

// Notifier finds the certificates that crossed a rule's threshold, records
// one delivery per (certificate, threshold, channel, recipient) and sends
// them, batched per recipient. Safe on many nodes sharing one database.
type Notifier struct {
	st    Store
	cfg   Config
	node  string
	now   func() time.Time
	log   *slog.Logger
	rules []Rule
}

// scanLease is the job lease (store.TakeJobLease) a node holds while it
// scans, so that nodes scan one after another, not at once.
const scanLease = "notify-scan"

// claimBatch is how many due deliveries a node claims at once.
const claimBatch = 500

// pageSize is how many certificates a scan reads per query.
const pageSize = 1000

// New returns a notifier over st. Errors: a rule naming a channel that is
// not configured, or a webhook rule without a URL when the webhook channel
// has none.
func New(st Store, cfg Config) (*Notifier, error) {
	if cfg.Interval <= 0 {
		cfg.Interval = time.Hour
	}
	if cfg.MaxAttempts <= 0 {
		cfg.MaxAttempts = 5
	}
	if cfg.RetryDelay <= 0 {
		cfg.RetryDelay = 5 * time.Minute
	}
	if cfg.Lease <= 0 {
		cfg.Lease = 5 * time.Minute
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.Log == nil {
		cfg.Log = slog.New(slog.DiscardHandler)
	}
	if err := CheckRules(cfg.Rules, cfg.Channels); err != nil {
		return nil, err
	}
	rules := slices.Clone(cfg.Rules)
	for i := range rules {
		if w, ok := cfg.Channels[rules[i].Channel].(*Webhook); ok && rules[i].To == "" {
			rules[i].To = w.cfg.URL // recorded with each delivery
		}
	}
	now := func() time.Time { return cfg.Now().UTC() }
	return &Notifier{st: st, cfg: cfg, node: store.NewID(now()), now: now, log: cfg.Log, rules: rules}, nil
}

// CheckRules checks that the channel of every rule is in channels, and
// that a webhook rule without a URL of its own has the webhook channel's.
// Errors name the rule and the settings that configure its channel.
func CheckRules(rules []Rule, channels map[string]Channel) error {
	for _, r := range rules {
		ch, ok := channels[r.Channel]
		if !ok {
			return fmt.Errorf("rule %s sends by %s, which is not configured (%s)", r.Name, r.Channel, channelSettings(r.Channel))
		}
		if w, ok := ch.(*Webhook); ok && r.To == "" && w.cfg.URL == "" {
			return fmt.Errorf("rule %s has no to= URL, and notify-webhook-url is not set", r.Name)
		}
	}
	return nil
}

// channelSettings names the settings that configure channel.
func channelSettings(channel string) string {
	if channel == ChannelWebhook {
		return "set notify-webhook-secret or notify-webhook-secret-file"
	}
	return "set notify-smtp-server and notify-smtp-from"
}

// Run scans every Interval and delivers what is due every minute (or
// every Interval when shorter), from now until ctx ends. Errors are
// logged and the next round tried.
func (n *Notifier) Run(ctx context.Context) {
	tick := min(n.cfg.Interval, time.Minute)
	t := time.NewTicker(tick)
	defer t.Stop()
	// The ticks come an interval after the previous ones, and a scan or a
	// retry due a moment after its tick would wait for the tick after next
	// (a 1-minute interval scanned every 2 minutes, an hourly one every
	// 61): a little slack, at most half a tick, takes them at their tick.
	slack := min(tick/2, 5*time.Second)
	var lastScan time.Time
	for {
		if now := n.now(); lastScan.IsZero() || now.Sub(lastScan) >= n.cfg.Interval-slack {
			lastScan = now
			if _, err := n.Scan(ctx); err != nil && ctx.Err() == nil {
				n.log.ErrorContext(ctx, "notification scan", "err", err)
			}
		}
		if _, err := n.deliver(ctx, slack); err != nil && ctx.Err() == nil {
			n.log.ErrorContext(ctx, "notification delivery", "err", err)
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

// RunOnce scans, then delivers what is due: one round of Run.
func (n *Notifier) RunOnce(ctx context.Context) (Result, error) {
	added, err := n.Scan(ctx)
	if err != nil {
		return Result{}, err
	}
	res, err := n.Deliver(ctx)
	res.Added = added
	return res, err
}

// Result counts what a round did.
type Result struct {
	Added  int // deliveries recorded by the scan
	Sent   int // deliveries sent
	Failed int // failed attempts (retried later, or given up)
	// Skipped counts deliveries not sent: their certificate was revoked,
	// renewed or superseded before their message went out, or their rule
	// no longer sends to their recipient (removed, channel or recipient
	// changed, allow= narrowed).
	Skipped int
}

// Scan records a pending delivery for each certificate that crossed a
// threshold of a rule and has none for it (nor for a lower threshold)
// yet: valid, not expired, not renewed, matching the rule's filters; then
// it deletes the finished deliveries past their retention
// (store.PruneNotifications). It returns how many it recorded. Another node scanning at the moment
// (holding the scan lease) makes it return 0 at once.
func (n *Notifier) Scan(ctx context.Context) (int, error) {
	if len(n.rules) == 0 {
		return 0, nil
	}
	now := n.now()
	ok, err := n.st.TakeJobLease(ctx, scanLease, n.node, now, now.Add(n.cfg.Lease))
	if err != nil || !ok {
		return 0, err
	}
	defer func() {
		// Not ctx: a cancelled scan still hands the lease back.
		rctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
		defer cancel()
		if err := n.st.ReleaseJobLease(rctx, scanLease, n.node); err != nil {
			n.log.Warn("notification scan lease", "err", err)
		}
	}()
	added := 0
	for i := range n.rules {
		k, err := n.scanRule(ctx, &n.rules[i], now)
		added += k
		if err != nil {
			return added, fmt.Errorf("rule %s: %w", n.rules[i].Name, err)
		}
	}
	if _, err := n.st.PruneNotifications(ctx, now); err != nil {
		return added, err
	}
	return added, nil
}

func (n *Notifier) scanRule(ctx context.Context, r *Rule, now time.Time) (int, error) {
	q := store.CertQuery{Status: store.StatusValid, NotReplaced: true, Now: now, NotAfterFrom: now,
		NotAfterTo: now.Add(time.Duration(r.Thresholds[0]) * 24 * time.Hour),
		Profile:    r.Profile, Issuer: r.Issuer, Source: r.Source, Attributes: r.Attributes, Sort: store.SortNotAfter, Limit: pageSize}
	if r.Source == "" {
		// The server renews its listener certificate itself, with a
		// third of its life left (docs/pki.md): only a rule with
		// source=listener hears of it.
		q.NotSource = store.SourceListener
	}
	added := 0
	for {
		certs, err := n.st.SearchCertificates(ctx, q)
		if err != nil {
			return added, err
		}
		var batch []*store.Notification
		for _, c := range certs {
			th, ok := r.threshold(c.NotAfter.Sub(now).Hours() / 24)
			if !ok {
				continue
			}
			to := n.recipient(r, c)
			if to == "" {
				continue
			}
			batch = append(batch, &store.Notification{Serial: c.Serial, ThresholdDays: th, Channel: r.Channel, Recipient: to, Rule: r.Name, NextAttemptAt: now})
		}
		if len(batch) > 0 {
			got, err := n.st.AddNotifications(ctx, batch, now)
			added += len(got)
			if err != nil {
				return added, err
			}
		}
		if len(certs) < pageSize {
			return added, nil
		}
		last := certs[len(certs)-1]
		q.After = &store.CertKey{NotAfter: last.NotAfter, Serial: last.Serial}
	}
}

// recipient returns the recipient of c under r: r.To, or the value of the
// attribute it names (r.Fallback when that is missing, not a recipient
// of the channel or not allowed by r.Allow); "" when there is none
// (logged).
func (n *Notifier) recipient(r *Rule, c *store.Certificate) string {
	to, attr := recipientOf(r, c)
	if to != "" || attr == "" {
		return to
	}
	n.log.Warn("certificate expiring without a recipient: its attribute is missing, not a recipient or not allowed, and the rule has no fallback",
		"rule", r.Name, "serial", c.Serial, "attribute", attr)
	return ""
}

// recipientOf returns the recipient of c under r, as recipient does,
// without logging; with "" it also returns the attribute that gave none.
func recipientOf(r *Rule, c *store.Certificate) (to, attr string) {
	attr = r.Attribute()
	if attr == "" {
		return r.To, ""
	}
	v := c.Attributes[attr]
	if v != "" && CheckRecipient(r.Channel, v) == nil && r.AllowsRecipient(v) {
		return v, ""
	}
	return r.Fallback, attr
}

// Deliver claims the deliveries due and sends them, one message per
// channel and recipient, until none is due (at most 100 batches).
func (n *Notifier) Deliver(ctx context.Context) (Result, error) { return n.deliver(ctx, 0) }

// deliver is Deliver, its first claim also taking the deliveries due
// within early from now (Run's slack: a retry due a moment after a poll
// goes out at that poll, not a whole poll late). Only the first: a
// delivery that fails in this call is due again after its backoff, which
// may be shorter than early, and must not be retried at once.
func (n *Notifier) deliver(ctx context.Context, early time.Duration) (Result, error) {
	var res Result
	for i := range 100 {
		now := n.now()
		leaseUntil := now.Add(n.cfg.Lease)
		dueBy := now
		if i == 0 {
			dueBy = now.Add(early)
		}
		claimed, err := n.st.ClaimNotifications(ctx, n.node, now, dueBy, leaseUntil, claimBatch)
		if err != nil || len(claimed) == 0 {
			return res, err
		}
		slices.SortStableFunc(claimed, func(a, b *store.Notification) int {
			return cmp.Or(cmp.Compare(a.Channel, b.Channel), cmp.Compare(a.Recipient, b.Recipient))
		})
		for i := 0; i < len(claimed); {
			j := i + 1
			for j < len(claimed) && claimed[j].Channel == claimed[i].Channel && claimed[j].Recipient == claimed[i].Recipient {
				j++
			}
			if err := n.deliverGroup(ctx, claimed[i:j], leaseUntil, &res); err != nil {
				return res, err
			}
			i = j
		}
	}
	return res, nil
}

// deliverGroup sends the claimed deliveries group (one channel and
// recipient) as one message and records the outcome of each.
func (n *Notifier) deliverGroup(ctx context.Context, group []*store.Notification, leaseUntil time.Time, res *Result) error {
	now := n.now()
	channel, to := group[0].Channel, group[0].Recipient
	m := &Message{Type: TypeExpiry, Time: now, Recipient: to}
	var live []*store.Notification
	for _, d := range group {
		why := n.disallowed(d)
		c, err := n.current(ctx, d.Serial, now)
		if err != nil {
			return err
		}
		if why != "" && c != nil {
			// Another rule of this configuration may owe the very same
			// message: d's rule renamed, or an unnamed rule whose
			// position changed. It is sent under that rule; skipped, its
			// row would keep the key and the message would never be
			// recorded again.
			if r := n.adopter(d, c); r != nil {
				n.log.InfoContext(ctx, "notification taken over by another rule", "rule", r.Name, "recorded_by", d.Rule, "serial", d.Serial)
				d.Rule, why = r.Name, ""
			}
		}
		if why != "" {
			res.Skipped++
			n.log.WarnContext(ctx, "notification skipped", "rule", d.Rule, "serial", d.Serial, "recipient", Redact(d.Recipient), "reason", why)
			if err := n.finish(ctx, d, store.NotificationSkipped, why, now, nil); err != nil {
				return err
			}
			continue
		}
		if c == nil {
			res.Skipped++
			if err := n.finish(ctx, d, store.NotificationSkipped, "the certificate was revoked, renewed or expired before the message went out", now, nil); err != nil {
				return err
			}
			continue
		}
		m.Certificates = append(m.Certificates, summarize(c, d, subjectOf(c), now))
		live = append(live, d)
	}
	if len(live) == 0 {
		return nil
	}
	slices.SortStableFunc(m.Certificates, func(a, b CertSummary) int {
		return cmp.Or(a.NotAfter.Compare(b.NotAfter), cmp.Compare(a.Serial, b.Serial))
	})
	var sendErr error
	ch := n.cfg.Channels[channel]
	switch {
	case ch == nil:
		sendErr = fmt.Errorf("channel %s is not configured (%s)", channel, channelSettings(channel))
	case !now.Before(leaseUntil):
		sendErr = errors.New("claim ran out before the message was sent")
	default:
		// The lease is on the notifier's clock, which need not be the wall
		// clock (tests and simulations set their own); what is left of it
		// is a duration, and the send gets that much real time.
		sctx, cancel := context.WithTimeout(ctx, leaseUntil.Sub(now))
		sendErr = ch.Send(sctx, to, m)
		cancel()
		if ctx.Err() != nil {
			return ctx.Err() // shutting down: the claims run out, another round sends
		}
	}
	now = n.now()
	if sendErr == nil {
		res.Sent += len(live)
		n.cfg.Metrics.NotificationsSent(channel, len(live))
		n.log.InfoContext(ctx, "notification sent", "channel", channel, "recipient", Redact(to), "certificates", len(live))
		for _, d := range live {
			if err := n.finish(ctx, d, store.NotificationSent, "", now, nil); err != nil {
				return err
			}
		}
		return nil
	}
	res.Failed += len(live)
	msg := sendErr.Error()
	for _, d := range live {
		final := d.Attempts >= n.cfg.MaxAttempts
		n.cfg.Metrics.NotificationsFailed(channel, 1, final)
		if err := n.finish(ctx, d, store.NotificationPending, msg, now, &final); err != nil {
			return err
		}
	}
	n.log.WarnContext(ctx, "notification failed", "channel", channel, "recipient", Redact(to), "certificates", len(live), "err", msg)
	return nil
}

// disallowed says why d, recorded by a scan under the configuration of
// then, may not be sent under this one ("" when it may): its rule is not
// configured any more (removed or renamed), sends by another channel now,
// or no longer sends to d's recipient (to= or fallback= changed); or d's
// recipient, taken from a certificate attribute, is not allowed by the
// rule's allow= (narrowed since, or a row recorded by an older version).
// Such a delivery is skipped with this reason, never retried, unless
// another rule of this configuration owes the same message (adopter).
func (n *Notifier) disallowed(d *store.Notification) string {
	i := slices.IndexFunc(n.rules, func(r Rule) bool { return r.Name == d.Rule })
	if i < 0 {
		return "rule " + d.Rule + " is no longer configured"
	}
	r := &n.rules[i]
	switch {
	case r.Channel != d.Channel:
		return "rule " + r.Name + " now sends by " + r.Channel + ", not " + d.Channel
	case d.Recipient == r.To && r.Attribute() == "":
		return ""
	case r.Attribute() == "":
		return "the recipient is no longer that of rule " + r.Name + " (its to= changed)"
	case d.Recipient == r.Fallback:
		return ""
	}
	if CheckRecipient(r.Channel, d.Recipient) != nil || !r.AllowsRecipient(d.Recipient) {
		return "the recipient, taken from the certificate's attribute " + r.Attribute() + ", is not allowed by the rule's allow="
	}
	return ""
}

// adopter returns a rule of this configuration that owes d's message
// about c when d's own rule does not send it any more (disallowed): a
// rule whose filters select c, which has d's threshold among its own, and
// which sends by d's channel to d's recipient; nil when there is none.
// The first such rule in configuration order is taken.
func (n *Notifier) adopter(d *store.Notification, c *store.Certificate) *Rule {
	for i := range n.rules {
		r := &n.rules[i]
		if r.Channel != d.Channel || !slices.Contains(r.Thresholds, d.ThresholdDays) || !r.selects(c) {
			continue
		}
		if to, _ := recipientOf(r, c); to == d.Recipient {
			return r
		}
	}
	return nil
}

// finish records the outcome of d: status, or for a failure (final not
// nil) pending again after the back-off, or failed when final, with its
// audit event.
func (n *Notifier) finish(ctx context.Context, d *store.Notification, status, lastErr string, now time.Time, final *bool) error {
	next := now
	after := map[string]any{"serial": d.Serial, "threshold_days": d.ThresholdDays, "channel": d.Channel, "recipient": Redact(d.Recipient),
		"rule": d.Rule, "attempts": d.Attempts}
	action := ""
	switch {
	case final != nil:
		action = audit.ActionNotificationFail
		after["error"], after["gave_up"] = lastErr, *final
		if *final {
			status = store.NotificationFailed
		} else {
			next = now.Add(n.backoff(d.Attempts))
			after["next_attempt_at"] = next
		}
	case status == store.NotificationSent:
		action = audit.ActionNotificationSend
	}
	var evs []*store.AuditAppend
	if action != "" && n.cfg.Audit != nil {
		ev, err := n.cfg.Audit.Prepare(ctx, audit.Event{Actor: audit.ActorSystem, Action: action, ObjectType: audit.ObjectNotification,
			ObjectID: d.ID, After: after})
		if err != nil {
			return err
		}
		evs = append(evs, ev)
	}
	err := n.st.FinishNotification(ctx, d.ID, n.node, d.Rule, status, lastErr, next, now, evs...)
	if errors.Is(err, store.ErrStale) {
		// The claim ran out and another node took it: its outcome counts.
		n.log.WarnContext(ctx, "notification claim lost", "id", d.ID)
		return nil
	}
	return err
}

// backoff is the wait after the attempts-th failed attempt: RetryDelay,
// doubled after each further one, at most 24 hours.
func (n *Notifier) backoff(attempts int) time.Duration {
	d := n.cfg.RetryDelay
	for i := 1; i < attempts && d < 24*time.Hour; i++ {
		d *= 2
	}
	return min(d, 24*time.Hour)
}

// current returns the certificate serial when it still deserves its
// message at now: valid, not expired and not renewed (nil otherwise).
func (n *Notifier) current(ctx context.Context, serial string, now time.Time) (*store.Certificate, error) {
	cs, err := n.st.SearchCertificates(ctx, store.CertQuery{Serial: serial, Status: store.StatusValid, NotReplaced: true, Now: now, Limit: 2})
	if err != nil {
		return nil, err
	}
	for _, c := range cs {
		if c.Serial == serial {
			return c, nil
		}
	}
	return nil, nil
}

// subjectOf is c's subject DN ("" when its DER does not parse or the
// subject is empty).
func subjectOf(c *store.Certificate) string {
	x, err := x509.ParseCertificate(c.DER)
	if err != nil {
		return ""
	}
	return x.Subject.String()
}

// Test sends a test message over channel to to ("": the webhook's URL;
// email needs an address) and returns the channel's error.
func Test(ctx context.Context, ch Channel, to string, now time.Time) error {
	return ch.Send(ctx, to, &Message{Type: TypeTest, Time: now.UTC(), Recipient: to, Certificates: []CertSummary{}})
}
