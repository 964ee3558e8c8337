package runtime

import (
	"errors"
	"fmt"
	"io"
	"os"
	"os/signal"
	"strconv"
	"strings"
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
	// Reason is why a container was killed (OutcomeKilled).
	Reason string `json:"reason,omitempty"`
}

// halting is the state of a halt: when it began, when it gives up, and the
// resends of the halt signal. The halt signal is sent again every second:
// an init ignores a signal it has no handler for yet (pid_namespaces(7)),
// and a systemd still starting installs its handler a moment later;
// systemd takes repeats as the one request.
type halting struct {
	res      StopResult
	start    time.Time
	deadline *time.Timer
	expired  <-chan time.Time
	resend   *time.Ticker
	resends  <-chan time.Time
}

func (h *halting) stop() {
	if h.resend != nil {
		h.resend.Stop()
	}
	if h.deadline != nil {
		h.deadline.Stop()
	}
}

// supervise waits for the init to exit. SIGTERM, SIGINT, SIGHUP and stop
// requests halt it: SIGRTMIN+3 to PID 1, and SIGKILL when the stop timeout
// passes or a second SIGINT comes. Killing PID 1 kills every process of the
// container: the kernel tears down its PID namespace.
// It returns how the container ended and the stop requests to answer.
func (s *supervisor) supervise() (StopResult, []chan<- StopResult) {
	h := &halting{res: StopResult{Outcome: OutcomeExited}}
	var waiters []chan<- StopResult
	// What a resumed supervisor was exec'd for comes first, before the
	// init's exit that it may have caused: a halt the monitor started,
	// then the requests and signals that came with it.
	if fh := s.firstHalt; fh != nil {
		s.haltFrom(h, signals.Name(fh.sig), 0, fh.start)
	}
	for _, req := range s.firstStops {
		s.onStop(h, &waiters, req)
	}
	for _, sig := range s.firstSignals {
		s.onSignal(h, sig)
	}
	s.firstStops, s.firstSignals, s.firstHalt = nil, nil, nil
	handoff := s.handoffAfter()
	for {
		select {
		case <-handoff:
			handoff = s.tryHandoff(h, len(waiters) > 0)
		case <-s.child.exited:
			h.stop()
			s.exitStatus(&h.res)
			if !h.start.IsZero() {
				h.res.Elapsed = time.Since(h.start)
			}
			return h.res, waiters
		case sig := <-s.sigs:
			s.onSignal(h, sig)
		case req := <-s.control.requests:
			s.onStop(h, &waiters, req)
		case req := <-s.control.profiles:
			s.state.Profile = req.profile
			req.reply <- s.rec.write(s.state)
		case <-h.resends:
			if h.res.Outcome != OutcomeHalted {
				break
			}
			if why := s.cannotHalt(h); why != "" {
				s.kill(h, why)
				break
			}
			_ = s.process().Signal(s.p.KillSignal)
		case <-h.expired:
			s.kill(h, "did not halt within "+h.res.Timeout.String())
		}
	}
}

// tryHandoff execs into the monitor, unless the container is halting or
// answering a stop (answering is true), or has just ended. It returns when
// to try again, or nil for never.
func (s *supervisor) tryHandoff(h *halting, answering bool) <-chan struct{} {
	select {
	case <-s.child.exited:
		return nil // ended meanwhile: supervise reports it
	default:
	}
	if !h.start.IsZero() || answering {
		return nil
	}
	sig, err := s.enterMonitor()
	switch {
	case sig != nil:
		s.onSignal(h, sig)
		return nil
	case errors.Is(err, errMonitorBusy):
		return after(50 * time.Millisecond)
	}
	s.log.WithError(err).Warn("the supervisor stays whole")
	go s.trim()
	return nil
}

// onSignal acts on a signal the supervisor caught.
func (s *supervisor) onSignal(h *halting, sig os.Signal) {
	switch {
	case sig == unix.SIGWINCH:
		s.resize()
	case sig == unix.SIGINT && !h.start.IsZero():
		s.kill(h, "second SIGINT")
	default:
		s.halt(h, signals.Name(sig.(syscall.Signal)), 0)
	}
}

