package cgroup

import (
	"fmt"
	"path"
	"strings"
)

// Record is what a reaper needs to remove a container's cgroups after its
// supervisor died: each hierarchy by key, with paths relative to its root,
// so that one the host has not mounted can be reached again (by a detached
// mount) and nothing is guessed from a path.
type Record struct {
	Cgroups []RecordedCgroup `json:"cgroups"`
	// Planned says the cgroups were recorded before Create made them
	// (Planned): a supervisor killed then may have made some, none holds
	// its processes yet, and a path may be another's that Create would
	// have refused. Remove then only removes empty ones, never kills.
	Planned bool `json:"planned,omitempty"`
}

// RecordedCgroup is the container's cgroup in one hierarchy.
type RecordedCgroup struct {
	Hierarchy string `json:"hierarchy"` // Hierarchy.Key: "unified", "memory", "name=systemd"
	Path      string `json:"path"`      // relative to the hierarchy's root: "/containerctl/NAME"
	// Parents are the parents to remove once empty, deepest first.
	Parents []string `json:"parents,omitempty"`
}

// Empty reports whether the record names no cgroup.
func (r Record) Empty() bool { return len(r.Cgroups) == 0 }

// Check refuses a record that names cgroups other than those of the
// container name: a record is read back from a state directory, and one
// that was planted (a state directory a guest can write) must not make a
// cleanup kill and remove a host cgroup. Each path must end in the
// container's own cgroup (NAME, or a delegated unit's payload) and each
// parent must be one of its ancestors.
func (r Record) Check(name string) error {
	for _, c := range r.Cgroups {
		p := c.Path
		if !path.IsAbs(p) || path.Clean(p) != p || p == "/" || strings.Contains(p, "..") {
			return fmt.Errorf("%w: recorded cgroup %q of %s", ErrInvalidPath, p, name)
		}
		if base := path.Base(p); base != name && base != payloadName {
			return fmt.Errorf("%w: recorded cgroup %q is not container %s's", ErrInvalidPath, p, name)
		}
		for _, parent := range c.Parents {
			if parent == "/" || !strings.HasPrefix(p, parent+"/") {
				return fmt.Errorf("%w: recorded parent %q is not above %q", ErrInvalidPath, parent, p)
			}
		}
	}
	return nil
}
