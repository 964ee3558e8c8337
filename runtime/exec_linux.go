package runtime

import (
	"errors"
	"fmt"
	"io"
	"os"
	"os/signal"
	"path/filepath"
	"slices"

	specs "github.com/opencontainers/runtime-spec/specs-go"
	"github.com/sirupsen/logrus"
	"golang.org/x/sys/unix"

	"github.com/containerctl/containerctl/cgroup"
	"github.com/containerctl/containerctl/runtime/nsenter"
	"github.com/containerctl/containerctl/runtime/security"
)

// Exec runs a command inside the running container name and returns its
// exit status (128+N when signal N killed it), as `containerctl exec`.
//
// The command enters every namespace of the container's init, gets the
// container's bounding set, seccomp filter and no_new_privs from the plan
// the container runs (never the spec again), a clean environment and the
// user of the container's own /etc/passwd. It runs in a cgroup of its own,
// exec-<random>, below the container's and beside the guest's: it counts
// against the container's limits and is killed with it, and, being outside
// the guest's cgroup namespace (whose root is the guest's cgroup), is none
// of the guest's systemd's business.
//
// Joining a mount namespace needs a single-threaded process, which a Go
// program never is, so the last steps are the small C helper's,
// containerctl-nsenter (package nsenter says why and how).
func Exec(stateDir, name string, o ExecOptions) (status int, retErr error) {
	defer func() {
		if retErr != nil {
			retErr = fmt.Errorf("%s: %w", DisplayName(name), retErr)
		}
	}()
	if err := ValidateName(name); err != nil {
		return -1, err
	}
	if err := checkExecOptions(o); err != nil {
		return -1, err
	}
	if o.Log == nil {
		o.Log = logrus.StandardLogger()
	}
	// Not before the init runs: until then PID 1 is the init child, our
	// own binary, whose /proc/PID/exe a guest's process could read.
	st, err := awaitRecord(filepath.Join(stateDir, name), func(s State) bool { return s.InitExecd }, startWait)
	if err != nil {
		return -1, err
	}
	if _, err := Load(stateDir, name); err != nil {
		return -1, err
	}
	st, pidfd, helper, in, err := prepareExec(stateDir, st, o)
	if err != nil {
		return -1, err
	}
	defer pidfd.Close()
	return runExec(st, pidfd, helper, in, o, o.Log.WithField("container", name))
}

// prepareExec finds the running container's init and makes the helper's
// instructions.
func prepareExec(stateDir string, st State, o ExecOptions) (State, *os.File, string, nsenter.Instructions, error) {
	var in nsenter.Instructions
	p, err := readPlan(filepath.Join(stateDir, st.Name))
	if err != nil {
		return st, nil, "", in, err
	}
	if st.InitStartTime == 0 {
		return st, nil, "", in, fmt.Errorf("its record has no init start time (started by an older containerctl): stop and run it again")
	}
	pidfd, err := nsenter.OpenPidFD(st.PID, st.InitStartTime)
	if errors.Is(err, unix.ESRCH) {
		return st, nil, "", in, ErrNotRunning
	}
	if err != nil {
		return st, nil, "", in, err
	}
	fail := func(err error) (State, *os.File, string, nsenter.Instructions, error) {
		pidfd.Close()
		return st, nil, "", in, err
	}
	u, err := containerUser(st.PID, o.User)
	if err != nil {
		return fail(err)
	}
	if o.GID != nil {
		u.GID, u.Groups = *o.GID, o.Groups
	}
	helper := o.Helper
	if helper == "" {
		if helper, err = nsenter.FindHelper(); err != nil {
			return fail(err)
		}
	}
	if in, err = execInstructions(p, u, o); err != nil {
		return fail(err)
	}
	return st, pidfd, helper, in, nil
}

// execLeafPrefix names the cgroup leaves of execs.
const execLeafPrefix = "exec-"

