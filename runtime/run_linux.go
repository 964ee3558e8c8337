package runtime

import (
	"fmt"
	"os"
	"os/signal"
	"strconv"
	"time"

	"github.com/sirupsen/logrus"
	"golang.org/x/sys/unix"
)

// Run compiles the container's spec, starts it and supervises it until its
// init exits. It returns the init's exit status (128+N when the init was
// killed by signal N). A start that fails removes what it created and
// returns an error that names the container.
func Run(c *Container, opts Options) (status int, retErr error) {
	defer func() {
		if retErr != nil {
			retErr = fmt.Errorf("%s: %w", DisplayName(c.Name), retErr)
		}
	}()
	if opts.Log == nil {
		opts.Log = logrus.StandardLogger()
	}
	// Only the fds meant for the init cross into the container; whatever
	// else our caller left open without O_CLOEXEC stays out of the init
	// child, the reaper and the init (CVE-2024-21626's class).
	// Checked before anything else marks them: an fd that crossed exec(2)
	// has no FD_CLOEXEC, and one that this process opened (the Go
	// runtime's) always has it, and must not pass for the caller's.
	for fd := 3; fd < 3+opts.PreserveFDs; fd++ {
		flags, err := unix.FcntlInt(uintptr(fd), unix.F_GETFD, 0)
		if err != nil {
			return -1, fmt.Errorf("preserve-fds %d: fd %d is not open", opts.PreserveFDs, fd)
		}
		if flags&unix.FD_CLOEXEC != 0 {
			return -1, fmt.Errorf("preserve-fds %d: fd %d was not passed to containerctl", opts.PreserveFDs, fd)
		}
	}
	if err := closeOnExecFrom(3 + opts.PreserveFDs); err != nil {
		return -1, err
	}
	opts.pipes = survivePipesAsync()
	p, err := Compile(c, opts)
	if err != nil {
		return -1, err
	}
	log := opts.Log.WithField("container", p.Name)
	rec, err := lockRecord(p.StateDir, p.Name)
	if err != nil {
		return -1, err
	}
	if p.BootsSystem {
		if err := checkInotify(p.StateDir, rec); err != nil {
			_ = rec.release()
			return -1, err
		}
	}
	s, err := start(p, opts, rec, log)
	if err != nil {
		s.dropRecord(rec)
		return -1, err
	}
	status = s.run(rec)
	if s.restart != "" {
		return status, &RestartRequest{Profile: s.restart}
	}
	return status, nil
}

// survivePipes keeps a console or log reader that goes away (a journal
// that restarts, a closed terminal) from killing the supervisor, and the
// guest with it: with SIGPIPE asked for, writes fail with EPIPE instead.
// Notify, not Ignore: an ignored signal would stay ignored in the init.
func survivePipes() { signal.Notify(make(chan os.Signal, 1), unix.SIGPIPE) }

// RestartRequest is what Run returns when a reload asked that the
// container be halted and started again, from Profile: the caller runs it
// again, in the same process (a unit's main process stays the same).
type RestartRequest struct{ Profile string }

func (r *RestartRequest) Error() string {
	return "restart requested, from " + r.Profile
}

// run supervises a started container to its end and reports how it ended.
func (s *supervisor) run(rec *record) int {
	res, waiters := s.supervise()
	// Read before finish removes the cgroups.
	oom := 0
	if res.Outcome == OutcomeExited && res.ExitStatus == 128+int(unix.SIGKILL) && s.cgroup != nil {
		oom = s.cgroup.OOMKills()
	}
	s.finish(rec, res)
	switch res.Outcome {
	case OutcomeExited:
		if oom > 0 {
			s.log.Infof("init exited with status %d: the OOM killer killed %d of the container's processes at its memory limit", res.ExitStatus, oom)
			break
		}
		s.log.Infof("init exited with status %d", res.ExitStatus)
	case OutcomeHalted:
		s.log.Infof("halted in %v, exit status %d", res.Elapsed.Round(time.Millisecond), res.ExitStatus)
	case OutcomeKilled:
		s.log.Warnf("killed after %v, exit status %d", res.Elapsed.Round(time.Millisecond), res.ExitStatus)
	}
	for _, w := range waiters {
		w <- res
	}
	s.control.flush(time.Second)
	return res.ExitStatus
}

// closeOnExecFrom marks every fd from first on close-on-exec.
func closeOnExecFrom(first int) error {
	err := unix.CloseRange(uint(first), ^uint(0), unix.CLOSE_RANGE_CLOEXEC)
	if err == nil {
		return nil
	}
	// Before Linux 5.11: one by one, from /proc/self/fd.
	entries, rerr := os.ReadDir("/proc/self/fd")
	if rerr != nil {
		return fmt.Errorf("close inherited fds: %w", err)
	}
	for _, e := range entries {
		if fd, err := strconv.Atoi(e.Name()); err == nil && fd >= first {
			unix.CloseOnExec(fd)
		}
	}
	return nil
}
