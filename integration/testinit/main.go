//go:build linux

// Command testinit is the small static program the integration tests run as
// a container's PID 1 (or as a plain command). It reports what it sees from
// inside the container as one JSON line, then waits for the halt signal the
// way a real init does.
//
// Output protocol, one line each, written with a single write(2) so that a
// pty or pipe reader sees whole lines:
//
//	TESTINIT-REPORT {json}   with -report
//	TESTINIT-READY           always, once set up
//	TESTINIT-HALT            on SIGRTMIN+3 with -halt obey
//
// When started with no arguments at all (as the NixOS-style default init,
// which gets none), the arguments are read one per line from testinit.args
// beside the executable, then from /etc/testinit.args.
//
// It must build with CGO_ENABLED=0 and use only the standard library and
// golang.org/x/sys/unix.
package main

import (
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"net"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"syscall"
	"time"
	"unsafe"

	"golang.org/x/sys/unix"

	"github.com/containerctl/containerctl/integration/testinit/report"
)

// sigHalt is SIGRTMIN+3 in glibc numbering, the signal systemd (and so
// containerctl) uses to ask an init to halt.
const sigHalt = syscall.Signal(37)

// Hidden modes, dispatched before flag parsing, used by -orphan.
const (
	modeOrphanFork  = "__testinit_orphan_fork"
	modeOrphanSleep = "__testinit_orphan_sleep"
)

type listFlag []string

func (l *listFlag) String() string { return strings.Join(*l, ",") }

func (l *listFlag) Set(v string) error {
	for _, p := range strings.Split(v, ",") {
		if p != "" {
			*l = append(*l, p)
		}
	}
	return nil
}

func main() {
	if len(os.Args) > 1 {
		switch os.Args[1] {
		case modeOrphanFork:
			orphanFork()
			return
		case modeOrphanSleep:
			orphanSleep()
			return
		case "alloc":
			alloc(os.Args[2:])
			return
		case "spin":
			for {
			}
		case "forks":
			forks(os.Args[2:])
			return
		case "syscalls":
			syscalls()
			return
		case "catch":
			catch()
			return
		case "exec-blocked":
			execBlocked(os.Args[2:])
			return
		case "echo-server":
			echoServer(os.Args[2:])
			return
		case "deep-cgroup":
			deepCgroup(os.Args[2:])
			return
		}
	}
	if err := run(os.Args[1:]); err != nil {
		fmt.Fprintf(os.Stderr, "testinit: %v\n", err)
		os.Exit(2)
	}
}

func run(args []string) error {
	if len(args) == 0 {
		args = argsFromFile()
	}
	fs := flag.NewFlagSet("testinit", flag.ContinueOnError)
	var (
		doReport = fs.Bool("report", false, "print a TESTINIT-REPORT line")
		halt     = fs.String("halt", "obey", "on the halt signal: obey, ignore, or none (exit at once)")
		exitCode = fs.Int("exit", 0, "exit status when halting or with -halt none")
		orphan   = fs.Bool("orphan", false, "leave a detached sleeping grandchild behind")
		notify   = fs.Bool("notify", false, "send READY=1 to $NOTIFY_SOCKET once ready, as systemd does")
		reads    listFlag
		writes   listFlag
		stats    listFlag
	)
	fs.Var(&reads, "read", "file to read (repeatable, or a comma list)")
	fs.Var(&writes, "write", "file to create and write (repeatable, or a comma list)")
	fs.Var(&stats, "absent", "path whose existence to report (repeatable, or a comma list)")
	fs.Var(&stats, "stat", "same as -absent")
	if err := fs.Parse(args); err != nil {
		return err
	}
	switch *halt {
	case "obey", "ignore", "none":
	default:
		return fmt.Errorf("-halt %q: want obey, ignore or none", *halt)
	}

	// Install the halt handler first, so that a halt request arriving
	// while we report is not lost.
	haltc := make(chan os.Signal, 1)
	switch *halt {
	case "obey":
		signal.Notify(haltc, sigHalt)
	case "ignore":
		signal.Ignore(sigHalt, syscall.SIGTERM, syscall.SIGINT, syscall.SIGHUP)
	}

	orphanPID := 0
	if *orphan {
		pid, err := startOrphan()
		if err != nil {
			return fmt.Errorf("start orphan: %w", err)
		}
		orphanPID = pid
	}
	// PID 1 inherits every orphan in the namespace: reap them.
	go reap()

	if *doReport {
		r := collect(args, reads, writes, stats)
		r.OrphanPID = orphanPID
		b, err := json.Marshal(r)
		if err != nil {
			return fmt.Errorf("encode report: %w", err)
		}
		println1("TESTINIT-REPORT " + string(b))
	}
	if *notify {
		if err := sdNotify("READY=1"); err != nil {
			return fmt.Errorf("notify: %w", err)
		}
	}
	println1("TESTINIT-READY")

	switch *halt {
	case "none":
		os.Exit(*exitCode)
	case "obey":
		<-haltc
		println1("TESTINIT-HALT")
		os.Exit(*exitCode)
	}
	sleepForever()
	return nil
}

