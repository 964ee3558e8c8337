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

// TestImageMappings: only our file's private, non-writable mappings with no
// copied page are dropped; a PIE's relocated read-only data is not.
func TestImageMappings(t *testing.T) {
	smaps := `00400000-007f5000 r-xp 00000000 fe:00 42  /bin/containerctl
Size:               4052 kB
Anonymous:             0 kB
VmFlags: rd ex mr mw me dw
007f5000-00c79000 r--p 003f5000 fe:00 42  /bin/containerctl
Size:               4624 kB
Anonymous:            56 kB
VmFlags: rd mr mw me dw
00c79000-00ca3000 rw-p 00879000 fe:00 42  /bin/containerctl
Anonymous:           152 kB
00ca3000-00cb0000 r--p 00000000 fe:00 43  /lib/other
Anonymous:             0 kB
7ffc9487a000-7ffc9489b000 rw-p 00000000 00:00 0   [stack]
Anonymous:           132 kB
`
	got := imageMappings([]byte(smaps), unix.Mkdev(0xfe, 0), 42)
	if len(got) != 1 || got[0].start != 0x400000 || got[0].end != 0x7f5000 {
		t.Errorf("picked %+v; want only the text at 400000-7f5000", got)
	}
}
