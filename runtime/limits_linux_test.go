package runtime

import (
	"os"
	"strconv"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// TestInotifyInstances: the inotify instances this process makes are
// counted in its fd table, and no longer once closed; and the scan of
// root's processes counts at least these (others come and go meanwhile).
func TestInotifyInstances(t *testing.T) {
	proc, err := os.Open("/proc")
	if err != nil {
		t.Fatal(err)
	}
	defer proc.Close()
	self := strconv.Itoa(os.Getpid())
	buf := make([]byte, len(inotifyLink)+1)
	count := func() int { return inotifyInstances(int(proc.Fd()), self, buf) }
	before := count()
	var fds []int
	for range 3 {
		fd, err := unix.InotifyInit1(unix.IN_CLOEXEC)
		if err != nil {
			t.Fatal(err)
		}
		fds = append(fds, fd)
	}
	during := count()
	if os.Geteuid() == 0 {
		if all, complete := rootInotifyInstances(time.Now().Add(time.Minute)); all < during || !complete {
			t.Errorf("rootInotifyInstances() = %d, %v, want all of them and at least this process's own %d", all, complete, during)
		}
	}
	// Past its deadline the scan stops before the first process.
	if n, complete := rootInotifyInstances(time.Now().Add(-time.Second)); n != 0 || complete {
		t.Errorf("rootInotifyInstances(past deadline) = %d, %v, want 0, false", n, complete)
	}
	for _, fd := range fds {
		unix.Close(fd)
	}
	if after := count(); during-before != 3 || during-after != 3 {
		t.Errorf("inotify instances of this process: %d, %d with three more open, %d once closed; want the three counted", before, during, after)
	}
}
