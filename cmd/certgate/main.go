// Command certgate is an ACME gateway and certificate lifecycle manager:
// an RFC 8555 ACME server with a built-in CA, in one binary.
//
//	certgate serve            run the server on embedded defaults
//	certgate ca root          print the root CA certificate (PEM)
//	certgate ca export|import copy the CA to another node of a cluster
//	certgate backup|restore   copy a SQLite data directory while the server runs, and restore it
//	certgate bench acme       run complete issuance flows against a server
//	certgate cert suggest-renewal  move a certificate's ARI renewal window earlier
//	certgate version          print the version (also certgate --version)
package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"runtime/debug"
	"runtime/pprof"
	"runtime/trace"
	"strconv"
	"strings"
	"sync/atomic"
	"syscall"

	"github.com/certgate/certgate/internal/config"
	"github.com/certgate/certgate/internal/inventory"
	"github.com/certgate/certgate/internal/issuer"
	"github.com/certgate/certgate/internal/issuer/acmeupstream"
	"github.com/certgate/certgate/internal/issuer/cmpupstream"
	"github.com/certgate/certgate/internal/issuer/vaultpki"
	"github.com/certgate/certgate/internal/server"
	legolog "github.com/go-acme/lego/v5/log"
	"github.com/spf13/cobra"
	"github.com/spf13/pflag"
)

// version is set at build time with -ldflags "-X main.version=v1.2.3".
var version = ""

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	go func() {
		// After the first signal starts a graceful shutdown, restore the
		// default handling so that a second Ctrl-C ends the process at once.
		<-ctx.Done()
		stop()
	}()
	err := newRoot(os.Stdout, os.Stderr).ExecuteContext(ctx)
	stop()
	if err != nil {
		fmt.Fprintln(os.Stderr, "certgate:", oneLine(err.Error()))
		os.Exit(1)
	}
}

// oneLine joins the lines of an error's text (errors.Join's, or a
// library's multi-line message) with "; ", so that the CLI's error is one
// line that starts with "certgate: " however it was made.
func oneLine(msg string) string {
	var parts []string
	for _, l := range strings.Split(msg, "\n") {
		if l = strings.TrimSpace(l); l != "" {
			parts = append(parts, l)
		}
	}
	return strings.Join(parts, "; ")
}

func newRoot(stdout, stderr io.Writer) *cobra.Command {
	root := &cobra.Command{
		Use:           "certgate",
		Short:         "ACME gateway and certificate lifecycle manager",
		SilenceUsage:  true,
		SilenceErrors: true,
		// --version (and -v) print what `certgate version` prints, as
		// step-ca's and vault's do.
		Version: versionString(),
	}
	root.SetVersionTemplate("certgate {{.Version}}\n")
	root.SetOut(stdout)
	root.SetErr(stderr)
	root.AddCommand(newServe(stderr), newInit(), newVersion(), newCA(), newBench())
	root.AddCommand(newProfile(), newEAB(), newApproval())
	root.AddCommand(newCert(), newAccount(), newReport(), newScan())
	root.AddCommand(newToken(), newAudit())
	root.AddCommand(newRateLimit(), newNotify())
	root.AddCommand(newBackup(), newRestore(), newDB())
	root.InitDefaultCompletionCmd() // now, so that the walks below see it
	root.SetHelpCommand(newHelp())
	groupCommands(root)
	// A group's help shows "certgate account [command]" only, as before:
	// no usage line of its own although it now runs.
	root.SetUsageTemplate(strings.Replace(root.UsageTemplate(), "{{if .Runnable}}", "{{if and .Runnable (not .HasAvailableSubCommands)}}", 1))
	explainArgs(root)
	unknownRootCommand(root)
	strictHelp(root)
	strictVersion(root)
	plainErrors(root)
	root.SetFlagErrorFunc(flagError)
	shareConfigKeys(root)
	return root
}

