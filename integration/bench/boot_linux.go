//go:build linux

package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	"github.com/sirupsen/logrus"
	"golang.org/x/sys/unix"
)

const (
	bootTimeout = 90 * time.Second // to running, and again to exit after the halt
	pollEvery   = 20 * time.Millisecond
	sigRTMin3   = syscall.Signal(37) // SIGRTMIN+3: systemd's halt
)

// overlayHost gives every boot a fresh copy of the Debian root: an overlay
// whose upper layer is on a tmpfs, both mounted in the mount namespace of
// one nsThread, so that no boot changes the cached root or sees the one
// before it, and the host sees none of these mounts.
type overlayHost struct {
	t     *nsThread
	lower string
	base  string // mount point of the tmpfs, an empty directory on the host
}

// newOverlayHost builds (or finds cached) the Debian root and readies the
// overlays on it.
func newOverlayHost(ctx context.Context, cfg *config) (*overlayHost, error) {
	lower, err := debianRoot(ctx, cfg)
	if err != nil {
		return nil, err
	}
	base := filepath.Join(cfg.cacheDir, fmt.Sprintf("overlays-%d", os.Getpid()))
	if err := os.MkdirAll(base, 0o755); err != nil {
		return nil, err
	}
	t, err := newNSThread(func() error {
		if err := unix.Mount("tmpfs", base, "tmpfs", 0, "mode=0755"); err != nil {
			return fmt.Errorf("mount tmpfs on %s: %w", base, err)
		}
		return nil
	})
	if err != nil {
		os.Remove(base)
		return nil, err
	}
	return &overlayHost{t: t, lower: lower, base: base}, nil
}

// root mounts a fresh overlay root named name and returns it with its undo.
func (o *overlayHost) root(name string) (string, func(), error) {
	d := filepath.Join(o.base, name)
	m := filepath.Join(d, "root")
	var err error
	o.t.do(func() {
		for _, s := range []string{"upper", "work", "root"} {
			if err = os.MkdirAll(filepath.Join(d, s), 0o755); err != nil {
				return
			}
		}
		opts := fmt.Sprintf("lowerdir=%s,upperdir=%s/upper,workdir=%s/work", o.lower, d, d)
		if err = unix.Mount("overlay", m, "overlay", 0, opts); err != nil {
			err = fmt.Errorf("mount overlay on %s: %w", m, err)
		}
	})
	if err != nil {
		return "", nil, err
	}
	undo := func() {
		o.t.do(func() {
			if err := unix.Unmount(m, unix.MNT_DETACH); err != nil {
				logrus.WithError(err).Warnf("unmount %s", m)
			}
			_ = os.RemoveAll(d)
		})
	}
	return m, undo, nil
}

// close unmounts the tmpfs and ends the namespace's thread; every process
// started on it must have exited.
func (o *overlayHost) close() {
	o.t.do(func() { _ = unix.Unmount(o.base, unix.MNT_DETACH) })
	o.t.close()
	_ = os.Remove(o.base)
}

// bootSample is one boot and halt.
type bootSample struct {
	boot, halt time.Duration
	state      string // is-system-running when it was done starting
	mem        treeMemory
}

// bootOnce boots root with tool (containerctl or systemd-nspawn) on thread
// t, polls `systemctl is-system-running` inside until it says running (or
// degraded: done starting, with a failed unit), measures the supervisor's
// memory after memWait when memWait > 0, then halts it and times it until
// the supervisor has exited: with SIGRTMIN+3 to the container's PID 1 (as
// the NixOS module halted nspawn), or for containerctl with byStop through
// `containerctl stop`.
func bootOnce(ctx context.Context, cfg *config, t *nsThread, tool, root, name string, memWait time.Duration, byStop bool) (s bootSample, retErr error) {
	var argv, env []string
	switch tool {
	case "containerctl":
		argv = []string{cfg.bin, "run", name, "--root", root, "--store=", "--boot", "--console=passive"}
	case "systemd-nspawn":
		var undo func()
		var err error
		argv, env, undo, err = nspawnCmd(name, "--register=no", "--keep-unit", "-q", "-M", name, "-D", root, "-b", "--console=passive")
		if err != nil {
			return s, err
		}
		defer undo() // deferred first, so it runs after the kill below
	}
	p, err := startProc(t, argv, env, false)
	if err != nil {
		return s, err
	}
	if memWait > 0 {
		go p.watchPeak()
	}
	defer func() {
		select {
		case <-p.done:
		default:
			p.signal(syscall.SIGKILL)
			<-p.done
		}
	}()

	leader := 0
	deadline := time.Now().Add(bootTimeout)
	for {
		select {
		case <-p.done:
			return s, fmt.Errorf("%s exited before the system was running: %w", tool, p.exitError())
		default:
		}
		if time.Now().After(deadline) {
			return s, fmt.Errorf("not running after %s (last state %q): %w", bootTimeout, s.state, errTimeout)
		}
		if leader == 0 {
			if tool == "containerctl" {
				leader = statusPID(cfg.bin, name)
			} else {
				leader = containerInit(p.pid())
			}
		}
		if leader != 0 {
			s.state = isSystemRunning(leader)
			if s.state == "running" || s.state == "degraded" {
				s.boot = time.Since(p.started)
				break
			}
		}
		if err := sleepCtx(ctx, pollEvery); err != nil {
			return s, err
		}
	}

	if memWait > 0 {
		if err := sleepCtx(ctx, memWait); err != nil {
			return s, err
		}
		if s.mem, err = memoryOf(nil, p.pid()); err != nil {
			return s, fmt.Errorf("memory of %s: %w", tool, err)
		}
		s.mem.supervisorHWM = p.peakHWM(s.mem.supervisorHWM)
	}

	t0 := time.Now()
	var stop *proc
	if byStop {
		if stop, err = startProc(nil, []string{cfg.bin, "stop", name}, nil, false); err != nil {
			return s, err
		}
	} else if err := unix.Kill(leader, sigRTMin3); err != nil {
		return s, fmt.Errorf("SIGRTMIN+3 to %d: %w", leader, err)
	}
	select {
	case <-p.done:
		s.halt = p.exited.Sub(t0)
	case <-time.After(bootTimeout):
		return s, fmt.Errorf("%s still running %s after the halt: %w", tool, bootTimeout, errTimeout)
	}
	if stop != nil {
		if err := stop.waitExit(10 * time.Second); err != nil {
			return s, err
		}
		if stop.waitErr != nil {
			return s, fmt.Errorf("containerctl stop %s: %w", name, stop.exitError())
		}
	}
	return s, nil
}

