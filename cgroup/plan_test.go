package cgroup

import (
	"encoding/binary"
	"encoding/hex"
	"errors"
	"slices"
	"testing"

	specs "github.com/opencontainers/runtime-spec/specs-go"
)

func TestPlanResources(t *testing.T) {
	n := func(v int64) *int64 { return &v }
	period := uint64(50000)
	r := &specs.LinuxResources{
		Memory:  &specs.LinuxMemory{Limit: n(64 << 20)},
		CPU:     &specs.LinuxCPU{Quota: n(25000), Period: &period},
		Pids:    &specs.LinuxPids{Limit: n(-1)},
		Unified: map[string]string{"cpu.weight": "50", "io.weight": "100"},
	}
	hybrid := testLayout(t)
	hybrid.Controllers = []string{"io"}
	hybrid.BlkioWeight = "blkio.weight"
	v2 := Layout{Hierarchies: []Hierarchy{{Key: UnifiedKey, Mount: "/sys/fs/cgroup"}}, Controllers: []string{"cpu", "io", "memory", "pids"}}
	for _, tt := range []struct {
		what string
		l    Layout
		want writes
	}{
		{"hybrid", hybrid, writes{
			{"memory", "memory.limit_in_bytes", "67108864"},
			{"cpu,cpuacct", "cpu.cfs_period_us", "50000"},
			{"cpu,cpuacct", "cpu.cfs_quota_us", "25000"},
			{"pids", "pids.max", "max"},
			{"cpu,cpuacct", "cpu.shares", "512"},
			{UnifiedKey, "io.weight", "100"},
		}},
		{"v2", v2, writes{
			{UnifiedKey, "memory.max", "67108864"},
			{UnifiedKey, "cpu.max", "25000 50000"},
			{UnifiedKey, "pids.max", "max"},
			{UnifiedKey, "cpu.weight", "50"},
			{UnifiedKey, "io.weight", "100"},
		}},
	} {
		got, err := planResources(tt.l, r)
		if err != nil || !slices.Equal(got, tt.want) {
			t.Errorf("planResources(%s) = %v, %v, want %v", tt.what, got, err, tt.want)
		}
	}
	// A pids limit of 0 is none (crun, runc 1.2, CRI-O's "unset").
	if got, err := planResources(v2, &specs.LinuxResources{Pids: &specs.LinuxPids{Limit: n(0)}}); err != nil || !slices.Equal(got, writes{{UnifiedKey, "pids.max", "max"}}) {
		t.Errorf("planResources(pids.limit 0) = %v, %v, want pids.max max", got, err)
	}
	if got := (writes{{UnifiedKey, "cpu.max", ""}, {"memory", "memory.limit_in_bytes", ""}, {UnifiedKey, "cpu.weight", ""}}).v2Controllers(); !slices.Equal(got, []string{"cpu"}) {
		t.Errorf("v2Controllers() = %v, want [cpu]", got)
	}
}

