package audit

// Actions and object types of profiles, External Account Binding keys,
// custom attributes and approvals (docs/profiles.md).
const (
	ActionProfileCreate     = "profile.create"
	ActionProfileUpdate     = "profile.update"
	ActionProfileDelete     = "profile.delete"
	ActionEABKeyCreate      = "eab_key.create"
	ActionEABKeyRevoke      = "eab_key.revoke"
	ActionAccountAttributes = "account.set_attributes"
	ActionApprovalRequest   = "approval.request"
	ActionApprovalApprove   = "approval.approve"
	ActionApprovalReject    = "approval.reject"
	ActionApprovalEscalate  = "approval.escalate"
	ObjectProfile           = "profile"
	ObjectEABKey            = "eab_key"
	ObjectApproval          = "approval"
)

// Actions and object type of expiry notifications (internal/notify,
// docs/notifications.md). The object is the delivery (store.Notification,
// by ID); after: {"serial", "threshold_days", "channel", "recipient",
// "rule", "attempts"} and, for a failure, "error" and "gave_up".
const (
	// ActionNotificationSend: a notification was delivered.
	ActionNotificationSend = "notification.send"
	// ActionNotificationFail: an attempt to deliver one failed; gave_up
	// says whether it was the last.
	ActionNotificationFail = "notification.fail"
	ObjectNotification     = "notification"
)