// statusPID is the host PID of the container's init, from `containerctl
// status NAME --json`; 0 while there is none.
func statusPID(bin, name string) int {
	out, err := exec.Command(bin, "status", name, "--json").Output()
	if err != nil {
		return 0
	}
	var st struct {
		PID int `json:"pid"`
	}
	if json.Unmarshal(out, &st) != nil {
		return 0
	}
	return st.PID
}

// isSystemRunning asks the systemd that is PID 1 of pid's namespaces. Its
// exit status is not 0 for every state but running, so only its output
// counts; while the bus is not up there is none.
func isSystemRunning(pid int) string {
	out, _ := exec.Command("nsenter", "-t", fmt.Sprint(pid), "-m", "-p", "-u", "-i",
		"systemctl", "is-system-running").Output()
	return strings.TrimSpace(string(out))
}

var bootTools = []string{"containerctl", "systemd-nspawn"}

// benchBoot boots the Debian root -boot-runs times with each tool, in turn.
func benchBoot(ctx context.Context, cfg *config, rep *report) ([]*result, error) {
	oh, err := newOverlayHost(ctx, cfg)
	if err != nil {
		return nil, err
	}
	defer oh.close()

	boot := map[string]*result{}
	halt := map[string]*result{}
	degraded := map[string]int{}
	for _, tool := range bootTools {
		boot[tool] = &result{Section: "boot", Metric: "boot to running", Tool: tool, Unit: "ms"}
		halt[tool] = &result{Section: "boot", Metric: "halt to exit", Tool: tool, Unit: "ms", Note: "SIGRTMIN+3 to PID 1"}
		if tool != "containerctl" {
			// Issue 15's: at most 0.8 of nspawn's.
			boot[tool].Target = &target{Text: "≤ 0.8", Max: 0.8}
			halt[tool].Target = &target{Text: "≤ 0.8", Max: 0.8}
		}
	}
	// Every other containerctl boot is halted with `containerctl stop`
	// instead: a command's start and the control socket before the same
	// signal, what a user who types it waits for.
	stopHalt := &result{Section: "boot", Metric: "containerctl stop to exit", Tool: "containerctl", Unit: "ms"}
	ms := func(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }
	for i := 0; i < cfg.bootRuns && ctx.Err() == nil; i++ {
		for _, tool := range bootTools {
			// A tool that failed twice and never booted is not tried again.
			if boot[tool].Failures >= 2 && len(boot[tool].Samples) == 0 {
				continue
			}
			name := fmt.Sprintf("bench-boot-%d-%d", os.Getpid(), i)
			byStop := tool == "containerctl" && i%2 == 1
			h := halt[tool]
			if byStop {
				h = stopHalt
			}
			s, err := withOverlay(oh, name, func(root string) (bootSample, error) {
				return bootOnce(ctx, cfg, oh.t, tool, root, name, 0, byStop)
			})
			if err != nil {
				if errors.Is(err, context.Canceled) {
					break
				}
				logrus.WithError(err).Warnf("boot %d with %s", i, tool)
				boot[tool].fail(err)
				h.fail(err)
				continue
			}
			logrus.Debugf("boot %d with %s: %s (%s), halt %s", i, tool, s.boot, s.state, s.halt)
			if s.state == "degraded" {
				degraded[tool]++
			}
			boot[tool].Samples = append(boot[tool].Samples, ms(s.boot))
			h.Samples = append(h.Samples, ms(s.halt))
		}
	}
	var rs []*result
	for _, tool := range bootTools {
		if degraded[tool] > 0 {
			boot[tool].Note = fmt.Sprintf("%d of %d degraded", degraded[tool], len(boot[tool].Samples))
		}
		rs = append(rs, boot[tool])
	}
	for _, tool := range bootTools {
		rs = append(rs, halt[tool])
	}
	return append(rs, stopHalt), ctx.Err()
}

