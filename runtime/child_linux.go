package runtime

import (
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	goruntime "runtime"
	"strconv"
	"sync"
	"syscall"

	"github.com/sirupsen/logrus"
	"golang.org/x/sys/unix"

	"github.com/containerctl/containerctl/runtime/nsenter"
)

// child is the init child, seen from the supervisor: the process, our end
// of the sync socket, and its messages as they come.
type child struct {
	cmd *exec.Cmd // nil in a supervisor resumed after an exec
	// proc is the child, and state its status once exited is closed.
	proc   *os.Process
	state  *os.ProcessState
	sock   *os.File
	cloned bool // created inside the cgroup2 cgroup (CLONE_INTO_CGROUP)
	msgs   chan received
	exited chan struct{} // closed once cmd.Wait returned
	reapMu sync.Mutex    // held while the child may not be reaped
	// waitErr is the wait's error, set before exited is closed.
	waitErr error
	// created are the paths inside the root the child made before it
	// failed, as it reported them.
	created []string
}

type received struct {
	m   message
	err error
}

func (c *child) pid() int { return c.proc.Pid }

// wait waits for the child in the background: exited is closed once it
// has exited and been reaped. It is reaped under reapMu, which a handoff to
// the monitor holds: an init that exits meanwhile stays a zombie for the
// monitor to see, and its status for the supervisor that resumes.
func (c *child) wait(wait func() (*os.ProcessState, error)) {
	go func() {
		var info unix.Siginfo
		for {
			err := unix.Waitid(unix.P_PID, c.proc.Pid, &info, unix.WEXITED|unix.WNOWAIT, nil)
			if !errors.Is(err, unix.EINTR) {
				break
			}
		}
		c.reapMu.Lock()
		c.state, c.waitErr = wait()
		// Closed before the lock is let go: a handoff that takes it
		// next must see that the init is gone, reaped.
		close(c.exited)
		c.reapMu.Unlock()
	}()
}

// startChild starts the init child in the container's namespaces, inside
// its cgroup2 cgroup, with the console (or the supervisor's stdio) as its
// stdio, the fds to preserve, and its end of the sync socket.
func (s *supervisor) startChild() error {
	fds, err := unix.Socketpair(unix.AF_UNIX, unix.SOCK_SEQPACKET|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		return fmt.Errorf("sync socketpair: %w", err)
	}
	parent, end := os.NewFile(uintptr(fds[0]), "sync"), os.NewFile(uintptr(fds[1]), "sync")
	var extra []*os.File
	for i := 0; i < s.p.PreserveFDs; i++ {
		extra = append(extra, os.NewFile(uintptr(3+i), "preserved"))
	}
	if s.opts.execFifo != nil {
		extra = append(extra, s.opts.execFifo)
	}
	if s.opts.consoleSocket != nil {
		extra = append(extra, s.opts.consoleSocket)
	}
	extra = append(extra, end)

	// The parent-death signal belongs to the thread that forks: keep this
	// goroutine on it for as long as the container runs.
	goruntime.LockOSThread()
	cloned := s.cgroup.FD() >= 0
	cmd := s.childCommand(extra, cloned)
	s.log.WithField("root", s.p.Root).Debug("starting init child")
	err = cmd.Start()
	if cloned && (errors.Is(err, unix.ENOSYS) || errors.Is(err, unix.EINVAL)) {
		// A kernel before 5.7 has no clone3 with CLONE_INTO_CGROUP. An
		// exec.Cmd starts once: the retry is a new one.
		s.log.WithError(err).Debug("CLONE_INTO_CGROUP unavailable; joining the cgroup before the init runs")
		cloned = false
		cmd = s.childCommand(extra, cloned)
		err = cmd.Start()
	}
	// Our copies: the child has its own now, and the socket must read EOF
	// once the child is gone.
	for _, f := range extra {
		if f != s.opts.execFifo && f != s.opts.consoleSocket {
			f.Close()
		}
	}
	if err != nil {
		goruntime.UnlockOSThread()
		parent.Close()
		return fmt.Errorf("start init child: %w", err)
	}
	c := &child{cmd: cmd, proc: cmd.Process, sock: parent, cloned: cloned, msgs: make(chan received, 16), exited: make(chan struct{})}
	c.wait(func() (*os.ProcessState, error) {
		// An exit status other than 0 is an *exec.ExitError here.
		err := cmd.Wait()
		return cmd.ProcessState, err
	})
	go c.read()
	s.child = c
	s.onUndo("kill init child", func() error {
		_ = cmd.Process.Kill()
		<-c.exited
		goruntime.UnlockOSThread()
		return nil
	})
	return nil
}

