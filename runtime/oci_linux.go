package runtime

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"time"

	specs "github.com/opencontainers/runtime-spec/specs-go"
	"github.com/sirupsen/logrus"
	"golang.org/x/sys/unix"

	"github.com/containerctl/containerctl/runtime/nsenter"
)

// The OCI runtime's records, in their own state directory (containerctl-oci
// --root): beside the runtime's own record files, the bundle and creation
// time that state reports, and the FIFO the init waits on until start.
const (
	ociFile      = "oci.json"
	execFifoFile = "exec.fifo"
)

// DefaultOCIStateDir is containerctl-oci's --root.
const DefaultOCIStateDir = "/run/containerctl-oci"

// ErrNotExist is returned for an ID that no container has; the message is
// runc's, which callers match.
var ErrNotExist = errors.New("container does not exist")

// ociRecord is what an OCI create records beside the runtime's state.
type ociRecord struct {
	Bundle      string            `json:"bundle"`
	Created     time.Time         `json:"created"`
	Annotations map[string]string `json:"annotations,omitempty"`
	Hooks       *specs.Hooks      `json:"hooks,omitempty"`
}

// CreateOptions are an OCI create's: the bundle the spec came from, the
// console socket for a terminal, the fds to pass on, and the creator's
// stdio, which the init inherits.
type CreateOptions struct {
	Bundle                string
	ConsoleSocket         string
	PreserveFDs           int
	Stdin, Stdout, Stderr *os.File
	Log                   *logrus.Logger
}

// Create sets the container up, as runc create does: its namespaces,
// cgroup, mounts and root, with its init waiting, before the user's
// process, for Start. No supervisor stays: the init outlives Create and
// is inherited by the caller, a subreaper (containerd's shim, conmon),
// which waits for it. It returns the init's PID on the host.
func Create(stateDir, id string, spec *specs.Spec, o CreateOptions) (pid int, retErr error) {
	defer func() {
		if retErr != nil {
			retErr = fmt.Errorf("%s: %w", DisplayName(id), retErr)
		}
	}()
	if err := ValidateName(id); err != nil {
		return -1, err
	}
	if o.Log == nil {
		o.Log = logrus.StandardLogger()
	}
	pipes := survivePipesAsync()
	if err := os.MkdirAll(stateDir, 0o700); err != nil {
		return -1, err
	}
	dir := filepath.Join(stateDir, id)
	if err := os.Mkdir(dir, 0o700); errors.Is(err, os.ErrExist) {
		return -1, fmt.Errorf("container with id exists: %s", id)
	} else if err != nil {
		return -1, err
	}
	rec, err := lockOCI(dir)
	if err != nil {
		os.Remove(dir)
		return -1, err
	}
	defer func() {
		if retErr != nil {
			rec.clear()
			_ = os.RemoveAll(dir)
		}
		rec.abandon()
	}()
	// A root that is not there would fail in the init child, as "init
	// ARGS[0]: no such file": name it.
	if spec.Root == nil {
		return -1, fmt.Errorf("%w: no root", ErrInvalidSpec)
	}
	if fi, err := os.Stat(spec.Root.Path); err != nil {
		return -1, fmt.Errorf("%w: root.path %s: %w", ErrInvalidSpec, spec.Root.Path, errors.Unwrap(err))
	} else if !fi.IsDir() {
		return -1, fmt.Errorf("%w: root.path %s: not a directory", ErrInvalidSpec, spec.Root.Path)
	}
	opts, closeAll, err := createOptions(dir, spec, o)
	defer closeAll()
	if err != nil {
		return -1, err
	}
	// A container always gets a cgroup namespace of its own: in the
	// host's, it would see the host's cgroup tree and could mount v1
	// hierarchies with a release_agent that runs as host root.
	// containerd's default spec on a v1 or hybrid host asks for none.
	if !slices.ContainsFunc(spec.Linux.Namespaces, func(n specs.LinuxNamespace) bool { return n.Type == specs.CgroupNamespace }) {
		spec.Linux.Namespaces = append(spec.Linux.Namespaces, specs.LinuxNamespace{Type: specs.CgroupNamespace})
	}
	allowStandardDevices(spec)
	cgroupMountsV2(spec)
	p, err := Compile(&Container{Name: id, Spec: spec, StateDir: stateDir}, opts)
	if err != nil {
		return -1, err
	}
	b, err := json.Marshal(ociRecord{Bundle: o.Bundle, Created: time.Now().UTC(), Annotations: spec.Annotations, Hooks: spec.Hooks})
	if err == nil {
		err = rec.writeFile(ociFile, b)
	}
	if err != nil {
		return -1, err
	}
	if h := spec.Hooks; h != nil {
		// The hooks of the create see it "creating" (runtime.md's
		// lifecycle, steps 2 to 5).
		state := specs.State{Version: specs.Version, ID: id, Status: specs.StateCreating, Bundle: o.Bundle, Annotations: spec.Annotations}
		opts.containerHooks = &containerHooks{CreateContainer: h.CreateContainer, StartContainer: h.StartContainer, State: state}
		opts.runtimeHooks = func(pid int) error {
			state.Pid = pid
			if err := runHooks("prestart", h.Prestart, state); err != nil {
				return err
			}
			return runHooks("createRuntime", h.CreateRuntime, state)
		}
	}
	opts.pipes = pipes
	s, err := start(p, opts, rec, o.Log.WithField("container", id))
	if err != nil {
		return -1, err
	}
	return s.child.pid(), nil
}

