package cgroup

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"time"

	"golang.org/x/sys/unix"
)

// Destroy kills what is left and removes the cgroup, and the parents
// containerctl manages once they are empty. The Cgroup is done with after.
func (c *Cgroup) Destroy() error {
	if c.dir != nil {
		c.dir.Close()
		c.dir = nil
	}
	err := killDirs(c.killTargets(), 5*time.Second)
	// Only the container's own cgroups are removed with what is below
	// them; a parent is shared with other containers and is removed, not
	// emptied, once nothing else uses it.
	for _, k := range c.keys() {
		d := c.abs(k, c.paths[k])
		// The guest's cgroup first, the one child there most often is:
		// an rmdir of the container's that fails costs as much as one
		// that works (40 us in a v1 hierarchy here, twice per
		// hierarchy). Whatever else is left, removeTree finds.
		_ = unix.Rmdir(filepath.Join(d, guestName))
		if rerr := removeTree(d); rerr != nil {
			err = errors.Join(err, rerr)
		}
	}
	// rmdir, not os.Remove, which tries unlink(2) first.
	for i := len(c.parents) - 1; i >= 0; i-- {
		_ = unix.Rmdir(c.abs(c.parents[i].key, c.parents[i].rel)) // busy while another container uses it
	}
	for _, p := range c.managed {
		// One this start made was tried above: busy or gone now.
		if !slices.Contains(c.parents, p) {
			_ = unix.Rmdir(c.abs(p.key, p.rel))
		}
	}
	c.paths, c.parents, c.managed = nil, nil, nil
	closeRoots(c.roots)
	c.roots = nil
	return err
}

// Remove kills and removes the cgroups of a record, as left by a container
// whose supervisor died, and the parents it names once they are empty. A
// hierarchy the host has not mounted is reached by a detached mount again;
// one that is gone took its cgroups with it.
func Remove(r Record) error {
	if r.Empty() {
		return nil
	}
	c, err := Open(r)
	if c == nil {
		return err
	}
	if r.Planned {
		return errors.Join(err, c.removeEmpty())
	}
	return errors.Join(err, c.Destroy())
}

// removeEmpty removes the cgroups of a planned record (Record.Planned)
// where they are empty, the guest's first, and the managed parents once
// empty: it kills nothing, for a path there may be another's.
func (c *Cgroup) removeEmpty() error {
	for _, k := range c.keys() {
		d := c.abs(k, c.paths[k])
		_ = unix.Rmdir(filepath.Join(d, guestName))
		_ = unix.Rmdir(d) // EBUSY: in use, not ours to remove
	}
	for _, p := range c.managed {
		_ = unix.Rmdir(c.abs(p.key, p.rel))
	}
	c.paths, c.managed = nil, nil
	closeRoots(c.roots)
	c.roots = nil
	return nil
}

// Open finds the cgroups of a record again, for a supervisor that resumes
// watching its container after an exec (runtime/monitor_linux.go) to kill
// and destroy them as it would have. The cgroups that are gone, and the
// parents named that are not the record's own to remove, are left out. It
// returns the cgroup with what it found even when part of the record was
// refused, and then an error too; nil only when the hierarchies cannot be
// found at all.
func Open(r Record) (*Cgroup, error) {
	l, err := DetectLayout()
	if err != nil {
		return nil, fmt.Errorf("find cgroup hierarchies: %w", err)
	}
	c := &Cgroup{roots: map[string]*root{}, paths: map[string]string{}}
	var errs []error
	for _, rc := range r.Cgroups {
		h, ok := l.Hierarchy(rc.Hierarchy)
		if !ok {
			continue
		}
		if err := checkPath(rc.Path); err != nil {
			errs = append(errs, fmt.Errorf("record of hierarchy %s: %w", rc.Hierarchy, err))
			continue
		}
		root, err := openRoot(h)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		c.roots[h.Key] = root
		// A path may be gone already: removed by systemd with a unit's
		// cgroup, or by another cleanup.
		if _, err := os.Stat(c.abs(h.Key, rc.Path)); err == nil {
			c.paths[h.Key] = rc.Path
		}
		for _, p := range rc.Parents {
			if checkPath(p) == nil {
				c.managed = append(c.managed, dir{h.Key, p})
			}
		}
	}
	return c, errors.Join(errs...)
}

// removeTree removes the cgroup at dir and any the container made below it,
// deepest first (rmdir is the only way to remove a cgroup, and fails while
// it has children), by a walk relative to directory fds (walk): the guest's
// tree may be deeper than any path can name.
func removeTree(dir string) error {
	// Most often the cgroup is empty, or its one child is: try rmdir
	// first, and read the directory (dozens of control files) only when
	// that fails. EBUSY is both "has children" and "not yet empty".
	switch err := unix.Rmdir(dir); {
	case err == nil, errors.Is(err, unix.ENOENT):
		return nil
	case !errors.Is(err, unix.EBUSY) && !errors.Is(err, unix.ENOTEMPTY):
		return fmt.Errorf("remove cgroup %s: %w", dir, err)
	}
	fd, err := openDir(dir)
	if errors.Is(err, unix.ENOENT) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("remove cgroup %s: %w", dir, err)
	}
	// A cgroup stays busy (EBUSY) until its last exited process is
	// reaped, which its new parent may do a moment after cgroup.events
	// said it was empty; the kernel sends no event for that, so rmdir is
	// tried again for a short while: two seconds for the whole tree, not
	// for each of its cgroups.
	deadline := time.Now().Add(2 * time.Second)
	rmdir := func(parent int, name string) error {
		for {
			err := unix.Unlinkat(parent, name, unix.AT_REMOVEDIR)
			if err == nil || errors.Is(err, unix.ENOENT) {
				return nil
			}
			if !errors.Is(err, unix.EBUSY) || time.Now().After(deadline) {
				return err
			}
			time.Sleep(5 * time.Millisecond)
		}
	}
	var errs []error
	fd, err = walk(fd, 0, nil, func(parent int, name string) error {
		if err := rmdir(parent, name); err != nil {
			// One line, however deep: the guest chose the names.
			return fmt.Errorf("a cgroup below it: %w", err)
		}
		return nil
	})
	if fd >= 0 {
		unix.Close(fd)
	}
	if err != nil {
		errs = append(errs, err)
	}
	for {
		err := unix.Rmdir(dir)
		if err == nil || errors.Is(err, unix.ENOENT) {
			break
		}
		if !errors.Is(err, unix.EBUSY) || time.Now().After(deadline) {
			errs = append(errs, err)
			break
		}
		time.Sleep(5 * time.Millisecond)
	}
	if len(errs) > 0 {
		return fmt.Errorf("remove cgroup %s: %w", dir, firstErr(errs))
	}
	return nil
}

// firstErr is the first of errs with how many more there were: a tree of
// thousands of cgroups that cannot go gives one line, not thousands.
func firstErr(errs []error) error {
	var all []error
	for _, e := range errs {
		all = append(all, flatten(e)...)
	}
	if len(all) <= 1 {
		return errors.Join(all...)
	}
	return fmt.Errorf("%w (and %d more)", all[0], len(all)-1)
}

// flatten lists the errors an errors.Join holds.
func flatten(err error) []error {
	if j, ok := err.(interface{ Unwrap() []error }); ok {
		var out []error
		for _, e := range j.Unwrap() {
			out = append(out, flatten(e)...)
		}
		return out
	}
	if err == nil {
		return nil
	}
	return []error{err}
}
