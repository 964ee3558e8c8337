package integration

import (
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	specs "github.com/opencontainers/runtime-spec/specs-go"
)

// bundle writes an OCI bundle of fx's root: config.json is what
// `containerctl spec` makes for the command, changed by change.
func (fx *fixture) bundle(t *testing.T, command []string, change func(*specs.Spec)) string {
	t.Helper()
	r := ctl(t, "spec", fx.name, "--root", fx.root, "--store=", "--console=pipe", "--")
	if r.code != 0 {
		t.Fatalf("containerctl spec: exit %d: %s", r.code, r.stderr)
	}
	var spec specs.Spec
	if err := json.Unmarshal([]byte(r.stdout), &spec); err != nil {
		t.Fatal(err)
	}
	spec.Process.Args = command
	change(&spec)
	dir := filepath.Join(fx.dir, "bundle")
	mustMkdir(t, dir)
	b, err := json.Marshal(&spec)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "config.json"), b, 0o644); err != nil {
		t.Fatal(err)
	}
	return dir
}

// TestBundleProcess: a bundle's process.user (uid, gid, additional gids,
// umask), rlimits, five capability sets, linux.sysctl, root.readonly and
// rootfsPropagation are what the init gets, seen from inside and, for
// the identity and the sysctl, from the host, whose own value stays.
func TestBundleProcess(t *testing.T) {
	fx := newFixture(t)
	for _, a := range []string{"id", "grep", "touch", "umask"} {
		_ = os.Symlink("busybox", filepath.Join(fx.root, "bin", a))
	}
	hostShm, err := os.ReadFile("/proc/sys/kernel/shmmni")
	if err != nil {
		t.Fatal(err)
	}
	umask := uint32(0o027)
	script := "id; umask; ulimit -Sn; ulimit -Hn; grep ^Cap /proc/self/status; cat /proc/sys/kernel/shmmni; echo cwd $(pwd); " +
		"touch /x 2>/dev/null && echo root-writable; touch /tmp/y && echo tmp-writable; cat /proc/self/mountinfo; echo ready; exec sleep 1000"
	dir := fx.bundle(t, []string{"/bin/sh", "-c", script}, func(s *specs.Spec) {
		s.Root.Readonly = true
		// Not in the root: made, as runc makes it, before the root is
		// read-only.
		s.Process.Cwd = "/made/for/the/process"
		s.Process.User = specs.User{UID: 1000, GID: 1001, AdditionalGids: []uint32{5, 7}, Umask: &umask}
		s.Process.Rlimits = []specs.POSIXRlimit{{Type: "RLIMIT_NOFILE", Soft: 512, Hard: 1000}}
		s.Process.Capabilities = &specs.LinuxCapabilities{
			Bounding:    []string{"CAP_NET_BIND_SERVICE", "CAP_KILL", "CAP_CHOWN"},
			Permitted:   []string{"CAP_NET_BIND_SERVICE", "CAP_KILL"},
			Effective:   []string{"CAP_NET_BIND_SERVICE"},
			Inheritable: []string{"CAP_NET_BIND_SERVICE"},
			Ambient:     []string{"CAP_NET_BIND_SERVICE"},
		}
		s.Linux.Sysctl = map[string]string{"kernel.shmmni": "1234"}
		// The host's "/" may be private (here it is): "shared" is the
		// propagation that shows whether it was set.
		s.Linux.RootfsPropagation = "rshared"
	})
	c := fx.start(t, runOpts{bundle: dir})
	c.waitLine("ready", startTimeout)
	out := c.stdout.String()
	for _, want := range []string{
		"uid=1000 gid=1001 groups=5,7\n", "\n0027\n", "\n512\n1000\n",
		// CAP_NET_BIND_SERVICE is bit 10: a non-root init keeps its ambient set;
		// the bounding set is CAP_CHOWN (0), CAP_KILL (5) and it.
		"CapInh:\t0000000000000400\nCapPrm:\t0000000000000400\nCapEff:\t0000000000000400\nCapBnd:\t0000000000000421\nCapAmb:\t0000000000000400\n",
		"\n1234\n", "tmp-writable\n", "\ncwd /made/for/the/process\n",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("inside: want %q in the output:\n%s", want, out)
		}
	}
	if strings.Contains(out, "root-writable") {
		t.Errorf("inside: the read-only root took a write:\n%s", out)
	}
	if root := mountLine(out); !strings.Contains(root, " / ro,") || !strings.Contains(root, " shared:") {
		t.Errorf("inside: root mount %q, want read-only and shared", root)
	}
	c.findInit()
	status, err := os.ReadFile(filepath.Join("/proc", itoa(c.initPID), "status"))
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(status), "\nUid:\t1000\t1000\t1000\t1000\n") || !strings.Contains(string(status), "\nGid:\t1001\t1001\t1001\t1001\n") {
		t.Errorf("host: init's status\n%s\nwant uid 1000 and gid 1001", status)
	}
	if now, _ := os.ReadFile("/proc/sys/kernel/shmmni"); string(now) != string(hostShm) {
		t.Errorf("host: kernel.shmmni = %q, want it unchanged (%q)", now, hostShm)
	}
}