// runExec makes the exec's cgroup, starts the command, relays its terminal
// and signals, and waits for it.
func runExec(st State, pidfd *os.File, helper string, in nsenter.Instructions, o ExecOptions, log *logrus.Entry) (int, error) {
	id, err := randomID()
	if err != nil {
		return -1, err
	}
	cgroup.SweepLeaves(st.Cgroup, execLeafPrefix)
	leaf, err := cgroup.CreateLeaf(st.Cgroup, execLeafPrefix+id[:12])
	if err != nil {
		return -1, fmt.Errorf("cgroup: %w", err)
	}
	defer func() {
		if err := leaf.Remove(); errors.Is(err, cgroup.ErrInUse) {
			log.WithError(err).Debug("exec cgroup kept: it goes with the container")
		} else if err != nil {
			log.WithError(err).Warn("remove exec cgroup")
		}
	}()
	// Taken before the start, so that none ends us before it can be
	// passed on.
	sigs := make(chan os.Signal, 32)
	signal.Notify(sigs, unix.SIGINT, unix.SIGTERM, unix.SIGHUP, unix.SIGQUIT, unix.SIGWINCH)
	defer signal.Stop(sigs)
	// With a pseudo-terminal of the container's, the command needs none
	// of the caller's fds, and must not hold the caller's terminal: a
	// guest could take it from the child before the child execs.
	stdin, stdout, stderr := o.Stdin, o.Stdout, o.Stderr
	if in.PTY {
		null, err := os.OpenFile(os.DevNull, os.O_RDWR, 0)
		if err != nil {
			return -1, err
		}
		defer null.Close()
		stdin, stdout, stderr = null, null, null
	}
	child, err := nsenter.Start(nsenter.Config{
		Helper:       helper,
		PidFD:        pidfd,
		CgroupFD:     leaf.FD(),
		Join:         leaf.Add,
		Stdin:        stdin,
		Stdout:       stdout,
		Stderr:       stderr,
		Instructions: in,
	})
	if err != nil {
		return execStatus(err)
	}
	log.WithFields(logrus.Fields{"pid": child.Pid, "command": in.Args[0]}).Debug("exec started")
	var tty *ttyRelay
	if child.PTY != nil {
		if tty, err = relayTTY(child.PTY, o.Stdin, o.Stdout); err != nil {
			_ = child.Signal(unix.SIGKILL)
			_, _ = child.Wait()
			return -1, err
		}
	}
	done := make(chan struct{})
	go forwardSignals(sigs, done, child, tty)
	status, err := child.Wait()
	close(done)
	if tty != nil {
		tty.stop()
	}
	if err != nil {
		return execStatus(err)
	}
	return status, nil
}

// execStatus is the status of an exec that failed before its command ran:
// the helper's 127 or 126, as a shell's, or 1.
func execStatus(err error) (int, error) {
	var e *nsenter.Error
	if errors.As(err, &e) {
		return e.Status, &ExecError{Status: e.Status, Err: err}
	}
	return -1, err
}

// forwardSignals passes what containerctl exec gets on to the command (a
// window size change to its terminal) until done.
func forwardSignals(sigs <-chan os.Signal, done <-chan struct{}, c *nsenter.Child, tty *ttyRelay) {
	for {
		select {
		case <-done:
			return
		case sig := <-sigs:
			if sig == unix.SIGWINCH {
				if tty != nil {
					tty.resize()
				}
				continue
			}
			if s, ok := sig.(unix.Signal); ok {
				_ = c.Signal(s)
			}
		}
	}
}