// allowStandardDevices adds to the device policy what every container's
// /dev holds (null, zero, full, random, urandom, tty, console, ptmx and the
// pts), and mknod of any node, after the spec's own rules, as runc and crun
// do: podman's spec denies every device and counts on them.
func allowStandardDevices(spec *specs.Spec) {
	if spec.Linux.Resources == nil {
		spec.Linux.Resources = &specs.LinuxResources{}
	}
	num := func(n int64) *int64 { return &n }
	rules := []specs.LinuxDeviceCgroup{
		{Allow: true, Type: "c", Access: "m"}, {Allow: true, Type: "b", Access: "m"},
	}
	for _, d := range [][2]int64{{1, 3}, {1, 5}, {1, 7}, {1, 8}, {1, 9}, {5, 0}, {5, 1}, {5, 2}} {
		rules = append(rules, specs.LinuxDeviceCgroup{Allow: true, Type: "c", Major: num(d[0]), Minor: num(d[1]), Access: "rwm"})
	}
	rules = append(rules, specs.LinuxDeviceCgroup{Allow: true, Type: "c", Major: num(136), Access: "rwm"})
	spec.Linux.Resources.Devices = append(spec.Linux.Resources.Devices, rules...)
}

// cgroupMountsV2 makes a "cgroup" mount (podman's /sys/fs/cgroup, as runc
// reads it: the host's hierarchies, whichever they are) a cgroup2 one:
// mounted in the container's cgroup namespace it shows the container's own
// subtree. On a hybrid host the v1 controllers' files are then not shown,
// as they are by runc's tmpfs of v1 hierarchies.
func cgroupMountsV2(spec *specs.Spec) {
	for i, m := range spec.Mounts {
		if m.Type == "cgroup" {
			spec.Mounts[i].Type, spec.Mounts[i].Source = "cgroup2", "cgroup2"
		}
	}
}

// createOptions opens the exec FIFO and connects the console socket.
func createOptions(dir string, spec *specs.Spec, o CreateOptions) (Options, func(), error) {
	var files []*os.File
	closeAll := func() {
		for _, f := range files {
			f.Close()
		}
	}
	opts := Options{
		Console: ConsolePipe, PreserveFDs: o.PreserveFDs, KillSignal: unix.SIGTERM,
		Stdin: o.Stdin, Stdout: o.Stdout, Stderr: o.Stderr, Log: o.Log,
	}
	fifo := filepath.Join(dir, execFifoFile)
	if err := unix.Mkfifo(fifo, 0o600); err != nil {
		return opts, closeAll, fmt.Errorf("exec FIFO: %w", err)
	}
	f, err := os.OpenFile(fifo, unix.O_PATH|unix.O_CLOEXEC, 0)
	if err != nil {
		return opts, closeAll, fmt.Errorf("exec FIFO: %w", err)
	}
	files = append(files, f)
	opts.execFifo = f
	switch {
	case spec.Process != nil && spec.Process.Terminal && o.ConsoleSocket == "":
		return opts, closeAll, errors.New("process.terminal needs --console-socket")
	case spec.Process != nil && spec.Process.Terminal:
		sock, err := dialConsole(o.ConsoleSocket)
		if err != nil {
			return opts, closeAll, err
		}
		files = append(files, sock)
		opts.consoleSocket, opts.Console = sock, ConsolePassive
	case o.ConsoleSocket != "":
		return opts, closeAll, errors.New("--console-socket without process.terminal")
	}
	return opts, closeAll, nil
}

// dialConsole connects to the caller's console socket.
func dialConsole(path string) (*os.File, error) {
	fd, err := unix.Socket(unix.AF_UNIX, unix.SOCK_STREAM|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		return nil, fmt.Errorf("console socket: %w", err)
	}
	if err := unix.Connect(fd, &unix.SockaddrUnix{Name: path}); err != nil {
		unix.Close(fd)
		return nil, fmt.Errorf("console socket %s: %w", path, err)
	}
	return os.NewFile(uintptr(fd), path), nil
}

