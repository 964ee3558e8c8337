// Package signals holds the signals containerctl sends and the arithmetic
// of exit statuses.
package signals

import (
	"fmt"
	"strconv"
	"strings"
	"syscall"

	"golang.org/x/sys/unix"
)

// rtmin is SIGRTMIN as the C library numbers it. The kernel's first
// real-time signal is 32, but glibc and musl reserve 32 and 33 for
// themselves, so the SIGRTMIN that systemd means is 34.
const rtmin = 34

// Halt is SIGRTMIN+3, which systemd as PID 1 takes as a request to halt
// (systemd(1), "SIGRTMIN+3: Halts the machine"). Any other init that wants
// a clean stop must handle it; an init that does not is killed after the
// stop timeout.
const Halt = unix.Signal(rtmin + 3)

// RebootStatus is the exit status of a container whose guest asked for a
// reboot, as systemd-nspawn's: a unit restarts it with
// RestartForceExitStatus=133.
const RebootStatus = 133

// ExitStatus turns a wait status into a shell-style exit status: the exit
// code, or 128+N when the process was killed by signal N.
func ExitStatus(ws syscall.WaitStatus) int {
	if ws.Signaled() {
		return 128 + int(ws.Signal())
	}
	return ws.ExitStatus()
}

// Name is the name of a signal as the user knows it ("SIGRTMIN+3",
// "SIGKILL").
func Name(sig unix.Signal) string {
	if sig >= rtmin && sig <= unix.Signal(64) {
		if sig == rtmin {
			return "SIGRTMIN"
		}
		return "SIGRTMIN+" + strconv.Itoa(int(sig-rtmin))
	}
	if n := unix.SignalName(sig); n != "" {
		return n
	}
	return "signal " + strconv.Itoa(int(sig))
}

// Parse reads a signal as systemd-nspawn's --kill-signal takes it: a name
// with or without "SIG" ("TERM", "SIGRTMIN+3"), or a number.
func Parse(s string) (unix.Signal, error) {
	if n, err := strconv.Atoi(s); err == nil && n > 0 && n <= 64 {
		return unix.Signal(n), nil
	}
	name := strings.ToUpper(s)
	if !strings.HasPrefix(name, "SIG") {
		name = "SIG" + name
	}
	if rest, ok := strings.CutPrefix(name, "SIGRTMIN"); ok {
		off := 0
		if rest != "" {
			n, err := strconv.Atoi(strings.TrimPrefix(rest, "+"))
			if err != nil || !strings.HasPrefix(rest, "+") || n < 0 || rtmin+n > 64 {
				return 0, fmt.Errorf("unknown signal %q", s)
			}
			off = n
		}
		return unix.Signal(rtmin + off), nil
	}
	if sig := unix.SignalNum(name); sig != 0 {
		return sig, nil
	}
	return 0, fmt.Errorf("unknown signal %q", s)
}

// Stops reports whether sig stops or continues a process rather than
// asking it to do anything: as a halt signal it would only make every halt
// wait out its timeout.
func Stops(sig unix.Signal) bool {
	switch sig {
	case unix.SIGSTOP, unix.SIGTSTP, unix.SIGTTIN, unix.SIGTTOU, unix.SIGCONT:
		return true
	}
	return false
}
