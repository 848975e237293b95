package ra

import (
	"slices"
	"strings"
	"testing"

	"github.com/certgate/certgate/internal/acme"
	"github.com/certgate/certgate/internal/ratelimit"
	"github.com/certgate/certgate/internal/store"
)

// TestRateLimitSubjectsMatchSubjectFlags: the override subjects the RA
// looks up for each limit are of the kinds ratelimit.SubjectFlags names,
// which `certgate ratelimit set` accepts for that limit (and refuses
// others): an account bound to an EAB key for the per-account limits, and
// those plus the registered domain for certificates-per-domain.
func TestRateLimitSubjectsMatchSubjectFlags(t *testing.T) {
	kinds := func(subjects []string) []string {
		var out []string
		for _, s := range subjects {
			k, _, _ := strings.Cut(s, ":")
			out = append(out, k)
		}
		return out
	}
	a := &store.Account{ID: "acct1", EABKid: "kid1"}
	for _, limit := range []ratelimit.Name{ratelimit.NewOrdersPerAccount, ratelimit.FailedValidationsPerAccount, ratelimit.PendingAuthorizationsPerAccount} {
		if got, want := kinds(rateLimitSubjects(a)), ratelimit.SubjectFlags(limit); !slices.Equal(got, want) {
			t.Errorf("%s: the RA looks up %v, SubjectFlags says %v", limit, got, want)
		}
	}
	var r RA
	reqs := r.domainRequests(rateLimitSubjects(a), []acme.Identifier{{Type: "dns", Value: "www.example.com"}})
	if len(reqs) != 1 || reqs[0].Limit != ratelimit.CertificatesPerDomain {
		t.Fatalf("domainRequests: %+v", reqs)
	}
	if got, want := kinds(reqs[0].Subjects), ratelimit.SubjectFlags(ratelimit.CertificatesPerDomain); !slices.Equal(got, want) {
		t.Errorf("certificates-per-domain: the RA looks up %v, SubjectFlags says %v", got, want)
	}
	if got, want := kinds([]string{ratelimit.IPSubject("192.0.2.1")}), ratelimit.SubjectFlags(ratelimit.NewAccountsPerIP); !slices.Equal(got, want) {
		t.Errorf("new-accounts-per-ip: %v, SubjectFlags says %v", got, want)
	}
}