// lockOCI locks an OCI record for one command: unlike a supervisor's, no
// process holds it while the container runs.
func lockOCI(dir string) (*record, error) {
	f, err := os.OpenFile(dir, unix.O_RDONLY|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
	if errors.Is(err, os.ErrNotExist) {
		return nil, ErrNotExist
	}
	if err != nil {
		return nil, err
	}
	if err := checkRecordOwner(f); err != nil {
		f.Close()
		return nil, err
	}
	if err := unix.Flock(int(f.Fd()), unix.LOCK_EX); err != nil {
		f.Close()
		return nil, fmt.Errorf("lock %s: %w", dir, err)
	}
	return &record{dir: dir, f: f}, nil
}

// checkRecordOwner refuses a record directory that another user could
// have written: its state names the cgroups delete kills and its hooks run
// as root, so a record planted in a shared --root (/tmp, say) would have
// root kill any cgroup's processes and run any program.
func checkRecordOwner(f *os.File) error {
	var st unix.Stat_t
	if err := unix.Fstat(int(f.Fd()), &st); err != nil {
		return fmt.Errorf("stat %s: %w", f.Name(), err)
	}
	if int(st.Uid) != os.Geteuid() || st.Mode&0o022 != 0 {
		return fmt.Errorf("record %s is owned by uid %d with mode %#o: not this runtime's (one it makes is its user's alone)", f.Name(), st.Uid, st.Mode&0o7777)
	}
	return nil
}

// Start releases a created container's init to exec the user's process.
func Start(stateDir, id string, log logrus.FieldLogger) (retErr error) {
	defer func() {
		if retErr != nil {
			retErr = fmt.Errorf("%s: %w", DisplayName(id), retErr)
		}
	}()
	rec, st, err := loadOCI(stateDir, id)
	if err != nil {
		return err
	}
	defer rec.abandon()
	switch status := ociStatus(rec.dir, st); status {
	case specs.StateCreated:
	case specs.StateStopped:
		return errors.New("cannot start a container that has stopped")
	default:
		return fmt.Errorf("cannot start an already %s container", status)
	}
	if err := releaseInit(rec.path(execFifoFile), st); err != nil {
		return err
	}
	os.Remove(rec.path(execFifoFile))
	// The init execs the process right after the byte; start does not
	// wait for that (as runc): an exec waits for it instead.
	if state, o, err := ociStateOf(rec.dir, st); err == nil && o.Hooks != nil && len(o.Hooks.Poststart) > 0 {
		// A poststart hook that fails is a warning, and the rest run
		// (the spec's lifecycle): the container runs, and start
		// succeeds, so that the caller does not leave it running behind
		// a failed start.
		warnHooks("poststart", o.Hooks.Poststart, state, log)
	}
	return nil
}

// releaseInit opens the exec FIFO for reading, which lets the init's open
// for writing return, and reads the byte it writes; an init that died
// meanwhile is noticed rather than waited for forever.
func releaseInit(fifo string, st State) error {
	f, err := os.OpenFile(fifo, unix.O_RDONLY|unix.O_NONBLOCK|unix.O_CLOEXEC, 0)
	if err != nil {
		return fmt.Errorf("exec FIFO: %w", err)
	}
	defer f.Close()
	for deadline := time.Now().Add(30 * time.Second); ; {
		fds := []unix.PollFd{{Fd: int32(f.Fd()), Events: unix.POLLIN}}
		n, err := unix.Poll(fds, 100)
		if err != nil && !errors.Is(err, unix.EINTR) {
			return fmt.Errorf("exec FIFO: %w", err)
		}
		if n > 0 && fds[0].Revents&unix.POLLIN != 0 {
			var b [1]byte
			if _, err := f.Read(b[:]); err != nil {
				return fmt.Errorf("exec FIFO: %w", err)
			}
			return nil
		}
		if !initAlive(st) {
			return errors.New("its init exited before start")
		}
		if time.Now().After(deadline) {
			return errors.New("its init did not take the start within 30s")
		}
	}
}

// awaitExec waits until pid runs another program than ours, the init's
// exec, for exec's sake (State.InitExecd), or is gone: an init that has
// exec'd and exited (a zombie has no exe link either) is no process of
// ours to keep an exec out of.
func awaitExec(pid int, timeout time.Duration) bool {
	self, _ := os.Readlink("/proc/self/exe")
	for deadline := time.Now().Add(timeout); time.Now().Before(deadline); time.Sleep(time.Millisecond) {
		exe, err := os.Readlink(fmt.Sprintf("/proc/%d/exe", pid))
		if err == nil && exe != self || errors.Is(err, os.ErrNotExist) {
			return true
		}
	}
	return false
}

// initAlive says whether the recorded init still runs: the same process
// (its start time), and not a zombie its parent has yet to reap.
func initAlive(st State) bool {
	if st.PID <= 0 {
		return false
	}
	fd, err := nsenter.OpenPidFD(st.PID, st.InitStartTime)
	if err != nil {
		return false
	}
	fd.Close()
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", st.PID))
	if err != nil {
		return false
	}
	return procState(string(b)) != 'Z'
}
