package userns

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"

	"golang.org/x/sys/unix"
)

// Stage is the stage directory and its mounts, in the host's mount
// namespace, from the supervisor's staging until the child has bound
// what it needs into its own namespace.
type Stage struct {
	dir   string
	names []string
	// Shifted says the root was not idmapped but shifted (Chown): the
	// files the guest creates are owned on disk by the range.
	Shifted bool
	// Plain are the binds' sources the kernel would not idmap, bound as
	// they are (Chown): their files are nobody's inside.
	Plain []string
}

// MakeStage makes dir (in a directory the range's root may search) and
// stages there what staged lists, idmapped through the user namespace
// usernsFD, which maps r. The stage is a private mount of its own, so that
// nothing mounted in it reaches the host's other mount namespaces, and its
// unmounting does not reach the child's copy. It is the range's root's
// alone: no host user reaches the container's root through it.
func MakeStage(dir string, staged []Staged, usernsFD int, r Range) (_ *Stage, retErr error) {
	if err := os.Mkdir(dir, 0o700); err != nil {
		return nil, fmt.Errorf("stage %s: %w", dir, err)
	}
	if err := os.Chown(dir, int(r.Base), int(r.Base)); err != nil {
		_ = os.Remove(dir)
		return nil, fmt.Errorf("stage %s: %w", dir, err)
	}
	st := &Stage{dir: dir}
	defer func() {
		if retErr != nil {
			_ = st.Close()
		}
	}()
	if err := unix.Mount(dir, dir, "", unix.MS_BIND, ""); err != nil {
		_ = os.Remove(dir)
		return nil, fmt.Errorf("stage %s: bind: %w", dir, err)
	}
	st.names = []string{""}
	if err := unix.Mount("", dir, "", unix.MS_PRIVATE, ""); err != nil {
		return nil, fmt.Errorf("stage %s: make private: %w", dir, err)
	}
	for _, s := range staged {
		if err := st.add(s, usernsFD, r); err != nil {
			return nil, err
		}
	}
	return st, nil
}

// Path is where name is staged.
func (st *Stage) Path(name string) string { return filepath.Join(st.dir, name) }

func (st *Stage) add(s Staged, usernsFD int, r Range) error {
	target := st.Path(s.Name)
	if s.Kind == StageSysfs {
		if err := os.Mkdir(target, 0o755); err != nil {
			return fmt.Errorf("stage sysfs: %w", err)
		}
		st.names = append(st.names, s.Name)
		if err := unix.Mount("sysfs", target, "sysfs", s.Flags&attrFlags, ""); err != nil {
			return fmt.Errorf("stage sysfs on %s: %w", target, err)
		}
		return nil
	}
	tree, err := st.tree(s, usernsFD, r)
	if err != nil {
		return err
	}
	defer tree.Close()
	fi, err := os.Stat(s.Source)
	if err != nil {
		return fmt.Errorf("stage %s: %w", s.Source, err)
	}
	if fi.IsDir() {
		err = os.Mkdir(target, 0o755)
	} else {
		err = os.WriteFile(target, nil, 0o644)
	}
	if err != nil {
		return fmt.Errorf("stage %s: %w", s.Source, err)
	}
	st.names = append(st.names, s.Name)
	if err := unix.MoveMount(int(tree.Fd()), "", unix.AT_FDCWD, target, unix.MOVE_MOUNT_F_EMPTY_PATH); err != nil {
		return fmt.Errorf("stage %s on %s: move_mount: %w", s.Source, target, err)
	}
	return nil
}

// tree is the detached tree to stage for s: idmapped, or as it is for the
// supervisor's own files and, when s is optional, where the kernel will
// not idmap it (the root then shifted into the range).
func (st *Stage) tree(s Staged, usernsFD int, r Range) (*os.File, error) {
	if s.Kind == StageOwn || s.Kind == StagePlain {
		return plainTree(s)
	}
	tree, err := idmapTree(s, usernsFD)
	var nomap *IDMapError
	switch {
	case errors.As(err, &nomap) && s.Optional && s.Name == RootName:
		if err := Shift(s.Source, r); err != nil {
			return nil, err
		}
		st.Shifted = true
		return plainTree(s)
	case errors.As(err, &nomap) && s.Optional:
		st.Plain = append(st.Plain, s.Source)
		return plainTree(s)
	}
	return tree, err
}

