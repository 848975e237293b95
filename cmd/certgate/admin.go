package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"syscall"

	"github.com/certgate/certgate/internal/config"
	"github.com/certgate/certgate/internal/display"
	"github.com/certgate/certgate/internal/server"
	"github.com/certgate/certgate/internal/store"
	"github.com/spf13/cobra"
	"github.com/spf13/pflag"
)

// storeOpts locates the database an administrative command works on: the
// same --data, --db and --config settings as `certgate serve`, resolved the
// same way (flag, then CERTGATE_* environment, then the YAML file).
type storeOpts struct {
	data string
	db   string
}

// storeFlags adds --data, --db and --config to an administrative command,
// and makes it resolve its flags (resolveFlags) before its RunE runs, so
// that the command's own checks of its flags (a rejection's --comment,
// --action, --limit, --expires...) see a value given by a CERTGATE_*
// variable or the configuration file as they see one given on the
// command line. Such commands work beside a running server: they do not
// take the data directory's lock, and SQLite's WAL mode lets both write.
func storeFlags(cmd *cobra.Command, o *storeOpts) {
	cmd.Flags().StringVar(&o.data, "data", "./certgate-data", "data directory of the server")
	cmd.Flags().StringVar(&o.db, "db", "", "PostgreSQL URL of the server's database (default: SQLite in the data directory)")
	cmd.Flags().String("config", "", "YAML configuration file")
	cmd.PreRunE = func(cmd *cobra.Command, _ []string) error { return resolveFlags(cmd) }
}

// resolveFlags fills the flags of cmd not given on the command line from
// their CERTGATE_* variables, else from the configuration file
// (config.Resolve), counts a required flag (cobra's MarkFlagRequired)
// filled so as given — cobra checks required flags after PreRunE by
// whether they were set on the command line — and refuses, with one line,
// an argument or flag value that is not text both database engines store
// alike (checkText). storeFlags runs it as the command's PreRunE: before
// cobra's required-flag check and before RunE's own checks of the flags.
func resolveFlags(cmd *cobra.Command) error {
	fs := cmd.Flags()
	if err := config.Resolve(fs); err != nil {
		return err
	}
	fs.VisitAll(func(f *pflag.Flag) {
		if req := f.Annotations[cobra.BashCompOneRequiredFlag]; len(req) > 0 && req[0] == "true" && !f.Changed && f.Value.String() != f.DefValue {
			f.Changed = true
		}
	})
	return checkText(cmd)
}

// openStore opens the server's database named by the flags of cmd (see
// storeFlags; resolved by its PreRunE), applying pending migrations. The
// caller closes it.
//
// A SQLite database that does not exist is an error, not a new empty
// database: a mistyped --data, or a command run from another directory than
// the server's, would otherwise answer from (or write to) a database no
// server reads. `certgate serve` creates the database on its first run.
// Likewise a PostgreSQL database without certgate's schema is refused
// (store.OpenExisting), not given an empty one.
func openStore(ctx context.Context, _ *cobra.Command, o *storeOpts) (*store.Store, error) {
	dsn := server.DSN(o.data, o.db)
	if store.IsConninfo(dsn) {
		return nil, store.ErrConninfo // the string is not repeated: it may hold a password
	}
	if !store.IsPostgresDSN(dsn) {
		// ENOTDIR: a file on the way, such as --data naming the database
		// file itself (certgate-data/certgate.db), which would otherwise
		// fail as "create database directory: mkdir ...: not a directory".
		if _, err := os.Stat(dsn); errors.Is(err, fs.ErrNotExist) || errors.Is(err, syscall.ENOTDIR) {
			hint := "start `certgate serve --data DIR` once, or pass the server's --data/--db"
			if fi, err := os.Stat(o.data); o.db == "" && err == nil && !fi.IsDir() {
				hint = fmt.Sprintf("--data %s is a file, not a directory: pass the server's data directory (the one that holds %s) as --data, or --db",
					o.data, filepath.Base(dsn))
			}
			return nil, fmt.Errorf("no certgate database at %s: %s", dsn, hint)
		}
	}
	st, err := store.OpenExisting(ctx, dsn)
	if errors.Is(err, store.ErrNoSchema) {
		if !store.IsPostgresDSN(dsn) {
			return nil, fmt.Errorf("%w: pass the server's --data/--db", err)
		}
		return nil, fmt.Errorf("%w: start `certgate serve --db URL` on it once, or pass the server's --db", err)
	}
	if err != nil {
		return nil, fmt.Errorf("open database: %w", err)
	}
	return st, nil
}

