package main

import (
	"context"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"runtime/debug"
	"runtime/metrics"
	"strings"
	"time"

	"github.com/certgate/certgate/internal/config"
	"github.com/certgate/certgate/internal/loadgen"
	"github.com/spf13/cobra"
)

// newBench is `certgate bench`, the load tools.
func newBench() *cobra.Command {
	bench := &cobra.Command{Use: "bench", Short: "Load tools: measure an ACME server"}
	bench.AddCommand(newBenchACME(), newBenchSeed(), newBenchInventory())
	return bench
}

// benchACMEGCPercent is the garbage collector's GOGC for `certgate bench
// acme` when the GOGC environment variable is not set. The tool's live heap
// is a few MB, so at Go's default of 100 it collected every ~20 flows and
// the collections took ~0.2–0.4 ms of CPU per flow (runtime/metrics), CPU
// that a server on the same machine would otherwise get; at 400 collections
// are ~5x rarer (peak RSS 31 -> 42 MB over 1,000 flows; docs/performance.md).
const benchACMEGCPercent = 400

// benchFlags are the settings of `certgate bench acme` that are not
// loadgen.Config fields.
type benchFlags struct {
	ca      string        // PEM file of roots to trust
	json    string        // JSON summary file, "-" for stdout
	timeout time.Duration // bound of the whole run
	eabHMAC string        // base64url HMAC key of --eab-kid
}

func newBenchACME() *cobra.Command {
	var cfg loadgen.Config
	var f benchFlags
	cmd := &cobra.Command{
		Use:   "acme",
		Short: "Run complete ACME issuance flows against a directory and report throughput and latency",
		Long: `Run N complete ACME (RFC 8555) issuance flows with C concurrent workers and K
accounts against a directory URL, and report throughput (flows/s), p50/p90/p99
latency per step and overall, and errors grouped by ACME problem type.

Each flow: newOrder for one unique name (f<run>-<n>.<domain>) → fetch the
authorization → answer http-01 from the built-in responder (--http01-listen)
→ accept the challenge → poll the authorization → finalize with a fresh key
→ poll the order → download and parse the certificate chain. Polling honours
Retry-After and otherwise backs off from 10 ms.

The server must resolve every requested name to this machine and connect to
the responder: for a local certgate, run a DNS server that answers all names
with 127.0.0.1 (e.g. pebble-challtestsrv -defaultIPv4 127.0.0.1) and start it
with --va-dns-resolver and --va-http-port. See docs/load-tool.md.

Exits non-zero if the run cannot start or any flow fails.`,
		Example: `  certgate bench acme -d https://localhost:8443/acme/directory --ca root.pem \
      --http01-listen 127.0.0.1:5002 -n 300 -c 8 --json result.json`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if pct, ok := gcPercentUnlessSet(os.Getenv, benchACMEGCPercent); ok {
				debug.SetGCPercent(pct)
			}
			stop, err := startCPUProfile(os.Getenv)
			if err != nil {
				return err
			}
			defer stop()
			if path := os.Getenv("CERTGATE_RUNTIME_METRICS"); path != "" {
				defer func() {
					if err := writeRuntimeMetrics(path); err != nil {
						fmt.Fprintln(cmd.ErrOrStderr(), "CERTGATE_RUNTIME_METRICS:", err)
					}
				}()
			}
			return runBenchACME(cmd.Context(), cmd.OutOrStdout(), cmd.ErrOrStderr(), cfg, f)
		},
	}
	fl := cmd.Flags()
	fl.StringVarP(&cfg.DirectoryURL, "directory", "d", "https://localhost:8443/acme/directory", "ACME directory URL")
	fl.IntVarP(&cfg.Flows, "flows", "n", 100, "number of issuance flows to run")
	fl.IntVarP(&cfg.Concurrency, "concurrency", "c", 8, "flows in flight at once")
	fl.IntVarP(&cfg.Accounts, "accounts", "k", 0, "accounts registered up front, used round-robin (0 = --concurrency)")
	fl.StringVar(&cfg.Domain, "domain", "bench.test", "parent domain of the requested names")
	fl.BoolVar(&cfg.ReuseNames, "reuse-names", false, "request the same names f<i>.<domain>, i < concurrency, in every run instead of unique ones")
	fl.StringVar(&cfg.KeyType, "key-type", loadgen.KeyEC256, "certificate key type: ec256 or rsa2048 (a fresh key per flow)")
	fl.StringVar(&f.ca, "ca", "", "PEM file of root certificates to trust for the server's TLS certificate (in addition to the system roots)")
	fl.StringVar(&cfg.EABKeyID, "eab-kid", "", "external account binding key ID: every account the run registers is bound to it (RFC 8555 §7.3.4)")
	fl.StringVar(&f.eabHMAC, "eab-hmac-key", "", "external account binding HMAC key, base64url as the CA gave it (with --eab-kid)")
	fl.BoolVar(&cfg.Insecure, "insecure", false, "do not verify the server's TLS certificate (quick tries only)")
	fl.BoolVar(&cfg.HTTP2, "http2", false, "speak HTTP/2 to a server that offers it (default: HTTP/1.1 to every server, as certbot does)")
	fl.StringVar(&cfg.HTTP01Listen, "http01-listen", ":80", "address(es) the http-01 responder listens on, comma-separated (e.g. 127.0.0.1:5002,[::1]:5002)")
	fl.Var(config.DurationValue(&f.timeout, 10*time.Minute), "timeout", "bound of the whole run (e.g. 10m, 2h, 1d); flows still running then count as failed")
	fl.Var(config.DurationValue(&cfg.FlowTimeout, time.Minute), "flow-timeout", "bound of one flow (e.g. 1m)")
	fl.BoolVar(&cfg.IgnoreRetryAfter, "ignore-retry-after", false, "poll from 10 ms on regardless of the server's Retry-After (shows when the server is done rather than what a polite client sees)")
	fl.StringVar(&f.json, "json", "", `write a JSON summary to FILE ("-" for stdout; the text report then goes to stderr)`)
	return cmd
}

