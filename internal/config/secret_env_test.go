package config

import (
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/spf13/pflag"
)

// TestSecretVariableNotShown: a check error about a setting given as a
// CERTGATE_* variable names the variable, and shows its value only when
// it is not a secret: the value of every secret setting (each refused on
// the command line) is left out, and a password in a database URL is
// masked as the database's own errors mask it. The errors printed
// CERTGATE_PKCS11_PIN="s3cretPIN" and the like on the server's start.
func TestSecretVariableNotShown(t *testing.T) {
	const secret = "s3cretVALUE"
	cases := []struct {
		env, yaml string
		want      string // the error's beginning
	}{
		{"CERTGATE_PKCS11_PIN", "", "CERTGATE_PKCS11_PIN: pkcs11-pin: set, but pkcs11-module is not"},
		{"CERTGATE_NOTIFY_SMTP_PASSWORD", "notify-smtp-server: smtp.example:587\nnotify-smtp-from: ca@example.com\n",
			"CERTGATE_NOTIFY_SMTP_PASSWORD: notify-smtp-password: set notify-smtp-username too"},
		{"CERTGATE_NOTIFY_WEBHOOK_SECRET", "", "CERTGATE_NOTIFY_WEBHOOK_SECRET: notify-webhook-secret: 11 bytes"},
		{"CERTGATE_SSO_CLIENT_SECRET", "sso-issuer: https://idp.example\nsso-client-id: certgate\nsso-client-secret-file: /nonexistent\n",
			"CERTGATE_SSO_CLIENT_SECRET: sso-client-secret and sso-client-secret-file are both set"},
	}
	// Every secret setting is among the cases: those taken from a
	// variable or the file only (refused on the command line).
	fs := pflag.NewFlagSet("serve", pflag.ContinueOnError)
	ServeFlags(fs)
	var secrets, tested []string
	fs.VisitAll(func(f *pflag.Flag) {
		marked := len(f.Annotations[secretAnnotation]) > 0
		if refused := strings.Contains(f.Usage, "or the config file only"); refused != marked {
			t.Errorf("--%s: marked secret %v, but its help says variable or config file only: %v", f.Name, marked, refused)
		}
		if marked {
			secrets = append(secrets, EnvName(f.Name))
		}
	})
	for _, c := range cases {
		tested = append(tested, c.env)
	}
	slices.Sort(secrets)
	slices.Sort(tested)
	if !slices.Equal(secrets, tested) {
		t.Errorf("secret settings %v, tested %v", secrets, tested)
	}
	for _, c := range cases {
		t.Run(c.env, func(t *testing.T) {
			t.Setenv(c.env, secret)
			_, _, err := serveWithFile(t, "", c.yaml)
			if err == nil || !strings.HasPrefix(err.Error(), c.want) || strings.Contains(err.Error(), secret) {
				t.Errorf("%s=%s: %v; want an error beginning %q, without the value", c.env, secret, err, c.want)
			}
		})
	}
	// A database URL's password is masked, the rest shown.
	for dsn, want := range map[string]string{
		"postgres://u:hunter2@/x":                        `CERTGATE_DB="postgres://u:xxxxx@/x": db: not a valid URL`,
		"postgresql://u:hun@ter2@/x?sslpassword=hunter2": `CERTGATE_DB="postgresql://u:xxxxx@/x?sslpassword=xxxxx": db: not a valid URL`,
		"mysql://u:hunter2@db/x":                         `CERTGATE_DB="mysql://u:xxxxx@db/x": db: mysql:// is not supported`,
	} {
		t.Run(dsn, func(t *testing.T) {
			t.Setenv("CERTGATE_DB", dsn)
			_, _, err := serveWithFile(t, "", "")
			if err == nil || !strings.HasPrefix(err.Error(), want) || strings.Contains(err.Error(), "hunter2") || strings.Contains(err.Error(), "ter2") {
				t.Errorf("CERTGATE_DB=%s: %v; want an error beginning %q", dsn, err, want)
			}
		})
	}
	// Another setting's value is shown as it is.
	t.Setenv("CERTGATE_VA_HTTP_PORT", "99999")
	if _, _, err := serveWithFile(t, "", ""); err == nil || !strings.HasPrefix(err.Error(), `CERTGATE_VA_HTTP_PORT="99999": va-http-port`) {
		t.Errorf("CERTGATE_VA_HTTP_PORT=99999: %v", err)
	}
}

// TestRedactPasswords: the passwords of URLs and connection strings are
// masked wherever they are, and a value without one is unchanged.
func TestRedactPasswords(t *testing.T) {
	for in, want := range map[string]string{
		"postgres://u:p@db:5432/x?sslmode=disable":     "postgres://u:xxxxx@db:5432/x?sslmode=disable",
		"postgres://u@db/x?password=p&sslmode=require": "postgres://u@db/x?password=xxxxx&sslmode=require",
		"postgres://u:p/a@ss@db/x":                     "postgres://u:xxxxx@db/x",
		"postgres://u:p%zz@db/x":                       "postgres://u:xxxxx@db/x",
		"https://hook:tok@hooks.example/in?x=1":        "https://hook:xxxxx@hooks.example/in?x=1",
		"host=db user=u password=p dbname=x":           "host=db user=u password=xxxxx dbname=x",
		"host=db password = 'p q' dbname=x":            "host=db password=xxxxx dbname=x",
		"https://acme.example/terms":                   "https://acme.example/terms",
		"https://acme.example:8443/a@b":                "https://acme.example:xxxxx@b",
		"10.0.0.53:53,10.0.1.53:53":                    "10.0.0.53:53,10.0.1.53:53",
		"mypassword=p":                                 "mypassword=p",
	} {
		if got := redactPasswords(in); got != want {
			t.Errorf("redactPasswords(%q) = %q, want %q", in, got, want)
		}
		if regexp.MustCompile(`(^|[:=])p([@&\s/]|$)`).MatchString(redactPasswords(in)) && in != "mypassword=p" {
			t.Errorf("redactPasswords(%q) = %q shows the password", in, redactPasswords(in))
		}
	}
}