// sdNotify sends state to the service manager's socket, $NOTIFY_SOCKET.
func sdNotify(state string) error {
	p := os.Getenv("NOTIFY_SOCKET")
	if p == "" {
		return fmt.Errorf("no NOTIFY_SOCKET")
	}
	conn, err := net.DialUnix("unixgram", nil, &net.UnixAddr{Name: p, Net: "unixgram"})
	if err != nil {
		return err
	}
	defer conn.Close()
	_, err = conn.Write([]byte(state))
	return err
}

// sleepForever blocks for good. A bare select{} would not do: with no other
// goroutine able to run, the Go runtime aborts it as a deadlock.
func sleepForever() {
	for {
		time.Sleep(time.Hour)
	}
}

// println1 writes s and a newline in one write: os.Stdout is unbuffered, so
// the line is flushed at once.
func println1(s string) {
	os.Stdout.Write([]byte(s + "\n"))
}

func argsFromFile() []string {
	var candidates []string
	if exe, err := os.Executable(); err == nil {
		candidates = append(candidates, filepath.Join(filepath.Dir(exe), "testinit.args"))
	}
	candidates = append(candidates, "/etc/testinit.args")
	for _, p := range candidates {
		b, err := os.ReadFile(p)
		if err != nil {
			continue
		}
		var args []string
		for _, l := range strings.Split(string(b), "\n") {
			if l = strings.TrimSpace(l); l != "" {
				args = append(args, l)
			}
		}
		return args
	}
	return nil
}

func collect(args, reads, writes, stats []string) *report.Report {
	r := &report.Report{
		Args:   args,
		PID:    os.Getpid(),
		PPID:   os.Getppid(),
		UID:    os.Getuid(),
		NS:     map[string]string{},
		Env:    os.Environ(),
		Reads:  map[string]report.ReadResult{},
		Writes: map[string]report.WriteResult{},
		Stats:  map[string]report.StatResult{},
	}
	var err error
	if r.Exe, err = os.Readlink("/proc/self/exe"); err != nil {
		r.Errors = append(r.Errors, err.Error())
	}
	if r.Hostname, err = os.Hostname(); err != nil {
		r.Errors = append(r.Errors, err.Error())
	}
	for _, ns := range []string{"mnt", "pid", "uts", "ipc", "net", "cgroup", "user"} {
		link, err := os.Readlink("/proc/self/ns/" + ns)
		if err != nil {
			r.Errors = append(r.Errors, err.Error())
			continue
		}
		r.NS[ns] = link
	}
	if b, err := os.ReadFile("/proc/self/mountinfo"); err != nil {
		r.Errors = append(r.Errors, err.Error())
	} else {
		r.Mountinfo = strings.Split(strings.TrimRight(string(b), "\n"), "\n")
	}
	for _, p := range reads {
		b, err := os.ReadFile(p)
		r.Reads[p] = report.ReadResult{Data: string(b), Err: errString(err), Errno: errnoName(err)}
	}
	for _, p := range writes {
		err := os.WriteFile(p, []byte("written-by-testinit\n"), 0o644)
		r.Writes[p] = report.WriteResult{Err: errString(err), Errno: errnoName(err)}
	}
	for _, p := range stats {
		r.Stats[p] = statPath(p)
	}
	return r
}

