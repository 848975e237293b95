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
// one list (actionNames) that Prepare checks the events it records against
// and that CheckAction checks a filter's action against.
func Actions() []string {
	names := actionNames()
	a := names[:]
	slices.Sort(a)
	return a
}

// actionNames returns every Action* constant. A new constant is added here
// and the array's length raised (TestActionsListsEveryActionConstant
// compares the list with the constants in the package's source). An array
// returned by value: checking an action on every recorded event allocates
// nothing.
func actionNames() [33]string {
	return [33]string{
		ActionCertificateIssue, ActionCertificateRevoke, ActionCertificateImport, ActionCertificateSuggestRenewal, ActionCertificateStoreFailed,
		ActionCertificateUpstreamRefused, ActionCertificateDiscover,
		ActionTokenCreate, ActionTokenRevoke,
		ActionAccountCreate, ActionAccountUpdate, ActionAccountDeactivate, ActionAccountKeyChange, ActionAccountAttributes,
		ActionProfileCreate, ActionProfileUpdate, ActionProfileDelete,
		ActionEABKeyCreate, ActionEABKeyRevoke,
		ActionApprovalRequest, ActionApprovalApprove, ActionApprovalReject, ActionApprovalEscalate,
		ActionRateLimitSet, ActionRateLimitDelete,
		ActionIntermediateRotate, ActionIntermediateRevoke, ActionIntermediatePrune,
		ActionSessionSignIn, ActionSessionSignOut, ActionSessionSignInRefused,
		ActionNotificationSend, ActionNotificationFail,
	}
}

// CheckAction returns nil for one of Actions and otherwise an error
// wrapping ErrUnknownAction that names them all, e.g.
// `unknown audit action "certificate.revoked" (the actions: account.create, ...)`.
func CheckAction(action string) error {
	names := actionNames()
	if action != "" && slices.Contains(names[:], action) {
		return nil
	}
	return fmt.Errorf("%w %q (the actions: %s)", ErrUnknownAction, action, strings.Join(Actions(), ", "))
}

// ErrUnknownObjectType is the error (wrapped) of an object type that is not
// one of ObjectTypes: List refuses to filter by it (it would select
// nothing).
var ErrUnknownObjectType = errors.New("unknown audit object type")

// ObjectTypes returns the object types of the events certgate records,
// sorted: every Object* constant (TestObjectTypesListsEveryObjectConstant
// compares the list with the constants in the package's source).
func ObjectTypes() []string {
	types := []string{ObjectAccount, ObjectApproval, ObjectCertificate, ObjectEABKey, ObjectIntermediate, ObjectNotification, ObjectProfile, ObjectRateLimitOverride, ObjectSession, ObjectToken}
	slices.Sort(types)
	return types
}

// CheckObjectType returns nil for one of ObjectTypes and otherwise an error
// wrapping ErrUnknownObjectType that names them all, e.g.
// `unknown audit object type "cert" (the object types: account, ...)`.
func CheckObjectType(objectType string) error {
	if objectType != "" && slices.Contains(ObjectTypes(), objectType) {
		return nil
	}
	return fmt.Errorf("%w %q (the object types: %s)", ErrUnknownObjectType, objectType, strings.Join(ObjectTypes(), ", "))
}
