//go:build linux

package main

import (
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"
)

// A start's first move of a process between cgroups waits for an RCU grace
// period (about 10 ms here) unless another move was made just before: the
// kernel's cgroup_threadgroup_rwsem then still favours writers. Every
// runtime that moves its init (containerctl into the v1 hierarchies; crun
// and runc on this hybrid host) pays it or not depending only on what ran
// just before it. Interleaved with no care, a runtime that follows one
// that moved a process starts "warm", and one that follows bwrap or
// unshare starts "cold": the pairing then compares unlike states. Each
// timed start is therefore preceded by one of these states, the same for
// every tool.
type migrationState int

const (
	// primed: a move of the harness into its own cgroup just before
	// (outside the timing), as a busy host's would be.
	primed migrationState = iota
	// idle: 50 ms with no move before, as on a quiet host.
	idle
)

const idleSettle = 50 * time.Millisecond

// prepare puts the kernel in state s before a timed start.
func (s migrationState) prepare() error {
	if s == idle {
		time.Sleep(idleSettle)
		return nil
	}
	p, err := ownProcsFile()
	if err != nil {
		return err
	}
	// The harness is already there: the write moves nothing, but takes
	// the lock as a move does.
	if err := os.WriteFile(p, []byte(strconv.Itoa(os.Getpid())), 0); err != nil {
		return fmt.Errorf("prime cgroup moves: %w", err)
	}
	return nil
}

// ownProcsFile is the cgroup.procs file of the harness's own cgroup in one
// hierarchy the host mounts: a v1 one where there is one, else cgroup2.
func ownProcsFile() (string, error) {
	b, err := os.ReadFile("/proc/self/cgroup")
	if err != nil {
		return "", err
	}
	var unified string
	for _, line := range strings.Split(strings.TrimSpace(string(b)), "\n") {
		f := strings.SplitN(line, ":", 3)
		if len(f) != 3 {
			continue
		}
		if f[1] == "" {
			unified = f[2]
			continue
		}
		name := strings.TrimPrefix(f[1], "name=")
		p := filepath.Join("/sys/fs/cgroup", name, f[2], "cgroup.procs")
		if _, err := os.Stat(p); err == nil {
			return p, nil
		}
	}
	for _, dir := range []string{"/sys/fs/cgroup/unified", "/sys/fs/cgroup"} {
		p := filepath.Join(dir, unified, "cgroup.procs")
		if _, err := os.Stat(p); err == nil {
			return p, nil
		}
	}
	return "", fmt.Errorf("no cgroup.procs of the harness's own cgroup found")
}