func statPath(p string) report.StatResult {
	fi, err := os.Lstat(p)
	if err != nil {
		if errors.Is(err, os.ErrNotExist) {
			return report.StatResult{}
		}
		return report.StatResult{Err: err.Error()}
	}
	s := report.StatResult{Exists: true, Mode: fi.Mode().String()}
	if fi.Mode()&os.ModeSymlink != 0 {
		s.Link, _ = os.Readlink(p)
	}
	return s
}

func errString(err error) string {
	if err == nil {
		return ""
	}
	return err.Error()
}

func errnoName(err error) string {
	var errno syscall.Errno
	if !errors.As(err, &errno) {
		return ""
	}
	return unix.ErrnoName(errno)
}

// startOrphan double-forks a sleeper detached in its own session, so that it
// is reparented to the namespace's PID 1 and outlives any parent but the
// namespace itself. It returns the sleeper's pid as seen here.
func startOrphan() (int, error) {
	cmd := exec.Command("/proc/self/exe", modeOrphanFork)
	out, err := cmd.Output()
	if err != nil {
		return 0, fmt.Errorf("fork: %w", err)
	}
	pid, err := strconv.Atoi(strings.TrimSpace(string(out)))
	if err != nil {
		return 0, fmt.Errorf("fork: bad pid %q: %w", out, err)
	}
	return pid, nil
}

// orphanFork is the middle process: it starts the sleeper, prints its pid
// and exits without waiting for it.
func orphanFork() {
	cmd := exec.Command("/proc/self/exe", modeOrphanSleep)
	cmd.SysProcAttr = &syscall.SysProcAttr{Setsid: true}
	if err := cmd.Start(); err != nil {
		fmt.Fprintf(os.Stderr, "testinit: orphan: %v\n", err)
		os.Exit(1)
	}
	fmt.Println(cmd.Process.Pid)
	os.Exit(0)
}

// orphanSleep blocks forever, deaf to every signal it may ignore, so that
// only SIGKILL or the end of its PID namespace removes it.
func orphanSleep() {
	signal.Ignore(sigHalt, syscall.SIGTERM, syscall.SIGINT, syscall.SIGHUP, syscall.SIGQUIT)
	sleepForever()
}

// reap collects every child that exits, as an init must.
func reap() {
	c := make(chan os.Signal, 16)
	signal.Notify(c, syscall.SIGCHLD)
	for {
		for {
			var ws unix.WaitStatus
			pid, err := unix.Wait4(-1, &ws, unix.WNOHANG, nil)
			if pid <= 0 || err != nil {
				break
			}
		}
		<-c
	}
}

// alloc allocates and touches the number of MiB its argument gives, one
// MiB at a time, printing "ALLOC n" every 16 MiB, then "ALLOC-DONE". Under a
// memory limit it is OOM-killed on the way.
func alloc(args []string) {
	n := 0
	if len(args) == 1 {
		n, _ = strconv.Atoi(args[0])
	}
	if n <= 0 {
		fmt.Fprintln(os.Stderr, "testinit alloc: want a positive number of MiB")
		os.Exit(2)
	}
	var keep [][]byte
	for i := 1; i <= n; i++ {
		b := make([]byte, 1<<20)
		for j := 0; j < len(b); j += 4096 {
			b[j] = 1
		}
		keep = append(keep, b)
		if i%16 == 0 {
			println1("ALLOC " + strconv.Itoa(i))
		}
	}
	println1("ALLOC-DONE " + strconv.Itoa(len(keep)))
}

