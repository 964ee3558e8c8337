package runtime

import (
	"fmt"
	"os"

	"golang.org/x/sys/unix"

	"github.com/containerctl/containerctl/mount"
)

// takeTerminal, in an OCI create's child, makes the container's terminal in
// its own devpts, sends the master to the caller's console socket (at fd
// sockFD) with SCM_RIGHTS and the slave's name as the payload, as runc does,
// and makes the slave its stdio and controlling terminal: the init inherits
// both, and the /dev/console step binds it.
func takeTerminal(r *mount.Root, sockFD int) error {
	sock := os.NewFile(uintptr(sockFD), "console-socket")
	defer sock.Close()
	master, slave, name, err := r.OpenPTY()
	if err != nil {
		return err
	}
	defer master.Close()
	defer slave.Close()
	if err := unix.Sendmsg(sockFD, []byte(name), unix.UnixRights(int(master.Fd())), nil, 0); err != nil {
		return fmt.Errorf("send the terminal to the console socket: %w", err)
	}
	for fd := 0; fd < 3; fd++ {
		if err := unix.Dup3(int(slave.Fd()), fd, 0); err != nil {
			return fmt.Errorf("terminal as fd %d: %w", fd, err)
		}
	}
	// Setsid made us a session leader; the terminal becomes its
	// controlling one.
	if err := unix.IoctlSetInt(0, unix.TIOCSCTTY, 0); err != nil {
		return fmt.Errorf("controlling terminal: %w", err)
	}
	return nil
}