// onStop acts on a stop or restart request, whose answer waits for the end.
func (s *supervisor) onStop(h *halting, waiters *[]chan<- StopResult, req stopRequest) {
	*waiters = append(*waiters, req.reply)
	why := "stop requested"
	if req.restart != "" {
		why, s.restart = "restart requested", req.restart
	}
	s.halt(h, why, req.timeout)
}

// halt asks the init to halt, or shortens the wait of a halt under way.
func (s *supervisor) halt(h *halting, why string, timeout time.Duration) {
	s.haltFrom(h, why, timeout, time.Time{})
}

// haltFrom is halt, for a halt asked for at since (now when zero): the
// monitor's, which told the guest then.
func (s *supervisor) haltFrom(h *halting, why string, timeout time.Duration, since time.Time) {
	if timeout <= 0 {
		timeout = s.p.StopTimeout
	}
	if !h.start.IsZero() {
		// A later request with a shorter timeout shortens the wait.
		if left := time.Until(h.start.Add(h.res.Timeout)); timeout < left {
			h.res.Timeout = time.Since(h.start) + timeout
			h.deadline.Reset(timeout)
		}
		return
	}
	h.start = since
	if h.start.IsZero() {
		h.start = time.Now()
	}
	h.res = StopResult{Outcome: OutcomeHalted, Timeout: timeout}
	if ago := time.Since(h.start); ago >= time.Millisecond {
		s.log.Infof("%s: halting, sent %s to init %v ago, timeout %v", why, signals.Name(s.p.KillSignal), ago.Round(time.Millisecond), timeout)
	} else {
		s.log.Infof("%s: halting, sent %s to init, timeout %v", why, signals.Name(s.p.KillSignal), timeout)
	}
	// The service manager's wait is extended by the whole timeout: a halt
	// the monitor started is less than a second old.
	s.notify.stopping(timeout)
	left := max(timeout-time.Since(h.start), 0)
	// An init that exited already (the monitor sent the signal first)
	// is no failure.
	if err := s.process().Signal(s.p.KillSignal); err != nil && !errors.Is(err, os.ErrProcessDone) {
		s.log.WithError(err).Warn("send halt signal")
	}
	h.deadline = time.NewTimer(left)
	h.resend = time.NewTicker(time.Second)
	h.expired, h.resends = h.deadline.C, h.resend.C
}

// kill kills the container: its init, and through the cgroup whatever
// joined it from outside.
func (s *supervisor) kill(h *halting, why string) {
	if h.res.Outcome == OutcomeKilled {
		return
	}
	h.res.Outcome, h.res.Reason = OutcomeKilled, why
	if h.start.IsZero() {
		h.start = time.Now()
	}
	s.log.Warnf("%s: killing the container", why)
	if err := s.process().Kill(); err != nil {
		s.log.WithError(err).Warn("kill init")
	}
	if err := s.cgroup.Kill(0); err != nil {
		s.log.WithError(err).Warn("kill cgroup")
	}
}

// unhaltableGrace is how long a halt waits before it judges that the init
// cannot take the halt signal: an init may be a script that execs the real
// one a few seconds on (the signal is resent every second), and a systemd
// just exec'd has not yet set its signal mask.
const unhaltableGrace = 10 * time.Second

// cannotHalt says why the halt under way cannot succeed, or "". The kernel
// sends an init of a PID namespace only the signals it catches or blocks
// (systemd blocks its own and reads them from a signalfd): any other is
// dropped, however often it is sent, and waiting out the stop timeout (3
// minutes by default) for such an init to halt is waiting for nothing.
func (s *supervisor) cannotHalt(h *halting) string {
	if time.Since(h.start) < unhaltableGrace {
		return ""
	}
	// A booting system's init is a script until it execs systemd (NixOS's
	// stage 2 runs the activation first, for as long as that takes): it
	// is judged only once the guest has said READY=1.
	if s.p.BootsSystem || s.p.NotifyReady {
		select {
		case <-s.notify.ready:
		default:
			return ""
		}
	}
	sig := s.p.KillSignal
	takes, err := takesSignal(s.child.pid(), sig)
	if err != nil || takes {
		return ""
	}
	return fmt.Sprintf("its init neither catches nor blocks %s, so it cannot halt", signals.Name(sig))
}

