package cgroup

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"golang.org/x/sys/unix"
)

// DetectLayout finds the host's hierarchies: every one the kernel has, from
// /proc/self/cgroup and /proc/cgroups, and where the host mounts each, from
// /proc/self/mountinfo.
func DetectLayout() (Layout, error) {
	own, err := readOwn()
	if err != nil {
		return Layout{}, err
	}
	f, err := os.Open("/proc/cgroups")
	if err != nil {
		return Layout{}, err
	}
	ctrls, err := parseControllers(f)
	f.Close()
	if err != nil {
		return Layout{}, fmt.Errorf("/proc/cgroups: %w", err)
	}
	mi, err := os.Open("/proc/self/mountinfo")
	if err != nil {
		return Layout{}, err
	}
	defer mi.Close()
	l, err := parseLayout(mi, own, ctrls)
	if err != nil {
		return Layout{}, fmt.Errorf("mountinfo: %w", err)
	}
	// What the plan needs to know of the roots, read once here.
	if h, ok := l.Hierarchy(UnifiedKey); ok {
		err := withRoot(h, func(dir string) error {
			b, err := readFile(filepath.Join(dir, "cgroup.controllers"))
			l.Controllers = strings.Fields(string(b))
			return err
		})
		if err != nil {
			return Layout{}, err
		}
	}
	if h, ok := l.v1("blkio"); ok {
		err := withRoot(h, func(dir string) error {
			for _, f := range []string{"blkio.weight", "blkio.bfq.weight"} {
				if _, err := os.Stat(filepath.Join(dir, f)); err == nil {
					l.BlkioWeight = f
					break
				}
			}
			return nil
		})
		if err != nil {
			return Layout{}, err
		}
	}
	return l, nil
}

func readOwn() ([]ownLine, error) {
	f, err := os.Open("/proc/self/cgroup")
	if err != nil {
		return nil, err
	}
	defer f.Close()
	own, err := parseOwn(f)
	if err != nil {
		return nil, fmt.Errorf("/proc/self/cgroup: %w", err)
	}
	return own, nil
}

// root is a hierarchy's root as the supervisor reaches it.
type root struct {
	h Hierarchy
	// dir is a path to it: the host's mount point, or /proc/self/fd/N of
	// the detached mount.
	dir string
	mnt *os.File // the detached mount, nil for the host's
}

// openRoot reaches h's root: where the host mounts it, or else through a
// detached mount of its own, which no mount table shows and which goes
// when closed. It must be a hierarchy the kernel has (the layout's): asked
// for one that has gone meanwhile, the kernel makes a new, empty one,
// which goes again with the mount.
func openRoot(h Hierarchy) (*root, error) {
	if h.Mount != "" {
		return &root{h: h, dir: h.Mount}, nil
	}
	fd, err := detachedMount(h)
	if err != nil {
		return nil, &HierarchyError{Key: h.Key, Err: err}
	}
	f := os.NewFile(uintptr(fd), "cgroup "+h.Key)
	return &root{h: h, dir: fmt.Sprintf("/proc/self/fd/%d", fd), mnt: f}, nil
}

func (r *root) close() {
	if r.mnt != nil {
		r.mnt.Close()
		r.mnt = nil
	}
}

// withRoot runs f on the root of h and closes it again.
func withRoot(h Hierarchy, f func(dir string) error) error {
	r, err := openRoot(h)
	if err != nil {
		return err
	}
	defer r.close()
	return f(r.dir)
}

// detachedMount mounts h with fsopen, fsconfig and fsmount, attached
// nowhere. A v1 hierarchy is named by its controllers (the exact set: the
// kernel refuses a subset with EBUSY) or by its name, as mount -o would.
func detachedMount(h Hierarchy) (int, error) {
	typ := "cgroup2"
	if h.V1() {
		typ = "cgroup"
	}
	fs, err := unix.Fsopen(typ, unix.FSOPEN_CLOEXEC)
	if err != nil {
		return -1, fmt.Errorf("fsopen %s: %w", typ, err)
	}
	defer unix.Close(fs)
	if h.V1() {
		for _, c := range h.Controllers {
			if err := unix.FsconfigSetFlag(fs, c); err != nil {
				return -1, fmt.Errorf("fsconfig %s: %w", c, err)
			}
		}
		if len(h.Controllers) == 0 {
			if err := unix.FsconfigSetFlag(fs, "none"); err != nil {
				return -1, fmt.Errorf("fsconfig none: %w", err)
			}
		}
		if h.Name != "" {
			if err := unix.FsconfigSetString(fs, "name", h.Name); err != nil {
				return -1, fmt.Errorf("fsconfig name=%s: %w", h.Name, err)
			}
		}
	}
	if err := unix.FsconfigCreate(fs); err != nil {
		return -1, fmt.Errorf("fsconfig create: %w", err)
	}
	m, err := unix.Fsmount(fs, unix.FSMOUNT_CLOEXEC, unix.MOUNT_ATTR_NOSUID|unix.MOUNT_ATTR_NODEV|unix.MOUNT_ATTR_NOEXEC)
	if err != nil {
		return -1, fmt.Errorf("fsmount: %w", err)
	}
	return m, nil
}

// openRoots reaches every hierarchy of l; on an error it closes those it
// opened.
func openRoots(l Layout) (map[string]*root, error) {
	roots := map[string]*root{}
	for _, h := range l.Hierarchies {
		r, err := openRoot(h)
		if err != nil {
			closeRoots(roots)
			return nil, err
		}
		roots[h.Key] = r
	}
	return roots, nil
}

func closeRoots(roots map[string]*root) {
	for _, r := range roots {
		r.close()
	}
}