func runBenchACME(ctx context.Context, stdout, stderr io.Writer, cfg loadgen.Config, f benchFlags) error {
	if cfg.Flows <= 0 || cfg.Concurrency <= 0 || cfg.Accounts < 0 {
		return fmt.Errorf("--flows and --concurrency must be positive, --accounts not negative")
	}
	if f.timeout <= 0 {
		return fmt.Errorf("--timeout must be positive")
	}
	if cfg.FlowTimeout <= 0 {
		return fmt.Errorf("--flow-timeout must be positive")
	}
	if f.ca != "" {
		pemBytes, err := os.ReadFile(f.ca)
		if err != nil {
			return fmt.Errorf("--ca: %w", err)
		}
		pool, err := x509.SystemCertPool()
		if err != nil {
			pool = x509.NewCertPool()
		}
		if !pool.AppendCertsFromPEM(pemBytes) {
			return fmt.Errorf("--ca %s: no PEM certificate in it", f.ca)
		}
		cfg.RootCAs = pool
	}
	if (cfg.EABKeyID == "") != (f.eabHMAC == "") {
		return fmt.Errorf("--eab-kid and --eab-hmac-key go together")
	}
	if f.eabHMAC != "" {
		key, err := base64.RawURLEncoding.DecodeString(strings.TrimRight(f.eabHMAC, "="))
		if err != nil || len(key) == 0 {
			return fmt.Errorf("--eab-hmac-key: not a base64url key")
		}
		cfg.EABHMACKey = key
	}
	var jsonOut *jsonOutput
	if f.json != "" && f.json != "-" {
		// Made now, so that a place that cannot be written fails before
		// the run rather than after it; FILE itself is left alone until
		// the summary is complete.
		o, err := newJSONOutput(f.json)
		if err != nil {
			return fmt.Errorf("--json: %w", err)
		}
		jsonOut = o
		defer o.discard()
	}
	if isTerminal(stderr) {
		cfg.Progress = progressLine(stderr, cfg.Flows)
		if cfg.PreparesKeys() {
			// Until the flows start and the progress line replaces it.
			fmt.Fprintf(stderr, "making %d %s keys before the flows ...", cfg.Flows, cfg.KeyType)
		}
	}
	ctx, cancel := context.WithTimeout(ctx, f.timeout)
	defer cancel()
	sum, err := loadgen.Run(ctx, cfg)
	if cfg.Progress != nil {
		fmt.Fprint(stderr, "\r\033[K") // clear the progress line
	}
	var eabRequired *loadgen.EABRequiredError
	if errors.As(err, &eabRequired) {
		return fmt.Errorf("%w (use --eab-kid KID --eab-hmac-key KEY)", err)
	}
	if err != nil && ctx.Err() != nil {
		// Ctrl-C or --timeout before the flows ran (registering the
		// accounts, making the RSA keys): no report, the last line says so
		// as it does for a run cut short.
		return fmt.Errorf("%s before the flows started: 0 of %d flows completed (%w)", stopCause(ctx, f.timeout), cfg.Flows, err)
	}
	if err != nil {
		return err
	}
	report := stdout
	if f.json == "-" {
		report = stderr
	}
	if err := sum.WriteText(report); err != nil {
		return err
	}
	if f.json != "" {
		if err := writeJSON(jsonOut, stdout, sum); err != nil {
			return err
		}
	}
	switch {
	case ctx.Err() != nil && sum.Failed > 0:
		return fmt.Errorf("%s: %d of %d flows completed", stopCause(ctx, f.timeout), sum.Completed, sum.Flows)
	case sum.Failed > 0:
		return fmt.Errorf("%d of %d flows failed", sum.Failed, sum.Flows)
	}
	return nil
}

// stopCause says why the run's context ended: "--timeout D reached" when
// its deadline passed, else "run interrupted" (Ctrl-C, SIGTERM).
func stopCause(ctx context.Context, timeout time.Duration) string {
	if errors.Is(ctx.Err(), context.DeadlineExceeded) {
		return fmt.Sprintf("--timeout %s reached", timeout)
	}
	return "run interrupted"
}

