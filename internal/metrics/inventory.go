package metrics

import (
	"context"
	"database/sql"
	"fmt"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
)

// Inventory is what the gauges read from the database at scrape time;
// *store.Store implements it.
type Inventory interface {
	// CountPendingApprovals returns how many approvals wait for a decision.
	CountPendingApprovals(ctx context.Context) (int, error)
	// CountCertificatesByExpiry returns, for ascending bounds, how many
	// unrevoked certificates have notAfter in each [b[i], b[i+1]), leaving
	// out those whose ARI replacement (RFC 9773) was issued and is valid,
	// as the expiring report does.
	CountCertificatesByExpiry(ctx context.Context, bounds []time.Time) ([]int64, error)
}

// expiryWindows returns the windows of certgate_certificates_by_expiry,
// in the order of the counts CountCertificatesByExpiry returns for
// expiryBounds.
func expiryWindows() []string { return []string{"expired_last_30d", "next_7d", "next_7d_to_30d"} }

// expiryBounds are the bounds of expiryWindows around now.
func expiryBounds(now time.Time) []time.Time {
	const day = 24 * time.Hour
	return []time.Time{now.Add(-30 * day), now, now.Add(7 * day), now.Add(30 * day)}
}

// InventoryCacheFor is how long the database-backed gauges are reused
// between scrapes: scrapes more frequent than this (several Prometheus
// servers, a person's curl) cost no query.
const InventoryCacheFor = 30 * time.Second

// inventoryTimeout bounds the queries of one refresh.
const inventoryTimeout = 5 * time.Second

// RegisterInventory registers the gauges read from inv when scraped
// (pending approvals, unrevoked certificates not yet renewed by expiry
// window), with now
// as the clock of the expiry windows. Values are read at most every
// InventoryCacheFor; a failed read is reported to the scrape's error log
// and retried at the next scrape.
func (m *Metrics) RegisterInventory(inv Inventory, now func() time.Time) {
	m.reg.MustRegister(&inventoryCollector{inv: inv, now: now,
		pending: prometheus.NewDesc(Namespace+"_approvals_pending",
			"Approvals waiting for a decision (all nodes sharing the database).", nil, nil),
		expiry: prometheus.NewDesc(Namespace+"_certificates_by_expiry",
			"Unrevoked certificates of the inventory (issued, imported) by notAfter window: expired in the last 30 days, expiring within 7 days, in 7 to 30 days; "+
				"without those already renewed through ARI (RFC 9773: a replacement was issued and is valid), as in certgate report expiring.",
			[]string{"window"}, nil),
	})
}

// RegisterDBPools registers database/sql's pool statistics (open and
// in-use connections, waits for a connection) of each pool, as the
// standard go_sql_* metrics with label db_name.
func (m *Metrics) RegisterDBPools(pools map[string]*sql.DB) {
	for name, db := range pools {
		m.reg.MustRegister(collectors.NewDBStatsCollector(db, name))
	}
}

type inventoryCollector struct {
	inv     Inventory
	now     func() time.Time
	pending *prometheus.Desc
	expiry  *prometheus.Desc

	// mu serializes refreshes, so that concurrent scrapes query once.
	mu       sync.Mutex
	read     time.Time // when the values were read (monotonic); zero: never
	nPending int
	byExpiry []int64
}

// Describe implements prometheus.Collector.
func (c *inventoryCollector) Describe(ch chan<- *prometheus.Desc) {
	ch <- c.pending
	ch <- c.expiry
}

// Collect implements prometheus.Collector.
func (c *inventoryCollector) Collect(ch chan<- prometheus.Metric) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.read.IsZero() || time.Since(c.read) >= InventoryCacheFor {
		if err := c.refresh(); err != nil {
			ch <- prometheus.NewInvalidMetric(c.pending, err)
			ch <- prometheus.NewInvalidMetric(c.expiry, err)
			return
		}
	}
	ch <- prometheus.MustNewConstMetric(c.pending, prometheus.GaugeValue, float64(c.nPending))
	for i, w := range expiryWindows() {
		ch <- prometheus.MustNewConstMetric(c.expiry, prometheus.GaugeValue, float64(c.byExpiry[i]), w)
	}
}

func (c *inventoryCollector) refresh() error {
	ctx, cancel := context.WithTimeout(context.Background(), inventoryTimeout)
	defer cancel()
	n, err := c.inv.CountPendingApprovals(ctx)
	if err != nil {
		return fmt.Errorf("inventory metrics: %w", err)
	}
	counts, err := c.inv.CountCertificatesByExpiry(ctx, expiryBounds(c.now()))
	if err != nil {
		return fmt.Errorf("inventory metrics: %w", err)
	}
	if n := len(expiryBounds(time.Time{})) - 1; len(counts) != n {
		return fmt.Errorf("inventory metrics: %d expiry counts for %d windows", len(counts), n)
	}
	c.nPending, c.byExpiry, c.read = n, counts, time.Now()
	return nil
}