// mountLine is the mountinfo line of the root in out.
func mountLine(out string) string {
	for _, l := range strings.Split(out, "\n") {
		if f := strings.Fields(l); len(f) > 5 && f[4] == "/" {
			return l
		}
	}
	return ""
}

// TestBundleRefusals: a bundle asking for a sysctl of the host, a flag that
// would build the spec, or a hard limit above the host's is refused with one
// line, and nothing is left (the suite's host check).
func TestBundleRefusals(t *testing.T) {
	fx := newFixture(t)
	// This process's network namespace is the host's.
	hostNS := "/proc/" + itoa(os.Getpid()) + "/ns/net"
	for _, tt := range []struct {
		name   string
		change func(*specs.Spec)
		flags  []string
		want   string
	}{
		{"host sysctl", func(s *specs.Spec) { s.Linux.Sysctl = map[string]string{"kernel.core_pattern": "|/bin/sh"} }, nil, "kernel.core_pattern"},
		{"spec flag", func(*specs.Spec) {}, []string{"--hostname=x"}, "--hostname builds a spec"},
		{"net sysctl in the host's namespace by path", func(s *specs.Spec) {
			s.Linux.Namespaces = append(s.Linux.Namespaces, specs.LinuxNamespace{Type: specs.NetworkNamespace, Path: hostNS})
			s.Linux.Sysctl = map[string]string{"net.ipv4.ping_group_range": "0 0"}
		}, nil, "the network namespace " + hostNS + " is the host's"},
		{"rlimit above the hard limit", func(s *specs.Spec) {
			s.Process.Rlimits = []specs.POSIXRlimit{{Type: "RLIMIT_NOFILE", Soft: 1 << 40, Hard: 1 << 40}}
		}, nil, "RLIMIT_NOFILE"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			dir := fx.bundle(t, []string{"/bin/true"}, tt.change)
			r := ctl(t, append([]string{"run", fx.name, "--oci-bundle", dir}, tt.flags...)...)
			if r.code == 0 || !strings.Contains(r.stderr, fx.name+": ") || !strings.Contains(r.stderr, tt.want) {
				t.Errorf("run --oci-bundle: exit %d, stderr %q; want a failure naming %s and %q", r.code, r.stderr, fx.name, tt.want)
			}
		})
	}
}

