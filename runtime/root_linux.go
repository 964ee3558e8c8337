package runtime

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"

	pathrs "github.com/cyphar/filepath-securejoin/pathrs-lite"
	"golang.org/x/sys/unix"

	"github.com/containerctl/containerctl/mount"
)

// prepareRoot does what the NixOS container unit's preStart did: create the
// root, root/etc (0755) and an empty root/etc/os-release when missing. Paths
// inside the root are resolved inside it (openat2 RESOLVE_IN_ROOT through
// filepath-securejoin), so a link such as root/etc -> /etc cannot make us
// write to the host's /etc. It returns a function that removes what it
// created, for a start that fails.
func prepareRoot(root string, makeParents, etc bool) (_ func() error, retErr error) {
	// What was created, in order, each with how to remove it. Inside the
	// root, removal goes through the same handles that created, never
	// through a path: a path such as ROOT/etc/os-release would follow a
	// link at ROOT/etc out to the host.
	var created []func() error
	undo := func() error {
		var errs []error
		for i := len(created) - 1; i >= 0; i-- {
			if err := created[i](); err != nil && !errors.Is(err, os.ErrNotExist) {
				errs = append(errs, err)
			}
		}
		created = nil
		return errors.Join(errs...)
	}
	removePath := func(p string) func() error { return func() error { return os.Remove(p) } }
	defer func() {
		if retErr != nil {
			_ = undo()
		}
	}()

	if makeParents {
		var missing []string
		for p := filepath.Dir(root); ; p = filepath.Dir(p) {
			if _, err := os.Stat(p); err == nil || p == "/" {
				break
			}
			missing = append(missing, p)
		}
		for i := len(missing) - 1; i >= 0; i-- {
			if err := mkdirParent(missing[i], i == 0); err != nil {
				return nil, err
			}
			created = append(created, removePath(missing[i]))
		}
	}
	switch err := os.Mkdir(root, 0o755); {
	case err == nil:
		created = append(created, removePath(root))
	case !errors.Is(err, os.ErrExist):
		return nil, fmt.Errorf("create root %s: %w", root, err)
	}

	if !etc {
		return undo, nil
	}
	more, err := prepareEtc(root)
	created = append(created, more...)
	if err != nil {
		return nil, err
	}
	return undo, nil
}

