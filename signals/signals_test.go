package signals

import (
	"syscall"
	"testing"

	"golang.org/x/sys/unix"
)

func TestHaltIsRTMINPlus3(t *testing.T) {
	// systemd's halt request; glibc's SIGRTMIN is 34.
	if Halt != 37 {
		t.Errorf("Halt = %d, want 37", Halt)
	}
}

func TestName(t *testing.T) {
	for _, tt := range []struct {
		sig  unix.Signal
		want string
	}{
		{Halt, "SIGRTMIN+3"},
		{34, "SIGRTMIN"},
		{48, "SIGRTMIN+14"},
		{unix.SIGKILL, "SIGKILL"},
		{unix.SIGTERM, "SIGTERM"},
	} {
		if got := Name(tt.sig); got != tt.want {
			t.Errorf("Name(%d) = %q, want %q", tt.sig, got, tt.want)
		}
	}
}

func TestExitStatus(t *testing.T) {
	for _, tt := range []struct {
		ws   syscall.WaitStatus
		want int
	}{
		{0, 0},
		{7 << 8, 7},                     // exited with 7
		{syscall.WaitStatus(9), 137},    // killed by SIGKILL
		{syscall.WaitStatus(15), 143},   // killed by SIGTERM
		{syscall.WaitStatus(0x86), 134}, // SIGABRT with core dump
	} {
		if got := ExitStatus(tt.ws); got != tt.want {
			t.Errorf("ExitStatus(%#x) = %d, want %d", uint32(tt.ws), got, tt.want)
		}
	}
}
