package network

import "errors"

var (
	// ErrInvalid is a network setting that cannot be executed: a bad
	// address or port, settings that contradict each other.
	ErrInvalid = errors.New("invalid network settings")
	// ErrHost is a setting the host cannot satisfy: a bridge or an
	// interface that is not there, a link name another link holds.
	ErrHost = errors.New("network settings do not fit the host")
)
