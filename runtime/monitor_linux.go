package runtime

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"os/signal"
	"path/filepath"
	goruntime "runtime"
	"strconv"
	"strings"
	"syscall"
	"time"
	"unsafe"

	"github.com/containerd/console"
	"github.com/sirupsen/logrus"
	"golang.org/x/sys/unix"

	"github.com/containerctl/containerctl/cgroup"
	"github.com/containerctl/containerctl/runtime/nsenter"
	"github.com/containerctl/containerctl/runtime/userns"
)

// MonitorName is the program a supervisor execs into once its container
// runs (runtime/monitor/monitor.c): a Go process that only waits costs
// some 2.5 MiB of memory of its own, the monitor a few hundred KiB. It is
// the same process, so the init stays its child, with the parent-death
// signal, and the record's lock, the console, the notify and control
// sockets and the ID range's locks stay open across the exec. It relays
// the console and drops the guest's notifications; for anything to decide
// (the init's exit, a halt signal, a control request) it execs containerctl
// again with the command line the supervisor was started with, and the
// supervisor resumes (Resume) from the record, acts, and hands off again
// when the container runs on.
//
// The handoff comes once nothing of the start is left to do: a quarter of
// a second after the init runs, or once a booting guest has said READY=1.
// A supervisor stays in Go where the monitor could not do what it does: a
// terminal relayed both ways (its raw mode and resizes), or no
// containerctl-monitor installed. The guest's STATUS= lines after READY=1,
// which a debug log shows, are not seen by the monitor.
//
// A limit of the design: while containerctl starts again for an event
// (some 2 ms), a second SIGTERM finds no handler yet and ends the process,
// and with it the container (parent-death signal); the reaper cleans up.
const MonitorName = "containerctl-monitor"

// The environment of a resumed supervisor: what the supervisor passed over
// the exec (resumeEnv, a handoff in JSON), and what the monitor adds.
const (
	resumeEnv = "_CONTAINERCTL_RESUME"
	// exit, signal:N[,N...], control:FD or error:TEXT, then
	// ";halt:NS:N" for a halt the monitor started on signal N at NS
	// (CLOCK_MONOTONIC nanoseconds; alone when this process is to take the
	// halt over), and
	// ";signal:N[,N...]" for halt signals pending beside another event.
	eventEnv = "_CONTAINERCTL_EVENT"
	// line, midline or dropped, then ",pending:FD" for a pipe of the
	// console's output read and not yet written.
	consoleEnv = "_CONTAINERCTL_CONSOLE"
)

// handoff is what a supervisor passes over the exec: its record and the
// fds that stay open.
type handoff struct {
	Dir     string   `json:"dir"`
	Record  int      `json:"record"`
	Control int      `json:"control"`
	Notify  int      `json:"notify"`
	Console int      `json:"console"` // -1: none
	Slave   int      `json:"slave"`
	Users   []fdPath `json:"users,omitempty"`
	// Root is the root's lock (rootlock_linux.go), RootShared whether it
	// is a shared hold.
	Root       *fdPath `json:"root,omitempty"`
	RootShared bool    `json:"root_shared,omitempty"`
	Ready      bool    `json:"ready"` // the guest said READY=1
}

type fdPath struct {
	FD   int    `json:"fd"`
	Path string `json:"path"`
}

// resumeSigs has a resumed supervisor's signals from its package's
// initialisation on. Go's runtime unblocks the halt signals in every
// thread as it starts (a Go program may not keep them blocked), and until
// signal.Notify asks for one, a SIGTERM ends the process: caught here, the
// window is what the runtime and the packages below this one take to
// start, not all of the command line's parsing too.
var resumeSigs chan os.Signal

func init() {
	if Resuming() {
		resumeSigs = make(chan os.Signal, 64)
		signal.Notify(resumeSigs, supervisorSignals...)
		// A resumed supervisor is the init's parent on the main thread
		// (the thread that exec'd): that thread must stay the one that
		// runs it, and the one that execs again.
		goruntime.LockOSThread()
	}
}

// Resuming says that this process is a supervisor the monitor exec'd.
func Resuming() bool { return os.Getenv(resumeEnv) != "" }

// errMonitorBusy says that the handoff must wait, to be tried again a
// moment later: a control request is being answered, the console's output
// is being written, or a signal came meanwhile.
var errMonitorBusy = errors.New("the handoff must wait")

