package mount

import (
	"strings"
	"testing"

	specs "github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/sys/unix"
)

func TestPlan(t *testing.T) {
	spec := &specs.Spec{
		Mounts: []specs.Mount{
			{Destination: "/proc", Type: "proc", Source: "proc", Options: []string{"nosuid", "noexec", "nodev"}},
			{Destination: "/dev", Type: "tmpfs", Source: "tmpfs", Options: []string{"nosuid", "mode=755"}},
			{Destination: "/nix/", Type: "bind", Source: "/nix", Options: []string{"rbind", "ro"}},
			{Destination: "/data", Type: "none", Source: "/srv", Options: []string{"bind"}},
		},
		Linux: &specs.Linux{
			MaskedPaths:   []string{"/proc/kcore"},
			ReadonlyPaths: []string{"/proc/sys"},
		},
	}
	steps, err := Plan(spec, "/dev/pts/7")
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, s := range steps {
		got = append(got, s.String())
	}
	want := []string{
		"mount proc on /proc (MS_NOSUID|MS_NODEV|MS_NOEXEC)",
		"mount tmpfs on /dev (MS_NOSUID, mode=755)",
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
		"bind /dev/pts/7 on /dev/console",
		"bind /nix on /nix (MS_RDONLY|MS_REC)",
		"bind /srv on /data",
		"mask /proc/kcore",
		"read-only /proc/sys",
	}
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Errorf("Plan() =\n%s\nwant\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
	if s := steps[14]; s.Kind != Bind || s.Flags != unix.MS_RDONLY|unix.MS_REC {
		t.Errorf("store step = %+v, want a recursive read-only bind", s)
	}
}

func TestPlanErrors(t *testing.T) {
	for _, tt := range []struct {
		name string
		m    specs.Mount
		want string
	}{
		{"relative destination", specs.Mount{Destination: "proc", Type: "proc"}, "not an absolute path"},
		{"relative bind source", specs.Mount{Destination: "/x", Type: "bind", Source: "x"}, "not an absolute path"},
		{"no type", specs.Mount{Destination: "/x", Source: "x"}, "no filesystem type"},
		{"bind with data", specs.Mount{Destination: "/x", Type: "bind", Source: "/x", Options: []string{"mode=755"}}, "unsupported options"},
	} {
		_, err := Plan(&specs.Spec{Mounts: []specs.Mount{tt.m}}, "")
		if err == nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("%s: Plan() = %v, want an error containing %q", tt.name, err, tt.want)
		}
	}
}