// idmapTree clones the tree at s.Source, detached, and idmaps it with its
// flags set (mount_setattr(2), Linux 5.12; the filesystem must allow it).
// A root already shifted into its range is not idmapped again.
func idmapTree(s Staged, usernsFD int) (*os.File, error) {
	if s.Name == RootName && s.Optional {
		if _, shifted := shiftedBase(s.Source); shifted {
			return nil, &IDMapError{Path: s.Source, Err: errors.New("already shifted")}
		}
	}
	tree, err := openTree(s)
	if err != nil {
		return nil, err
	}
	attr := &unix.MountAttr{Attr_set: mountAttrs(s.Flags) | unix.MOUNT_ATTR_IDMAP, Userns_fd: uint64(usernsFD)}
	if err := unix.MountSetattr(int(tree.Fd()), "", atFlags(s.Flags), attr); err != nil {
		tree.Close()
		return nil, &IDMapError{Path: s.Source, Err: err}
	}
	return tree, nil
}

// plainTree is the tree at s.Source, detached, with its flags, as it is.
func plainTree(s Staged) (*os.File, error) {
	tree, err := openTree(s)
	if err != nil {
		return nil, err
	}
	if a := mountAttrs(s.Flags); a != 0 {
		if err := unix.MountSetattr(int(tree.Fd()), "", atFlags(s.Flags), &unix.MountAttr{Attr_set: a}); err != nil {
			tree.Close()
			return nil, fmt.Errorf("stage %s: mount_setattr: %w", s.Source, err)
		}
	}
	return tree, nil
}

func openTree(s Staged) (*os.File, error) {
	flags := uint(unix.OPEN_TREE_CLONE | unix.OPEN_TREE_CLOEXEC)
	if s.Flags&msRec != 0 {
		flags |= unix.AT_RECURSIVE
	}
	fd, err := unix.OpenTree(unix.AT_FDCWD, s.Source, flags)
	if err != nil {
		return nil, fmt.Errorf("stage %s: open_tree: %w", s.Source, err)
	}
	return os.NewFile(uintptr(fd), s.Source), nil
}

func atFlags(flags uintptr) uint {
	at := uint(unix.AT_EMPTY_PATH)
	if flags&msRec != 0 {
		at |= unix.AT_RECURSIVE
	}
	return at
}

func mountAttrs(flags uintptr) uint64 {
	var a uint64
	for _, f := range []struct {
		flag uintptr
		attr uint64
	}{{msRdonly, unix.MOUNT_ATTR_RDONLY}, {msNosuid, unix.MOUNT_ATTR_NOSUID}, {msNodev, unix.MOUNT_ATTR_NODEV}, {msNoexec, unix.MOUNT_ATTR_NOEXEC}} {
		if flags&f.flag != 0 {
			a |= f.attr
		}
	}
	return a
}

// Close unmounts the stage, every mount in it at once, and removes its
// mount points one by one: never recursively, so that nothing of a tree
// still mounted is removed.
func (st *Stage) Close() error {
	if st == nil || len(st.names) == 0 {
		return nil
	}
	if err := unix.Unmount(st.dir, unix.MNT_DETACH); err != nil {
		return fmt.Errorf("unmount stage %s: %w", st.dir, err)
	}
	var errs []error
	for i := len(st.names) - 1; i >= 0; i-- {
		if err := os.Remove(st.Path(st.names[i])); err != nil && !errors.Is(err, os.ErrNotExist) {
			errs = append(errs, err)
		}
	}
	st.names = nil
	return errors.Join(errs...)
}

// RemoveStage removes the stage at dir that a supervisor killed during a
// start left behind: it unmounts it, then removes its mount points one by
// one, never recursively. A missing stage is no error.
func RemoveStage(dir string) error {
	entries, err := os.ReadDir(dir)
	if errors.Is(err, os.ErrNotExist) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("stage %s: %w", dir, err)
	}
	if err := unix.Unmount(dir, unix.MNT_DETACH); err != nil && !errors.Is(err, unix.EINVAL) {
		return fmt.Errorf("unmount stage %s: %w", dir, err)
	}
	// Read again: the entries of the directory under the stage's mount.
	if entries, err = os.ReadDir(dir); err != nil {
		return fmt.Errorf("stage %s: %w", dir, err)
	}
	var errs []error
	for _, e := range entries {
		errs = append(errs, os.Remove(filepath.Join(dir, e.Name())))
	}
	errs = append(errs, os.Remove(dir))
	return errors.Join(errs...)
}
