package runtime

import (
	"fmt"
	"os"
	"path/filepath"
	"syscall"

	"golang.org/x/sys/unix"

	"github.com/containerctl/containerctl/runtime/security"
)

// setRlimits sets process.rlimits on the init child, which its exec keeps.
// Raising a hard limit takes CAP_SYS_RESOURCE in the host's user namespace.
func setRlimits(rl []Rlimit) error {
	for _, r := range rl {
		lim := unix.Rlimit{Cur: r.Soft, Max: r.Hard}
		if err := unix.Prlimit(0, r.Resource, &lim, nil); err != nil {
			return fmt.Errorf("process.rlimits: set %s to %d/%d: %w", r.Name, r.Soft, r.Hard, err)
		}
	}
	return nil
}

// writeSysctls writes linux.sysctl's values. The init child is in the
// container's namespaces already, and /proc/sys is the host's /proc here,
// before the pivot: its net, IPC and mqueue files are those of the
// writer's own namespaces.
func writeSysctls(sysctls []Sysctl) error {
	for _, s := range sysctls {
		p := filepath.Join("/proc/sys", s.Path)
		f, err := os.OpenFile(p, os.O_WRONLY|unix.O_NOFOLLOW|unix.O_CLOEXEC, 0)
		if err == nil {
			_, err = f.WriteString(s.Value)
			if cerr := f.Close(); err == nil {
				err = cerr
			}
		}
		if err != nil {
			return fmt.Errorf("linux.sysctl: write %q to %s: %w", s.Value, p, err)
		}
	}
	return nil
}

// setIdentity makes the init the spec's user, keeping its capabilities
// through the change (PR_SET_KEEPCAPS), and then sets its capability
// sets. Credentials are per thread in Linux, and this runs on the locked
// thread that then execs the init: execve(2) ends every other thread. The
// groups and PR_SET_KEEPCAPS are set on this thread alone, where Go's
// syscall.Setgroups would signal each of the init child's four to six
// threads (AllThreadsSyscall) at every start; the IDs, changed only for a
// user other than root, still go through syscall.Setres*id, whose numbers
// differ between architectures.
func setIdentity(u User, caps *security.Capabilities) error {
	// Always, as runc does: a root init would otherwise keep the
	// supplementary groups of whoever started containerctl, host
	// groups (disk, docker, ...) that the spec never gave it.
	groups := make([]int, len(u.AdditionalGids))
	for i, g := range u.AdditionalGids {
		groups[i] = int(g)
	}
	if err := unix.Setgroups(groups); err != nil {
		return fmt.Errorf("process.user: set additional groups %v: %w", u.AdditionalGids, err)
	}
	if u.changes() {
		if err := unix.Prctl(unix.PR_SET_KEEPCAPS, 1, 0, 0, 0); err != nil {
			return fmt.Errorf("process.user: keep capabilities: %w", err)
		}
		if err := syscall.Setresgid(int(u.GID), int(u.GID), int(u.GID)); err != nil {
			return fmt.Errorf("process.user: set gid %d: %w", u.GID, err)
		}
		if err := syscall.Setresuid(int(u.UID), int(u.UID), int(u.UID)); err != nil {
			return fmt.Errorf("process.user: set uid %d: %w", u.UID, err)
		}
		if err := unix.Prctl(unix.PR_SET_KEEPCAPS, 0, 0, 0, 0); err != nil {
			return fmt.Errorf("process.user: %w", err)
		}
	}
	return caps.ApplySets()
}
