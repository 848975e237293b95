package discovery

import (
	"context"
	"encoding/base64"
	"errors"
	"fmt"
	"net/netip"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/certgate/certgate/internal/inventory"
	"github.com/certgate/certgate/internal/store"
)

// Errors returned (wrapped) by Service methods besides ErrInvalidTarget.
var (
	// ErrNotFound: no scan has that ID.
	ErrNotFound = errors.New("discovery: scan not found")
	// ErrInvalid: a page size or cursor is malformed.
	ErrInvalid = errors.New("discovery: invalid request")
)

// Store is what discovery needs from storage; *store.Store has it.
type Store interface {
	// CreateScan stores a running scan.
	CreateScan(ctx context.Context, sc *store.Scan) error
	// FinishScan stores a scan's findings, endpoint states and final
	// counts in one transaction; store.ErrNotFound for an unknown scan.
	FinishScan(ctx context.Context, sc *store.Scan, findings []*store.Finding) error
	// GetScan returns a scan; store.ErrNotFound when none.
	GetScan(ctx context.Context, id string) (*store.Scan, error)
	// ListScans returns at most limit scans, newest first (start time,
	// then ID), after (beforeStart, beforeID) when beforeID is not "".
	ListScans(ctx context.Context, beforeStart time.Time, beforeID string, limit int) ([]*store.Scan, error)
	// ScanFindings returns a scan's findings (errors too if withErrors).
	ScanFindings(ctx context.Context, id string, withErrors bool) ([]*store.Finding, error)
	// EndpointsServing returns the endpoints last seen serving the
	// certificate with SHA-256 fingerprint fp.
	EndpointsServing(ctx context.Context, fp string) ([]*store.Endpoint, error)
	// GetCertificateByFingerprint returns the inventory record with
	// SHA-256 fingerprint fp; store.ErrNotFound when none.
	GetCertificateByFingerprint(ctx context.Context, fp string) (*store.Certificate, error)
	// InterruptStaleScans marks interrupted the scans still running that
	// started before before and returns their IDs.
	InterruptStaleScans(ctx context.Context, before time.Time) ([]string, error)
}

// MaxDuration bounds a scan's run: Run stops trying endpoints after it
// and records the scan cancelled with what it found by then. With the
// defaults (DefaultMaxEndpoints, DefaultConcurrency, DefaultTimeout) a
// scan takes at most about 11 minutes.
const MaxDuration = time.Hour

// StaleAfter is how long after its start a scan still running is taken
// for one whose process died (InterruptStale): MaxDuration, and 15
// minutes for recording its findings and for clocks that differ between
// the machines sharing the database. No live process, on any node, has a
// scan running that long.
const StaleAfter = MaxDuration + 15*time.Minute

// InterruptedReason returns the reason shown with a scan marked
// interrupted.
func InterruptedReason() string {
	return fmt.Sprintf("the process running it stopped before it finished: still running %s after its start, "+
		"longer than any scan runs (%s); no findings were recorded", StaleAfter, MaxDuration)
}

// InterruptStale marks interrupted (store.ScanInterrupted) the scans
// still running StaleAfter after their start, whatever process or node
// started them, and returns their IDs, oldest first. `certgate serve`
// calls it at its start and before each scheduled-scan check.
func (s *Service) InterruptStale(ctx context.Context) ([]string, error) {
	return s.st.InterruptStaleScans(ctx, s.now().UTC().Add(-StaleAfter))
}

// Service runs scans and reads their results. Safe for concurrent use.
type Service struct {
	st  Store
	inv *inventory.Service
	now func() time.Time
}

// New returns a Service recording in st and adding certificates through
// inv; now is the clock (time.Now when nil).
func New(st Store, inv *inventory.Service, now func() time.Time) *Service {
	if now == nil {
		now = time.Now
	}
	return &Service{st: st, inv: inv, now: now}
}

// Options are the parameters of one scan.
type Options struct {
	Targets      []string // target specifications (ParseTarget)
	Ports        []int    // ports of targets that name none (nil: DefaultPort)
	SNI          []string // SNI names of targets that name none
	MaxEndpoints int      // refuse more endpoints than this (0: DefaultMaxEndpoints)
	Actor        string   // recorded with the scan, e.g. "cli:alice"
	// Progress (may be nil) is called after each endpoint: Scanner.Scan.
	Progress func(done, total int)
}

// Plan parses and expands o's targets without scanning: the endpoints a
// Run would try. Errors wrap ErrInvalidTarget.
func Plan(o Options) ([]Endpoint, error) {
	if len(o.Targets) == 0 {
		return nil, fmt.Errorf("%w: no target given", ErrInvalidTarget)
	}
	var ts []Target
	for _, spec := range o.Targets {
		t, err := ParseTarget(spec)
		if err != nil {
			return nil, err
		}
		ts = append(ts, t)
	}
	max := o.MaxEndpoints
	if max <= 0 {
		max = DefaultMaxEndpoints
	}
	return Expand(ts, o.Ports, o.SNI, max)
}

