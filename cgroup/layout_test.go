package cgroup

import (
	"reflect"
	"strings"
	"testing"
)

// This machine's hybrid layout, abridged, with a named hierarchy the host
// has but has not mounted (name=unmounted) and net_cls bound to none.
const (
	testMountinfo = `27 1 254:0 / / rw,relatime - ext4 /dev/vda rw
31 23 0:28 / /sys/fs/cgroup rw,relatime - tmpfs tmpfs rw,mode=755
32 31 0:29 / /sys/fs/cgroup/cpu,cpuacct rw,relatime - cgroup cgroup rw,cpu,cpuacct
35 31 0:32 / /sys/fs/cgroup/memory rw,relatime - cgroup cgroup rw,memory
36 31 0:33 / /sys/fs/cgroup/devices rw,relatime - cgroup cgroup rw,devices
39 31 0:36 / /sys/fs/cgroup/pids rw,relatime - cgroup cgroup rw,pids
40 31 0:37 / /sys/fs/cgroup/systemd rw,relatime - cgroup cgroup rw,xattr,name=systemd
41 31 0:38 / /sys/fs/cgroup/unified rw,relatime - cgroup2 cgroup2 rw
50 27 0:38 /sub /mnt/elsewhere rw,relatime - cgroup2 cgroup2 rw
51 27 0:32 /sub /mnt/mem\040bind rw,relatime - cgroup cgroup rw,memory
`
	testSelfCgroup = `10:name=unmounted:/
9:name=systemd:/
8:pids:/
5:devices:/
4:memory:/user
2:cpu,cpuacct:/
0::/init.scope
`
	testProcCgroups = `#subsys_name	hierarchy	num_cgroups	enabled
cpu	2	1	1
cpuacct	2	1	1
memory	4	34	1
devices	5	1	1
net_cls	0	1	1
pids	8	1	1
`
)

func testLayout(t *testing.T) Layout {
	t.Helper()
	own, err := parseOwn(strings.NewReader(testSelfCgroup))
	if err != nil {
		t.Fatal(err)
	}
	ctrls, err := parseControllers(strings.NewReader(testProcCgroups))
	if err != nil {
		t.Fatal(err)
	}
	l, err := parseLayout(strings.NewReader(testMountinfo), own, ctrls)
	if err != nil {
		t.Fatal(err)
	}
	return l
}

func TestParseLayout(t *testing.T) {
	l := testLayout(t)
	want := []Hierarchy{
		{Key: "cpu,cpuacct", Controllers: []string{"cpu", "cpuacct"}, Mount: "/sys/fs/cgroup/cpu,cpuacct"},
		{Key: "devices", Controllers: []string{"devices"}, Mount: "/sys/fs/cgroup/devices"},
		{Key: "memory", Controllers: []string{"memory"}, Mount: "/sys/fs/cgroup/memory"},
		{Key: "name=systemd", Name: "systemd", Mount: "/sys/fs/cgroup/systemd"},
		{Key: "name=unmounted", Name: "unmounted"},
		{Key: "pids", Controllers: []string{"pids"}, Mount: "/sys/fs/cgroup/pids"},
		{Key: UnifiedKey, Mount: "/sys/fs/cgroup/unified"},
	}
	if !reflect.DeepEqual(l.Hierarchies, want) {
		t.Errorf("parseLayout() hierarchies =\n%+v\nwant\n%+v", l.Hierarchies, want)
	}
	if h, ok := l.v1("cpuacct"); !ok || h.Key != "cpu,cpuacct" {
		t.Errorf("v1(cpuacct) = %+v, %v, want the cpu,cpuacct hierarchy", h, ok)
	}
	if h, ok := l.v1("net_cls"); ok {
		t.Errorf("v1(net_cls) = %+v, want none: it is bound to no hierarchy", h)
	}

	// A pure cgroup2 host; and a hierarchy mounted only below its root is
	// not mounted for the layout.
	own, _ := parseOwn(strings.NewReader("4:memory:/\n0::/\n"))
	v2, err := parseLayout(strings.NewReader("30 23 0:26 / /sys/fs/cgroup rw - cgroup2 cgroup2 rw,nsdelegate\n51 27 0:32 /sub /mnt/m rw - cgroup cgroup rw,memory\n"), own, []string{"memory"})
	want = []Hierarchy{{Key: "memory", Controllers: []string{"memory"}}, {Key: UnifiedKey, Mount: "/sys/fs/cgroup"}}
	if err != nil || !reflect.DeepEqual(v2.Hierarchies, want) {
		t.Errorf("parseLayout(v2 host) = %+v, %v, want %+v", v2.Hierarchies, err, want)
	}
}

func TestParseOwn(t *testing.T) {
	own, err := parseOwn(strings.NewReader(testSelfCgroup))
	if err != nil {
		t.Fatal(err)
	}
	got := ownPaths(own)
	want := map[string]string{
		"name=unmounted": "/", "name=systemd": "/", "pids": "/", "devices": "/",
		"memory": "/user", "cpu,cpuacct": "/", UnifiedKey: "/init.scope",
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("ownPaths(parseOwn()) = %v, want %v", got, want)
	}
	if _, err := parseOwn(strings.NewReader("x:memory:/\n")); err == nil {
		t.Error(`parseOwn("x:memory:/") = nil error, want one`)
	}
}
