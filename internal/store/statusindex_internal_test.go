package store

import (
	"context"
	"slices"
	"strings"
	"testing"
	"time"
)

// TestSQLitePlansUseStatusIndexes: on SQLite every query that a partial
// index of migration 00014 serves is planned with that index (it repeats
// the index's condition with the same literal; with a bound parameter
// instead, SQLite would scan the table), and starting a challenge looks its
// authorization up by primary key instead of listing every pending one.
// Without ANALYZE statistics SQLite's choice does not depend on the data.
func TestSQLitePlansUseStatusIndexes(t *testing.T) {
	s := openWriterTest(t)
	ctx := context.Background()
	cases := []struct {
		name, query string
		want        []string // each must appear in the plan
	}{
		{"ProcessingOrders", processingOrdersSQL, []string{"USING INDEX orders_processing"}},
		{"AbandonedOrders", abandonedOrdersSQL, []string{"USING INDEX orders_processing", "SEARCH n USING INDEX sqlite_autoindex_node_leases_1 (node=?)"}},
		{"DeleteStale orders", deleteStaleOrdersSQL, []string{"USING INDEX orders_stale"}},
		{"DeleteStale pending authorizations", `DELETE FROM authorizations WHERE ` + staleAuthz[0], []string{"USING INDEX authorizations_pending"}},
		{"DeleteStale failed authorizations", `DELETE FROM authorizations WHERE ` + staleAuthz[1], []string{"USING INDEX authorizations_failed"}},
		{"DeleteStale challenges of pending authorizations", `DELETE FROM challenges WHERE authz_id IN (SELECT id FROM authorizations WHERE ` + staleAuthz[0] + `)`,
			[]string{"USING INDEX authorizations_pending", "challenges_authz"}},
		{"DeleteStale challenges of failed authorizations", `DELETE FROM challenges WHERE authz_id IN (SELECT id FROM authorizations WHERE ` + staleAuthz[1] + `)`,
			[]string{"USING INDEX authorizations_failed", "challenges_authz"}},
		{"PendingAuthorizations", pendingAuthzSQL, []string{"USING COVERING INDEX authorizations_pending"}},
		{"PendingAuthorizations probe", pendingProbeSQL, []string{"USING COVERING INDEX authorizations_pending"}},
		{"FindValidAuthorization", findValidAuthzSQL, []string{"USING INDEX authorizations_valid"}},
		{"ValidAuthorizationsFor", countValidAuthzSQL, []string{"INDEX authorizations_valid"}},
		{"ValidAuthorizationsFor (wildcard)", countValidWildcardAuthzSQL, []string{"INDEX authorizations_valid"}},
		{"ExpiredLeases", expiredLeasesSQL, []string{"USING INDEX challenges_processing"}},
		{"RevokedCertificates", revokedCertsSQL, []string{"USING INDEX certificates_revoked"}},
		{"GetAuthorization", authzWithChallengesQuery, []string{"SEARCH c USING INDEX challenges_authz_type (authz_id=?)"}},
		{"GetChallengeAuthorization", challengeAuthzQuery, []string{"SEARCH c USING INDEX challenges_authz_type (authz_id=?)"}},
		{"StartChallengeLeased", startChallengeLeasedSQL, []string{"SEARCH a USING INDEX sqlite_autoindex_authorizations_1 (id=?)"}},
		{"ListACMEOrders", listOrdersSQL, []string{"SEARCH orders USING INDEX orders_account (account_id=?"}},
		{"cancelPending authorizations", cancelAuthorizationsSQL, []string{"SEARCH authorizations USING INDEX authorizations_pending (account_id=?)"}},
		{"cancelPending orders", cancelOrdersSQL, []string{"SEARCH orders USING INDEX orders_account (account_id=? AND created_at>?)",
			"SEARCH orders USING COVERING INDEX orders_account (account_id=?)"}},
	}
	for _, c := range cases {
		plan := queryPlan(ctx, t, s, c.name, c.query)
		p := strings.Join(plan, "; ")
		for _, w := range c.want {
			if !strings.Contains(p, w) {
				t.Errorf("%s: plan %q lacks %q", c.name, p, w)
			}
		}
		for _, d := range plan {
			if strings.Contains(d, "TEMP B-TREE") {
				t.Errorf("%s: plan %q sorts", c.name, p)
			}
			// A scan of a subquery's co-routine reads its bounded result, not a table.
			if sub, ok := strings.CutPrefix(d, "SCAN "); ok && slices.Contains(plan, "CO-ROUTINE "+sub) {
				continue
			}
			if strings.HasPrefix(d, "SCAN json_each VIRTUAL TABLE") { // the statement's argument
				continue
			}
			if strings.HasPrefix(d, "SCAN ") && !strings.Contains(d, " USING ") {
				t.Errorf("%s: plan %q scans a table", c.name, p)
			}
		}
	}
}