func (s *supervisor) childCommand(extra []*os.File, cloned bool) *exec.Cmd {
	cmd := &exec.Cmd{
		Path:       "/proc/self/exe",
		Args:       []string{"containerctl", InitCommand},
		Env:        []string{initFDEnv + "=" + strconv.Itoa(3+len(extra)-1)},
		ExtraFiles: extra,
		SysProcAttr: &syscall.SysProcAttr{
			Cloneflags: s.p.cloneFlags(),
			// The container dies with its supervisor, however the
			// supervisor dies: the kernel kills its PID 1, and with it
			// the PID namespace.
			Pdeathsig: pdeathsig(s.p.Detached),
			Setsid:    true,
			// Inside the container's cgroup2 cgroup from its first
			// instruction, so that nothing it does escapes; the v1
			// hierarchies get it before it may exec the init.
			UseCgroupFD: cloned,
			CgroupFD:    s.cgroup.FD(),
		},
	}
	s.p.userMaps(cmd.SysProcAttr)
	if s.console != nil {
		cmd.Stdin, cmd.Stdout, cmd.Stderr = s.slave, s.slave, s.slave
		cmd.SysProcAttr.Setctty = true
		cmd.SysProcAttr.Ctty = 0
	} else {
		cmd.Stdin, cmd.Stdout, cmd.Stderr = s.opts.Stdin, s.opts.Stdout, s.opts.Stderr
	}
	return cmd
}

// pdeathsig is SIGKILL, but none for an OCI create's init, which outlives
// its creator: its caller, a subreaper, inherits it.
func pdeathsig(detached bool) syscall.Signal {
	if detached {
		return 0
	}
	return unix.SIGKILL
}

// cloneFlags are the namespaces the init child is cloned into. The cgroup
// namespace is not among them: the child unshares it once it is in its
// cgroups (see initContainer).
func (p *Plan) cloneFlags() uintptr {
	flags := uintptr(unix.CLONE_NEWNS | unix.CLONE_NEWPID)
	for _, f := range []struct {
		on   bool
		flag uintptr
	}{{p.NewUTS, unix.CLONE_NEWUTS}, {p.NewIPC, unix.CLONE_NEWIPC}, {p.NewNetwork, unix.CLONE_NEWNET}} {
		if f.on {
			flags |= f.flag
		}
	}
	return flags
}

// read passes the child's messages on until EOF or an error, then closes
// msgs.
//
// A child that exits with a message of ours unread makes the kernel set
// ECONNRESET on our end, which a SOCK_SEQPACKET read reports before the
// messages still queued: the child's own error among them. So a reset is
// passed on only after them, at the EOF.
func (c *child) read() {
	defer close(c.msgs)
	var reset error
	for {
		m, err := readMessage(c.sock)
		if errors.Is(err, unix.ECONNRESET) && reset == nil {
			reset = err
			continue
		}
		if errors.Is(err, io.EOF) || reset != nil && err != nil {
			if reset != nil {
				c.msgs <- received{err: reset}
			}
			return
		}
		c.msgs <- received{m, err}
		if err != nil {
			return
		}
	}
}

func (c *child) send(m message) error { return writeMessage(c.sock, m) }

// failure is what a start that failed at err reports: the child's own
// error when it sent one, for a child that failed early makes the
// supervisor fail too ("no such process" moving it into a cgroup), and
// the cause is the child's.
func (c *child) failure(err error) error {
	_ = c.proc.Kill()
	<-c.exited
	var childErr error
	for r := range c.msgs {
		if r.m.Type == msgError && r.m.Error != nil {
			childErr = r.m.Error
			c.created = r.m.Created
		}
	}
	if childErr != nil {
		return childErr
	}
	return err
}

