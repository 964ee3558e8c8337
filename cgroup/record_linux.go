package cgroup

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	specs "github.com/opencontainers/runtime-spec/specs-go"
)

// mounted is the host path of the record's cgroup in the first hierarchy
// the host mounts, the unified one first: where its processes and its
// freezer are read.
func (r Record) mounted() (string, Hierarchy, error) {
	l, err := DetectLayout()
	if err != nil {
		return "", Hierarchy{}, fmt.Errorf("find cgroup hierarchies: %w", err)
	}
	var found []RecordedCgroup
	for _, rc := range r.Cgroups {
		if rc.Hierarchy == UnifiedKey {
			found = append([]RecordedCgroup{rc}, found...)
		} else {
			found = append(found, rc)
		}
	}
	for _, rc := range found {
		h, ok := l.Hierarchy(rc.Hierarchy)
		if !ok || h.Mount == "" || checkPath(rc.Path) != nil {
			continue
		}
		return filepath.Join(h.Mount, rc.Path), h, nil
	}
	return "", Hierarchy{}, errors.New("no recorded cgroup in a mounted hierarchy")
}

// Procs lists the processes in the record's cgroup and below it.
func (r Record) Procs() ([]int, error) {
	dir, _, err := r.mounted()
	if err != nil {
		return nil, err
	}
	return treeProcs(dir)
}

// freezerDir is the record's cgroup in the hierarchy that freezes it: the
// unified one (cgroup.freeze), else v1's freezer.
func (r Record) freezerDir() (dir string, v2 bool, err error) {
	l, err := DetectLayout()
	if err != nil {
		return "", false, err
	}
	for _, rc := range r.Cgroups {
		h, ok := l.Hierarchy(rc.Hierarchy)
		if !ok || h.Mount == "" || checkPath(rc.Path) != nil {
			continue
		}
		p := filepath.Join(h.Mount, rc.Path)
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
	if v2 {
		b, err := os.ReadFile(filepath.Join(dir, "cgroup.events"))
		return err == nil && strings.Contains(string(b), "frozen 1")
	}
	b, err := os.ReadFile(filepath.Join(dir, "freezer.state"))
	return err == nil && strings.TrimSpace(string(b)) == "FROZEN"
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
