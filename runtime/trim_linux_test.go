package runtime

import (
	"testing"

	"golang.org/x/sys/unix"
)

func TestParseMapping(t *testing.T) {
	m, ok := parseMapping("00400000-007f5000 r-xp 00000000 fe:01 9994268                            /work/main/bin/containerctl")
	if !ok || m.start != 0x400000 || m.end != 0x7f5000 || m.perms != "r-xp" || m.dev != unix.Mkdev(0xfe, 1) || m.inode != 9994268 {
		t.Errorf("parsed %+v, %v", m, ok)
	}
	if m, ok := parseMapping("7ffc9487a000-7ffc9489b000 rw-p 00000000 00:00 0                          [stack]"); !ok || m.inode != 0 {
		t.Errorf("stack: %+v, %v", m, ok)
	}
	for _, bad := range []string{"", "00400000 r-xp 0 fe:00 1", "0040-0030 r-xp 0 fe:00 1 /x", "00400000-007f5000 r-x 0 fe:00 1", "00400000-007f5000 r-xp 0 fe 1", "00400000-007f5000 r-xp 0 fe:00 x"} {
		if _, ok := parseMapping(bad); ok {
			t.Errorf("%q: parsed", bad)
		}
	}
}
