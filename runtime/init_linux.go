package runtime

import (
	"errors"
	"fmt"
	"os"
	"path"
	goruntime "runtime"
	"slices"
	"strconv"
	"strings"

	"github.com/vishvananda/netlink"
	"golang.org/x/sys/unix"

	"github.com/containerctl/containerctl/mount"
	"github.com/containerctl/containerctl/runtime/network"
)

// InitCommand is the hidden subcommand that runs the init child. main
// dispatches it before any flag parsing.
const InitCommand = "init"

// initFDEnv names the file descriptor of the child's end of the sync socket.
// It is the only variable the child is started with.
const initFDEnv = "_CONTAINERCTL_SYNC_FD"

// Init is the init child: the supervisor re-executes itself as
// "containerctl init" in the new namespaces. It receives its config, sets
// up the container's filesystem, pivots into it, reports ready, waits for
// the go-ahead and execs the container's init, which so becomes PID 1 with
// no process of ours left in between. It returns only on failure, after
// reporting the error to the supervisor.
func Init() error {
	// Namespace and mount state are per thread in places (the cwd after
	// pivot_root, for one); keep all of it on this thread.
	goruntime.LockOSThread()

	fd, err := strconv.Atoi(os.Getenv(initFDEnv))
	if err != nil {
		return fmt.Errorf("%s: not started by containerctl run", InitCommand)
	}
	// Close-on-exec, so that a successful exec closes our end and the
	// supervisor sees EOF.
	unix.CloseOnExec(fd)
	sock := os.NewFile(uintptr(fd), "sync")
	os.Clearenv()

	created, err := initContainer(sock)
	_ = writeMessage(sock, message{Type: msgError, Error: enclose(err), Created: created})
	return err
}

// enclose turns an error of the child into data for the supervisor.
func enclose(err error) *InitError {
	ie := &InitError{Message: err.Error()}
	var errno unix.Errno
	if errors.As(err, &errno) {
		ie.Errno = int(errno)
	}
	var me *mount.Error
	switch {
	case errors.Is(err, ErrInitNotFound):
		ie.Kind = kindInitNotFound
	case errors.As(err, &me):
		ie.Kind = kindMount
	}
	return ie
}

// initContainer returns, when it fails, what it created inside the root.
func initContainer(sock *os.File) ([]string, error) {
	m, err := readMessage(sock)
	if err != nil {
		return nil, fmt.Errorf("read config: %w", err)
	}
	if m.Type != msgConfig || m.Config == nil {
		return nil, fmt.Errorf("expected config, got %q", m.Type)
	}
	cfg := m.Config
	if cfg.NetNSPath != "" {
		if err := network.Join(cfg.NetNSPath); err != nil {
			return nil, err
		}
	}
	// Device nodes and mount points get exactly the modes asked for.
	unix.Umask(0)
	r, err := enterUsers(sock, cfg)
	if err != nil {
		return nil, err
	}
	if err := setupRoot(sock, cfg, r); err != nil {
		return r.Created(), err
	}
	if h := cfg.Hooks; h != nil {
		// The creator's createRuntime hooks first, then ours: in the
		// container's namespaces, before the pivot, their paths the
		// runtime's (runtime-spec, config.md, "Hooks").
		if err := writeMessage(sock, message{Type: msgHooks}); err != nil {
			return r.Created(), err
		}
		if err := expect(sock, msgHooksDone); err != nil {
			return r.Created(), fmt.Errorf("wait for the createRuntime hooks: %w", err)
		}
		if err := runHooks("createContainer", h.CreateContainer, h.State); err != nil {
			return r.Created(), err
		}
	}
	init, err := enterRoot(cfg)
	if err != nil {
		return r.Created(), err
	}
	if err := writeMessage(sock, message{Type: msgReady}); err != nil {
		return r.Created(), fmt.Errorf("report ready: %w", err)
	}
	m, err = readMessage(sock)
	switch {
	case err != nil:
		return r.Created(), fmt.Errorf("wait for the supervisor: %w", err)
	case m.Type == msgDetach:
		if err := awaitStart(sock, cfg.ExecFifoFD); err != nil {
			return nil, err
		}
		if h := cfg.Hooks; h != nil {
			// After start, in the container, its paths the container's.
			if err := runHooks("startContainer", h.StartContainer, h.State); err != nil {
				return nil, err
			}
		}
	case m.Type != msgGo:
		return r.Created(), fmt.Errorf("wait for the supervisor: expected %q, got %q", msgGo, m.Type)
	}
	return r.Created(), execInit(cfg, init)
}