// Run scans o's targets with sc and records the scan: its row (running,
// then completed, or cancelled when ctx ends or MaxDuration passes first:
// the endpoints tried by then are recorded), one finding per endpoint, each endpoint's state, and
// each served leaf in the inventory (inventory.AddDiscovered: source
// discovered unless it is there already). Invalid targets are refused
// before anything is stored (ErrInvalidTarget). The returned view is that
// of Show, errors included.
func (s *Service) Run(ctx context.Context, sc *Scanner, o Options) (*ScanView, error) {
	eps, err := Plan(o)
	if err != nil {
		return nil, err
	}
	start := s.now().UTC()
	row := &store.Scan{ID: store.NewID(start), Status: store.ScanRunning, Targets: o.Targets, Actor: o.Actor,
		StartedAt: start, Endpoints: len(eps)}
	if err := s.st.CreateScan(ctx, row); err != nil {
		return nil, err
	}
	// What was found is recorded even when ctx ended meanwhile.
	wctx := context.WithoutCancel(ctx)
	ctx, cancel := context.WithTimeout(ctx, MaxDuration)
	defer cancel()
	results := sc.Scan(ctx, eps, o.Progress)
	known := map[string]inventory.Known{}
	findings := make([]*store.Finding, 0, len(results))
	for _, r := range results {
		f := &store.Finding{ScanID: row.ID, Address: r.Endpoint.Host, Port: r.Endpoint.Port, SNI: r.Endpoint.SNI,
			Error: r.Error, SeenAt: r.At}
		if r.Err == nil {
			row.Served++
			if _, ok := known[r.Fingerprint]; !ok {
				k, err := s.inv.AddDiscovered(wctx, r.Chain[0], r.Chain[1:], inventory.Sighting{ScanID: row.ID,
					Address: r.Endpoint.Host, Port: r.Endpoint.Port, SNI: r.Endpoint.SNI})
				if err != nil {
					return nil, err
				}
				known[r.Fingerprint] = k
				if k.Added {
					row.NewCertificates++
				}
			}
			f.Fingerprint, f.TLSVersion, f.CipherSuite = r.Fingerprint, r.TLSVersion, r.CipherSuite
			c := r.Checks
			f.Trusted, f.TrustError, f.Incomplete, f.Expired, f.NameMismatch, f.SelfSigned =
				c.Trusted, c.TrustError, c.Incomplete, c.Expired, c.NameMismatch, c.SelfSigned
		} else {
			row.Failed++
		}
		findings = append(findings, f)
	}
	row.Certificates = len(known)
	row.Status = store.ScanCompleted
	if ctx.Err() != nil {
		row.Status = store.ScanCancelled
	}
	row.FinishedAt = s.now().UTC()
	if err := s.st.FinishScan(wctx, row, findings); err != nil {
		return nil, err
	}
	return s.view(wctx, row, findings)
}

// ScanView is a scan with its findings (JSON: the CLI's --format json and
// the admin API).
type ScanView struct {
	ScanSummary
	Findings []FindingView `json:"findings"` // one per endpoint, by address, port and SNI name
}

// ScanSummary is one scan without its findings.
type ScanSummary struct {
	ID              string     `json:"id"`                                                    // scan ID
	Status          string     `json:"status" enum:"running,completed,cancelled,interrupted"` // running, completed, cancelled (stopped: Ctrl-C, MaxDuration) or interrupted (its process died)
	Reason          string     `json:"reason,omitempty"`                                      // why the scan is interrupted (InterruptedReason); absent otherwise
	Targets         []string   `json:"targets"`                                               // target specifications as given
	Actor           string     `json:"actor,omitempty"`                                       // who ran it, e.g. "cli:alice"
	StartedAt       time.Time  `json:"started_at"`                                            // UTC
	FinishedAt      *time.Time `json:"finished_at,omitempty"`                                 // UTC; absent while running
	Endpoints       int        `json:"endpoints" doc:"endpoints (address, port, SNI name) the targets expanded to"`
	Served          int        `json:"served" doc:"endpoints that completed a TLS handshake"`
	Failed          int        `json:"failed" doc:"endpoints that did not (refused, timed out, not TLS)"`
	Certificates    int        `json:"certificates" doc:"distinct leaf certificates served"`
	NewCertificates int        `json:"new_certificates" doc:"of those, the ones this scan added to the inventory"`
}

