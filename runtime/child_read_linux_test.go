package runtime

import (
	"errors"
	"os"
	"testing"

	"golang.org/x/sys/unix"
)

// TestChildReadAfterReset: a child that sends its error and exits with a
// message of ours unread resets the socket; a SOCK_SEQPACKET read reports
// the reset before the queued messages, and read must still pass the
// child's error on first (a CI run once reported "read sync: connection
// reset by peer" where the child had said why it failed).
func TestChildReadAfterReset(t *testing.T) {
	fds, err := unix.Socketpair(unix.AF_UNIX, unix.SOCK_SEQPACKET|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		t.Fatal(err)
	}
	ours, theirs := os.NewFile(uintptr(fds[0]), "supervisor"), os.NewFile(uintptr(fds[1]), "child")
	defer ours.Close()
	// Ours, which the child never reads.
	if err := writeMessage(ours, message{Type: msgConfig}); err != nil {
		t.Fatal(err)
	}
	if err := writeMessage(theirs, message{Type: msgError, Error: &InitError{Message: "mount tmpfs on /mnt: size=abc", Kind: kindMount}}); err != nil {
		t.Fatal(err)
	}
	theirs.Close() // with our message unread: ECONNRESET on ours
	c := &child{sock: ours, msgs: make(chan received, 4)}
	go c.read()
	first, ok := <-c.msgs
	if !ok || first.err != nil || first.m.Type != msgError {
		t.Fatalf("first received = %+v, %v; want the child's error message", first, ok)
	}
	second, ok := <-c.msgs
	if !ok || !errors.Is(second.err, unix.ECONNRESET) {
		t.Errorf("second received = %+v, %v; want the reset", second, ok)
	}
	if _, ok := <-c.msgs; ok {
		t.Errorf("msgs not closed after the reset")
	}
}
