package mount

import (
	"errors"
	"fmt"
)

// ErrSymlink and ErrDevice are an existing mount point that Apply will not
// bind a file on: a symbolic link could lead out of the root, and a device
// node is left by the root's image (a /dev without the spec's tmpfs), where
// a bind would silently stand in for it.
var (
	ErrSymlink = errors.New("a symbolic link")
	ErrDevice  = errors.New("a device node")
)

// Error is a failed mount(2), umount2(2), mount_setattr(2) or node creation,
// with what was asked for. It unwraps to the errno, so
// errors.Is(err, unix.ENOENT) works.
type Error struct {
	Op     string // "mount", "umount", "mknod", ...
	What   string // what the step was for: "read-only bind", "proc", ...
	Source string
	Target string
	FSType string
	Flags  uintptr
	Data   string
	Err    error
}

func (e *Error) Error() string {
	msg := e.Op
	if e.Source != "" {
		msg += " " + e.Source + " on"
	}
	msg += " " + e.Target
	if e.What != "" {
		msg += ": " + e.What
	}
	var detail string
	if e.FSType != "" {
		detail = "type " + e.FSType + ", "
	}
	if e.Flags != 0 {
		detail += FlagString(e.Flags) + ", "
	}
	if e.Data != "" {
		detail += e.Data + ", "
	}
	if detail != "" {
		msg += " (" + detail[:len(detail)-2] + ")"
	}
	return fmt.Sprintf("%s: %v", msg, e.Err)
}

func (e *Error) Unwrap() error { return e.Err }