// shareConfigKeys gives the "config" flag of every command under root the
// names of the flags that commands resolve (commandFlags;
// config.OtherKeysAnnotation), so that a
// configuration file holding a setting of one command (`format: json`
// for the administrative commands) is not refused by another (`serve`).
func shareConfigKeys(root *cobra.Command) {
	var names []string
	commandFlags(root).VisitAll(func(f *pflag.Flag) {
		if f.Name != "config" {
			names = append(names, f.Name)
		}
	})
	var walk func(c *cobra.Command)
	walk = func(c *cobra.Command) {
		if c.Flags().Lookup("config") != nil {
			_ = c.Flags().SetAnnotation("config", config.OtherKeysAnnotation, names)
		}
		for _, sub := range c.Commands() {
			walk(sub)
		}
	}
	walk(root)
}

// flagError is the error of a flag value that does not parse: pflag's
// "invalid argument" line without the strconv or time function that
// failed ("strconv.ParseInt: parsing \"abc\": invalid syntax"). The root's
// --version (-v) given to a command ("certgate --version serve", "certgate
// serve -v") is refused as taking no command, rather than as unknown.
func flagError(cmd *cobra.Command, err error) error {
	var iv *pflag.InvalidValueError
	if !errors.As(err, &iv) {
		if cmd.HasParent() && (err.Error() == "unknown flag: --version" || err.Error() == "unknown shorthand flag: 'v' in -v") {
			// "certgate --version serve" reaches serve's flags: the
			// version flag is the root's alone, with no argument.
			return fmt.Errorf("--version takes no arguments, received %q (usage: certgate --version)",
				strings.TrimPrefix(cmd.CommandPath(), cmd.Root().Name()+" "))
		}
		if name, ok := strings.CutPrefix(err.Error(), "unknown flag: --"); ok {
			// pflag's "unknown flag: --port" alone; name the flag meant,
			// as unknown commands, settings and variables are.
			name, _, _ = strings.Cut(name, "=")
			if s := config.SuggestFlag(cmd.Flags(), name); s != "" {
				return fmt.Errorf("unknown flag --%s; did you mean --%s? (see '%s --help')", name, s, cmd.CommandPath())
			}
			return fmt.Errorf("unknown flag --%s (see '%s --help')", name, cmd.CommandPath())
		}
		return err
	}
	name := "--" + iv.GetFlag().Name
	why := iv.Unwrap().Error()
	var ne *strconv.NumError
	switch {
	case errors.As(err, &ne) && ne.Func == "ParseBool":
		why = "use true or false"
	case errors.As(err, &ne) && errors.Is(ne.Err, strconv.ErrRange):
		why = "out of range"
	case errors.As(err, &ne) && strings.HasPrefix(ne.Func, "ParseFloat"):
		why = "not a number"
	case errors.As(err, &ne):
		why = "not a whole number"
	default:
		why = strings.TrimPrefix(why, "time: ")
	}
	return fmt.Errorf("invalid argument %q for %q flag: %s", iv.GetValue(), name, why)
}

// plainErrors wraps the RunE of c and of every command below it so that
// the errors of an invalid inventory request read as the request's fault
// only ("serial \"x\" is not hexadecimal"), as the admin API's 422 does,
// without the package's "inventory: invalid request: " prefix, on one line
// (every bad parameter's message, joined by "; "), and an
// unknown or already revoked certificate is named in the command's terms.
func plainErrors(c *cobra.Command) {
	if run := c.RunE; run != nil {
		c.RunE = func(cmd *cobra.Command, args []string) error {
			err := run(cmd, args)
			switch {
			case err == nil:
			case errors.Is(err, inventory.ErrInvalid):
				if ies := inventory.InvalidErrors(err); len(ies) > 0 {
					msgs := make([]string, len(ies))
					for i, ie := range ies {
						msgs[i] = flagPrefix(cmd, ie.Param) + ie.Msg
					}
					return errors.New(strings.Join(msgs, "; "))
				}
				if _, rest, ok := strings.Cut(err.Error(), inventory.ErrInvalid.Error()+": "); ok {
					return errors.New(rest)
				}
			case errors.Is(err, inventory.ErrNotFound):
				if _, ref, ok := strings.Cut(err.Error(), inventory.ErrNotFound.Error()+": "); ok {
					return fmt.Errorf("there is no certificate with serial or SHA-256 fingerprint %q (see 'certgate cert list')", ref)
				}
			case errors.Is(err, inventory.ErrAlreadyRevoked):
				if _, serial, ok := strings.Cut(err.Error(), inventory.ErrAlreadyRevoked.Error()+": "); ok {
					return fmt.Errorf("certificate %s is revoked already (see 'certgate cert show %s')", serial, serial)
				}
			}
			return err
		}
	}
	for _, sub := range c.Commands() {
		plainErrors(sub)
	}
}

