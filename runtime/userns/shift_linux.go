package userns

import (
	"fmt"
	"io/fs"
	"os"
	"path/filepath"

	"golang.org/x/sys/unix"
)

// Shift moves the owners of the tree at root into r once, as
// systemd-nspawn's --private-users-ownership=chown does: each ID below
// r.Count gains r.Base. The root directory is shifted last, and its owner
// is the record that the tree is shifted: a root owned by r.Base is left
// as it is, and a shift that was cut short is finished by the next. It
// stays on root's filesystem. (POSIX ACLs are not shifted.)
func Shift(root string, r Range) error {
	var top unix.Stat_t
	if err := unix.Lstat(root, &top); err != nil {
		return fmt.Errorf("shift %s: %w", root, err)
	}
	switch {
	case top.Uid == r.Base && top.Gid == r.Base:
		return nil
	case top.Uid != 0:
		return fmt.Errorf("shift %s into %s: it is owned by %d, shifted for another range", root, r, top.Uid)
	}
	err := filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if p == root {
			return nil
		}
		var st unix.Stat_t
		if err := unix.Lstat(p, &st); err != nil {
			return err
		}
		if st.Dev != top.Dev {
			if d.IsDir() {
				return fs.SkipDir
			}
			return nil
		}
		return shiftOne(p, &st, r)
	})
	if err == nil {
		err = shiftOne(root, &top, r)
	}
	if err != nil {
		return fmt.Errorf("shift %s into %s: %w", root, r, err)
	}
	return nil
}

// shiftOne shifts one file's owners, keeping the set-ID bits that chown(2)
// clears.
func shiftOne(p string, st *unix.Stat_t, r Range) error {
	uid, gid := st.Uid, st.Gid
	if uid < r.Count {
		uid += r.Base
	}
	if gid < r.Count {
		gid += r.Base
	}
	if uid == st.Uid && gid == st.Gid {
		return nil
	}
	if err := os.Lchown(p, int(uid), int(gid)); err != nil {
		return err
	}
	if st.Mode&unix.S_IFMT != unix.S_IFLNK && st.Mode&(unix.S_ISUID|unix.S_ISGID) != 0 {
		return unix.Chmod(p, st.Mode&0o7777)
	}
	return nil
}