// handoffAfter is when supervise tries the handoff, or nil when it never
// will.
func (s *supervisor) handoffAfter() <-chan struct{} {
	if !s.canHandOff() {
		return nil
	}
	if s.resumed {
		return after(time.Millisecond)
	}
	if s.p.BootsSystem || s.p.NotifyReady {
		return s.notify.ready
	}
	return after(trimDelay)
}

// canHandOff says whether the monitor can watch this container.
func (s *supervisor) canHandOff() bool {
	if s.p.Detached || s.terminal != nil || len(s.opts.Args) == 0 {
		return false
	}
	if s.monitorPath == "" {
		p, err := nsenter.FindProgram(MonitorName)
		if err != nil {
			s.monitorPath = "-"
			s.log.WithError(err).Info("no monitor: the supervisor stays whole")
			return false
		}
		s.monitorPath = p
	}
	return s.monitorPath != "-"
}

// enterMonitor execs the monitor. It returns only when it could not, with
// what the container was left with as before; a halt signal that came
// meanwhile is returned to act on.
func (s *supervisor) enterMonitor() (os.Signal, error) {
	if s.control.active.Load() > 0 {
		return nil, errMonitorBusy
	}
	l, ok := s.control.l.(*net.UnixListener)
	if !ok {
		return nil, fmt.Errorf("control socket is a %T", s.control.l)
	}
	// Dups of the listener's and the notify socket's fds for the
	// monitor, made without os.File.Fd, which would make the sockets
	// they share with Go's poller blocking: an Accept or a read would
	// then sit in its syscall, where Close cannot end it.
	controlFD, err := dupSocket(l)
	if err != nil {
		return nil, fmt.Errorf("control socket: %w", err)
	}
	controlFile := os.NewFile(uintptr(controlFD), "control")
	defer controlFile.Close()
	notifyFD, err := dupSocket(s.notify.conn)
	if err != nil {
		return nil, fmt.Errorf("notify socket: %w", err)
	}
	defer unix.Close(notifyFD)
	exe, err := os.Open("/proc/self/exe")
	if err != nil {
		return nil, err
	}
	defer exe.Close()
	h := handoff{Dir: s.rec.dir, Record: int(s.rec.f.Fd()), Control: controlFD, Notify: notifyFD, Console: -1, Slave: -1}
	fds := []int{h.Record, h.Control, h.Notify, int(exe.Fd())}
	args := []string{MonitorName, "--name=" + s.p.Name, "--pid=" + strconv.Itoa(s.child.pid()),
		"--exe-fd=" + strconv.Itoa(int(exe.Fd())), "--control-fd=" + strconv.Itoa(h.Control), "--notify-fd=" + strconv.Itoa(h.Notify),
		"--kill-signal=" + strconv.Itoa(int(s.p.KillSignal)), "--stop-timeout-ms=" + strconv.FormatInt(s.p.StopTimeout.Milliseconds(), 10)}
	select {
	case <-s.notify.ready:
		h.Ready = true
	default:
	}
	for _, f := range s.users.Files() {
		h.Users = append(h.Users, fdPath{int(f.Fd()), f.Name()})
		fds = append(fds, int(f.Fd()))
	}
	if s.root != nil && s.root.f != nil {
		h.Root, h.RootShared = &fdPath{int(s.root.f.Fd()), s.root.f.Name()}, !s.root.exclusive
		fds = append(fds, h.Root.FD)
	}
	// The sentinel tells when Go has passed on every signal it caught
	// before the halt signals were blocked (below).
	sentinel := make(chan os.Signal, 1)
	signal.Notify(sentinel, handoffSentinel)

	// From here on nothing may be accepted, read or reaped that the exec
	// would lose: no new control connection (what waits in the backlog,
	// the monitor accepts), no console output half copied, no init reaped
	// (an init that exits now stays a zombie for the monitor to see).
	s.child.reapMu.Lock()
	select {
	case <-s.child.exited:
		s.child.reapMu.Unlock()
		signal.Stop(sentinel)
		return nil, errMonitorBusy
	default:
	}
	if !s.stopCopier() {
		s.child.reapMu.Unlock()
		signal.Stop(sentinel)
		return nil, errMonitorBusy
	}
	l.SetUnlinkOnClose(false)
	s.control.l.Close()
	s.control.serving.Wait()
	blocked := false
	restore := func() {
		if blocked {
			_ = blockSignals(unix.SIG_UNBLOCK)
		}
		signal.Stop(sentinel)
		if nl, err := net.FileListener(controlFile); err == nil {
			s.control.l = nl
			s.control.serving.Add(1)
			go s.control.serve()
		} else {
			s.log.WithError(err).Warn("control socket lost: stop the container with a signal")
		}
		if s.console != nil {
			_ = s.startCopier(nil)
		}
		s.child.reapMu.Unlock()
	}
	if s.control.active.Load() > 0 {
		restore()
		return nil, errMonitorBusy
	}
	if s.console != nil {
		h.Console, h.Slave = int(s.console.Fd()), int(s.slave.Fd())
		fds = append(fds, h.Console, h.Slave)
		args = append(args, "--console-fd="+strconv.Itoa(h.Console))
		if s.consoleOut == io.Discard {
			args = append(args, "--console-drop")
		}
		if s.lines != nil {
			args = append(args, "--shared-stream")
			if s.lines.open {
				args = append(args, "--midline")
			}
		}
	}
	if _, ok := s.log.Logger.Formatter.(*logrus.JSONFormatter); ok {
		args = append(args, "--log-json")
	}
	b, err := json.Marshal(h)
	if err != nil {
		restore()
		return nil, err
	}
	args = append(append(args, "--"), s.opts.Args...)
	env := append(withoutResumeEnv(os.Environ()), resumeEnv+"="+string(b))

	// The halt signals wait, blocked in every thread, for the monitor's
	// signalfd. One that Go caught before is acted on here instead, and
	// the handoff tried again later: the sentinel, sent after the block,
	// comes out of Go's signal delivery after any caught before it.
	if err := blockSignals(unix.SIG_BLOCK); err != nil {
		restore()
		return nil, err
	}
	blocked = true
	if err := unix.Kill(os.Getpid(), handoffSentinel); err != nil {
		restore()
		return nil, err
	}
	select {
	case <-sentinel:
	case <-time.After(time.Second):
		restore()
		return nil, errMonitorBusy
	}
	for drained := false; !drained; {
		select {
		case sig := <-s.sigs:
			if sig != unix.SIGWINCH {
				restore()
				return sig, errMonitorBusy
			}
		default:
			drained = true
		}
	}
	for _, fd := range fds {
		if _, err := unix.FcntlInt(uintptr(fd), unix.F_SETFD, 0); err != nil {
			err = fmt.Errorf("keep fd %d open: %w", fd, err)
			s.closeOnExec(fds)
			restore()
			return nil, err
		}
	}
	s.log.Debug("handing off to the monitor")
	// On the thread that started the init, its parent: with another the
	// parent-death signal would kill it.
	err = syscall.Exec(s.monitorPath, args, env)
	s.closeOnExec(fds)
	restore()
	return nil, fmt.Errorf("exec %s: %w", s.monitorPath, err)
}