// flagPrefix is "--FLAG: " for the flag of cmd that gave the inventory
// parameter param (expiring_within is --expiring-within), so that a
// refusal names the flag to fix, or "" when cmd has no such flag set (a
// serial given as argument: the message names it).
func flagPrefix(cmd *cobra.Command, param string) string {
	name := strings.ReplaceAll(param, "_", "-")
	if f := cmd.Flags().Lookup(name); f != nil && f.Changed {
		return "--" + name + ": "
	}
	return ""
}

// newHelp is `certgate help [COMMAND...]`: cobra's, except that an unknown
// topic is an error (one line, exit 1) rather than the usage on stdout
// with exit 0.
func newHelp() *cobra.Command {
	return &cobra.Command{
		Use:   "help [command]",
		Short: "Help about any command",
		RunE: func(c *cobra.Command, args []string) error {
			cmd, rest, err := c.Root().Find(args)
			if err != nil || len(rest) > 0 {
				return fmt.Errorf("unknown help topic %q (see 'certgate --help')", strings.Join(args, " "))
			}
			return cmd.Help()
		},
	}
}

// groupCommands makes every command below the root that only groups
// others (account, cert, ...) refuse to run: without a command it says
// which ones there are, and an unknown one is an error, where cobra would
// print the group's help and exit 0 in both cases.
func groupCommands(c *cobra.Command) {
	for _, sub := range c.Commands() {
		groupCommands(sub)
	}
	if !c.HasParent() || !c.HasSubCommands() || c.Runnable() {
		return
	}
	c.Args = cobra.ArbitraryArgs
	// As for the root (unknownRootCommand): "certgate cert lst --help" is
	// the unknown command "lst", not the group's help.
	c.Flags().SetInterspersed(false)
	c.RunE = func(cmd *cobra.Command, args []string) error {
		var names []string
		for _, sub := range cmd.Commands() {
			if sub.IsAvailableCommand() {
				names = append(names, sub.Name())
			}
		}
		path := strings.TrimPrefix(cmd.CommandPath(), cmd.Root().Name()+" ")
		if len(args) > 0 {
			return fmt.Errorf("%s: unknown command %q; use %s (see '%s --help')", path, args[0], strings.Join(names, ", "), cmd.CommandPath())
		}
		return fmt.Errorf("%s: give a command: %s (see '%s --help')", path, strings.Join(names, ", "), cmd.CommandPath())
	}
}

// unknownRootCommand makes an unknown command name ("certgate serv") one
// line naming the commands it may be a typo of, or else every command, as
// groupCommands does below the root; cobra's own error adds a "Did you
// mean this?" list on further lines. Without arguments the root still
// prints its help.
func unknownRootCommand(root *cobra.Command) {
	root.DisableSuggestions = true
	root.SuggestionsMinimumDistance = 2 // cobra's default, which SuggestionsFor does not apply itself
	root.Args = func(cmd *cobra.Command, args []string) error {
		if len(args) == 0 {
			return nil
		}
		if f := cmd.Flags().Lookup("version"); f != nil {
			if v, ok := f.Value.(*versionValue); ok && v.set {
				return fmt.Errorf("--version takes no arguments, received %q (usage: certgate --version)", args[0])
			}
		}
		for _, sub := range cmd.Commands() {
			if sub.Name() == args[0] || sub.HasAlias(args[0]) {
				// Only after "--" ("certgate -- serve"), which ends the
				// commands as well as the flags.
				return fmt.Errorf("%q after \"--\" is not read as a command: use '%s %s'", args[0], cmd.Name(), args[0])
			}
		}
		if near := cmd.SuggestionsFor(args[0]); len(near) > 0 {
			alt := near[len(near)-1]
			if len(near) > 1 {
				alt = strings.Join(near[:len(near)-1], ", ") + " or " + alt
			}
			return fmt.Errorf("unknown command %q; did you mean %s? (see '%s --help')", args[0], alt, cmd.Name())
		}
		var names []string
		for _, sub := range cmd.Commands() {
			if sub.IsAvailableCommand() {
				names = append(names, sub.Name())
			}
		}
		return fmt.Errorf("unknown command %q; use %s (see '%s --help')", args[0], strings.Join(names, ", "), cmd.Name())
	}
	root.RunE = func(cmd *cobra.Command, _ []string) error { return cmd.Help() }
	// The root takes no flag after a command name: "certgate serv --help"
	// is the unknown command "serv", not the root's --help (which cobra
	// would act on before the check above, printing the root's help and
	// succeeding as if nothing were mistyped).
	root.Flags().SetInterspersed(false)
}

