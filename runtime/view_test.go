package runtime

import (
	"errors"
	"os"
	"path/filepath"
	"testing"

	specs "github.com/opencontainers/runtime-spec/specs-go"
)

func TestViewResolve(t *testing.T) {
	tmp := t.TempDir()
	root := filepath.Join(tmp, "root")
	store := filepath.Join(tmp, "store")
	bound := filepath.Join(tmp, "bound")
	for _, d := range []string{root + "/bin", store + "/store/abc-system", store + "/var/nix/profiles/containers", bound} {
		if err := os.MkdirAll(d, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	write := func(p string) {
		t.Helper()
		if err := os.WriteFile(p, nil, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	link := func(target, p string) {
		t.Helper()
		if err := os.Symlink(target, p); err != nil {
			t.Fatal(err)
		}
	}
	write(root + "/bin/sh")
	write(store + "/store/abc-system/init")
	write(bound + "/tool")
	// NixOS: the profile is an absolute link into the store, as seen inside.
	link("/nix/store/abc-system", store+"/var/nix/profiles/containers/foo")
	// An absolute link must stay inside the container's view, not the host's.
	link(root+"/bin/sh", root+"/bin/hostlink")
	link("../../../../../../bin/sh", root+"/bin/dotdot")
	link("loop", root+"/bin/loop")

	spec := &specs.Spec{
		Root: &specs.Root{Path: root},
		Mounts: []specs.Mount{
			{Destination: "/proc", Type: "proc", Source: "proc"},
			{Destination: "/nix", Type: "bind", Source: store, Options: []string{"rbind", "ro"}},
			{Destination: "/opt/x", Type: "none", Source: bound, Options: []string{"rbind"}},
			{Destination: "/run", Type: "tmpfs", Source: "tmpfs"},
		},
	}
	v := newView(spec)
	for _, tt := range []struct {
		path string
		want string
		err  error
	}{
		{"/bin/sh", root + "/bin/sh", nil},
		{"/nix/var/nix/profiles/containers/foo/init", store + "/store/abc-system/init", nil},
		{"/opt/x/tool", bound + "/tool", nil},
		{"/bin/dotdot", root + "/bin/sh", nil},
		{"/bin/hostlink", "", os.ErrNotExist},
		{"/bin/missing", "", os.ErrNotExist},
		{"/nix/var/nix/profiles/containers/bar/init", "", os.ErrNotExist},
		{"/run/init", "", errNotOnHost},
		{"/proc/self/exe", "", errNotOnHost},
	} {
		got, err := v.resolve(tt.path)
		if got != tt.want || (tt.err == nil) != (err == nil) || (tt.err != nil && !errors.Is(err, tt.err)) {
			t.Errorf("resolve(%q) = %q, %v, want %q, %v", tt.path, got, err, tt.want, tt.err)
		}
	}
	if _, err := v.resolve("/bin/loop"); err == nil {
		t.Errorf("resolve(%q) = nil error, want a symlink loop error", "/bin/loop")
	}
}
