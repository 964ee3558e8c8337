package runtime

import (
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	goruntime "runtime"
	"syscall"
	"time"

	"github.com/containerd/console"
	specs "github.com/opencontainers/runtime-spec/specs-go"
	"github.com/sirupsen/logrus"
	"golang.org/x/sys/unix"

	"github.com/containerctl/containerctl/cgroup"
	"github.com/containerctl/containerctl/mount"
	"github.com/containerctl/containerctl/signals"
)

// Options are the supervisor's settings, which are not part of the spec.
type Options struct {
	Console     Console
	StopTimeout time.Duration
	// KillSignal is what a halt sends to the init; signals.Halt
	// (SIGRTMIN+3, systemd's) when zero. As nspawn's --kill-signal.
	KillSignal unix.Signal
	// MakeRootParents creates missing parents of the root, as for the
	// default /var/lib/containers/NAME; otherwise the parent must exist.
	MakeRootParents bool
	// NotifyReady makes the supervisor tell its own service manager
	// READY=1 only once the guest's init has sent READY=1, as
	// systemd-nspawn --notify-ready=yes; otherwise as soon as the init runs.
	NotifyReady bool
	// BootsSystem says the init boots a whole system (systemd), which
	// needs its share of root's inotify instances: the start is refused
	// when too few are left (see InotifyError).
	BootsSystem bool
	// Stdin, Stdout and Stderr are the supervisor's own; the console is
	// relayed to them.
	Stdin, Stdout, Stderr *os.File
	Log                   *logrus.Logger
}

// Run starts the container and supervises it until its init exits. It
// returns the init's exit status (128+N when the init was killed by signal
// N). A start that fails removes what it created and returns an error that
// names the container.
func Run(c *Container, opts Options) (status int, retErr error) {
	defer func() {
		if retErr != nil {
			retErr = fmt.Errorf("%s: %w", c.Name, retErr)
		}
	}()
	if opts.Log == nil {
		opts.Log = logrus.StandardLogger()
	}
	if opts.StopTimeout <= 0 {
		opts.StopTimeout = DefaultStopTimeout
	}
	if opts.KillSignal == 0 {
		opts.KillSignal = signals.Halt
	}
	log := opts.Log.WithField("container", c.Name)

	if err := ValidateName(c.Name); err != nil {
		return -1, err
	}
	layout, err := cgroup.DetectLayout()
	if err != nil {
		return -1, fmt.Errorf("find cgroup hierarchies: %w", err)
	}
	if err := cgroup.Check(layout, resources(c.Spec)); err != nil {
		return -1, err
	}
	if err := c.Validate(opts.MakeRootParents); err != nil {
		return -1, err
	}
	if !newNamespace(c.Spec, specs.MountNamespace) || !newNamespace(c.Spec, specs.PIDNamespace) {
		return -1, fmt.Errorf("%w: needs new mount and PID namespaces", ErrInvalidSpec)
	}
	if _, err := mount.Plan(c.Spec, ""); err != nil {
		return -1, fmt.Errorf("%w: %w", ErrInvalidSpec, err)
	}
	rec, err := lockRecord(c.stateDir(), c.Name)
	if err != nil {
		return -1, err
	}
	if opts.BootsSystem {
		// Marked before the check, so that systems started at the same
		// moment count each other; the notifier removes the mark once
		// the guest is ready.
		if err := os.WriteFile(filepath.Join(rec.dir, bootingFile), nil, 0o600); err != nil {
			_ = rec.release()
			return -1, err
		}
		if err := checkInotify(c.stateDir(), rec); err != nil {
			_ = rec.release()
			return -1, err
		}
	}
	s, err := start(c, opts, rec, layout, log)
	if err != nil {
		if rerr := rec.release(); rerr != nil {
			log.WithError(rerr).Warn("remove state record")
		}
		return -1, err
	}
	res, waiters := s.supervise()
	s.finish(rec, res)
	switch res.Outcome {
	case OutcomeExited:
		log.Infof("init exited with status %d", res.ExitStatus)
	case OutcomeHalted:
		log.Infof("halted in %v, exit status %d", res.Elapsed.Round(time.Millisecond), res.ExitStatus)
	case OutcomeKilled:
		log.Warnf("killed after %v, exit status %d", res.Elapsed.Round(time.Millisecond), res.ExitStatus)
	}
	for _, w := range waiters {
		w <- res
	}
	s.control.flush(time.Second)
	return res.ExitStatus, nil
}