// argsArePaths is the annotation of a command whose positional arguments
// are file names (`cert import FILE...`), which checkText leaves alone: a
// file name need not be UTF-8.
const argsArePaths = "certgate-args-are-paths"

// checkText refuses, with one line naming it, a positional argument or a
// flag value of cmd that is not valid UTF-8 or holds a NUL character
// (store.PlainText, the check the admin API applies to its input):
// PostgreSQL refuses such a text parameter, so the command would fail
// with a database error after doing part of its work, where SQLite would
// store it. File names (argsArePaths, --data, --config, --file, --out,
// --from) and the
// database URL (--db) are not text for the database and are not checked.
// Every flag's value is checked, not only those set on the command line:
// config.Resolve fills the others from CERTGATE_* variables and the
// configuration file without marking them set.
func checkText(cmd *cobra.Command) error {
	if cmd.Annotations[argsArePaths] == "" {
		for _, a := range cmd.Flags().Args() {
			if !store.PlainText(a) {
				return fmt.Errorf("argument %q: text must be UTF-8 without NUL characters", a)
			}
		}
	}
	var err error
	cmd.Flags().VisitAll(func(f *pflag.Flag) {
		switch f.Name {
		case "data", "db", "config", "file", "out", "from": // paths (out, from: certgate backup, restore)
			return
		}
		vals := []string{f.Value.String()}
		if sv, ok := f.Value.(pflag.SliceValue); ok {
			vals = sv.GetSlice()
		}
		for _, v := range vals {
			if err == nil && !store.PlainText(v) {
				err = fmt.Errorf("--%s %q: text must be UTF-8 without NUL characters", f.Name, v)
			}
		}
	})
	return err
}

// outputFormat is the --format flag of listing commands: "table" (aligned
// columns for people), "json" (for scripts) or "csv".
type outputFormat string

// formatFlag adds --format with the given allowed values; the first is the
// default. Another value, one a command does not offer included (csv where
// it prints table and json only), is refused when the flag is parsed.
func formatFlag(cmd *cobra.Command, f *outputFormat, allowed ...string) {
	*f = outputFormat(allowed[0])
	cmd.Flags().Var(&formatValue{f: f, allowed: allowed}, "format", "output format: "+strings.Join(allowed, "|"))
	cmd.Flags().Lookup("format").NoOptDefVal = ""
}

// formatValue is the pflag.Value of --format: one of allowed.
type formatValue struct {
	f       *outputFormat
	allowed []string
}

func (v *formatValue) String() string { return string(*v.f) }
func (v *formatValue) Type() string   { return "format" }
func (v *formatValue) Set(s string) error {
	if slices.Contains(v.allowed, s) {
		*v.f = outputFormat(s)
		return nil
	}
	list := strings.Join(v.allowed[:len(v.allowed)-1], ", ") + " or " + v.allowed[len(v.allowed)-1]
	return fmt.Errorf("must be %s, not %q", list, s)
}

// writeTable prints rows under header (none when nil) as columns aligned
// by their display width (display.Width: a CJK character takes two
// cells), two spaces apart, every cell escaped (display.Escape).
func writeTable(w io.Writer, header []string, rows [][]string) error {
	lines := make([][]string, 0, len(rows)+1)
	if header != nil {
		lines = append(lines, header)
	}
	for _, r := range rows {
		cells := make([]string, len(r))
		for i, c := range r {
			cells[i] = display.Escape(c)
		}
		lines = append(lines, cells)
	}
	var widths []int
	for _, l := range lines {
		for i, c := range l {
			if i == len(widths) {
				widths = append(widths, 0)
			}
			widths[i] = max(widths[i], display.Width(c))
		}
	}
	var b strings.Builder
	for _, l := range lines {
		for i, c := range l {
			b.WriteString(c)
			if i < len(l)-1 {
				b.WriteString(strings.Repeat(" ", widths[i]-display.Width(c)+2))
			}
		}
		b.WriteByte('\n')
	}
	_, err := io.WriteString(w, b.String())
	return err
}

// writeRows prints rows as an aligned table (writeTable) or, for format
// csv, as CSV (writeCSV) whose header line is header in lower case with
// spaces as underscores (e.g. "NOT AFTER" → not_after).
func writeRows(w io.Writer, format outputFormat, header []string, rows [][]string) error {
	if format != "csv" {
		return writeTable(w, header, rows)
	}
	return writeCSV(w, header, rows)
}

// printJSON prints v as indented JSON.
func printJSON(w io.Writer, v any) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(v)
}
