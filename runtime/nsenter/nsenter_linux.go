package nsenter

import (
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	goruntime "runtime"
	"strconv"
	"strings"
	"sync"
	"syscall"

	"golang.org/x/sys/unix"
)

// Config says how to start a process in a container.
type Config struct {
	Helper string   // the helper on the host (FindHelper)
	PidFD  *os.File // the container init's pidfd (OpenPidFD)
	// CgroupFD is the cgroup2 directory the helper is cloned into
	// (CLONE_INTO_CGROUP), -1 for none. Join puts the helper into the
	// other hierarchies (and the cgroup2 one when cloned is false), before
	// it reads its instructions, so that its child starts in all of them.
	CgroupFD int
	Join     func(pid int, cloned bool) error
	// Stdin, Stdout and Stderr are the process's own without a pty.
	Stdin, Stdout, Stderr *os.File
	Instructions          Instructions
}

// Error is a step the helper or its child failed at, as it reported it,
// and the status it exited with (127, or 126 for a command that cannot be
// executed).
type Error struct {
	Step   string // "exec /bin/nope: No such file or directory"
	Status int
}

func (e *Error) Error() string { return e.Step }

// Child is the process started in the container: a child of the caller.
type Child struct {
	Pid int      // on the host
	PTY *os.File // the terminal's master, with Instructions.PTY
	// pidfd is the process's, for signals; sock reads the rest of the
	// helper's answer.
	proc    *os.Process
	mu      sync.Mutex // guards pidfd, closed once the process is reaped
	pidfd   int
	replies *replies
}

// helperPidFD is the pidfd's number in the helper: ExtraFiles start at 3,
// the socket first.
const helperPidFD = 4

// Start runs the helper and returns once the process exists (and, with a
// pty, once the terminal has come back). The calling goroutine is locked to
// its thread until Wait returns: the helper's and the child's parent-death
// signal belong to that thread, which must outlive them.
func Start(cfg Config) (_ *Child, retErr error) {
	goruntime.LockOSThread()
	defer func() {
		if retErr != nil {
			goruntime.UnlockOSThread()
		}
	}()
	mem, err := sealedCopy(cfg.Helper, 10)
	if err != nil {
		return nil, err
	}
	defer mem.Close()
	fds, err := unix.Socketpair(unix.AF_UNIX, unix.SOCK_STREAM|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		return nil, fmt.Errorf("socketpair: %w", err)
	}
	r, end := &replies{fd: fds[0]}, os.NewFile(uintptr(fds[1]), "nsenter")
	cloned := cfg.CgroupFD >= 0
	cmd := helperCommand(cfg, mem, end, cloned)
	err = cmd.Start()
	if cloned && (errors.Is(err, unix.ENOSYS) || errors.Is(err, unix.EINVAL)) {
		// No clone3 with CLONE_INTO_CGROUP before Linux 5.7.
		cloned = false
		cmd = helperCommand(cfg, mem, end, cloned)
		err = cmd.Start()
	}
	end.Close()
	if err != nil {
		r.close()
		return nil, fmt.Errorf("start %s: %w", HelperName, err)
	}
	c, err := talk(cfg, cmd, r, cloned)
	if err != nil {
		if cmd.ProcessState == nil {
			_ = cmd.Process.Kill()
			_ = cmd.Wait()
		}
		r.close()
		return nil, err
	}
	// The socket stays with the replies until Wait.
	return c, nil
}

func helperCommand(cfg Config, mem, end *os.File, cloned bool) *exec.Cmd {
	return &exec.Cmd{
		Path:       procPath(mem),
		Args:       []string{HelperName},
		Env:        []string{},
		Stdin:      cfg.Stdin,
		Stdout:     cfg.Stdout,
		Stderr:     cfg.Stderr,
		ExtraFiles: []*os.File{end, cfg.PidFD},
		SysProcAttr: &syscall.SysProcAttr{
			Pdeathsig:   unix.SIGKILL,
			UseCgroupFD: cloned,
			CgroupFD:    cfg.CgroupFD,
		},
	}
}

