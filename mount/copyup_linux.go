package mount

import (
	"fmt"
	"io"
	"os"
	"strings"

	"golang.org/x/sys/unix"
)

// copyUp copies the contents of the directory src into dst, both directory
// fds: for a tmpfs with "tmpcopyup" (podman's --tmpfs), what the new tmpfs
// covers. src is the root's own directory, which the guest's image decides:
// nothing in it is followed (links are copied as links, every open is
// O_NOFOLLOW and relative to its directory), and owners, modes and times
// are kept.
func copyUp(src, dst int, display string) error {
	d, err := unix.Openat(src, ".", unix.O_RDONLY|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
	if err != nil {
		return fmt.Errorf("tmpcopyup %s: %w", display, err)
	}
	dir := os.NewFile(uintptr(d), display)
	names, err := dir.Readdirnames(-1)
	dir.Close()
	if err != nil {
		return fmt.Errorf("tmpcopyup %s: %w", display, err)
	}
	for _, name := range names {
		if err := copyEntry(src, dst, name, display+"/"+name); err != nil {
			return err
		}
	}
	return nil
}

func copyEntry(src, dst int, name, display string) error {
	fail := func(op string, err error) error { return fmt.Errorf("tmpcopyup %s: %s: %w", display, op, err) }
	var st unix.Stat_t
	if err := unix.Fstatat(src, name, &st, unix.AT_SYMLINK_NOFOLLOW); err != nil {
		return fail("stat", err)
	}
	mode := st.Mode & 0o7777
	switch st.Mode & unix.S_IFMT {
	case unix.S_IFDIR:
		if err := unix.Mkdirat(dst, name, 0o700); err != nil {
			return fail("mkdir", err)
		}
		sfd, err := unix.Openat(src, name, unix.O_PATH|unix.O_DIRECTORY|unix.O_NOFOLLOW|unix.O_CLOEXEC, 0)
		if err != nil {
			return fail("open", err)
		}
		defer unix.Close(sfd)
		dfd, err := unix.Openat(dst, name, unix.O_PATH|unix.O_DIRECTORY|unix.O_NOFOLLOW|unix.O_CLOEXEC, 0)
		if err != nil {
			return fail("open", err)
		}
		defer unix.Close(dfd)
		if err := copyUp(sfd, dfd, display); err != nil {
			return err
		}
	case unix.S_IFREG:
		in, err := unix.Openat(src, name, unix.O_RDONLY|unix.O_NOFOLLOW|unix.O_NONBLOCK|unix.O_CLOEXEC, 0)
		if err != nil {
			return fail("open", err)
		}
		r := os.NewFile(uintptr(in), display)
		defer r.Close()
		out, err := unix.Openat(dst, name, unix.O_WRONLY|unix.O_CREAT|unix.O_EXCL|unix.O_NOFOLLOW|unix.O_CLOEXEC, 0o600)
		if err != nil {
			return fail("create", err)
		}
		w := os.NewFile(uintptr(out), display)
		_, err = io.Copy(w, r)
		if cerr := w.Close(); err == nil {
			err = cerr
		}
		if err != nil {
			return fail("copy", err)
		}
	case unix.S_IFLNK:
		buf := make([]byte, unix.PathMax)
		n, err := unix.Readlinkat(src, name, buf)
		if err != nil {
			return fail("readlink", err)
		}
		if err := unix.Symlinkat(string(buf[:n]), dst, name); err != nil {
			return fail("symlink", err)
		}
		if err := unix.Fchownat(dst, name, int(st.Uid), int(st.Gid), unix.AT_SYMLINK_NOFOLLOW); err != nil {
			return fail("chown", err)
		}
		return nil
	case unix.S_IFIFO, unix.S_IFCHR, unix.S_IFBLK:
		if err := unix.Mknodat(dst, name, st.Mode&unix.S_IFMT|0o600, int(st.Rdev)); err != nil {
			return fail("mknod", err)
		}
	default:
		return nil // a socket: nothing to copy
	}
	// Owner before mode: a chown clears the set-id bits.
	if err := unix.Fchownat(dst, name, int(st.Uid), int(st.Gid), unix.AT_SYMLINK_NOFOLLOW); err != nil {
		return fail("chown", err)
	}
	if err := unix.Fchmodat(dst, name, mode, 0); err != nil {
		return fail("chmod", err)
	}
	ts := []unix.Timespec{st.Atim, st.Mtim}
	if err := unix.UtimesNanoAt(dst, name, ts, unix.AT_SYMLINK_NOFOLLOW); err != nil {
		return fail("set times", err)
	}
	return nil
}

// copyUpRoot gives the new tmpfs's root the covered directory's owner and
// mode, unless the mount's options set them.
func copyUpRoot(src, dst int, data, display string) error {
	var st unix.Stat_t
	if err := unix.Fstat(src, &st); err != nil {
		return fmt.Errorf("tmpcopyup %s: %w", display, err)
	}
	has := func(k string) bool {
		for _, o := range strings.Split(data, ",") {
			if strings.HasPrefix(o, k+"=") {
				return true
			}
		}
		return false
	}
	path := fmt.Sprintf("/proc/self/fd/%d", dst)
	if !has("uid") && !has("gid") {
		if err := unix.Fchownat(dst, "", int(st.Uid), int(st.Gid), unix.AT_EMPTY_PATH); err != nil {
			return fmt.Errorf("tmpcopyup %s: chown: %w", display, err)
		}
	}
	if !has("mode") {
		if err := unix.Chmod(path, st.Mode&0o7777); err != nil {
			return fmt.Errorf("tmpcopyup %s: chmod: %w", display, err)
		}
	}
	return nil
}