// takesSignal reads /proc/PID/status: whether pid catches or blocks sig.
func takesSignal(pid int, sig unix.Signal) (bool, error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return false, err
	}
	found := 0
	takes := false
	for _, line := range strings.Split(string(b), "\n") {
		k, v, _ := strings.Cut(line, ":")
		if k != "SigBlk" && k != "SigCgt" {
			continue
		}
		mask, err := strconv.ParseUint(strings.TrimSpace(v), 16, 64)
		if err != nil {
			return false, fmt.Errorf("/proc/%d/status: %s: %w", pid, k, err)
		}
		found++
		takes = takes || mask&(1<<(uint(sig)-1)) != 0
	}
	if found != 2 {
		return false, fmt.Errorf("/proc/%d/status: no SigBlk and SigCgt", pid)
	}
	return takes, nil
}

// exitStatus fills in the init's exit status. reboot(2) in a PID namespace
// kills its PID 1 with SIGHUP for a reboot and SIGINT for a halt or
// power-off (pid_namespaces(7)). Like systemd-nspawn, a reboot is 133, so
// that a unit can restart the container, and a power-off is success.
func (s *supervisor) exitStatus(res *StopResult) {
	if s.child.state == nil {
		// Wait failed without a status; the init is gone all the same.
		s.log.WithError(s.child.waitErr).Warn("wait for init")
		res.ExitStatus = 255
		return
	}
	ws := s.child.state.Sys().(syscall.WaitStatus)
	res.ExitStatus = signals.ExitStatus(ws)
	switch {
	case ws.Signaled() && ws.Signal() == syscall.SIGHUP:
		s.log.Info("the guest rebooted")
		res.ExitStatus = signals.RebootStatus
	case ws.Signaled() && ws.Signal() == syscall.SIGINT:
		s.log.Info("the guest powered off")
		res.ExitStatus = 0
	}
}

// relayConsole copies the console's output to stdout (or drops it, when
// passive) and, when interactive, the supervisor's terminal to the console.
func (s *supervisor) relayConsole() { s.relayConsoleFrom(false, false, nil) }

