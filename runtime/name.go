package runtime

import (
	"fmt"
	"strconv"
)

// MaxNameLen is the longest container name accepted, as for machine names
// (systemd's hostname_is_valid with a 64 character limit).
const MaxNameLen = 64

// ValidateName checks that name is a valid machine name: letters, digits,
// '-', '_' and '.', at most MaxNameLen characters, not starting with '.' or
// '-'. The name becomes a path component under the state directory and the
// default root, so this runs before anything touches the disk.
func ValidateName(name string) error {
	switch {
	case name == "":
		return fmt.Errorf("%w: empty", ErrInvalidName)
	case len(name) > MaxNameLen:
		return fmt.Errorf("%w %q: longer than %d characters", ErrInvalidName, name, MaxNameLen)
	case name[0] == '.' || name[0] == '-':
		return fmt.Errorf("%w %q: must not start with %q", ErrInvalidName, name, name[0])
	}
	for _, c := range name {
		switch {
		case c >= 'a' && c <= 'z', c >= 'A' && c <= 'Z', c >= '0' && c <= '9',
			c == '-', c == '_', c == '.':
		default:
			return fmt.Errorf("%w %q: character %q is not allowed (letters, digits, '-', '_', '.')", ErrInvalidName, name, c)
		}
	}
	return nil
}

// DisplayName is the name as errors print it: quoted when it is not a
// valid name, so that a newline or a control character cannot forge a
// second line.
func DisplayName(name string) string {
	if ValidateName(name) != nil {
		return strconv.Quote(name)
	}
	return name
}
