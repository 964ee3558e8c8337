package mount

import (
	"errors"
	"strings"
	"testing"

	specs "github.com/opencontainers/runtime-spec/specs-go"
)

// refusal is a spec that Plan refuses, and a part of its message.
type refusal struct {
	name   string
	mounts []specs.Mount
	linux  *specs.Linux
	files  []Step
	want   string
}

var (
	tmpfsDev   = specs.Mount{Destination: "/dev", Type: "tmpfs"}
	tmpfsRun   = specs.Mount{Destination: "/run", Type: "tmpfs"}
	cgroup2Sys = specs.Mount{Destination: "/sys/fs/cgroup", Type: "cgroup2"}
)

func bindMount(src, dst string) specs.Mount {
	return specs.Mount{Destination: dst, Type: "bind", Source: src}
}

// refusals are the specs that Plan refuses, each with part of its message.
var refusals = []refusal{
	{name: "relative destination", mounts: []specs.Mount{{Destination: "proc", Type: "proc"}},
		want: "mount proc on proc: the destination is not an absolute path"},
	{name: "root", mounts: []specs.Mount{{Destination: "/", Type: "tmpfs"}},
		want: "mount tmpfs on /: the destination is the container's root directory"},
	{name: "root after cleaning", mounts: []specs.Mount{bindMount("/srv", "/dev/../..")},
		want: "bind /srv on /dev/../..: the destination is the container's root directory"},
	{name: "relative bind source", mounts: []specs.Mount{bindMount("x", "/x")},
		want: "bind x on /x: the source is not an absolute path"},
	{name: "no type", mounts: []specs.Mount{{Destination: "/x", Source: "x"}},
		want: "mount on /x: no filesystem type"},
	{name: "bind with data", mounts: []specs.Mount{{Destination: "/x", Type: "bind", Source: "/x", Options: []string{"mode=755"}}},
		want: `bind /x on /x: unsupported options "mode=755"`},
	{name: "bind on /proc", mounts: []specs.Mount{bindMount("/proc", "/proc")},
		want: "bind /proc on /proc: a bind over /proc could give the container the host's /proc; only a proc filesystem goes there"},
	{name: "bind on /proc/", mounts: []specs.Mount{{Destination: "/proc/", Type: "none", Source: "/proc", Options: []string{"rbind"}}},
		want: "a bind over /proc could give the container the host's /proc; only a proc filesystem goes there"},
	{name: "bind on /sys", mounts: []specs.Mount{bindMount("/sys", "/sys/fs/..")},
		want: "bind /sys on /sys/fs/..: a bind over /sys could give the container the host's /sys; only a sysfs filesystem goes there"},
	{name: "bind on /run/host", mounts: []specs.Mount{tmpfsRun, bindMount("/srv", "/run/host")},
		files: hostFiles(),
		want:  "bind /srv on /run/host: covers /run/host/container-manager, which containerctl creates itself: it would create it in the host's /srv"},
	{name: "bind on /run", mounts: []specs.Mount{tmpfsRun, bindMount("/srv", "/run")},
		files: hostFiles(),
		want:  "bind /srv on /run: covers /run/host/container-manager"},
	{name: "bind on a host file", mounts: []specs.Mount{tmpfsRun, bindMount("/srv/notify", "/run/host/notify")},
		files: hostFiles(),
		want:  "bind /srv/notify on /run/host/notify: covers /run/host/notify"},
	{name: "bind over the boot ID's directory", mounts: []specs.Mount{bindMount("/srv", "/proc/sys/kernel")},
		files: hostFiles(),
		want:  "bind /srv on /proc/sys/kernel: covers /proc/sys/kernel/random/boot_id"},
	{name: "bind on /dev with a tmpfs after", mounts: []specs.Mount{bindMount("/dev", "/dev"), tmpfsDev},
		want: "bind /dev on /dev: covers /dev/null, which containerctl creates itself: it would create it in the host's /dev"},
	{name: "bind on /dev with a tmpfs before", mounts: []specs.Mount{tmpfsDev, bindMount("/dev", "/dev")},
		want: "bind /dev on /dev: covers /dev/null"},
	{name: "bind on a default device", mounts: []specs.Mount{tmpfsDev, bindMount("/dev/tty", "/dev/tty")},
		want: "bind /dev/tty on /dev/tty: covers /dev/tty"},
	{name: "bind on /dev/console", mounts: []specs.Mount{tmpfsDev, bindMount("/dev/tty1", "/dev/console")},
		want: "bind /dev/tty1 on /dev/console: covers /dev/console"},
	{name: "device in the host's /dev", mounts: []specs.Mount{bindMount("/dev", "/dev")},
		linux: &specs.Linux{Devices: []specs.LinuxDevice{{Path: "/dev/fuse", Type: "c", Major: 10, Minor: 229}}},
		want:  "bind /dev on /dev: covers /dev/fuse, which containerctl creates itself: it would create it in the host's /dev"},
	{name: "host files nested", files: []Step{{Kind: Bind, Source: "/srv", Target: "/run/host"}, {Kind: File, Target: "/run/host/x"}},
		want: "containerctl's bind /srv on /run/host: covers /run/host/x"},
	{name: "host file on the root", files: []Step{{Kind: File, Target: "/"}},
		want: "containerctl's write / (0 bytes): the destination is the container's root directory"},
	{name: "host file not a file", files: []Step{{Kind: Mask, Target: "/x"}},
		want: "containerctl's mask /x: not a file or a bind"},
	{name: "bind under the cgroup mount", mounts: []specs.Mount{cgroup2Sys, bindMount("/srv", "/sys/fs/cgroup/x")},
		want: "bind /srv on /sys/fs/cgroup/x: comes after mount cgroup2 on /sys/fs/cgroup, but the cgroup filesystems are mounted last"},
	{name: "tmpfs over the cgroup mount", mounts: []specs.Mount{cgroup2Sys, {Destination: "/sys/fs", Type: "tmpfs"}},
		want: "mount tmpfs on /sys/fs: comes after mount cgroup2 on /sys/fs/cgroup"},
	{name: "read-only cgroup path", mounts: []specs.Mount{cgroup2Sys}, linux: &specs.Linux{ReadonlyPaths: []string{"/sys"}},
		want: "read-only path /sys: comes after mount cgroup2 on /sys/fs/cgroup"},
	{name: "relative masked path", linux: &specs.Linux{MaskedPaths: []string{"proc/kcore"}},
		want: "masked path proc/kcore: not an absolute path"},
	{name: "device outside /dev", linux: &specs.Linux{Devices: []specs.LinuxDevice{{Path: "/tmp/null", Type: "c"}}},
		want: "device /tmp/null: not a path under /dev"},
	{name: "device of unknown type", linux: &specs.Linux{Devices: []specs.LinuxDevice{{Path: "/dev/x", Type: "q"}}},
		want: `device /dev/x: unknown type "q"`},
}

func TestPlanRefuses(t *testing.T) {
	for _, tt := range refusals {
		spec := &specs.Spec{Mounts: tt.mounts, Linux: tt.linux}
		p, err := Plan(spec, Host{Console: true, Files: tt.files})
		if err == nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("%s: Plan() = %v, %v, want an error containing %q", tt.name, p, err, tt.want)
			continue
		}
		if !errors.Is(err, ErrRefused) {
			t.Errorf("%s: errors.Is(%v, ErrRefused) = false, want true", tt.name, err)
		}
		if strings.Contains(err.Error(), "\n") {
			t.Errorf("%s: Plan() = %q, want one line", tt.name, err)
		}
	}
}