// setupRoot makes the container's mounts, its cgroup namespace once the
// supervisor has put us in every cgroup, its hostname and its loopback.
func setupRoot(sock *os.File, cfg *initConfig, r *mount.Root) error {
	var logStep func(mount.Step)
	if cfg.Debug {
		logStep = func(s mount.Step) { _ = writeMessage(sock, message{Type: msgLog, Log: s.String()}) }
	}
	steps, cgroupSteps := cfg.Steps.Steps, cfg.Steps.Cgroup
	if cfg.ConsoleSocketFD > 0 {
		// The terminal is made once devpts is mounted, and becomes our
		// stdio before the step that binds fd 0 on /dev/console.
		i := slices.IndexFunc(steps, func(s mount.Step) bool { return s.Target == "/dev/console" })
		if i < 0 {
			return errors.New("a terminal without a /dev/console step")
		}
		if err := r.Apply(steps[:i], logStep); err != nil {
			return err
		}
		if err := takeTerminal(r, cfg.ConsoleSocketFD); err != nil {
			return err
		}
		steps = steps[i:]
	}
	if err := r.Apply(steps, logStep); err != nil {
		return err
	}
	// The cgroup namespace is made here rather than at clone time: once
	// the supervisor has put us in the container's cgroup in every
	// hierarchy, v1 ones included, the namespace's root is the
	// container's own cgroup everywhere (a cgroup filesystem mounted
	// inside shows only its subtree, and /proc/self/cgroup shows "/").
	if err := expect(sock, msgCgroups); err != nil {
		return fmt.Errorf("wait for the cgroups: %w", err)
	}
	if cfg.NewCgroupNS {
		if err := unix.Unshare(unix.CLONE_NEWCGROUP); err != nil {
			return fmt.Errorf("new cgroup namespace: %w", err)
		}
	}
	if err := r.Apply(cgroupSteps, logStep); err != nil {
		return err
	}
	if err := r.Close(); err != nil {
		return err
	}
	if cfg.Hostname != "" {
		if err := unix.Sethostname([]byte(cfg.Hostname)); err != nil {
			return fmt.Errorf("set hostname %q: %w", cfg.Hostname, err)
		}
	}
	if cfg.Domainname != "" {
		if err := unix.Setdomainname([]byte(cfg.Domainname)); err != nil {
			return fmt.Errorf("set domainname %q: %w", cfg.Domainname, err)
		}
	}
	if cfg.NewNetwork {
		if err := loopbackUp(); err != nil {
			return err
		}
	}
	if err := writeSysctls(cfg.Sysctl); err != nil {
		return err
	}
	if err := setRlimits(cfg.Process.Rlimits); err != nil {
		return err
	}
	if adj := cfg.Process.OOMScoreAdj; adj != nil {
		// Through the host's /proc, still ours before the pivot.
		if err := os.WriteFile("/proc/self/oom_score_adj", []byte(strconv.Itoa(*adj)), 0); err != nil {
			return fmt.Errorf("set oom_score_adj %d: %w", *adj, err)
		}
	}
	return nil
}

// enterRoot pivots into the root, drops the capabilities, finds the init
// and enters its working directory.
func enterRoot(cfg *initConfig) (string, error) {
	if err := mount.PivotRoot(cfg.Root); err != nil {
		return "", err
	}
	// A working directory the root lacks is made (0755, root's), as runc
	// and crun make it: an image's WORKDIR need not be in its layers.
	// Before the root is made read-only; links resolve inside the root,
	// which is / now.
	if _, err := os.Lstat(cfg.Process.Cwd); errors.Is(err, os.ErrNotExist) {
		if err := os.MkdirAll(cfg.Process.Cwd, 0o755); err != nil {
			return "", fmt.Errorf("make the working directory %s: %w", cfg.Process.Cwd, err)
		}
	}
	if err := mount.FinishRoot(cfg.ReadonlyRoot, cfg.RootPropagation); err != nil {
		return "", err
	}
	umask := 0o022
	if cfg.Process.Umask != nil {
		umask = int(*cfg.Process.Umask)
	}
	unix.Umask(umask)
	if err := cfg.Capabilities.ApplyBounding(); err != nil {
		return "", err
	}
	init, err := lookInit(cfg.Process.Args[0], cfg.Process.Env, cfg.Process.Cwd)
	if err != nil {
		return "", err
	}
	if err := unix.Chdir(cfg.Process.Cwd); err != nil {
		return "", fmt.Errorf("chdir %s: %w", cfg.Process.Cwd, err)
	}
	// The working directory must be inside the root: a directory opened
	// before the pivot, or one that a link led out of, shows as
	// "(unreachable)" (runc's verifyCwd, after CVE-2024-21626).
	if wd, err := unix.Getwd(); err != nil || !strings.HasPrefix(wd, "/") {
		return "", fmt.Errorf("working directory %s is outside the container's root (%q, %v)", cfg.Process.Cwd, wd, err)
	}
	return init, nil
}