// forks starts the number of sleeping children its argument gives, prints
// "FORKED ok=N failed=M" and then sleeps: under a task limit the forks past
// it fail.
func forks(args []string) {
	n := 0
	if len(args) == 1 {
		n, _ = strconv.Atoi(args[0])
	}
	ok, failed := 0, 0
	for i := 0; i < n; i++ {
		cmd := exec.Command("/proc/self/exe", modeOrphanSleep)
		if err := cmd.Start(); err != nil {
			failed++
			continue
		}
		ok++
	}
	println1(fmt.Sprintf("FORKED ok=%d failed=%d", ok, failed))
	for {
		time.Sleep(time.Hour)
	}
}

// syscalls tries syscalls a container's filter refuses and prints one line
// each: "SYSCALL name errno" ("ok" when it went through).
func syscalls() {
	report := func(name string, err error) {
		e := "ok"
		if errno, ok := err.(syscall.Errno); ok {
			e = unix.ErrnoName(errno)
		} else if err != nil {
			e = err.Error()
		}
		println1("SYSCALL " + name + " " + e)
	}
	// A bogus handle: refused by the filter, else ESTALE or EINVAL.
	h := unix.NewFileHandle(1, make([]byte, 8))
	fd, err := unix.OpenByHandleAt(unix.AT_FDCWD, h, unix.O_RDONLY)
	if err == nil {
		unix.Close(fd)
	}
	report("open_by_handle_at", err)
	_, err = unix.KeyctlGetKeyringID(unix.KEY_SPEC_SESSION_KEYRING, false)
	report("keyctl", err)
	path, _ := unix.BytePtrFromString("/nonexistent")
	_, _, e := unix.Syscall(unix.SYS_SWAPOFF, uintptr(unsafe.Pointer(path)), 0, 0)
	if e != 0 {
		report("swapoff", e)
	} else {
		report("swapoff", nil)
	}
	_, err = unix.Getcwd(make([]byte, 256))
	report("getcwd", err)

	// fanotify: refused by the filter; else, as root with CAP_SYS_ADMIN,
	// an fd, and then a filesystem mark on the root's filesystem (the
	// host's) would report every open on it.
	fd, err = unix.FanotifyInit(unix.FAN_CLASS_NOTIF, unix.O_RDONLY)
	report("fanotify_init", err)
	if err == nil {
		report("fanotify_mark_filesystem", unix.FanotifyMark(fd, unix.FAN_MARK_ADD|unix.FAN_MARK_FILESYSTEM, unix.FAN_OPEN, unix.AT_FDCWD, "/"))
		unix.Close(fd)
	}
	// Quotas: Q_SYNC of every filesystem (special NULL) and Q_GETFMT of
	// the root's only read or flush, so they are harmless unfiltered.
	qcmd := func(cmd uintptr) uintptr { return cmd << 8 } // QCMD(cmd, USRQUOTA)
	_, _, e = unix.Syscall6(unix.SYS_QUOTACTL, qcmd(0x800001), 0, 0, 0, 0, 0)
	report("quotactl", errOf(e))
	if root, err := unix.Open("/", unix.O_RDONLY|unix.O_DIRECTORY, 0); err == nil {
		var format uint32
		_, _, e = unix.Syscall6(unix.SYS_QUOTACTL_FD, uintptr(root), qcmd(0x800004), 0, uintptr(unsafe.Pointer(&format)), 0, 0)
		report("quotactl_fd", errOf(e))
		unix.Close(root)
	}
	// The filesystem ioctls go to a pipe, never to a file of a real
	// filesystem: were the filter missing, pipefs can be neither frozen
	// (EOPNOTSUPP) nor trimmed nor shut down (ENOTTY), and FITHAW finds
	// nothing frozen (EINVAL). The container's root has CAP_SYS_ADMIN,
	// which these check first, so EPERM comes from the filter alone.
	var p [2]int
	if err := unix.Pipe(p[:]); err != nil {
		report("pipe", err)
		return
	}
	var trim [3]uint64 // struct fstrim_range, of length 0
	for _, req := range []struct {
		name string
		nr   uint64
		arg  uintptr
	}{
		{"FIFREEZE", 0xc0045877, 0},
		{"FIFREEZE|1<<32", 0xc0045877 | 1<<32, 0}, // the kernel reads 32 bits
		{"FITHAW", 0xc0045878, 0},
		{"FITRIM", 0xc0185879, uintptr(unsafe.Pointer(&trim))},
		{"FS_IOC_SHUTDOWN", 0x8004587d, 0},
		{"FS_IOC_SETFSLABEL", 0x41009432, 0},
		{"EXT4_IOC_SETFSUUID", 0x4008662c, 0},
		{"EXT4_IOC_SWAP_BOOT", 0x6611, 0},
		// Terminal input and the console: on a pipe ENOTTY without the
		// filter, whatever the guest's capabilities.
		{"TIOCSTI", unix.TIOCSTI, 0},
		{"TIOCCONS", unix.TIOCCONS, 0},
		{"TCGETS", unix.TCGETS, 0},
	} {
		_, _, e = unix.Syscall(unix.SYS_IOCTL, uintptr(p[0]), uintptr(req.nr), req.arg)
		report("ioctl_"+req.name, errOf(e))
	}
}

