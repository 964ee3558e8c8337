package runtime

import (
	"errors"
	"fmt"
	"os"
	"path"
	"path/filepath"
	"strings"

	specs "github.com/opencontainers/runtime-spec/specs-go"
)

// view maps paths as the container will see them to host paths, from the
// root and the spec's bind mounts, so that the init can be found and checked
// on the host before anything is created. Under any other mount (a tmpfs,
// /proc) a path cannot be known in advance.
type view struct {
	root   string
	mounts []viewMount // in spec order; a later mount covers an earlier one
}

type viewMount struct {
	dest   string // container path
	source string // host path; "" when the contents are not on the host
}

func newView(spec *specs.Spec) view {
	v := view{root: spec.Root.Path}
	for _, m := range spec.Mounts {
		vm := viewMount{dest: path.Clean(m.Destination)}
		if isBind(m) {
			vm.source = m.Source
		}
		v.mounts = append(v.mounts, vm)
	}
	return v
}

func isBind(m specs.Mount) bool {
	if m.Type == "bind" {
		return true
	}
	for _, o := range m.Options {
		if o == "bind" || o == "rbind" {
			return true
		}
	}
	return false
}

// host returns the host path behind the container path p, which must be
// clean and absolute; ok is false when p lies on a mount whose contents are
// not on the host.
func (v view) host(p string) (hostPath string, ok bool) {
	best := -1
	for i, m := range v.mounts {
		if within(p, m.dest) && (best < 0 || len(m.dest) >= len(v.mounts[best].dest)) {
			best = i
		}
	}
	if best < 0 {
		return filepath.Join(v.root, p), true
	}
	m := v.mounts[best]
	if m.source == "" {
		return "", false
	}
	return filepath.Join(m.source, strings.TrimPrefix(p, m.dest)), true
}

// onMountPath reports whether p is a mount destination or a parent of one.
func (v view) onMountPath(p string) bool {
	for _, m := range v.mounts {
		if within(m.dest, p) {
			return true
		}
	}
	return false
}

func within(p, dir string) bool {
	return p == dir || dir == "/" || strings.HasPrefix(p, dir+"/")
}

// errNotOnHost is returned by resolve for a path that cannot be checked on
// the host before the container starts.
var errNotOnHost = errors.New("not on the host before start")

// resolve follows the container path p through symbolic links the way the
// kernel will once the container runs (an absolute link target starts at the
// container's root, not the host's) and returns the host path of the result.
func (v view) resolve(p string) (string, error) {
	const maxLinks = 40 // the kernel's limit
	todo := strings.Split(p, "/")
	cur := "/"
	for links := 0; len(todo) > 0; {
		c := todo[0]
		todo = todo[1:]
		switch c {
		case "", ".":
			continue
		case "..":
			cur = path.Dir(cur)
			continue
		}
		next := path.Join(cur, c)
		if v.onMountPath(next) {
			// A mount point or one of its parents: the runtime creates
			// it as a directory, whatever the root holds now.
			cur = next
			continue
		}
		h, ok := v.host(next)
		if !ok {
			return "", errNotOnHost
		}
		fi, err := os.Lstat(h)
		if err != nil {
			return "", err
		}
		if fi.Mode()&os.ModeSymlink == 0 {
			cur = next
			continue
		}
		if links++; links > maxLinks {
			return "", fmt.Errorf("%s: too many levels of symbolic links", p)
		}
		target, err := os.Readlink(h)
		if err != nil {
			return "", err
		}
		if path.IsAbs(target) {
			cur = "/"
		}
		todo = append(strings.Split(target, "/"), todo...)
	}
	h, ok := v.host(cur)
	if !ok {
		return "", errNotOnHost
	}
	return h, nil
}