// TestBundleSysctlJoinedNetNS: a net sysctl of a bundle that joins a
// network namespace by path (as podman's netavark gives it one) is set in
// that namespace, and the host's own value stays.
func TestBundleSysctlJoinedNetNS(t *testing.T) {
	nh := newNetHost(t)
	const key = "/proc/sys/net/ipv4/ping_group_range"
	hostValue, err := os.ReadFile(key)
	if err != nil {
		t.Fatal(err)
	}
	fx := newFixture(t)
	dir := fx.bundle(t, []string{"/bin/sh", "-c", "echo value $(cat " + key + "); echo ready; exec sleep 1000"}, func(s *specs.Spec) {
		s.Linux.Namespaces = append(s.Linux.Namespaces, specs.LinuxNamespace{Type: specs.NetworkNamespace, Path: nh.path})
		s.Linux.Sysctl = map[string]string{"net.ipv4.ping_group_range": "0 0"}
	})
	c := fx.start(t, runOpts{bundle: dir})
	c.waitLine("ready", startTimeout)
	if out := c.stdout.String(); !strings.Contains(out, "value 0 0\n") {
		t.Errorf("inside: want net.ipv4.ping_group_range 0 0 in the output:\n%s", out)
	}
	ns, err := exec.Command("nsenter", "--net="+nh.path, "cat", key).Output()
	if err != nil {
		t.Fatal(err)
	}
	if f := strings.Fields(string(ns)); len(f) != 2 || f[0] != "0" || f[1] != "0" {
		t.Errorf("the joined namespace's net.ipv4.ping_group_range = %q, want 0 0", ns)
	}
	if now, _ := os.ReadFile(key); string(now) != string(hostValue) {
		t.Errorf("host: net.ipv4.ping_group_range = %q, want it unchanged (%q)", now, hostValue)
	}
}

// TestBundleTmpcopyup: a tmpfs with "tmpcopyup" (podman's --tmpfs) holds
// what the directory it covers held, with its owners, modes and links, and
// the image's own directory is left as it was; on a bind it is refused.
func TestBundleTmpcopyup(t *testing.T) {
	fx := newFixture(t)
	mustMkdir(t, filepath.Join(fx.root, "data", "sub"))
	if err := os.WriteFile(filepath.Join(fx.root, "data", "sub", "file"), []byte("kept\n"), 0o640); err != nil {
		t.Fatal(err)
	}
	if err := os.Chown(filepath.Join(fx.root, "data", "sub", "file"), 1000, 1001); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink("sub/file", filepath.Join(fx.root, "data", "link")); err != nil {
		t.Fatal(err)
	}
	script := "cat /data/link; stat -c '%u:%g %a' /data/sub/file; echo new > /data/sub/new; grep ' /data tmpfs ' /proc/self/mounts; echo ready; exec sleep 1000"
	for _, a := range []string{"stat", "grep"} {
		_ = os.Symlink("busybox", filepath.Join(fx.root, "bin", a))
	}
	dir := fx.bundle(t, []string{"/bin/sh", "-c", script}, func(s *specs.Spec) {
		s.Mounts = append(s.Mounts, specs.Mount{Destination: "/data", Type: "tmpfs", Source: "tmpfs", Options: []string{"tmpcopyup", "size=1m"}})
	})
	c := fx.start(t, runOpts{bundle: dir})
	c.waitLine("ready", startTimeout)
	out := c.stdout.String()
	for _, want := range []string{"kept\n", "1000:1001 640\n", " /data tmpfs "} {
		if !strings.Contains(out, want) {
			t.Errorf("inside: want %q in the output:\n%s", want, out)
		}
	}
	if exists(filepath.Join(fx.root, "data", "sub", "new")) {
		t.Errorf("a write to the tmpfs reached the image's /data")
	}
	bad := fx.bundle(t, []string{"/bin/true"}, func(s *specs.Spec) {
		s.Mounts = append(s.Mounts, specs.Mount{Destination: "/x", Type: "bind", Source: "/tmp", Options: []string{"rbind", "tmpcopyup"}})
	})
	if r := ctl(t, "run", fx.name+"-b", "--oci-bundle", bad); r.code == 0 || !strings.Contains(r.stderr, "tmpcopyup is for a tmpfs") {
		t.Errorf("tmpcopyup on a bind: exit %d, stderr %q; want a refusal", r.code, r.stderr)
	}
}