// execInit closes every fd not meant for the init, installs no_new_privs,
// takes the spec's user and capability sets, and execs the init. The
// seccomp filter comes as late as it can, so that little of our own set-up
// is filtered: last with no_new_privs, else before the user and capability
// change, since without no_new_privs installing it takes CAP_SYS_ADMIN,
// which the user may not keep.
func execInit(cfg *initConfig, init string) error {
	// 0, 1, 2 and the preserved fds stay; the sync socket is already
	// close-on-exec.
	if err := closeOnExecFrom(3 + cfg.PreserveFDs); err != nil {
		return err
	}
	if cfg.Process.NoNewPrivileges {
		if err := unix.Prctl(unix.PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0); err != nil {
			return fmt.Errorf("set no_new_privs: %w", err)
		}
	}
	if !cfg.Process.NoNewPrivileges {
		if err := cfg.Seccomp.Install(); err != nil {
			return err
		}
	}
	if err := setIdentity(cfg.Process.User, cfg.Capabilities); err != nil {
		return err
	}
	if cfg.Process.NoNewPrivileges {
		if err := cfg.Seccomp.Install(); err != nil {
			return err
		}
	}
	// The init starts with no signal blocked, whatever containerctl was
	// started with: Go's runtime keeps an inherited mask in every thread
	// (but for the signals it needs), and a fork passes it on. A blocked
	// SIGRTMIN+3 would leave an init that keeps its mask unable to halt.
	if err := unix.PthreadSigmask(unix.SIG_SETMASK, &unix.Sigset_t{}, nil); err != nil {
		return fmt.Errorf("clear the signal mask: %w", err)
	}
	if err := unix.Exec(init, cfg.Process.Args, cfg.Process.Env); err != nil {
		return &InitNotFoundError{Path: init, Err: fmt.Errorf("exec: %w", err)}
	}
	return nil
}

// lookInit finds the init inside the container, after pivot_root: a name
// without a slash is searched in the container's PATH, as execvp(3) would.
func lookInit(name string, env []string, cwd string) (string, error) {
	if strings.Contains(name, "/") {
		if !path.IsAbs(name) {
			name = path.Join(cwd, name)
		}
		if err := checkExecutable(name); err != nil {
			return "", &InitNotFoundError{Path: name, Err: err}
		}
		return name, nil
	}
	for _, dir := range strings.Split(getenv(env, "PATH"), ":") {
		if !path.IsAbs(dir) {
			continue
		}
		p := path.Join(dir, name)
		if checkExecutable(p) == nil {
			return p, nil
		}
	}
	return "", &InitNotFoundError{Path: name, Err: fmt.Errorf("not found in PATH %s", getenv(env, "PATH"))}
}

// loopbackUp brings up lo in a private network namespace, as
// systemd-nspawn --private-network does; the namespace has no other link.
func loopbackUp() error {
	lo, err := netlink.LinkByName("lo")
	if err != nil {
		return fmt.Errorf("find loopback link: %w", err)
	}
	if err := netlink.LinkSetUp(lo); err != nil {
		return fmt.Errorf("bring up loopback: %w", err)
	}
	return nil
}

// expect reads one message and checks that it is of type want.
func expect(sock *os.File, want string) error {
	m, err := readMessage(sock)
	if err != nil {
		return err
	}
	if m.Type != want {
		return fmt.Errorf("got message %q, want %q", m.Type, want)
	}
	return nil
}

// awaitStart, in a container that an OCI create made, waits for start: the
// creator is gone, so the child blocks opening its exec FIFO for writing
// until start opens it for reading (runc's exec.fifo), writes one byte that
// start reads, and goes on to exec. The FIFO was opened O_PATH before the
// pivot; it is reopened through the container's /proc.
func awaitStart(sock *os.File, fifoFD int) error {
	sock.Close()
	if fifoFD <= 0 {
		return errors.New("detached without an exec FIFO")
	}
	f, err := os.OpenFile("/proc/self/fd/"+strconv.Itoa(fifoFD), os.O_WRONLY|unix.O_CLOEXEC, 0)
	if err != nil {
		return fmt.Errorf("open exec FIFO: %w", err)
	}
	unix.Close(fifoFD)
	_, err = f.Write([]byte{0})
	f.Close()
	if err != nil {
		return fmt.Errorf("write exec FIFO: %w", err)
	}
	return nil
}
