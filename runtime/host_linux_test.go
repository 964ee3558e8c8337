package runtime

import (
	"net"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/sirupsen/logrus"
	"golang.org/x/sys/unix"
)

// TestNotifierForwardsBeforeReady: with --notify-ready, the guest's READY=1
// reaches the supervisor's own service manager before the supervisor learns
// that the guest is ready, on which it may exec into the monitor: a forward
// still to be sent then would never be.
func TestNotifierForwardsBeforeReady(t *testing.T) {
	dir := t.TempDir()
	manager, err := net.ListenUnixgram("unixgram", &net.UnixAddr{Name: filepath.Join(dir, "manager"), Net: "unixgram"})
	if err != nil {
		t.Fatal(err)
	}
	defer manager.Close()
	t.Setenv("NOTIFY_SOCKET", filepath.Join(dir, "manager"))
	// A log that takes its time, as a journal under load does: the
	// notifier logs the guest's readiness too.
	log := logrus.New()
	log.SetOutput(slowWriter{})
	n, err := listenNotify(filepath.Join(dir, "notify"), true, filepath.Join(dir, "booting"), logrus.NewEntry(log))
	if err != nil {
		t.Fatal(err)
	}
	defer n.close()
	guest, err := net.DialUnix("unixgram", nil, &net.UnixAddr{Name: filepath.Join(dir, "notify"), Net: "unixgram"})
	if err != nil {
		t.Fatal(err)
	}
	defer guest.Close()
	if _, err := guest.Write([]byte("STATUS=Startup finished\nREADY=1")); err != nil {
		t.Fatal(err)
	}
	select {
	case <-n.ready:
	case <-time.After(5 * time.Second):
		t.Fatal("READY=1 from the guest not seen within 5s")
	}
	// Already there: read without waiting.
	rc, err := manager.SyscallConn()
	if err != nil {
		t.Fatal(err)
	}
	buf := make([]byte, 4096)
	k := 0
	var rerr error
	if err := rc.Read(func(fd uintptr) bool {
		k, _, rerr = unix.Recvfrom(int(fd), buf, unix.MSG_DONTWAIT)
		return true
	}); err != nil {
		t.Fatal(err)
	}
	if k < 0 {
		k = 0
	}
	if rerr != nil || !strings.Contains(string(buf[:k]), "READY=1") {
		t.Fatalf("when ready was closed, the service manager had %q (%v); want READY=1 forwarded first", buf[:k], rerr)
	}
}

type slowWriter struct{}

func (slowWriter) Write(p []byte) (int, error) {
	time.Sleep(5 * time.Millisecond)
	return len(p), nil
}