// execInstructions are the helper's instructions from the container's plan.
func execInstructions(p *Plan, u execUser, o ExecOptions) (nsenter.Instructions, error) {
	flags := uint32(unix.CLONE_NEWNS | unix.CLONE_NEWPID)
	for _, ns := range []struct {
		on   bool
		flag uint32
	}{{p.NewUTS, unix.CLONE_NEWUTS}, {p.NewIPC, unix.CLONE_NEWIPC}, {p.NewNetwork || p.NetNSPath != "", unix.CLONE_NEWNET}, {p.NewCgroupNS, unix.CLONE_NEWCGROUP},
		// One setns(2) through the pidfd enters the user namespace
		// first and the others as its root (setns(2)).
		{p.Users != nil, unix.CLONE_NEWUSER}} {
		if ns.on {
			flags |= ns.flag
		}
	}
	term := "dumb"
	if o.TTY {
		term = o.Term
		if term == "" {
			term = "vt220"
		}
	}
	cwd := o.Workdir
	if cwd == "" {
		cwd = "/"
	}
	in := nsenter.Instructions{
		NSFlags:    flags,
		UID:        u.UID,
		GID:        u.GID,
		Groups:     u.Groups,
		Cwd:        cwd,
		Args:       o.Args,
		Env:        execEnv(p.Process.Env, u, term, o.Env),
		NoNewPrivs: p.Process.NoNewPrivileges,
		PTY:        o.TTY,
	}
	caps, rlimits, umask, oom := p.Capabilities, p.Process.Rlimits, p.Process.Umask, p.Process.OOMScoreAdj
	if sp := o.Process; sp != nil {
		var err error
		if caps, err = execCapabilities(p.Capabilities, sp.Capabilities); err != nil {
			return in, err
		}
		if rlimits, err = compileRlimits(sp.Rlimits); err != nil {
			return in, err
		}
		if err := checkUmask(sp.User.Umask); err != nil {
			return in, err
		}
		umask, oom = sp.User.Umask, sp.OOMScoreAdj
		in.NoNewPrivs = in.NoNewPrivs || sp.NoNewPrivileges
	}
	if caps != nil {
		m, err := nsenter.BoundingMask(caps.Bounding)
		if err != nil {
			return in, err
		}
		in.Bounding = &m
		in.Caps = &nsenter.CapSets{}
		for _, s := range []struct {
			to  *uint64
			set []int
		}{{&in.Caps.Effective, caps.Effective}, {&in.Caps.Permitted, caps.Permitted}, {&in.Caps.Inheritable, caps.Inheritable}, {&in.Caps.Ambient, caps.Ambient}} {
			if *s.to, err = nsenter.BoundingMask(s.set); err != nil {
				return in, err
			}
		}
	}
	for _, r := range rlimits {
		in.Rlimits = append(in.Rlimits, nsenter.Rlimit{Resource: uint32(r.Resource), Soft: r.Soft, Hard: r.Hard})
	}
	in.Umask = umask
	if oom != nil {
		if *oom < -1000 || *oom > 1000 {
			return in, fmt.Errorf("%w: process.oomScoreAdj %d: not within -1000..1000", ErrInvalidSpec, *oom)
		}
		adj := int32(*oom)
		in.OOMScoreAdj = &adj
	}
	if s := p.Seccomp; s != nil {
		in.Seccomp = &nsenter.Seccomp{Flags: s.Flags}
		for _, f := range s.Program {
			in.Seccomp.Program = append(in.Seccomp.Program, nsenter.Filter{Code: f.Code, Jt: f.Jt, Jf: f.Jf, K: f.K})
		}
	}
	return in, nil
}

// execCapabilities compiles an OCI exec's process.capabilities, which may
// not reach past the container's bounding set (container: nil when the
// container's spec has none, and so its init the runtime's own).
func execCapabilities(container *security.Capabilities, c *specs.LinuxCapabilities) (*security.Capabilities, error) {
	if c == nil {
		// runc's exec then gives the process none; so does ours.
		c = &specs.LinuxCapabilities{}
	}
	caps, err := security.CompileCapabilities(c)
	if err != nil {
		return nil, err
	}
	if container != nil {
		for _, n := range caps.Bounding {
			if !slices.Contains(container.Bounding, n) {
				return nil, fmt.Errorf("%w: process.capabilities.bounding: %s is not in the container's bounding set", ErrInvalidSpec, security.CapabilityName(n))
			}
		}
	}
	return caps, nil
}

// containerUser looks user up in the container's /etc/passwd and
// /etc/group, read through its init's root.
func containerUser(pid int, user string) (execUser, error) {
	root, err := os.OpenFile(filepath.Join("/proc", fmt.Sprint(pid), "root"), unix.O_PATH|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
	if err != nil {
		return execUser{}, fmt.Errorf("open the container's root: %w", err)
	}
	defer root.Close()
	passwd, err := readInRoot(root, "etc/passwd")
	if err != nil {
		return execUser{}, err
	}
	group, err := readInRoot(root, "etc/group")
	if err != nil {
		return execUser{}, err
	}
	return lookupUser(passwd, group, user)
}

// readInRoot reads a regular file of the container's, resolving every link
// inside its root (openat2 RESOLVE_IN_ROOT): an absolute link in the guest
// must not lead to the host's file. A missing file reads as nil.
func readInRoot(root *os.File, name string) ([]byte, error) {
	fd, err := unix.Openat2(int(root.Fd()), name, &unix.OpenHow{
		Flags:   unix.O_RDONLY | unix.O_CLOEXEC | unix.O_NONBLOCK | unix.O_NOCTTY,
		Resolve: unix.RESOLVE_IN_ROOT | unix.RESOLVE_NO_MAGICLINKS,
	})
	if errors.Is(err, unix.ENOENT) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("open the container's /%s: %w", name, err)
	}
	f := os.NewFile(uintptr(fd), name)
	defer f.Close()
	if fi, err := f.Stat(); err != nil || !fi.Mode().IsRegular() {
		return nil, fmt.Errorf("the container's /%s: not a regular file", name)
	}
	return io.ReadAll(io.LimitReader(f, 4<<20))
}
