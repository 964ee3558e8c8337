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

// Root is a container's root directory, prepared for its mounts.
type Root struct {
	path string
	dir  *os.File
	// created are the paths inside the root that Apply created on the
	// root's own filesystem, in order, for a failed start to remove.
	created []string
	// mounted are the mounts Apply made, in order: what is made on a
	// filesystem of the container's own (tmpfs, proc, devpts) goes with
	// it; what is made through a bind is on the host.
	mounted []mounted
	// ephemeral: the root is an overlay whose writes go to a tmpfs
	// (PrepareEphemeral).
	ephemeral bool
}

type mounted struct {
	target string
	own    bool
}

// Prepare readies root for the container's mounts and pivot_root. It must
// run in a new mount namespace. First "/" becomes a recursive slave, so that
// nothing mounted here propagates back to the host (systemd mounts "/"
// shared); then root is bound onto itself, so that it is a mount point that
// pivot_root accepts (runc's rootfs_linux.go does the same).
func Prepare(root string) (*Root, error) {
	if err := mount("", "/", "", unix.MS_SLAVE|unix.MS_REC, "", "make host mounts slave"); err != nil {
		return nil, err
	}
	if err := mount(root, root, "", unix.MS_BIND|unix.MS_REC, "", "bind root onto itself"); err != nil {
		return nil, err
	}
	// Open the root only after the bind, so that lookups start on the new
	// mount and not on the directory it covers.
	dir, err := os.OpenFile(root, unix.O_PATH|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
	if err != nil {
		return nil, err
	}
	return &Root{path: root, dir: dir}, nil
}

// Apply carries out steps inside the root, in order; log, when not nil, is
// called before each.
func (r *Root) Apply(steps []Step, log func(Step)) error {
	for _, s := range steps {
		if log != nil {
			log(s)
		}
		missing := r.missing(s)
		err := apply(r.dir, r.path, s)
		r.record(missing)
		if err != nil {
			return err
		}
		if s.Kind == Mount || s.Kind == Bind {
			r.mounted = append(r.mounted, mounted{target: path.Clean(s.Target), own: s.Kind == Mount})
		}
	}
	return nil
}

// Close releases the root's handle, before pivot_root.
func (r *Root) Close() error { return r.dir.Close() }

func apply(root *os.File, rootPath string, s Step) error {
	display := filepath.Join(rootPath, s.Target)
	switch s.Kind {
	case Mount:
		dir, err := mkdirAll(root, s.Target, display)
		if err != nil {
			return err
		}
		defer dir.Close()
		if err := mountOn(s.Source, dir, display, s.FSType, s.Flags, s.Data, s.FSType); err != nil {
			return err
		}
		if s.CopyUp {
			// dir still leads to the directory the tmpfs now covers.
			top, err := mkdirAll(root, s.Target, display)
			if err != nil {
				return err
			}
			defer top.Close()
			if err := copyUp(int(dir.Fd()), int(top.Fd()), display); err != nil {
				return err
			}
			if err := copyUpRoot(int(dir.Fd()), int(top.Fd()), s.Data, display); err != nil {
				return err
			}
		}
		return propagate(root, s, display)
	case Bind:
		return bind(root, s, display)
	case Device:
		return inParent(root, s.Target, display, func(dirfd int, name string) error {
			err := unix.Mknodat(dirfd, name, s.Mode, int(unix.Mkdev(s.Major, s.Minor)))
			if err == nil {
				// mknod's mode is cut by the umask; set it as asked.
				err = unix.Fchmodat(dirfd, name, s.Mode&0o7777, 0)
			}
			if err != nil {
				return &Error{Op: "mknod", Target: display, What: fmt.Sprintf("device %d:%d", s.Major, s.Minor), Err: err}
			}
			return nil
		})
	case Symlink:
		return inParent(root, s.Target, display, func(dirfd int, name string) error {
			if err := unix.Symlinkat(s.Source, dirfd, name); err != nil && !errors.Is(err, unix.EEXIST) {
				return &Error{Op: "symlink", Target: display, What: "to " + s.Source, Err: err}
			}
			return nil
		})
	case Mask:
		return mask(root, s.Target, display)
	case Readonly:
		return readonly(root, s.Target, display)
	case File:
		return inParent(root, s.Target, display, func(dirfd int, name string) error {
			fd, err := unix.Openat(dirfd, name, unix.O_CREAT|unix.O_EXCL|unix.O_NOFOLLOW|unix.O_WRONLY|unix.O_CLOEXEC, 0o444)
			if err != nil {
				return fmt.Errorf("create %s: %w", display, err)
			}
			f := os.NewFile(uintptr(fd), display)
			_, err = f.WriteString(s.Data)
			if cerr := f.Close(); err == nil {
				err = cerr
			}
			if err != nil {
				return fmt.Errorf("write %s: %w", display, err)
			}
			return nil
		})
	}
	return fmt.Errorf("%s: unknown step kind %d", display, s.Kind)
}

func bind(root *os.File, s Step, display string) error {
	source, fi, err := bindSource(s.Source)
	if err != nil {
		return &Error{Op: "mount", Source: s.Source, Target: display, What: "bind source", Err: err}
	}
	var target *os.File
	if fi.IsDir() {
		target, err = mkdirAll(root, s.Target, display)
	} else {
		target, err = createFile(root, s.Target, display)
	}
	if err != nil {
		return err
	}
	defer target.Close()
	what := "bind"
	if s.Flags&unix.MS_RDONLY != 0 {
		what = "read-only bind"
	}
	if err := mountOn(source, target, display, "", unix.MS_BIND|s.Flags&unix.MS_REC, "", what); err != nil {
		return err
	}
	if err := setAttrs(root, s.Target, display, s.Flags, what); err != nil {
		return err
	}
	return propagate(root, s, display)
}

// propagate gives a mount the propagation its options asked for, on the
// mount just made (reopened, so that the path is looked up anew).
func propagate(root *os.File, s Step, display string) error {
	if s.Propagation == 0 {
		return nil
	}
	fd, err := pathrs.OpenatInRoot(root, s.Target)
	if err != nil {
		return &Error{Op: "open", Target: display, Err: err}
	}
	defer fd.Close()
	return mountOn("", fd, display, "", s.Propagation, "", "propagation")
}

// bindSource returns the path to bind for source, and what it is. A file
// descriptor's link (/proc/self/fd/N, the console) is replaced by the path
// the descriptor was opened at: its file lies on a mount of the namespace it
// was opened in, and mount(2) refuses to bind from another namespace
// (EINVAL), while the path, looked up here, finds the same file on this
// namespace's copy of that mount. The two are checked to be the same file.
func bindSource(source string) (string, os.FileInfo, error) {
	fi, err := os.Stat(source)
	if err != nil {
		return "", nil, errors.Unwrap(err)
	}
	if !strings.HasPrefix(source, "/proc/self/fd/") {
		return source, fi, nil
	}
	p, err := os.Readlink(source)
	if err != nil {
		return "", nil, errors.Unwrap(err)
	}
	at, err := os.Stat(p)
	if err != nil {
		return "", nil, fmt.Errorf("opened at %s: %w", p, errors.Unwrap(err))
	}
	if !os.SameFile(fi, at) {
		return "", nil, fmt.Errorf("opened at %s, which is now another file: %w", p, unix.ESTALE)
	}
	return p, fi, nil
}

// setAttrs sets read-only, nosuid, nodev and noexec on the mount now at
// target, and on its submounts when flags has MS_REC. mount_setattr(2)
// (Linux 5.12) is the only way to do that to a whole tree at once; a
// remount changes one mount and leaves submounts writable.
func setAttrs(root *os.File, target, display string, flags uintptr, what string) error {
	var attr uint64
	for _, a := range []struct {
		flag uintptr
		attr uint64
	}{
		{unix.MS_RDONLY, unix.MOUNT_ATTR_RDONLY},
		{unix.MS_NOSUID, unix.MOUNT_ATTR_NOSUID},
		{unix.MS_NODEV, unix.MOUNT_ATTR_NODEV},
		{unix.MS_NOEXEC, unix.MOUNT_ATTR_NOEXEC},
	} {
		if flags&a.flag != 0 {
			attr |= a.attr
		}
	}
	if attr == 0 {
		return nil
	}
	// Look the target up again: the handle used to mount refers to the
	// directory underneath the new mount, not to the mount itself.
	top, err := pathrs.OpenatInRoot(root, target)
	if err != nil {
		return fmt.Errorf("open %s: %w", display, err)
	}
	defer top.Close()
	at := uint(unix.AT_EMPTY_PATH)
	if flags&unix.MS_REC != 0 {
		at |= unix.AT_RECURSIVE
	}
	err = unix.MountSetattr(int(top.Fd()), "", at, &unix.MountAttr{Attr_set: attr})
	if errors.Is(err, unix.ENOSYS) {
		// Before Linux 5.12: remount the top mount only.
		remount := unix.MS_BIND | unix.MS_REMOUNT | flags&bindAttrs
		return mount("", fdPath(top), "", remount, "", what)
	}
	if err != nil {
		return &Error{Op: "mount_setattr", Target: display, What: what, Flags: flags, Err: err}
	}
	return nil
}

func mask(root *os.File, target, display string) error {
	h, err := pathrs.OpenatInRoot(root, target)
	if errors.Is(err, unix.ENOENT) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("mask %s: %w", display, err)
	}
	defer h.Close()
	fi, err := h.Stat()
	if err != nil {
		return fmt.Errorf("mask %s: %w", display, err)
	}
	if fi.IsDir() {
		return mountOn("tmpfs", h, display, "tmpfs", unix.MS_RDONLY|unix.MS_NOSUID|unix.MS_NODEV|unix.MS_NOEXEC, "mode=000", "mask")
	}
	return mountOn("/dev/null", h, display, "", unix.MS_BIND, "", "mask")
}

