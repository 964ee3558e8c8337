package runtime

import (
	"errors"
	"path/filepath"
	"strings"
	"testing"

	specs "github.com/opencontainers/runtime-spec/specs-go"
)

// testSpec is the shape of spec the CLI builds, around a root in dir.
func testSpec(dir string) *specs.Spec {
	return &specs.Spec{
		Root:     &specs.Root{Path: filepath.Join(dir, "root")},
		Hostname: "foo",
		Process: &specs.Process{
			Args: []string{"/sbin/init"},
			Env:  []string{"PATH=/bin"},
			Cwd:  "/",
			Capabilities: &specs.LinuxCapabilities{
				Bounding: []string{"CAP_CHOWN", "CAP_SYS_ADMIN"}, Effective: []string{"CAP_SYS_ADMIN", "CAP_CHOWN"},
				Permitted: []string{"CAP_CHOWN", "CAP_SYS_ADMIN"},
			},
		},
		Mounts: []specs.Mount{
			{Destination: "/proc", Type: "proc", Source: "proc"},
			{Destination: "/dev", Type: "tmpfs", Source: "tmpfs"},
			{Destination: "/run", Type: "tmpfs", Source: "tmpfs"},
			{Destination: "/sys/fs/cgroup", Type: "cgroup2", Source: "cgroup2"},
		},
		Linux: &specs.Linux{Namespaces: []specs.LinuxNamespace{
			{Type: specs.MountNamespace}, {Type: specs.PIDNamespace}, {Type: specs.UTSNamespace},
			{Type: specs.IPCNamespace}, {Type: specs.CgroupNamespace},
		}},
	}
}

// TestCompileSpecOnly: the checks that need nothing of the host, on any
// platform.
func TestCompileSpecOnly(t *testing.T) {
	for _, tt := range []struct {
		name   string
		change func(s *specs.Spec)
		want   string
	}{
		{"apparmor", func(s *specs.Spec) { s.Process.ApparmorProfile = "x" }, "process.apparmorProfile"},
		{"intel rdt", func(s *specs.Spec) { s.Linux.IntelRdt = &specs.LinuxIntelRdt{} }, "linux.intelRdt"},
		{"propagation", func(s *specs.Spec) { s.Linux.RootfsPropagation = "sideways" }, "rootfsPropagation"},
		{"id-mapped mount", func(s *specs.Spec) {
			s.Mounts = append(s.Mounts, specs.Mount{Destination: "/m", UIDMappings: []specs.LinuxIDMapping{{Size: 1}}})
		}, "ID-mapped mount on /m"},
		{"blkio", func(s *specs.Spec) { s.Linux.Resources = &specs.LinuxResources{BlockIO: &specs.LinuxBlockIO{}} }, "blockIO"},
		{"time namespace", func(s *specs.Spec) {
			s.Linux.Namespaces = append(s.Linux.Namespaces, specs.LinuxNamespace{Type: specs.TimeNamespace})
		}, "time namespace"},
		{"twice", func(s *specs.Spec) {
			s.Linux.Namespaces = append(s.Linux.Namespaces, specs.LinuxNamespace{Type: specs.PIDNamespace})
		}, "given twice"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			s := testSpec(t.TempDir())
			tt.change(s)
			_, err := compile(&Container{Name: "foo", Spec: s}, Options{})
			if err == nil || !strings.Contains(err.Error(), tt.want) || !errors.Is(err, ErrInvalidSpec) {
				t.Errorf("compile() = %v, want an ErrInvalidSpec containing %q", err, tt.want)
			}
		})
	}
	if _, err := compile(&Container{Name: "foo", Spec: testSpec(t.TempDir())}, Options{}); err != nil {
		t.Errorf("compile(the CLI's shape) = %v, want nil", err)
	}
}

func TestInterpreter(t *testing.T) {
	for _, tt := range []struct{ in, want string }{
		{"#!/nix/store/abc-bash/bin/bash\nexec systemd\n", "/nix/store/abc-bash/bin/bash"},
		{"#! /bin/sh -e\n", "/bin/sh"},
		{"\x7fELF\x02\x01", ""},
		{"#!\n", ""},
		{"", ""},
	} {
		if got := interpreter(strings.NewReader(tt.in)); got != tt.want {
			t.Errorf("interpreter(%q) = %q, want %q", tt.in, got, tt.want)
		}
	}
}
