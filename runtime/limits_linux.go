package runtime

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

// InotifyPerSystem is how many inotify instances a booted system is
// counted for: a Debian 12 guest holds 8 once running (systemd 5, logind,
// dbus-daemon and a getty one each), a little more while it starts.
const InotifyPerSystem = 10

const inotifySysctl = "/proc/sys/fs/inotify/max_user_instances"

// InotifyError is a booted system refused for want of inotify instances.
// Every container without a user namespace runs as the host's root, so all
// of them share root's fs.inotify.max_user_instances (128 by default); past
// it a guest's systemd fails with "Too many open files", as 18 of 50
// systemd-nspawn guests did here.
type InotifyError struct {
	Limit, Used, Starting, Need int
}

func (e *InotifyError) Error() string {
	return fmt.Sprintf("fs.inotify.max_user_instances is %d and root uses %d (plus %d for %d systems still booting), "+
		"leaving fewer than the %d a booted system needs; raise it, e.g. sysctl -w fs.inotify.max_user_instances=%d",
		e.Limit, e.Used, e.Starting*InotifyPerSystem, e.Starting, e.Need, max(1024, 2*(e.Used+(e.Starting+1)*e.Need)))
}

// Is matches ErrInotify.
func (e *InotifyError) Is(target error) bool { return target == ErrInotify }

// checkInotify refuses to boot a system when root's inotify instances,
// those in use and those that systems still booting will take, leave fewer
// than it needs. rec is this container's record.
//
// The record is marked booting first, so that systems started at the same
// moment count each other; the notifier removes the mark once the guest is
// ready (or after a while: see listenNotify), and the record's removal
// takes it too.
func checkInotify(stateDir string, rec *record) error {
	if err := os.WriteFile(rec.path(bootingFile), nil, 0o600); err != nil {
		return err
	}
	b, err := os.ReadFile(inotifySysctl)
	if err != nil {
		return nil // no inotify in this kernel: nothing to run out of
	}
	limit, err := strconv.Atoi(strings.TrimSpace(string(b)))
	if err != nil {
		return fmt.Errorf("read %s: %w", inotifySysctl, err)
	}
	// A scan cut short (inotifyScanBudget) counts fewer than are in use:
	// a refusal from it stands, and otherwise the start goes on as it
	// would without this preflight.
	used, _ := rootInotifyInstances(time.Now().Add(inotifyScanBudget))
	starting := bootingOthers(stateDir, rec)
	if limit-used-starting*InotifyPerSystem < InotifyPerSystem {
		return &InotifyError{Limit: limit, Used: used, Starting: starting, Need: InotifyPerSystem}
	}
	return nil
}

// inotifyScanBudget bounds the preflight's scan of root's fd tables. A
// guest's root is the host's root without a user namespace, and may hold
// as many fds as its rlimits let it (here 20,000 a process): one process
// holding 19,000 made the scan take 53 ms here, and twenty such would
// add a second to every booted start on the host. Fifty booted guests
// hold some 4,500, which at 1.5 to 3 µs a link is 7 to 14 ms (an
// estimate: six guests, 780 fds, took 1.4 to 2.9 ms).
const inotifyScanBudget = 100 * time.Millisecond

// rootInotifyInstances counts the inotify instances held by root's
// processes (the limit is per user, charged to the effective UID that made
// each: /proc/PID's owner; its fd directory is root's even for a
// messagebus dbus-daemon). An instance shared by several descriptors is
// counted for each, which errs on the safe side.
//
// Every booted start reads every link in every root process's fd table:
// with 50 booted guests on the host, some 4,500. So the names are read
// unsorted, each link into one small buffer relative to its directory,
// and only root's directories are opened: 2.3 to 4.7 ms -> 1.4 to 2.9 ms
// with six booted guests here (780 fds).
//
// It stops at deadline, checked before each process, and then says that
// the count is not complete: a lower bound.
func rootInotifyInstances(deadline time.Time) (n int, complete bool) {
	proc, err := os.Open("/proc")
	if err != nil {
		return 0, true
	}
	defer proc.Close()
	pids, err := proc.Readdirnames(-1)
	if err != nil {
		return 0, true
	}
	// One byte more than a match: a longer link cannot pass for one.
	buf := make([]byte, len(inotifyLink)+1)
	for _, pid := range pids {
		if pid[0] < '0' || pid[0] > '9' {
			continue
		}
		if time.Now().After(deadline) {
			return n, false
		}
		var st unix.Stat_t
		if unix.Fstatat(int(proc.Fd()), pid, &st, 0) != nil || st.Uid != 0 {
			continue
		}
		n += inotifyInstances(int(proc.Fd()), pid, buf)
	}
	return n, true
}

const inotifyLink = "anon_inode:inotify"

// inotifyInstances counts the inotify fds of process pid, through proc, an
// fd of /proc; buf holds one byte more than inotifyLink. A process that
// exits meanwhile has none.
func inotifyInstances(proc int, pid string, buf []byte) int {
	fd, err := unix.Openat(proc, pid+"/fd", unix.O_RDONLY|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
	if err != nil {
		return 0
	}
	dir := os.NewFile(uintptr(fd), pid)
	defer dir.Close()
	fds, _ := dir.Readdirnames(-1)
	n := 0
	for _, name := range fds {
		if l, err := unix.Readlinkat(fd, name, buf); err == nil && string(buf[:l]) == inotifyLink {
			n++
		}
	}
	return n
}

// bootingOthers counts the live containers, other than rec's, whose guests
// are booting: they will take their inotify instances soon.
func bootingOthers(stateDir string, rec *record) int {
	entries, err := os.ReadDir(stateDir)
	if err != nil {
		return 0
	}
	n := 0
	for _, e := range entries {
		dir := filepath.Join(stateDir, e.Name())
		if dir == rec.dir {
			continue
		}
		if _, err := os.Stat(filepath.Join(dir, bootingFile)); err != nil {
			continue
		}
		f, err := os.OpenFile(dir, unix.O_RDONLY|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
		if err != nil {
			continue
		}
		// Live while its supervisor holds the lock.
		if err := unix.Flock(int(f.Fd()), unix.LOCK_SH|unix.LOCK_NB); errors.Is(err, unix.EWOULDBLOCK) {
			n++
		}
		f.Close()
	}
	return n
}
