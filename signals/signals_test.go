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

func TestParse(t *testing.T) {
	for _, tt := range []struct {
		in   string
		want unix.Signal
		ok   bool
	}{
		{"SIGRTMIN+3", Halt, true},
		{"rtmin+3", Halt, true},
		{"RTMIN", 34, true},
		{"TERM", unix.SIGTERM, true},
		{"SIGKILL", unix.SIGKILL, true},
		{"15", unix.SIGTERM, true},
		{"RTMIN+40", 0, false},
		{"RTMIN3", 0, false},
		{"BOGUS", 0, false},
		{"0", 0, false},
	} {
		got, err := Parse(tt.in)
		if (err == nil) != tt.ok || got != tt.want {
			t.Errorf("Parse(%q) = %v, %v, want %v, ok=%v", tt.in, got, err, tt.want, tt.ok)
		}
	}
}
