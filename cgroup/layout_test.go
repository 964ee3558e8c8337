package cgroup

import (
	"maps"
	"slices"
	"strings"
	"testing"

	specs "github.com/opencontainers/runtime-spec/specs-go"
)

func TestParseLayout(t *testing.T) {
	// This machine's hybrid layout, abridged.
	const mountinfo = `27 1 254:0 / / rw,relatime - ext4 /dev/vda rw
31 23 0:28 / /sys/fs/cgroup rw,relatime - tmpfs tmpfs rw,mode=755
32 31 0:29 / /sys/fs/cgroup/cpu rw,relatime - cgroup cgroup rw,cpu
33 31 0:30 / /sys/fs/cgroup/cpuacct rw,relatime - cgroup cgroup rw,cpuacct
35 31 0:32 / /sys/fs/cgroup/memory rw,relatime - cgroup cgroup rw,memory
39 31 0:36 / /sys/fs/cgroup/pids rw,relatime - cgroup cgroup rw,pids
40 31 0:37 / /sys/fs/cgroup/systemd rw,relatime - cgroup cgroup rw,name=systemd
41 31 0:38 / /sys/fs/cgroup/unified rw,relatime - cgroup2 cgroup2 rw
42 31 0:39 / /sys/fs/cgroup/net_cls,net_prio rw,relatime - cgroup cgroup rw,net_cls,net_prio
50 27 0:38 /sub /mnt/elsewhere rw,relatime - cgroup2 cgroup2 rw
`
	l, err := parseLayout(strings.NewReader(mountinfo))
	if err != nil {
		t.Fatal(err)
	}
	if l.Unified != "/sys/fs/cgroup/unified" {
		t.Errorf("Unified = %q, want /sys/fs/cgroup/unified", l.Unified)
	}
	want := map[string]string{
		"cpu":          "/sys/fs/cgroup/cpu",
		"cpuacct":      "/sys/fs/cgroup/cpuacct",
		"memory":       "/sys/fs/cgroup/memory",
		"pids":         "/sys/fs/cgroup/pids",
		"name=systemd": "/sys/fs/cgroup/systemd",
		"net_cls":      "/sys/fs/cgroup/net_cls,net_prio",
		"net_prio":     "/sys/fs/cgroup/net_cls,net_prio",
	}
	if !maps.Equal(l.V1, want) {
		t.Errorf("V1 = %v, want %v", l.V1, want)
	}

	v2, err := parseLayout(strings.NewReader("30 23 0:26 / /sys/fs/cgroup rw - cgroup2 cgroup2 rw,nsdelegate\n"))
	if err != nil || v2.Unified != "/sys/fs/cgroup" || len(v2.V1) != 0 {
		t.Errorf("parseLayout(v2 host) = %+v, %v, want only /sys/fs/cgroup", v2, err)
	}
}

func TestDeviceWrites(t *testing.T) {
	n := func(v int64) *int64 { return &v }
	rules := []specs.LinuxDeviceCgroup{
		{Allow: false, Access: "rwm"},
		{Allow: true, Type: "c", Access: "m"},
		{Allow: true, Type: "c", Major: n(1), Minor: n(3), Access: "rwm"},
		{Allow: true, Type: "c", Major: n(136), Access: "rw"},
	}
	ws, err := deviceWrites(Layout{V1: map[string]string{"devices": "/sys/fs/cgroup/devices"}}, rules)
	if err != nil {
		t.Fatal(err)
	}
	want := writes{
		{"devices", "devices.deny", "a"},
		{"devices", "devices.allow", "c *:* m"},
		{"devices", "devices.allow", "c 1:3 rwm"},
		{"devices", "devices.allow", "c 136:* rw"},
	}
	if !slices.Equal(ws, want) {
		t.Errorf("deviceWrites() = %v, want %v", ws, want)
	}
	if ws, err := deviceWrites(Layout{}, rules); err != nil || len(ws) != 0 {
		t.Errorf("deviceWrites(no devices controller) = %v, %v, want nothing", ws, err)
	}
	if _, err := deviceWrites(Layout{V1: map[string]string{"devices": "/x"}}, []specs.LinuxDeviceCgroup{{Allow: true, Type: "c", Access: "x"}}); err == nil {
		t.Error("deviceWrites(access x) = nil error, want one")
	}
}

func TestDeviceProgramShapes(t *testing.T) {
	n := func(v int64) *int64 { return &v }
	if _, err := deviceProgram([]specs.LinuxDeviceCgroup{{Allow: false, Access: "rwm"}, {Allow: true, Type: "c", Major: n(1), Minor: n(3), Access: "rwm"}}); err != nil {
		t.Errorf("deviceProgram(deny all, allow null) = %v, want a program", err)
	}
	for _, rules := range [][]specs.LinuxDeviceCgroup{
		nil,
		{{Allow: true}},
		{{Allow: false, Type: "c", Major: n(1)}},
		{{Allow: false}, {Allow: false, Type: "c"}},
		{{Allow: false}, {Allow: true, Type: "x"}},
		{{Allow: false}, {Allow: true, Type: "c", Access: "q"}},
	} {
		if _, err := deviceProgram(rules); err == nil {
			t.Errorf("deviceProgram(%+v) = nil error, want one", rules)
		}
	}
}
