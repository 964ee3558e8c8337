package mount

import (
	"encoding/json"
	"reflect"
	"strings"
	"testing"

	specs "github.com/opencontainers/runtime-spec/specs-go"
)

// cliMounts are the mounts containerctl's command line gives a container,
// with a store and a --bind.
func cliMounts() []specs.Mount {
	return []specs.Mount{
		{Destination: "/proc", Type: "proc", Source: "proc", Options: []string{"nosuid", "noexec", "nodev"}},
		{Destination: "/sys", Type: "sysfs", Source: "sysfs", Options: []string{"ro", "nosuid", "noexec", "nodev"}},
		{Destination: "/sys/fs/cgroup", Type: "cgroup2", Source: "cgroup2", Options: []string{"nosuid", "noexec", "nodev"}},
		{Destination: "/dev", Type: "tmpfs", Source: "tmpfs", Options: []string{"nosuid", "mode=755"}},
		{Destination: "/dev/pts", Type: "devpts", Source: "devpts", Options: []string{"nosuid", "newinstance"}},
		{Destination: "/run", Type: "tmpfs", Source: "tmpfs", Options: []string{"nosuid", "nodev", "mode=755"}},
		{Destination: "/nix/", Type: "bind", Source: "/nix", Options: []string{"rbind", "ro"}},
		{Destination: "/data", Type: "none", Source: "/srv", Options: []string{"bind"}},
	}
}

// hostFiles are what the runtime adds under /run/host and /proc.
func hostFiles() []Step {
	return []Step{
		{Kind: File, Target: "/run/host/container-manager", Data: "containerctl\n"},
		{Kind: Bind, Source: "/state/notify", Target: "/run/host/notify"},
		{Kind: Bind, Source: "/state/boot_id", Target: "/proc/sys/kernel/random/boot_id", Flags: msRdonly},
	}
}

func stepStrings(steps []Step) string {
	var s []string
	for _, st := range steps {
		s = append(s, st.String())
	}
	return strings.Join(s, "\n")
}

func TestPlan(t *testing.T) {
	spec := &specs.Spec{
		Mounts: cliMounts(),
		Linux: &specs.Linux{
			Devices:       []specs.LinuxDevice{{Path: "/dev/fuse", Type: "c", Major: 10, Minor: 229}},
			MaskedPaths:   []string{"/proc/kcore"},
			ReadonlyPaths: []string{"/proc/sys"},
		},
	}
	p, err := Plan(spec, Host{Console: true, Files: hostFiles()})
	if err != nil {
		t.Fatal(err)
	}
	want := strings.Join([]string{
		"mount proc on /proc (MS_NOSUID|MS_NODEV|MS_NOEXEC)",
		"mount sysfs on /sys (MS_RDONLY|MS_NOSUID|MS_NODEV|MS_NOEXEC)",
		"mount tmpfs on /dev (MS_NOSUID, mode=755)",
		"mount devpts on /dev/pts (MS_NOSUID, newinstance)",
		"mount tmpfs on /run (MS_NOSUID|MS_NODEV, mode=755)",
		"bind /nix on /nix (MS_RDONLY|MS_REC)",
		"bind /srv on /data",
		// The runtime's own, after the spec's mounts.
		"mknod /dev/null 1:3 mode 0666",
		"mknod /dev/zero 1:5 mode 0666",
		"mknod /dev/full 1:7 mode 0666",
		"mknod /dev/random 1:8 mode 0666",
		"mknod /dev/urandom 1:9 mode 0666",
		"mknod /dev/tty 5:0 mode 0666",
		"symlink /dev/ptmx -> pts/ptmx",
		"symlink /dev/fd -> /proc/self/fd",
		"symlink /dev/stdin -> /proc/self/fd/0",
		"symlink /dev/stdout -> /proc/self/fd/1",
		"symlink /dev/stderr -> /proc/self/fd/2",
		"bind /proc/self/fd/0 on /dev/console",
		"write /run/host/container-manager (13 bytes)",
		"bind /state/notify on /run/host/notify",
		"bind /state/boot_id on /proc/sys/kernel/random/boot_id (MS_RDONLY)",
		// Then the spec's devices, masked and read-only paths.
		"mknod /dev/fuse 10:229 mode 0666",
		"mask /proc/kcore",
		"read-only /proc/sys",
	}, "\n")
	if got := stepStrings(p.Steps); got != want {
		t.Errorf("Plan().Steps =\n%s\nwant\n%s", got, want)
	}
	if got, want := stepStrings(p.Cgroup), "mount cgroup2 on /sys/fs/cgroup (MS_NOSUID|MS_NODEV|MS_NOEXEC)"; got != want {
		t.Errorf("Plan().Cgroup =\n%s\nwant\n%s", got, want)
	}
	if s := p.Steps[5]; s.Kind != Bind || s.Flags != msRdonly|msRec {
		t.Errorf("store step = %+v, want a recursive read-only bind", s)
	}
	if s := p.Steps[22]; s.Kind != Device || s.Mode != sIFCHR|0o666 {
		t.Errorf("fuse step = %+v, want a character device", s)
	}
}

