package cgroup

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"golang.org/x/sys/unix"
)

// targets are the directories a kill works on: the cgroup2 one, which has
// cgroup.kill and cgroup.events; the v1 freezer's, to freeze without it;
// and any, to list the processes where neither is.
type targets struct{ unified, freezer, any string }

// killDirs kills every process in the cgroup and waits up to timeout until
// it is empty.
func killDirs(t targets, timeout time.Duration) error {
	if t.any == "" {
		return nil
	}
	watch := t.any
	if t.unified != "" {
		watch = t.unified
		err := writeFile(filepath.Join(t.unified, "cgroup.kill"), "1")
		if err == nil {
			// A task the guest froze in a v1 freezer cgroup of its own
			// acts on SIGKILL only once thawed.
			if err := thawTree(t.freezer); err != nil {
				return err
			}
			return waitEmpty(t.unified, timeout)
		}
		if !errors.Is(err, os.ErrNotExist) {
			return err
		}
	}
	thaw := func() error { return nil }
	if t.freezer != "" {
		if err := writeFile(filepath.Join(t.freezer, "freezer.state"), "FROZEN"); err != nil {
			return err
		}
		thaw = func() error { return writeFile(filepath.Join(t.freezer, "freezer.state"), "THAWED") }
	} else if t.unified != "" {
		if err := writeFile(filepath.Join(t.unified, "cgroup.freeze"), "1"); err == nil {
			thaw = func() error { return writeFile(filepath.Join(t.unified, "cgroup.freeze"), "0") }
		}
	}
	procs, err := treeProcs(t.any)
	if errors.Is(err, os.ErrNotExist) {
		return thaw()
	}
	if err != nil {
		_ = thaw()
		return err
	}
	for _, pid := range procs {
		_ = unix.Kill(pid, unix.SIGKILL)
	}
	// Killed processes die only once thawed: ours, and whatever the guest
	// froze below it.
	if err := thaw(); err != nil {
		return err
	}
	if err := thawTree(t.freezer); err != nil {
		return err
	}
	return waitEmpty(watch, timeout)
}

// thawTree thaws every v1 freezer cgroup below dir ("" for none): the
// guest may have frozen some of its own (freezer.self_freezing), which a
// thaw of the container's cgroup leaves frozen, and a frozen task never
// dies of the SIGKILL it was sent.
func thawTree(dir string) error {
	if dir == "" {
		return nil
	}
	fd, err := openDir(dir)
	if errors.Is(err, unix.ENOENT) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("thaw the cgroups below %s: %w", dir, err)
	}
	fd, err = walk(fd, 0, func(fd, depth int) error {
		if depth == 0 {
			return nil
		}
		if err := writeFileAt(fd, "freezer.state", "THAWED"); err != nil && !errors.Is(err, unix.ENOENT) {
			return fmt.Errorf("a cgroup %d levels down: %w", depth, err)
		}
		return nil
	}, nil)
	if fd >= 0 {
		unix.Close(fd)
	}
	if err != nil {
		// One line, however many of the guest's cgroups failed.
		return fmt.Errorf("thaw the cgroups below %s: %w", dir, firstErr([]error{err}))
	}
	return nil
}

// waitEmpty waits until the cgroup at p has no process; a zero timeout
// does not wait. A cgroup2 cgroup says so in cgroup.events, which the
// kernel signals (inotify IN_MODIFY) when it changes; v1 has no such file
// (its only notice, release_agent, is the host's), so there the processes
// are counted again every few milliseconds.
func waitEmpty(p string, timeout time.Duration) error {
	if timeout <= 0 {
		return nil
	}
	deadline := time.Now().Add(timeout)
	if _, err := os.Stat(filepath.Join(p, "cgroup.events")); err == nil {
		return waitEvents(p, deadline, timeout)
	}
	for {
		procs, err := treeProcs(p)
		if errors.Is(err, os.ErrNotExist) || err == nil && len(procs) == 0 {
			return nil
		}
		if err != nil {
			return err
		}
		if time.Now().After(deadline) {
			return stillThere(p, procs, timeout)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

func stillThere(p string, procs []int, timeout time.Duration) error {
	return fmt.Errorf("cgroup %s: processes %v still there %v after SIGKILL", p, procs, timeout)
}

// waitEvents waits for "populated 0" in the cgroup2 cgroup.events of p,
// which covers the cgroups below it too.
func waitEvents(p string, deadline time.Time, timeout time.Duration) error {
	events := filepath.Join(p, "cgroup.events")
	if b, err := readFile(events); errors.Is(err, os.ErrNotExist) || err == nil && !populated(b) {
		return nil
	}
	in, err := unix.InotifyInit1(unix.IN_CLOEXEC | unix.IN_NONBLOCK)
	if err != nil {
		return fmt.Errorf("inotify: %w", err)
	}
	// Closing an inotify instance waits for an SRCU grace period, some
	// milliseconds: not for the caller to wait on.
	defer func() { go unix.Close(in) }()
	if _, err := unix.InotifyAddWatch(in, events, unix.IN_MODIFY); err != nil {
		if errors.Is(err, unix.ENOENT) {
			return nil
		}
		return fmt.Errorf("watch %s: %w", events, err)
	}
	buf := make([]byte, 4096)
	for {
		// Read after the watch is set, so that no change is missed.
		b, err := readFile(events)
		if errors.Is(err, os.ErrNotExist) {
			return nil
		}
		if err != nil {
			return err
		}
		if !populated(b) {
			return nil
		}
		left := time.Until(deadline)
		if left <= 0 {
			procs, _ := treeProcs(p)
			return stillThere(p, procs, timeout)
		}
		fds := []unix.PollFd{{Fd: int32(in), Events: unix.POLLIN}}
		if _, err := unix.Poll(fds, int(left/time.Millisecond)+1); err != nil && !errors.Is(err, unix.EINTR) {
			return fmt.Errorf("poll %s: %w", events, err)
		}
		for {
			if _, err := unix.Read(in, buf); err != nil {
				break // EAGAIN: drained
			}
		}
	}
}

// populated reads cgroup.events text.
func populated(events []byte) bool {
	v, ok := keyedValue(events, "populated")
	return ok && v != "0"
}

// treeProcs lists the processes in the cgroup at dir and below it.
func treeProcs(dir string) ([]int, error) {
	fd, err := openDir(dir)
	if err != nil {
		return nil, &os.PathError{Op: "open", Path: dir, Err: err}
	}
	var pids []int
	fd, err = walk(fd, 0, func(fd, depth int) error {
		p, err := readProcsAt(fd, "cgroup.procs")
		if errors.Is(err, unix.ENOENT) && depth > 0 {
			return nil // gone meanwhile
		}
		pids = append(pids, p...)
		return err
	}, nil)
	if fd >= 0 {
		unix.Close(fd)
	}
	if err != nil {
		return nil, fmt.Errorf("list the processes of %s: %w", dir, firstErr([]error{err}))
	}
	return pids, nil
}

func readProcs(dir string) ([]int, error) {
	return readProcsAt(unix.AT_FDCWD, filepath.Join(dir, "cgroup.procs"))
}

// readProcsAt reads the cgroup.procs file name in the directory dirfd.
func readProcsAt(dirfd int, name string) ([]int, error) {
	b, err := readFileAt(dirfd, name)
	if err != nil {
		return nil, err
	}
	var pids []int
	for _, f := range strings.Fields(string(b)) {
		if pid, err := strconv.Atoi(f); err == nil {
			pids = append(pids, pid)
		}
	}
	return pids, nil
}