func readonly(root *os.File, target, display string) error {
	h, err := pathrs.OpenatInRoot(root, target)
	if errors.Is(err, unix.ENOENT) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("read-only %s: %w", display, err)
	}
	defer h.Close()
	if err := mountOn(fdPath(h), h, display, "", unix.MS_BIND|unix.MS_REC, "", "read-only bind"); err != nil {
		return err
	}
	return setAttrs(root, target, display, unix.MS_RDONLY|unix.MS_NOSUID|unix.MS_NODEV|unix.MS_NOEXEC|unix.MS_REC, "read-only bind")
}

// mkdirAll creates target and its parents inside root without following a
// symlink out of it, and returns an O_PATH handle to it.
func mkdirAll(root *os.File, target, display string) (*os.File, error) {
	dir, err := pathrs.MkdirAllHandle(root, target, 0o755)
	if err != nil {
		return nil, fmt.Errorf("create mount point %s: %w", display, err)
	}
	return dir, nil
}

// createFile returns an O_PATH handle to the mount point at target inside
// root for a bind of a non-directory, creating an empty file when there is
// none. It never opens an existing file for reading or writing: open(2) of a
// FIFO blocks until a writer comes, and of a device calls its driver. A
// symbolic link (which could lead out of the root) or a device there is
// refused.
func createFile(root *os.File, target, display string) (*os.File, error) {
	var file *os.File
	err := inParent(root, target, display, func(dirfd int, name string) error {
		fd, err := unix.Openat(dirfd, name, unix.O_CREAT|unix.O_EXCL|unix.O_NOFOLLOW|unix.O_RDONLY|unix.O_CLOEXEC, 0o644)
		if errors.Is(err, unix.EEXIST) {
			fd, err = unix.Openat(dirfd, name, unix.O_PATH|unix.O_NOFOLLOW|unix.O_CLOEXEC, 0)
		}
		if err != nil {
			return fmt.Errorf("create mount point %s: %w", display, err)
		}
		file = os.NewFile(uintptr(fd), display)
		var st unix.Stat_t
		if err := unix.Fstat(fd, &st); err != nil {
			return fmt.Errorf("mount point %s: %w", display, err)
		}
		switch st.Mode & unix.S_IFMT {
		case unix.S_IFLNK:
			return fmt.Errorf("mount point %s: %w", display, ErrSymlink)
		case unix.S_IFCHR, unix.S_IFBLK:
			return fmt.Errorf("mount point %s: %w", display, ErrDevice)
		case unix.S_IFDIR:
			return fmt.Errorf("mount point %s for a bind of a file: %w", display, unix.EISDIR)
		}
		return nil
	})
	if err != nil && file != nil {
		file.Close()
		file = nil
	}
	return file, err
}

