package server

import (
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/certgate/certgate/internal/certlint"
	"github.com/certgate/certgate/internal/config"
	"github.com/certgate/certgate/internal/issuer/local"
	"github.com/certgate/certgate/internal/policy"
	"github.com/certgate/certgate/internal/ra"
)

// TestLintSettingMessages: a setting that makes every certificate fail
// the issuance lint is reported in one line naming the setting (or the
// profile and its field), the limit in force at the time and who sets it,
// and how the setting must change; the lint findings stay reachable with
// errors.As.
func TestLintSettingMessages(t *testing.T) {
	const day = 24 * time.Hour
	caAt := func(t *testing.T, now time.Time) *local.CA {
		ca, err := local.LoadOrCreate(t.TempDir(), local.Options{Now: func() time.Time { return now }, LintBeforeSign: true,
			IssuerURL: "http://ca.example.test/pki/intermediate.crt", CRLURL: "http://ca.example.test/pki/crl"})
		if err != nil {
			t.Fatal(err)
		}
		return ca
	}
	nov2026 := time.Date(2026, 11, 2, 10, 0, 0, 0, time.UTC)
	jun2025 := time.Date(2025, 6, 1, 10, 0, 0, 0, time.UTC)
	mar2029 := time.Date(2029, 3, 16, 10, 0, 0, 0, time.UTC)
	for _, tc := range []struct {
		name     string
		now      time.Time
		validity time.Duration
		want     string // "" = starts
	}{
		{"500 days in 2026", nov2026, 500 * day, "cert-validity 500d: leaf certificates would fail lint (CA/B Forum BR: at most 199 days for " +
			"TLS server certificates issued from 2026-03-15, so cert-validity must be at most 199d; w_server_cert_valid_time_longer_than_199_days and 3 more lints)"},
		// The setting is the period the BR count, notAfter second
		// included (RFC 5280 §4.1.2.5): 199d is exactly the SHOULD NOT
		// limit, and 200d only over it (the MUST NOT of 200 days holds).
		{"199 days in 2026", nov2026, 199 * day, ""},
		{"200 days in 2026", nov2026, 200 * day, "cert-validity 200d: leaf certificates would fail lint (CA/B Forum BR: at most 199 days for " +
			"TLS server certificates issued from 2026-03-15, so cert-validity must be at most 199d; w_server_cert_valid_time_longer_than_199_days)"},
		// 90 days set by the operator: valid until the BR limit falls to
		// 46 days on 2029-03-15, refused from then (defaults: see
		// TestDefaultValidityFollowsBR).
		{"90 days set in 2029", mar2029, 90 * day, "cert-validity 90d: leaf certificates would fail lint (CA/B Forum BR: at most 46 days for " +
			"TLS server certificates issued from 2029-03-15, so cert-validity must be at most 46d; w_server_cert_valid_time_longer_than_46_days and 1 more lint)"},
		{"90 days set in 2028", time.Date(2028, 6, 1, 0, 0, 0, 0, time.UTC), 90 * day, ""},
		{"500 days in 2025", jun2025, 500 * day, "cert-validity 500d: leaf certificates would fail lint (Apple root program: at most 397 days for " +
			"TLS server certificates issued from 2020-09-01, so cert-validity must be at most 397d; w_tls_server_cert_valid_time_longer_than_397_days and 1 more lint)"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ca := caAt(t, tc.now)
			err := preflight(ca, &config.Serve{CertValidity: tc.validity}, "", tc.now)
			if tc.want == "" {
				if err != nil {
					t.Fatalf("preflight: %v", err)
				}
				return
			}
			if err == nil || err.Error() != tc.want {
				t.Fatalf("preflight: %v\nwant: %s", err, tc.want)
			}
			var le *certlint.LintError
			var se *LintSettingError
			if !errors.As(err, &se) || se.Setting != "cert-validity" || !errors.As(err, &le) {
				t.Errorf("error %T does not carry the setting and the findings", err)
			}
		})
	}

	ca := caAt(t, nov2026)
	for _, tc := range []struct {
		name    string
		profile policy.Profile
		want    string
		prefix  bool // want is the start of the message
	}{
		{"maxValidity over the limit", policy.Profile{Name: "web", Validity: policy.Duration(30 * day), MaxValidity: policy.Duration(300 * day)},
			"profile web: maxValidity 300d: leaf certificates would fail lint (CA/B Forum BR: at most 199 days for TLS server certificates issued from " +
				"2026-03-15, so maxValidity must be at most 199d; w_server_cert_valid_time_longer_than_199_days and 1 more lint)", false},
		{"validity over the limit", policy.Profile{Name: "web", Validity: policy.Duration(500 * day)},
			"profile web: validity 500d: leaf certificates would fail lint (CA/B Forum BR: at most 199 days for TLS server certificates issued from " +
				"2026-03-15, so validity must be at most 199d; w_server_cert_valid_time_longer_than_199_days and 3 more lints)", false},
		{"subject fields in a TLS profile", policy.Profile{Name: "org", Validity: policy.Duration(30 * day), SubjectFields: []string{"O"}},
			"profile org: leaf certificates would fail lint: e_cab_dv_subject_invalid_values: DV certificate contains the invalid attribute type 2.5.4.10 [BRs: 7.1.2.7.2]; ", true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if err := tc.profile.Validate(); err != nil {
				t.Fatal(err)
			}
			err := LintProfile(ca, &tc.profile, nov2026)
			if err == nil {
				t.Fatal("LintProfile passed")
			}
			msg := err.Error()
			if tc.prefix && !strings.HasPrefix(msg, tc.want) || !tc.prefix && msg != tc.want || strings.Contains(msg, "\n") {
				t.Fatalf("LintProfile: %s\nwant: %s", msg, tc.want)
			}
		})
	}
}

// TestDefaultValidityFollowsBR: a server left on the default validity
// passes the start-up lint after the BR limit falls below 90 days
// (2029-03-15), and its default profile's sample certificate then has the
// 46-day period the BR allow; the same 90 days set by the operator are
// refused (TestLintSettingMessages).
func TestDefaultValidityFollowsBR(t *testing.T) {
	now := time.Date(2029, 3, 16, 10, 0, 0, 0, time.UTC)
	ca, err := local.LoadOrCreate(t.TempDir(), local.Options{Now: func() time.Time { return now }, LintBeforeSign: true,
		IssuerURL: "http://ca.example.test/pki/intermediate.crt", CRLURL: "http://ca.example.test/pki/crl"})
	if err != nil {
		t.Fatal(err)
	}
	cfg := &config.Serve{CertValidity: config.DefaultCertValidity, CertValidityFollowsBR: true}
	if err := preflight(ca, cfg, "", now); err != nil {
		t.Fatalf("preflight on the defaults in 2029: %v", err)
	}
	def := ra.DefaultProfile(cfg.CertValidity, 0, false, true)
	if err := def.Validate(); err != nil {
		t.Fatal(err)
	}
	if err := LintProfile(ca, &def, now); err != nil {
		t.Fatalf("default profile in 2029: %v", err)
	}
	if v, m := def.ValidityAt(now); v != 46*24*time.Hour || m != 46*24*time.Hour {
		t.Errorf("default profile in 2029: validity %s, maximum %s; want 46d each", v, m)
	}
}
