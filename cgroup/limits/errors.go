package limits

import (
	"errors"
	"fmt"
)

// ErrBadValue is a limit that cannot be parsed or is out of range.
var ErrBadValue = errors.New("bad value")

// Error is a bad value for a setting.
type Error struct {
	Setting string // systemd's name for it, "MemoryMax"; "" from ParseSize alone
	Value   string
	Reason  string // "unknown unit \"X\" (K, M, G, T, P, E)"
}

func (e *Error) Error() string {
	if e.Setting == "" {
		return fmt.Sprintf("%q: %s", e.Value, e.Reason)
	}
	return fmt.Sprintf("%s=%q: %s", e.Setting, e.Value, e.Reason)
}

// Is matches ErrBadValue.
func (e *Error) Is(target error) bool { return target == ErrBadValue }

func bad(s, format string, args ...any) error {
	return &Error{Value: s, Reason: fmt.Sprintf(format, args...)}
}

// named gives a value's error the setting it was for.
func named(setting string, err error) error {
	var e *Error
	if errors.As(err, &e) {
		c := *e
		c.Setting = setting
		return &c
	}
	return fmt.Errorf("%s: %w", setting, err)
}