// FindingView is what a scan saw at one endpoint, with the inventory
// record of the certificate served.
type FindingView struct {
	Address      string    `json:"address"`       // IP address or DNS name tried
	Port         int       `json:"port"`          // TCP port
	SNI          string    `json:"sni,omitempty"` // server name sent; absent for none
	Error        string    `json:"error,omitempty" doc:"why no certificate was collected"`
	Fingerprint  string    `json:"fingerprint_sha256,omitempty"` // SHA-256 of the leaf served, lower-case hex
	TLSVersion   string    `json:"tls_version,omitempty"`        // negotiated, e.g. "TLS 1.3"
	CipherSuite  string    `json:"cipher_suite,omitempty"`       // negotiated, IANA name
	Trusted      bool      `json:"trusted" doc:"the served chain verifies to a system root or certgate's CA root"`
	TrustError   string    `json:"trust_error,omitempty"` // why not trusted
	Incomplete   bool      `json:"chain_incomplete"`      // the server left out intermediates its leaf needs
	Expired      bool      `json:"expired"`               // the leaf's notAfter was past at seen_at
	NameMismatch bool      `json:"name_mismatch"`         // the leaf is not valid for the SNI name sent
	SelfSigned   bool      `json:"self_signed"`           // the leaf is its own issuer
	SeenAt       time.Time `json:"seen_at"`               // when the endpoint was tried, UTC
	// The certificate's inventory record (absent for an error).
	Serial   string     `json:"serial,omitempty"`
	Source   string     `json:"source,omitempty" enum:"issued,imported,discovered,listener"` // how the certificate entered the inventory
	Shadow   bool       `json:"shadow" doc:"discovered on the network, neither issued by certgate nor imported"`
	Names    []string   `json:"names,omitempty"`     // the certificate's names
	Issuer   string     `json:"issuer,omitempty"`    // issuer name or DN
	NotAfter *time.Time `json:"not_after,omitempty"` // the certificate's expiry
}

func summary(sc *store.Scan) ScanSummary {
	v := ScanSummary{ID: sc.ID, Status: sc.Status, Targets: sc.Targets, Actor: sc.Actor, StartedAt: sc.StartedAt,
		Endpoints: sc.Endpoints, Served: sc.Served, Failed: sc.Failed, Certificates: sc.Certificates, NewCertificates: sc.NewCertificates}
	if v.Targets == nil {
		v.Targets = []string{}
	}
	if sc.Status == store.ScanInterrupted {
		v.Reason = InterruptedReason()
	}
	if !sc.FinishedAt.IsZero() {
		t := sc.FinishedAt
		v.FinishedAt = &t
	}
	return v
}

// view joins findings with the inventory records of their certificates,
// sorted by address (numerically), port and SNI name.
func (s *Service) view(ctx context.Context, sc *store.Scan, findings []*store.Finding) (*ScanView, error) {
	v := &ScanView{ScanSummary: summary(sc), Findings: make([]FindingView, 0, len(findings))}
	certs := map[string]*store.Certificate{}
	for _, f := range findings {
		fv := FindingView{Address: f.Address, Port: f.Port, SNI: f.SNI, Error: f.Error, Fingerprint: f.Fingerprint,
			TLSVersion: f.TLSVersion, CipherSuite: f.CipherSuite, Trusted: f.Trusted, TrustError: f.TrustError,
			Incomplete: f.Incomplete, Expired: f.Expired, NameMismatch: f.NameMismatch, SelfSigned: f.SelfSigned, SeenAt: f.SeenAt}
		if f.Fingerprint != "" {
			c, ok := certs[f.Fingerprint]
			if !ok {
				var err error
				c, err = s.st.GetCertificateByFingerprint(ctx, f.Fingerprint)
				if err != nil && !errors.Is(err, store.ErrNotFound) {
					return nil, err
				}
				certs[f.Fingerprint] = c
			}
			if c != nil {
				na := c.NotAfter
				fv.Serial, fv.Source, fv.Shadow, fv.Names, fv.Issuer, fv.NotAfter =
					c.Serial, c.Source, c.Source == store.SourceDiscovered, c.SANs, c.Issuer, &na
			}
		}
		v.Findings = append(v.Findings, fv)
	}
	slices.SortStableFunc(v.Findings, func(a, b FindingView) int {
		if c := compareHosts(a.Address, b.Address); c != 0 {
			return c
		}
		if a.Port != b.Port {
			return a.Port - b.Port
		}
		return strings.Compare(a.SNI, b.SNI)
	})
	return v, nil
}

// compareHosts orders addresses numerically, before DNS names.
func compareHosts(a, b string) int {
	x, errA := netip.ParseAddr(a)
	y, errB := netip.ParseAddr(b)
	switch {
	case errA == nil && errB == nil:
		return x.Compare(y)
	case errA == nil:
		return -1
	case errB == nil:
		return 1
	}
	return strings.Compare(a, b)
}

