package main

import (
	"context"
	"fmt"
	"os"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/certgate/certgate/internal/inventory"
	"github.com/spf13/cobra"
)

// benchQuery is one inventory query measured by `certgate bench inventory`.
type benchQuery struct {
	Name  string
	Query inventory.Query
	// Next measures the second page (following the first page's cursor).
	Next bool
}

// benchResult is the latency of one query over all runs.
type benchResult struct {
	Query string  `json:"query"`
	Rows  int     `json:"rows"` // rows on the measured page
	Runs  int     `json:"runs"`
	P50ms float64 `json:"p50_ms"`
	P95ms float64 `json:"p95_ms"`
	Maxms float64 `json:"max_ms"`
}

func newBenchInventory() *cobra.Command {
	var o storeOpts
	var runs, limit int
	var format outputFormat
	cmd := &cobra.Command{
		Use:   "inventory",
		Short: "Measure inventory query latency (first page) on a seeded database",
		Long: `Run the inventory queries of docs/performance.md (expiring within 30 days,
name suffix over all names and over one domain, attribute, combinations, a
second page) --runs times each on the database of a data directory filled by
"certgate bench seed", and print each query's p50, p95 and maximum latency
for one page of --limit rows, plus this process's peak RSS.`,
		Example: `  certgate bench seed --data ./bench-data --certificates 1000000
  certgate bench inventory --data ./bench-data`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if runs < 1 {
				return fmt.Errorf("--runs must be positive")
			}
			if err := checkLimit(limit); err != nil {
				return err
			}
			return withInventory(cmd, &o, func(ctx context.Context, svc *inventory.Service) error {
				qs := []benchQuery{
					{Name: "expiring within 30d", Query: inventory.Query{ExpiringWithin: 30 * 24 * time.Hour}},
					{Name: "expiring within 30d, page 2", Query: inventory.Query{ExpiringWithin: 30 * 24 * time.Hour}, Next: true},
					{Name: "suffix .seed.test (every name)", Query: inventory.Query{Suffix: ".seed.test"}},
					{Name: "suffix .d7.seed.test (0.1% of names)", Query: inventory.Query{Suffix: ".d7.seed.test"}},
					{Name: "suffix .d7.seed.test, expiring within 30d", Query: inventory.Query{Suffix: ".d7.seed.test", ExpiringWithin: 30 * 24 * time.Hour}},
					{Name: "suffix .seed.test, latest expiry first", Query: inventory.Query{Suffix: ".seed.test", Sort: "-not_after"}},
					{Name: "attribute team=team7 (2%)", Query: inventory.Query{Attributes: map[string]string{"team": "team7"}}},
					{Name: "attribute env=prod, expiring within 30d", Query: inventory.Query{Attributes: map[string]string{"env": "prod"}, ExpiringWithin: 30 * 24 * time.Hour}},
					{Name: "status revoked", Query: inventory.Query{Status: "revoked"}},
				}
				var out []benchResult
				for _, bq := range qs {
					r, err := runBenchQuery(ctx, svc, bq, runs, limit)
					if err != nil {
						return fmt.Errorf("%s: %w", bq.Name, err)
					}
					out = append(out, r)
				}
				rss := peakRSS()
				if format == "json" {
					return printJSON(cmd.OutOrStdout(), struct {
						Results   []benchResult `json:"results"`
						PeakRSSMB float64       `json:"peak_rss_mib"`
					}{out, rss})
				}
				rows := make([][]string, len(out))
				f := func(v float64) string { return strconv.FormatFloat(v, 'f', 2, 64) }
				for i, r := range out {
					rows[i] = []string{r.Query, strconv.Itoa(r.Rows), strconv.Itoa(r.Runs), f(r.P50ms), f(r.P95ms), f(r.Maxms)}
				}
				if err := writeTable(cmd.OutOrStdout(), []string{"QUERY", "ROWS", "RUNS", "P50 MS", "P95 MS", "MAX MS"}, rows); err != nil {
					return err
				}
				fmt.Fprintf(cmd.OutOrStdout(), "peak RSS of this process: %.0f MiB\n", rss)
				return nil
			})
		},
	}
	storeFlags(cmd, &o)
	cmd.Flags().IntVar(&runs, "runs", 100, "runs of each query")
	cmd.Flags().IntVar(&limit, "limit", 100, "page size, 1 to 1000")
	formatFlag(cmd, &format, "table", "json")
	return cmd
}

func runBenchQuery(ctx context.Context, svc *inventory.Service, bq benchQuery, runs, limit int) (benchResult, error) {
	q := bq.Query
	q.Limit = limit
	if bq.Next {
		p, err := svc.List(ctx, q)
		if err != nil {
			return benchResult{}, err
		}
		if p.NextCursor == "" {
			return benchResult{}, fmt.Errorf("no second page")
		}
		q.Cursor = p.NextCursor
	}
	// One unmeasured run warms the statement cache and the page cache.
	if _, err := svc.List(ctx, q); err != nil {
		return benchResult{}, err
	}
	lat := make([]time.Duration, runs)
	n := 0
	for i := range runs {
		start := time.Now()
		p, err := svc.List(ctx, q)
		lat[i] = time.Since(start)
		if err != nil {
			return benchResult{}, err
		}
		n = len(p.Items)
	}
	slices.Sort(lat)
	ms := func(d time.Duration) float64 { return float64(d.Microseconds()) / 1000 }
	return benchResult{Query: bq.Name, Rows: n, Runs: runs, P50ms: ms(lat[runs/2]), P95ms: ms(lat[(runs*95+99)/100-1]), Maxms: ms(lat[runs-1])}, nil
}

// peakRSS returns this process's peak resident set size in MiB (VmHWM of
// /proc/self/status), 0 where that file does not exist.
func peakRSS() float64 {
	b, err := os.ReadFile("/proc/self/status")
	if err != nil {
		return 0
	}
	for _, line := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(line, "VmHWM:"); ok {
			kb, _ := strconv.Atoi(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(v), "kB")))
			return float64(kb) / 1024
		}
	}
	return 0
}
