package cgroup

// Record is what a reaper needs to remove a container's cgroups after its
// supervisor died: each hierarchy by key, with paths relative to its root,
// so that one the host has not mounted can be reached again (by a detached
// mount) and nothing is guessed from a path.
type Record struct {
	Cgroups []RecordedCgroup `json:"cgroups"`
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
