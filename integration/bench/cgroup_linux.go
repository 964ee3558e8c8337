//go:build linux

package main

import (
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"golang.org/x/sys/unix"
)

// nspawnCgroupWrapper is how systemd-nspawn is started here: in a cgroup of
// its own, as systemd would start it in a unit. With --keep-unit and no
// systemd as PID 1, nspawn otherwise stays in the harness's cgroup (the
// root here) and makes its "payload" and "supervisor" cgroups there,
// shared by every nspawn at once: 50 guests' systemd then share one
// system.slice, kill each other's processes on halt, and leave the cgroups
// behind. A v1 cgroup cannot be chosen at clone, so a shell moves itself and
// execs nspawn (about a millisecond, counted in nspawn's figures).
const nspawnCgroupWrapper = `for c in $BENCH_CGROUPS; do echo $$ >"$c/cgroup.procs" || exit 125; done; exec "$@"`

// cgroupParents are the hierarchies that nspawn uses, at the harness's own
// cgroup in each: cgroup2 and, on a hybrid host, name=systemd.
func cgroupParents() ([]string, error) {
	data, err := os.ReadFile("/proc/self/cgroup")
	if err != nil {
		return nil, err
	}
	var out []string
	for _, l := range strings.Split(strings.TrimSpace(string(data)), "\n") {
		f := strings.SplitN(l, ":", 3)
		if len(f) != 3 {
			continue
		}
		switch {
		case f[0] == "0" && f[1] == "":
			mnt := "/sys/fs/cgroup"
			if cgroupMode() != "v2" {
				mnt = "/sys/fs/cgroup/unified"
			}
			out = append(out, filepath.Join(mnt, f[2]))
		case f[1] == "name=systemd":
			out = append(out, filepath.Join("/sys/fs/cgroup/systemd", f[2]))
		}
	}
	return out, nil
}

// nspawnCmd returns argv and env that run systemd-nspawn ARGS in a new
// cgroup bench-NAME, and the undo that removes the cgroup once nspawn has
// exited.
func nspawnCmd(name string, args ...string) ([]string, []string, func(), error) {
	parents, err := cgroupParents()
	if err != nil {
		return nil, nil, nil, err
	}
	var dirs []string
	undo := func() {
		for _, d := range dirs {
			if err := rmdirTree(d); err != nil {
				fmt.Fprintf(os.Stderr, "bench: remove cgroup %s: %v\n", d, err)
			}
		}
	}
	for _, p := range parents {
		d := filepath.Join(p, "containerctl-bench-"+name)
		if err := os.Mkdir(d, 0o755); err != nil {
			undo()
			return nil, nil, nil, fmt.Errorf("cgroup for nspawn: %w", err)
		}
		dirs = append(dirs, d)
	}
	argv := append([]string{"/bin/sh", "-c", nspawnCgroupWrapper, "sh", "systemd-nspawn"}, args...)
	return argv, []string{"BENCH_CGROUPS=" + strings.Join(dirs, " ")}, undo, nil
}

// rmdirTree removes a cgroup and the ones below it, deepest first. A
// process still in one (a guest whose nspawn was killed) is killed first.
func rmdirTree(dir string) error {
	es, err := os.ReadDir(dir)
	if os.IsNotExist(err) {
		return nil
	}
	if err != nil {
		return err
	}
	for _, e := range es {
		if e.IsDir() {
			if err := rmdirTree(filepath.Join(dir, e.Name())); err != nil {
				return err
			}
		}
	}
	for i := 0; ; i++ {
		err := os.Remove(dir)
		if err == nil || os.IsNotExist(err) || i == 100 {
			return err
		}
		if data, rerr := os.ReadFile(filepath.Join(dir, "cgroup.procs")); rerr == nil {
			for _, f := range strings.Fields(string(data)) {
				if pid, perr := strconv.Atoi(f); perr == nil {
					_ = unix.Kill(pid, unix.SIGKILL)
				}
			}
		}
		time.Sleep(10 * time.Millisecond)
	}
}
