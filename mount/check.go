package mount

import "strings"

// check refuses a plan, in its final order, that would make the runtime
// write into a host directory or that the split into Cgroup would reorder.
func check(es []entry) error {
	for i, w := range es {
		if !w.writes {
			continue
		}
		// A bind anywhere in the plan that is at or above a path the
		// runtime creates: before it, the runtime would create the path
		// in the host's directory (the bind's source); after it, the
		// bind would hide the runtime's own file or device.
		for j, b := range es {
			if j == i || !b.bind || !within(w.Target, b.Target) {
				continue
			}
			if j < i {
				return refuse(b.name, "covers %s, which containerctl creates itself: it would create it in the host's %s", w.Target, b.Source)
			}
			return refuse(b.name, "covers %s, which containerctl creates itself", w.Target)
		}
	}
	for i, c := range es {
		if !c.cgroup {
			continue
		}
		// The cgroup filesystems are mounted last, once the cgroup
		// namespace exists: a later step nested with one would end up
		// under it or over it the other way round from the order asked.
		for _, e := range es[i+1:] {
			if !e.cgroup && (within(e.Target, c.Target) || within(c.Target, e.Target)) {
				return refuse(e.name, "comes after %s, but the cgroup filesystems are mounted last, in the container's cgroup namespace", c.name)
			}
		}
	}
	return nil
}

// within says whether p is dir or a path under it; both are clean and
// absolute.
func within(p, dir string) bool {
	return p == dir || dir == "/" || strings.HasPrefix(p, dir+"/")
}
