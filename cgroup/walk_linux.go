package cgroup

import (
	"encoding/binary"
	"errors"
	"fmt"

	"golang.org/x/sys/unix"
)

// walk visits the cgroup directory fd and every cgroup below it: pre
// before a directory's children (depth 0 is fd's), post after each child
// with its parent's fd and its name (to rmdir it). The guest decides how
// deep its tree is, and its paths below the container's cgroup may be
// longer than PATH_MAX, which a walk by path cannot reach: so the walk goes
// by names relative to directory fds, and holds two fds at a time whatever
// the depth, going back up through "..". (A cgroup can only be renamed
// within its parent, so ".." is always the parent the walk came from.)
//
// walk owns fd: it returns an fd of the same directory (fd itself, or one
// opened again through ".."), which the caller closes, or -1 with an error
// when it could not get back; errors below it are joined into its own.
func walk(fd, depth int, pre func(fd, depth int) error, post func(parent int, name string) error) (int, error) {
	var errs []error
	if pre != nil {
		if err := pre(fd, depth); err != nil {
			errs = append(errs, err)
		}
	}
	names, err := subdirs(fd)
	if err != nil {
		return fd, errors.Join(append(errs, err)...)
	}
	for _, n := range names {
		child, err := unix.Openat(fd, n, unix.O_RDONLY|unix.O_DIRECTORY|unix.O_NOFOLLOW|unix.O_CLOEXEC, 0)
		if errors.Is(err, unix.ENOENT) {
			continue
		}
		if err != nil {
			errs = append(errs, fmt.Errorf("open a cgroup %d levels down: %w", depth+1, err))
			continue
		}
		unix.Close(fd)
		child, err = walk(child, depth+1, pre, post)
		if err != nil {
			errs = append(errs, err)
		}
		if child < 0 {
			return -1, errors.Join(errs...)
		}
		fd, err = unix.Openat(child, "..", unix.O_RDONLY|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
		unix.Close(child)
		if err != nil {
			return -1, errors.Join(append(errs, fmt.Errorf("back up from a cgroup %d levels down: %w", depth+1, err))...)
		}
		if post != nil {
			if err := post(fd, n); err != nil {
				errs = append(errs, err)
			}
		}
	}
	return fd, errors.Join(errs...)
}

// openDir opens the cgroup directory p for walk.
func openDir(p string) (int, error) {
	return unix.Open(p, unix.O_RDONLY|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
}

// subdirs lists the names of the directories in fd (the cgroups below
// it), from getdents64's d_type, which cgroupfs (kernfs) always sets.
func subdirs(fd int) ([]string, error) {
	if _, err := unix.Seek(fd, 0, 0); err != nil {
		return nil, err
	}
	var names []string
	buf := make([]byte, 8192)
	for {
		n, err := unix.Getdents(fd, buf)
		if errors.Is(err, unix.EINTR) {
			continue
		}
		if err != nil {
			return nil, fmt.Errorf("read a cgroup directory: %w", err)
		}
		if n <= 0 {
			return names, nil
		}
		// struct linux_dirent64: u64 ino, s64 off, u16 reclen, u8 type,
		// then the name, NUL-terminated.
		for b := buf[:n]; len(b) >= 19; {
			reclen := int(binary.NativeEndian.Uint16(b[16:]))
			if reclen < 19 || reclen > len(b) {
				return nil, fmt.Errorf("read a cgroup directory: bad record")
			}
			if b[18] == unix.DT_DIR {
				name := b[19:reclen]
				for i, c := range name {
					if c == 0 {
						name = name[:i]
						break
					}
				}
				if s := string(name); s != "." && s != ".." {
					names = append(names, s)
				}
			}
			b = b[reclen:]
		}
	}
}
