package runtime

import (
	"fmt"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"

	"golang.org/x/sys/unix"

	"github.com/containerctl/containerctl/runtime/nsenter"
)

// ReapCommand is the hidden subcommand of the reaper, which main dispatches
// before any flag parsing.
//
// A supervisor killed with SIGKILL cannot clean up: its container dies with
// it (parent-death signal), but the container's cgroups and its record
// would stay. So each supervisor starts a reaper that waits for the
// record's lock; it gets the lock only when the supervisor has let go of
// it. If the record is gone by then, the supervisor cleaned up and the
// reaper just exits; if it is still there, the supervisor died, and the
// reaper removes the cgroups (killing what is left in them) and the record.
//
// The wait, which lasts as long as the container, is a small C program,
// containerctl-reaper (runtime/reaper/reaper.c): a Go process that only
// waits costs ten times its memory. Once it holds the lock, it execs the
// supervisor's binary as "reap", with the locked directory's fd, for the
// Go code to decide what is left and remove it.
const ReapCommand = "reap"

// ReaperName is the reaper's file name, beside containerctl or in
// nsenter.LibexecDir.
const ReaperName = "containerctl-reaper"

// lockedFDFlag passes the record directory's fd, whose lock the reaper
// holds, to ReapCommand.
const lockedFDFlag = "--locked-fd="

// startReaper starts the reaper for the record in dir. It is not waited
// for: it ends when the supervisor does.
func startReaper(dir, id string) error {
	path, err := nsenter.FindProgram(ReaperName)
	if err != nil {
		return err
	}
	// The binary that cleans up is this one, by fd: an upgrade that
	// replaces the file meanwhile does not change the version that reads
	// this version's record.
	exe, err := os.Open("/proc/self/exe")
	if err != nil {
		return err
	}
	defer exe.Close()
	null, err := os.Open(os.DevNull)
	if err != nil {
		return err
	}
	defer null.Close()
	cmd := &exec.Cmd{
		Path:       path,
		Args:       []string{ReaperName, dir, id},
		Env:        []string{},
		Stdin:      null,
		Stdout:     null,
		Stderr:     null,
		ExtraFiles: []*os.File{exe},
		// Its own session: a terminal's ^C or hangup is not for it.
		SysProcAttr: &syscall.SysProcAttr{Setsid: true},
	}
	if err := cmd.Start(); err != nil {
		return fmt.Errorf("start %s: %w", ReaperName, err)
	}
	return cmd.Process.Release()
}

// Reap is the reaper's Go part, which containerctl-reaper execs once it
// holds the lock on the record at dir: it cleans up after the supervisor
// whose record carries the ID given, if that supervisor died. Its
// arguments are --locked-fd=N, the directory and the ID.
func Reap(args []string) error {
	if len(args) != 3 || !strings.HasPrefix(args[0], lockedFDFlag) || !filepath.IsAbs(args[1]) {
		return fmt.Errorf("%s: want %sN, the record's directory and ID", ReapCommand, lockedFDFlag)
	}
	fd, err := strconv.Atoi(strings.TrimPrefix(args[0], lockedFDFlag))
	if err != nil || fd < 3 {
		return fmt.Errorf("%s: bad %s", ReapCommand, args[0])
	}
	dir, id := args[1], args[2]
	// Only the supervisor's end matters; signals meant for its session or
	// unit must not end the reaper's cleanup either.
	signal.Ignore(unix.SIGTERM, unix.SIGINT, unix.SIGHUP)
	unix.CloseOnExec(fd)
	f := os.NewFile(uintptr(fd), dir)
	defer f.Close()
	// The lock must be ours: a reaper started by hand without one would
	// clean up after a supervisor that still runs.
	if err := unix.Flock(fd, unix.LOCK_EX|unix.LOCK_NB); err != nil {
		return fmt.Errorf("%s: %s is not locked by this process: %w", ReapCommand, dir, err)
	}
	// Clean up only our supervisor's record: when it exited cleanly, it
	// removed the record, and whatever is at dir now is another run's.
	if s, err := readState(dir); err != nil || s.ID != id || !samePath(f, dir) {
		return nil
	}
	return cleanStale(dir)
}
