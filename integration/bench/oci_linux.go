//go:build linux

package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/sirupsen/logrus"
	"golang.org/x/sys/unix"
)

// ociRuntime is a runtime with runc's command line, each with a state
// directory (--root) of its own in a temporary directory.
type ociRuntime struct {
	name   string
	note   string
	argv   []string // the binary and its global flags
	thread *nsThread
	target *target
}

// ociPhases are the steps of a cycle as a shim drives them: create (the
// init set up and waiting), start, the init's exit (reaped: the harness is
// a subreaper, so the init that create leaves is its child), delete.
var ociPhases = []string{"create", "start", "start returned to exit", "delete"}

const ociCycle = "create+start+delete"

// benchOCI measures the OCI path: rounds of containerctl-oci, peer,
// containerctl-oci, next peer (crun, runc), each a create, start, wait and
// delete of /bin/true in the busybox bundle; then ctr run --rm through
// containerd with containerctl-oci and runc as its runc binary.
func benchOCI(ctx context.Context, cfg *config, bb string) ([]*result, error) {
	bundle := filepath.Join(cfg.cacheDir, "bundle")
	if err := ociBundle(bundle, bb, []string{"/bin/true"}); err != nil {
		return nil, fmt.Errorf("oci bundle: %w", err)
	}
	tmp, err := os.MkdirTemp("", "bench-oci-")
	if err != nil {
		return nil, err
	}
	defer os.RemoveAll(tmp)
	crunThread, crunNote, err := crunNamespace()
	if err != nil {
		return nil, err
	}
	if crunThread != nil {
		defer crunThread.close()
	}
	root := func(name string) string { return filepath.Join(tmp, name) }
	cc := ociRuntime{name: "containerctl", note: "containerctl-oci", argv: []string{cfg.ociBin, "--root", root("containerctl")}}
	peers := []ociRuntime{
		{name: "crun", note: crunNote, thread: crunThread, argv: []string{"crun", "--root", root("crun")},
			target: &target{Text: "≤ 1.0", Max: 1.0}},
		{name: "runc", argv: []string{"runc", "--root", root("runc")}},
	}
	errf, err := os.CreateTemp("", "bench-stderr-")
	if err != nil {
		return nil, err
	}
	defer os.Remove(errf.Name())
	defer errf.Close()

	metrics := append([]string{ociCycle}, ociPhases...)
	row := func(rt ociRuntime, m string) *result {
		r := &result{Section: "oci", Metric: m, Tool: rt.name, Unit: "ms", Note: rt.note}
		if m == ociCycle {
			r.Target = rt.target
		}
		return r
	}
	ccRes := map[string]*result{}
	peerRes := make([]map[string]*result, len(peers))
	for _, m := range metrics {
		ccRes[m] = row(cc, m)
	}
	for j, p := range peers {
		peerRes[j] = map[string]*result{}
		for _, m := range metrics {
			peerRes[j][m] = row(p, m)
		}
	}
	// One cycle of rt; its samples go to own, and to paired when set.
	measure := func(rt ociRuntime, id string, round int, own, paired map[string]*result) bool {
		ds, err := rt.cycle(bundle, filepath.Join(tmp, id+".pid"), id, errf)
		if err != nil {
			own[ociCycle].fail(err)
			return false
		}
		if round < startWarmup {
			return true
		}
		for _, m := range metrics {
			own[m].Samples = append(own[m].Samples, ms(ds[m]))
			if paired != nil {
				paired[m].Paired = append(paired[m].Paired, ms(ds[m]))
			}
		}
		return true
	}
	pid := os.Getpid()
	ccFailed := 0
	for round := 0; round < startWarmup+cfg.runs && ctx.Err() == nil; round++ {
		for j, p := range peers {
			i := round*len(peers) + j
			if ccFailed < 3 {
				if measure(cc, fmt.Sprintf("bench-oci-%d-%d", pid, i), round, ccRes, peerRes[j]) {
					ccFailed = 0
				} else {
					ccFailed++
				}
			}
			if r := peerRes[j][ociCycle]; r.Failures >= 3 && len(r.Samples) == 0 {
				continue
			}
			measure(p, fmt.Sprintf("bench-%s-%d-%d", p.name, pid, i), round, peerRes[j], nil)
		}
		logrus.Debugf("oci: round %d done", round)
	}
	var out []*result
	for _, m := range metrics {
		out = append(out, ccRes[m])
		for j := range peers {
			out = append(out, peerRes[j][m])
		}
	}
	if err := ctx.Err(); err != nil {
		return out, err
	}
	ctrRes, err := benchCtr(ctx, cfg, tmp)
	return append(out, ctrRes...), err
}