// Show returns scan id with its findings (those that failed too when
// withErrors); ErrNotFound when there is none.
func (s *Service) Show(ctx context.Context, id string, withErrors bool) (*ScanView, error) {
	sc, err := s.st.GetScan(ctx, id)
	if errors.Is(err, store.ErrNotFound) {
		return nil, fmt.Errorf("%w: %s", ErrNotFound, id)
	}
	if err != nil {
		return nil, err
	}
	fs, err := s.st.ScanFindings(ctx, id, withErrors)
	if err != nil {
		return nil, err
	}
	return s.view(ctx, sc, fs)
}

// ScanPage is one page of scans, newest first; NextCursor is "" on the
// last page.
type ScanPage struct {
	Items      []ScanSummary `json:"items"`                 // the scans of the page
	NextCursor string        `json:"next_cursor,omitempty"` // the cursor of the next page; "" on the last
}

// MaxLimit is the largest page of scans List returns.
const MaxLimit = 1000

// List returns a page of at most limit (1..MaxLimit) scans, newest
// first, after cursor (the NextCursor of the previous page; "" for the
// first).
func (s *Service) List(ctx context.Context, cursor string, limit int) (*ScanPage, error) {
	if limit < 1 || limit > MaxLimit {
		return nil, fmt.Errorf("%w: limit %d is not from 1 to %d", ErrInvalid, limit, MaxLimit)
	}
	var start time.Time
	var id string
	if cursor != "" {
		var ok bool
		if start, id, ok = decodeCursor(cursor); !ok {
			return nil, fmt.Errorf("%w: malformed cursor", ErrInvalid)
		}
	}
	scans, err := s.st.ListScans(ctx, start, id, limit+1)
	if err != nil {
		return nil, err
	}
	p := &ScanPage{Items: []ScanSummary{}}
	for i, sc := range scans {
		if i == limit {
			last := scans[limit-1]
			p.NextCursor = encodeCursor(last.StartedAt, last.ID)
			break
		}
		p.Items = append(p.Items, summary(sc))
	}
	return p, nil
}

// encodeCursor is the opaque cursor after the scan started at start with
// ID id: base64url of "UNIXNANO.ID".
func encodeCursor(start time.Time, id string) string {
	return base64.RawURLEncoding.EncodeToString([]byte(strconv.FormatInt(start.UnixNano(), 10) + "." + id))
}

// decodeCursor reverses encodeCursor; ok is false for anything else.
func decodeCursor(c string) (time.Time, string, bool) {
	b, err := base64.RawURLEncoding.DecodeString(c)
	if err != nil {
		return time.Time{}, "", false
	}
	n, id, found := strings.Cut(string(b), ".")
	ns, err := strconv.ParseInt(n, 10, 64)
	if !found || err != nil || ns <= 0 || !isID(id) {
		return time.Time{}, "", false
	}
	return time.Unix(0, ns).UTC(), id, true
}

// isID reports whether s has the form of a scan ID (store.NewID: 16
// bytes in unpadded base64url).
func isID(s string) bool {
	b, err := base64.RawURLEncoding.DecodeString(s)
	return err == nil && len(b) == 16
}

// EndpointView is where a certificate was last seen served.
type EndpointView struct {
	Address    string     `json:"address"`       // IP address or DNS name
	Port       int        `json:"port"`          // TCP port
	SNI        string     `json:"sni,omitempty"` // server name sent; absent for none
	FirstSeen  time.Time  `json:"first_seen" doc:"first scan that saw this endpoint serve the certificate"`
	LastSeen   time.Time  `json:"last_seen" doc:"latest scan that saw it"`
	LastScanID string     `json:"last_scan_id"` // the latest scan that tried the endpoint
	LastError  string     `json:"last_error,omitempty" doc:"the latest scan's error at this endpoint, if it failed since"`
	ErrorAt    *time.Time `json:"last_error_at,omitempty"` // when LastError was seen; absent without one
}

// Endpoints returns the endpoints last seen serving the certificate with
// SHA-256 fingerprint fp (lower-case hex).
func (s *Service) Endpoints(ctx context.Context, fp string) ([]EndpointView, error) {
	es, err := s.st.EndpointsServing(ctx, fp)
	if err != nil {
		return nil, err
	}
	out := make([]EndpointView, 0, len(es))
	for _, e := range es {
		v := EndpointView{Address: e.Address, Port: e.Port, SNI: e.SNI, FirstSeen: e.FirstSeen, LastSeen: e.LastSeen,
			LastScanID: e.LastScanID, LastError: e.LastError}
		if !e.LastErrorAt.IsZero() {
			t := e.LastErrorAt
			v.ErrorAt = &t
		}
		out = append(out, v)
	}
	return out, nil
}