// supervisor is a started container and what watches it.
type supervisor struct {
	c       *Container
	opts    Options
	log     *logrus.Entry
	cmd     *exec.Cmd
	waited  chan error // the init's exit, from cmd.Wait
	sigs    chan os.Signal
	control *controlServer
	cgroup  *cgroup.Cgroup
	notify  *notifier
	// console, when the container has one: the pseudo-terminal's master,
	// our copy of its slave, and the output copier's end.
	console  console.Console
	slave    *os.File
	copied   chan struct{}
	terminal console.Console // the supervisor's own, in raw mode
	started  time.Time
}

func start(c *Container, opts Options, rec *record, layout cgroup.Layout, log *logrus.Entry) (_ *supervisor, retErr error) {
	s := &supervisor{c: c, opts: opts, log: log, started: time.Now()}
	var undo []func()
	defer func() {
		if retErr != nil {
			for i := len(undo) - 1; i >= 0; i-- {
				undo[i]()
			}
		}
	}()

	// Signals are taken from the start on, so that none is lost and none
	// ends the supervisor before it can undo what it made. Go's runtime
	// uses SIGURG itself, which is not asked for.
	s.sigs = make(chan os.Signal, 64)
	signal.Notify(s.sigs, unix.SIGTERM, unix.SIGINT, unix.SIGHUP, unix.SIGWINCH)
	undo = append(undo, func() { signal.Stop(s.sigs) })

	id, err := randomID()
	if err != nil {
		return nil, err
	}
	var cgroupsPath string
	if c.Spec.Linux != nil {
		cgroupsPath = c.Spec.Linux.CgroupsPath
	}
	cgcfg, err := cgroup.Place(layout, c.Name, cgroupsPath, resources(c.Spec))
	if err != nil {
		return nil, fmt.Errorf("cgroup: %w", err)
	}
	if s.cgroup, err = cgroup.Create(layout, cgcfg); err != nil {
		return nil, fmt.Errorf("cgroup: %w", err)
	}
	undo = append(undo, func() {
		if err := s.cgroup.Destroy(); err != nil {
			log.WithError(err).Warn("remove cgroup")
		}
	})
	log.WithField("cgroup", s.cgroup.Path()).Debug("created cgroup")
	if r := resources(c.Spec); r != nil && len(r.Devices) > 0 {
		if ok, err := s.cgroup.DevicesEnforced(); !ok {
			log.WithError(err).Warn("device access is not restricted: no cgroup2 device filter and no v1 devices controller")
		} else if err != nil {
			log.WithError(err).Debug("no cgroup2 device filter; the v1 devices controller enforces the rules")
		}
	}
	// Recorded at once, without an init yet: if the supervisor dies from
	// here on, whoever finds the record removes the cgroups.
	state := State{
		ID:            id,
		Name:          c.Name,
		SupervisorPID: os.Getpid(),
		Root:          c.Spec.Root.Path,
		Init:          c.Spec.Process.Args,
		Started:       s.started,
		Cgroup:        s.cgroup.Record(),
	}
	if err := rec.write(state); err != nil {
		return nil, err
	}

	undoRoot, err := prepareRoot(c.Spec.Root.Path, opts.MakeRootParents)
	if err != nil {
		return nil, fmt.Errorf("prepare root: %w", err)
	}
	undo = append(undo, func() {
		if err := undoRoot(); err != nil {
			log.WithError(err).Warn("remove what was created in the root")
		}
	})

	var consolePath string
	if opts.Console != ConsolePipe {
		if s.console, consolePath, err = console.NewPty(); err != nil {
			return nil, fmt.Errorf("allocate console: %w", err)
		}
		undo = append(undo, func() { s.console.Close() })
		// Keep a slave open for the container's lifetime: with none
		// open, reads on the master fail with EIO, as they would each
		// time the guest closes and reopens its console.
		if s.slave, err = os.OpenFile(consolePath, unix.O_RDWR|unix.O_NOCTTY|unix.O_CLOEXEC, 0); err != nil {
			return nil, fmt.Errorf("open console %s: %w", consolePath, err)
		}
		undo = append(undo, func() { s.slave.Close() })
	}
	steps, err := mount.Plan(c.Spec, consolePath)
	if err != nil {
		return nil, err
	}
	notifyPath := filepath.Join(rec.dir, notifyFile)
	if s.notify, err = listenNotify(notifyPath, opts.NotifyReady, filepath.Join(rec.dir, bootingFile), log); err != nil {
		return nil, err
	}
	undo = append(undo, func() { s.notify.close() })
	bootIDPath := filepath.Join(rec.dir, bootIDFile)
	if err := writeBootID(bootIDPath); err != nil {
		return nil, fmt.Errorf("boot ID: %w", err)
	}
	steps = hostSteps(c.Spec, steps, notifyPath, bootIDPath)

	fds, err := unix.Socketpair(unix.AF_UNIX, unix.SOCK_SEQPACKET|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		return nil, fmt.Errorf("sync socketpair: %w", err)
	}
	parent, child := os.NewFile(uintptr(fds[0]), "sync"), os.NewFile(uintptr(fds[1]), "sync")
	defer parent.Close()
	defer child.Close()

	s.cmd = &exec.Cmd{
		Path:       "/proc/self/exe",
		Args:       []string{"containerctl", InitCommand},
		Env:        []string{initFDEnv + "=3"},
		ExtraFiles: []*os.File{child},
		SysProcAttr: &syscall.SysProcAttr{
			Cloneflags: cloneFlags(c.Spec),
			// The container dies with its supervisor, however the
			// supervisor dies: the kernel kills its PID 1, and with it
			// the PID namespace. The parent-death signal belongs to
			// the thread that forks, hence LockOSThread below.
			Pdeathsig: unix.SIGKILL,
			Setsid:    true,
		},
	}
	if s.console != nil {
		s.cmd.Stdin, s.cmd.Stdout, s.cmd.Stderr = s.slave, s.slave, s.slave
		s.cmd.SysProcAttr.Setctty = true
		s.cmd.SysProcAttr.Ctty = 0
	} else {
		s.cmd.Stdin, s.cmd.Stdout, s.cmd.Stderr = opts.Stdin, opts.Stdout, opts.Stderr
	}

	// The child starts inside the container's cgroup2 cgroup
	// (CLONE_INTO_CGROUP), so nothing it does escapes; the v1 hierarchies
	// get it below, before it may exec the init.
	cloned := s.cgroup.FD() >= 0
	s.cmd.SysProcAttr.UseCgroupFD = cloned
	s.cmd.SysProcAttr.CgroupFD = s.cgroup.FD()

	goruntime.LockOSThread()
	log.WithField("root", c.Spec.Root.Path).Debug("starting init child")
	err = s.cmd.Start()
	if cloned && (errors.Is(err, unix.ENOSYS) || errors.Is(err, unix.EINVAL)) {
		// A kernel before 5.7 has no clone3 with CLONE_INTO_CGROUP.
		log.WithError(err).Debug("CLONE_INTO_CGROUP unavailable; joining the cgroup before the init runs")
		cloned = false
		s.cmd.SysProcAttr.UseCgroupFD = false
		err = s.cmd.Start()
	}
	if err != nil {
		goruntime.UnlockOSThread()
		return nil, fmt.Errorf("start init child: %w", err)
	}
	child.Close()
	s.waited = make(chan error, 1)
	go func() { s.waited <- s.cmd.Wait() }()
	undo = append(undo, func() {
		_ = s.cmd.Process.Kill()
		<-s.waited
		goruntime.UnlockOSThread()
	})

	cfg := &initConfig{Name: c.Name, Spec: c.Spec, Steps: steps, Console: consolePath, Debug: log.Logger.IsLevelEnabled(logrus.DebugLevel)}
	if err := writeMessage(parent, message{Type: msgConfig, Config: cfg}); err != nil {
		return nil, fmt.Errorf("send config to init child: %w", err)
	}
	// The child sets up the root while it joins the v1 hierarchies.
	if err := s.cgroup.Add(s.cmd.Process.Pid, cloned); err != nil {
		return nil, fmt.Errorf("cgroup: %w", err)
	}
	if err := writeMessage(parent, message{Type: msgCgroups}); err != nil {
		return nil, fmt.Errorf("send cgroups to init child: %w", err)
	}
	if err := s.await(parent, msgReady); err != nil {
		return nil, err
	}
	// Listen before the record shows the init, so that a stop that finds
	// it can reach us; it is served once the container runs.
	if s.control, err = listenControl(rec.controlPath()); err != nil {
		return nil, err
	}
	undo = append(undo, func() { s.control.close() })
	state.PID = s.cmd.Process.Pid
	if err := rec.write(state); err != nil {
		return nil, err
	}
	if err := writeMessage(parent, message{Type: msgGo}); err != nil {
		return nil, fmt.Errorf("release init child: %w", err)
	}
	// EOF now means the exec succeeded: our end was close-on-exec.
	if err := s.await(parent, ""); err != nil {
		return nil, err
	}
	// Started once the init runs, so that its start-up does not delay the
	// container's; a supervisor that dies before has its record pruned by
	// the next command that reads it. Under a systemd unit with
	// Delegate=yes there is none: systemd removes the unit's cgroups when
	// the supervisor dies, and the unit's restart prunes the record.
	if !s.cgroup.Delegated() {
		go func() {
			if err := startReaper(rec.dir, id); err != nil {
				log.WithError(err).Warn("no reaper: if the supervisor is killed, the next containerctl command cleans up")
			}
		}()
	}
	s.relayConsole()
	s.notify.started()

	log.WithFields(logrus.Fields{"pid": s.cmd.Process.Pid, "init": c.Spec.Process.Args[0]}).
		Infof("running, init is pid %d on the host, started in %v", s.cmd.Process.Pid, time.Since(s.started).Round(time.Microsecond))
	return s, nil
}

