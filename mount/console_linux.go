package mount

import (
	"fmt"
	"os"
	"strconv"

	"golang.org/x/sys/unix"
)

// OpenPTY makes a pseudo-terminal in the container's own devpts, mounted
// at ROOT/dev/pts by the steps before: the master, its slave (opened
// through the master, TIOCGPTPEER, never by a path), and the slave's name
// inside the container. runc makes an OCI terminal so, and the container
// then sees its own /dev/pts/N.
func (r *Root) OpenPTY() (master, slave *os.File, name string, err error) {
	fd, err := unix.Openat2(int(r.dir.Fd()), "dev/pts/ptmx", &unix.OpenHow{
		Flags:   unix.O_RDWR | unix.O_NOCTTY | unix.O_CLOEXEC,
		Resolve: unix.RESOLVE_IN_ROOT | unix.RESOLVE_NO_SYMLINKS,
	})
	if err != nil {
		return nil, nil, "", fmt.Errorf("open %s/dev/pts/ptmx: %w", r.path, err)
	}
	master = os.NewFile(uintptr(fd), "/dev/pts/ptmx")
	fail := func(what string, err error) (*os.File, *os.File, string, error) {
		master.Close()
		return nil, nil, "", fmt.Errorf("%s of the container's terminal: %w", what, err)
	}
	if err := unix.IoctlSetPointerInt(fd, unix.TIOCSPTLCK, 0); err != nil {
		return fail("unlock", err)
	}
	n, err := unix.IoctlGetUint32(fd, unix.TIOCGPTN)
	if err != nil {
		return fail("number", err)
	}
	// TIOCGPTPEER's argument is the slave's open flags.
	sfd, _, errno := unix.Syscall(unix.SYS_IOCTL, uintptr(fd), unix.TIOCGPTPEER, uintptr(unix.O_RDWR|unix.O_NOCTTY|unix.O_CLOEXEC))
	if errno != 0 {
		return fail("open the slave", errno)
	}
	name = "/dev/pts/" + strconv.FormatUint(uint64(n), 10)
	return master, os.NewFile(sfd, name), name, nil
}
