package audit

import (
	"errors"
	"fmt"
	"slices"
	"strings"
)

// ErrUnknownAction is the error (wrapped) of an action name that is not
// one of Actions: Prepare refuses to record it and List to filter by it.
var ErrUnknownAction = errors.New("unknown audit action")

// Actions returns the names of every action certgate records, sorted: the
// one list that Prepare checks the events it records against and that
// CheckAction checks a filter's action against. A new Action* constant
// is added here too.
func Actions() []string {
	a := []string{
		ActionCertificateIssue, ActionCertificateRevoke, ActionCertificateImport, ActionCertificateSuggestRenewal,
		ActionTokenCreate, ActionTokenRevoke,
		ActionAccountCreate, ActionAccountUpdate, ActionAccountDeactivate, ActionAccountKeyChange, ActionAccountAttributes,
		ActionProfileCreate, ActionProfileUpdate, ActionProfileDelete,
		ActionEABKeyCreate, ActionEABKeyRevoke,
		ActionApprovalRequest, ActionApprovalApprove, ActionApprovalReject, ActionApprovalEscalate,
		ActionRateLimitSet, ActionRateLimitDelete,
	}
	slices.Sort(a)
	return a
}

// CheckAction returns nil for one of Actions and otherwise an error
// wrapping ErrUnknownAction that names them all, e.g.
// `unknown audit action "certificate.revoked" (the actions: account.create, ...)`.
func CheckAction(action string) error {
	known := Actions()
	if _, ok := slices.BinarySearch(known, action); ok {
		return nil
	}
	return fmt.Errorf("%w %q (the actions: %s)", ErrUnknownAction, action, strings.Join(known, ", "))
}
