package adminapi

import (
	"context"
	"errors"
	"net/http"

	"github.com/certgate/certgate/internal/auth"
	"github.com/certgate/certgate/internal/inventory"
	"github.com/certgate/certgate/internal/notify"
	"github.com/certgate/certgate/internal/store"
	"github.com/danielgtaylor/huma/v2"
)

type listNotificationsIn struct {
	Status string `query:"status" enum:"pending,sending,sent,failed,skipped" doc:"only deliveries in this status"`
	Serial string `query:"serial" doc:"only the deliveries about this certificate (hex serial; colons, upper case and leading zeros as openssl prints it are accepted; it also matches the SERIAL-FINGERPRINT16 keys made of it), or an imported or discovered certificate's SERIAL-FINGERPRINT16 key"`
	Before string `query:"before" pattern:"^[A-Za-z0-9_-]*$" maxLength:"64" doc:"the next_before of the previous page (a delivery ID)"`
	Limit  int    `query:"limit" minimum:"1" maximum:"1000" default:"100"`
}

type notificationsOut struct {
	Body struct {
		Items      []notify.Delivery `json:"items"`
		NextBefore string            `json:"next_before" doc:"pass as before to get the next (older) page; empty on the last page"`
	}
}

func notificationRoutes(a *API) {
	Register(a, auth.PermNotificationsRead, huma.Operation{OperationID: "list-notifications", Method: http.MethodGet, Path: Prefix + "/notifications",
		Summary: "List expiry notification deliveries", Tags: []string{"notifications"}, Errors: []int{422},
		Description: "One delivery per certificate, threshold crossed, channel and recipient (docs/notifications.md), newest first, with its status, attempts and last error; paginated by before."},
		func(ctx context.Context, _ *auth.Principal, in *listNotificationsIn) (*notificationsOut, error) {
			f := store.NotificationFilter{Status: in.Status, Before: in.Before, Limit: in.Limit}
			if in.Serial != "" {
				s, err := inventory.NormalizeSerialOrKey(in.Serial)
				if err != nil {
					return nil, invalidInventory(err, "query.serial", in.Serial)
				}
				f.Serial = s
			}
			list, err := a.d.Store.ListNotifications(ctx, f)
			if errors.Is(err, store.ErrUnknownCursor) {
				return nil, invalidField("query.before", err.Error(), in.Before)
			}
			if err != nil {
				return nil, a.storeError(ctx, "notifications", err)
			}
			out := &notificationsOut{}
			out.Body.Items = make([]notify.Delivery, 0, len(list))
			for _, n := range list {
				out.Body.Items = append(out.Body.Items, notify.NewDelivery(n))
			}
			if len(list) == in.Limit {
				out.Body.NextBefore = list[len(list)-1].ID
			}
			return out, nil
		})
}