// strictHelp gives c and every command below it a --help (-h) flag that
// cobra acts on only when the command's arguments are valid: "certgate
// --help extra" and "certgate cert list --help extra" printed the help
// and exited 0, hiding the stray argument. With a stray argument the flag
// reads as unset, so cobra goes on to the command's argument check, which
// refuses it in one line (explainArgs, unknownRootCommand, groupCommands)
// before anything runs. A command that takes arguments still prints its
// help for valid ones ("certgate cert show SERIAL --help").
func strictHelp(c *cobra.Command) {
	if c.Flags().Lookup("help") == nil {
		f := c.Flags().VarPF(&helpValue{cmd: c}, "help", "h", "help for "+c.Name())
		f.NoOptDefVal = "true"
		f.Annotations = map[string][]string{unresolvedAnnotation: {"true"}}
	}
	for _, sub := range c.Commands() {
		strictHelp(sub)
	}
}

// strictVersion gives root a --version (-v) flag that cobra acts on only
// when no argument follows: "certgate --version extra" printed the
// version and exited 0, hiding the stray argument; with one, root's
// argument check refuses it in one line (unknownRootCommand), as
// strictHelp does for "--help extra".
func strictVersion(root *cobra.Command) {
	f := root.Flags().VarPF(&versionValue{cmd: root}, "version", "v", "version for "+root.Name())
	f.NoOptDefVal = "true"
}

// versionValue is the value of strictVersion's --version flag of cmd: a
// bool that is true when given and no argument is left after the flags.
type versionValue struct {
	cmd *cobra.Command
	set bool
}

func (v *versionValue) Set(s string) error {
	b, err := strconv.ParseBool(s)
	if err != nil {
		return err
	}
	v.set = b
	return nil
}

func (v *versionValue) String() string {
	if !v.set || len(v.cmd.Flags().Args()) > 0 {
		return "false"
	}
	return "true"
}

func (v *versionValue) Type() string     { return "bool" }
func (v *versionValue) IsBoolFlag() bool { return true }

// helpValue is the value of strictHelp's --help flag of cmd: a bool that
// is true when given and the arguments left after the flags are none, or
// (for a command without subcommands) pass the command's argument check.
type helpValue struct {
	cmd *cobra.Command
	set bool
}

func (h *helpValue) Set(s string) error {
	v, err := strconv.ParseBool(s)
	if err != nil {
		return err
	}
	h.set = v
	return nil
}

func (h *helpValue) String() string {
	if !h.set {
		return "false"
	}
	if args := h.cmd.Flags().Args(); len(args) > 0 && (h.cmd.HasSubCommands() || h.cmd.ValidateArgs(args) != nil) {
		return "false"
	}
	return "true"
}

func (h *helpValue) Type() string     { return "bool" }
func (h *helpValue) IsBoolFlag() bool { return true }

