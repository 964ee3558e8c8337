package runtime

import (
	"errors"
	"fmt"
	"io"
	"os"
	"os/signal"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/containerd/console"
	"github.com/sirupsen/logrus"
	"golang.org/x/sys/unix"

	"github.com/containerctl/containerctl/cgroup"
	"github.com/containerctl/containerctl/mount"
	"github.com/containerctl/containerctl/runtime/network"
	"github.com/containerctl/containerctl/runtime/userns"
)

// supervisor is a started container and what watches it.
type supervisor struct {
	p       *Plan
	opts    Options
	log     *logrus.Entry
	started time.Time
	state   State
	// undo holds what the start made, each entry undone by the step that
	// made it when a later step fails; keepRecord says an undo failed and
	// left something that only the record names.
	undo       []func() error
	keepRecord bool
	rec        *record
	// restart is the profile to start the container again from, once it
	// has halted, when a reload asked for it.
	restart string

	sigs    chan os.Signal
	cgroup  *cgroup.Cgroup
	notify  *notifier
	control *controlServer
	child   *child
	net     *network.Net // the container's network, once set up
	// users holds the ID range of a container with private users, and
	// stage its idmapped mounts during the start (users_linux.go).
	users *userns.Lease
	// root holds the container's root against other containers' starts
	// (rootlock_linux.go); nil for an OCI container's.
	root  *rootLock
	stage *userns.Stage
	// console, when the container has one: the pseudo-terminal's master,
	// our copy of its slave, and the output copier's end.
	console  console.Console
	slave    *os.File
	copied   chan struct{} // closed once the output copier is done
	copyStop int           // eventfd that stops the copier
	// copyMu is held by the copier from a read to the end of its write;
	// copyStopped, once set, keeps it from reading again.
	copyMu      sync.Mutex
	copyStopped atomic.Bool
	// consoleOut is where the console's output goes (io.Discard once
	// dropped), and lines keeps it apart from the log where both share
	// a stream.
	consoleOut io.Writer
	lines      *consoleLines
	terminal   console.Console // the supervisor's own, in raw mode
	// monitorPath is containerctl-monitor's ("-": none); resumed says
	// that this supervisor was exec'd by it (monitor_linux.go).
	monitorPath string
	resumed     bool
	// firstStops and firstSignals are what a resumed supervisor was
	// exec'd for, acted on before anything else.
	firstStops   []stopRequest
	firstSignals []os.Signal
	firstHalt    *monitorHalt
	// restoreLog gives the log its own output back, when it shared the
	// console's stream (consoleLines).
	restoreLog func()
}

// start runs the steps of a start in order: take the signals, make the
// cgroup and record it, prepare the host (root, console, notify socket,
// boot ID), start the init child, and lead it through the handshake to the
// exec of the init. When a step fails, what the earlier ones made is
// undone, last first.
func start(p *Plan, opts Options, rec *record, log *logrus.Entry) (_ *supervisor, retErr error) {
	s := &supervisor{p: p, opts: opts, log: log, started: time.Now(), rec: rec}
	defer func() {
		if retErr != nil {
			s.undoAll()
		}
	}()
	s.catchSignals()
	id, err := randomID()
	if err != nil {
		return s, err
	}
	s.state.ID = id
	s.startReaper(rec)
	if err := s.makeCgroup(rec); err != nil {
		return s, err
	}
	if err := s.prepareHost(rec); err != nil {
		return s, err
	}
	if err := s.prepareUsers(rec); err != nil {
		return s, err
	}
	if err := s.startChild(); err != nil {
		return s, s.oomCause(err)
	}
	if err := s.setupNetwork(rec); err != nil {
		return s, s.child.failure(err)
	}
	if err := s.handshake(rec); err != nil {
		return s, s.oomCause(s.child.failure(err))
	}
	if s.net != nil {
		// The init runs the guest's code from here on.
		s.net.GuestStarted()
	}
	if !s.p.Detached {
		s.serve(rec)
	}
	return s, nil
}

// startReaper starts the reaper once the record is locked and its ID
// chosen, and returns once it runs, before the cgroups are made: a
// supervisor killed however early has its cgroups and record removed, the
// cgroups being recorded before they are made (makeCgroup). Its fork and
// exec overlapped the cgroups' creation once, 0.36 ms a start faster, but
// a supervisor killed in their first milliseconds then left them with no
// reaper to remove them.
// Under a systemd unit with Delegate=yes there is none: systemd removes
// the unit's cgroups when the supervisor dies, and the unit's restart
// prunes the record. An OCI create has none either: no supervisor stays,
// and delete cleans up.
func (s *supervisor) startReaper(rec *record) {
	if s.p.Cgroup.Delegated || s.p.Detached {
		return
	}
	if err := startReaper(rec.dir, s.state.ID); err != nil {
		s.log.WithError(err).Warn("no reaper: if the supervisor is killed, the next containerctl command cleans up")
	}
}

func (s *supervisor) onUndo(what string, fn func() error) {
	s.undo = append(s.undo, func() error {
		if err := fn(); err != nil {
			s.log.WithError(err).Warn(what)
			return err
		}
		return nil
	})
}

