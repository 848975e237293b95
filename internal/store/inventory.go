package store

import (
	"context"
	"database/sql"
	"fmt"
	"sort"
	"strings"
	"time"
)

// Certificate inventory queries (docs/inventory.md). Names are kept
// lower-cased in certificate_names with a reversed copy, so that a suffix
// search (".example.com") is a range scan of reversed_name; custom
// attributes are kept in certificate_attributes for key=value search. Both
// are written with the certificate row, in its transaction.

func nullable(s string) any {
	if s == "" {
		return nil
	}
	return s
}

func nonNilMap(m map[string]string) map[string]string {
	if m == nil {
		return map[string]string{}
	}
	return m
}

// ReverseName returns name with its bytes in reverse order: the key of the
// certificate_names.reversed_name index. Names are ASCII (DNS A-labels, IP
// addresses) once lower-cased.
func ReverseName(name string) string {
	b := []byte(name)
	for i, j := 0, len(b)-1; i < j; i, j = i+1, j-1 {
		b[i], b[j] = b[j], b[i]
	}
	return string(b)
}

// insertInventoryRows writes the name and attribute rows of c.
func insertInventoryRows(ctx context.Context, tx txConn, c *Certificate) error {
	if err := insertRows(ctx, tx, insertCertificateNames, 3, certificateNameArgs(c)); err != nil {
		return fmt.Errorf("insert certificate name: %w", err)
	}
	return insertAttributeRows(ctx, tx, c)
}

// insertCertificateNames is the start of the multi-row INSERT of
// certificate_names rows (3 values each: certificateNameArgs).
const insertCertificateNames = `INSERT INTO certificate_names (serial, name, reversed_name) VALUES `

// certificateNameArgs returns the certificate_names values of c: serial,
// name and reversed name of each distinct SAN, lower-cased.
func certificateNameArgs(c *Certificate) []any {
	seen := make(map[string]bool, len(c.SANs))
	names := make([]any, 0, 3*len(c.SANs))
	for _, n := range c.SANs {
		n = strings.ToLower(n)
		if n == "" || seen[n] {
			continue
		}
		seen[n] = true
		names = append(names, c.Serial, n, ReverseName(n))
	}
	return names
}

