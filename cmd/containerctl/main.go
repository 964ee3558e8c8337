// Command containerctl runs whole systems in lightweight containers: the
// engine behind NixOS declarative containers, in place of systemd-nspawn.
package main

import (
	"errors"
	"fmt"
	"os"

	"github.com/sirupsen/logrus"
	"golang.org/x/sys/unix"

	"github.com/containerctl/containerctl/runtime"
)

// startFDs counts the fds from 3 on that containerctl was started with:
// --preserve-fds and socket activation may pass on only these. An fd that
// crossed exec(2) has no FD_CLOEXEC; one of our own always has it (the Go
// runtime opens its cgroup CPU limit files before any of our code runs,
// and in a gap the caller left, they take fds 3 and 4).
var startFDs = countStartFDs()

func countStartFDs() int {
	n := 0
	for fd := 3; ; fd++ {
		flags, err := unix.FcntlInt(uintptr(fd), unix.F_GETFD, 0)
		if err != nil || flags&unix.FD_CLOEXEC != 0 {
			return n
		}
		n++
	}
}

func main() {
	// The init child is dispatched before any flag parsing: it runs in the
	// container's new namespaces and must not touch anything else first.
	if len(os.Args) > 1 && os.Args[1] == runtime.InitCommand {
		if err := runtime.Init(); err != nil {
			// The supervisor reports it with context; this is a trace.
			fmt.Fprintln(os.Stderr, "containerctl init:", err)
		}
		os.Exit(1)
	}
	if len(os.Args) > 1 && os.Args[1] == runtime.ReapCommand {
		if err := runtime.Reap(os.Args[2:]); err != nil {
			fmt.Fprintln(os.Stderr, "containerctl reap:", err)
			os.Exit(1)
		}
		os.Exit(0)
	}
	if isOCI(os.Args[0]) {
		if err := runOCI(os.Args[1:]); err != nil {
			var exit exitStatus
			if errors.As(err, &exit) {
				os.Exit(int(exit))
			}
			logError(err)
			if logToFile {
				b, _ := textFormatter{}.Format(&logrus.Entry{Logger: log, Level: logrus.ErrorLevel, Message: err.Error(), Data: logrus.Fields{}})
				os.Stderr.Write(b)
			}
			os.Exit(1)
		}
		os.Exit(0)
	}
	if err := run(os.Args[1:]); err != nil {
		var exit exitStatus
		if errors.As(err, &exit) {
			os.Exit(int(exit))
		}
		logError(err)
		os.Exit(1)
	}
}

// exitStatus is returned by `run` to exit with the container's status.
type exitStatus int

func (e exitStatus) Error() string { return fmt.Sprintf("exit status %d", int(e)) }
