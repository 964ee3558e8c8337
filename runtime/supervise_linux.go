package runtime

import (
	"io"
	"os/signal"
	"syscall"
	"time"

	"github.com/containerd/console"
	"golang.org/x/sys/unix"

	"github.com/containerctl/containerctl/signals"
)

// Outcomes of a container's end, as reported to `containerctl stop`.
const (
	OutcomeExited = "exited" // the init exited on its own
	OutcomeHalted = "halted" // it exited after SIGRTMIN+3, within the timeout
	OutcomeKilled = "killed" // it was killed with SIGKILL
)

// StopResult is how a container ended.
type StopResult struct {
	Outcome    string        `json:"outcome"`
	ExitStatus int           `json:"exit_status"`
	Elapsed    time.Duration `json:"elapsed"` // from the halt request to the exit
	Timeout    time.Duration `json:"timeout"`
}

// supervise waits for the init to exit. SIGTERM, SIGINT, SIGHUP and stop
// requests halt it: SIGRTMIN+3 to PID 1, and SIGKILL when the stop timeout
// passes or a second SIGINT comes. Killing PID 1 kills every process of the
// container: the kernel tears down its PID namespace.
// It returns how the container ended and the stop requests to answer.
func (s *supervisor) supervise() (StopResult, []chan<- StopResult) {
	var (
		res       = StopResult{Outcome: OutcomeExited}
		haltStart time.Time
		deadline  *time.Timer
		expired   <-chan time.Time
		// The halt signal is sent again every second: an init ignores
		// a signal it has no handler for yet (pid_namespaces(7)), and a
		// systemd still starting installs its handler a moment later.
		// systemd takes repeats as the one request.
		resend  *time.Ticker
		resends <-chan time.Time
		waiters []chan<- StopResult
	)
	halt := func(why string, timeout time.Duration) {
		if timeout <= 0 {
			timeout = s.p.StopTimeout
		}
		if haltStart.IsZero() {
			haltStart = time.Now()
			res = StopResult{Outcome: OutcomeHalted, Timeout: timeout}
			s.log.Infof("%s: halting, sent %s to init, timeout %v", why, signals.Name(s.p.KillSignal), timeout)
			s.notify.stopping()
			if err := s.process().Signal(s.p.KillSignal); err != nil {
				s.log.WithError(err).Warn("send halt signal")
			}
			deadline = time.NewTimer(timeout)
			resend = time.NewTicker(time.Second)
			resends = resend.C
			expired = deadline.C
			return
		}
		// A later request with a shorter timeout shortens the wait.
		if left := time.Until(haltStart.Add(res.Timeout)); timeout < left {
			res.Timeout = time.Since(haltStart) + timeout
			deadline.Reset(timeout)
		}
	}
	kill := func(why string) {
		if res.Outcome == OutcomeKilled {
			return
		}
		res.Outcome = OutcomeKilled
		if haltStart.IsZero() {
			haltStart = time.Now()
		}
		s.log.Warnf("%s: killing the container", why)
		if err := s.process().Kill(); err != nil {
			s.log.WithError(err).Warn("kill init")
		}
		// PID 1's death takes its PID namespace with it; the cgroup
		// also gets what joined it from outside (nsenter).
		if err := s.cgroup.Kill(0); err != nil {
			s.log.WithError(err).Warn("kill cgroup")
		}
	}

	var err error
loop:
	for {
		select {
		case <-s.child.exited:
			err = s.child.waitErr
			break loop
		case sig := <-s.sigs:
			switch sig {
			case unix.SIGWINCH:
				s.resize()
			case unix.SIGINT:
				if !haltStart.IsZero() {
					kill("second SIGINT")
					continue
				}
				halt("SIGINT", 0)
			default:
				halt(sig.String(), 0)
			}
		case req := <-s.control.requests:
			waiters = append(waiters, req.reply)
			halt("stop requested", req.timeout)
		case <-resends:
			if res.Outcome == OutcomeHalted {
				_ = s.process().Signal(s.p.KillSignal)
			}
		case <-expired:
			kill("did not halt within " + res.Timeout.String())
		}
	}
	if resend != nil {
		resend.Stop()
	}
	if deadline != nil {
		deadline.Stop()
	}
	if s.child.cmd.ProcessState == nil {
		// Wait failed without a status; the init is gone all the same.
		s.log.WithError(err).Warn("wait for init")
		res.ExitStatus = 255
	} else {
		ws := s.child.cmd.ProcessState.Sys().(syscall.WaitStatus)
		res.ExitStatus = signals.ExitStatus(ws)
		// reboot(2) in a PID namespace kills its PID 1 with SIGHUP for a
		// reboot and SIGINT for a halt or power-off (pid_namespaces(7)).
		// Like systemd-nspawn, report a reboot as 133, so that a unit can
		// restart the container, and a power-off as success.
		switch {
		case ws.Signaled() && ws.Signal() == syscall.SIGHUP:
			s.log.Info("the guest rebooted")
			res.ExitStatus = signals.RebootStatus
		case ws.Signaled() && ws.Signal() == syscall.SIGINT:
			s.log.Info("the guest powered off")
			res.ExitStatus = 0
		}
	}
	if !haltStart.IsZero() {
		res.Elapsed = time.Since(haltStart)
	}
	return res, waiters
}