// inParent runs fn with a handle to target's parent directory inside root,
// created when missing, and target's last component.
func inParent(root *os.File, target, display string, fn func(dirfd int, name string) error) error {
	parent, err := mkdirAll(root, path.Dir(target), filepath.Dir(display))
	if err != nil {
		return err
	}
	defer parent.Close()
	return fn(int(parent.Fd()), path.Base(target))
}

// mountOn mounts on the file or directory that the handle target refers to,
// through its /proc/self/fd link, so that a symlink swapped in after the
// lookup cannot redirect the mount. Errors name display, the real path.
func mountOn(source string, target *os.File, display, fstype string, flags uintptr, data, what string) error {
	if err := unix.Mount(source, fdPath(target), fstype, flags, data); err != nil {
		return &Error{Op: "mount", What: what, Source: source, Target: display, FSType: fstype, Flags: flags, Data: data, Err: err}
	}
	return nil
}

func mount(source, target, fstype string, flags uintptr, data, what string) error {
	if err := unix.Mount(source, target, fstype, flags, data); err != nil {
		return &Error{Op: "mount", What: what, Source: source, Target: target, FSType: fstype, Flags: flags, Data: data, Err: err}
	}
	return nil
}

func fdPath(f *os.File) string {
	return fmt.Sprintf("/proc/self/fd/%d", f.Fd())
}