// insertAttributeRows inserts the certificate_attributes rows of c.
func insertAttributeRows(ctx context.Context, tx txConn, c *Certificate) error {
	keys := make([]string, 0, len(c.Attributes))
	for k := range c.Attributes {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	attrs := make([]any, 0, 3*len(keys))
	for _, k := range keys {
		attrs = append(attrs, c.Serial, k, c.Attributes[k])
	}
	if err := insertRows(ctx, tx, `INSERT INTO certificate_attributes (serial, key, value) VALUES `, 3, attrs); err != nil {
		return fmt.Errorf("insert certificate attribute: %w", err)
	}
	return nil
}

// InsertCertificates stores certificates that were not issued through an
// ACME order (imported or discovered ones), all in one transaction: either
// every one is stored or none. Each one's serial is reserved too, so that
// the built-in CA never reuses it. ErrConflict wraps a duplicate serial or
// fingerprint. events (nil ones skipped) are appended to the audit log in
// the same transaction; an append's error stores none of certs.
func (s *Store) InsertCertificates(ctx context.Context, certs []*Certificate, events ...*AuditAppend) error {
	chs := make([]*newChain, len(certs))
	for i, c := range certs {
		chs[i] = s.chainOf(c)
	}
	err := s.tx(ctx, func(tx txConn) error {
		for i, c := range certs {
			if _, err := tx.ExecContext(ctx, `INSERT INTO serials (serial, reserved_at) VALUES (?, ?)`, c.Serial, ts(c.CreatedAt)); err != nil {
				if isUniqueViolation(err) {
					return fmt.Errorf("serial %s: %w", c.Serial, ErrConflict)
				}
				return fmt.Errorf("insert serial: %w", err)
			}
			if err := s.insertCertificate(ctx, tx, c, chs[i]); err != nil {
				return err
			}
		}
		return appendAll(ctx, tx, events)
	})
	if err == nil {
		s.learn(chs...)
	}
	return err
}

// GetCertificateByFingerprint returns the certificate whose DER has the
// lower-case hex SHA-256 fingerprint fp, or ErrNotFound.
func (s *Store) GetCertificateByFingerprint(ctx context.Context, fp string) (*Certificate, error) {
	return scanCert(s.r.QueryRowContext(ctx, `SELECT `+certSelect()+` WHERE c.fingerprint_sha256 = ?`, fp))
}

// Inventory sort orders (CertQuery.Sort).
const (
	SortNotAfter     = "not_after"  // soonest expiry first, then serial
	SortNotAfterDesc = "-not_after" // latest expiry first, then serial descending
	SortSerial       = "serial"     // by serial (lower-case hex, compared as text)
)

// Inventory statuses (CertQuery.Status). A stored "valid" certificate is
// reported expired once now is past its NotAfter.
const (
	StatusValid   = "valid"
	StatusRevoked = "revoked"
	StatusExpired = "expired"
)

// CertKey is a position in a sorted certificate listing: the sort key of
// the last certificate of a page. The next page starts after it.
type CertKey struct {
	NotAfter time.Time // the last certificate's notAfter, UTC
	Serial   string    // its serial (inventory key)
}

// CertQuery selects certificates from the inventory. Empty fields do not
// filter; all given filters must hold.
type CertQuery struct {
	Name   string // a SAN equal to this lower-case name
	Suffix string // a SAN ending with this lower-case suffix, e.g. ".example.com"
	// SuffixApex also selects the SAN equal to Suffix without its leading
	// dot (the domain itself: "example.com" for ".example.com"). A name
	// that only ends like it ("my-example.com") is never selected.
	SuffixApex  bool
	Serial      string // lower-case hex; also finds imported certificates keyed SERIAL-FINGERPRINT16
	Fingerprint string // lower-case hex SHA-256 of the DER
	Issuer      string // issuer name ("local") or, for imported certificates, issuer DN
	Profile     string // profile name
	Source      string // issued | imported | discovered | listener
	// NotSource leaves out the certificates of this source (e.g.
	// SourceListener for the expiry notifications of a rule without
	// source=); "" leaves out none.
	NotSource  string
	Status     string            // StatusValid, StatusRevoked or StatusExpired, judged at Now
	Attributes map[string]string // custom attribute key = value, each one required
	// NotAfterFrom and NotAfterTo bound NotAfter: NotAfterFrom < NotAfter <= NotAfterTo
	// (zero: unbounded), e.g. "expiring within 30 days" is (now, now+30d].
	NotAfterFrom, NotAfterTo time.Time
	// Weak selects certificates with RSA keys under 2048 bits, RSA keys
	// with the ROCA fingerprint (CVE-2017-15361; column key_roca, Go
	// migration 23) or a SHA-1 (or MD5/MD2) signature.
	Weak bool
	// NotReplaced leaves out certificates whose replacement (the
	// certificate of the order naming them in "replaces", RFC 9773) has
	// been issued and is not revoked, and discovered certificates
	// superseded at their endpoint (FinishScan: it serves a newer
	// certificate for their names) by a certificate that is not revoked.
	NotReplaced bool
	Now         time.Time // the time status is judged at
	Sort        string    // SortNotAfter (default), SortNotAfterDesc or SortSerial
	// After is the sort key of the last row of the previous page (nil for
	// the first page): keyset pagination, never OFFSET.
	After *CertKey
	Limit int // rows to return, 1..MaxSearchLimit
}

// MaxSearchLimit is the most rows SearchCertificates returns at once: a
// page of up to 1000 certificates (the largest page size the inventory,
// the CLI and the admin API accept) plus the one row that tells whether
// another page follows.
const MaxSearchLimit = 1001

// setThreshold is how many matching name or attribute rows a set filter
// may have for the query to start from that set (then sort the few
// matches); above it the query walks the sort index and probes the set
// for each row, which finds a first page quickly when matches are common.
const setThreshold = 2000

// suffixBounds returns the reversed_name range [lo, hi) of names ending
// with suffix.
func suffixBounds(suffix string) (lo, hi string) {
	lo = ReverseName(suffix)
	b := []byte(lo)
	b[len(b)-1]++ // names are ASCII: no overflow past 0x7f
	return lo, string(b)
}

// suffixFilter is the set filter of a suffix search (CertQuery.Suffix and
// SuffixApex): one range of the reversed_name index. With the apex, the
// range starts at the reversed domain, which sorts just before the names
// under it; the only other names in between continue the domain with a
// character below '.', i.e. '-' ("my-example.com"), and the second
// condition drops them.
func suffixFilter(suffix string, apex bool) setFilter {
	lo, hi := suffixBounds(suffix)
	if !apex || len(suffix) < 2 || suffix[0] != '.' {
		return setFilter{"certificate_names", `reversed_name >= ? AND reversed_name < ?`, []any{lo, hi}}
	}
	domain := lo[:len(lo)-1]
	return setFilter{"certificate_names", `reversed_name >= ? AND reversed_name < ? AND (reversed_name = ? OR reversed_name >= ?)`,
		[]any{domain, hi, domain, lo}}
}

// setFilter is one filter answered by the names or attributes table.
type setFilter struct {
	table, cond string
	args        []any
}

// searchQuery builds SearchCertificates' statement for q and its
// arguments; "" when a set filter matches nothing (no certificate can
// match). It reads the sizes of the set filters.
func (s *Store) searchQuery(ctx context.Context, q CertQuery) (string, []any, error) {
	if q.Limit < 1 || q.Limit > MaxSearchLimit {
		return "", nil, fmt.Errorf("search certificates: limit %d out of 1..%d", q.Limit, MaxSearchLimit)
	}
	var where []string
	var args []any
	add := func(cond string, a ...any) {
		where = append(where, cond)
		args = append(args, a...)
	}
	var sets []setFilter
	if q.Name != "" {
		sets = append(sets, setFilter{"certificate_names", `name = ?`, []any{q.Name}})
	}
	if q.Suffix != "" {
		sets = append(sets, suffixFilter(q.Suffix, q.SuffixApex))
	}
	keys := make([]string, 0, len(q.Attributes))
	for k := range q.Attributes {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		sets = append(sets, setFilter{"certificate_attributes", `key = ? AND value = ?`, []any{k, q.Attributes[k]}})
	}
	// Start from the smallest set if one is small; probe the others.
	drive := -1
	best := setThreshold + 1
	for i, f := range sets {
		var n int
		if err := s.r.QueryRowContext(ctx, `SELECT COUNT(*) FROM (SELECT 1 FROM `+f.table+` WHERE `+f.cond+` LIMIT `+fmt.Sprint(setThreshold+1)+`) x`, f.args...).Scan(&n); err != nil {
			return "", nil, fmt.Errorf("search certificates: %w", err)
		}
		if n < best {
			drive, best = i, n
		}
		if n == 0 {
			return "", nil, nil
		}
	}
	for i, f := range sets {
		if i == drive {
			add(`c.serial IN (SELECT serial FROM `+f.table+` WHERE `+f.cond+`)`, f.args...)
		} else {
			add(`EXISTS (SELECT 1 FROM `+f.table+` s WHERE s.serial = c.serial AND `+f.cond+`)`, f.args...)
		}
	}
	if q.Serial != "" {
		// Imported certificates whose serial was taken are keyed
		// "SERIAL-FINGERPRINT16" ('-' < '.' in byte order).
		add(`(c.serial = ? OR (c.serial > ? AND c.serial < ?))`, q.Serial, q.Serial+"-", q.Serial+".")
	}
	if q.Fingerprint != "" {
		add(`c.fingerprint_sha256 = ?`, q.Fingerprint)
	}
	if q.Issuer != "" {
		add(`c.issuer = ?`, q.Issuer)
	}
	if q.Profile != "" {
		cond := `c.profile = ?` // certificates_profile (migration 00022)
		if s.engine == EngineSQLite && (q.Sort == SortSerial || q.Status != "") {
			// The unary + keeps SQLite's planner, which has no
			// statistics, off certificates_profile where another index
			// serves better: for the serial order it would read and
			// sort the profile's every entry (193 ms at a million
			// certificates, where walking the serial index stops at the
			// page's last match: 12 ms), and with a status it would
			// step over the profile's every certificate of another
			// status (a few revoked among a million valid ones) where
			// certificates_status_not_after holds only that status.
			cond = `+c.profile = ?`
		}
		add(cond, q.Profile)
	}
	if q.Source != "" {
		add(`c.source = ?`, q.Source)
	}
	if q.NotSource != "" {
		add(`c.source <> ?`, q.NotSource)
	}
	switch q.Status {
	case "":
	case StatusValid:
		add(`c.status = 'valid' AND c.not_after > ?`, ts(q.Now))
	case StatusExpired:
		add(`c.status = 'valid' AND c.not_after <= ?`, ts(q.Now))
	case StatusRevoked:
		add(`c.status = 'revoked'`)
	default:
		return "", nil, fmt.Errorf("search certificates: unknown status %q (valid, revoked or expired)", q.Status)
	}
	if !q.NotAfterFrom.IsZero() {
		add(`c.not_after > ?`, ts(q.NotAfterFrom))
	}
	if !q.NotAfterTo.IsZero() {
		add(`c.not_after <= ?`, ts(q.NotAfterTo))
	}
	if q.NotReplaced {
		// Two primary-key lookups, only for rows whose replacement was issued.
		add(`(c.replaced_at = 0 OR NOT EXISTS (SELECT 1 FROM orders ro JOIN certificates rc ON rc.serial = ro.cert_serial
			WHERE ro.id = c.replaced_by AND rc.status = 'valid'))`)
		add(`(c.superseded_by = '' OR NOT EXISTS (SELECT 1 FROM certificates sc WHERE sc.serial = c.superseded_by AND sc.status = 'valid'))`)
	}
	if q.Weak {
		add(`((c.key_type LIKE 'RSA%' AND c.key_bits < 2048) OR c.key_roca = 1 OR c.signature_algorithm IN ('SHA1-RSA', 'ECDSA-SHA1', 'DSA-SHA1', 'MD5-RSA', 'MD2-RSA'))`)
	}
	var order string
	switch q.Sort {
	case "", SortNotAfter:
		order = `c.not_after, c.serial`
		if q.After != nil {
			add(`(c.not_after, c.serial) > (?, ?)`, ts(q.After.NotAfter), q.After.Serial)
		}
	case SortNotAfterDesc:
		order = `c.not_after DESC, c.serial DESC`
		if q.After != nil {
			add(`(c.not_after, c.serial) < (?, ?)`, ts(q.After.NotAfter), q.After.Serial)
		}
	case SortSerial:
		order = `c.serial`
		if q.After != nil {
			add(`c.serial > ?`, q.After.Serial)
		}
	default:
		return "", nil, fmt.Errorf("search certificates: unknown sort %q", q.Sort)
	}
	// Two steps: find the page's serials reading only indexes where the
	// filters allow (the DER and chain make certificate rows large), then
	// read the page's rows.
	inner := `SELECT c.serial FROM certificates c`
	if drive >= 0 && s.engine == EngineSQLite {
		// Look each match up in the index that holds its sort key and
		// status; SQLite's planner, without statistics, would pick the
		// primary key index and read the large row (PostgreSQL picks
		// the index-only scan itself). Databases migrated by an early
		// build of 00005 lack that index: they only run slower.
		var n int
		if err := s.r.QueryRowContext(ctx, `SELECT COUNT(*) FROM sqlite_master WHERE type = 'index' AND name = 'certificates_serial_expiry'`).Scan(&n); err != nil {
			return "", nil, fmt.Errorf("search certificates: %w", err)
		}
		if n == 1 {
			inner += ` INDEXED BY certificates_serial_expiry`
		}
	}
	if len(where) > 0 {
		inner += ` WHERE ` + strings.Join(where, ` AND `)
	}
	inner += ` ORDER BY ` + order + ` LIMIT ?`
	args = append(args, q.Limit)
	query := `SELECT ` + certSelect() + ` WHERE c.serial IN (` + inner + `) ORDER BY ` + order
	return query, args, nil
}

// SearchCertificates returns up to q.Limit certificates matching q after
// q.After in q.Sort order. Errors: a wrapped database error, or a
// description of an invalid query (unknown sort or status, bad limit).
func (s *Store) SearchCertificates(ctx context.Context, q CertQuery) ([]*Certificate, error) {
	query, args, err := s.searchQuery(ctx, q)
	if err != nil || query == "" {
		return nil, err
	}
	rows, err := s.r.QueryContext(ctx, query, args...)
	if err != nil {
		return nil, fmt.Errorf("search certificates: %w", err)
	}
	defer rows.Close()
	var out []*Certificate
	for rows.Next() {
		c, err := scanCert(rows)
		if err != nil {
			return nil, err
		}
		out = append(out, c)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("search certificates: %w", err)
	}
	return out, nil
}

// prefixCols qualifies each column of a comma-separated list with prefix.
func prefixCols(prefix, cols string) string {
	parts := strings.Split(cols, ",")
	for i, p := range parts {
		parts[i] = prefix + strings.TrimSpace(p)
	}
	return strings.Join(parts, ", ")
}

// CountRow is one group of a certificate count report.
type CountRow struct {
	Key   string // UTC day (YYYY-MM-DD), profile or issuer
	Count int    // certificates in the group
}

// Report groupings (CountCertificatesBy).
const (
	ByDay     = "day"
	ByProfile = "profile"
	ByIssuer  = "issuer"
)

// CountCertificatesBy counts the certificates whose NotBefore lies in
// [from, to), grouped by UTC day of NotBefore ("2006-01-02"), profile or
// issuer, ordered by key: one page of at most limit (>= 1) groups whose
// keys sort after after ("" for the first page; a day key for ByDay).
// more says whether groups follow the page's last.
//
// Each page reads the index certificates_not_before (notBefore, profile),
// never the whole table: by day, a range of at most limit days that starts
// at the first certificate after after (a seek), then one seek for the
// next one, without reading a row; by profile (without reading a row) or
// issuer (reading the rows), the window's range, the database aggregating
// the groups and returning limit+1 of them.
func (s *Store) CountCertificatesBy(ctx context.Context, by string, from, to time.Time, after string, limit int) (rows []CountRow, more bool, err error) {
	if limit < 1 {
		return nil, false, fmt.Errorf("count certificates: page size %d (at least 1)", limit)
	}
	switch by {
	case ByDay:
		return s.countByDay(ctx, from, to, after, limit)
	case ByProfile, ByIssuer:
	default:
		return nil, false, fmt.Errorf("count certificates: unknown grouping %q (day, profile or issuer)", by)
	}
	rs, err := s.r.QueryContext(ctx, countGroupSQL(by), ts(from), ts(to), after, limit+1)
	if err != nil {
		return nil, false, fmt.Errorf("count certificates: %w", err)
	}
	defer rs.Close()
	for rs.Next() {
		var r CountRow
		if err := rs.Scan(&r.Key, &r.Count); err != nil {
			return nil, false, fmt.Errorf("count certificates: %w", err)
		}
		rows = append(rows, r)
	}
	if err := rs.Err(); err != nil {
		return nil, false, fmt.Errorf("count certificates: %w", err)
	}
	if len(rows) > limit {
		return rows[:limit], true, nil
	}
	return rows, false, nil
}

// countGroupSQL is the statement of a page of counts by column by
// (ByProfile or ByIssuer, a column name): window, after, limit.
func countGroupSQL(by string) string {
	return `SELECT ` + by + `, COUNT(*) FROM certificates WHERE not_before >= ? AND not_before < ? AND ` + by + ` > ? GROUP BY ` + by + ` ORDER BY ` + by + ` LIMIT ?`
}

// Statements of the counts by day: one page's range, and the first
// not_before of a range. The day of a not_before (nanoseconds since the
// Unix epoch) is rounded down, as floorDay does: both engines' integer
// division truncates toward zero, which put the last day before 1970
// (not_before -1 to -86399999999999) on 1970-01-01 and each earlier day on
// the next one. (not_before + 1) / D - 1 cannot overflow, where
// not_before - (not_before % D + D) % D could for the least int64 (a
// notBefore before 1678, stored clamped).
const (
	countDaySQL = `SELECT CASE WHEN not_before < 0 THEN (not_before + 1) / 86400000000000 - 1 ELSE not_before / 86400000000000 END AS k, COUNT(*) ` +
		`FROM certificates WHERE not_before >= ? AND not_before < ? GROUP BY k ORDER BY k`
	firstNotBeforeSQL = `SELECT MIN(not_before) FROM certificates WHERE not_before >= ? AND not_before < ?`
)

// dayNanos is one day in the unit of the not_before column.
const dayNanos = int64(24 * time.Hour)

// floorDay is the UTC day of ns (nanoseconds since the Unix epoch) as days
// since 1970-01-01, rounded down: -1 for every instant of 1969-12-31,
// where Go's ns / dayNanos truncates toward zero and gives 0.
func floorDay(ns int64) int64 {
	d := ns / dayNanos
	if ns%dayNanos < 0 {
		d--
	}
	return d
}

// countByDay is CountCertificatesBy by day: the first limit UTC days
// holding a certificate of [from, to) after the day after. Each round
// seeks the first such certificate and counts the days of a window that
// starts at its day and is as many days long as groups are still wanted,
// so that sparse days do not end a page early (it ended after limit
// calendar days, with a cursor, however few held a certificate): at most
// limit rounds, each of at most limit days.
func (s *Store) countByDay(ctx context.Context, from, to time.Time, after string, limit int) ([]CountRow, bool, error) {
	lo, hi := ts(from), ts(to)
	if after != "" {
		d, err := time.Parse(time.DateOnly, after)
		if err != nil {
			return nil, false, fmt.Errorf("count certificates: day %q: %w", after, err)
		}
		lo = max(lo, ts(d.Add(24*time.Hour)))
	}
	var out []CountRow
	for len(out) < limit {
		first, ok, err := s.firstNotBefore(ctx, lo, hi)
		if err != nil || !ok {
			return out, false, err
		}
		end := min(hi, (floorDay(first)+int64(limit-len(out)))*dayNanos)
		if out, err = s.countDays(ctx, out, first, end); err != nil {
			return nil, false, err
		}
		if end >= hi {
			return out, false, nil
		}
		lo = end
	}
	_, more, err := s.firstNotBefore(ctx, lo, hi)
	return out, more, err
}

// countDays appends to out the count of certificates of each UTC day with
// not_before in [lo, hi) (nanoseconds), days in order.
func (s *Store) countDays(ctx context.Context, out []CountRow, lo, hi int64) ([]CountRow, error) {
	rs, err := s.r.QueryContext(ctx, countDaySQL, lo, hi)
	if err != nil {
		return nil, fmt.Errorf("count certificates: %w", err)
	}
	defer rs.Close()
	for rs.Next() {
		var day int64
		var r CountRow
		if err := rs.Scan(&day, &r.Count); err != nil {
			return nil, fmt.Errorf("count certificates: %w", err)
		}
		r.Key = time.Unix(day*86400, 0).UTC().Format(time.DateOnly)
		out = append(out, r)
	}
	if err := rs.Err(); err != nil {
		return nil, fmt.Errorf("count certificates: %w", err)
	}
	return out, nil
}

// firstNotBefore returns the least not_before in [lo, hi) (nanoseconds),
// ok false when no certificate has one there: one index seek.
func (s *Store) firstNotBefore(ctx context.Context, lo, hi int64) (int64, bool, error) {
	var first sql.NullInt64
	err := s.r.QueryRowContext(ctx, firstNotBeforeSQL, lo, hi).Scan(&first)
	if err != nil {
		return 0, false, fmt.Errorf("count certificates: %w", err)
	}
	return first.Int64, first.Valid, nil
}

// ListAccounts returns up to limit accounts with IDs after afterID, by ID
// (keyset pagination).
func (s *Store) ListAccounts(ctx context.Context, afterID string, limit int) ([]*Account, error) {
	rows, err := s.r.QueryContext(ctx, `SELECT `+accountCols+` FROM accounts WHERE id > ? ORDER BY id LIMIT ?`, afterID, limit)
	if err != nil {
		return nil, fmt.Errorf("list accounts: %w", err)
	}
	defer rows.Close()
	var out []*Account
	for rows.Next() {
		a, err := scanAccount(rows)
		if err != nil {
			return nil, err
		}
		out = append(out, a)
	}
	return out, rows.Err()
}

// CountAccountCertificates returns how many certificates account id holds.
func (s *Store) CountAccountCertificates(ctx context.Context, id string) (int, error) {
	var n int
	if err := s.r.QueryRowContext(ctx, `SELECT COUNT(*) FROM certificates WHERE account_id = ?`, id).Scan(&n); err != nil {
		return 0, fmt.Errorf("count account certificates: %w", err)
	}
	return n, nil
}