// explainArgs wraps the argument check of c and of every command below
// it so that a wrong number of arguments names the command and its usage
// line: cobra's own message ("accepts 1 arg(s), received 0") says neither
// which command complained nor what the argument is.
func explainArgs(c *cobra.Command) {
	if check := c.Args; check != nil {
		c.Args = func(cmd *cobra.Command, args []string) error {
			if err := check(cmd, args); err != nil {
				path := strings.TrimPrefix(cmd.CommandPath(), cmd.Root().Name()+" ")
				if !cmd.HasSubCommands() && strings.HasPrefix(err.Error(), "unknown command ") {
					// cobra.NoArgs calls an extra argument of a command
					// without subcommands an "unknown command".
					err = fmt.Errorf("takes no arguments, received %q", args[0])
					if f := missingRequiredFlag(cmd); f != "" && len(args) == 1 {
						// "certgate restore bk": the argument is likely
						// the value of the one required flag not given.
						err = fmt.Errorf("%w; give it as --%s %s", err, f, args[0])
					}
				}
				return fmt.Errorf("%s: %w (usage: %s)", path, err, cmd.UseLine())
			}
			return nil
		}
	}
	for _, sub := range c.Commands() {
		explainArgs(sub)
	}
}

// missingRequiredFlag returns the name of cmd's one required flag that
// was not given, or "" when there is none or more than one.
func missingRequiredFlag(cmd *cobra.Command) string {
	var names []string
	cmd.Flags().VisitAll(func(f *pflag.Flag) {
		if req, ok := f.Annotations[cobra.BashCompOneRequiredFlag]; ok && len(req) > 0 && req[0] == "true" && !f.Changed {
			names = append(names, f.Name)
		}
	})
	if len(names) != 1 {
		return ""
	}
	return names[0]
}

func versionString() string {
	if version != "" {
		return version
	}
	if bi, ok := debug.ReadBuildInfo(); ok && bi.Main.Version != "" && bi.Main.Version != "(devel)" {
		return bi.Main.Version
	}
	return "dev"
}

func newVersion() *cobra.Command {
	return &cobra.Command{
		Use:   "version",
		Short: "Print the certgate version",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			fmt.Fprintln(cmd.OutOrStdout(), "certgate", versionString())
			return nil
		},
	}
}

// unresolvedAnnotation marks a flag that its command takes from the command
// line only, though resolveFlags fills it from CERTGATE_* or the file.
const unresolvedAnnotation = "certgate_unresolved"

// commandFlags returns a flag set holding the flags of every command under
// root (the first of each name), for serve's check of the CERTGATE_*
// variables: a variable naming a flag of an administrative command
// (CERTGATE_LIMIT for `cert list --limit`, CERTGATE_FORMAT,
// CERTGATE_COMMENT, ...; resolveFlags applies them) is no typo, though
// serve has no such setting.
//
// Flags annotated unresolvedAnnotation (the profile fields of `profile
// create|update`, which only the command line sets) are left out, and so
// are the flags of commands without a "config" flag (`bench acme`,
// `completion`), which do not resolve CERTGATE_* variables or the file.
func commandFlags(root *cobra.Command) *pflag.FlagSet {
	all := pflag.NewFlagSet("all", pflag.ContinueOnError)
	var walk func(c *cobra.Command)
	walk = func(c *cobra.Command) {
		// Only commands with --config resolve their flags (config.Resolve);
		// the others' (bench acme's --insecure, completion's
		// --no-descriptions) are read from the command line alone.
		for _, fs := range []*pflag.FlagSet{c.Flags(), c.PersistentFlags()} {
			if c.Flags().Lookup("config") == nil {
				break
			}
			fs.VisitAll(func(f *pflag.Flag) {
				if all.Lookup(f.Name) == nil && f.Annotations[unresolvedAnnotation] == nil {
					all.AddFlag(f)
				}
			})
		}
		for _, sub := range c.Commands() {
			walk(sub)
		}
	}
	walk(root)
	return all
}