// errOf is nil for errno 0, else the errno.
func errOf(e syscall.Errno) error {
	if e == 0 {
		return nil
	}
	return e
}

// catch is a hostile guest's watcher for what `containerctl exec` clones
// into the container: it waits for the next pid of the PID namespace,
// stops that process at once (before it can exec), prints one line,
// "CAUGHT pid exe CapEff Seccomp", and lets it go on. Run as PID 1's
// sibling by the test, it shows what the guest could ptrace in that
// window. The next pid that is not a thread (a Go runtime here, ours or
// PID 1's, may start one meanwhile, and a thread takes a pid too) is the
// one; one that came and went before we looked is reported with "?".
func catch() {
	last := lastPid()
	if last == 0 {
		fmt.Fprintln(os.Stderr, "testinit catch: cannot read /proc/sys/kernel/ns_last_pid")
		os.Exit(2)
	}
	println1("CATCH-READY")
	deadline := time.Now().Add(20 * time.Second)
	next := last + 1
	for time.Now().Before(deadline) {
		fd, err := unix.PidfdOpen(next, 0)
		switch {
		case (errors.Is(err, unix.EINVAL) || errors.Is(err, unix.ENOENT)) && isThread(next):
			// A thread's id (EINVAL, or ENOENT since Linux 6.9): not
			// a process.
			next++
			continue
		case errors.Is(err, unix.ESRCH) && lastPid() >= next:
			println1(fmt.Sprintf("CAUGHT %d - ? ? ?", next))
			return
		case err != nil:
			continue
		}
		_ = unix.PidfdSendSignal(fd, unix.SIGSTOP, nil, 0)
		exe, _ := os.Readlink(fmt.Sprintf("/proc/%d/exe", next))
		st, _ := os.ReadFile(fmt.Sprintf("/proc/%d/status", next))
		field := func(k string) string { return statusField(st, k) }
		if exe == "" {
			exe = "-" // gone, or not yet readable: one field all the same
		}
		println1(fmt.Sprintf("CAUGHT %d %s %s %s %s", next, strings.ReplaceAll(exe, " ", "_"), field("CapEff"), field("Seccomp"), field("CapPrm")))
		_ = unix.PidfdSendSignal(fd, unix.SIGCONT, nil, 0)
		unix.Close(fd)
		return
	}
	println1("CATCH-TIMEOUT")
}

// statusField is field k of /proc/PID/status text st, or "?".
func statusField(st []byte, k string) string {
	for _, l := range strings.Split(string(st), "\n") {
		if v, ok := strings.CutPrefix(l, k+":"); ok {
			return strings.TrimSpace(v)
		}
	}
	return "?"
}