// jsonOutput is where --json FILE is written. A regular file, or a name
// not taken yet, gets a temporary file beside it (beside the link's
// target when FILE is a symbolic link, so that the link stays), made
// before the run and renamed over it once the summary is complete. Any
// other file (/dev/stdout, the pipe of bash's >(jq .), a FIFO) cannot be
// replaced: it is written in place at the end.
type jsonOutput struct {
	name string   // FILE as given
	path string   // the regular file that tmp replaces: FILE, or its link's target
	tmp  *os.File // nil when FILE is written in place
}

// newJSONOutput prepares --json FILE (see jsonOutput). Errors: FILE is a
// directory, or no file can be made beside it.
func newJSONOutput(name string) (*jsonOutput, error) {
	o := &jsonOutput{name: name, path: name}
	if fi, err := os.Stat(name); err == nil {
		if fi.IsDir() {
			return nil, fmt.Errorf("%s is a directory", name)
		}
		if !fi.Mode().IsRegular() {
			return o, nil
		}
		if o.path, err = filepath.EvalSymlinks(name); err != nil {
			return nil, err
		}
	} else if fi, err := os.Lstat(name); err == nil && fi.Mode()&fs.ModeSymlink != 0 {
		return o, nil // a dangling link: written through, which makes its target
	}
	tmp, err := os.CreateTemp(filepath.Dir(o.path), "."+filepath.Base(o.path)+".*")
	if err != nil {
		// Not the temporary file's name, which the user never gave: the
		// directory, which is what fails (missing, not writable).
		if pe := (*fs.PathError)(nil); errors.As(err, &pe) {
			err = fmt.Errorf("directory %s: %w", filepath.Dir(o.path), pe.Err)
		}
		return nil, fmt.Errorf("%s: %w", name, err)
	}
	o.tmp = tmp
	return o, nil
}

// discard removes the temporary file unless write renamed it.
func (o *jsonOutput) discard() {
	if o.tmp != nil {
		o.tmp.Close()
		os.Remove(o.tmp.Name()) // gone already when renamed
	}
}

// write puts b in place of FILE (see jsonOutput).
func (o *jsonOutput) write(b []byte) error {
	if o.tmp == nil {
		return os.WriteFile(o.name, b, 0o644)
	}
	if _, err := o.tmp.Write(b); err != nil {
		return err
	}
	if err := o.tmp.Chmod(0o644); err != nil {
		return err
	}
	if err := o.tmp.Close(); err != nil {
		return err
	}
	if err := os.Rename(o.tmp.Name(), o.path); err != nil {
		return fmt.Errorf("%s: %w", o.name, renameError(err))
	}
	return nil
}

// writeJSON writes sum as indented JSON to stdout when out is nil (--json
// -), else to out.
func writeJSON(out *jsonOutput, stdout io.Writer, sum *loadgen.Summary) error {
	b, err := json.MarshalIndent(sum, "", "  ")
	if err != nil {
		return err
	}
	b = append(b, '\n')
	if out == nil {
		_, err = stdout.Write(b)
		return err
	}
	if err := out.write(b); err != nil {
		return fmt.Errorf("--json: %w", err)
	}
	return nil
}

// isTerminal reports whether w is a character device (a terminal).
func isTerminal(w io.Writer) bool {
	f, ok := w.(*os.File)
	if !ok {
		return false
	}
	st, err := f.Stat()
	return err == nil && st.Mode()&os.ModeCharDevice != 0
}

// progressLine returns a loadgen progress callback that rewrites one line
// on w: flows done of total, failures, and the rate since its first call
// (when the flows start, after account registration).
func progressLine(w io.Writer, total int) func(completed, failed int) {
	var start time.Time
	return func(completed, failed int) {
		if start.IsZero() {
			start = time.Now()
		}
		rate := float64(completed) / max(time.Since(start).Seconds(), 1e-9)
		fmt.Fprintf(w, "\r\033[K%d/%d flows, %d failed, %.1f flows/s", completed+failed, total, failed, rate)
	}
}

// writeRuntimeMetrics writes every scalar runtime/metrics value of the
// process, one "name value" line each, to the file path: counted measures
// of the load tool's own work (goroutines created, heap allocations, GC
// cycles and CPU) for performance work (docs/performance.md), which vary
// far less with the machine's load than CPU time does.
func writeRuntimeMetrics(path string) error {
	descs := metrics.All()
	samples := make([]metrics.Sample, len(descs))
	for i, d := range descs {
		samples[i].Name = d.Name
	}
	metrics.Read(samples)
	var b strings.Builder
	for _, s := range samples {
		switch s.Value.Kind() {
		case metrics.KindUint64:
			fmt.Fprintf(&b, "%s %d\n", s.Name, s.Value.Uint64())
		case metrics.KindFloat64:
			fmt.Fprintf(&b, "%s %g\n", s.Name, s.Value.Float64())
		}
	}
	return os.WriteFile(path, []byte(b.String()), 0o644)
}
