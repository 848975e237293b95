package inventory

import (
	"context"
	"crypto/x509"
	"errors"
	"fmt"

	"github.com/certgate/certgate/internal/policy"
	"github.com/certgate/certgate/internal/store"
)

// ProfileSource resolves certificate profiles by name ("" for the
// default); errors wrap policy.ErrUnknown for a profile that does not
// exist. *policy.Registry implements it.
type ProfileSource interface {
	// Get returns the profile called name ("" for the default); errors
	// wrap policy.ErrUnknown when there is none. The caller must not
	// modify the profile.
	Get(ctx context.Context, name string) (*policy.Profile, error)
}

// Violation is one certificate that does not comply with its profile as
// the profile is now, with every reason (JSON as in the CLI's --format
// json and the admin API).
type Violation struct {
	Certificate Certificate `json:"certificate"` // the certificate at fault
	// Reasons says what violates the profile, one entry per rule, e.g.
	// "name www.example.org: not in the profile's allowed names",
	// "validity 90d exceeds the maximum 30d", "profile web no longer exists".
	Reasons []string `json:"reasons"`
	// ProfileDeleted: the certificate's profile no longer exists.
	ProfileDeleted bool `json:"profile_deleted,omitempty"`
}

// ViolationPage is one page of the violations report. Scanned is how many
// certificates this page examined (on a full page, with those examined
// after its last item to learn whether another violation follows).
// NextCursor is "" when the page's scan reached the last certificate
// (no further violation exists). It is set when the page is full and
// another violation follows (the next page starts with it), or when the
// scan budget (Limit×ViolationScanFactor) ran out with certificates left
// unexamined: only then may the next page hold no item (bounding a page's
// work forbids looking further).
type ViolationPage struct {
	Items      []Violation `json:"items"`                 // the violations of the page
	Scanned    int         `json:"scanned"`               // certificates the page examined
	NextCursor string      `json:"next_cursor,omitempty"` // where the next page starts; "" when the scan reached the end
}

// ViolationScanFactor bounds the certificates one page examines: Limit
// times this. A page therefore costs bounded time and memory however few
// certificates violate.
const ViolationScanFactor = 20

// batch is how many certificate records one store query reads.
const violationBatch = 500

// Violations returns one page of the valid (unexpired, unrevoked)
// certificates issued under a profile that violate that profile's current
// rules (policy.Profile.CheckCertificate), or whose profile was deleted.
// Imported and discovered certificates, which no profile governs, are
// skipped. The filters, Sort, Limit (violations per page, default 100) and
// Cursor of q apply as in List; Status must be "" or "valid". It reads the
// inventory in keyset-ordered batches of violationBatch records and
// examines at most Limit×ViolationScanFactor certificates per page (plus
// one keyset seek when that budget runs out), so memory stays bounded for
// any inventory size. A full page goes on examining, within the budget,
// until the next violation, so that its NextCursor leads to one. Errors: ErrInvalid
// (wrapped) for a bad parameter or cursor, or a storage or profile error.
func (s *Service) Violations(ctx context.Context, profiles ProfileSource, q Query) (*ViolationPage, error) {
	var statusErr error
	if q.Status != "" && q.Status != store.StatusValid {
		statusErr = invalid("status", q.Status, "the violations report covers valid certificates, not %s ones", q.Status)
	}
	q.Status = store.StatusValid
	now := s.now().UTC()
	sq, limit, err := s.pageQuery(ctx, q, now)
	if err = JoinInvalid(statusErr, err); err != nil {
		return nil, err
	}
	budget := limit * ViolationScanFactor
	type resolved struct {
		p       *policy.Profile
		deleted bool
	}
	cache := map[string]resolved{}
	page := &ViolationPage{Items: []Violation{}}
	var last, lastItem *store.Certificate
	for {
		sq.Limit = min(violationBatch, budget-page.Scanned)
		rows, err := s.st.SearchCertificates(ctx, sq)
		if err != nil {
			return nil, fmt.Errorf("violations: %w", err)
		}
		for _, c := range rows {
			last = c
			page.Scanned++
			if c.Source != "" && c.Source != store.SourceIssued {
				continue
			}
			r, ok := cache[c.Profile]
			if !ok {
				p, err := profiles.Get(ctx, c.Profile)
				switch {
				case errors.Is(err, policy.ErrUnknown):
					r.deleted = true
				case err != nil:
					return nil, fmt.Errorf("violations: profile %q: %w", c.Profile, err)
				default:
					r.p = p
				}
				cache[c.Profile] = r
			}
			var reasons []string
			switch {
			case r.deleted:
				reasons = []string{fmt.Sprintf("profile %s no longer exists", c.Profile)}
			default:
				cert, err := x509.ParseCertificate(c.DER)
				if err != nil {
					reasons = []string{"the stored certificate cannot be parsed: " + err.Error()}
				} else {
					reasons = r.p.CheckCertificate(cert)
				}
			}
			if len(reasons) == 0 {
				continue
			}
			if len(page.Items) == limit {
				// The page is full and another violation follows: the
				// next page starts with it.
				page.NextCursor = encodeCursor(sq.Sort, lastItem)
				return page, nil
			}
			page.Items = append(page.Items, Violation{Certificate: view(c, now), Reasons: reasons, ProfileDeleted: r.deleted})
			lastItem = c
		}
		if len(rows) < sq.Limit {
			return page, nil // the end of the inventory
		}
		sq.After = &store.CertKey{NotAfter: last.NotAfter, Serial: last.Serial}
		if page.Scanned >= budget {
			break
		}
	}
	// The scan budget is spent without reaching the end or, on a full
	// page, another violation. One keyset seek tells whether certificates
	// remain; when they do, the next page continues after the last one
	// examined (it may find no violation: that is not known here without
	// examining them).
	sq.Limit = 1
	rest, err := s.st.SearchCertificates(ctx, sq)
	if err != nil {
		return nil, fmt.Errorf("violations: %w", err)
	}
	if len(rest) > 0 {
		page.NextCursor = encodeCursor(sq.Sort, last)
	}
	return page, nil
}
