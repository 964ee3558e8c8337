package runtime

import (
	"fmt"
	"strings"
)

// capNames are the capabilities by number (capability.h, up to Linux 5.9's
// CAP_CHECKPOINT_RESTORE).
var capNames = []string{
	"CAP_CHOWN", "CAP_DAC_OVERRIDE", "CAP_DAC_READ_SEARCH", "CAP_FOWNER",
	"CAP_FSETID", "CAP_KILL", "CAP_SETGID", "CAP_SETUID", "CAP_SETPCAP",
	"CAP_LINUX_IMMUTABLE", "CAP_NET_BIND_SERVICE", "CAP_NET_BROADCAST",
	"CAP_NET_ADMIN", "CAP_NET_RAW", "CAP_IPC_LOCK", "CAP_IPC_OWNER",
	"CAP_SYS_MODULE", "CAP_SYS_RAWIO", "CAP_SYS_CHROOT", "CAP_SYS_PTRACE",
	"CAP_SYS_PACCT", "CAP_SYS_ADMIN", "CAP_SYS_BOOT", "CAP_SYS_NICE",
	"CAP_SYS_RESOURCE", "CAP_SYS_TIME", "CAP_SYS_TTY_CONFIG", "CAP_MKNOD",
	"CAP_LEASE", "CAP_AUDIT_WRITE", "CAP_AUDIT_CONTROL", "CAP_SETFCAP",
	"CAP_MAC_OVERRIDE", "CAP_MAC_ADMIN", "CAP_SYSLOG", "CAP_WAKE_ALARM",
	"CAP_BLOCK_SUSPEND", "CAP_AUDIT_READ", "CAP_PERFMON", "CAP_BPF",
	"CAP_CHECKPOINT_RESTORE",
}

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

// ParseCapability checks a capability name, with or without its CAP_
// prefix, in any case, and returns it in the spec's form ("CAP_NET_ADMIN").
func ParseCapability(s string) (string, error) {
	name := strings.ToUpper(s)
	if !strings.HasPrefix(name, "CAP_") {
		name = "CAP_" + name
	}
	for _, n := range capNames {
		if n == name {
			return n, nil
		}
	}
	return "", fmt.Errorf("unknown capability %q", s)
}

// capNumbers turns names into capability numbers.
func capNumbers(names []string) (map[int]bool, error) {
	nums := map[int]bool{}
	for _, name := range names {
		found := false
		for i, n := range capNames {
			if n == name {
				nums[i], found = true, true
				break
			}
		}
		if !found {
			return nil, fmt.Errorf("unknown capability %q", name)
		}
	}
	return nums, nil
}