func (s *supervisor) undoAll() {
	for i := len(s.undo) - 1; i >= 0; i-- {
		_ = s.undo[i]()
	}
	s.undo = nil
}

// dropRecord removes the record of a failed start, unless an undo failed:
// then the record is the only list of what is left, and the next command
// that finds it tries again.
func (s *supervisor) dropRecord(rec *record) {
	if s != nil && s.keepRecord {
		_ = rec.abandon()
		return
	}
	if err := rec.release(); err != nil {
		s.log.WithError(err).Warn("remove state record")
	}
}

// supervisorSignals are those the supervisor acts on while its container
// runs (supervise), and ignores once it is gone (finish).
var supervisorSignals = []os.Signal{unix.SIGTERM, unix.SIGINT, unix.SIGHUP, unix.SIGWINCH}

// haltSignals are the supervisor's signals that halt the container.
var haltSignals = []os.Signal{unix.SIGTERM, unix.SIGINT, unix.SIGHUP}

// catchSignals takes the signals from the start on, so that none is lost
// and none ends the supervisor before it can undo what it made. Go's
// runtime uses SIGURG itself, which is not asked for.
func (s *supervisor) catchSignals() {
	s.opts.pipes.wait()
	s.sigs = make(chan os.Signal, 64)
	signal.Notify(s.sigs, supervisorSignals...)
	s.onUndo("stop signals", func() error { signal.Stop(s.sigs); return nil })
}

// pipeSignal is survivePipes run by a goroutine that Run and Create start
// before they compile the plan. A process's first signal.Notify starts Go's
// signal-handling thread, 0.1 to 0.3 ms, which so overlaps the compile
// instead of delaying the start; catchSignals, after it, costs a few
// microseconds. The halt signals keep their default until then, as
// before: one during the compile or the record's lock ends the process
// at once, not a start half made.
type pipeSignal struct{ done chan struct{} }

// survivePipesAsync begins survivePipes in the background.
func survivePipesAsync() *pipeSignal {
	p := &pipeSignal{done: make(chan struct{})}
	go func() {
		defer close(p.done)
		survivePipes()
	}()
	return p
}

// wait waits for it; nil (a start without it) returns at once.
func (p *pipeSignal) wait() {
	if p != nil {
		<-p.done
	}
}

// makeCgroup creates the container's cgroup and records it at once,
// without an init yet: if the supervisor dies from here on, whoever finds
// the record removes the cgroups.
func (s *supervisor) makeCgroup(rec *record) error {
	p := s.p
	s.state = State{
		ID:            s.state.ID,
		Name:          p.Name,
		SupervisorPID: os.Getpid(),
		Root:          p.Root,
		Init:          p.Process.Args,
		Profile:       p.Profile,
		Started:       s.started,
		Cgroup:        cgroup.Planned(p.Layout, p.Cgroup),
	}
	// Recorded before they are made: a supervisor killed while Create
	// makes them leaves a record the reaper removes them by.
	if err := rec.write(s.state); err != nil {
		return err
	}
	var err error
	if s.cgroup, err = cgroup.Create(p.Layout, p.Cgroup); err != nil {
		if r := p.Cgroup.Resources; errors.Is(err, unix.ENOMEM) && r != nil && r.Memory != nil && r.Memory.Limit != nil {
			return fmt.Errorf("cgroup: the memory limit (%d bytes) is too small even for the container's cgroups: %w", *r.Memory.Limit, err)
		}
		return fmt.Errorf("cgroup: %w", err)
	}
	s.onUndo("remove cgroup", func() error {
		if err := s.cgroup.Destroy(); err != nil {
			s.keepRecord = true
			return err
		}
		return nil
	})
	s.log.WithField("cgroup", s.cgroup.Path()).Debug("created cgroup")
	if r := p.Cgroup.Resources; r != nil && len(r.Devices) > 0 {
		ok, err := s.cgroup.DevicesEnforced()
		if !ok {
			// Only with AllowUnrestrictedDevices: Create refuses
			// otherwise.
			s.log.WithError(err).Warn("device access is not restricted: no cgroup2 device filter and no v1 devices controller")
		}
	}
	s.state.Cgroup = s.cgroup.Record()
	return rec.write(s.state)
}

// oomCause names the memory limit as the cause of a start that failed
// because the OOM killer killed the init child at it: the error the
// child's death left (a reset socket, a killed child) says nothing of it.
func (s *supervisor) oomCause(err error) error {
	if err == nil || s.cgroup == nil {
		return err
	}
	if n := s.cgroup.OOMKills(); n > 0 {
		return fmt.Errorf("the container's memory limit is too small for its start: the OOM killer killed %d of its processes (%v)", n, err)
	}
	return err
}

