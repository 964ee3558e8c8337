//go:build linux

package main

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/sirupsen/logrus"
	"golang.org/x/sys/unix"
)

// shellInit is the init of the busybox containers: it says it is up, then
// waits for the halt signal (or SIGTERM) and exits.
const shellInit = `trap 'exit 0' 37 TERM; echo ready; sleep 1000 & wait`

// startShells starts one container per root running shellInit, with tool.
// The names are prefix-I (prefix alone for one root).
func startShells(tool string, cfg *config, roots []string, prefix string) ([]*proc, error) {
	var ps []*proc
	for i, root := range roots {
		name := prefix
		if len(roots) > 1 {
			name = fmt.Sprintf("%s-%d", prefix, i)
		}
		var argv, env []string
		var undo func()
		switch tool {
		case "containerctl":
			argv = []string{cfg.bin, "run", name, "--root", root, "--store=", "--console=pipe", "--", "/bin/sh", "-c", shellInit}
		case "systemd-nspawn":
			var err error
			argv, env, undo, err = nspawnCmd(name, "--register=no", "--keep-unit", "-q", "-M", name, "-D", root, "--console=pipe", "/bin/sh", "-c", shellInit)
			if err != nil {
				_ = stopShells(tool, ps)
				return nil, err
			}
		}
		p, err := startProc(nil, argv, env, true)
		if err != nil {
			if undo != nil {
				undo()
			}
			_ = stopShells(tool, ps)
			return nil, err
		}
		p.cleanup = undo
		ps = append(ps, p)
	}
	return ps, nil
}

// waitReady waits until every container has said ready.
func waitReady(ps []*proc, timeout time.Duration) error {
	deadline := time.After(timeout)
	for i, p := range ps {
		select {
		case <-p.ready:
		case <-p.done:
			return fmt.Errorf("container %d of %d exited before it was ready: %w", i+1, len(ps), p.exitError())
		case <-deadline:
			return fmt.Errorf("container %d of %d not ready after %s: %w", i+1, len(ps), timeout, errTimeout)
		}
	}
	return nil
}

// stopShells halts the containers the way each tool is halted
// (containerctl: SIGTERM to run, which sends SIGRTMIN+3 to the init;
// nspawn: SIGRTMIN+3 to the container's PID 1) and waits for the
// supervisors to exit; those still there after 30 s are killed.
func stopShells(tool string, ps []*proc) error {
	return stopAll(tool, ps, syscall.SIGTERM, 30*time.Second, "stop")
}

// stopBoots halts booted containers: containerctl with SIGTERM to run (a
// halt with SIGRTMIN+3), nspawn with SIGRTMIN+3 to the container's PID 1.
func stopBoots(tool string, ps []*proc) error {
	return stopAll(tool, ps, syscall.SIGKILL, 90*time.Second, "halt")
}

// stopAll halts each container as its tool is halted, sending fallback to
// an nspawn whose container PID 1 is not found, and waits up to timeout.
func stopAll(tool string, ps []*proc, fallback syscall.Signal, timeout time.Duration, what string) error {
	for _, p := range ps {
		select {
		case <-p.done:
			continue
		default:
		}
		if tool == "containerctl" {
			p.signal(syscall.SIGTERM)
		} else if l := containerInit(p.pid()); l != 0 {
			_ = unix.Kill(l, sigRTMin3)
		} else {
			p.signal(fallback)
		}
	}
	var errs []error
	deadline := time.Now().Add(timeout)
	for _, p := range ps {
		if err := p.waitExit(max(time.Until(deadline), time.Millisecond)); err != nil {
			errs = append(errs, err)
		}
		p.finish()
	}
	if len(errs) > 0 {
		return fmt.Errorf("%d of %d did not %s: %w", len(errs), len(ps), what, errs[0])
	}
	return nil
}

// settle is how long after all are ready their memory is measured.
const settle = time.Second

// scaleSample is one start of N containers at once.
type scaleSample struct {
	wall     time.Duration // first start to last ready
	supPSS   int64         // KiB, all supervisors
	totalPSS int64         // KiB, supervisors and containers
}

func measureAll(ps []*proc) (scaleSample, error) {
	var s scaleSample
	tab, err := procTable()
	if err != nil {
		return s, err
	}
	for _, p := range ps {
		m, err := memoryOf(tab, p.pid())
		if err != nil {
			return s, err
		}
		s.supPSS += m.supervisorPSS
		s.totalPSS += m.supervisorPSS + m.guestPSS
	}
	return s, nil
}