// withOverlay runs fn on a fresh overlay root and removes it after.
func withOverlay(oh *overlayHost, name string, fn func(root string) (bootSample, error)) (bootSample, error) {
	root, undo, err := oh.root(name)
	if err != nil {
		return bootSample{}, err
	}
	defer undo()
	return fn(root)
}

// benchMemory measures the supervisor's memory while a container runs: a
// booted Debian (the figure the target is about), and a busybox shell as
// init, which containerctl can run before it can boot systemd.
func benchMemory(ctx context.Context, cfg *config, bb string, rep *report) ([]*result, error) {
	mib := func(kib int64) float64 { return float64(kib) / 1024 }
	res := func(metric, tool string, tgt *target) *result {
		return &result{Section: "memory", Metric: metric, Tool: tool, Unit: "MiB", Target: tgt}
	}
	var rs []*result
	pssDeb := map[string]*result{}
	hwmDeb := map[string]*result{}
	for _, tool := range bootTools {
		var tp, th *target
		if tool != "containerctl" {
			tp = &target{Text: "≤ 1.0", Max: 1}
		}
		pssDeb[tool] = res("supervisor PSS, booted Debian", tool, tp)
		hwmDeb[tool] = res("supervisor peak RSS, booted Debian", tool, th)
	}
	var debErr error
	oh, err := newOverlayHost(ctx, cfg)
	if err == nil {
		for i := 0; i < cfg.memRuns && ctx.Err() == nil; i++ {
			for _, tool := range bootTools {
				if pssDeb[tool].Failures >= 2 && len(pssDeb[tool].Samples) == 0 {
					continue
				}
				name := fmt.Sprintf("bench-mem-%d-%d", os.Getpid(), i)
				s, err := withOverlay(oh, name, func(root string) (bootSample, error) {
					return bootOnce(ctx, cfg, oh.t, tool, root, name, time.Second, tool == "containerctl")
				})
				if err != nil {
					pssDeb[tool].fail(err)
					hwmDeb[tool].fail(err)
					continue
				}
				pssDeb[tool].Samples = append(pssDeb[tool].Samples, mib(s.mem.supervisorPSS))
				hwmDeb[tool].Samples = append(hwmDeb[tool].Samples, mib(s.mem.supervisorHWM))
			}
		}
		oh.close()
	}
	if err != nil {
		debErr = err
		for _, tool := range bootTools {
			pssDeb[tool].fail(err)
			hwmDeb[tool].fail(err)
		}
	}
	for _, tool := range bootTools {
		rs = append(rs, pssDeb[tool])
	}
	for _, tool := range bootTools {
		rs = append(rs, hwmDeb[tool])
	}

	// A busybox shell as init, waiting: the supervisor without systemd.
	pssBB := map[string]*result{}
	hwmBB := map[string]*result{}
	for _, tool := range bootTools {
		pssBB[tool] = res("supervisor PSS, busybox sh init", tool, nil)
		hwmBB[tool] = res("supervisor peak RSS, busybox sh init", tool, nil)
	}
	for i := 0; i < cfg.memRuns && ctx.Err() == nil; i++ {
		for _, tool := range bootTools {
			name := fmt.Sprintf("bench-mem-bb-%d-%d", os.Getpid(), i)
			ps, err := startShells(tool, cfg, []string{bb}, name)
			if err == nil {
				go ps[0].watchPeak()
				err = waitReady(ps, 30*time.Second)
			}
			var m treeMemory
			if err == nil {
				_ = sleepCtx(ctx, 500*time.Millisecond)
				m, err = memoryOf(nil, ps[0].pid())
				m.supervisorHWM = ps[0].peakHWM(m.supervisorHWM)
			}
			if serr := stopShells(tool, ps); err == nil {
				err = serr
			}
			if err != nil {
				pssBB[tool].fail(err)
				hwmBB[tool].fail(err)
				continue
			}
			pssBB[tool].Samples = append(pssBB[tool].Samples, mib(m.supervisorPSS))
			hwmBB[tool].Samples = append(hwmBB[tool].Samples, mib(m.supervisorHWM))
		}
	}
	for _, tool := range bootTools {
		rs = append(rs, pssBB[tool])
	}
	for _, tool := range bootTools {
		rs = append(rs, hwmBB[tool])
	}
	if debErr != nil {
		return rs, debErr
	}
	return rs, ctx.Err()
}