// prepareHost makes what the container needs on the host before its init
// child starts: the root (and root/etc), the console's pseudo-terminal, the
// notify socket and the boot ID.
func (s *supervisor) prepareHost(rec *record) error {
	p := s.p
	undoRoot, err := prepareRoot(p.Root, p.MakeRootParents, !p.Detached)
	if err != nil {
		return fmt.Errorf("prepare root: %w", err)
	}
	warning := checkRootReach(p.Root)
	if p.MakeRootParents {
		if warning, err = checkRootsDir(filepath.Dir(p.Root)); err != nil {
			return err
		}
	}
	if warning != "" {
		s.log.Warn(warning)
	}
	if p.Users != nil {
		for _, w := range bindReachWarnings(p.Mounts.Steps) {
			s.log.Warn(w)
		}
	}
	s.onUndo("remove what was created in the root", func() error {
		// The child's mount points and bind targets first: its mount
		// namespace is gone by now (the child is killed and waited for
		// before this runs), so nothing is mounted on them.
		var errs []error
		if s.child != nil {
			for base, paths := range createdOnHost(p.Root, p.Mounts.Steps, s.child.created) {
				errs = append(errs, mount.RemoveCreated(base, paths))
			}
		}
		return errors.Join(append(errs, undoRoot())...)
	})
	if !p.Detached {
		// A root another container writes is refused, as
		// systemd-nspawn refuses an image in use: once the root is
		// there (run makes a missing one), by its inode.
		if s.root, err = lockRoot(p.StateDir, p.Name, p.Root, !p.Ephemeral && !p.ReadonlyRoot); err != nil {
			return err
		}
		s.onUndo("release the root", func() error { s.root.release(); return nil })
	}
	// An OCI terminal is made by the child, in the container's devpts.
	if p.Console != ConsolePipe && s.opts.consoleSocket == nil {
		var slavePath string
		if s.console, slavePath, err = console.NewPty(); err != nil {
			return fmt.Errorf("allocate console: %w", err)
		}
		s.onUndo("close console", s.console.Close)
		if _, err := console.ConsoleFromFile(s.opts.Stdout); err != nil {
			// Output to other than a terminal (a unit's journal, a
			// pipe) has plain "\n" line ends, from the guest's first
			// byte on: the slave's line discipline adds the "\r" as
			// the guest writes, before any relay has started.
			_ = console.ClearONLCR(s.console.Fd())
		}
		// Keep a slave open for the container's lifetime: with none
		// open, reads on the master fail with EIO, as they would each
		// time the guest closes and reopens its console.
		if s.slave, err = os.OpenFile(slavePath, unix.O_RDWR|unix.O_NOCTTY|unix.O_CLOEXEC, 0); err != nil {
			return fmt.Errorf("open console %s: %w", slavePath, err)
		}
		s.onUndo("close console", s.slave.Close)
	}
	if s.notify, err = listenNotify(p.NotifyPath, p.NotifyReady, rec.path(bootingFile), s.log); err != nil {
		return err
	}
	s.onUndo("close notify socket", func() error { s.notify.close(); return nil })
	if err := writeBootID(p.BootIDPath); err != nil {
		return fmt.Errorf("boot ID: %w", err)
	}
	return nil
}

// serve starts what runs beside the container once its init runs: the
// console relay and the service manager's notification.
func (s *supervisor) serve(rec *record) {
	s.relayConsole()
	s.notify.started()
	s.log.WithFields(logrus.Fields{"pid": s.child.pid(), "init": s.p.Process.Args[0]}).
		Infof("running, init is pid %d on the host, started in %v", s.child.pid(), time.Since(s.started).Round(time.Microsecond))
	if !s.canHandOff() {
		go s.trim()
	}
}

// trim gives back what the start needed once the init has run for a
// quarter of a second (a command that is over by then does not pay for it
// on its way out), and again what a booting guest's console and
// notifications made us take, once it says it is ready.
func (s *supervisor) trim() {
	trim := func() {
		if err := trimResident(); err != nil {
			s.log.WithError(err).Debug("trim the supervisor's resident memory")
		}
	}
	for _, after := range []<-chan struct{}{after(trimDelay), s.notify.ready} {
		select {
		case <-after:
			trim()
		case <-s.child.exited:
			return
		}
	}
}

const trimDelay = 250 * time.Millisecond

func after(d time.Duration) <-chan struct{} {
	c := make(chan struct{})
	time.AfterFunc(d, func() { close(c) })
	return c
}

// process is the init: the child, once it has exec'd.
func (s *supervisor) process() *os.Process { return s.child.proc }

// createdOnHost maps the paths the child created, as the container sees
// them, to the host directories they lie in: the root, or the source of
// the bind they were made through. What it made on a filesystem of the
// container's own (a tmpfs) went with it.
func createdOnHost(root string, steps []mount.Step, created []string) map[string][]string {
	out := map[string][]string{}
	for _, c := range created {
		base, rel := root, c
		for _, st := range steps {
			if st.Kind != mount.Bind && st.Kind != mount.Mount || !under(c, st.Target) || c == st.Target {
				continue
			}
			// The last mount over c is the one it was made on.
			base, rel = "", ""
			if st.Kind == mount.Bind {
				base, rel = st.Source, "/"+strings.TrimPrefix(strings.TrimPrefix(c, st.Target), "/")
			}
		}
		if base != "" {
			out[base] = append(out[base], rel)
		}
	}
	return out
}
