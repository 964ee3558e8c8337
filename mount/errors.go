package mount

import (
	"errors"
	"fmt"
)

// ErrRefused matches every error of Plan: the spec asks for a mount that
// containerctl does not carry out.
var ErrRefused = errors.New("mount refused")

// ErrSymlink and ErrDevice are an existing mount point that Apply will not
// bind a file on: a symbolic link could lead out of the root, and a device
// node is left by the root's image (a /dev without the spec's tmpfs), where
// a bind would silently stand in for it.
var (
	ErrSymlink = errors.New("a symbolic link")
	ErrDevice  = errors.New("a device node")
)

// RefusedError is a mount that Plan refuses, before anything is created. It
// matches ErrRefused.
type RefusedError struct {
	Mount  string // the mount, as "bind /srv on /run"
	Reason string
}

func (e *RefusedError) Error() string { return e.Mount + ": " + e.Reason }

// Is makes errors.Is(err, ErrRefused) true.
func (e *RefusedError) Is(target error) bool { return target == ErrRefused }

func refuse(mount, format string, args ...any) error {
	return &RefusedError{Mount: mount, Reason: fmt.Sprintf(format, args...)}
}

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
