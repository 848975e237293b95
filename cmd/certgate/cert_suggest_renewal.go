package main

import (
	"errors"
	"fmt"
	"math/big"
	"strings"
	"time"
	"unicode"

	"github.com/spf13/cobra"

	"github.com/certgate/certgate/internal/acme"
	"github.com/certgate/certgate/internal/audit"
	"github.com/certgate/certgate/internal/config"
	"github.com/certgate/certgate/internal/duration"
	"github.com/certgate/certgate/internal/inventory"
	"github.com/certgate/certgate/internal/ra"
	"github.com/certgate/certgate/internal/store"
)

// newCertSuggestRenewal is `certgate cert suggest-renewal SERIAL --before
// TIME`: it moves the ACME Renewal Information window (RFC 9773 §4.2) of
// one certificate earlier, so that ARI clients renew it before TIME.
func newCertSuggestRenewal() *cobra.Command {
	var o storeOpts
	var before string
	cmd := &cobra.Command{
		Use:   "suggest-renewal SERIAL --before TIME",
		Short: "Ask ARI clients to renew a certificate before a time",
		Long: `Move the suggested renewal window that renewalInfo (ACME Renewal Information,
RFC 9773) serves for one certificate earlier, so that ARI-aware clients renew
it before TIME: for instance ahead of a planned key or intermediate change.

SERIAL is the certificate's serial number in hexadecimal (colons and leading
zeros allowed). TIME is an RFC 3339 time (2026-12-01T00:00:00Z) or a duration
from now (24h, 7d, 1d12h). The new window ends at TIME and starts now, or at
the current window's start if that is earlier; a TIME in the past asks for
renewal at once. Windows only move earlier: a TIME not earlier than the end
of the current window is refused, and so is a TIME before the certificate's
notBefore (a window must not end before the certificate was valid). Revoked certificates already ask for
renewal at once. Certificates imported into the inventory are refused: another
CA issued them, and renewalInfo answers only for this server's certificates.

Works beside a running server (the change shows at the next renewalInfo
request).`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			now := time.Now().UTC()
			serial, err := parseSuggestSerial(args[0])
			if err != nil {
				return err
			}
			when, err := parseSuggestBefore(before, now)
			if err != nil {
				return err
			}
			ctx := cmd.Context()
			st, err := openStore(ctx, cmd, &o)
			if err != nil {
				return err
			}
			defer st.Close()
			rec, err := st.GetCertificate(ctx, serial)
			if errors.Is(err, store.ErrNotFound) {
				return fmt.Errorf("there is no certificate with serial %q (see 'certgate cert list')", serial)
			}
			if err != nil {
				return fmt.Errorf("certificate %s: %w", serial, err)
			}
			if rec.Source == store.SourceListener {
				return fmt.Errorf("certificate %s is the server's listener certificate (the HTTPS listeners' own, issued by the built-in CA without ACME): the server renews it itself, no ARI client does", serial)
			}
			if !ra.IssuedHere(rec) {
				return fmt.Errorf("certificate %s is %s (issuer %s), not issued by this server: renewalInfo answers only for certificates this server issued", serial, rec.Source, rec.Issuer)
			}
			if rec.Status == acme.StatusRevoked {
				return fmt.Errorf("certificate %s is revoked: renewalInfo already asks for its renewal at once", serial)
			}
			// The window renewalInfo serves now: the one set before, else the
			// profile's renewalWindow, else the default.
			revoked, err := revokedIntermediates(ctx, st, o.data)
			if err != nil {
				return err
			}
			cur, source, _, err := ra.CertificateRenewal(ctx, st, serial, revoked, now)
			if err != nil {
				return err
			}
			if source == ra.WindowIntermediateRevoked {
				return fmt.Errorf("certificate %s was signed by a revoked intermediate: renewalInfo already asks for its renewal at once", serial)
			}
			w, err := ra.EarlierWindow(cur, acme.TimeWindow{Start: rec.NotBefore, End: rec.NotAfter}, when, now)
			if err != nil {
				return fmt.Errorf("certificate %s: %w", serial, err)
			}
			ev, err := prepareAuditReplaced(ctx, st, audit.ActionCertificateSuggestRenewal, audit.ObjectCertificate, serial,
				audit.ReplacedRow(func(old *store.StoredRenewalWindow) (any, any) {
					return renewalWindowView(old.Start, old.End), renewalWindowView(w.Start, w.End)
				}))
			if err != nil {
				return err
			}
			if err := st.SetRenewalWindow(ctx, serial, w.Start, w.End, ev); err != nil {
				return fmt.Errorf("certificate %s: %w", serial, err)
			}
			fmt.Fprintf(cmd.OutOrStdout(), "certificate %s: renewal window %s .. %s (was %s .. %s)\n", serial,
				w.Start.Format(time.RFC3339), w.End.Format(time.RFC3339), cur.Start.Format(time.RFC3339), cur.End.Format(time.RFC3339))
			return nil
		},
	}
	storeFlags(cmd, &o)
	cmd.Flags().StringVar(&before, "before", "", "renew before this time: RFC 3339, a duration from now such as 24h or 7d, or now (renew at once) (required)")
	_ = cmd.MarkFlagRequired("before")
	return cmd
}

// renewalWindowView is a stored renewal window as the audit log records
// it: {"renewal_window": null} when none is stored (the default window
// applies), else its start and end (RFC 3339, UTC).
func renewalWindowView(start, end time.Time) map[string]any {
	if end.IsZero() {
		return map[string]any{"renewal_window": nil}
	}
	return map[string]any{"renewal_window": map[string]string{
		"start": start.UTC().Format(time.RFC3339Nano), "end": end.UTC().Format(time.RFC3339Nano)}}
}

// parseSuggestSerial normalises a hexadecimal serial as the database
// stores it: lower case, no colons, no leading zeros. White space or a
// control character in s is refused, as every command taking a serial
// refuses it (inventory.NormalizeSerial's error).
func parseSuggestSerial(s string) (string, error) {
	if strings.ContainsFunc(s, func(r rune) bool { return unicode.IsSpace(r) || unicode.IsControl(r) }) {
		_, err := inventory.NormalizeSerial(s)
		return "", err
	}
	h := strings.TrimPrefix(strings.ToLower(strings.ReplaceAll(s, ":", "")), "0x")
	n, ok := new(big.Int).SetString(h, 16)
	if !ok || h == "" || strings.ContainsAny(h, "+-") || n.Sign() <= 0 {
		return "", fmt.Errorf("serial %q is not a hexadecimal certificate serial number (e.g. 3a:f0:... or 3af0...)", s)
	}
	return n.Text(16), nil
}

// parseSuggestBefore reads --before: an RFC 3339 time, a duration from
// now (config.ParseDuration: 24h, 7d, 1d12h), or "now" (renew at once: the
// window ends now, as docs/pki.md names it).
func parseSuggestBefore(s string, now time.Time) (time.Time, error) {
	if strings.EqualFold(strings.TrimSpace(s), "now") {
		return now, nil
	}
	if t, err := time.Parse(time.RFC3339, s); err == nil {
		return t.UTC(), nil
	}
	d, err := config.ParseDuration(s)
	if errors.Is(err, duration.ErrTooLong) {
		return time.Time{}, fmt.Errorf("--before: %w", err)
	}
	if err != nil {
		// The example is a week from now, a time one may give.
		return time.Time{}, fmt.Errorf("--before %q is not an RFC 3339 time (%s), a duration from now (24h, 7d) or now", s,
			now.Add(7*24*time.Hour).UTC().Truncate(24*time.Hour).Format(time.RFC3339))
	}
	return now.Add(d), nil
}
