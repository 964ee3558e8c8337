//go:build linux

package main

import (
	"fmt"
	"os"
	"path/filepath"
	"strconv"
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

// ownProcsFile is the cgroup.procs file of the harness's own cgroup in the
// first hierarchy cgroupParents names (cgroup2, or name=systemd on a hybrid
// host): the lock a move takes is one for all hierarchies.
func ownProcsFile() (string, error) {
	parents, err := cgroupParents()
	if err != nil {
		return "", err
	}
	if len(parents) == 0 {
		return "", fmt.Errorf("no cgroup of the harness's own found")
	}
	return filepath.Join(parents[0], "cgroup.procs"), nil
}
