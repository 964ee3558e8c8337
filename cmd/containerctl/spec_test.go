package main

import (
	"errors"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	specs "github.com/opencontainers/runtime-spec/specs-go"

	"github.com/containerctl/containerctl/runtime"
)

func mountAt(s *specs.Spec, dst string) (specs.Mount, bool) {
	for _, m := range s.Mounts {
		if m.Destination == dst {
			return m, true
		}
	}
	return specs.Mount{}, false
}

func TestBuildSpecDefaults(t *testing.T) {
	s, err := buildSpec(options{name: "foo", store: "/"})
	if err != nil {
		t.Fatal(err)
	}
	if got, want := s.Root.Path, "/var/lib/containers/foo"; got != want {
		t.Errorf("root = %q, want %q", got, want)
	}
	if got, want := s.Process.Args, []string{"/nix/var/nix/profiles/containers/foo/init"}; !slices.Equal(got, want) {
		t.Errorf("args = %q, want %q", got, want)
	}
	if s.Hostname != "foo" {
		t.Errorf("hostname = %q, want foo", s.Hostname)
	}
	var types []specs.LinuxNamespaceType
	for _, ns := range s.Linux.Namespaces {
		types = append(types, ns.Type)
	}
	if want := []specs.LinuxNamespaceType{specs.MountNamespace, specs.PIDNamespace, specs.UTSNamespace, specs.IPCNamespace, specs.CgroupNamespace}; !slices.Equal(types, want) {
		t.Errorf("namespaces = %v, want %v (the host's network is shared)", types, want)
	}
	nix, ok := mountAt(s, "/nix")
	if !ok || nix.Source != "/" || !slices.Contains(nix.Options, "ro") || !slices.Contains(nix.Options, "rbind") {
		t.Errorf("/nix mount = %+v, %v, want a recursive read-only bind of the store", nix, ok)
	}
	if sys, _ := mountAt(s, "/sys"); !slices.Contains(sys.Options, "ro") {
		t.Errorf("/sys options = %q, want ro", sys.Options)
	}
	for _, dst := range []string{"/proc", "/dev", "/dev/pts", "/dev/shm", "/dev/mqueue", "/run", "/tmp"} {
		if _, ok := mountAt(s, dst); !ok {
			t.Errorf("no mount on %s", dst)
		}
	}
	if !slices.Contains(s.Linux.ReadonlyPaths, "/proc/sys") {
		t.Errorf("readonly paths %q lack /proc/sys", s.Linux.ReadonlyPaths)
	}
}

func TestBuildSpecEnvironment(t *testing.T) {
	t.Setenv("CONTAINERCTL_TEST_LEAK", "1")
	a, err := buildSpec(options{name: "foo", setenv: []string{"FOO=bar", "TERM=xterm"}})
	if err != nil {
		t.Fatal(err)
	}
	b, err := buildSpec(options{name: "foo"})
	if err != nil {
		t.Fatal(err)
	}
	env := strings.Join(a.Process.Env, "\n")
	for _, want := range []string{"container=containerctl", "FOO=bar", "TERM=xterm", "PATH=" + defaultPath} {
		if !slices.Contains(a.Process.Env, want) {
			t.Errorf("env lacks %q:\n%s", want, env)
		}
	}
	if strings.Contains(env, "CONTAINERCTL_TEST_LEAK") || strings.Count(env, "TERM=") != 1 {
		t.Errorf("env has host variables or a duplicate TERM:\n%s", env)
	}
	uuidOf := func(s *specs.Spec) string {
		for _, e := range s.Process.Env {
			if v, ok := strings.CutPrefix(e, "container_uuid="); ok {
				return v
			}
		}
		return ""
	}
	if uuidOf(a) == "" || uuidOf(a) != uuidOf(b) {
		t.Errorf("container_uuid = %q and %q, want one stable value per name", uuidOf(a), uuidOf(b))
	}
	c, _ := buildSpec(options{name: "bar"})
	if uuidOf(c) == uuidOf(a) {
		t.Errorf("container_uuid of foo and bar are both %q", uuidOf(a))
	}
}

func TestBuildSpecErrors(t *testing.T) {
	missing := filepath.Join(t.TempDir(), "missing")
	for _, tt := range []struct {
		name string
		o    options
		want string
	}{
		{"bad name", options{name: "../x"}, "invalid container name"},
		{"missing store", options{name: "foo", store: missing, storeSet: true}, "--store"},
		{"relative bind destination", options{name: "foo", binds: []string{"/tmp:rel"}}, "not an absolute path"},
		{"bad bind option", options{name: "foo", binds: []string{"/tmp:/tmp:bogus"}}, "unknown option"},
		{"bad setenv", options{name: "foo", setenv: []string{"NOVALUE"}}, "NAME=VALUE"},
		{"bad uuid", options{name: "foo", uuid: "xyz"}, "--uuid"},
		{"relative tmpfs", options{name: "foo", tmpfs: []string{"tmp"}}, "not an absolute path"},
	} {
		_, err := buildSpec(tt.o)
		if err == nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("%s: buildSpec() = %v, want an error containing %q", tt.name, err, tt.want)
		}
	}
	if _, err := buildSpec(options{name: ""}); !errors.Is(err, runtime.ErrInvalidName) {
		t.Errorf("buildSpec(empty name) = %v, want ErrInvalidName", err)
	}
}

func TestBuildSpecMissingDefaultStoreIsSkipped(t *testing.T) {
	s, err := buildSpec(options{name: "foo", store: filepath.Join(t.TempDir(), "nix")})
	if err != nil {
		t.Fatal(err)
	}
	if m, ok := mountAt(s, "/nix"); ok {
		t.Errorf("missing default store gave mount %+v, want none", m)
	}
}

func TestParseBind(t *testing.T) {
	wd, err := os.Getwd()
	if err != nil {
		t.Fatal(err)
	}
	for _, tt := range []struct {
		in   string
		ro   bool
		want specs.Mount
	}{
		{"/srv", false, specs.Mount{Destination: "/srv", Type: "bind", Source: "/srv", Options: []string{"rbind"}}},
		{"/srv:/data", true, specs.Mount{Destination: "/data", Type: "bind", Source: "/srv", Options: []string{"rbind", "ro"}}},
		{"/srv:/data:norbind", false, specs.Mount{Destination: "/data", Type: "bind", Source: "/srv", Options: []string{"bind"}}},
		{"/nix/store:/nix/store:idmap", true, specs.Mount{Destination: "/nix/store", Type: "bind", Source: "/nix/store", Options: []string{"rbind", "idmap", "ro"}}},
		{"rel:/data/", false, specs.Mount{Destination: "/data", Type: "bind", Source: filepath.Join(wd, "rel"), Options: []string{"rbind"}}},
	} {
		got, err := parseBind(tt.in, tt.ro)
		if err != nil || got.Destination != tt.want.Destination || got.Source != tt.want.Source || !slices.Equal(got.Options, tt.want.Options) {
			t.Errorf("parseBind(%q, %v) = %+v, %v, want %+v", tt.in, tt.ro, got, err, tt.want)
		}
	}
}