// TestSQLitePlansCountsAndBatchReads: on SQLite, CountCertificatesByExpiry's
// statement reads the unrevoked certificates of its window from the
// covering index certificates_status_not_after (no row read) and the
// renewed ones from the partial index certificates_replaced_not_after
// (covering too), with two primary-key lookups per renewed one, and scans
// no table; the keyCompromise revocation's fillKeyHashes reads
// certificates_no_key; the approval sweep's batch reads find each account
// and blocked key by its primary key, scanning only their JSON argument.
func TestSQLitePlansCountsAndBatchReads(t *testing.T) {
	s := openWriterTest(t)
	ctx := context.Background()
	for _, c := range []struct {
		name, query string
		want        []string
	}{
		{"CountCertificatesByExpiry", s.expiryCountSQL(3), []string{
			"SEARCH certificates USING COVERING INDEX certificates_status_not_after (status=? AND not_after>? AND not_after<?)",
			"SEARCH c USING COVERING INDEX certificates_replaced_not_after (status=? AND not_after>? AND not_after<?)",
			"SEARCH ro USING INDEX sqlite_autoindex_orders_1 (id=?)",
			"SEARCH rc USING INDEX sqlite_autoindex_certificates_1 (serial=?)"}},
		{"fillKeyHashes", `SELECT serial, der FROM certificates INDEXED BY certificates_no_key WHERE key_hash IS NULL AND ` + keyCompromiseRevocable,
			[]string{"SCAN certificates USING INDEX certificates_no_key"}},
		{"AccountStatuses", accountStatusesSQL, []string{"SEARCH accounts USING INDEX sqlite_autoindex_accounts_1 (id=?)"}},
		{"BlockedKeysAmong", blockedKeysAmongSQL, []string{"SEARCH blocked_keys USING PRIMARY KEY (spki_sha256=?)"}},
	} {
		plan := queryPlan(ctx, t, s, c.name, c.query)
		p := strings.Join(plan, "; ")
		for _, w := range c.want {
			if !strings.Contains(p, w) {
				t.Errorf("%s: plan %q lacks %q", c.name, p, w)
			}
		}
		for _, d := range plan {
			// A scan of a subquery's one-row result reads no table.
			if sub, ok := strings.CutPrefix(d, "SCAN "); ok && (slices.Contains(plan, "CO-ROUTINE "+sub) || slices.Contains(plan, "MATERIALIZE "+sub)) {
				continue
			}
			if strings.HasPrefix(d, "SCAN json_each VIRTUAL TABLE") { // the statement's argument
				continue
			}
			if strings.HasPrefix(d, "SCAN ") && !strings.Contains(d, " USING ") {
				t.Errorf("%s: plan %q scans a table", c.name, p)
			}
		}
	}
}

// queryPlan returns the detail lines of SQLite's EXPLAIN QUERY PLAN for
// query (named name in failures), its parameters all NULL.
func queryPlan(ctx context.Context, t *testing.T, s *Store, name, query string) []string {
	t.Helper()
	rows, err := s.r.QueryContext(ctx, `EXPLAIN QUERY PLAN `+query, make([]any, strings.Count(query, "?"))...)
	if err != nil {
		t.Fatalf("%s: %v", name, err)
	}
	var plan []string
	for rows.Next() {
		var id, parent, unused int
		var detail string
		if err := rows.Scan(&id, &parent, &unused, &detail); err != nil {
			t.Fatal(err)
		}
		plan = append(plan, detail)
	}
	if err := rows.Close(); err != nil {
		t.Fatal(err)
	}
	return plan
}