// prepareEtc makes root/etc and an empty root/etc/os-release when missing,
// and returns how to remove what it made, in order.
func prepareEtc(root string) (created []func() error, _ error) {
	rootDir, err := os.OpenFile(root, unix.O_PATH|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
	if err != nil {
		return nil, fmt.Errorf("open root %s: %w", root, err)
	}
	defer rootDir.Close()

	etcPath := filepath.Join(root, "etc")
	switch err := unix.Mkdirat(int(rootDir.Fd()), "etc", 0o755); {
	case err == nil:
		created = append(created, func() error {
			return inRoot(root, "", func(dirfd int) error { return unix.Unlinkat(dirfd, "etc", unix.AT_REMOVEDIR) })
		})
	case !errors.Is(err, unix.EEXIST):
		return nil, fmt.Errorf("create %s: %w", etcPath, err)
	}
	etc, err := pathrs.OpenatInRoot(rootDir, "etc")
	if err != nil {
		return created, fmt.Errorf("open %s inside the root: %w", etcPath, err)
	}
	defer etc.Close()
	if fi, err := etc.Stat(); err != nil {
		return created, fmt.Errorf("stat %s: %w", etcPath, err)
	} else if !fi.IsDir() {
		return created, fmt.Errorf("%s: not a directory", etcPath)
	}

	// O_EXCL|O_NOFOLLOW: an existing os-release, even a dangling link, is
	// left alone and never written through.
	osRelease := filepath.Join(etcPath, "os-release")
	fd, err := unix.Openat(int(etc.Fd()), "os-release", unix.O_CREAT|unix.O_EXCL|unix.O_NOFOLLOW|unix.O_WRONLY|unix.O_CLOEXEC, 0o644)
	switch {
	case err == nil:
		unix.Close(fd)
		created = append(created, func() error {
			return inRoot(root, "etc", func(dirfd int) error { return unix.Unlinkat(dirfd, "os-release", 0) })
		})
	case !errors.Is(err, unix.EEXIST):
		return created, fmt.Errorf("create %s: %w", osRelease, err)
	}
	return created, nil
}

// parentMark marks the directory of roots that containerctl made (as the
// default /var/lib/containers), so that later runs know its mode is
// containerctl's to keep, not a user's choice.
const parentMark = "trusted.containerctl.parent"

// mkdirParent makes a missing parent of a root. The roots' own directory
// is 0700, as nspawn keeps /var/lib/machines: a guest's root may plant a
// setuid binary in its root, which any host user could run through a
// directory they can traverse.
func mkdirParent(dir string, rootsDir bool) error {
	mode := os.FileMode(0o755)
	if rootsDir {
		mode = 0o700
	}
	if err := os.Mkdir(dir, mode); err != nil {
		return fmt.Errorf("create %s: %w", dir, err)
	}
	if !rootsDir {
		return nil
	}
	// Mkdir's mode is cut by the umask; set it as meant.
	if err := os.Chmod(dir, mode); err != nil {
		return fmt.Errorf("create %s: %w", dir, err)
	}
	_ = unix.Setxattr(dir, parentMark, []byte("1"), 0)
	return nil
}

// checkRootsDir keeps the directory of default roots closed: one that
// containerctl made is set back to 0700; one that a user made is left as
// it is, and a mode that lets host users in is reported.
func checkRootsDir(dir string) (warning string, err error) {
	fi, err := os.Stat(dir)
	if err != nil || fi.Mode().Perm()&0o077 == 0 {
		return "", nil
	}
	if _, err := unix.Getxattr(dir, parentMark, nil); err == nil {
		if err := os.Chmod(dir, 0o700); err != nil {
			return "", fmt.Errorf("restrict %s to 0700: %w", dir, err)
		}
		return "", nil
	}
	return fmt.Sprintf("%s is mode %#o: host users can run setuid files a guest plants in its root; chmod 0700 %s", dir, fi.Mode().Perm(), dir), nil
}

// checkRootReach warns when host users can reach a root that is not in the
// default roots directory: every directory above it lets others through,
// so a setuid file the guest plants in its root runs for any host user.
func checkRootReach(root string) string {
	if !othersReach(filepath.Dir(root)) {
		return ""
	}
	return fmt.Sprintf("host users can reach %s: a setuid file its guest plants runs for any of them; keep it in a directory of mode 0700", root)
}

// othersReach says whether every directory from dir up lets others through.
func othersReach(dir string) bool {
	for ; ; dir = filepath.Dir(dir) {
		fi, err := os.Stat(dir)
		if err != nil || fi.Mode().Perm()&0o001 == 0 {
			return false
		}
		if dir == "/" {
			return true
		}
	}
}

// bindReachWarnings names, for a container with private users, each
// writable bind with the idmap option that host users can reach: through
// the idmap the guest's root writes as the host's root, so a setuid file
// it plants there is the host root's, and runs as root for any of them. A
// writable bind without the option is not idmapped (what the guest's root
// writes there is the range's root's). The guest's own root is warned of
// by checkRootReach.
func bindReachWarnings(steps []mount.Step) []string {
	var out []string
	for _, st := range steps {
		if st.Kind != mount.Bind || st.Flags&unix.MS_RDONLY != 0 || !st.Idmap {
			continue
		}
		dir := st.Source
		if fi, err := os.Stat(dir); err != nil || !fi.IsDir() {
			dir = filepath.Dir(dir)
		}
		if othersReach(dir) {
			out = append(out, fmt.Sprintf("host users can reach bind source %s: idmapped, a setuid file the guest's root plants there is the host root's and runs as root for any of them; keep it in a directory of mode 0700 or bind it read-only", st.Source))
		}
	}
	return out
}

// inRoot runs fn with a handle to the directory sub of root, resolved inside
// root as prepareRoot resolved it.
func inRoot(root, sub string, fn func(dirfd int) error) error {
	dir, err := os.OpenFile(root, unix.O_PATH|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
	if err != nil {
		return err
	}
	defer dir.Close()
	if sub != "" {
		d, err := pathrs.OpenatInRoot(dir, sub)
		if err != nil {
			return err
		}
		defer d.Close()
		dir = d
	}
	return fn(int(dir.Fd()))
}
