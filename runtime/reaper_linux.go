package runtime

import (
	"errors"
	"fmt"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"syscall"

	"golang.org/x/sys/unix"
)

// ReapCommand is the hidden subcommand of the reaper, which main dispatches
// before any flag parsing.
//
// A supervisor killed with SIGKILL cannot clean up: its container dies with
// it (parent-death signal), but the container's cgroups and its record
// would stay. So each supervisor starts a small reaper that waits for the
// record's lock; it gets the lock only when the supervisor has let go of
// it. If the record is gone by then, the supervisor cleaned up and the
// reaper just exits; if it is still there, the supervisor died, and the
// reaper removes the cgroups (killing what is left in them) and the record.
const ReapCommand = "reap"

// startReaper starts the reaper for the record in dir. It is not waited
// for: it ends when the supervisor does.
func startReaper(dir, id string) error {
	null, err := os.Open(os.DevNull)
	if err != nil {
		return err
	}
	defer null.Close()
	cmd := &exec.Cmd{
		Path: "/proc/self/exe",
		Args: []string{"containerctl", ReapCommand, dir, id},
		// One P is all a process that waits on a lock needs, and fewer
		// per-P caches make it smaller.
		Env:    []string{"GOMAXPROCS=1", "GOGC=50"},
		Stdin:  null,
		Stdout: null,
		Stderr: null,
		// Its own session: a terminal's ^C or hangup is not for it.
		SysProcAttr: &syscall.SysProcAttr{Setsid: true},
	}
	if err := cmd.Start(); err != nil {
		return fmt.Errorf("start reaper: %w", err)
	}
	return cmd.Process.Release()
}

// Reap is the reaper: it waits for the lock on the record at dir (its
// first argument) and cleans up after its supervisor, whose record carries
// the ID of its second argument, if that supervisor died.
func Reap(args []string) error {
	if len(args) != 2 || !filepath.IsAbs(args[0]) {
		return fmt.Errorf("%s: want the record's directory and ID", ReapCommand)
	}
	dir, id := args[0], args[1]
	// Only the supervisor's end matters; signals meant for its session or
	// unit must not end the reaper first.
	signal.Ignore(unix.SIGTERM, unix.SIGINT, unix.SIGHUP)
	f, err := os.OpenFile(dir, unix.O_RDONLY|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
	if errors.Is(err, os.ErrNotExist) {
		return nil
	}
	if err != nil {
		return err
	}
	defer f.Close()
	for {
		err = unix.Flock(int(f.Fd()), unix.LOCK_EX)
		if !errors.Is(err, unix.EINTR) {
			break
		}
	}
	if err != nil {
		return fmt.Errorf("lock %s: %w", dir, err)
	}
	// Clean up only our supervisor's record: when it exited cleanly, it
	// removed the record, and whatever is at dir now is another run's.
	if s, err := readState(dir); err != nil || s.ID != id || !samePath(f, dir) {
		return nil
	}
	return cleanStale(dir)
}