// TestPlanHostOnly: without a tmpfs on /dev there are no default devices
// and no console, and the runtime's files still follow the spec's mounts.
func TestPlanHostOnly(t *testing.T) {
	spec := &specs.Spec{
		Mounts: []specs.Mount{
			{Destination: "/run", Type: "tmpfs"},
			{Destination: "/dev", Type: "bind", Source: "/dev", Options: []string{"rbind"}},
		},
		Linux: &specs.Linux{MaskedPaths: []string{"/proc/kcore"}},
	}
	p, err := Plan(spec, Host{Console: true, Files: hostFiles()[:1]})
	if err != nil {
		t.Fatal(err)
	}
	want := "mount tmpfs on /run\nbind /dev on /dev (MS_REC)\nwrite /run/host/container-manager (13 bytes)\nmask /proc/kcore"
	if got := stepStrings(p.Steps); got != want {
		t.Errorf("Plan().Steps =\n%s\nwant\n%s", got, want)
	}
	if p.Cgroup != nil {
		t.Errorf("Plan().Cgroup = %v, want none", p.Cgroup)
	}
}

// TestPlanCgroup: every cgroup filesystem, v1 or v2, goes to Cgroup in the
// spec's order, and a step before them that they are nested with stays
// before them.
func TestPlanCgroup(t *testing.T) {
	spec := &specs.Spec{Mounts: []specs.Mount{
		{Destination: "/sys/fs/cgroup", Type: "tmpfs"},
		{Destination: "/sys/fs/cgroup/unified", Type: "cgroup2"},
		{Destination: "/sys/fs/cgroup/cpu,cpuacct", Type: "cgroup", Options: []string{"cpu", "cpuacct"}},
		{Destination: "/tmp", Type: "tmpfs"},
	}}
	p, err := Plan(spec, Host{})
	if err != nil {
		t.Fatal(err)
	}
	if got, want := stepStrings(p.Steps), "mount tmpfs on /sys/fs/cgroup\nmount tmpfs on /tmp"; got != want {
		t.Errorf("Plan().Steps =\n%s\nwant\n%s", got, want)
	}
	want := "mount cgroup2 on /sys/fs/cgroup/unified\nmount cgroup on /sys/fs/cgroup/cpu,cpuacct (cpu,cpuacct)"
	if got := stepStrings(p.Cgroup); got != want {
		t.Errorf("Plan().Cgroup =\n%s\nwant\n%s", got, want)
	}
}

// TestPlanJSON: the plan reaches the init child as JSON, unchanged.
func TestPlanJSON(t *testing.T) {
	p, err := Plan(&specs.Spec{Mounts: cliMounts()}, Host{Console: true, Files: hostFiles()})
	if err != nil {
		t.Fatal(err)
	}
	data, err := json.Marshal(p)
	if err != nil {
		t.Fatal(err)
	}
	var back Steps
	if err := json.Unmarshal(data, &back); err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(back, p) {
		t.Errorf("json round trip = %+v, want %+v", back, p)
	}
}

func TestPlanAllowed(t *testing.T) {
	for _, tt := range []struct {
		name   string
		mounts []specs.Mount
	}{
		{"lxcfs file under /proc", []specs.Mount{{Destination: "/proc/cpuinfo", Type: "bind", Source: "/var/lib/lxcfs/proc/cpuinfo"}}},
		{"bind under /sys", []specs.Mount{{Destination: "/sys/module/x", Type: "bind", Source: "/srv"}}},
		{"a device of the host beside the defaults", []specs.Mount{tmpfsDev, {Destination: "/dev/kvm", Type: "bind", Source: "/dev/kvm"}}},
		{"bind under /dev/shm", []specs.Mount{tmpfsDev, {Destination: "/dev/shm", Type: "bind", Source: "/dev/shm"}}},
		{"tmpfs over /run/host", []specs.Mount{tmpfsRun, {Destination: "/run/host", Type: "tmpfs"}}},
		{"bind beside /run/host", []specs.Mount{tmpfsRun, {Destination: "/run/user", Type: "bind", Source: "/srv"}}},
		{"bind before the cgroup mount", []specs.Mount{{Destination: "/sys/fs", Type: "bind", Source: "/srv"}, {Destination: "/sys/fs/cgroup", Type: "cgroup2"}}},
	} {
		if _, err := Plan(&specs.Spec{Mounts: tt.mounts}, Host{Console: true, Files: hostFiles()}); err != nil {
			t.Errorf("%s: Plan() = %v, want no error", tt.name, err)
		}
	}
}

// TestSpecMountPropagation: podman's binds carry "rprivate", its cgroup
// mount too; the option becomes the mount's own propagation, set after it
// is made, never data for the filesystem or a recursive bind.
func TestSpecMountPropagation(t *testing.T) {
	for _, tt := range []struct {
		m     specs.Mount
		flags uintptr
		prop  uintptr
	}{
		{specs.Mount{Destination: "/etc/hosts", Type: "bind", Source: "/tmp/hosts", Options: []string{"bind", "rprivate"}}, 0, msPrivate | msRec},
		{specs.Mount{Destination: "/data", Type: "bind", Source: "/srv", Options: []string{"rbind", "ro", "slave"}}, msRec | msRdonly, msSlave},
		{specs.Mount{Destination: "/sys/fs/cgroup", Type: "cgroup", Source: "cgroup", Options: []string{"rprivate", "nosuid", "ro"}}, msNosuid | msRdonly, msPrivate | msRec},
	} {
		e, err := specMount(tt.m)
		if err != nil {
			t.Fatalf("specMount(%v) = %v", tt.m, err)
		}
		if e.Step.Flags != tt.flags || e.Step.Propagation != tt.prop || e.Step.Data != "" {
			t.Errorf("specMount(%v) = flags %s, propagation %s, data %q; want %s, %s and none",
				tt.m.Options, FlagString(e.Step.Flags), FlagString(e.Step.Propagation), e.Step.Data, FlagString(tt.flags), FlagString(tt.prop))
		}
	}
}
