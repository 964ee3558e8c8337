package runtime

import (
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"testing"

	specs "github.com/opencontainers/runtime-spec/specs-go"

	"github.com/containerctl/containerctl/mount"
)

func makeInit(t *testing.T, root string) {
	t.Helper()
	if err := os.MkdirAll(filepath.Join(root, "sbin"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(root, "sbin", "init"), nil, 0o755); err != nil {
		t.Fatal(err)
	}
}

// TestCompile: a spec in, a plan out, without root and without creating
// anything.
func TestCompile(t *testing.T) {
	dir := t.TempDir()
	spec := testSpec(dir)
	makeInit(t, spec.Root.Path)
	link := filepath.Join(dir, "link")
	if err := os.Symlink(spec.Root.Path, link); err != nil {
		t.Fatal(err)
	}
	spec.Root.Path = link
	p, err := Compile(&Container{Name: "foo", Spec: spec, StateDir: filepath.Join(dir, "state")},
		Options{Console: ConsolePipe, PreserveFDs: 2, ListenFDs: true, ListenFDNames: "a:b"})
	if err != nil {
		t.Fatal(err)
	}
	if want := filepath.Join(dir, "root"); p.Root != want {
		t.Errorf("Compile: root = %q, want the link resolved, %q", p.Root, want)
	}
	if !p.NewUTS || !p.NewIPC || !p.NewCgroupNS || p.NewNetwork {
		t.Errorf("Compile: namespaces uts=%v ipc=%v cgroup=%v net=%v, want uts, ipc, cgroup and the host's network",
			p.NewUTS, p.NewIPC, p.NewCgroupNS, p.NewNetwork)
	}
	for _, want := range []string{"LISTEN_FDS=2", "LISTEN_PID=1", "LISTEN_FDNAMES=a:b"} {
		if !slices.Contains(p.Process.Env, want) {
			t.Errorf("Compile: env %q lacks %q", p.Process.Env, want)
		}
	}
	if p.StopTimeout != DefaultStopTimeout || p.KillSignal != haltSignal {
		t.Errorf("Compile: stop timeout %v, kill signal %v, want the defaults", p.StopTimeout, p.KillSignal)
	}
	var steps []string
	for _, s := range p.Mounts.Steps {
		steps = append(steps, s.String())
	}
	all := strings.Join(steps, "\n")
	for _, want := range []string{"write /run/host/os-release", "bind " + filepath.Join(dir, "state", "foo", "notify") + " on /run/host/notify"} {
		if !strings.Contains(all, want) {
			t.Errorf("Compile: mount steps lack %q:\n%s", want, all)
		}
	}
	if strings.Contains(all, "/dev/console") {
		t.Errorf("Compile: a pipe console got a /dev/console step:\n%s", all)
	}
	if len(p.Mounts.Cgroup) != 1 {
		t.Errorf("Compile: cgroup steps = %v, want the cgroup2 mount alone", p.Mounts.Cgroup)
	}
	if _, err := os.Stat(filepath.Join(dir, "state")); !os.IsNotExist(err) {
		t.Errorf("Compile created the state directory (stat: %v)", err)
	}
	// A running container's plan is kept as JSON for whatever enters it
	// later: it must come back the same.
	b, err := json.Marshal(p)
	if err != nil {
		t.Fatal(err)
	}
	var back Plan
	if err := json.Unmarshal(b, &back); err != nil {
		t.Fatal(err)
	}
	if b2, _ := json.Marshal(&back); string(b2) != string(b) {
		t.Errorf("Plan after a JSON round trip:\n%s\nwant\n%s", b2, b)
	}
}

// TestCompileRefuses: what the runtime does not execute is refused by
// name, never ignored.
func TestCompileRefuses(t *testing.T) {
	dir := t.TempDir()
	for _, tt := range []struct {
		name   string
		change func(s *specs.Spec, o *Options)
		want   string
		is     error
	}{
		{"user namespace", func(s *specs.Spec, o *Options) {
			s.Linux.Namespaces = append(s.Linux.Namespaces, specs.LinuxNamespace{Type: specs.UserNamespace})
		}, "user namespace", ErrUnsupported},
		{"namespace path", func(s *specs.Spec, o *Options) { s.Linux.Namespaces[2].Path = "/proc/1/ns/uts" }, "joining the uts namespace", ErrUnsupported},
		{"username", func(s *specs.Spec, o *Options) { s.Process.User.Username = "nobody" }, "process.user.username", ErrUnsupported},
		{"umask beyond 0777", func(s *specs.Spec, o *Options) { m := uint32(0o1777); s.Process.User.Umask = &m }, "umask", ErrInvalidSpec},
		{"rlimit unknown", func(s *specs.Spec, o *Options) { s.Process.Rlimits = []specs.POSIXRlimit{{Type: "RLIMIT_NOPE"}} }, "RLIMIT_NOPE", ErrInvalidSpec},
		{"rlimit soft above hard", func(s *specs.Spec, o *Options) {
			s.Process.Rlimits = []specs.POSIXRlimit{{Type: "RLIMIT_NOFILE", Soft: 2048, Hard: 1024}}
		}, "RLIMIT_NOFILE soft limit", ErrInvalidSpec},
		{"rlimit twice", func(s *specs.Spec, o *Options) {
			s.Process.Rlimits = []specs.POSIXRlimit{{Type: "RLIMIT_NOFILE", Soft: 1, Hard: 1}, {Type: "RLIMIT_NOFILE", Soft: 1, Hard: 1}}
		}, "twice", ErrInvalidSpec},
		{"sysctl of the host", func(s *specs.Spec, o *Options) { s.Linux.Sysctl = map[string]string{"kernel.core_pattern": "|/x"} }, "kernel.core_pattern", ErrInvalidSpec},
		{"net sysctl without a network namespace", func(s *specs.Spec, o *Options) { s.Linux.Sysctl = map[string]string{"net.ipv4.ip_forward": "1"} }, "host's namespace", ErrInvalidSpec},
		{"sysctl with ..", func(s *specs.Spec, o *Options) { s.Linux.Sysctl = map[string]string{"net/../kernel/core_pattern": "x"} }, "not a sysctl name", ErrInvalidSpec},
		{"ephemeral not a boolean", func(s *specs.Spec, o *Options) {
			s.Annotations = map[string]string{EphemeralAnnotation: "yes"}
		}, EphemeralAnnotation, ErrInvalidSpec},
		{"network without a namespace", func(s *specs.Spec, o *Options) { o.Network.Veth = true }, "need a private network", ErrInvalidSpec},
		{"network namespace not a file", func(s *specs.Spec, o *Options) {
			s.Linux.Namespaces = append(s.Linux.Namespaces, specs.LinuxNamespace{Type: specs.NetworkNamespace, Path: "/etc/hostname"})
		}, "not a network namespace", ErrInvalidSpec},
		{"network namespace and a veth", func(s *specs.Spec, o *Options) {
			s.Linux.Namespaces = append(s.Linux.Namespaces, specs.LinuxNamespace{Type: specs.NetworkNamespace, Path: "/proc/self/ns/net"})
			o.Network.Veth = true
		}, "no other network setting", ErrInvalidSpec},
		{"hooks", func(s *specs.Spec, o *Options) { s.Hooks = &specs.Hooks{Poststop: []specs.Hook{{Path: "/bin/true"}}} }, "hooks", ErrUnsupported},
		{"ambient caps", func(s *specs.Spec, o *Options) { s.Process.Capabilities.Ambient = []string{"CAP_CHOWN"} }, "ambient", ErrInvalidSpec},
		{"permitted beyond bounding", func(s *specs.Spec, o *Options) { s.Process.Capabilities.Permitted = []string{"CAP_CHOWN"} }, "permitted", ErrInvalidSpec},
		{"memory swap", func(s *specs.Spec, o *Options) {
			s.Linux.Resources = &specs.LinuxResources{Memory: &specs.LinuxMemory{Swap: new(int64)}}
		}, "linux.resources.memory", ErrUnsupported},
		{"no cgroup namespace", func(s *specs.Spec, o *Options) { s.Linux.Namespaces = s.Linux.Namespaces[:4] }, "cgroup namespace", ErrUnsupported},
		{"no mount namespace", func(s *specs.Spec, o *Options) { s.Linux.Namespaces = s.Linux.Namespaces[1:] }, "mount and PID", ErrInvalidSpec},
		{"hostname without uts", func(s *specs.Spec, o *Options) {
			s.Linux.Namespaces = slices.DeleteFunc(s.Linux.Namespaces, func(n specs.LinuxNamespace) bool { return n.Type == specs.UTSNamespace })
		}, "UTS", ErrInvalidSpec},
		{"bad hostname", func(s *specs.Spec, o *Options) { s.Hostname = "bad host" }, `hostname "bad host"`, ErrInvalidSpec},
		{"host root", func(s *specs.Spec, o *Options) { s.Root.Path = "/tmp/.." }, "host's own root", ErrInvalidSpec},
		{"relative cwd", func(s *specs.Spec, o *Options) { s.Process.Cwd = "tmp" }, "process.cwd", ErrInvalidSpec},
		{"negative stop timeout", func(s *specs.Spec, o *Options) { o.StopTimeout = -1 }, "stop timeout", nil},
		{"bind over the root", func(s *specs.Spec, o *Options) {
			s.Mounts = append(s.Mounts, specs.Mount{Destination: "/dev/../..", Type: "bind", Source: "/usr", Options: []string{"rbind"}})
		}, "the container's root directory", ErrInvalidSpec},
		{"bind of the host's root", func(s *specs.Spec, o *Options) {
			s.Mounts = append(s.Mounts, specs.Mount{Destination: "/host", Type: "bind", Source: "/", Options: []string{"bind"}})
		}, "the host's root directory", ErrInvalidSpec},
		{"bind of the host's /proc", func(s *specs.Spec, o *Options) {
			s.Mounts = append(s.Mounts, specs.Mount{Destination: "/hp", Type: "bind", Source: "/proc", Options: []string{"rbind"}})
		}, "the host's proc", ErrInvalidSpec},
		{"bind of a cgroup hierarchy", func(s *specs.Spec, o *Options) {
			s.Mounts = append(s.Mounts, specs.Mount{Destination: "/cg", Type: "bind", Source: "/sys/fs/cgroup", Options: []string{"rbind"}})
		}, "/sys/fs/cgroup", ErrInvalidSpec},
		{"bind that holds the records", func(s *specs.Spec, o *Options) {
			s.Mounts = append(s.Mounts, specs.Mount{Destination: "/x", Type: "bind", Source: dir, Options: []string{"bind"}})
		}, "records of running containers", ErrInvalidSpec},
	} {
		t.Run(tt.name, func(t *testing.T) {
			spec := testSpec(dir)
			makeInit(t, spec.Root.Path)
			opts := Options{Console: ConsolePipe}
			tt.change(spec, &opts)
			_, err := Compile(&Container{Name: "foo", Spec: spec, StateDir: filepath.Join(dir, "state")}, opts)
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("Compile() = %v, want an error containing %q", err, tt.want)
			}
			if tt.is != nil && !errors.Is(err, tt.is) {
				t.Errorf("Compile() = %v, want it to match %v", err, tt.is)
			}
			if strings.Contains(err.Error(), "\n") {
				t.Errorf("Compile() = %q, want one line", err)
			}
		})
	}
}

// TestCreatedOnHost: what a failed child made is removed where it lies on
// the host: in the root, or in the source of the bind it was made through;
// not at all on a tmpfs of the container's own.
func TestCreatedOnHost(t *testing.T) {
	steps := []mount.Step{
		{Kind: mount.Mount, Target: "/run", FSType: "tmpfs"},
		{Kind: mount.Bind, Source: "/srv/data", Target: "/mnt"},
		{Kind: mount.Mount, Target: "/mnt/t", FSType: "tmpfs"},
	}
	got := createdOnHost("/R", steps, []string{"/run", "/run/host", "/mnt", "/mnt/sub", "/mnt/sub/deep", "/mnt/t", "/mnt/t/x", "/zz"})
	want := map[string][]string{"/R": {"/run", "/mnt", "/zz"}, "/srv/data": {"/sub", "/sub/deep", "/t"}}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("createdOnHost() = %v, want %v", got, want)
	}
}
