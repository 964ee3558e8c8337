package cgroup

import (
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"time"

	"golang.org/x/sys/unix"
)

// Cgroup is a container's cgroup in every hierarchy the host has.
type Cgroup struct {
	delegated bool
	// bpfDevices says the device rules are attached as a cgroup2 eBPF
	// program; deviceErr is why not, when they could not be.
	bpfDevices bool
	deviceErr  error
	roots      map[string]*root  // Hierarchy.Key -> its root, open while the cgroup lives
	paths      map[string]string // Hierarchy.Key -> the container's cgroup (with the limits), relative to the root
	parents    []dir             // parents Create made, in order
	managed    []dir             // parents to remove when empty
	dir        *os.File          // the guest's cgroup2 directory, for CLONE_INTO_CGROUP
}

// dir is a cgroup: a hierarchy and a path relative to its root.
type dir struct{ key, rel string }

// abs is a path to the cgroup rel of hierarchy key that the supervisor can
// open: below the host's mount point, or /proc/self/fd/N/... for a
// hierarchy only a detached mount reaches.
func (c *Cgroup) abs(key, rel string) string {
	return filepath.Join(c.roots[key].dir, rel)
}

// guestName is the guest's cgroup, below the container's. The guest may
// write anything in its cgroup namespace, whose root this is; the limits
// sit on the container's cgroup above it, out of its reach (as nspawn keeps
// them on the unit, above its payload).
const guestName = "guest"

// Path is the cgroup's directory in the cgroup2 hierarchy, or in a v1 one
// where there is none, for logs.
func (c *Cgroup) Path() string {
	keys := c.keys()
	if _, ok := c.paths[UnifiedKey]; ok {
		keys = []string{UnifiedKey}
	}
	if len(keys) == 0 {
		return ""
	}
	return c.abs(keys[0], c.paths[keys[0]])
}

func (c *Cgroup) keys() []string {
	var ks []string
	for k := range c.paths {
		ks = append(ks, k)
	}
	slices.Sort(ks)
	return ks
}

// Record is the cgroup as a crashed supervisor's reaper finds it again.
func (c *Cgroup) Record() Record {
	var r Record
	for _, k := range c.keys() {
		rc := RecordedCgroup{Hierarchy: k, Path: c.paths[k]}
		add := func(d dir) {
			if d.key == k && !slices.Contains(rc.Parents, d.rel) {
				rc.Parents = append(rc.Parents, d.rel)
			}
		}
		for i := len(c.parents) - 1; i >= 0; i-- {
			add(c.parents[i])
		}
		for _, d := range c.managed {
			add(d)
		}
		r.Cgroups = append(r.Cgroups, rc)
	}
	return r
}

// DevicesEnforced reports whether the spec's device rules are in force:
// through the cgroup2 eBPF device program, or the v1 devices controller,
// or both on a hybrid host; when not, the error says why.
func (c *Cgroup) DevicesEnforced() (bool, error) {
	return c.bpfDevices || c.v1Devices(), c.deviceErr
}

func (c *Cgroup) v1Devices() bool {
	for k := range c.paths {
		if r := c.roots[k]; r != nil && slices.Contains(r.h.Controllers, "devices") {
			return true
		}
	}
	return false
}

// Delegated reports whether the cgroup is below a systemd unit's delegated
// cgroup, which systemd removes when the unit stops.
func (c *Cgroup) Delegated() bool { return c.delegated }

// FD is the guest's cgroup2 directory's descriptor for CLONE_INTO_CGROUP
// (SysProcAttr.UseCgroupFD), or -1 where there is no cgroup2 hierarchy.
func (c *Cgroup) FD() int {
	if c.dir == nil {
		return -1
	}
	return int(c.dir.Fd())
}

// Add moves pid into the guest's cgroup in every hierarchy; cloned is true
// when the process was created inside the cgroup2 one already. Moving a
// process between v1 cgroups waits for an RCU grace period (about 10 ms
// here), which the init child spends setting up the root.
func (c *Cgroup) Add(pid int, cloned bool) error {
	for _, k := range c.keys() {
		if k == UnifiedKey && cloned {
			continue
		}
		p := filepath.Join(c.abs(k, c.paths[k]), guestName, "cgroup.procs")
		if err := writeFile(p, strconv.Itoa(pid)); err != nil {
			return err
		}
	}
	return nil
}

// Kill kills every process in the cgroup with SIGKILL and waits, up to
// timeout (zero: not at all), until it is empty. cgroup.kill (Linux 5.14)
// does it in one step and cannot miss a process that forks meanwhile;
// without it the processes are frozen first, so that none can fork while
// they are killed one by one.
func (c *Cgroup) Kill(timeout time.Duration) error {
	return killDirs(c.killTargets(), timeout)
}

func (c *Cgroup) killTargets() targets {
	var t targets
	for _, k := range c.keys() {
		p := c.abs(k, c.paths[k])
		switch {
		case k == UnifiedKey:
			t.unified = p
		case slices.Contains(c.roots[k].h.Controllers, "freezer"):
			t.freezer = p
		}
		if t.any == "" {
			t.any = p
		}
	}
	return t
}

