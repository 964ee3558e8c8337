// Package cgroup places a container's processes in a cgroup of their own,
// sets its limits, kills all of it, and removes it. cgroup v2 first; on a
// hybrid host (v1 controllers beside a cgroup2 "unified" hierarchy) the
// unified hierarchy tracks and kills the processes and the v1 controllers
// that exist carry the limits.
//
// The container joins every hierarchy the host has, mounted or not: a guest
// may mount any existing hierarchy in its cgroup namespace, and there sees
// the cgroup it was left in. Left at the root of a hierarchy the host has
// not mounted, it would see that root's release_agent, which the kernel
// runs as root on the host. The supervisor reaches such a hierarchy through
// a detached mount (fsmount(2)) that no mount table shows.
package cgroup

import (
	"bufio"
	"fmt"
	"io"
	"slices"
	"strconv"
	"strings"

	"github.com/containerctl/containerctl/mount"
)

// UnifiedKey is the key of the cgroup2 hierarchy.
const UnifiedKey = "unified"

// Hierarchy is one cgroup hierarchy of the host.
type Hierarchy struct {
	// Key names it as /proc/self/cgroup does ("cpu,cpuacct", "memory",
	// "name=systemd"), or UnifiedKey.
	Key string
	// Controllers are the v1 controllers bound to it, none for a named
	// hierarchy or the unified one.
	Controllers []string
	// Name is a v1 hierarchy's name= option, "" for none.
	Name string
	// Mount is where the host mounts the hierarchy's root, "" where it
	// does not: then the supervisor reaches it by a detached mount.
	Mount string
}

// V1 reports whether h is a cgroup v1 hierarchy.
func (h Hierarchy) V1() bool { return h.Key != UnifiedKey }

// Layout is the host's cgroup hierarchies.
type Layout struct {
	// Hierarchies are all the hierarchies the host has, sorted by key.
	Hierarchies []Hierarchy
	// Controllers are those the cgroup2 root offers (cgroup.controllers).
	Controllers []string
	// BlkioWeight is the weight file of the v1 blkio controller:
	// blkio.weight, blkio.bfq.weight, or "" when the I/O scheduler has
	// none.
	BlkioWeight string
}

// Hierarchy returns the hierarchy of key.
func (l Layout) Hierarchy(key string) (Hierarchy, bool) {
	for _, h := range l.Hierarchies {
		if h.Key == key {
			return h, true
		}
	}
	return Hierarchy{}, false
}

// v1 returns the v1 hierarchy the controller ctrl is bound to.
func (l Layout) v1(ctrl string) (Hierarchy, bool) {
	for _, h := range l.Hierarchies {
		if slices.Contains(h.Controllers, ctrl) {
			return h, true
		}
	}
	return Hierarchy{}, false
}

// hasUnified reports whether the host has a cgroup2 hierarchy in use.
func (l Layout) hasUnified() bool {
	_, ok := l.Hierarchy(UnifiedKey)
	return ok
}

// ownLine is one line of /proc/PID/cgroup.
type ownLine struct {
	id   int
	key  string // UnifiedKey for hierarchy 0
	path string
}

// parseOwn reads /proc/PID/cgroup text: a line per hierarchy the kernel
// has ("ID:CONTROLLERS:PATH"), v1 ones whether mounted or not, and "0::PATH"
// for cgroup2 once anyone has mounted it.
func parseOwn(r io.Reader) ([]ownLine, error) {
	var own []ownLine
	sc := bufio.NewScanner(r)
	for sc.Scan() {
		parts := strings.SplitN(sc.Text(), ":", 3)
		if len(parts) != 3 {
			continue
		}
		id, err := strconv.Atoi(parts[0])
		if err != nil {
			return nil, fmt.Errorf("cgroup line %q: bad hierarchy ID", sc.Text())
		}
		key := parts[1]
		if id == 0 {
			if key != "" {
				continue
			}
			key = UnifiedKey
		}
		own = append(own, ownLine{id: id, key: key, path: parts[2]})
	}
	return own, sc.Err()
}

// ownPaths maps hierarchy keys to the cgroup paths of /proc/PID/cgroup.
func ownPaths(own []ownLine) map[string]string {
	m := map[string]string{}
	for _, o := range own {
		m[o.key] = o.path
	}
	return m
}

// parseControllers reads /proc/cgroups: the controllers the kernel has
// (enabled or not), whatever hierarchy they are bound to.
func parseControllers(r io.Reader) ([]string, error) {
	var ctrls []string
	sc := bufio.NewScanner(r)
	for sc.Scan() {
		f := strings.Fields(sc.Text())
		if len(f) < 4 || strings.HasPrefix(f[0], "#") {
			continue
		}
		ctrls = append(ctrls, f[0])
	}
	return ctrls, sc.Err()
}

// parseLayout puts together the hierarchies of /proc/self/cgroup (own), the
// kernel's controllers (ctrls, from /proc/cgroups) and the host's mounts of
// hierarchy roots in mountinfo.
func parseLayout(mountinfo io.Reader, own []ownLine, ctrls []string) (Layout, error) {
	var l Layout
	for _, o := range own {
		h := Hierarchy{Key: o.key}
		if o.key != UnifiedKey {
			for _, c := range strings.Split(o.key, ",") {
				if n, ok := strings.CutPrefix(c, "name="); ok {
					h.Name = n
				} else if c != "" {
					h.Controllers = append(h.Controllers, c)
				}
			}
			slices.Sort(h.Controllers)
		}
		l.Hierarchies = append(l.Hierarchies, h)
	}
	slices.SortFunc(l.Hierarchies, func(a, b Hierarchy) int { return strings.Compare(a.Key, b.Key) })
	mounts, err := mount.ParseMountinfo(mountinfo)
	if err != nil {
		return Layout{}, err
	}
	for _, m := range mounts {
		// Only a mount of the root: a bind of a cgroup below it reaches
		// less than the hierarchy.
		if m.Root != "/" {
			continue
		}
		var match func(Hierarchy) bool
		switch m.FSType {
		case "cgroup2":
			match = func(h Hierarchy) bool { return !h.V1() }
		case "cgroup":
			var cs []string
			var name string
			for _, o := range strings.Split(m.SuperOptions, ",") {
				if n, ok := strings.CutPrefix(o, "name="); ok {
					name = n
				} else if slices.Contains(ctrls, o) {
					cs = append(cs, o)
				}
			}
			slices.Sort(cs)
			match = func(h Hierarchy) bool { return h.V1() && h.Name == name && slices.Equal(h.Controllers, cs) }
		default:
			continue
		}
		for i, h := range l.Hierarchies {
			if h.Mount == "" && match(h) {
				l.Hierarchies[i].Mount = m.Point
			}
		}
	}
	return l, nil
}
