package config

import (
	"bytes"
	"crypto/x509"
	"fmt"
	"os"
	"strings"
	"time"

	"github.com/spf13/pflag"

	"github.com/certgate/certgate/internal/notify"
)

// Notify holds the expiry notification settings (internal/notify,
// docs/notifications.md).
type Notify struct {
	Rules       []notify.Rule // notify-rules; none: nothing is sent
	Interval    time.Duration // notify-interval: how often certificates are scanned
	MaxAttempts int           // notify-max-attempts
	RetryDelay  time.Duration // notify-retry-delay: the first back-off, doubled after each failure
	// SMTP (the email channel); SMTPServer "" configures none.
	SMTPServer, SMTPFrom, SMTPUsername string
	// SMTPPassword comes from CERTGATE_NOTIFY_SMTP_PASSWORD, the
	// configuration file or notify-smtp-password-file, never from the
	// command line (visible to every user of the machine).
	SMTPPassword   string
	SMTPCAFile     string        // PEM roots that verify the server after STARTTLS; "" the system's
	SMTPRequireTLS bool          // notify-smtp-starttls=require
	SMTPTimeout    time.Duration // one delivery
	// Webhook; WebhookSecret "" configures none. The secret comes from
	// the environment, the configuration file or a file, as SMTPPassword.
	WebhookURL     string        // the URL of webhook rules without a to= URL
	WebhookSecret  string        // the HMAC-SHA256 key of the signature
	WebhookTimeout time.Duration // one POST
	// SMTPPasswordFile and WebhookSecretFile are the files the secrets
	// were read from (notify-smtp-password-file,
	// notify-webhook-secret-file); "" for none. serve checks their
	// permissions at start.
	SMTPPasswordFile, WebhookSecretFile string
}

// secretSettings are the settings holding secrets: refused on the
// command line, each with a -file twin.
var secretSettings = []string{"notify-smtp-password", "notify-webhook-secret"}

// NotifyFlags registers the notify-* settings on fs (they are among the
// serve settings too) for a command that sends notifications outside the
// server (`certgate notify test`), and returns a function that resolves
// and checks them after fs.Parse (config.Resolve: flag, CERTGATE_*
// variable, configuration file).
func NotifyFlags(fs *pflag.FlagSet) func() (*Notify, error) {
	n := &Notify{}
	check := notifyFlags(fs, n)
	return func() (*Notify, error) {
		if err := Resolve(fs); err != nil {
			return nil, err
		}
		if err := check(); err != nil {
			return nil, err
		}
		return n, nil
	}
}