// scaleBusybox starts len(roots) busybox containers at once with tool and
// stops them when all are ready.
func scaleBusybox(cfg *config, tool string, roots []string, prefix string) (scaleSample, error) {
	t0 := time.Now()
	ps, err := startShells(tool, cfg, roots, prefix)
	if err != nil {
		return scaleSample{}, err
	}
	err = waitReady(ps, 120*time.Second)
	wall := time.Since(t0)
	var s scaleSample
	if err == nil {
		// Memory while the containers run, once they have settled: a
		// containerctl supervisor execs into its monitor a quarter of
		// a second after its init runs, and the last of N started at
		// once has only just become ready.
		time.Sleep(settle)
		s, err = measureAll(ps)
		s.wall = wall
	}
	if serr := stopShells(tool, ps); err == nil {
		err = serr
	}
	return s, err
}

// scaleDebian boots len(names) Debian systems at once on fresh overlay
// roots; ready is the READY=1 that the supervisor sends to its
// NOTIFY_SOCKET once the guest's systemd is (containerctl --notify-ready,
// systemd-nspawn --notify-ready=yes): polling is-system-running in 50
// containers would take the CPU the boots need.
//
// A failed halt after all were ready comes back as haltErr, with the figures.
func scaleDebian(cfg *config, oh *overlayHost, tool string, n int, prefix string) (s scaleSample, retErr, haltErr error) {
	sockDir, err := os.MkdirTemp("/run", "containerctl-bench-")
	if err != nil {
		return s, err, nil
	}
	defer os.RemoveAll(sockDir)
	roots := make([]string, n)
	for i := range roots {
		root, undo, err := oh.root(fmt.Sprintf("%s-%d", prefix, i))
		if err != nil {
			return s, err, nil
		}
		defer undo()
		roots[i] = root
	}
	// Deferred after the roots' undo, so it runs before: every container
	// has exited before its root is unmounted.
	var ps []*proc
	var readies []chan struct{}
	defer func() { haltErr = stopBoots(tool, ps) }()
	t0 := time.Now()
	for i, root := range roots {
		name := fmt.Sprintf("%s-%d", prefix, i)
		sock := filepath.Join(sockDir, strconv.Itoa(i))
		ready, closeSock, err := notifySocket(sock)
		if err != nil {
			return s, err, nil
		}
		defer closeSock()
		var argv, env []string
		var undo func()
		switch tool {
		case "containerctl":
			argv = []string{cfg.bin, "run", name, "--root", root, "--store=", "--boot", "--console=passive", "--notify-ready"}
		case "systemd-nspawn":
			argv, env, undo, err = nspawnCmd(name, "--register=no", "--keep-unit", "-q", "-M", name, "-D", root, "-b", "--console=passive", "--notify-ready=yes")
			if err != nil {
				return s, err, nil
			}
		}
		p, err := startProc(oh.t, argv, append(env, "NOTIFY_SOCKET="+sock), false)
		if err != nil {
			if undo != nil {
				undo()
			}
			return s, err, nil
		}
		p.cleanup = undo
		ps = append(ps, p)
		readies = append(readies, ready)
	}
	deadline := time.After(180 * time.Second)
	failed, ready := 0, 0
	var firstErr error
	for i, p := range ps {
		select {
		case <-readies[i]:
			ready++
		case <-p.done:
			failed++
			if firstErr == nil {
				firstErr = p.exitError()
			}
		case <-deadline:
			return s, fmt.Errorf("%d of %d ready after 180 s: %w", ready, n, errTimeout), nil
		}
	}
	s.wall = time.Since(t0)
	if failed > 0 {
		return s, fmt.Errorf("%d of %d exited before they were ready: %w", failed, n, firstErr), nil
	}
	time.Sleep(settle)
	sm, err := measureAll(ps)
	sm.wall = s.wall
	return sm, err, nil
}

// notifySocket listens on a sd_notify socket at path; the channel is closed
// on READY=1.
func notifySocket(path string) (chan struct{}, func(), error) {
	c, err := net.ListenUnixgram("unixgram", &net.UnixAddr{Name: path, Net: "unixgram"})
	if err != nil {
		return nil, nil, err
	}
	ready := make(chan struct{})
	go func() {
		buf := make([]byte, 4096)
		for {
			n, _, err := c.ReadFromUnix(buf)
			if err != nil {
				return
			}
			if slices.Contains(strings.Split(string(buf[:n]), "\n"), "READY=1") {
				close(ready)
				return
			}
		}
	}()
	return ready, func() { c.Close() }, nil
}

