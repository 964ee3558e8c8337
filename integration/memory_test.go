package integration

import (
	"bufio"
	"fmt"
	"os"
	"strconv"
	"strings"
	"testing"
	"time"
)

// TestSupervisorDropsStartImage: once the init runs, the supervisor maps
// again only the pages of its binary that watching the container touches,
// not the near whole image that its start mapped (code and read-only
// data: what every supervisor would otherwise hold in its resident set).
// Checked from the host in /proc/PID/smaps, against the mappings' size.
func TestSupervisorDropsStartImage(t *testing.T) {
	requireRoot(t)
	fx := newFixture(t)
	c := fx.start(t, runOpts{flags: []string{"--console=pipe"}})
	c.ready()
	pid := c.cmd.Process.Pid
	var size, rss int
	deadline := time.Now().Add(5 * time.Second)
	for {
		size, rss = imageResidency(t, pid)
		if size == 0 {
			t.Fatalf("supervisor %d: no read-only mapping of its binary in smaps", pid)
		}
		if 2*rss < size || time.Now().After(deadline) {
			break
		}
		time.Sleep(50 * time.Millisecond)
	}
	if 2*rss >= size {
		t.Errorf("supervisor %d keeps %d of its binary's %d KiB of code and read-only data resident; want less than half", pid, rss, size)
	}
	t.Logf("supervisor %d: %d of %d KiB of its image resident", pid, rss, size)
}

// imageResidency sums, over the non-writable mappings of pid's executable,
// their size and their resident pages, in KiB.
func imageResidency(t *testing.T, pid int) (size, rss int) {
	t.Helper()
	exe, err := os.Readlink(fmt.Sprintf("/proc/%d/exe", pid))
	if err != nil {
		t.Fatal(err)
	}
	f, err := os.Open(fmt.Sprintf("/proc/%d/smaps", pid))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	mine := false
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		fields := strings.Fields(sc.Text())
		switch {
		case len(fields) >= 6 && strings.Contains(fields[0], "-") && len(fields[1]) == 4:
			mine = fields[5] == exe && fields[1][1] != 'w'
		case mine && len(fields) == 3 && (fields[0] == "Size:" || fields[0] == "Rss:"):
			n, err := strconv.Atoi(fields[1])
			if err != nil {
				t.Fatalf("smaps: %q: %v", sc.Text(), err)
			}
			if fields[0] == "Size:" {
				size += n
			} else {
				rss += n
			}
		}
	}
	if err := sc.Err(); err != nil {
		t.Fatal(err)
	}
	return size, rss
}
