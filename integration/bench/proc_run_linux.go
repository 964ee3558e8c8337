//go:build linux

package main

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"golang.org/x/sys/unix"
)

// nsThread runs functions on one OS thread that has a mount namespace of
// its own, so that what they start (crun on a hybrid host, containers on
// overlay roots) sees mounts that the host never sees. A Go program is
// multi-threaded, so it cannot move itself into a new mount namespace;
// but unshare(CLONE_NEWNS) applies to the calling thread (it unshares the
// thread's fs_struct too), and a child forked from a goroutine locked to
// that thread inherits it. If the harness dies, the namespace and its
// mounts die with the last process in it.
type nsThread struct {
	fns chan func()
}

// newNSThread starts the thread, makes its / a recursive slave (so that
// nothing mounted there propagates to the host) and runs setup on it.
func newNSThread(setup func() error) (*nsThread, error) {
	t := &nsThread{fns: make(chan func())}
	errc := make(chan error)
	go func() {
		// Never unlocked: the runtime then ends the thread with the
		// goroutine, instead of reusing a thread in another namespace.
		runtime.LockOSThread()
		if err := unix.Unshare(unix.CLONE_NEWNS); err != nil {
			errc <- fmt.Errorf("unshare mount namespace: %w", err)
			return
		}
		if err := unix.Mount("", "/", "", unix.MS_SLAVE|unix.MS_REC, ""); err != nil {
			errc <- fmt.Errorf("make / rslave: %w", err)
			return
		}
		if setup != nil {
			if err := setup(); err != nil {
				errc <- err
				return
			}
		}
		errc <- nil
		for fn := range t.fns {
			fn()
		}
	}()
	if err := <-errc; err != nil {
		return nil, err
	}
	return t, nil
}

// do runs fn on the thread and waits for it.
func (t *nsThread) do(fn func()) {
	done := make(chan struct{})
	t.fns <- func() { fn(); close(done) }
	<-done
}

// close ends the thread. Processes started from it must have exited: they
// have it as parent-death thread.
func (t *nsThread) close() { close(t.fns) }

// onThread runs fn on t, or here when t is nil.
func onThread(t *nsThread, fn func()) {
	if t == nil {
		fn()
		return
	}
	t.do(fn)
}

// proc is a long-running command: a supervisor of a container.
type proc struct {
	cmd     *exec.Cmd
	started time.Time
	stderr  tail
	ready   chan struct{} // closed when stdout has a line "ready"
	done    chan struct{} // closed when it has exited
	exited  time.Time
	waitErr error
	cleanup func() // after it has exited: its cgroup (nspawnCmd)
	// peak is the highest VmHWM seen while the process ran its first
	// binary: containerctl's supervisor execs into containerctl-monitor,
	// and an exec starts VmHWM again, so its start's peak is read before.
	peak atomic.Int64
}

// peakHWM is p's peak RSS in KiB over its life: now, or before an exec.
func (p *proc) peakHWM(now int64) int64 { return max(now, p.peak.Load()) }

// watchPeak samples p's VmHWM every 2 ms while it runs the binary it was
// started with, up to 30 s (the memory section only: it costs CPU).
func (p *proc) watchPeak() {
	exe, err := os.Readlink(fmt.Sprintf("/proc/%d/exe", p.pid()))
	if err != nil {
		return
	}
	for deadline := time.Now().Add(30 * time.Second); time.Now().Before(deadline); {
		hwm, err := statusKiB(p.pid(), "VmHWM")
		if now, _ := os.Readlink(fmt.Sprintf("/proc/%d/exe", p.pid())); err != nil || now != exe {
			return
		}
		if hwm > p.peak.Load() {
			p.peak.Store(hwm)
		}
		select {
		case <-p.done:
			return
		case <-time.After(2 * time.Millisecond):
		}
	}
}

// finish runs p's cleanup once p has exited.
func (p *proc) finish() {
	if p.cleanup != nil {
		p.cleanup()
		p.cleanup = nil
	}
}

