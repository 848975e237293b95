package main

import (
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/certgate/certgate/internal/config"
	"github.com/certgate/certgate/internal/inventory"
	"github.com/certgate/certgate/internal/notify"
	"github.com/certgate/certgate/internal/store"
	"github.com/spf13/cobra"
)

// newNotify is `certgate notify`: expiry notifications
// (docs/notifications.md).
func newNotify() *cobra.Command {
	c := &cobra.Command{Use: "notify", Short: "Test notification channels and list expiry notification deliveries"}
	c.AddCommand(newNotifyTest(), newNotifyList())
	return c
}

func newNotifyTest() *cobra.Command {
	var channel, to string
	cmd := &cobra.Command{
		Use:   "test --channel email|webhook [--to RECIPIENT]",
		Short: "Send one test message over a channel configured by the notify-* settings",
		Long: "Sends one test message with the server's notify-* settings (flags, CERTGATE_* variables, --config file): " +
			"email to --to, a webhook to --to or notify-webhook-url. Exits non-zero with one line naming the failure.",
		Args: cobra.NoArgs,
	}
	resolve := config.NotifyFlags(cmd.Flags())
	cmd.Flags().String("config", "", "YAML configuration file (the server's)")
	cmd.Flags().StringVar(&channel, "channel", "", "channel to test: email or webhook")
	cmd.Flags().StringVar(&to, "to", "", "recipient: an email address (required for email) or a webhook URL (default notify-webhook-url)")
	cmd.RunE = func(cmd *cobra.Command, _ []string) error {
		n, err := resolve()
		if err != nil {
			return err
		}
		chans, err := n.Channels()
		if err != nil {
			return err
		}
		ch, ok := chans[channel]
		if !ok {
			switch channel {
			case notify.ChannelEmail:
				return errors.New("--channel email: not configured (set notify-smtp-server and notify-smtp-from)")
			case notify.ChannelWebhook:
				return errors.New("--channel webhook: not configured (set notify-webhook-secret or notify-webhook-secret-file, and notify-webhook-url or --to)")
			}
			return fmt.Errorf("--channel %q: want email or webhook", channel)
		}
		if channel == notify.ChannelEmail && to == "" {
			return errors.New("--to: an email address is required with --channel email")
		}
		if to != "" {
			if err := notify.CheckRecipient(channel, to); err != nil {
				return fmt.Errorf("--to %q: %w", to, err)
			}
		}
		if err := notify.Test(cmd.Context(), ch, to, time.Now()); err != nil {
			return fmt.Errorf("test message over %s failed: %s", channel, oneLine(err.Error()))
		}
		fmt.Fprintf(cmd.OutOrStdout(), "test message sent over %s\n", channel)
		return nil
	}
	return cmd
}

func newNotifyList() *cobra.Command {
	var so storeOpts
	var format outputFormat
	var f store.NotificationFilter
	cmd := &cobra.Command{
		Use:   "list",
		Short: "List expiry notification deliveries, newest first, with their status",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if err := checkLimit(f.Limit); err != nil {
				return err
			}
			if f.Serial != "" {
				s, err := inventory.NormalizeSerialOrKey(f.Serial)
				if err != nil {
					return fmt.Errorf("--serial: %w", err)
				}
				f.Serial = s
			}
			if f.Status != "" && !slices.Contains(store.NotificationStatuses(), f.Status) {
				return fmt.Errorf("--status %q: want one of %s", f.Status, strings.Join(store.NotificationStatuses(), ", "))
			}
			st, err := openStore(cmd.Context(), cmd, &so)
			if err != nil {
				return err
			}
			defer st.Close()
			list, err := st.ListNotifications(cmd.Context(), f)
			if errors.Is(err, store.ErrUnknownCursor) {
				return fmt.Errorf("--before %q: no delivery has that ID (give the ID that the previous page's \"more deliveries\" line named)", f.Before)
			}
			if err != nil {
				return err
			}
			next := ""
			if len(list) == f.Limit {
				next = list[len(list)-1].ID
			}
			if format == "json" { // as GET /api/v1/notifications
				items := make([]notify.Delivery, 0, len(list))
				for _, n := range list {
					items = append(items, notify.NewDelivery(n))
				}
				return printJSON(cmd.OutOrStdout(), struct {
					Items      []notify.Delivery `json:"items"`
					NextBefore string            `json:"next_before"`
				}{items, next})
			}
			header := []string{"CREATED", "SERIAL", "THRESHOLD", "CHANNEL", "RECIPIENT", "RULE", "STATUS", "ATTEMPTS", "LAST ERROR"}
			rows := make([][]string, 0, len(list))
			for _, n := range list {
				// The recipient as JSON, the API and the audit log show it
				// (notify.Redact): a webhook URL's path may hold a secret.
				rows = append(rows, []string{n.CreatedAt.Format(time.RFC3339), n.Serial, strconv.Itoa(n.ThresholdDays) + "d", n.Channel, notify.Redact(n.Recipient),
					n.Rule, n.Status, strconv.Itoa(n.Attempts), n.LastError})
			}
			if err := writeRows(cmd.OutOrStdout(), format, header, rows); err != nil {
				return err
			}
			if next != "" {
				fmt.Fprintf(cmd.ErrOrStderr(), "more deliveries: add --before %s\n", next)
			}
			return nil
		},
	}
	cmd.Flags().StringVar(&f.Status, "status", "", "only this status: "+strings.Join(store.NotificationStatuses(), ", "))
	cmd.Flags().StringVar(&f.Serial, "serial", "", "only this certificate's deliveries (serial in hex, which also matches the SERIAL-FINGERPRINT16 keys of imported or discovered certificates with that serial, or such a key)")
	cmd.Flags().StringVar(&f.Before, "before", "", "list deliveries older than this delivery ID (paging: the next_before of --format json)")
	cmd.Flags().IntVar(&f.Limit, "limit", 100, "how many deliveries (1..1000)")
	formatFlag(cmd, &format, "table", "json", "csv")
	storeFlags(cmd, &so)
	return cmd
}