// crunNamespace is the mount namespace that crun 1.8 runs in on a hybrid
// host, which it refuses ("cgroups in hybrid mode not supported") when the
// unified hierarchy has controllers it cannot drop: without
// /sys/fs/cgroup/unified it sees a v1 host. nil on a v1 or v2 host.
func crunNamespace() (*nsThread, string, error) {
	if mode := cgroupMode(); mode == "v1" || mode == "v2" {
		return nil, "", nil
	}
	t, err := newNSThread(func() error {
		if err := unix.Unmount("/sys/fs/cgroup/unified", unix.MNT_DETACH); err != nil {
			return fmt.Errorf("unmount /sys/fs/cgroup/unified: %w", err)
		}
		return nil
	})
	if err != nil {
		return nil, "", fmt.Errorf("crun's mount namespace: %w", err)
	}
	return t, "without /sys/fs/cgroup/unified", nil
}

const startWarmup = 2

func ms(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }

// cycle creates, starts, waits for and deletes container id of bundle,
// and returns the time of each phase and of the whole. A cycle that fails
// part way is deleted with --force.
func (rt ociRuntime) cycle(bundle, pidFile, id string, errf *os.File) (map[string]time.Duration, error) {
	ds := map[string]time.Duration{}
	cmd := func(args ...string) []string { return append(append([]string(nil), rt.argv...), args...) }
	t0 := time.Now()
	d, err := timedRunFrom(primed, rt.thread, cmd("create", "--bundle", bundle, "--pid-file", pidFile, id), nil, errf)
	if err != nil {
		return nil, err
	}
	ds["create"] = d
	ok := false
	defer func() {
		if !ok {
			_, _ = timedRun(rt.thread, cmd("delete", "--force", id), nil, errf)
		}
		_ = os.Remove(pidFile)
	}()
	pid, err := readPidFile(pidFile)
	if err != nil {
		return nil, err
	}
	// Opened before start, so that the number cannot be reused meanwhile:
	// the init waits in created until then.
	fd, err := unix.PidfdOpen(pid, 0)
	if err != nil {
		return nil, fmt.Errorf("pidfd_open %d: %w", pid, err)
	}
	defer unix.Close(fd)
	if ds["start"], err = timedRun(rt.thread, cmd("start", id), nil, errf); err != nil {
		return nil, err
	}
	t1 := time.Now()
	if err := waitInit(pid, fd, 10*time.Second); err != nil {
		return nil, fmt.Errorf("%s: %w", id, err)
	}
	ds["start returned to exit"] = time.Since(t1)
	if ds["delete"], err = timedRun(rt.thread, cmd("delete", id), nil, errf); err != nil {
		return nil, err
	}
	ok = true
	ds[ociCycle] = time.Since(t0)
	return ds, nil
}

func readPidFile(path string) (int, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return 0, fmt.Errorf("pid file: %w", err)
	}
	pid, err := strconv.Atoi(strings.TrimSpace(string(b)))
	if err != nil || pid < 1 {
		return 0, fmt.Errorf("pid file %s: %q is not a pid", path, b)
	}
	return pid, nil
}

// waitInit waits for the init pid to exit: it is the harness's child (a
// subreaper inherits it from create), so wait4 reaps it; if it is not,
// the pidfd says when it exits.
func waitInit(pid, fd int, timeout time.Duration) error {
	fds := []unix.PollFd{{Fd: int32(fd), Events: unix.POLLIN}}
	for deadline := time.Now().Add(timeout); ; {
		n, err := unix.Poll(fds, int(time.Until(deadline)/time.Millisecond))
		if errors.Is(err, unix.EINTR) {
			continue
		}
		if err != nil {
			return fmt.Errorf("poll pidfd of %d: %w", pid, err)
		}
		if n == 0 {
			return fmt.Errorf("init %d: %w", pid, errTimeout)
		}
		break
	}
	var ws unix.WaitStatus
	for {
		_, err := unix.Wait4(pid, &ws, 0, nil)
		if errors.Is(err, unix.EINTR) {
			continue
		}
		if err != nil && !errors.Is(err, unix.ECHILD) {
			return fmt.Errorf("wait4 %d: %w", pid, err)
		}
		return nil
	}
}
