package cgroup

import (
	"os"
	"path/filepath"
	"slices"
	"strings"

	specs "github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/sys/unix"
)

// Check reports whether this host's controllers can enforce r, without
// creating anything.
func Check(l Layout, r *specs.LinuxResources) error {
	_, err := planResources(l, r)
	return err
}

// Place decides where the container's cgroup goes (see place). It reads
// the caller's cgroups and whether the cgroup2 one is delegated, and
// changes nothing: a move of the caller it decides on is Create's.
func Place(l Layout, name, cgroupsPath string, r *specs.LinuxResources) (Config, error) {
	var h host
	if cgroupsPath == "" {
		own, err := readOwn()
		if err != nil {
			return Config{}, err
		}
		h.own = ownPaths(own)
		u, inUnit := h.own[UnifiedKey]
		if hi, ok := l.Hierarchy(UnifiedKey); ok && inUnit && u != "/" && hi.Mount != "" {
			unit := filepath.Join(hi.Mount, u)
			h.delegated = delegated(unit)
			procs, err := readProcs(unit)
			h.alone = err == nil && slices.Equal(procs, []int{os.Getpid()})
		}
	}
	return place(l, h, name, cgroupsPath, r)
}

// delegated reports whether systemd marked dir as delegated, with the
// trusted.delegate or user.delegate xattr.
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
