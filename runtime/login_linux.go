package runtime

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"

	"golang.org/x/sys/unix"
)

// loginPrograms are where a guest keeps login(1): a system's usual places,
// and NixOS's system profile.
var loginPrograms = []string{
	"/usr/bin/login", "/bin/login", "/usr/sbin/login", "/sbin/login",
	"/run/current-system/sw/bin/login",
}

// LoginCommand is what `containerctl login` runs, on a pseudo-terminal, in
// the running container name, as machinectl login and nixos-container
// root-login give: the guest's own login(1) for root (-f: root needs no
// password to log itself in), or, where the guest has none, root's shell
// from its /etc/passwd as a login shell. Found through the init's root,
// every link resolved inside it.
func LoginCommand(stateDir, name string) ([]string, error) {
	st, err := Load(stateDir, name)
	if err != nil {
		return nil, err
	}
	root, err := os.OpenFile(filepath.Join("/proc", strconv.Itoa(st.PID), "root"), unix.O_PATH|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
	if err != nil {
		return nil, fmt.Errorf("open the container's root: %w", err)
	}
	defer root.Close()
	for _, p := range loginPrograms {
		if executableInRoot(root, p) {
			return []string{p, "-f", "root"}, nil
		}
	}
	u, err := containerUser(st.PID, "root")
	if err != nil {
		return nil, err
	}
	for _, sh := range []string{u.Shell, "/bin/sh"} {
		if sh != "" && executableInRoot(root, sh) {
			return []string{sh, "-l"}, nil
		}
	}
	return nil, errors.New("login: the container has no login(1) and no shell for root")
}

// executableInRoot reports whether p is an executable regular file of the
// container's, resolved inside its root.
func executableInRoot(root *os.File, p string) bool {
	fd, err := unix.Openat2(int(root.Fd()), p, &unix.OpenHow{
		Flags:   unix.O_PATH | unix.O_CLOEXEC,
		Resolve: unix.RESOLVE_IN_ROOT | unix.RESOLVE_NO_MAGICLINKS,
	})
	if err != nil {
		return false
	}
	defer unix.Close(fd)
	var st unix.Stat_t
	return unix.Fstat(fd, &st) == nil && st.Mode&unix.S_IFMT == unix.S_IFREG && st.Mode&0o111 != 0
}