// relayConsoleFrom is relayConsole where the console's last line written
// may be open (midline), its output already dropped, or some of it read and
// not yet written (pending), as a supervisor resumed after an exec finds
// them.
func (s *supervisor) relayConsoleFrom(midline, dropped bool, pending *os.File) {
	if s.console == nil {
		return
	}
	out := io.Writer(io.Discard)
	if s.p.Console != ConsolePassive && !dropped {
		out = s.opts.Stdout
	}
	newline := "\r\n"
	if _, err := console.ConsoleFromFile(s.opts.Stdout); err != nil {
		// Not a terminal (a unit's journal, a pipe): plain "\n" line
		// ends, not the terminal's "\r\n".
		_ = console.ClearONLCR(s.console.Fd())
		newline = "\n"
	}
	if logOut, ok := s.log.Logger.Out.(*os.File); ok && out != io.Discard && sameStream(s.opts.Stdout, logOut) {
		lines := newConsoleLines(out, newline)
		lines.open = midline
		s.lines = lines
		out = lines.console()
		s.log.Logger.SetOutput(lines.log())
		s.restoreLog = func() { s.log.Logger.SetOutput(logOut) }
	}
	s.consoleOut = out
	if err := s.startCopier(pending); err != nil {
		s.log.WithError(err).Warn("console output not relayed")
		return
	}
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

// startCopier starts the copier of the console's output to s.consoleOut,
// after what pending holds (console output an earlier process read and
// did not write; nil for none).
func (s *supervisor) startCopier(pending *os.File) error {
	stop, err := unix.Eventfd(0, unix.EFD_CLOEXEC)
	if err != nil {
		return fmt.Errorf("eventfd: %w", err)
	}
	s.copyStop = stop
	s.copyStopped.Store(false)
	s.copied = make(chan struct{})
	if pending != nil {
		// Written under copyMu like the rest: a handoff waits for it,
		// and a stdout that does not take it keeps the handoff off.
		s.copyMu.Lock()
	}
	go func() {
		defer close(s.copied)
		if pending != nil {
			b, _ := io.ReadAll(pending)
			pending.Close()
			s.copyOut(b)
			s.copyMu.Unlock()
		}
		s.drainConsole(stop)
	}()
	return nil
}

// stopCopier stops the copier, unless it is writing (to a stdout that may
// not drain: waiting would keep the supervisor from its container), which
// it reports. Once stopped, the copier has not read what it did not write.
func (s *supervisor) stopCopier() bool {
	if s.copied == nil {
		return true
	}
	if !s.copyMu.TryLock() {
		return false
	}
	s.copyStopped.Store(true)
	s.copyMu.Unlock()
	_, _ = unix.Write(s.copyStop, []byte{1, 0, 0, 0, 0, 0, 0, 0})
	<-s.copied
	s.copied = nil
	// Closed only now that the copier is done with it: it may return on
	// the flag alone, before this write.
	unix.Close(s.copyStop)
	return true
}

// drainConsole copies the console's output to s.consoleOut until it ends
// with EIO, once no slave is open: after the container's last process and
// our own copy are gone; or until stopCopier. It reads only under copyMu,
// and not once stopped, so that what it reads it writes.
func (s *supervisor) drainConsole(stop int) {
	buf := make([]byte, 32<<10)
	fd := int(s.console.Fd())
	for {
		pfd := []unix.PollFd{{Fd: int32(fd), Events: unix.POLLIN}, {Fd: int32(stop), Events: unix.POLLIN}}
		if _, err := unix.Poll(pfd, -1); err != nil {
			if errors.Is(err, unix.EINTR) {
				continue
			}
			return
		}
		s.copyMu.Lock()
		if pfd[1].Revents != 0 || s.copyStopped.Load() {
			s.copyMu.Unlock()
			return
		}
		n, err := unix.Read(fd, buf)
		if n > 0 {
			s.copyOut(buf[:n])
		}
		s.copyMu.Unlock()
		if errors.Is(err, unix.EINTR) || errors.Is(err, unix.EAGAIN) {
			continue
		}
		if err != nil || n <= 0 {
			return
		}
	}
}

// copyOut writes console output to s.consoleOut. A write that fails (a
// journal restarting, a closed terminal) makes the rest be dropped: the
// console is read on, or the guest would block writing to a full console.
func (s *supervisor) copyOut(b []byte) {
	if len(b) == 0 || s.consoleOut == io.Discard {
		return
	}
	if _, err := s.consoleOut.Write(b); err != nil {
		s.log.WithError(err).Warn("console output: dropping the rest")
		s.consoleOut = io.Discard
	}
}

// sameStream says whether a and b write to one file, as a unit's stdout
// and stderr both reach its journal stream.
func sameStream(a, b *os.File) bool {
	var sa, sb unix.Stat_t
	if unix.Fstat(int(a.Fd()), &sa) != nil || unix.Fstat(int(b.Fd()), &sb) != nil {
		return false
	}
	return sa.Dev == sb.Dev && sa.Ino == sb.Ino
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
	// The container is gone: a signal now must not cut its cleanup short
	// (which would leave it to the reaper), and is ignored. Ignore, unlike
	// Stop, does not wait for signal delivery to quiesce (0.45 ms of every
	// container's end here); a restart in this process catches them again.
	signal.Ignore(supervisorSignals...)
	if s.console != nil {
		s.slave.Close()
		if s.copied != nil {
			select {
			case <-s.copied:
				unix.Close(s.copyStop)
			case <-time.After(2 * time.Second):
				s.log.Warn("console output still open after the container exited; dropping the rest")
			}
		}
		if s.terminal != nil {
			_ = s.terminal.Reset()
		}
		s.console.Close()
		if s.restoreLog != nil {
			s.restoreLog()
		}
	}
	s.control.closeWith(&res)
	s.notify.close()
	netErr := s.removeNetwork()
	if netErr != nil {
		s.log.WithError(netErr).Warn("remove network; keeping the record so that the next containerctl command tries again")
	}
	if err := s.cgroup.Destroy(); err != nil {
		// Its processes may live on: the range and the root stay held
		// until this process ends.
		s.log.WithError(err).Warn("remove cgroup; keeping the record so that the next containerctl command tries again")
		_ = rec.abandon()
		return
	}
	// Once the guest's processes are gone with its cgroup: the range and
	// the root are free again, also for a restart in this process while
	// the network's leftovers wait for the next command.
	s.users.Release()
	s.root.release()
	if netErr != nil {
		_ = rec.abandon()
		return
	}
	if err := rec.release(); err != nil {
		s.log.WithError(err).Warn("remove state record")
	}
}
