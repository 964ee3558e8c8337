package network

import (
	"fmt"
	"os"

	"golang.org/x/sys/unix"
)

// CheckNamespace checks that path is a network namespace (a bind of one,
// as /run/netns/NAME, or /proc/PID/ns/net) that the container can join.
func CheckNamespace(path string) error {
	fd, err := unix.Open(path, unix.O_RDONLY|unix.O_CLOEXEC, 0)
	if err != nil {
		return fmt.Errorf("network namespace %s: %w", path, err)
	}
	defer unix.Close(fd)
	// NS_GET_NSTYPE (linux/nsfs.h) answers only on an nsfs file.
	kind, err := unix.IoctlRetInt(fd, unix.NS_GET_NSTYPE)
	if err != nil || kind != unix.CLONE_NEWNET {
		return fmt.Errorf("%w: network namespace %s: not a network namespace", ErrInvalid, path)
	}
	return nil
}

// IsHostNamespace says whether the network namespace at path is the one
// this process runs in: the host's.
func IsHostNamespace(path string) (bool, error) {
	var ns, self unix.Stat_t
	if err := unix.Stat(path, &ns); err != nil {
		return false, fmt.Errorf("network namespace %s: %w", path, err)
	}
	if err := unix.Stat("/proc/self/ns/net", &self); err != nil {
		return false, fmt.Errorf("network namespace of containerctl: %w", err)
	}
	return ns.Dev == self.Dev && ns.Ino == self.Ino, nil
}

// Join moves the calling thread into the network namespace at path; the
// init child calls it on its locked thread, from which it execs the init.
func Join(path string) error {
	f, err := os.Open(path)
	if err != nil {
		return fmt.Errorf("network namespace %s: %w", path, err)
	}
	defer f.Close()
	if err := unix.Setns(int(f.Fd()), unix.CLONE_NEWNET); err != nil {
		return fmt.Errorf("join network namespace %s: %w", path, err)
	}
	return nil
}
