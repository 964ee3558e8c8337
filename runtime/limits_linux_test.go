package runtime

import (
	"os"
	"testing"

	"golang.org/x/sys/unix"
)

// TestRootInotifyInstances: three instances this process makes are
// counted, and counted no more once closed. Other processes may open or
// close theirs meanwhile, so a mismatch is measured again a few times.
func TestRootInotifyInstances(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("counts root's processes only: run as root")
	}
	for try := 0; ; try++ {
		before := rootInotifyInstances()
		var fds []int
		for range 3 {
			fd, err := unix.InotifyInit1(unix.IN_CLOEXEC)
			if err != nil {
				t.Fatal(err)
			}
			fds = append(fds, fd)
		}
		during := rootInotifyInstances()
		for _, fd := range fds {
			unix.Close(fd)
		}
		after := rootInotifyInstances()
		if during-before == 3 && during-after == 3 {
			return
		}
		if try == 4 {
			t.Fatalf("rootInotifyInstances() = %d, %d with three more open, %d once closed; want the three counted", before, during, after)
		}
	}
}
