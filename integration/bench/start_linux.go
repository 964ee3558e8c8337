//go:build linux

package main

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"time"

	"github.com/sirupsen/logrus"
	"golang.org/x/sys/unix"
)

// startTool is one way of running /bin/true in a fresh container.
type startTool struct {
	name string
	note string
	argv func(i int) []string
	// cmd, when set instead of argv, also returns environment and an undo
	// to run after the command.
	cmd    func(i int) ([]string, []string, func(), error)
	thread *nsThread // nil: the host's mount namespace
	target *target
}

// benchStart measures start-to-exit of /bin/true on the busybox root:
// rounds of containerctl, peer, containerctl, next peer, ..., so that every
// peer's samples have containerctl samples taken right beside them.
func benchStart(ctx context.Context, cfg *config, bb string) ([]*result, error) {
	bundle := filepath.Join(cfg.cacheDir, "bundle")
	if err := ociBundle(bundle, bb, []string{"/bin/true"}); err != nil {
		return nil, fmt.Errorf("oci bundle: %w", err)
	}
	crunThread, crunNote, err := crunNamespace()
	if err != nil {
		return nil, err
	}
	if crunThread != nil {
		defer crunThread.close()
	}
	pid := os.Getpid()
	id := func(tool string, i int) string { return fmt.Sprintf("bench-%s-%d-%d", tool, pid, i) }
	cc := startTool{name: "containerctl", argv: func(i int) []string {
		return []string{cfg.bin, "run", id("start", i), "--root", bb, "--store=", "--console=pipe", "--", "/bin/true"}
	}}
	peers := []startTool{
		{name: "crun", note: crunNote, thread: crunThread, target: &target{Text: "≤ 1.0", Max: 1.0},
			argv: func(i int) []string { return []string{"crun", "run", "--bundle", bundle, id("crun", i)} }},
		{name: "runc", argv: func(i int) []string { return []string{"runc", "run", "--bundle", bundle, id("runc", i)} }},
		{name: "systemd-nspawn", note: "in a cgroup of its own", target: &target{Text: "< 0.1", Max: 0.1, Strict: true},
			cmd: func(i int) ([]string, []string, func(), error) {
				return nspawnCmd(id("start", i), "--register=no", "--keep-unit", "-q", "-D", bb, "/bin/true")
			}},
		{name: "bwrap", note: "floor",
			argv: func(int) []string {
				return []string{"bwrap", "--unshare-pid", "--unshare-uts", "--unshare-ipc", "--bind", bb, "/", "--proc", "/proc", "--dev", "/dev", "/bin/true"}
			}},
		{name: "unshare", note: "floor, no /dev",
			argv: func(int) []string {
				return []string{"unshare", "--fork", "--mount", "--pid", "--uts", "--ipc", "--root", bb, "--mount-proc=/proc", "/bin/true"}
			}},
	}

	errf, err := os.CreateTemp("", "bench-stderr-")
	if err != nil {
		return nil, err
	}
	defer os.Remove(errf.Name())
	defer errf.Close()

	const metric = "start-to-exit"
	ccRes := &result{Section: "start", Metric: metric, Tool: "containerctl", Unit: "ms"}
	res := make([]*result, len(peers))
	for j, p := range peers {
		res[j] = &result{Section: "start", Metric: metric, Tool: p.name, Unit: "ms", Note: p.note, Target: p.target}
	}
	const warmup = startWarmup
	ccFailed := 0
	for round := 0; round < warmup+cfg.runs; round++ {
		if err := ctx.Err(); err != nil {
			return append([]*result{ccRes}, res...), err
		}
		for j, p := range peers {
			i := round*len(peers) + j
			if ccFailed < 3 {
				d, err := timedRunFrom(primed, nil, cc.argv(i), nil, errf)
				switch {
				case err != nil:
					ccFailed++
					ccRes.fail(err)
				case round >= warmup:
					ccFailed = 0
					ccRes.Samples = append(ccRes.Samples, ms(d))
					res[j].Paired = append(res[j].Paired, ms(d))
				}
			}
			// A peer that failed three times in a row and never succeeded
			// is not tried again; its row shows the error.
			if res[j].Failures >= 3 && len(res[j].Samples) == 0 {
				continue
			}
			var d time.Duration
			var err error
			if p.cmd != nil {
				argv, env, undo, cerr := p.cmd(i)
				if err = cerr; err == nil {
					d, err = timedRunFrom(primed, p.thread, argv, env, errf)
					undo()
				}
			} else {
				d, err = timedRunFrom(primed, p.thread, p.argv(i), nil, errf)
			}
			switch {
			case err != nil:
				res[j].fail(err)
			case round >= warmup:
				res[j].Samples = append(res[j].Samples, ms(d))
			}
		}
		logrus.Debugf("start: round %d done", round)
	}
	out := append([]*result{ccRes}, res...)
	// The same start, containerctl and crun interleaved, each from an idle
	// host: both then wait for the grace period of their first cgroup
	// move (migration_linux.go).
	idleCC := &result{Section: "start", Metric: metric + ", idle host", Tool: "containerctl", Unit: "ms"}
	idleCrun := &result{Section: "start", Metric: metric + ", idle host", Tool: "crun", Unit: "ms", Note: crunNote, Target: &target{Text: "≤ 1.0", Max: 1.0}}
	for round := 0; round < warmup+cfg.runs; round++ {
		if err := ctx.Err(); err != nil {
			return append(out, idleCC, idleCrun), err
		}
		for _, tl := range []struct {
			r      *result
			thread *nsThread
			argv   []string
		}{
			{idleCC, nil, cc.argv(100000 + round)},
			{idleCrun, crunThread, peers[0].argv(100000 + round)},
		} {
			if tl.r.Failures >= 3 && len(tl.r.Samples) == 0 {
				continue
			}
			d, err := timedRunFrom(idle, tl.thread, tl.argv, nil, errf)
			switch {
			case err != nil:
				tl.r.fail(err)
			case round >= warmup:
				tl.r.Samples = append(tl.r.Samples, ms(d))
			}
		}
	}
	return append(out, idleCC, idleCrun), nil
}

