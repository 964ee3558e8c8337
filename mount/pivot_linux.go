package mount

import (
	"fmt"

	"golang.org/x/sys/unix"
)

// PivotRoot makes root the root of the calling process's mount namespace and
// detaches the old root, so that no host path is reachable. This is the
// pivot_root(".", ".") recipe of runc and crun: it needs no directory for
// the old root inside the new one.
func PivotRoot(root string) error {
	oldRoot, err := unix.Open("/", unix.O_PATH|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
	if err != nil {
		return fmt.Errorf("open old root: %w", err)
	}
	defer unix.Close(oldRoot)
	newRoot, err := unix.Open(root, unix.O_PATH|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
	if err != nil {
		return fmt.Errorf("open new root %s: %w", root, err)
	}
	defer unix.Close(newRoot)
	if err := unix.Fchdir(newRoot); err != nil {
		return fmt.Errorf("chdir %s: %w", root, err)
	}
	if err := unix.PivotRoot(".", "."); err != nil {
		return &Error{Op: "pivot_root", Target: root, Err: err}
	}
	// The old root is now stacked under the new one, at ".".
	if err := unix.Fchdir(oldRoot); err != nil {
		return fmt.Errorf("chdir to old root: %w", err)
	}
	// Make sure the unmount below cannot propagate to the host.
	if err := mount("", ".", "", unix.MS_SLAVE|unix.MS_REC, "", "make old root slave"); err != nil {
		return err
	}
	if err := unix.Unmount(".", unix.MNT_DETACH); err != nil {
		return &Error{Op: "umount", Target: "old root", Err: err}
	}
	if err := unix.Chdir("/"); err != nil {
		return fmt.Errorf("chdir /: %w", err)
	}
	return nil
}

// FinishRoot, after the pivot, makes the root read-only (root.readonly) and
// gives it the propagation asked for (linux.rootfsPropagation; 0 keeps the
// recursive slave that Prepare made). Only the root mount is made
// read-only: the mounts on it keep their own flags.
func FinishRoot(readonly bool, propagation uintptr) error {
	if readonly {
		err := unix.MountSetattr(unix.AT_FDCWD, "/", 0, &unix.MountAttr{Attr_set: unix.MOUNT_ATTR_RDONLY})
		if err == unix.ENOSYS {
			err = unix.Mount("", "/", "", unix.MS_REMOUNT|unix.MS_BIND|unix.MS_RDONLY, "")
		}
		if err != nil {
			return &Error{Op: "mount", What: "read-only root", Target: "/", Err: err}
		}
	}
	if propagation != 0 {
		if err := mount("", "/", "", propagation, "", "root propagation"); err != nil {
			return err
		}
	}
	return nil
}
