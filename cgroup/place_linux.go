package cgroup

import (
	"bufio"
	"errors"
	"fmt"
	"os"
	"path"
	"path/filepath"
	"strconv"
	"strings"

	specs "github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/sys/unix"
)

// DefaultParent is where containers started by hand go, in every
// hierarchy: a group of containerctl's own, never the root's top level.
const DefaultParent = "/containerctl"

// Delegated names, as systemd-nspawn uses them, for a supervisor that runs
// in a cgroup delegated to it (a unit with Delegate=yes): the container goes
// to UNIT/payload and the supervisor moves to UNIT/supervisor, since cgroup
// v2 allows no processes in a cgroup whose children have controllers.
const (
	payloadName    = "payload"
	supervisorName = "supervisor"
)

// Check reports whether this host's controllers can enforce r, without
// creating anything.
func Check(l Layout, r *specs.LinuxResources) error {
	_, err := planResources(l, r)
	return err
}

// Place decides where the container's cgroup goes:
//   - path, when given (the spec's cgroupsPath, from --cgroup-parent): that
//     path in every hierarchy;
//   - under a delegated cgroup (systemd marks it with the trusted.delegate
//     or user.delegate xattr): UNIT/payload, after moving the calling
//     process to UNIT/supervisor;
//   - else DefaultParent/name, removed again when empty.
func Place(l Layout, name, cgroupsPath string, r *specs.LinuxResources) (Config, error) {
	if cgroupsPath != "" {
		if !path.IsAbs(cgroupsPath) || path.Clean(cgroupsPath) == "/" {
			return Config{}, fmt.Errorf("cgroup path %q: want an absolute path below the root", cgroupsPath)
		}
		parent, leaf := path.Split(path.Clean(cgroupsPath))
		return Config{Parents: same(l, parent), Name: leaf, Resources: r}, nil
	}
	own, err := ownCgroups()
	if err != nil {
		return Config{}, err
	}
	if u, ok := own[unified]; ok && l.Unified != "" && u != "/" && delegated(filepath.Join(l.Unified, u)) {
		unit := filepath.Join(l.Unified, u)
		if err := moveSelf(filepath.Join(unit, supervisorName)); err != nil {
			return Config{}, err
		}
		// Only if the supervisor was alone there: other processes (a
		// unit's shell that did not exec us) would keep the unit's
		// cgroup from passing controllers down.
		if procs, err := readProcs(unit); err != nil || len(procs) > 0 {
			return Config{Parents: same(l, DefaultParent), Managed: true, Name: name, Resources: r}, nil
		}
		// v1 hierarchies systemd delegated too; in the others (where it
		// leaves the unit at the root) as by hand, under a directory of
		// the container's name, since "payload" is every unit's.
		parents := same(l, path.Join(DefaultParent, name))
		parents[unified] = u
		for ctrl := range l.V1 {
			if p, ok := own[ctrl]; ok && p != "/" {
				parents[ctrl] = p
			}
		}
		return Config{Parents: parents, Name: payloadName, Delegated: true, Resources: r}, nil
	}
	return Config{Parents: same(l, DefaultParent), Managed: true, Name: name, Resources: r}, nil
}

func same(l Layout, p string) map[string]string {
	m := map[string]string{unified: p}
	for ctrl := range l.V1 {
		m[ctrl] = p
	}
	return m
}

func delegated(dir string) bool {
	for _, attr := range []string{"trusted.delegate", "user.delegate"} {
		buf := make([]byte, 8)
		n, err := unix.Getxattr(dir, attr, buf)
		if err == nil && strings.TrimSpace(string(buf[:n])) == "1" {
			return true
		}
	}
	return false
}

func moveSelf(dir string) error {
	if err := os.Mkdir(dir, 0o755); err != nil && !errors.Is(err, os.ErrExist) {
		return fmt.Errorf("create cgroup %s: %w", dir, err)
	}
	return writeFile(filepath.Join(dir, "cgroup.procs"), strconv.Itoa(os.Getpid()))
}

// ownCgroups reads /proc/self/cgroup: hierarchy key -> path.
func ownCgroups() (map[string]string, error) {
	f, err := os.Open("/proc/self/cgroup")
	if err != nil {
		return nil, err
	}
	defer f.Close()
	own := map[string]string{}
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		parts := strings.SplitN(sc.Text(), ":", 3)
		if len(parts) != 3 {
			continue
		}
		if parts[0] == "0" && parts[1] == "" {
			own[unified] = parts[2]
			continue
		}
		for _, ctrl := range strings.Split(parts[1], ",") {
			own[ctrl] = parts[2]
		}
	}
	return own, sc.Err()
}
