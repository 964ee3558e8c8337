package runtime

import "errors"

// Sentinel errors. Typed errors elsewhere in this package match them with
// errors.Is so that callers (the CLI, tests) can tell the causes apart.
var (
	// ErrInvalidName is returned for a container name that is not a valid
	// machine name.
	ErrInvalidName = errors.New("invalid container name")
	// ErrRunning is returned when a container of that name already runs.
	ErrRunning = errors.New("already running")
	// ErrNotRunning is returned when no live container has that name.
	ErrNotRunning = errors.New("not running")
	// ErrInvalidSpec is returned for a spec the runtime cannot execute.
	ErrInvalidSpec = errors.New("invalid container spec")
	// ErrInitNotFound is an init that does not exist or cannot be
	// executed (InitNotFoundError, or an InitError of that kind).
	ErrInitNotFound = errors.New("init not found")
	// ErrMount is a mount step of the init child that failed.
	ErrMount = errors.New("mount failed")
	// ErrInotify is a boot refused for want of inotify instances
	// (InotifyError).
	ErrInotify = errors.New("too few inotify instances")
)

// ExecError is an exec whose command did not run: a step before it failed
// inside the container (a working directory that is not there, a command
// not found). Status is what `containerctl exec` exits with: 127, or 126
// for a command that cannot be executed, as shells do.
type ExecError struct {
	Status int
	Err    error
}

func (e *ExecError) Error() string { return e.Err.Error() }

func (e *ExecError) Unwrap() error { return e.Err }
