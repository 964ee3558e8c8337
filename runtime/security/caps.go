package security

import (
	"fmt"
	"slices"
	"strings"

	"github.com/moby/sys/capability"
	specs "github.com/opencontainers/runtime-spec/specs-go"
)

// DefaultCapabilities is systemd-nspawn's default bounding set for a
// container (systemd-nspawn(1), --capability=). It keeps what a booted
// system needs and drops what reaches past the container: loading kernel
// modules, raw I/O (debugfs, tracefs), the clock, network administration of
// a shared network namespace, and the like.
var DefaultCapabilities = []string{
	"CAP_AUDIT_CONTROL", "CAP_AUDIT_WRITE", "CAP_CHOWN", "CAP_DAC_OVERRIDE",
	"CAP_DAC_READ_SEARCH", "CAP_FOWNER", "CAP_FSETID", "CAP_IPC_OWNER",
	"CAP_KILL", "CAP_LEASE", "CAP_LINUX_IMMUTABLE", "CAP_MKNOD",
	"CAP_NET_BIND_SERVICE", "CAP_NET_BROADCAST", "CAP_NET_RAW", "CAP_SETFCAP",
	"CAP_SETGID", "CAP_SETPCAP", "CAP_SETUID", "CAP_SYS_ADMIN", "CAP_SYS_BOOT",
	"CAP_SYS_CHROOT", "CAP_SYS_NICE", "CAP_SYS_PTRACE", "CAP_SYS_RESOURCE",
	"CAP_SYS_TTY_CONFIG",
}

// Capabilities is a compiled capability section: plain data.
type Capabilities struct {
	// Bounding are the numbers of the bounding set, ascending.
	Bounding []int `json:"bounding"`
}

// ParseCapability checks a capability name, with or without its CAP_
// prefix, in any case, and returns it in the spec's form ("CAP_NET_ADMIN").
// The names are moby/sys/capability's, so a newer kernel's are known.
func ParseCapability(s string) (string, error) {
	if _, err := capNumber(s); err != nil {
		return "", err
	}
	name := strings.ToUpper(s)
	if !strings.HasPrefix(name, "CAP_") {
		name = "CAP_" + name
	}
	return name, nil
}

// capNumber is the number of a capability name, with or without CAP_.
func capNumber(s string) (int, error) {
	name := strings.TrimPrefix(strings.ToLower(s), "cap_")
	for _, c := range capability.ListKnown() {
		if c.String() == name {
			return int(c), nil
		}
	}
	return 0, fmt.Errorf("capability %q: %w", s, ErrUnknownName)
}

// CompileCapabilities checks the spec's five sets. It executes the bounding
// set exactly and empties the inheritable and ambient sets; the init runs
// as root, so after exec its permitted and effective sets are the bounding
// set (capabilities(7)). Effective and permitted are therefore accepted only
// when they are the bounding set, and inheritable and ambient only empty.
func CompileCapabilities(c *specs.LinuxCapabilities) (*Capabilities, error) {
	if c == nil {
		return nil, nil
	}
	bounding, err := capSet("bounding", c.Bounding)
	if err != nil {
		return nil, err
	}
	for _, s := range []struct {
		name  string
		names []string
		want  []int
	}{
		{"effective", c.Effective, bounding},
		{"permitted", c.Permitted, bounding},
		{"inheritable", c.Inheritable, nil},
		{"ambient", c.Ambient, nil},
	} {
		set, err := capSet(s.name, s.names)
		if err != nil {
			return nil, err
		}
		if !slices.Equal(set, s.want) {
			if s.want == nil {
				return nil, fmt.Errorf("process.capabilities.%s: a set that is not empty: %w", s.name, ErrUnsupported)
			}
			return nil, fmt.Errorf("process.capabilities.%s: a set other than the bounding set: %w", s.name, ErrUnsupported)
		}
	}
	return &Capabilities{Bounding: bounding}, nil
}

// capSet turns names into sorted, distinct numbers (nil for none).
func capSet(set string, names []string) ([]int, error) {
	var nums []int
	for _, n := range names {
		nr, err := capNumber(n)
		if err != nil {
			return nil, fmt.Errorf("process.capabilities.%s: %w", set, err)
		}
		nums = append(nums, nr)
	}
	slices.Sort(nums)
	return slices.Compact(nums), nil
}
