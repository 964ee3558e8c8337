package cgroup

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"time"

	"golang.org/x/sys/unix"
)

// Leaf is a cgroup of its own below a running container's, beside the
// guest's, in every hierarchy the container has: what `containerctl exec`
// runs in. Being below the container's cgroup, it counts against the
// container's limits and dies with it (cgroup.kill of the container's
// cgroup, and the removal of its tree, cover it). It is outside the guest's
// cgroup namespace, whose root is the guest's cgroup, so the guest's
// systemd neither sees nor manages it.
type Leaf struct {
	roots map[string]*root
	paths map[string]string // Hierarchy.Key -> the leaf, relative to the root
	dir   *os.File          // the cgroup2 leaf, for CLONE_INTO_CGROUP
}

// CreateLeaf makes the leaf name below the recorded container's cgroup in
// every hierarchy of the record.
func CreateLeaf(r Record, name string) (_ *Leaf, retErr error) {
	if name == "" || name == guestName || name != filepath.Base(name) || name == "." || name == ".." {
		return nil, fmt.Errorf("%w: leaf name %q", ErrInvalidPath, name)
	}
	if r.Empty() {
		return nil, fmt.Errorf("the container's record names no cgroup")
	}
	l, err := DetectLayout()
	if err != nil {
		return nil, fmt.Errorf("find cgroup hierarchies: %w", err)
	}
	lf := &Leaf{roots: map[string]*root{}, paths: map[string]string{}}
	defer func() {
		if retErr != nil {
			_ = lf.Remove()
		}
	}()
	for _, rc := range r.Cgroups {
		h, ok := l.Hierarchy(rc.Hierarchy)
		if !ok {
			return nil, fmt.Errorf("cgroup hierarchy %s of the record: gone", rc.Hierarchy)
		}
		if err := checkPath(rc.Path); err != nil {
			return nil, fmt.Errorf("record of hierarchy %s: %w", rc.Hierarchy, err)
		}
		rt, err := openRoot(h)
		if err != nil {
			return nil, err
		}
		lf.roots[h.Key] = rt
		rel := filepath.Join(rc.Path, name)
		abs := filepath.Join(rt.dir, rel)
		if err := os.Mkdir(abs, 0o755); err != nil {
			return nil, fmt.Errorf("create cgroup %s: %w", abs, err)
		}
		lf.paths[h.Key] = rel
		if slices.Contains(h.Controllers, "cpuset") {
			c := &Cgroup{roots: lf.roots}
			if err := c.inheritCpuset(h.Key, rel); err != nil {
				return nil, err
			}
		}
		if h.Key == UnifiedKey {
			if lf.dir, err = os.Open(abs); err != nil {
				return nil, err
			}
		}
	}
	return lf, nil
}

// FD is the cgroup2 leaf's descriptor for CLONE_INTO_CGROUP, or -1 where
// there is no cgroup2 hierarchy.
func (l *Leaf) FD() int {
	if l.dir == nil {
		return -1
	}
	return int(l.dir.Fd())
}

// Add moves pid into the leaf in every hierarchy; cloned says it was
// created in the cgroup2 one already.
func (l *Leaf) Add(pid int, cloned bool) error {
	for k, rel := range l.paths {
		if k == UnifiedKey && cloned {
			continue
		}
		if err := writeFile(filepath.Join(l.roots[k].dir, rel, "cgroup.procs"), strconv.Itoa(pid)); err != nil {
			return err
		}
	}
	return nil
}

// Remove removes the leaf where it is empty. A leaf that still holds
// processes (a daemon the command left behind) is kept, with ErrInUse: it
// goes with the container's cgroup when the container stops.
func (l *Leaf) Remove() error {
	if l.dir != nil {
		l.dir.Close()
		l.dir = nil
	}
	var errs []error
	for k, rel := range l.paths {
		abs := filepath.Join(l.roots[k].dir, rel)
		if procs, err := readProcs(abs); err == nil && len(procs) > 0 {
			errs = append(errs, fmt.Errorf("cgroup %s: %w: holds processes %v", abs, ErrInUse, procs))
			continue
		}
		if err := rmdirEmpty(abs); err != nil {
			errs = append(errs, err)
		}
	}
	l.paths = nil
	closeRoots(l.roots)
	l.roots = nil
	return errors.Join(errs...)
}

// LeafSweepAge is how old an empty leaf must be for SweepLeaves.
const LeafSweepAge = 5 * time.Second

// SweepLeaves removes the empty leaves named prefix* below the recorded
// container's cgroup that are older than LeafSweepAge: those of detached execs
// (runc exec --detach, which containerd's shim uses for every exec, probes
// included) whose processes have exited, since nothing waits for them to
// remove theirs. A leaf still in use is busy and stays; one younger than
// LeafSweepAge may be a start that has not yet moved its process in (it
// does so within milliseconds of making the leaf).
func SweepLeaves(r Record, prefix string) {
	c, _ := Open(r) // what of the record can be found
	if c == nil {
		return
	}
	defer closeRoots(c.roots)
	for _, k := range c.keys() {
		dir := c.abs(k, c.paths[k])
		entries, _ := os.ReadDir(dir)
		for _, e := range entries {
			if !e.IsDir() || !strings.HasPrefix(e.Name(), prefix) {
				continue
			}
			if info, err := e.Info(); err == nil && time.Since(info.ModTime()) > LeafSweepAge {
				_ = unix.Rmdir(filepath.Join(dir, e.Name())) // EBUSY: in use
			}
		}
	}
}

// rmdirEmpty removes an empty cgroup; a process that has exited but is not
// yet reaped keeps it busy for a moment.
func rmdirEmpty(dir string) error {
	deadline := time.Now().Add(time.Second)
	for {
		err := os.Remove(dir)
		if err == nil || errors.Is(err, os.ErrNotExist) {
			return nil
		}
		if !errors.Is(err, unix.EBUSY) || time.Now().After(deadline) {
			return fmt.Errorf("remove cgroup %s: %w", dir, err)
		}
		time.Sleep(5 * time.Millisecond)
	}
}
