package mount

import (
	"fmt"
	"os"
	"path/filepath"

	"golang.org/x/sys/unix"
)

// PrepareEphemeral readies root as Prepare does, except that the container
// sees an overlay of it whose upper layer is a tmpfs of its own (nspawn's
// --ephemeral, NixOS's ephemeral option): what the container writes goes to
// memory, and the overlay and its tmpfs exist only in the container's mount
// namespace, so they are gone however the container ends. It must run in a
// new mount namespace.
func PrepareEphemeral(root string) (*Root, error) {
	if err := mount("", "/", "", unix.MS_SLAVE|unix.MS_REC, "", "make host mounts slave"); err != nil {
		return nil, err
	}
	// The lower layer is the root directory itself, held open before the
	// tmpfs covers it; the overlay's options name every layer through
	// /proc/self/fd, so a root path with ',' or ':' cannot break them.
	lower, err := os.OpenFile(root, unix.O_PATH|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
	if err != nil {
		return nil, &Error{Op: "open", Target: root, Err: err}
	}
	defer lower.Close()
	if err := mount("tmpfs", root, "tmpfs", 0, "mode=0755", "mount the ephemeral layer's tmpfs"); err != nil {
		return nil, err
	}
	var layers [2]*os.File
	for i, name := range []string{"upper", "work"} {
		dir := filepath.Join(root, name)
		if err := os.Mkdir(dir, 0o755); err != nil {
			return nil, &Error{Op: "mkdir", Target: dir, Err: err}
		}
		if layers[i], err = os.OpenFile(dir, unix.O_PATH|unix.O_DIRECTORY|unix.O_CLOEXEC, 0); err != nil {
			return nil, &Error{Op: "open", Target: dir, Err: err}
		}
		defer layers[i].Close()
	}
	data := fmt.Sprintf("lowerdir=%s,upperdir=%s,workdir=%s", fdPath(lower), fdPath(layers[0]), fdPath(layers[1]))
	if err := mount("overlay", root, "overlay", 0, data, "mount the ephemeral overlay"); err != nil {
		return nil, err
	}
	dir, err := os.OpenFile(root, unix.O_PATH|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
	if err != nil {
		return nil, &Error{Op: "open", Target: root, Err: err}
	}
	// Nothing Apply creates reaches the root on disk: the overlay's upper
	// layer takes it, so there is nothing to remove after a failed start.
	return &Root{path: root, dir: dir, ephemeral: true}, nil
}
