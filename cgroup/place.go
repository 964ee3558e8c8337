package cgroup

import (
	"fmt"
	"path"
	"slices"
	"strings"

	specs "github.com/opencontainers/runtime-spec/specs-go"
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

// Config says where a container's cgroup goes and what it may use.
type Config struct {
	// Parents is the parent path in each hierarchy, relative to its root,
	// by Hierarchy.Key.
	Parents map[string]string
	// Managed says the parents are containerctl's own, removed when they
	// become empty (the default parent), as opposed to the user's
	// --cgroup-parent or a systemd unit's cgroup.
	Managed bool
	// Delegated says the cgroup2 parent is a unit's cgroup delegated to
	// containerctl (Delegate=yes), which it may configure.
	Delegated bool
	// Supervisor is the cgroup2 cgroup, relative to the root, that Create
	// moves the calling process to before it makes the container's:
	// UNIT/supervisor under a delegated unit, "" for no move.
	Supervisor string
	Name       string
	// Resources are the limits, as in the spec.
	Resources *specs.LinuxResources
	// AllowUnrestrictedDevices lets Create go on when the spec's device
	// rules cannot be enforced (no cgroup2 device filter and no v1 devices
	// controller); without it Create refuses.
	AllowUnrestrictedDevices bool
}

// host is what Place reads of the calling process's cgroups.
type host struct {
	own       map[string]string // Hierarchy.Key -> the caller's cgroup
	delegated bool              // the caller's cgroup2 cgroup is a unit's delegated one
	alone     bool              // and the caller is the only process in it
}

// place decides where the container's cgroup goes:
//   - path, when given (the spec's cgroupsPath, from --cgroup-parent): that
//     path in every hierarchy;
//   - under a delegated cgroup, when the caller is alone in it:
//     UNIT/payload, with the caller to move to UNIT/supervisor;
//   - else DefaultParent/name, removed again when empty.
func place(l Layout, h host, name, cgroupsPath string, r *specs.LinuxResources) (Config, error) {
	if cgroupsPath != "" {
		if err := checkPath(cgroupsPath); err != nil {
			return Config{}, err
		}
		parent, leaf := path.Split(cgroupsPath)
		return Config{Parents: same(l, path.Clean(parent)), Name: leaf, Resources: r}, nil
	}
	byHand := Config{Parents: same(l, DefaultParent), Managed: true, Name: name, Resources: r}
	unit, ok := h.own[UnifiedKey]
	// Only if the supervisor is alone there: other processes (a unit's
	// shell that did not exec us) would keep the unit's cgroup from
	// passing controllers down.
	if !ok || unit == "/" || !h.delegated || !h.alone {
		return byHand, nil
	}
	// v1 hierarchies systemd delegated too; in the others (where it leaves
	// the unit at the root) as by hand, under a directory of the
	// container's name, since "payload" is every unit's.
	parents := same(l, path.Join(DefaultParent, name))
	parents[UnifiedKey] = unit
	for _, hi := range l.Hierarchies {
		if p, ok := h.own[hi.Key]; ok && hi.V1() && p != "/" {
			parents[hi.Key] = p
		}
	}
	return Config{
		Parents:    parents,
		Name:       payloadName,
		Delegated:  true,
		Supervisor: path.Join(unit, supervisorName),
		Resources:  r,
	}, nil
}

// checkPath refuses a cgroups path that is not absolute and clean, or is
// the root: "/../x" is not quietly taken for "/x".
func checkPath(p string) error {
	if !path.IsAbs(p) || p == "/" || path.Clean(p) != p || slices.Contains(strings.Split(p, "/"), "..") {
		return fmt.Errorf("%w %q: want a clean absolute path below the root, such as /machine/NAME", ErrInvalidPath, p)
	}
	return nil
}

func same(l Layout, p string) map[string]string {
	m := map[string]string{}
	for _, h := range l.Hierarchies {
		m[h.Key] = p
	}
	return m
}

// Planned is the record of the cgroups Create(l, cfg) will make, before
// they are: written first, so that a supervisor killed during Create
// leaves a record its reaper removes them by. It names the container's
// cgroup in every hierarchy, and as parents to remove once empty only
// containerctl's own (below DefaultParent), which Create may make: a
// user's parent that Create makes stays after such a death.
func Planned(l Layout, cfg Config) Record {
	r := Record{Planned: true}
	for _, h := range l.Hierarchies {
		parent := cfg.Parents[h.Key]
		if parent == "" {
			parent = "/"
		}
		rc := RecordedCgroup{Hierarchy: h.Key, Path: path.Join(parent, cfg.Name)}
		if cfg.Managed || within(parent, DefaultParent) {
			for p := parent; p != "/" && within(p, DefaultParent); p = path.Dir(p) {
				rc.Parents = append(rc.Parents, p)
			}
		}
		r.Cgroups = append(r.Cgroups, rc)
	}
	return r
}

// within reports whether the cgroup path p is dir or below it.
func within(p, dir string) bool {
	return p == dir || strings.HasPrefix(p, dir+"/")
}