// isThread says whether tid is a thread other than its process's first.
func isThread(tid int) bool {
	st, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", tid))
	if err != nil {
		return false
	}
	tgid := statusField(st, "Tgid")
	return tgid != "?" && tgid != strconv.Itoa(tid)
}

// lastPid is the PID namespace's last pid given out, or 0.
func lastPid() int {
	b, err := os.ReadFile("/proc/sys/kernel/ns_last_pid")
	if err != nil {
		return 0
	}
	n, _ := strconv.Atoi(strings.TrimSpace(string(b)))
	return n
}

// execBlocked execs its arguments with SIGRTMIN+3, SIGUSR1 and SIGTERM
// blocked, as a caller that leaves a signal mask behind would: "testinit
// exec-blocked PROGRAM ARGS...".
func execBlocked(args []string) {
	if len(args) == 0 {
		fmt.Fprintln(os.Stderr, "testinit exec-blocked: no program")
		os.Exit(2)
	}
	path, err := exec.LookPath(args[0])
	if err != nil {
		fmt.Fprintln(os.Stderr, "testinit exec-blocked:", err)
		os.Exit(2)
	}
	var set unix.Sigset_t
	for _, sig := range []syscall.Signal{sigHalt, syscall.SIGUSR1, syscall.SIGTERM} {
		n := uint(sig) - 1
		set.Val[n/64] |= 1 << (n % 64)
	}
	// The exec'ing thread's mask is the new program's.
	runtime.LockOSThread()
	if err := unix.PthreadSigmask(unix.SIG_BLOCK, &set, nil); err != nil {
		fmt.Fprintln(os.Stderr, "testinit exec-blocked:", err)
		os.Exit(2)
	}
	err = syscall.Exec(path, args, os.Environ())
	fmt.Fprintln(os.Stderr, "testinit exec-blocked:", err)
	os.Exit(2)
}

// deepCgroup DIR LEVELS [freeze] makes LEVELS nested cgroups of 250-byte
// names below the cgroup directory DIR, each by a mkdir and chdir relative
// to the last, so that the deepest one's path is longer than PATH_MAX
// (from 17 levels); with freeze (DIR a v1 freezer hierarchy), it moves a
// sleeping child into the deepest and freezes it there. It prints DEEP
// and the directory when done, then sleeps.
func deepCgroup(args []string) {
	if len(args) < 2 {
		fmt.Fprintln(os.Stderr, "testinit deep-cgroup: want DIR LEVELS [freeze]")
		os.Exit(2)
	}
	levels, _ := strconv.Atoi(args[1])
	name := strings.Repeat("x", 250)
	die := func(what string, err error) {
		fmt.Fprintf(os.Stderr, "testinit deep-cgroup: %s: %v\n", what, err)
		os.Exit(1)
	}
	if err := unix.Chdir(args[0]); err != nil {
		die("chdir "+args[0], err)
	}
	for i := 0; i < levels; i++ {
		if err := unix.Mkdir(name, 0o755); err != nil {
			die(fmt.Sprintf("mkdir at level %d", i+1), err)
		}
		if err := unix.Chdir(name); err != nil {
			die(fmt.Sprintf("chdir at level %d", i+1), err)
		}
	}
	if len(args) > 2 && args[2] == "freeze" {
		child := exec.Command("/proc/self/exe", modeOrphanSleep)
		if err := child.Start(); err != nil {
			die("start the child", err)
		}
		if err := os.WriteFile("cgroup.procs", []byte(strconv.Itoa(child.Process.Pid)), 0); err != nil {
			die("move the child", err)
		}
		if err := os.WriteFile("freezer.state", []byte("FROZEN"), 0); err != nil {
			die("freeze", err)
		}
	}
	println1("DEEP " + args[0])
	for {
		time.Sleep(time.Hour)
	}
}