func newServe(logOut io.Writer) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "serve",
		Short: "Run the ACME server (embedded SQLite and built-in CA unless configured otherwise)",
		Long: `Run the ACME server. With no configuration it creates ./certgate-data (SQLite
database and built-in CA) and serves https://localhost:8443/acme/directory.

Settings come from flags, then CERTGATE_* environment variables (e.g.
CERTGATE_VA_HTTP_PORT), then the YAML file named by --config (keys are the
flag names), then the defaults shown below.`,
		Args: cobra.NoArgs,
	}
	resolve := config.ServeFlags(cmd.Flags())
	cmd.RunE = func(cmd *cobra.Command, _ []string) error {
		cfg, err := resolve()
		if err != nil {
			return err
		}
		log := newLogger(logOut, cfg.LogLevel, cfg.LogFormat)
		if pct, ok := serveGCPercent(os.Getenv); ok {
			debug.SetGCPercent(pct)
		}
		for _, name := range config.UnknownEnv(commandFlags(cmd.Root()), os.Environ()) {
			if s := config.SuggestEnv(cmd.Flags(), name); s != "" {
				log.Warn("ignoring environment variable that names no setting", "variable", name, "did_you_mean", s)
				continue
			}
			log.Warn("ignoring environment variable that names no setting", "variable", name)
		}
		stop, err := startCPUProfile(os.Getenv)
		if err != nil {
			return err
		}
		defer stop()
		stopTrace, err := startTrace(os.Getenv)
		if err != nil {
			return err
		}
		defer stopTrace()
		if path := os.Getenv("CERTGATE_MEMPROFILE"); path != "" {
			// For performance work (docs/performance.md): every allocation
			// sampled over the whole run (pprof's "allocs" profile, which
			// also holds the heap in use at the last GC), written when the
			// server stops.
			f, err := os.Create(path)
			if err != nil {
				return fmt.Errorf("CERTGATE_MEMPROFILE: %w", err)
			}
			defer func() {
				if err := pprof.Lookup("allocs").WriteTo(f, 0); err != nil {
					log.Error("CERTGATE_MEMPROFILE", "err", err)
				}
				f.Close()
			}()
		}
		// From here SIGHUP no longer ends the process; once the server
		// runs, it reloads tls-cert and tls-key.
		var serving atomic.Pointer[server.Server]
		stopHangup := onHangup(func() {
			if srv := serving.Load(); srv != nil && cfg.TLSCert != "" {
				log.Info("received SIGHUP: reloading tls-cert and tls-key; other settings are read at start only")
				_ = srv.ReloadTLS() // logged by the server
				return
			}
			log.Warn("received SIGHUP: certgate does not reload its settings and goes on serving; restart it (SIGTERM stops it gracefully) to apply a changed configuration (only tls-cert and tls-key, when set, are reloaded on SIGHUP)")
		})
		defer stopHangup()
		if cfg.Perspectives.Roles == config.RoleVA {
			return server.ServePerspective(cmd.Context(), cfg, log)
		}
		issuers, err := loadIssuers(cfg, log)
		if err != nil {
			return err
		}
		srv, err := server.New(cmd.Context(), cfg, server.Options{Issuers: issuers}, log)
		if err != nil {
			return err
		}
		serving.Store(srv)
		if err := srv.Serve(cmd.Context()); err != nil {
			return err
		}
		log.Info("stopped")
		return nil
	}
	return cmd
}

// onHangup makes SIGHUP, which ends a Go program at once (no drain, no
// log line), a call of hangup while the server goes on: step-ca and Vault
// reload on SIGHUP, and `systemctl reload` or a habit sends it. certgate
// reloads tls-cert and tls-key on it and reads its other settings at
// start only. The returned function restores the default handling.
func onHangup(hangup func()) (stop func()) {
	hup := make(chan os.Signal, 1)
	signal.Notify(hup, syscall.SIGHUP)
	done := make(chan struct{})
	go func() {
		for {
			select {
			case <-hup:
				hangup()
			case <-done:
				return
			}
		}
	}()
	return func() {
		signal.Stop(hup)
		close(done)
	}
}

// defaultGCPercent is the garbage collector's GOGC for `certgate serve`
// when the GOGC environment variable is not set: the heap may grow to three
// times what is live after a collection instead of Go's default two. The
// server's live heap is small and stable (~12 MB), so this halves the
// collections (mark CPU ~0.3 -> ~0.12 ms per ACME flow) for ~13 MiB more
// RSS (90 -> 103 MiB after ~4,500 flows); server CPU per flow 0.94–1.005
// of GOGC=100 in side-by-side runs (docs/performance.md, "Third pass
// (session 3): allocations and GC").
const defaultGCPercent = 200