func notifyFlags(fs *pflag.FlagSet, n *Notify) func() error {
	var specs []string
	var starttls string
	fs.Var(&ruleSpecs{specs: &specs}, "notify-rules", "expiry notification rules, each as space-separated key=value fields (name, channel, to, fallback, days, profile, issuer, source, attribute), "+
		"e.g. \"name=owners to=attribute:owner fallback=pki@example.com days=30,14,7,1\"; several separated by ';' (a YAML list in the config file). Empty sends no notifications (docs/notifications.md)")
	fs.Var(newDuration(&n.Interval, time.Hour), "notify-interval", "how often the certificates are scanned for expiry thresholds crossed")
	fs.IntVar(&n.MaxAttempts, "notify-max-attempts", 5, "attempts to deliver a notification before it is given up (status failed)")
	fs.Var(newDuration(&n.RetryDelay, 5*time.Minute), "notify-retry-delay", "wait after a failed delivery attempt, doubled after each further one (at most 24h)")
	fs.StringVar(&n.SMTPServer, "notify-smtp-server", "", "SMTP submission server of the email channel, HOST:PORT (e.g. smtp.example.com:587); STARTTLS is used whenever the server offers it")
	fs.StringVar(&n.SMTPFrom, "notify-smtp-from", "", "sender address of notification emails")
	fs.StringVar(&n.SMTPUsername, "notify-smtp-username", "", "SMTP AUTH PLAIN user name; empty: no authentication")
	fs.StringVar(&n.SMTPPassword, "notify-smtp-password", "", "SMTP password: from CERTGATE_NOTIFY_SMTP_PASSWORD or the config file only (refused on the command line), or use notify-smtp-password-file")
	fs.StringVar(&n.SMTPPasswordFile, "notify-smtp-password-file", "", "file holding the SMTP password")
	fs.StringVar(&n.SMTPCAFile, "notify-smtp-ca-file", "", "PEM file of the CA certificates that verify the SMTP server after STARTTLS; empty: the system's roots")
	fs.StringVar(&starttls, "notify-smtp-starttls", "auto", "auto (STARTTLS when the server offers it) or require (refuse a server without it)")
	fs.Var(newDuration(&n.SMTPTimeout, 30*time.Second), "notify-smtp-timeout", "how long one email delivery may take")
	fs.StringVar(&n.WebhookURL, "notify-webhook-url", "", "URL that receives the notifications of webhook rules without a to= URL (a JSON POST signed in X-Certgate-Signature)")
	fs.StringVar(&n.WebhookSecret, "notify-webhook-secret", "", "HMAC-SHA256 key of the webhook signature (at least 16 bytes): from CERTGATE_NOTIFY_WEBHOOK_SECRET or the config file only, or use notify-webhook-secret-file")
	fs.StringVar(&n.WebhookSecretFile, "notify-webhook-secret-file", "", "file holding the webhook signature key")
	fs.Var(newDuration(&n.WebhookTimeout, 10*time.Second), "notify-webhook-timeout", "how long one webhook POST may take; an answer other than 2xx, or none in time, is a failure")
	markSecret(fs, secretSettings...)
	return func() error {
		for _, name := range secretSettings {
			if f := fs.Lookup(name); f != nil && f.Changed {
				return fmt.Errorf("%s: not accepted on the command line (every user of the machine can read it): set %s, the config file's %s, or %s-file",
					name, EnvName(name), name, name)
			}
		}
		var err error
		if n.SMTPPassword, err = secretOf("notify-smtp-password", n.SMTPPassword, n.SMTPPasswordFile); err != nil {
			return err
		}
		if n.WebhookSecret, err = secretOf("notify-webhook-secret", n.WebhookSecret, n.WebhookSecretFile); err != nil {
			return err
		}
		// The key is the secret without surrounding white space, wherever
		// it comes from (docs/notifications.md): an environment variable
		// set from a file or a YAML block scalar ends in a line feed.
		n.WebhookSecret = strings.TrimSpace(n.WebhookSecret)
		if n.WebhookSecretFile != "" && len(n.WebhookSecret) < notify.MinSecretBytes {
			// Name the file: notify.NewWebhook's message names the setting.
			return fmt.Errorf("notify-webhook-secret-file %s: %d bytes; at least %d are needed (e.g. openssl rand -hex 32 > %s)",
				n.WebhookSecretFile, len(n.WebhookSecret), notify.MinSecretBytes, n.WebhookSecretFile)
		}
		if n.Rules, err = notify.ParseRules(specs); err != nil {
			return fmt.Errorf("notify-rules: %w", err)
		}
		switch starttls {
		case "auto":
		case "require":
			n.SMTPRequireTLS = true
		default:
			return fmt.Errorf("notify-smtp-starttls: %q is not auto or require", starttls)
		}
		if n.Interval < time.Minute {
			return fmt.Errorf("notify-interval: must be at least 1m")
		}
		if n.MaxAttempts < 1 {
			return fmt.Errorf("notify-max-attempts: must be at least 1")
		}
		for _, d := range []struct {
			name string
			v    time.Duration
		}{{"notify-retry-delay", n.RetryDelay}, {"notify-smtp-timeout", n.SMTPTimeout}, {"notify-webhook-timeout", n.WebhookTimeout}} {
			if d.v <= 0 {
				return fmt.Errorf("%s: must be positive", d.name)
			}
		}
		_, err = n.Channels()
		return err
	}
}

// secretOf returns the secret of setting name: value (environment or
// configuration file) or the contents of file (trimmed), not both.
func secretOf(name, value, file string) (string, error) {
	if file == "" {
		return value, nil
	}
	if value != "" {
		return "", fmt.Errorf("%s and %s-file are both set: use one", name, name)
	}
	b, err := os.ReadFile(file)
	if err != nil {
		return "", fmt.Errorf("%s-file: %w", name, err)
	}
	return string(bytes.TrimSpace(b)), nil
}