// await reads the child's messages until want arrives ("" for EOF), logging
// its debug lines. A signal to stop meanwhile kills the child.
func (s *supervisor) await(sock *os.File, want string) error {
	type result struct {
		m   message
		err error
	}
	msgs := make(chan result, 1)
	var interrupted os.Signal
	for {
		go func() {
			m, err := readMessage(sock)
			msgs <- result{m, err}
		}()
		var r result
	wait:
		for {
			select {
			case r = <-msgs:
				break wait
			case sig := <-s.sigs:
				if sig == unix.SIGWINCH {
					continue
				}
				s.log.Infof("%v during start, killing the init child", sig)
				interrupted = sig
				_ = s.cmd.Process.Kill()
			}
		}
		switch {
		case interrupted != nil && r.err != nil:
			// EOF here is the kill, not a successful exec.
			err := <-s.waited
			s.waited <- err // for the undo
			return fmt.Errorf("start interrupted by %v", interrupted)
		case errors.Is(r.err, io.EOF) && want == "":
			return nil
		case r.err != nil && !errors.Is(r.err, io.EOF):
			return fmt.Errorf("read from init child: %w", r.err)
		case r.err != nil:
			err := <-s.waited
			s.waited <- err // for the undo
			return fmt.Errorf("init child exited during start: %w", err)
		case r.m.Type == msgLog:
			s.log.Debug(r.m.Log)
		case r.m.Type == msgError && r.m.Error != nil:
			return r.m.Error
		case r.m.Type == want:
			return nil
		default:
			return fmt.Errorf("unexpected message %q from init child", r.m.Type)
		}
	}
}

// cloneFlags are the namespaces the init child is cloned into. The cgroup
// namespace is not among them: the child unshares it once it is in its
// cgroups (see initContainer).
func cloneFlags(spec *specs.Spec) uintptr {
	var flags uintptr
	for t, f := range map[specs.LinuxNamespaceType]uintptr{
		specs.MountNamespace:   unix.CLONE_NEWNS,
		specs.PIDNamespace:     unix.CLONE_NEWPID,
		specs.UTSNamespace:     unix.CLONE_NEWUTS,
		specs.IPCNamespace:     unix.CLONE_NEWIPC,
		specs.NetworkNamespace: unix.CLONE_NEWNET,
	} {
		if newNamespace(spec, t) {
			flags |= f
		}
	}
	return flags
}

func resources(spec *specs.Spec) *specs.LinuxResources {
	if spec.Linux == nil {
		return nil
	}
	return spec.Linux.Resources
}
