package cgroup

import (
	"errors"
	"fmt"
)

var (
	// ErrInvalidPath is a cgroups path (--cgroup-parent) that is not an
	// absolute, clean path below the root.
	ErrInvalidPath = errors.New("invalid cgroup path")
	// ErrUnsupported is a limit this host's controllers cannot enforce.
	ErrUnsupported = errors.New("limit not supported on this host")
	// ErrInUse is a container's cgroup that already holds processes.
	ErrInUse = errors.New("cgroup in use")
	// ErrNotOwned is a parent cgroup that does not pass a controller
	// down and that containerctl may not change.
	ErrNotOwned = errors.New("cgroup not owned by containerctl")
	// ErrDevicesUnrestricted is device rules that nothing can enforce:
	// neither a cgroup2 device filter nor a v1 devices controller.
	ErrDevicesUnrestricted = errors.New("device access cannot be restricted")
)

// UnsupportedError is a limit this host cannot enforce, and why.
type UnsupportedError struct {
	Limit  string // as systemd or cgroup v2 names it: "memory limit (MemoryMax)", "io.weight"
	Reason string
}

func (e *UnsupportedError) Error() string { return e.Limit + ": " + e.Reason }

// Is matches ErrUnsupported.
func (e *UnsupportedError) Is(target error) bool { return target == ErrUnsupported }

// HierarchyError is a failure to reach a hierarchy's root.
type HierarchyError struct {
	Key string // the hierarchy, as Hierarchy.Key
	Err error
}

func (e *HierarchyError) Error() string { return fmt.Sprintf("cgroup hierarchy %s: %v", e.Key, e.Err) }

func (e *HierarchyError) Unwrap() error { return e.Err }