// serveGCPercent is the GOGC that `certgate serve` sets at start:
// defaultGCPercent, unless the GOGC environment variable (read through
// getenv) is set, which the Go runtime has applied already (ok false).
func serveGCPercent(getenv func(string) string) (pct int, ok bool) {
	return gcPercentUnlessSet(getenv, defaultGCPercent)
}

// gcPercentUnlessSet returns def and true unless the GOGC environment
// variable (read through getenv) is set, which the Go runtime has applied
// already (ok false).
func gcPercentUnlessSet(getenv func(string) string, def int) (pct int, ok bool) {
	if getenv("GOGC") != "" {
		return 0, false
	}
	return def, true
}

// startTrace writes a Go execution trace (runtime/trace) of the whole run
// into the file named by CERTGATE_TRACE, for latency work: where request
// goroutines wait for a core, for the SQLite writer or for the network
// (`go tool trace -pprof=sched|sync|net FILE`, docs/performance.md). It
// returns the function that stops it; with the variable unset it does
// nothing. Errors: the file cannot be created or a trace is already
// running.
func startTrace(getenv func(string) string) (stop func(), err error) {
	path := getenv("CERTGATE_TRACE")
	if path == "" {
		return func() {}, nil
	}
	f, err := os.Create(path)
	if err != nil {
		return nil, fmt.Errorf("CERTGATE_TRACE: %w", err)
	}
	if err := trace.Start(f); err != nil {
		f.Close()
		return nil, fmt.Errorf("CERTGATE_TRACE: %w", err)
	}
	return func() {
		trace.Stop()
		f.Close()
	}, nil
}

func newLogger(w io.Writer, level, format string) *slog.Logger {
	var lv slog.Level
	_ = lv.UnmarshalText([]byte(level))
	opts := &slog.HandlerOptions{Level: lv}
	if format == "json" {
		return slog.New(slog.NewJSONHandler(w, opts))
	}
	return slog.New(slog.NewTextHandler(w, opts))
}

// startCPUProfile starts a CPU profile of the whole run into the file named
// by CERTGATE_CPUPROFILE (for performance work, docs/performance.md; serve
// and bench acme) and returns the function that stops it. With the variable
// unset it does nothing. Errors: the file cannot be created or a profile is
// already running.
func startCPUProfile(getenv func(string) string) (stop func(), err error) {
	path := getenv("CERTGATE_CPUPROFILE")
	if path == "" {
		return func() {}, nil
	}
	f, err := os.Create(path)
	if err != nil {
		return nil, fmt.Errorf("CERTGATE_CPUPROFILE: %w", err)
	}
	if err := pprof.StartCPUProfile(f); err != nil {
		f.Close()
		return nil, fmt.Errorf("CERTGATE_CPUPROFILE: %w", err)
	}
	return func() {
		pprof.StopCPUProfile()
		f.Close()
	}, nil
}

// issuerConnectors are the issuer connectors this binary registers: the
// types an entry of the issuers file may have (docs/issuers.md).
func issuerConnectors() []issuer.Connector {
	return []issuer.Connector{acmeupstream.Connector(), cmpupstream.Connector(), vaultpki.Connector()}
}

// loadIssuers builds the issuers of cfg's issuers-file (none when unset)
// with issuerConnectors; their state lives in the data directory.
func loadIssuers(cfg *config.Serve, log *slog.Logger) ([]issuer.Issuer, error) {
	iss, err := issuer.Load(cfg.IssuersFile, issuer.Env{Data: cfg.Data, Log: log.With("component", "issuer")}, issuerConnectors()...)
	if err != nil {
		return nil, fmt.Errorf("issuers-file: %w", err)
	}
	if len(iss) > 0 {
		// lego logs through a logger of its own (text on stdout by
		// default): into the server's log, in its format, instead.
		legolog.SetDefault(log.With("component", "lego"))
	}
	return iss, nil
}