// relayConsole copies the console's output to stdout (or drops it, when
// passive) and, when interactive, the supervisor's terminal to the console.
func (s *supervisor) relayConsole() {
	if s.console == nil {
		return
	}
	out := io.Writer(io.Discard)
	if s.p.Console != ConsolePassive {
		out = s.opts.Stdout
	}
	if _, err := console.ConsoleFromFile(s.opts.Stdout); err != nil {
		// Not a terminal (a unit's journal, a pipe): plain "\n" line
		// ends, not the terminal's "\r\n".
		_ = console.ClearONLCR(s.console.Fd())
	}
	s.copied = make(chan struct{})
	go func() {
		defer close(s.copied)
		s.drainConsole(out)
	}()
	if s.p.Console != ConsoleInteractive {
		return
	}
	term, err := console.ConsoleFromFile(s.opts.Stdin)
	if err != nil {
		s.log.Debug("stdin is not a terminal, console input not relayed")
		return
	}
	if err := term.SetRaw(); err != nil {
		s.log.WithError(err).Warn("set terminal to raw mode")
		return
	}
	s.terminal = term
	s.resize()
	go func() { _, _ = io.Copy(s.console, s.opts.Stdin) }()
}

// drainConsole copies the console's output to out until it ends with EIO,
// once no slave is open: after the container's last process and our own
// copy are gone. A write that fails (a journal restarting, a closed
// terminal) does not stop it: the console is read and dropped from then on,
// or the guest would block writing to a full console.
func (s *supervisor) drainConsole(out io.Writer) {
	buf := make([]byte, 32<<10)
	for {
		n, err := s.console.Read(buf)
		if n > 0 && out != io.Discard {
			if _, werr := out.Write(buf[:n]); werr != nil {
				s.log.WithError(werr).Warn("console output: dropping the rest")
				out = io.Discard
			}
		}
		if err != nil {
			return
		}
	}
}

func (s *supervisor) resize() {
	if s.terminal != nil {
		_ = s.console.ResizeFrom(s.terminal)
	}
}

// finish cleans up after the init has exited: the console is drained, the
// terminal restored, and the record removed, in that order, so that when
// stop is answered the same name can run again at once.
func (s *supervisor) finish(rec *record, res StopResult) {
	signal.Stop(s.sigs)
	if s.console != nil {
		s.slave.Close()
		if s.copied != nil {
			select {
			case <-s.copied:
			case <-time.After(2 * time.Second):
				s.log.Warn("console output still open after the container exited; dropping the rest")
			}
		}
		if s.terminal != nil {
			_ = s.terminal.Reset()
		}
		s.console.Close()
	}
	s.control.closeWith(&res)
	s.notify.close()
	if err := s.cgroup.Destroy(); err != nil {
		s.log.WithError(err).Warn("remove cgroup; keeping the record so that the next containerctl command tries again")
		_ = rec.abandon()
		return
	}
	if err := rec.release(); err != nil {
		s.log.WithError(err).Warn("remove state record")
	}
}
