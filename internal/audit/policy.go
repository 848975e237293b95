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
