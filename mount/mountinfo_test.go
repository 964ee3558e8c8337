package mount

import (
	"reflect"
	"strings"
	"testing"
)

func TestParseMountinfo(t *testing.T) {
	text := "22 27 0:21 / /proc rw,relatime - proc proc rw\n" +
		"41 31 0:38 / /sys/fs/cgroup/unified rw,relatime - cgroup2 cgroup2 rw\n" +
		"50 27 8:1 /srv /mnt/a\\040b rw shared:1 - ext4 /dev/vda rw\n" +
		"broken line\n"
	got, err := ParseMountinfo(strings.NewReader(text))
	if err != nil {
		t.Fatal(err)
	}
	want := []Info{
		{Root: "/", Point: "/proc", FSType: "proc", Source: "proc", SuperOptions: "rw"},
		{Root: "/", Point: "/sys/fs/cgroup/unified", FSType: "cgroup2", Source: "cgroup2", SuperOptions: "rw"},
		{Root: "/srv", Point: "/mnt/a b", FSType: "ext4", Source: "/dev/vda", SuperOptions: "rw"},
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("ParseMountinfo() = %+v, want %+v", got, want)
	}
}

func TestUnescape(t *testing.T) {
	for in, want := range map[string]string{`/a\040b`: "/a b", `/plain`: "/plain", `/end\04`: `/end\04`} {
		if got := Unescape(in); got != want {
			t.Errorf("Unescape(%q) = %q, want %q", in, got, want)
		}
	}
}
