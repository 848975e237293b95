package metrics

import (
	"github.com/prometheus/client_golang/prometheus"

	"github.com/certgate/certgate/internal/store"
)

// RegisterSQLiteWriter registers the counters of a SQLite store's writer
// goroutine (store.WriterStats), read at scrape time: certgate_sqlite_writer_
// turns_total, jobs_total{kind="read"|"write"}, commits_total,
// wal_syncs_total, catchup_checkpoints_total and catchup_seconds_total. stats returns ok
// false for a store without one (PostgreSQL); nothing is registered then.
func (m *Metrics) RegisterSQLiteWriter(stats func() (store.WriterStats, bool)) {
	if _, ok := stats(); !ok {
		return
	}
	d := func(name, help string, labels ...string) *prometheus.Desc {
		return prometheus.NewDesc(prometheus.BuildFQName(Namespace, "sqlite_writer", name), help, labels, nil)
	}
	m.reg.MustRegister(&writerCollector{stats: stats,
		turns:   d("turns_total", "Rounds of the SQLite writer goroutine that ran jobs: the reads queued at that moment, then the queued writes in one transaction."),
		jobs:    d("jobs_total", "Jobs the SQLite writer goroutine ran, by kind: reads on the request path, writes (a write run again alone after its shared transaction failed counts again).", "kind"),
		commits: d("commits_total", "Write transactions the SQLite writer committed."),
		durable: d("wal_syncs_total", "Fsyncs of the WAL that made commits durable against a machine crash before their requests were answered (revocations, CRL numbers, administrators' changes) or, for issued certificates, before their download; one covers every commit before it."),
		catchUps: d("catchup_checkpoints_total",
			"WAL checkpoints the SQLite writer ran itself so that the WAL can start over; every queued job waits meanwhile."),
		catchUpSecs: d("catchup_seconds_total", "Wall time of those checkpoints, in seconds."),
	})
}

type writerCollector struct {
	stats                                                func() (store.WriterStats, bool)
	turns, jobs, commits, durable, catchUps, catchUpSecs *prometheus.Desc
}

// Describe implements prometheus.Collector.
func (c *writerCollector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{c.turns, c.jobs, c.commits, c.durable, c.catchUps, c.catchUpSecs} {
		ch <- d
	}
}

// Collect implements prometheus.Collector.
func (c *writerCollector) Collect(ch chan<- prometheus.Metric) {
	st, ok := c.stats()
	if !ok {
		return
	}
	ch <- prometheus.MustNewConstMetric(c.turns, prometheus.CounterValue, float64(st.Turns))
	ch <- prometheus.MustNewConstMetric(c.jobs, prometheus.CounterValue, float64(st.ReadJobs), "read")
	ch <- prometheus.MustNewConstMetric(c.jobs, prometheus.CounterValue, float64(st.WriteJobs), "write")
	ch <- prometheus.MustNewConstMetric(c.commits, prometheus.CounterValue, float64(st.Commits))
	ch <- prometheus.MustNewConstMetric(c.durable, prometheus.CounterValue, float64(st.WALSyncs))
	ch <- prometheus.MustNewConstMetric(c.catchUps, prometheus.CounterValue, float64(st.CatchUps))
	ch <- prometheus.MustNewConstMetric(c.catchUpSecs, prometheus.CounterValue, st.CatchUpSeconds)
}
