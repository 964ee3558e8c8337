package cgroup

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	specs "github.com/opencontainers/runtime-spec/specs-go"
)

// hostDirs are the host paths of the record's cgroups in the hierarchies
// the host mounts, in the record's order, and the unified one's ("" for
// none).
func (r Record) hostDirs() (dirs []string, unified string, err error) {
	l, err := DetectLayout()
	if err != nil {
		return nil, "", fmt.Errorf("find cgroup hierarchies: %w", err)
	}
	for _, rc := range r.Cgroups {
		h, ok := l.Hierarchy(rc.Hierarchy)
		if !ok || h.Mount == "" || checkPath(rc.Path) != nil {
			continue
		}
		d := filepath.Join(h.Mount, rc.Path)
		if rc.Hierarchy == UnifiedKey {
			unified = d
		}
		dirs = append(dirs, d)
	}
	return dirs, unified, nil
}

// Procs lists the processes in the record's cgroup and below it, as the
// unified hierarchy has them, else the first the host mounts.
func (r Record) Procs() ([]int, error) {
	dirs, unified, err := r.hostDirs()
	switch {
	case err != nil:
		return nil, err
	case unified != "":
		return treeProcs(unified)
	case len(dirs) == 0:
		return nil, errors.New("no recorded cgroup in a mounted hierarchy")
	}
	return treeProcs(dirs[0])
}

// freezerDir is the record's cgroup in the hierarchy that freezes it: the
// unified one (cgroup.freeze), else v1's freezer.
func (r Record) freezerDir() (dir string, v2 bool, err error) {
	dirs, _, err := r.hostDirs()
	if err != nil {
		return "", false, err
	}
	for _, p := range dirs {
		if _, err := os.Stat(filepath.Join(p, "cgroup.freeze")); err == nil {
			return p, true, nil
		}
		if _, err := os.Stat(filepath.Join(p, "freezer.state")); err == nil {
			return p, false, nil
		}
	}
	return "", false, errors.New("no freezer: neither cgroup.freeze nor a v1 freezer hierarchy")
}

// Freeze freezes (or thaws) every process of the record's cgroup.
func (r Record) Freeze(frozen bool) error {
	dir, v2, err := r.freezerDir()
	if err != nil {
		return err
	}
	if v2 {
		return writeFile(filepath.Join(dir, "cgroup.freeze"), map[bool]string{true: "1", false: "0"}[frozen])
	}
	return writeFile(filepath.Join(dir, "freezer.state"), map[bool]string{true: "FROZEN", false: "THAWED"}[frozen])
}

// Frozen reports whether the record's cgroup is frozen.
func (r Record) Frozen() bool {
	dir, v2, err := r.freezerDir()
	if err != nil {
		return false
	}
	// What was asked, as runc reads it: the tasks reach the freezer a
	// moment later (cgroup.events says "frozen 1", freezer.state FROZEN
	// after FREEZING), and a pause must read as one at once.
	if v2 {
		b, err := readFile(filepath.Join(dir, "cgroup.freeze"))
		return err == nil && strings.TrimSpace(string(b)) == "1"
	}
	b, err := readFile(filepath.Join(dir, "freezer.state"))
	st := strings.TrimSpace(string(b))
	return err == nil && (st == "FROZEN" || st == "FREEZING")
}

// Update sets new limits on the record's cgroups, as runc update does:
// memory, CPU, pids and cgroup v2's own files. Device rules are refused:
// the device policy is set once, at the start.
func (r Record) Update(res *specs.LinuxResources) error {
	if res == nil {
		return nil
	}
	if len(res.Devices) > 0 {
		return errors.New("linux.resources.devices cannot be changed once the container runs")
	}
	l, err := DetectLayout()
	if err != nil {
		return fmt.Errorf("find cgroup hierarchies: %w", err)
	}
	plan, err := planResources(l, res)
	if err != nil {
		return err
	}
	for _, w := range plan {
		dir, err := r.dirOf(l, w.hierarchy)
		if err != nil {
			return err
		}
		if err := writeFile(filepath.Join(dir, w.file), w.value); err != nil {
			return err
		}
	}
	return nil
}

// dirOf is the record's cgroup in hierarchy key, on the host.
func (r Record) dirOf(l Layout, key string) (string, error) {
	for _, rc := range r.Cgroups {
		if rc.Hierarchy != key || checkPath(rc.Path) != nil {
			continue
		}
		if h, ok := l.Hierarchy(key); ok && h.Mount != "" {
			return filepath.Join(h.Mount, rc.Path), nil
		}
	}
	return "", fmt.Errorf("no recorded cgroup in the mounted %s hierarchy", key)
}