// startProc starts argv with env added, on thread t (nil: any). With
// watchReady, its stdout is read for a line "ready".
func startProc(t *nsThread, argv []string, env []string, watchReady bool) (*proc, error) {
	p := &proc{ready: make(chan struct{}), done: make(chan struct{})}
	p.cmd = exec.Command(argv[0], argv[1:]...)
	p.cmd.Env = append(os.Environ(), env...)
	p.cmd.Stderr = &p.stderr
	p.cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	var stdout io.ReadCloser
	if watchReady {
		var err error
		if stdout, err = p.cmd.StdoutPipe(); err != nil {
			return nil, err
		}
	}
	var err error
	onThread(t, func() {
		p.started = time.Now()
		err = p.cmd.Start()
	})
	if err != nil {
		return nil, err
	}
	if watchReady {
		go func() {
			sc := bufio.NewScanner(stdout)
			once := false
			for sc.Scan() {
				if !once && strings.TrimSpace(sc.Text()) == "ready" {
					once = true
					close(p.ready)
				}
			}
		}()
	}
	go func() {
		p.waitErr = p.cmd.Wait()
		p.exited = time.Now()
		close(p.done)
	}()
	return p, nil
}

func (p *proc) pid() int { return p.cmd.Process.Pid }

func (p *proc) signal(sig syscall.Signal) { _ = p.cmd.Process.Signal(sig) }

// exitError describes how p exited, with the end of its stderr.
func (p *proc) exitError() error {
	msg := "exited"
	if p.waitErr != nil {
		msg = p.waitErr.Error()
	}
	if s := strings.TrimSpace(p.stderr.String()); s != "" {
		msg += ": " + s
	}
	return errors.New(oneLine(msg))
}

// waitExit waits up to d for p to exit, then kills it.
func (p *proc) waitExit(d time.Duration) error {
	select {
	case <-p.done:
		return nil
	case <-time.After(d):
		p.signal(syscall.SIGKILL)
		<-p.done
		return fmt.Errorf("%s did not exit within %s; killed", p.cmd.Path, d)
	}
}

// tail keeps the last 4 KiB written to it.
type tail struct {
	mu  sync.Mutex
	buf []byte
}

func (t *tail) Write(b []byte) (int, error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.buf = append(t.buf, b...)
	if len(t.buf) > 4096 {
		t.buf = t.buf[len(t.buf)-4096:]
	}
	return len(b), nil
}

func (t *tail) String() string {
	t.mu.Lock()
	defer t.mu.Unlock()
	return string(t.buf)
}

// timedRunFrom is timedRun from migration state st, made just before the
// timing starts.
func timedRunFrom(st migrationState, t *nsThread, argv, env []string, errf *os.File) (time.Duration, error) {
	if err := st.prepare(); err != nil {
		return 0, err
	}
	return timedRun(t, argv, env, errf)
}

// timedRun runs argv to its end on thread t and returns how long it took,
// from just before fork to just after the reap. Output goes to /dev/null;
// stderr to errf, which is shown on failure.
func timedRun(t *nsThread, argv, env []string, errf *os.File) (time.Duration, error) {
	if err := errf.Truncate(0); err != nil {
		return 0, err
	}
	if _, err := errf.Seek(0, 0); err != nil {
		return 0, err
	}
	cmd := exec.Command(argv[0], argv[1:]...)
	cmd.Stderr = errf // a file, not a pipe: no copying goroutine in the timing
	if env != nil {
		cmd.Env = append(os.Environ(), env...)
	}
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	var d time.Duration
	var err error
	onThread(t, func() {
		t0 := time.Now()
		err = cmd.Run()
		d = time.Since(t0)
	})
	if err != nil {
		msg, _ := os.ReadFile(errf.Name())
		return 0, fmt.Errorf("%s: %w: %s", strings.Join(argv, " "), err, oneLine(string(msg)))
	}
	return d, nil
}
