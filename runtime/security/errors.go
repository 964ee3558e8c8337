package security

import "errors"

// Sentinel errors. Every refusal of this package wraps one of them, so that
// the runtime can report it as an invalid spec.
var (
	// ErrUnsupported is returned for a spec field that the runtime cannot
	// execute exactly: an action, an operator, a flag, a set it would
	// have to execute differently from how it is written.
	ErrUnsupported = errors.New("not supported")
	// ErrUnknownName is returned for a syscall or capability name that
	// is in no table.
	ErrUnknownName = errors.New("unknown name")
	// ErrInvalidSet is returned for capability sets the kernel would not
	// accept together (an effective capability that is not permitted).
	ErrInvalidSet = errors.New("invalid capability sets")
)
