package mount

import (
	"errors"
	"fmt"
	"os"
	"path"
	"path/filepath"
	"strings"

	pathrs "github.com/cyphar/filepath-securejoin/pathrs-lite"
	"golang.org/x/sys/unix"
)

// Created lists the paths inside the root that Apply created (mount
// points, bind targets, nodes), in order.
func (r *Root) Created() []string {
	if r.ephemeral {
		return nil
	}
	return r.created
}

// missing lists the paths a step may create: its target and the target's
// parents that do not exist yet, outermost first. An entry that exists,
// even a dangling link, is not missing.
func (r *Root) missing(s Step) []string {
	if s.Kind == Mask || s.Kind == Readonly {
		return nil
	}
	// The last mount below which the target lies is the one it is made
	// on: nothing to track on a filesystem of the container's own.
	t := path.Clean(s.Target)
	for i := len(r.mounted) - 1; i >= 0; i-- {
		if m := r.mounted[i]; strings.HasPrefix(t, m.target+"/") {
			if m.own {
				return nil
			}
			break
		}
	}
	var out []string
	for p := path.Clean(s.Target); p != "/"; p = path.Dir(p) {
		if r.exists(p) {
			break
		}
		out = append([]string{p}, out...)
	}
	return out
}

// exists reports whether the entry p (not what a link at p points to)
// exists inside the root.
func (r *Root) exists(p string) bool {
	parent, err := pathrs.OpenatInRoot(r.dir, path.Dir(p))
	if err != nil {
		return !errors.Is(err, unix.ENOENT)
	}
	defer parent.Close()
	var st unix.Stat_t
	err = unix.Fstatat(int(parent.Fd()), path.Base(p), &st, unix.AT_SYMLINK_NOFOLLOW)
	return !errors.Is(err, unix.ENOENT)
}

// record keeps the paths of missing that exist now.
func (r *Root) record(missing []string) {
	for _, p := range missing {
		if r.exists(p) {
			r.created = append(r.created, p)
		}
	}
}

// RemoveCreated removes, last first, what a failed start created inside
// the root at rootPath (Root.Created), once no mount of the container is
// left on it. Paths are resolved inside the root; a directory that is not
// empty is left alone.
func RemoveCreated(rootPath string, created []string) error {
	root, err := os.OpenFile(rootPath, unix.O_PATH|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
	if err != nil {
		return err
	}
	defer root.Close()
	var errs []error
	for i := len(created) - 1; i >= 0; i-- {
		p := path.Clean("/" + created[i])
		if p == "/" {
			continue
		}
		if err := removeEntry(root, p); err != nil {
			errs = append(errs, fmt.Errorf("remove %s: %w", filepath.Join(rootPath, p), err))
		}
	}
	return errors.Join(errs...)
}

func removeEntry(root *os.File, p string) error {
	parent, err := pathrs.OpenatInRoot(root, path.Dir(p))
	if errors.Is(err, unix.ENOENT) {
		return nil
	}
	if err != nil {
		return err
	}
	defer parent.Close()
	var st unix.Stat_t
	name := path.Base(p)
	if err := unix.Fstatat(int(parent.Fd()), name, &st, unix.AT_SYMLINK_NOFOLLOW); err != nil {
		if errors.Is(err, unix.ENOENT) {
			return nil
		}
		return err
	}
	flags := 0
	if st.Mode&unix.S_IFMT == unix.S_IFDIR {
		flags = unix.AT_REMOVEDIR
	}
	err = unix.Unlinkat(int(parent.Fd()), name, flags)
	if errors.Is(err, unix.ENOENT) || errors.Is(err, unix.ENOTEMPTY) {
		return nil
	}
	return err
}