// handoffSentinel is the signal enterMonitor sends itself: one that nothing
// else sends (SIGRTMAX-1).
const handoffSentinel = syscall.Signal(63)

// dupSocket dups c's fd, close-on-exec, leaving its flags as they are.
func dupSocket(c syscall.Conn) (int, error) {
	rc, err := c.SyscallConn()
	if err != nil {
		return -1, err
	}
	dup := -1
	var derr error
	if err := rc.Control(func(fd uintptr) { dup, derr = unix.FcntlInt(fd, unix.F_DUPFD_CLOEXEC, 3) }); err != nil {
		return -1, err
	}
	return dup, derr
}

func (s *supervisor) closeOnExec(fds []int) {
	for _, fd := range fds {
		unix.CloseOnExec(fd)
	}
}

// blockSignals blocks or unblocks the halt signals in every thread of the
// process (a signal goes to any thread that does not block it).
func blockSignals(how int) error {
	var set unix.Sigset_t
	for _, sig := range haltSignals {
		n := uint(sig.(syscall.Signal)) - 1
		set.Val[n/64] |= 1 << (n % 64)
	}
	// The kernel's sigset is 64 bits, not unix.Sigset_t's 1024.
	_, _, errno := syscall.AllThreadsSyscall6(unix.SYS_RT_SIGPROCMASK, uintptr(how), uintptr(unsafe.Pointer(&set)), 0, 8, 0, 0)
	if errno != 0 {
		return fmt.Errorf("block signals: %w", errno)
	}
	return nil
}

