package security

import (
	"encoding/json"
	"os"
	"os/exec"
	goruntime "runtime"
	"strings"
	"testing"

	specs "github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/sys/unix"
)

// childEnv makes the test binary the child that installs the filter.
const childEnv = "CONTAINERCTL_SECURITY_TEST_CHILD"

func TestMain(m *testing.M) {
	if os.Getenv(childEnv) == "1" {
		os.Exit(child())
	}
	os.Exit(m.Run())
}

// A probe makes one system call and returns its errno (0 for success).
// Every one is harmless without the filter: the ioctls go to a pipe, whose
// filesystem cannot be frozen, trimmed or shut down.
type probe struct {
	name   string
	denied bool
	call   func(pipe int) unix.Errno
}

func errnoOf(_, _ uintptr, e unix.Errno) unix.Errno { return e }

// fdErrno closes the fd a call returned.
func fdErrno(fd, _ uintptr, e unix.Errno) unix.Errno {
	if e == 0 {
		unix.Close(int(fd))
	}
	return e
}

func ioctlProbe(name string, req uint64, denied bool) probe {
	return probe{name, denied, func(p int) unix.Errno {
		_, _, e := unix.Syscall(unix.SYS_IOCTL, uintptr(p), uintptr(req), 0)
		return e
	}}
}

var probes = []probe{
	{"getpid", false, func(int) unix.Errno { return errnoOf(unix.Syscall(unix.SYS_GETPID, 0, 0, 0)) }},
	{"fanotify_init", true, func(int) unix.Errno {
		return fdErrno(unix.Syscall(unix.SYS_FANOTIFY_INIT, unix.FAN_CLASS_NOTIF, unix.O_RDONLY, 0))
	}},
	{"quotactl(Q_SYNC)", true, func(int) unix.Errno {
		_, _, e := unix.Syscall6(unix.SYS_QUOTACTL, 0x800001<<8, 0, 0, 0, 0, 0)
		return e
	}},
	{"keyctl(KEYCTL_GET_KEYRING_ID)", true, func(int) unix.Errno {
		_, _, e := unix.Syscall(unix.SYS_KEYCTL, 0, ^uintptr(2), 0) // KEY_SPEC_SESSION_KEYRING (-3)
		return e
	}},
	ioctlProbe("ioctl(FIFREEZE)", fiFreeze, true),
	ioctlProbe("ioctl(FIFREEZE | 1<<32)", fiFreeze|1<<32, true),
	ioctlProbe("ioctl(FITHAW)", fiThaw, true),
	ioctlProbe("ioctl(FITRIM)", fiTrim, true),
	ioctlProbe("ioctl(FS_IOC_SHUTDOWN)", fsIocShutdown, true),
	ioctlProbe("ioctl(FS_IOC_SETFSLABEL)", fsIocSetFSLabel, true),
	ioctlProbe("ioctl(EXT4_IOC_SETFSUUID)", ext4IocSetFSUUID, true),
	ioctlProbe("ioctl(EXT4_IOC_SWAP_BOOT)", ext4IocSwapBoot, true),
	ioctlProbe("ioctl(TIOCSTI)", tiocsti, true),
	ioctlProbe("ioctl(TIOCCONS)", tioccons, true),
	ioctlProbe("ioctl(TCGETS)", unix.TCGETS, false),
}

// childResult is what the child reports: each probe's errno before and
// after the filter, and its thread's capability lines after Apply.
type childResult struct {
	Before, After map[string]unix.Errno
	Status        string
	Err           string
}

func child() int {
	goruntime.LockOSThread()
	res := childResult{}
	var p [2]int
	err := unix.Pipe(p[:])
	if err == nil {
		res.Before = runProbes(p[0])
		err = confine()
	}
	if err == nil {
		res.After = runProbes(p[0])
		var b []byte
		b, err = os.ReadFile("/proc/thread-self/status")
		res.Status = string(b)
	}
	if err != nil {
		res.Err = err.Error()
	}
	_ = json.NewEncoder(os.Stdout).Encode(res)
	return 0
}

func runProbes(pipe int) map[string]unix.Errno {
	m := map[string]unix.Errno{}
	for _, pr := range probes {
		m[pr.name] = pr.call(pipe)
	}
	return m
}

// confine applies the capabilities and installs the default filter, in the
// order the init child does.
func confine() error {
	set := []string{"CAP_CHOWN", "CAP_SETPCAP", "CAP_SYS_ADMIN"}
	c, err := CompileCapabilities(&specs.LinuxCapabilities{Bounding: set, Effective: set, Permitted: set})
	if err != nil {
		return err
	}
	if err := c.ApplyBounding(); err != nil {
		return err
	}
	s, err := CompileSeccomp(DefaultSeccomp())
	if err != nil {
		return err
	}
	if err := s.Install(); err != nil {
		return err
	}
	return c.ApplySets()
}

// TestInstallAndApply runs the child as root (the filter is installed
// without no_new_privs, as the init child does): each denied call fails
// with EPERM only once the filter is in, the others do as before.
func TestInstallAndApply(t *testing.T) {
	if os.Geteuid() != 0 {
		if os.Getenv("CONTAINERCTL_INTEGRATION") == "1" {
			t.Fatal("needs root")
		}
		t.Skip("needs root")
	}
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), childEnv+"=1")
	cmd.Stderr = os.Stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("child: %v", err)
	}
	var res childResult
	if err := json.Unmarshal(out, &res); err != nil {
		t.Fatalf("child output %q: %v", out, err)
	}
	if res.Err != "" {
		t.Fatalf("child: %s", res.Err)
	}
	for _, pr := range probes {
		before, after := res.Before[pr.name], res.After[pr.name]
		t.Logf("%s: errno %d before the filter, %d after", pr.name, before, after)
		switch {
		case pr.denied && (before == unix.EPERM || after != unix.EPERM):
			t.Errorf("%s: errno %v before the filter, %v after, want not EPERM, then EPERM", pr.name, before, after)
		case !pr.denied && after != before:
			t.Errorf("%s: errno %v before the filter, %v after, want the same", pr.name, before, after)
		}
	}
	// CAP_CHOWN (0), CAP_SETPCAP (8), CAP_SYS_ADMIN (21).
	for _, want := range []string{"CapInh:\t0000000000000000", "CapBnd:\t0000000000200101", "CapAmb:\t0000000000000000"} {
		if !strings.Contains(res.Status, want+"\n") {
			t.Errorf("child status has no %q:\n%s", want, res.Status)
		}
	}
}

// TestTerminalIoctlNumbers: TIOCSTI and TIOCCONS are asm-generic's plain
// numbers, not _IOC ones.
func TestTerminalIoctlNumbers(t *testing.T) {
	if tiocsti != unix.TIOCSTI || tioccons != unix.TIOCCONS {
		t.Errorf("tiocsti, tioccons = %#x, %#x, want %#x, %#x", tiocsti, tioccons, unix.TIOCSTI, unix.TIOCCONS)
	}
}
