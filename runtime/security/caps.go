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

// Capabilities is a compiled capability section: plain data, each set the
// numbers of its capabilities, ascending.
type Capabilities struct {
	Bounding    []int `json:"bounding"`
	Effective   []int `json:"effective,omitempty"`
	Permitted   []int `json:"permitted,omitempty"`
	Inheritable []int `json:"inheritable,omitempty"`
	Ambient     []int `json:"ambient,omitempty"`
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

// CompileCapabilities checks the spec's five sets, as the init will set
// them before its exec (capabilities(7) then decides what the exec keeps:
// a root init gets the bounding set, a non-root one its ambient set). Sets
// the kernel would refuse are refused here, with the set's name: effective
// beyond permitted, ambient beyond permitted and inheritable; so is an
// inheritable set beyond the bounding set, which root would get through
// exec past the bounding set.
func CompileCapabilities(c *specs.LinuxCapabilities) (*Capabilities, error) {
	if c == nil {
		return nil, nil
	}
	var out Capabilities
	for _, s := range []struct {
		name  string
		names []string
		to    *[]int
	}{
		{"bounding", c.Bounding, &out.Bounding},
		{"effective", c.Effective, &out.Effective},
		{"permitted", c.Permitted, &out.Permitted},
		{"inheritable", c.Inheritable, &out.Inheritable},
		{"ambient", c.Ambient, &out.Ambient},
	} {
		set, err := capSet(s.name, s.names)
		if err != nil {
			return nil, err
		}
		*s.to = set
	}
	for _, r := range []struct {
		set, within []int
		msg         string
	}{
		{out.Effective, out.Permitted, "effective: %s is not in the permitted set"},
		{out.Inheritable, out.Bounding, "inheritable: %s is not in the bounding set"},
		{out.Ambient, out.Permitted, "ambient: %s is not in the permitted set"},
		{out.Ambient, out.Inheritable, "ambient: %s is not in the inheritable set"},
	} {
		for _, n := range r.set {
			if !slices.Contains(r.within, n) {
				return nil, fmt.Errorf("process.capabilities."+r.msg+": %w", CapabilityName(n), ErrInvalidSet)
			}
		}
	}
	return &out, nil
}

// CapabilityName is the spec's name of capability number n (CAP_CHOWN).
func CapabilityName(n int) string { return "CAP_" + strings.ToUpper(capability.Cap(n).String()) }

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