func withoutResumeEnv(env []string) []string {
	var out []string
	for _, e := range env {
		k, _, _ := strings.Cut(e, "=")
		if k != resumeEnv && k != eventEnv && k != consoleEnv {
			out = append(out, e)
		}
	}
	return out
}

// Resume is the supervisor again, in a process that the monitor exec'd
// for an event: it finds the container from the record and the fds the
// handoff passed, acts on the event, and supervises the container to its
// end, or hands off again, as Run does. opts are the command line's, as
// for Run.
func Resume(opts Options) (status int, retErr error) {
	var h handoff
	raw, event, cons := os.Getenv(resumeEnv), os.Getenv(eventEnv), os.Getenv(consoleEnv)
	for _, k := range []string{resumeEnv, eventEnv, consoleEnv} {
		os.Unsetenv(k)
	}
	if err := json.Unmarshal([]byte(raw), &h); err != nil || !filepath.IsAbs(h.Dir) {
		return -1, fmt.Errorf("resume: bad %s", resumeEnv)
	}
	name := filepath.Base(h.Dir)
	defer func() {
		if retErr != nil {
			retErr = fmt.Errorf("%s: %w", DisplayName(name), retErr)
		}
	}()
	if opts.Log == nil {
		opts.Log = logrus.StandardLogger()
	}
	s, err := resume(h, opts)
	if err != nil {
		// The container cannot be watched: it goes, and the reaper
		// removes what is left once this process has exited.
		if s != nil && s.child != nil {
			_ = s.child.proc.Kill()
		}
		return -1, fmt.Errorf("resume the supervisor: %w; the container was killed", err)
	}
	s.log.WithField("event", event).Debug("resumed from the monitor")
	// The event, then the halt signals that were pending beside it.
	for _, ev := range strings.Split(event, ";") {
		switch kind, arg, _ := strings.Cut(ev, ":"); kind {
		case "halt":
			// The monitor told the guest to halt on a signal, and waited:
			// the halt goes on here, timed from then (CLOCK_MONOTONIC
			// nanoseconds, which a step of the wall clock leaves alone).
			ns, sig, _ := strings.Cut(arg, ":")
			at, err1 := strconv.ParseInt(ns, 10, 64)
			n, err2 := strconv.Atoi(sig)
			var now unix.Timespec
			err3 := unix.ClockGettime(unix.CLOCK_MONOTONIC, &now)
			if err1 != nil || err2 != nil || err3 != nil || n <= 0 || n > 64 {
				s.log.Warnf("monitor: bad event %q", ev)
				continue
			}
			ago := max(time.Duration(now.Nano()-at), 0)
			s.firstHalt = &monitorHalt{start: time.Now().Add(-ago), sig: syscall.Signal(n)}
		case "exit":
		case "signal":
			if strings.HasPrefix(event, "exit") {
				// The container is over: nothing left to halt.
				continue
			}
			for _, a := range strings.Split(arg, ",") {
				n, err := strconv.Atoi(a)
				if err != nil || n <= 0 || n > 64 {
					s.log.Warnf("monitor: bad signal %q", a)
					continue
				}
				s.firstSignals = append(s.firstSignals, syscall.Signal(n))
			}
		case "control":
			fd, err := strconv.Atoi(arg)
			if err != nil || fd < 3 {
				s.log.Warnf("monitor: bad event %q", ev)
				continue
			}
			f := os.NewFile(uintptr(fd), "control connection")
			conn, err := net.FileConn(f)
			f.Close()
			if err != nil {
				s.log.WithError(err).Warn("control connection")
				continue
			}
			if req := s.control.takeFirst(conn); req != nil {
				s.firstStops = append(s.firstStops, *req)
			}
		case "error":
			// The monitor cannot watch this container (one older
			// than this containerctl): the supervisor stays whole.
			s.log.Warnf("monitor: %s; the supervisor stays whole", arg)
			s.monitorPath = "-"
			go s.trim()
		default:
			s.log.Warnf("monitor: unknown event %q", ev)
		}
	}
	var pending *os.File
	state, extra, _ := strings.Cut(cons, ",")
	if fd, err := strconv.Atoi(strings.TrimPrefix(extra, "pending:")); err == nil && strings.HasPrefix(extra, "pending:") && fd >= 3 {
		unix.CloseOnExec(fd)
		pending = os.NewFile(uintptr(fd), "console output pending")
	}
	if state == "dropped" && s.console != nil {
		s.log.Warn("console output: dropping the rest")
	}
	s.relayConsoleFrom(state == "midline", state == "dropped", pending)
	status = s.run(s.rec)
	if s.restart != "" {
		return status, &RestartRequest{Profile: s.restart}
	}
	return status, nil
}