func TestPlanResourcesUnsupported(t *testing.T) {
	l := testLayout(t) // no io on v2, no blkio on v1, memory on v1
	for _, r := range []*specs.LinuxResources{
		{Unified: map[string]string{"memory.high": "100"}},
		{Unified: map[string]string{"io.weight": "100"}},
		{Unified: map[string]string{"memory.swap.max": "0"}},
		{Unified: map[string]string{"hugetlb.2MB.max": "0"}},
	} {
		if got, err := planResources(l, r); !errors.Is(err, ErrUnsupported) {
			t.Errorf("planResources(%v) = %v, %v, want ErrUnsupported", r.Unified, got, err)
		}
	}
	l.BlkioWeight = ""
	l.Hierarchies = append(l.Hierarchies, Hierarchy{Key: "blkio", Controllers: []string{"blkio"}})
	if _, err := planResources(l, &specs.LinuxResources{Unified: map[string]string{"io.weight": "100"}}); !errors.Is(err, ErrUnsupported) {
		t.Errorf("planResources(io.weight, blkio without a weight) = %v, want ErrUnsupported", err)
	}
	l.BlkioWeight = "blkio.bfq.weight"
	if got, err := planResources(l, &specs.LinuxResources{Unified: map[string]string{"io.weight": "100"}}); err != nil || !slices.Equal(got, writes{{"blkio", "blkio.bfq.weight", "500"}}) {
		t.Errorf("planResources(io.weight, bfq) = %v, %v, want blkio.bfq.weight 500", got, err)
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
	ws, err := deviceWrites(testLayout(t), rules)
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
	if _, err := deviceWrites(testLayout(t), []specs.LinuxDeviceCgroup{{Allow: true, Type: "c", Access: "x"}}); err == nil {
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

// TestDeviceProgramEncoding pins the program's bytes, on a little-endian
// host, to those cilium/ebpf's assembler made for the same rules before
// it was replaced; the kernel's verifier and TestDevicesRestrictedByBPF
// check what the program does.
func TestDeviceProgramEncoding(t *testing.T) {
	if binary.NativeEndian.Uint16([]byte{1, 0}) != 1 {
		t.Skip("the pinned encodings are little-endian")
	}
	n := func(v int64) *int64 { return &v }
	for _, tt := range []struct {
		rules []specs.LinuxDeviceCgroup
		want  string
	}{
		{[]specs.LinuxDeviceCgroup{{Allow: false, Access: "rwm"}}, "6112000000000000bc2300000000000054030000ffff0000bc24000000000000740400001000000061150400000000006116080000000000b7000000000000009500000000000000"},
		{[]specs.LinuxDeviceCgroup{{Allow: false, Access: "rwm"}, {Allow: true, Type: "c", Major: n(1), Minor: n(3), Access: "rwm"}}, "6112000000000000bc2300000000000054030000ffff0000bc24000000000000740400001000000061150400000000006116080000000000550307000200000055050600010000005506050003000000bc4700000000000054070000000000005507020000000000b7000000010000009500000000000000b700000000000000b7000000000000009500000000000000"},
		{[]specs.LinuxDeviceCgroup{{Allow: false}, {Allow: true, Type: "b", Major: n(8), Access: "r"}, {Allow: true, Type: "a", Access: "m"}, {Allow: true, Type: "c", Major: n(136), Minor: n(-1), Access: "rw"}, {Allow: true}, {Allow: true, Type: "c", Minor: n(7), Access: "wm"}}, "6112000000000000bc2300000000000054030000ffff0000bc2400000000000074040000100000006115040000000000611608000000000055030600010000005505050008000000bc4700000000000054070000050000005507020000000000b7000000010000009500000000000000b700000000000000bc4700000000000054070000060000005507020000000000b7000000010000009500000000000000b70000000000000055030600020000005505050088000000bc4700000000000054070000010000005507020000000000b7000000010000009500000000000000b700000000000000bc4700000000000054070000000000005507020000000000b7000000010000009500000000000000b70000000000000055030600020000005506050007000000bc4700000000000054070000020000005507020000000000b7000000010000009500000000000000b700000000000000b7000000000000009500000000000000"},
	} {
		insns, err := deviceProgram(tt.rules)
		if err != nil {
			t.Fatalf("deviceProgram(%+v): %v", tt.rules, err)
		}
		if got := hex.EncodeToString(marshalProgram(insns)); got != tt.want {
			t.Errorf("deviceProgram(%+v) encodes as\n%s\nwant\n%s", tt.rules, got, tt.want)
		}
	}
}

func TestSharesToWeight(t *testing.T) {
	for _, tt := range []struct{ shares, want uint64 }{{0, 100}, {1, 1}, {2, 1}, {1024, 39}, {262144, 10000}, {1 << 20, 10000}} {
		if got := SharesToWeight(tt.shares); got != tt.want {
			t.Errorf("SharesToWeight(%d) = %d, want %d", tt.shares, got, tt.want)
		}
	}
}