// v2View is a mount namespace in which /sys/fs/cgroup is the host's cgroup2
// hierarchy alone, as on a host without v1 (the hybrid host's unified
// hierarchy, mounted again over the v1 tree). crun and runc see a v2 host
// there and take its start path (clone into the cgroup, an eBPF device
// program, no v1 moves), on this machine's kernel and CPUs. containerctl
// does not: the kernel still has the v1 hierarchies, /proc/self/cgroup
// names them, and containerctl joins each one (by a detached mount where
// none is shown; cgroup package, layout.go), so its figure still includes
// the v1 moves and their RCU grace period. What a real v2 host spends
// enabling controllers in subtree_control is not measured either: here
// the controllers stay bound to v1. nil and a note when the host is not
// hybrid.
func v2View() (*nsThread, string, error) {
	if mode := cgroupMode(); mode == "v1" || mode == "v2" {
		return nil, "the host is " + mode + ", not hybrid", nil
	}
	t, err := newNSThread(func() error {
		if err := unix.Unmount("/sys/fs/cgroup", unix.MNT_DETACH); err != nil {
			return fmt.Errorf("unmount /sys/fs/cgroup: %w", err)
		}
		if err := unix.Mount("cgroup2", "/sys/fs/cgroup", "cgroup2", unix.MS_NOSUID|unix.MS_NODEV|unix.MS_NOEXEC, ""); err != nil {
			return fmt.Errorf("mount cgroup2 on /sys/fs/cgroup: %w", err)
		}
		return nil
	})
	if err != nil {
		return nil, "", fmt.Errorf("cgroup2-only view: %w", err)
	}
	return t, "", nil
}

// benchStartV2 measures start-to-exit of /bin/true as benchStart does,
// with containerctl, crun and runc all in v2View, interleaved.
func benchStartV2(ctx context.Context, cfg *config, bb string, rep *report) ([]*result, error) {
	view, why, err := v2View()
	if err != nil {
		return nil, err
	}
	if view == nil {
		rep.Notes = append(rep.Notes, "start-v2 not run: "+why)
		return nil, nil
	}
	defer view.close()
	bundle := filepath.Join(cfg.cacheDir, "bundle")
	if err := ociBundle(bundle, bb, []string{"/bin/true"}); err != nil {
		return nil, fmt.Errorf("oci bundle: %w", err)
	}
	pid := os.Getpid()
	id := func(tool string, i int) string { return fmt.Sprintf("bench-v2-%s-%d-%d", tool, pid, i) }
	tools := []struct {
		name   string
		target *target
		argv   func(i int) []string
	}{
		{"containerctl", nil, func(i int) []string {
			return []string{cfg.bin, "run", id("cc", i), "--root", bb, "--store=", "--console=pipe", "--", "/bin/true"}
		}},
		{"crun", &target{Text: "≤ 1.0", Max: 1.0}, func(i int) []string { return []string{"crun", "run", "--bundle", bundle, id("crun", i)} }},
		{"runc", nil, func(i int) []string { return []string{"runc", "run", "--bundle", bundle, id("runc", i)} }},
	}
	errf, err := os.CreateTemp("", "bench-stderr-")
	if err != nil {
		return nil, err
	}
	defer os.Remove(errf.Name())
	defer errf.Close()
	res := make([]*result, len(tools))
	for j, tl := range tools {
		res[j] = &result{Section: "start-v2", Metric: "start-to-exit", Tool: tl.name, Unit: "ms", Note: "cgroup2-only view", Target: tl.target}
	}
	for round := 0; round < startWarmup+cfg.runs; round++ {
		if err := ctx.Err(); err != nil {
			return res, err
		}
		for j, tl := range tools {
			if res[j].Failures >= 3 && len(res[j].Samples) == 0 {
				continue
			}
			d, err := timedRunFrom(primed, view, tl.argv(round), nil, errf)
			switch {
			case err != nil:
				res[j].fail(err)
			case round >= startWarmup:
				res[j].Samples = append(res[j].Samples, ms(d))
			}
		}
	}
	// The rounds interleave all three, so containerctl's row pairs with
	// each peer's (ratio).
	return res, nil
}