// writeFile writes v to the cgroup file p in one write(2), as the kernel
// wants a control file's value. It and readFile use the syscalls directly:
// os.File puts every file it opens in Go's poller, and a cgroupfs file is
// pollable, which costs each access two fcntl and two epoll_ctl calls on
// top of its open, read or write and close (some 40 accesses a start).
func writeFile(p, v string) error { return writeFileAt(unix.AT_FDCWD, p, v) }

// writeFileAt is writeFile of the file p in the directory dirfd.
func writeFileAt(dirfd int, p, v string) error {
	// Without O_CREAT: cgroupfs cannot create a file, and asked to it
	// answers a missing one with EACCES, where callers look for ENOENT
	// (cgroup.kill before Linux 5.14, a freezer.state gone).
	fd, err := openCgroupFile(dirfd, p, unix.O_WRONLY)
	if err == nil {
		err = writeOnce(fd, []byte(v))
		if cerr := unix.Close(fd); err == nil {
			err = cerr
		}
	}
	if err != nil {
		return fmt.Errorf("write %q to %s: %w", v, p, err)
	}
	return nil
}

// writeOnce writes b in one write(2): a control file takes a value whole
// or refuses it (E2BIG past its limit), so a short write is an error.
func writeOnce(fd int, b []byte) error {
	for {
		n, err := unix.Write(fd, b)
		switch {
		case errors.Is(err, unix.EINTR):
			continue
		case err != nil:
			return err
		case n < len(b):
			return io.ErrShortWrite
		}
		return nil
	}
}

// readFile reads the cgroup (or proc) file p whole. Its errors are
// *os.PathError, as os.ReadFile's.
func readFile(p string) ([]byte, error) { return readFileAt(unix.AT_FDCWD, p) }

// readFileAt is readFile of the file p in the directory dirfd.
func readFileAt(dirfd int, p string) ([]byte, error) {
	fd, err := openCgroupFile(dirfd, p, unix.O_RDONLY)
	if err != nil {
		return nil, &os.PathError{Op: "open", Path: p, Err: err}
	}
	defer unix.Close(fd)
	b := make([]byte, 0, 512)
	for {
		if len(b) == cap(b) {
			b = append(b, 0)[:len(b)]
		}
		n, err := unix.Read(fd, b[len(b):cap(b)])
		if errors.Is(err, unix.EINTR) {
			continue
		}
		if err != nil {
			return nil, &os.PathError{Op: "read", Path: p, Err: err}
		}
		if n == 0 {
			return b, nil
		}
		b = b[:len(b)+n]
	}
}

func openCgroupFile(dirfd int, p string, flags int) (int, error) {
	if dirfd != unix.AT_FDCWD {
		// A name in a directory the walk reached (walk_linux.go): a
		// control file, never a link.
		flags |= unix.O_NOFOLLOW
	}
	for {
		fd, err := unix.Openat(dirfd, p, flags|unix.O_CLOEXEC, 0)
		if !errors.Is(err, unix.EINTR) {
			return fd, err
		}
	}
}

// OOMKills is how many processes the memory controller's OOM killer has
// killed in the container's cgroup and below it: memory.events' oom_kill
// on cgroup2, which counts the tree; on v1 memory.oom_control's (Linux
// 4.13), which counts the cgroup the victim was in, summed over the tree.
// -1 when neither says.
func (c *Cgroup) OOMKills() int {
	n := -1
	for _, k := range c.keys() {
		if !slices.Contains(c.roots[k].h.Controllers, "memory") {
			continue
		}
		dir := c.abs(k, c.paths[k])
		if k == UnifiedKey {
			if b, err := readFile(filepath.Join(dir, "memory.events")); err == nil {
				n = max(n, oomKill(b))
			}
			continue
		}
		fd, err := openDir(dir)
		if err != nil {
			continue
		}
		sum := -1
		fd, _ = walk(fd, 0, func(fd, depth int) error {
			if b, err := readFileAt(fd, "memory.oom_control"); err == nil {
				if v := oomKill(b); v >= 0 {
					sum = max(sum, 0) + v
				}
			}
			return nil
		}, nil)
		if fd >= 0 {
			unix.Close(fd)
		}
		n = max(n, sum)
	}
	return n
}

// oomKill reads the "oom_kill N" line of memory.events or
// memory.oom_control (-1 without one).
func oomKill(b []byte) int {
	if v, ok := keyedValue(b, "oom_kill"); ok {
		if n, err := strconv.Atoi(v); err == nil {
			return n
		}
	}
	return -1
}

// keyedValue is key's value in a flat keyed control file ("KEY VALUE"
// lines: cgroup.events, memory.events, memory.oom_control).
func keyedValue(b []byte, key string) (string, bool) {
	for _, line := range strings.Split(string(b), "\n") {
		if k, v, ok := strings.Cut(line, " "); ok && k == key {
			return strings.TrimSpace(v), true
		}
	}
	return "", false
}