// benchScale starts N busybox containers at once (N of -scale-n), and N
// Debian systems (N of -scale-debian-n), with containerctl and nspawn in
// turn, and reports the time until all are ready and the memory per
// container, and how the cost per container grows with N.
func benchScale(ctx context.Context, cfg *config, bb string, rep *report) ([]*result, error) {
	var rs []*result
	mib := func(kib int64, n int) float64 { return float64(kib) / 1024 / float64(n) }
	// per-container start cost by tool and N, for the growth rows
	type key struct {
		kind, tool string
		n          int
	}
	cost := map[key]*result{}

	maxN := slices.Max(append([]int{1}, cfg.scaleN...))
	base := filepath.Join(cfg.cacheDir, fmt.Sprintf("scale-%d", os.Getpid()))
	defer os.RemoveAll(base)
	roots := make([]string, maxN)
	for i := range roots {
		roots[i] = filepath.Join(base, strconv.Itoa(i))
		if err := copyTree(bb, roots[i]); err != nil {
			return nil, fmt.Errorf("scale roots: %w", err)
		}
	}
	for _, n := range cfg.scaleN {
		wall := map[string]*result{}
		sup := map[string]*result{}
		tot := map[string]*result{}
		for _, tool := range bootTools {
			m := fmt.Sprintf("busybox ×%d", n)
			wall[tool] = &result{Section: "scale", Metric: m + ": all ready", Tool: tool, Unit: "s", Scale: &scalePoint{"busybox", n}}
			cost[key{"busybox", tool, n}] = &result{Section: "scale", Metric: m + ": start cost per container", Tool: tool, Unit: "ms"}
			sup[tool] = &result{Section: "scale", Metric: m + ": supervisor PSS per container", Tool: tool, Unit: "MiB", Scale: &scalePoint{"busybox", n}, Target: peerTarget(tool, "≤ 1.0", 1)}
			tot[tool] = &result{Section: "scale", Metric: m + ": total PSS per container", Tool: tool, Unit: "MiB"}
		}
		for r := 0; r < cfg.scaleRuns && ctx.Err() == nil; r++ {
			for _, tool := range bootTools {
				if wall[tool].Failures > 0 && len(wall[tool].Samples) == 0 {
					continue
				}
				s, err := scaleBusybox(cfg, tool, roots[:n], fmt.Sprintf("bench-scale-%d-%d-%d", os.Getpid(), n, r))
				if err != nil {
					logrus.WithError(err).Warnf("scale busybox ×%d with %s", n, tool)
					for _, x := range []*result{wall[tool], cost[key{"busybox", tool, n}], sup[tool], tot[tool]} {
						x.fail(err)
					}
					continue
				}
				logrus.Debugf("scale busybox ×%d with %s: %s", n, tool, s.wall)
				wall[tool].Samples = append(wall[tool].Samples, s.wall.Seconds())
				cost[key{"busybox", tool, n}].Samples = append(cost[key{"busybox", tool, n}].Samples, float64(s.wall)/float64(time.Millisecond)/float64(n))
				sup[tool].Samples = append(sup[tool].Samples, mib(s.supPSS, n))
				tot[tool].Samples = append(tot[tool].Samples, mib(s.totalPSS, n))
			}
		}
		for _, group := range []map[string]*result{wall, sup, tot} {
			for _, tool := range bootTools {
				rs = append(rs, group[tool])
			}
		}
	}
	if err := ctx.Err(); err != nil {
		return rs, err
	}

	if len(cfg.debScaleN) > 0 {
		drs, err := scaleDebianAll(ctx, cfg, rep, func(tool string, n int, r *result) { cost[key{"debian", tool, n}] = r })
		rs = append(rs, drs...)
		if err != nil {
			return rs, err
		}
	}

	// Growth: the cost per container at the largest N over that at the
	// smallest; flat is 1.
	for _, kind := range []string{"busybox", "debian"} {
		ns := cfg.scaleN
		if kind == "debian" {
			ns = cfg.debScaleN
		}
		if len(ns) < 2 {
			continue
		}
		lo, hi := slices.Min(ns), slices.Max(ns)
		for _, tool := range bootTools {
			g := &result{Section: "scale", Metric: fmt.Sprintf("%s: start cost per container, ×%d / ×%d", kind, hi, lo), Tool: tool, Unit: "×", NoRatio: true}
			a, b := cost[key{kind, tool, lo}], cost[key{kind, tool, hi}]
			switch {
			case a == nil || b == nil || len(a.Samples) == 0 || len(b.Samples) == 0:
				g.fail(errors.New("no figure at both ends"))
			default:
				g.Samples = []float64{b.median() / a.median()}
			}
			if tool == "containerctl" && kind == "busybox" {
				g.Target = &target{Text: "flat (≤ 1.25)", Max: 1.25, Own: true}
			}
			rs = append(rs, g)
		}
	}
	return rs, nil
}