// monitorHalt is a halt the monitor started on a signal before it exec'd
// this process: the signal, and when the guest was told.
type monitorHalt struct {
	start time.Time
	sig   syscall.Signal
}

// resume rebuilds the supervisor of a running container from the handoff.
func resume(h handoff, opts Options) (*supervisor, error) {
	// Caught since this package's init: a halt signal from here on is
	// acted on.
	sigs := resumeSigs
	if sigs == nil {
		sigs = make(chan os.Signal, 64)
		signal.Notify(sigs, supervisorSignals...)
	}
	survivePipes()
	fds := append([]int{h.Record, h.Control, h.Notify, h.Console, h.Slave}, fdsOf(h.Users)...)
	if h.Root != nil {
		fds = append(fds, h.Root.FD)
	}
	for _, fd := range fds {
		if fd >= 0 {
			unix.CloseOnExec(fd)
		}
	}
	rec := &record{dir: h.Dir, f: os.NewFile(uintptr(h.Record), h.Dir)}
	// The lock must be ours, and on this directory.
	if err := unix.Flock(h.Record, unix.LOCK_EX|unix.LOCK_NB); err != nil || !samePath(rec.f, h.Dir) {
		return nil, fmt.Errorf("%s is not the record this process locked", h.Dir)
	}
	st, err := readState(h.Dir)
	if err != nil {
		return nil, fmt.Errorf("read the record: %w", err)
	}
	p, err := readPlan(h.Dir)
	if err != nil {
		return nil, err
	}
	if st.SupervisorPID != os.Getpid() || p.Name != filepath.Base(h.Dir) {
		return nil, fmt.Errorf("%s is not this supervisor's record", h.Dir)
	}
	s := &supervisor{p: p, opts: opts, log: opts.Log.WithField("container", p.Name), started: st.Started,
		state: st, rec: rec, sigs: sigs, resumed: true}
	proc, err := os.FindProcess(st.PID)
	if err != nil {
		return nil, fmt.Errorf("init pid %d: %w", st.PID, err)
	}
	s.child = &child{proc: proc, exited: make(chan struct{})}
	s.child.wait(proc.Wait)
	if s.cgroup, err = cgroup.Open(st.Cgroup); err != nil {
		return s, fmt.Errorf("cgroup: %w", err)
	}
	nf := os.NewFile(uintptr(h.Notify), "notify")
	nc, err := net.FileConn(nf)
	nf.Close()
	if err != nil {
		return s, fmt.Errorf("notify socket: %w", err)
	}
	uc, ok := nc.(*net.UnixConn)
	if !ok {
		return s, fmt.Errorf("notify socket is a %T", nc)
	}
	s.notify = newNotifier(uc, p.NotifyReady, rec.path(bootingFile), h.Ready, s.log)
	cf := os.NewFile(uintptr(h.Control), "control")
	l, err := net.FileListener(cf)
	cf.Close()
	if err != nil {
		return s, fmt.Errorf("control socket: %w", err)
	}
	s.control = newControlServer(l)
	if h.Console >= 0 {
		if s.console, err = console.ConsoleFromFile(os.NewFile(uintptr(h.Console), "console")); err != nil {
			return s, fmt.Errorf("console: %w", err)
		}
		s.slave = os.NewFile(uintptr(h.Slave), "console")
	}
	if h.Root != nil {
		s.root = &rootLock{f: os.NewFile(uintptr(h.Root.FD), h.Root.Path), exclusive: !h.RootShared}
	}
	if st.Users != nil {
		var files []*os.File
		for _, u := range h.Users {
			files = append(files, os.NewFile(uintptr(u.FD), u.Path))
		}
		if s.users, err = userns.Adopt(filepath.Dir(h.Dir), *st.Users, files); err != nil {
			return s, err
		}
	}
	return s, nil
}

func fdsOf(ps []fdPath) []int {
	var fds []int
	for _, p := range ps {
		fds = append(fds, p.FD)
	}
	return fds
}
