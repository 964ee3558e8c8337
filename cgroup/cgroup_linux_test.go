package cgroup

import (
	"errors"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	specs "github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/sys/unix"
)

func TestPopulated(t *testing.T) {
	for in, want := range map[string]bool{
		"populated 1\nfrozen 0\n": true,
		"populated 0\nfrozen 0\n": false,
		"frozen 0\npopulated 1\n": true,
		"":                        false,
	} {
		if got := populated([]byte(in)); got != want {
			t.Errorf("populated(%q) = %v, want %v", in, got, want)
		}
	}
}

// TestWithMemlock: the limit holds only while f runs, and is back after it
// even when f fails. Lowering the soft limit and raising it back to the
// hard one needs no privilege.
func TestWithMemlock(t *testing.T) {
	var orig unix.Rlimit
	if err := unix.Getrlimit(unix.RLIMIT_MEMLOCK, &orig); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = unix.Setrlimit(unix.RLIMIT_MEMLOCK, &orig) })
	if orig.Max < 8192 {
		t.Skipf("hard RLIMIT_MEMLOCK %d too low to test", orig.Max)
	}
	low := unix.Rlimit{Cur: 4096, Max: orig.Max}
	if err := unix.Setrlimit(unix.RLIMIT_MEMLOCK, &low); err != nil {
		t.Fatal(err)
	}
	fail := errors.New("f failed")
	var inside unix.Rlimit
	err := withMemlock(unix.Rlimit{Cur: orig.Max, Max: orig.Max}, func() error {
		if err := unix.Getrlimit(unix.RLIMIT_MEMLOCK, &inside); err != nil {
			return err
		}
		return fail
	})
	if !errors.Is(err, fail) {
		t.Errorf("withMemlock() = %v, want f's error", err)
	}
	if inside.Cur != orig.Max {
		t.Errorf("RLIMIT_MEMLOCK inside withMemlock = %d, want %d", inside.Cur, orig.Max)
	}
	var after unix.Rlimit
	if err := unix.Getrlimit(unix.RLIMIT_MEMLOCK, &after); err != nil {
		t.Fatal(err)
	}
	if after != low {
		t.Errorf("RLIMIT_MEMLOCK after withMemlock = %+v, want it restored to %+v", after, low)
	}
}

func TestRecord(t *testing.T) {
	c := &Cgroup{
		roots: map[string]*root{
			UnifiedKey:       {h: Hierarchy{Key: UnifiedKey}, dir: "/sys/fs/cgroup/unified"},
			"name=unmounted": {h: Hierarchy{Key: "name=unmounted", Name: "unmounted"}, dir: "/proc/self/fd/9"},
		},
		paths:   map[string]string{UnifiedKey: "/machine/a/web", "name=unmounted": "/containerctl/web"},
		parents: []dir{{UnifiedKey, "/machine"}, {UnifiedKey, "/machine/a"}, {"name=unmounted", "/containerctl"}},
		managed: []dir{{"name=unmounted", "/containerctl"}},
	}
	want := Record{Cgroups: []RecordedCgroup{
		{Hierarchy: "name=unmounted", Path: "/containerctl/web", Parents: []string{"/containerctl"}},
		{Hierarchy: UnifiedKey, Path: "/machine/a/web", Parents: []string{"/machine/a", "/machine"}},
	}}
	if got := c.Record(); !reflect.DeepEqual(got, want) {
		t.Errorf("Record() = %+v, want %+v", got, want)
	}
	if got := c.Path(); got != "/sys/fs/cgroup/unified/machine/a/web" {
		t.Errorf("Path() = %q, want the cgroup2 directory", got)
	}
	if (Record{}).Empty() != true || want.Empty() {
		t.Error("Record.Empty() wrong")
	}
}

// TestRestrictDevices: device rules that nothing enforces are refused,
// unless the caller allows it.
func TestRestrictDevices(t *testing.T) {
	rules := &specs.LinuxResources{Devices: []specs.LinuxDeviceCgroup{{Allow: false, Access: "rwm"}}}
	memOnly := &Cgroup{
		roots: map[string]*root{"memory": {h: Hierarchy{Key: "memory", Controllers: []string{"memory"}}, dir: "/nonexistent"}},
		paths: map[string]string{"memory": "/containerctl/web"},
	}
	if err := memOnly.restrictDevices(Config{Resources: rules}, nil); !errors.Is(err, ErrDevicesUnrestricted) {
		t.Errorf("restrictDevices(no filter, no devices controller) = %v, want ErrDevicesUnrestricted", err)
	}
	if err := memOnly.restrictDevices(Config{Resources: rules, AllowUnrestrictedDevices: true}, nil); err != nil {
		t.Errorf("restrictDevices(AllowUnrestrictedDevices) = %v, want nil", err)
	}
	if err := memOnly.restrictDevices(Config{Resources: &specs.LinuxResources{}}, nil); err != nil {
		t.Errorf("restrictDevices(no rules) = %v, want nil", err)
	}
	v1 := &Cgroup{
		roots: map[string]*root{"devices": {h: Hierarchy{Key: "devices", Controllers: []string{"devices"}}, dir: "/nonexistent"}},
		paths: map[string]string{"devices": "/containerctl/web"},
	}
	if err := v1.restrictDevices(Config{Resources: rules}, nil); err != nil {
		t.Errorf("restrictDevices(v1 devices controller) = %v, want nil", err)
	}
}

// TestControlFileMissing: a control file this kernel does not have (as
// cgroup.kill before Linux 5.14) reads and writes as os.ErrNotExist, which
// killDirs and thawTree fall back on; with O_CREAT cgroupfs answered
// EACCES instead.
func TestControlFileMissing(t *testing.T) {
	dir := cgroupfsMount(t)
	p := filepath.Join(dir, "containerctl-no-such-control")
	if err := writeFile(p, "1"); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("writeFile(%s) = %v, want os.ErrNotExist", p, err)
	}
	if _, err := readFile(p); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("readFile(%s) = %v, want os.ErrNotExist", p, err)
	}
	if b, err := readFile(filepath.Join(dir, "cgroup.procs")); err != nil || len(b) == 0 {
		t.Errorf("readFile(%s/cgroup.procs) = %q, %v, want the root cgroup's processes", dir, b, err)
	}
}

// cgroupfsMount is a cgroup2 (else cgroup v1) mount of this host, from
// /proc/self/mountinfo.
func cgroupfsMount(t *testing.T) string {
	t.Helper()
	b, err := os.ReadFile("/proc/self/mountinfo")
	if err != nil {
		t.Fatal(err)
	}
	var v1 string
	for _, l := range strings.Split(string(b), "\n") {
		pre, post, ok := strings.Cut(l, " - ")
		f, g := strings.Fields(pre), strings.Fields(post)
		if !ok || len(f) < 5 || len(g) < 1 {
			continue
		}
		switch g[0] {
		case "cgroup2":
			return f[4]
		case "cgroup":
			if v1 == "" {
				v1 = f[4]
			}
		}
	}
	if v1 != "" {
		return v1
	}
	if os.Getenv("CONTAINERCTL_INTEGRATION") == "1" {
		t.Fatal("no cgroup file system mounted (CONTAINERCTL_INTEGRATION=1)")
	}
	t.Skip("no cgroup file system mounted")
	return ""
}