func scaleDebianAll(ctx context.Context, cfg *config, rep *report, costOut func(string, int, *result)) ([]*result, error) {
	oh, err := newOverlayHost(ctx, cfg)
	if err != nil {
		return nil, err
	}
	defer oh.close()
	var rs []*result
	for _, n := range cfg.debScaleN {
		if ctx.Err() != nil {
			break
		}
		// Every booted systemd takes a few inotify instances, and the
		// limit is per user: 128 by default stops some 30 guests. Raised
		// for the run of both tools, and put back.
		restore, err := raiseInotify(n, rep)
		if err != nil {
			return rs, err
		}
		m := fmt.Sprintf("Debian ×%d", n)
		var walls, sups, tots, costs []*result
		for _, tool := range bootTools {
			walls = append(walls, &result{Section: "scale", Metric: m + ": all running", Tool: tool, Unit: "s", Scale: &scalePoint{"Debian", n}, Target: peerTarget(tool, "≤ 0.8", 0.8)})
			costs = append(costs, &result{Section: "scale", Metric: m + ": start cost per container", Tool: tool, Unit: "ms"})
			sups = append(sups, &result{Section: "scale", Metric: m + ": supervisor PSS per container", Tool: tool, Unit: "MiB", Scale: &scalePoint{"Debian", n}})
			tots = append(tots, &result{Section: "scale", Metric: m + ": total PSS per container", Tool: tool, Unit: "MiB"})
		}
		// Runs interleave the tools (A B A B ...), so that drift of the
		// machine falls on both; one sample is not a result.
		for r := 0; r < cfg.debScaleRuns && ctx.Err() == nil; r++ {
			for i, tool := range bootTools {
				wall, cost, sup, tot := walls[i], costs[i], sups[i], tots[i]
				if wall.Failures > 0 && len(wall.Samples) == 0 {
					continue
				}
				s, err, haltErr := scaleDebian(cfg, oh, tool, n, fmt.Sprintf("bench-deb-%d-%d-%d", os.Getpid(), n, r))
				if haltErr != nil {
					logrus.WithError(haltErr).Warnf("scale Debian ×%d with %s: halt", n, tool)
					rep.Notes = append(rep.Notes, fmt.Sprintf("Debian ×%d with %s: the halt failed: %v", n, tool, haltErr))
				}
				if err != nil {
					logrus.WithError(err).Warnf("scale Debian ×%d with %s", n, tool)
					for _, x := range []*result{wall, cost, sup, tot} {
						x.fail(err)
					}
					continue
				}
				wall.Samples = append(wall.Samples, s.wall.Seconds())
				cost.Samples = append(cost.Samples, float64(s.wall)/float64(time.Millisecond)/float64(n))
				sup.Samples = append(sup.Samples, float64(s.supPSS)/1024/float64(n))
				tot.Samples = append(tot.Samples, float64(s.totalPSS)/1024/float64(n))
			}
		}
		for i, tool := range bootTools {
			costOut(tool, n, costs[i])
		}
		rs = append(rs, walls...)
		rs = append(rs, sups...)
		rs = append(rs, tots...)
		restore()
	}
	return rs, ctx.Err()
}

const inotifyInstances = "/proc/sys/fs/inotify/max_user_instances"

// raiseInotify raises fs.inotify.max_user_instances to 16 per guest when
// it is lower, and returns how to put it back.
func raiseInotify(n int, rep *report) (func(), error) {
	data, err := os.ReadFile(inotifyInstances)
	if err != nil {
		return nil, err
	}
	old, err := strconv.Atoi(strings.TrimSpace(string(data)))
	if err != nil {
		return nil, err
	}
	want := 16 * n
	if old >= want {
		return func() {}, nil
	}
	if err := os.WriteFile(inotifyInstances, []byte(strconv.Itoa(want)), 0o644); err != nil {
		return nil, err
	}
	rep.Notes = append(rep.Notes, fmt.Sprintf("fs.inotify.max_user_instances raised from %d to %d for Debian ×%d (both tools), then restored", old, want, n))
	return func() {
		if err := os.WriteFile(inotifyInstances, []byte(strconv.Itoa(old)), 0o644); err != nil {
			logrus.WithError(err).Errorf("restore %s to %d", inotifyInstances, old)
			rep.Notes = append(rep.Notes, fmt.Sprintf("could not restore fs.inotify.max_user_instances to %d: %v", old, err))
		}
	}, nil
}

// peerTarget is a target on a peer's row (the ratio is containerctl's over
// the peer's); none on containerctl's own.
func peerTarget(tool, text string, max float64) *target {
	if tool == "containerctl" {
		return nil
	}
	return &target{Text: text, Max: max}
}