// handshake leads the child from its config to the exec of the init (see
// the package documentation).
func (s *supervisor) handshake(rec *record) error {
	c := s.child
	cfg := s.childConfig()
	if err := c.send(message{Type: msgConfig, Config: cfg}); err != nil {
		return fmt.Errorf("send config to init child: %w", err)
	}
	// The plan is kept for whatever enters the container (exec, delete),
	// which waits for the init to run: written while the child sets up.
	written := make(chan error, 1)
	go func() { written <- rec.writePlan(s.p) }()
	awaitPlan := sync.OnceValue(func() error { return <-written })
	// Whatever becomes of the start, the writer is done before the
	// record can be removed.
	defer awaitPlan()
	if err := s.stageUsers(); err != nil {
		return err
	}
	// The child sets up the root while it joins the v1 hierarchies.
	if err := s.cgroup.Add(c.pid(), c.cloned); err != nil {
		return fmt.Errorf("cgroup: %w", err)
	}
	if err := c.send(message{Type: msgCgroups}); err != nil {
		return fmt.Errorf("send cgroups to init child: %w", err)
	}
	if cfg.Hooks != nil {
		if err := s.createRuntimeHooks(); err != nil {
			return err
		}
	}
	if err := s.await(msgReady); err != nil {
		return err
	}
	if err := s.unstageUsers(); err != nil {
		return err
	}
	// Listen before the record shows the init, so that a stop that finds
	// it can reach us; it is served once the container runs.
	var err error
	if !s.p.Detached {
		if s.control, err = listenControl(rec.controlPath()); err != nil {
			return err
		}
		s.onUndo("close control socket", func() error { s.control.close(); return nil })
	}
	s.state.PID = c.pid()
	if s.state.InitStartTime, err = nsenter.StartTime(c.pid()); err != nil {
		return fmt.Errorf("init child: %w", err)
	}
	if err := rec.write(s.state); err != nil {
		return err
	}
	if s.p.Detached {
		// The init waits for start on its FIFO.
		if err := awaitPlan(); err != nil {
			return err
		}
		if err := c.send(message{Type: msgDetach}); err != nil {
			return fmt.Errorf("detach init child: %w", err)
		}
		return nil
	}
	if err := c.send(message{Type: msgGo}); err != nil {
		return fmt.Errorf("release init child: %w", err)
	}
	// EOF now means the exec succeeded: the child's end was
	// close-on-exec.
	if err := s.await(""); err != nil {
		return err
	}
	if err := awaitPlan(); err != nil {
		return err
	}
	s.state.InitExecd = true
	return rec.write(s.state)
}

// childConfig is the init child's config: the plan's, with the fds and
// hooks of an OCI create.
func (s *supervisor) childConfig() *initConfig {
	cfg := s.p.initConfig(s.log.Logger.IsLevelEnabled(logrus.DebugLevel))
	if s.opts.execFifo != nil {
		cfg.ExecFifoFD = 3 + s.p.PreserveFDs
	}
	if s.opts.consoleSocket != nil {
		cfg.ConsoleSocketFD = 3 + s.p.PreserveFDs + 1
	}
	if h := s.opts.containerHooks; h != nil {
		hooks := *h
		hooks.State.Pid = s.child.pid()
		cfg.Hooks = &hooks
	}
	return cfg
}

// createRuntimeHooks runs an OCI create's prestart and createRuntime hooks
// once the child asks, its mounts made, and lets it run its own.
func (s *supervisor) createRuntimeHooks() error {
	if err := s.await(msgHooks); err != nil {
		return err
	}
	if err := s.opts.runtimeHooks(s.child.pid()); err != nil {
		return err
	}
	if err := s.child.send(message{Type: msgHooksDone}); err != nil {
		return fmt.Errorf("release init child's hooks: %w", err)
	}
	return nil
}

// await reads the child's messages until want arrives ("" for EOF, the
// exec), logging its debug lines. A signal to stop meanwhile kills the
// child, and the start fails, whatever the child had sent by then.
func (s *supervisor) await(want string) error {
	c := s.child
	var interrupted os.Signal
	for {
		select {
		case r, ok := <-c.msgs:
			switch {
			case !ok && interrupted != nil:
				return fmt.Errorf("start interrupted by %v", interrupted)
			case !ok && want == "":
				return nil
			case !ok:
				<-c.exited
				return fmt.Errorf("init child exited during start: %w", c.waitErr)
			case r.err != nil && interrupted != nil:
				// The child we killed reset the socket: the signal is
				// the cause, not the read.
				return fmt.Errorf("start interrupted by %v", interrupted)
			case r.err != nil:
				return fmt.Errorf("read from init child: %w", r.err)
			case r.m.Type == msgLog:
				s.log.Debug(r.m.Log)
			case r.m.Type == msgError && r.m.Error != nil:
				c.created = r.m.Created
				return r.m.Error
			case interrupted != nil:
				// Killed: wait for the EOF.
			case r.m.Type == want:
				return nil
			default:
				return fmt.Errorf("unexpected message %q from init child", r.m.Type)
			}
		case sig := <-s.sigs:
			if sig == unix.SIGWINCH || interrupted != nil {
				continue
			}
			// Debug: the error that ends the start says it, in one line.
			s.log.Debugf("%v during start, killing the init child", sig)
			interrupted = sig
			_ = c.proc.Kill()
		}
	}
}
