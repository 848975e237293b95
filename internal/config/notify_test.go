package config

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/spf13/pflag"
)

// serveWith resolves the serve settings of args (and the environment).
func serveWith(t *testing.T, args ...string) (*Serve, error) {
	t.Helper()
	fs := pflag.NewFlagSet("serve", pflag.ContinueOnError)
	resolve := ServeFlags(fs)
	if err := fs.Parse(args); err != nil {
		t.Fatal(err)
	}
	return resolve()
}

// TestNotifySettings: rules come from a YAML list in the config file or
// from CERTGATE_NOTIFY_RULES separated by ';'; the SMTP password and the
// webhook secret come from the environment, the file or a -file setting,
// and are refused on the command line (naming the other ways, not the
// value); a rule over an unconfigured channel is refused naming the
// settings.
func TestNotifySettings(t *testing.T) {
	dir := t.TempDir()
	file := filepath.Join(dir, "c.yaml")
	if err := os.WriteFile(file, []byte(`notify-rules:
  - name=owners to=attribute:owner fallback=pki@example.com days=30,7
  - name=hook channel=webhook to=https://hooks.example.com/x
notify-smtp-server: 127.0.0.1:2525
notify-smtp-from: certgate@example.com
notify-smtp-username: certgate
notify-smtp-password: from-the-file
notify-webhook-secret: 0123456789abcdef0123
`), 0o600); err != nil {
		t.Fatal(err)
	}
	s, err := serveWith(t, "--config", file)
	if err != nil {
		t.Fatal(err)
	}
	n := s.Notify
	if len(n.Rules) != 2 || n.Rules[0].Name != "owners" || n.Rules[0].Attribute() != "owner" || n.Rules[1].Channel != "webhook" ||
		n.SMTPPassword != "from-the-file" || n.WebhookSecret != "0123456789abcdef0123" {
		t.Fatalf("notify settings from the file: %+v", n)
	}
	if ch, err := n.Channels(); err != nil || len(ch) != 2 {
		t.Errorf("channels: %v %v, want email and webhook", ch, err)
	}

	t.Setenv("CERTGATE_NOTIFY_RULES", "to=a@example.com; to=b@example.com days=1")
	t.Setenv("CERTGATE_NOTIFY_SMTP_PASSWORD", "from-the-environment")
	if s, err = serveWith(t, "--config", file); err != nil {
		t.Fatal(err)
	}
	if n := s.Notify; len(n.Rules) != 2 || n.Rules[1].To != "b@example.com" || n.Rules[1].Thresholds[0] != 1 || n.SMTPPassword != "from-the-environment" {
		t.Errorf("notify settings from the environment: %+v", n)
	}

	pw := filepath.Join(dir, "pw")
	if err := os.WriteFile(pw, []byte("from-a-file\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	t.Setenv("CERTGATE_NOTIFY_SMTP_PASSWORD", "")
	if s, err = serveWith(t, "--notify-smtp-server", "127.0.0.1:25", "--notify-smtp-from", "c@example.com", "--notify-smtp-username", "u",
		"--notify-smtp-password-file", pw, "--notify-rules", "to=ops@example.com"); err != nil {
		t.Fatal(err)
	}
	if s.Notify.SMTPPassword != "from-a-file" {
		t.Errorf("password from the -file: %q", s.Notify.SMTPPassword)
	}

	_, err = serveWith(t, "--notify-smtp-password", "on-the-command-line")
	if err == nil || !strings.Contains(err.Error(), "CERTGATE_NOTIFY_SMTP_PASSWORD") || strings.Contains(err.Error(), "on-the-command-line") {
		t.Errorf("password on the command line: %v, want refused naming the variable, not the value", err)
	}
	_, err = serveWith(t, "--notify-webhook-secret", "0123456789abcdef-secret")
	if err == nil || !strings.Contains(err.Error(), "notify-webhook-secret-file") || strings.Contains(err.Error(), "abcdef-secret") {
		t.Errorf("webhook secret on the command line: %v, want refused", err)
	}
	// A secret file too short is named, with the way to make a good one
	// (the message named notify-webhook-secret, which was not set).
	short := filepath.Join(dir, "short.secret")
	if err := os.WriteFile(short, []byte("short\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	_, err = serveWith(t, "--notify-webhook-secret-file", short)
	if want := "notify-webhook-secret-file " + short + ": 5 bytes; at least 16 are needed (e.g. openssl rand -hex 32 > " + short + ")"; err == nil || err.Error() != want {
		t.Errorf("short webhook secret file: %v, want %q", err, want)
	}
	t.Setenv("CERTGATE_NOTIFY_RULES", "")
	_, err = serveWith(t, "--notify-rules", "channel=webhook to=https://h.example.com/")
	if err == nil || !strings.Contains(err.Error(), "notify-webhook-secret") {
		t.Errorf("webhook rule without a webhook channel: %v, want refused naming notify-webhook-secret", err)
	}
	_, err = serveWith(t, "--notify-rules", "to=ops@example.com days=0")
	if err == nil || !strings.Contains(err.Error(), "notify-rules: rule 1: days=0") {
		t.Errorf("rule with days=0: %v, want refused naming the rule", err)
	}
}

// TestNotifySMTPSettingsWithoutServer: a notify-smtp-* setting given
// without notify-smtp-server is refused in one line naming the settings
// given and the one missing; notify-smtp-from alone was refused as
// `notify-smtp-server: "" is not host:port`, blaming a setting not given,
// and the others alone were ignored without a word.
func TestNotifySMTPSettingsWithoutServer(t *testing.T) {
	pw := filepath.Join(t.TempDir(), "pw")
	if err := os.WriteFile(pw, []byte("secret\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		args  []string
		given string
	}{
		{[]string{"--notify-smtp-from", "notanaddress"}, "notify-smtp-from is"},
		{[]string{"--notify-smtp-from", "certgate@example.com"}, "notify-smtp-from is"},
		{[]string{"--notify-smtp-username", "u"}, "notify-smtp-username is"},
		{[]string{"--notify-smtp-starttls", "require"}, "notify-smtp-starttls is"},
		{[]string{"--notify-smtp-ca-file", pw}, "notify-smtp-ca-file is"},
		{[]string{"--notify-smtp-from", "c@example.com", "--notify-smtp-username", "u", "--notify-smtp-password-file", pw},
			"notify-smtp-from, notify-smtp-username, notify-smtp-password-file are"},
	} {
		_, err := serveWith(t, c.args...)
		pronoun := "them"
		if strings.HasSuffix(c.given, " is") {
			pronoun = "it"
		}
		want := "notify-smtp-server: not set, but " + c.given + ": set notify-smtp-server to send email, or remove " + pronoun
		if err == nil || err.Error() != want {
			t.Errorf("%v: %v, want %q", c.args, err, want)
		}
	}
	t.Setenv("CERTGATE_NOTIFY_SMTP_PASSWORD", "from-the-environment")
	_, err := serveWith(t, "--notify-smtp-username", "u")
	if want := "notify-smtp-server: not set, but notify-smtp-username, notify-smtp-password are: set notify-smtp-server to send email, or remove them"; err == nil || err.Error() != want {
		t.Errorf("username and password from the environment: %v, want %q", err, want)
	}
	// With the server, the sender is checked itself.
	_, err = serveWith(t, "--notify-smtp-server", "127.0.0.1:25", "--notify-smtp-from", "notanaddress", "--notify-smtp-username", "u")
	if err == nil || !strings.HasPrefix(err.Error(), `notify-smtp-from: "notanaddress": `) {
		t.Errorf("a bad sender with the server: %v", err)
	}
}

// TestNotifyWebhookSecretTrimmedAndMissing: the webhook key is the secret
// without surrounding white space whether it comes from a file, the
// environment or the config file (docs/notifications.md; only the file's
// was trimmed, so a receiver following the docs refused the signatures
// of a secret set in CERTGATE_NOTIFY_WEBHOOK_SECRET with a line feed); a
// webhook URL without any secret names the secret as not set (it said
// "0 bytes; at least 16 are needed").
func TestNotifyWebhookSecretTrimmedAndMissing(t *testing.T) {
	t.Setenv("CERTGATE_NOTIFY_WEBHOOK_SECRET", " 0123456789abcdef\n")
	s, err := serveWith(t, "--notify-webhook-url", "https://hooks.example.com/x")
	if err != nil || s.Notify.WebhookSecret != "0123456789abcdef" {
		t.Fatalf("secret from the environment: %v, %q; want it trimmed", err, s.Notify.WebhookSecret)
	}
	t.Setenv("CERTGATE_NOTIFY_WEBHOOK_SECRET", "")
	_, err = serveWith(t, "--notify-webhook-url", "https://hooks.example.com/x")
	if err == nil || !strings.Contains(err.Error(), "notify-webhook-secret: not set, but notify-webhook-url is") {
		t.Errorf("webhook URL without a secret: %v, want the secret named as not set", err)
	}
}
