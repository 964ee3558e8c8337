package cgroup

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
)

// delegatedFiles are the files of a cgroup2 cgroup that its owner must own
// to manage the subtree below it, besides the directory: the ones systemd
// chowns when it delegates a cgroup (cgroup-v2.rst, "Delegation
// Containment"; systemd's unit_cgroup_delegate). The limits are not among
// them: they are the container's, one level up.
var delegatedFiles = []string{"cgroup.procs", "cgroup.threads", "cgroup.subtree_control", "memory.oom.group", "memory.reclaim"}

// ChownGuest gives the guest's cgroup2 cgroup to uid and gid, the root of
// a container's user namespace, so that the guest's service manager may
// make cgroups below it, move its processes and enable its controllers.
// Without a cgroup2 hierarchy there is nothing the guest manages.
func (c *Cgroup) ChownGuest(uid, gid int) error {
	p, ok := c.paths[UnifiedKey]
	if !ok {
		return nil
	}
	dir := c.abs(UnifiedKey, filepath.Join(p, guestName))
	if err := os.Lchown(dir, uid, gid); err != nil {
		return fmt.Errorf("give cgroup %s to %d: %w", dir, uid, err)
	}
	for _, f := range delegatedFiles {
		if err := os.Lchown(filepath.Join(dir, f), uid, gid); err != nil && !errors.Is(err, os.ErrNotExist) {
			return fmt.Errorf("give cgroup %s to %d: %w", dir, uid, err)
		}
	}
	return nil
}