// talk puts the helper in its cgroups, sends the instructions and reads
// the child's pid (and terminal).
func talk(cfg Config, cmd *exec.Cmd, r *replies, cloned bool) (*Child, error) {
	if cfg.Join != nil {
		if err := cfg.Join(cmd.Process.Pid, cloned); err != nil {
			return nil, fmt.Errorf("cgroup: %w", err)
		}
	}
	in := cfg.Instructions
	in.PidFD = helperPidFD
	b, err := in.MarshalBinary()
	if err != nil {
		return nil, err
	}
	for len(b) > 0 {
		n, err := unix.Write(r.fd, b)
		if errors.Is(err, unix.EINTR) {
			continue
		}
		if err != nil {
			return nil, fmt.Errorf("send instructions to %s: %w", HelperName, err)
		}
		b = b[n:]
	}
	c := &Child{pidfd: -1, replies: r}
	for c.Pid == 0 {
		line, err := r.next()
		if err != nil {
			return nil, helperGone(cmd, err)
		}
		if err := c.take(line); err != nil {
			_ = cmd.Wait()
			return nil, err
		}
	}
	// The helper exits once it has told the pid.
	if err := cmd.Wait(); err != nil {
		c.kill()
		return nil, fmt.Errorf("%s: %w", HelperName, err)
	}
	for cfg.Instructions.PTY && c.PTY == nil {
		line, err := r.next()
		if err == nil {
			err = c.take(line)
		}
		if err != nil {
			status, _ := c.reap()
			if e := (*Error)(nil); errors.As(err, &e) {
				e.Status = status
			}
			return nil, err
		}
	}
	return c, nil
}

// take handles one line of the answer.
func (c *Child) take(line string) error {
	kind, rest, err := ParseReply(line)
	if err != nil {
		return err
	}
	switch kind {
	case "error":
		return &Error{Step: rest, Status: 127}
	case "pid":
		// Once, from the helper: the child, once cloned, may be reached
		// by the guest, which could write a line of its own.
		if c.Pid != 0 {
			return fmt.Errorf("%s: a second pid line", HelperName)
		}
		pid, err := strconv.Atoi(rest)
		if err != nil || pid <= 0 {
			return fmt.Errorf("%s: bad pid %q", HelperName, rest)
		}
		pidfd, err := unix.PidfdOpen(pid, 0)
		if err != nil {
			return fmt.Errorf("pidfd_open %d: %w", pid, err)
		}
		// It must be our own child (CLONE_PARENT): a pid that is not
		// would be a host process to signal and wait for.
		var info unix.Siginfo
		if err := unix.Waitid(unix.P_PIDFD, pidfd, &info, unix.WEXITED|unix.WNOHANG|unix.WNOWAIT, nil); err != nil {
			unix.Close(pidfd)
			return fmt.Errorf("%s: pid %d is not containerctl's child: %w", HelperName, pid, err)
		}
		c.Pid, c.pidfd = pid, pidfd
		// Our child, a zombie at worst until we wait: the pid is its.
		if c.proc, err = os.FindProcess(pid); err != nil {
			return err
		}
	case "pty":
		if len(c.replies.fds) == 0 {
			return fmt.Errorf("%s: a pty line without a terminal", HelperName)
		}
		c.PTY = os.NewFile(uintptr(c.replies.fds[0]), "pty")
		c.replies.fds = c.replies.fds[1:]
	}
	return nil
}

// helperGone is what an answer that ended early says: the helper's status.
func helperGone(cmd *exec.Cmd, err error) error {
	werr := cmd.Wait()
	if errors.Is(err, io.EOF) && werr != nil {
		return fmt.Errorf("%s exited without an answer: %w", HelperName, werr)
	}
	if errors.Is(err, io.EOF) {
		return fmt.Errorf("%s exited without an answer", HelperName)
	}
	return fmt.Errorf("read from %s: %w", HelperName, err)
}

// Signal sends sig to the process through its pidfd, which cannot reach
// another process that got its pid.
// After Wait it does nothing.
func (c *Child) Signal(sig unix.Signal) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.pidfd < 0 {
		return unix.ESRCH
	}
	return unix.PidfdSendSignal(c.pidfd, sig, nil, 0)
}