// Channels returns the notification channels n configures, by name
// (notify.ChannelEmail, notify.ChannelWebhook), and checks that every rule's
// channel is among them. Errors name the setting.
func (n *Notify) Channels() (map[string]notify.Channel, error) {
	out := map[string]notify.Channel{}
	if given := n.smtpWithoutServer(); len(given) > 0 {
		// Blame the setting that is missing, not the one given ("":
		// not host:port).
		return nil, fmt.Errorf("notify-smtp-server: not set, but %s %s: set notify-smtp-server to send email, or remove %s",
			strings.Join(given, ", "), plural(len(given), "is", "are"), plural(len(given), "it", "them"))
	}
	if n.SMTPServer != "" {
		cfg := notify.SMTPConfig{Server: n.SMTPServer, From: n.SMTPFrom, Username: n.SMTPUsername, Password: n.SMTPPassword,
			RequireTLS: n.SMTPRequireTLS, Timeout: n.SMTPTimeout}
		if n.SMTPCAFile != "" {
			pem, err := os.ReadFile(n.SMTPCAFile)
			if err != nil {
				return nil, fmt.Errorf("notify-smtp-ca-file: %w", err)
			}
			cfg.RootCAs = x509.NewCertPool()
			if !cfg.RootCAs.AppendCertsFromPEM(pem) {
				return nil, fmt.Errorf("notify-smtp-ca-file %s: no PEM certificate in it", n.SMTPCAFile)
			}
		}
		if n.SMTPPassword != "" && n.SMTPUsername == "" {
			return nil, fmt.Errorf("notify-smtp-password: set notify-smtp-username too")
		}
		c, err := notify.NewSMTP(cfg)
		if err != nil {
			return nil, err
		}
		out[notify.ChannelEmail] = c
	}
	if n.WebhookSecret != "" || n.WebhookURL != "" {
		c, err := notify.NewWebhook(notify.WebhookConfig{URL: n.WebhookURL, Secret: []byte(n.WebhookSecret), Timeout: n.WebhookTimeout})
		if err != nil {
			return nil, err
		}
		out[notify.ChannelWebhook] = c
	}
	if err := notify.CheckRules(n.Rules, out); err != nil {
		return nil, fmt.Errorf("notify-rules: %w", err)
	}
	return out, nil
}

// smtpWithoutServer names the notify-smtp-* settings of the email channel
// that are set while notify-smtp-server is not (none when it is set):
// without a server they configure nothing.
func (n *Notify) smtpWithoutServer() []string {
	if n.SMTPServer != "" {
		return nil
	}
	var given []string
	for _, s := range []struct {
		name string
		set  bool
	}{
		{"notify-smtp-from", n.SMTPFrom != ""},
		{"notify-smtp-username", n.SMTPUsername != ""},
		{"notify-smtp-password", n.SMTPPassword != "" && n.SMTPPasswordFile == ""},
		{"notify-smtp-password-file", n.SMTPPasswordFile != ""},
		{"notify-smtp-starttls", n.SMTPRequireTLS},
		{"notify-smtp-ca-file", n.SMTPCAFile != ""},
	} {
		if s.set {
			given = append(given, s.name)
		}
	}
	return given
}

// ruleSpecs is the value of notify-rules: rules separated by ';' or
// line breaks in a flag or variable, or a YAML list (pflag.SliceValue).
// The first Set replaces the default (none); further --notify-rules flags
// add to it.
type ruleSpecs struct {
	specs *[]string
	set   bool
}

func (r *ruleSpecs) Set(s string) error {
	if !r.set {
		*r.specs, r.set = nil, true
	}
	for _, p := range strings.FieldsFunc(s, func(c rune) bool { return c == ';' || c == '\n' }) {
		if p = strings.TrimSpace(p); p != "" {
			*r.specs = append(*r.specs, p)
		}
	}
	return nil
}

func (r *ruleSpecs) Type() string   { return "rules" }
func (r *ruleSpecs) String() string { return strings.Join(*r.specs, "; ") }

// Append adds one rule (pflag.SliceValue).
func (r *ruleSpecs) Append(s string) error {
	*r.specs = append(*r.specs, s)
	return nil
}

// Replace sets the rules to ss, one each (pflag.SliceValue; a YAML list).
func (r *ruleSpecs) Replace(ss []string) error {
	*r.specs, r.set = nil, true
	for _, s := range ss {
		if err := r.Set(s); err != nil {
			return err
		}
	}
	return nil
}

// GetSlice returns the rules (pflag.SliceValue).
func (r *ruleSpecs) GetSlice() []string { return *r.specs }
