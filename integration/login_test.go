//go:build linux

package integration

import (
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/containerd/console"
)

// ptySession is containerctl run on a pseudo-terminal of the test's, as a
// user at a terminal runs it.
type ptySession struct {
	t      *testing.T
	master console.Console
	out    lockedBuffer
	cmd    *exec.Cmd
	done   chan struct{}
}

// startOnPty starts containerctl with args on a new pseudo-terminal of
// size (nil for the default) as its controlling terminal and stdio.
func startOnPty(t *testing.T, size *console.WinSize, args ...string) *ptySession {
	t.Helper()
	return startProgramOnPty(t, size, ctlBin, args...)
}

// startProgramOnPty starts program with args on a new pseudo-terminal.
func startProgramOnPty(t *testing.T, size *console.WinSize, program string, args ...string) *ptySession {
	t.Helper()
	master, slavePath, err := console.NewPty()
	if err != nil {
		t.Fatal(err)
	}
	if size != nil {
		if err := master.Resize(*size); err != nil {
			t.Fatal(err)
		}
	}
	slave, err := os.OpenFile(slavePath, os.O_RDWR, 0)
	if err != nil {
		t.Fatal(err)
	}
	s := &ptySession{t: t, master: master, done: make(chan struct{}), cmd: exec.Command(program, args...)}
	s.cmd.Stdin, s.cmd.Stdout, s.cmd.Stderr = slave, slave, slave
	s.cmd.SysProcAttr = &syscall.SysProcAttr{Setsid: true, Setctty: true, Ctty: 0}
	if err := s.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	slave.Close()
	go func() { _ = s.cmd.Wait(); close(s.done) }()
	go func() { _, _ = io.Copy(&s.out, master) }()
	t.Cleanup(func() {
		_ = s.cmd.Process.Kill()
		<-s.done
		master.Close()
	})
	return s
}

// expect waits for want on the terminal.
func (s *ptySession) expect(want string, timeout time.Duration) {
	s.t.Helper()
	deadline := time.Now().Add(timeout)
	for !strings.Contains(s.out.String(), want) {
		if time.Now().After(deadline) {
			s.t.Fatalf("no %q on the terminal within %v; it shows:\n%q", want, timeout, s.out.String())
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func (s *ptySession) send(line string) {
	s.t.Helper()
	if _, err := s.master.Write([]byte(line + "\r")); err != nil {
		s.t.Fatal(err)
	}
}

func (s *ptySession) wait(timeout time.Duration) int {
	s.t.Helper()
	select {
	case <-s.done:
		return s.cmd.ProcessState.ExitCode()
	case <-time.After(timeout):
		s.t.Fatalf("containerctl did not exit within %v; the terminal shows:\n%q", timeout, s.out.String())
		return -1
	}
}

// TestLogin: login gives a root shell on a pseudo-terminal of the
// container's, through the guest's own login(1), or root's shell as a
// login shell where there is none.
func TestLogin(t *testing.T) {
	for _, tt := range []struct {
		name  string
		login bool
		arg0  string // $0 of the shell: login(1) starts "-sh"
		// status: the shell's own, where the shell is what login runs;
		// busybox's login(1) keeps it to itself.
		status int
	}{{"login(1)", true, "-sh", 0}, {"no login(1)", false, "/bin/sh", 5}} {
		t.Run(tt.name, func(t *testing.T) {
			fx, c := startExecFixture(t)
			if tt.login {
				if err := os.Symlink("busybox", filepath.Join(fx.root, "bin", "login")); err != nil {
					t.Fatal(err)
				}
			}
			for _, a := range []string{"id", "tty"} {
				_ = os.Symlink("busybox", filepath.Join(fx.root, "bin", a))
			}
			s := startOnPty(t, nil, "login", c.name)
			// login(1) flushes what was typed before it asks: wait for
			// the shell's prompt.
			s.expect("# ", startTimeout)
			s.send("echo LOGIN-$((6*7)) $(id -u) $(tty) $0; exit 5")
			s.expect("LOGIN-42 0 /dev/pts/", startTimeout)
			if out := s.out.String(); !strings.Contains(out, "LOGIN-42 0 /dev/pts/0 "+tt.arg0+"\r") {
				t.Errorf("login: want root's shell (%s) on the container's pty; the terminal shows %q", tt.arg0, out)
			}
			if got := s.wait(startTimeout); got != tt.status {
				t.Errorf("login exit status %d, want %d", got, tt.status)
			}
		})
	}
	if r := ctl(t, "login", "it-no-such-container"); r.code != 1 || len(nonEmptyLines(r.stderr)) != 1 || !strings.Contains(r.stderr, "not running") {
		t.Errorf("login into no container: exit %d, stderr %q; want 1 and one line saying not running", r.code, r.stderr)
	}
}

// TestLoginBoot: login into a booted Debian system gives a root shell
// through its own login(1).
func TestLoginBoot(t *testing.T) {
	lower := requireDebianRoot(t)
	root, _ := overlayRoot(t, lower)
	b := startBoot(t, bootOpts{root: root})
	b.requireRunning()
	s := startOnPty(t, nil, "login", b.name)
	s.expect("#", 30*time.Second)
	s.send("echo LOGIN-$((6*7)) $(id -u) $(tty) $(systemctl is-system-running); exit")
	s.expect("LOGIN-42 0 /dev/pts/", 30*time.Second)
	s.expect("running", 10*time.Second)
	if got := s.wait(startTimeout); got != 0 {
		t.Errorf("login exit status %d, want 0", got)
	}
	b.requireCleanHalt()
}