func (c *Child) kill() {
	_ = c.Signal(unix.SIGKILL)
	_, _ = c.reap()
}

// Wait waits until the command has run and exited, and returns its exit
// status (128+N when signal N killed it). A step that failed before the
// exec is an *Error, with the status 127 or 126.
func (c *Child) Wait() (int, error) {
	defer goruntime.UnlockOSThread()
	type read struct {
		failed *Error
		err    error
	}
	done := make(chan read, 1)
	go func() {
		var failed *Error
		for {
			line, err := c.replies.next()
			if errors.Is(err, io.EOF) {
				done <- read{failed: failed}
				return
			}
			if err == nil {
				err = c.take(line)
			}
			if errors.As(err, &failed) {
				continue
			}
			if err != nil {
				done <- read{err: err}
				return
			}
		}
	}()
	// The socket reads EOF when the command execs, unless the guest took
	// a copy of it from the child before then: the command's exit ends
	// the wait either way.
	exited := make(chan struct{})
	go func() {
		pfd := []unix.PollFd{{Fd: int32(c.pidfd), Events: unix.POLLIN}}
		for {
			if _, err := unix.Poll(pfd, -1); !errors.Is(err, unix.EINTR) {
				close(exited)
				return
			}
		}
	}()
	var failed *Error
	select {
	case r := <-done:
		if r.err != nil {
			c.kill()
			return -1, r.err
		}
		failed = r.failed
	case <-exited:
		_ = unix.Shutdown(c.replies.fd, unix.SHUT_RDWR)
		if r := <-done; r.err == nil {
			failed = r.failed
		}
	}
	status, err := c.reap()
	if failed != nil {
		failed.Status = status
		return status, failed
	}
	return status, err
}

// reap waits for the process and closes what we hold of it.
func (c *Child) reap() (int, error) {
	defer c.replies.close()
	st, err := c.proc.Wait()
	c.mu.Lock()
	if c.pidfd >= 0 {
		unix.Close(c.pidfd)
		c.pidfd = -1
	}
	c.mu.Unlock()
	if err != nil {
		return -1, fmt.Errorf("wait for pid %d: %w", c.Pid, err)
	}
	if ws, ok := st.Sys().(syscall.WaitStatus); ok && ws.Signaled() {
		return 128 + int(ws.Signal()), nil
	}
	return st.ExitCode(), nil
}

// replies reads the helper's lines and the fds that come with them.
type replies struct {
	fd  int
	buf []byte
	fds []int
	eof bool
}

// next returns the next line, without its newline; io.EOF at the end.
func (r *replies) next() (string, error) {
	for {
		if i := strings.IndexByte(string(r.buf), '\n'); i >= 0 {
			line := string(r.buf[:i])
			r.buf = r.buf[i+1:]
			return line, nil
		}
		if r.eof {
			if len(r.buf) > 0 {
				line := string(r.buf)
				r.buf = nil
				return line, nil
			}
			return "", io.EOF
		}
		b, oob := make([]byte, 4096), make([]byte, unix.CmsgSpace(4*4))
		n, oobn, _, _, err := unix.Recvmsg(r.fd, b, oob, unix.MSG_CMSG_CLOEXEC)
		if errors.Is(err, unix.EINTR) {
			continue
		}
		if err != nil {
			return "", err
		}
		if oobn > 0 {
			msgs, err := unix.ParseSocketControlMessage(oob[:oobn])
			if err != nil {
				return "", err
			}
			for _, m := range msgs {
				fds, err := unix.ParseUnixRights(&m)
				if err == nil {
					r.fds = append(r.fds, fds...)
				}
			}
		}
		r.eof = n == 0
		r.buf = append(r.buf, b[:n]...)
	}
}

func (r *replies) close() {
	for _, fd := range r.fds {
		unix.Close(fd)
	}
	r.fds = nil
	if r.fd >= 0 {
		unix.Close(r.fd)
		r.fd = -1
	}
}