// TestSQLitePlansIssuedReport: on SQLite, every statement of a page of
// the issued report (CountCertificatesBy) searches the certificates by
// notBefore in certificates_not_before (covering by day, a range of at
// most limit days and a seek for the first notBefore, and by profile) and
// scans no table.
func TestSQLitePlansIssuedReport(t *testing.T) {
	s := openWriterTest(t)
	ctx := context.Background()
	for _, c := range []struct{ name, query, want string }{
		{"day", countDaySQL, "SEARCH certificates USING COVERING INDEX certificates_not_before (not_before>? AND not_before<?)"},
		{"first", firstNotBeforeSQL, "SEARCH certificates USING COVERING INDEX certificates_not_before (not_before>? AND not_before<?)"},
		{"profile", countGroupSQL(ByProfile), "SEARCH certificates USING COVERING INDEX certificates_not_before (not_before>? AND not_before<?)"},
		{"issuer", countGroupSQL(ByIssuer), "SEARCH certificates USING INDEX certificates_not_before (not_before>? AND not_before<?)"},
	} {
		plan := queryPlan(ctx, t, s, c.name, c.query)
		p := strings.Join(plan, "; ")
		if !strings.Contains(p, c.want) {
			t.Errorf("%s: plan %q lacks %q", c.name, p, c.want)
		}
		for _, d := range plan {
			if strings.HasPrefix(d, "SCAN ") && !strings.Contains(d, " USING ") {
				t.Errorf("%s: plan %q scans a table", c.name, p)
			}
		}
	}
}

// TestSQLitePlansApprovalsPage: on SQLite, a page of the approvals list
// (ListApprovalsPage), with and without a status, first and after a
// cursor, searches approvals_keyset or approvals_status_keyset (migration
// 00026) in keyset order: no table scan, no sort of the rows.
func TestSQLitePlansApprovalsPage(t *testing.T) {
	s := openWriterTest(t)
	ctx := context.Background()
	after := &ApprovalKey{RequestedAt: time.Unix(1, 0), ID: "x"}
	for _, c := range []struct {
		name, status string
		after        *ApprovalKey
		want         string
	}{
		{"all, first", "", nil, "SCAN approvals USING INDEX approvals_keyset"},
		{"all, after", "", after, "SEARCH approvals USING INDEX approvals_keyset ((requested_at,id)>(?,?))"},
		{"status, first", ApprovalPending, nil, "SEARCH approvals USING INDEX approvals_status_keyset (status=?)"},
		{"status, after", ApprovalPending, after, "SEARCH approvals USING INDEX approvals_status_keyset (status=? AND (requested_at,id)>(?,?))"},
	} {
		q, _ := approvalsPageSQL(c.status, c.after)
		plan := queryPlan(ctx, t, s, c.name, q)
		p := strings.Join(plan, "; ")
		if !strings.Contains(p, c.want) || strings.Contains(p, "TEMP B-TREE") {
			t.Errorf("%s: plan %q lacks %q or sorts", c.name, p, c.want)
		}
	}
}

// TestSQLitePlansSuffixSearch: on SQLite a suffix search reads one range of
// certificate_names_reversed, with the domain itself (SuffixApex) as
// without: the extra condition that drops "my-example.com" filters that
// range and does not turn the search into a scan or a union.
func TestSQLitePlansSuffixSearch(t *testing.T) {
	s := openWriterTest(t)
	ctx := context.Background()
	now := time.Now().UTC()
	// One match, so that the search is planned (no match: no statement).
	if err := s.InsertCertificates(ctx, []*Certificate{{Serial: "01", Issuer: "CN=Test CA", DER: []byte("der"), SANs: []string{"a.example.com"},
		FingerprintSHA256: "fp", NotBefore: now, NotAfter: now.Add(time.Hour), Status: StatusValid, CreatedAt: now, Source: SourceImported}}); err != nil {
		t.Fatal(err)
	}
	const want = "INDEX certificate_names_reversed (reversed_name>? AND reversed_name<?)"
	for _, apex := range []bool{false, true} {
		f := suffixFilter(".example.com", apex)
		count := `SELECT COUNT(*) FROM (SELECT 1 FROM ` + f.table + ` WHERE ` + f.cond + ` LIMIT 2001) x`
		search, _, err := s.searchQuery(ctx, CertQuery{Suffix: ".example.com", SuffixApex: apex, Limit: 10})
		if err != nil {
			t.Fatal(err)
		}
		for name, q := range map[string]string{"count": count, "search": search} {
			p := strings.Join(queryPlan(ctx, t, s, name, q), "; ")
			if !strings.Contains(p, want) {
				t.Errorf("apex %v, %s: plan %q lacks %q", apex, name, p, want)
			}
			if strings.Contains(p, "SCAN certificate_names") || strings.Contains(p, "MULTI-INDEX OR") {
				t.Errorf("apex %v, %s: plan %q", apex, name, p)
			}
		}
	}
}
