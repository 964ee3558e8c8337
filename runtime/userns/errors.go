package userns

import "errors"

var (
	// ErrInvalid is a --private-users or --private-users-ownership value
	// that is not one of the forms they take.
	ErrInvalid = errors.New("invalid private users setting")
	// ErrRangeTaken is an ID range that another running container, or a
	// user or group of the host, holds.
	ErrRangeTaken = errors.New("ID range taken")
	// ErrNoIDMap is a filesystem the kernel will not idmap (see
	// IDMapError).
	ErrNoIDMap = errors.New("idmapped mount refused")
)

// IDMapError is a tree the kernel refused to idmap, and why.
type IDMapError struct {
	Path string
	Err  error
}

func (e *IDMapError) Error() string {
	return "idmap " + e.Path + ": " + e.Err.Error() + " (the filesystem cannot be idmapped here; --private-users-ownership=chown shifts the root's owners once instead)"
}

func (e *IDMapError) Unwrap() []error { return []error{ErrNoIDMap, e.Err} }
