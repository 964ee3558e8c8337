//go:build linux

package integration

import (
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

// TestInheritedFDs: only 0, 1, 2 and the fds asked for reach the init. An
// fd the caller left open without O_CLOEXEC, at a low or a high number,
// would hand the guest a host directory (CVE-2024-21626's class):
// `cat /proc/self/fd/7/hostname` printed the host's /etc/hostname.
func TestInheritedFDs(t *testing.T) {
	fx := newFixture(t)
	passed, err := os.CreateTemp(fx.dir, "passed")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := passed.WriteString("PASSED-FD-CONTENT\n"); err != nil {
		t.Fatal(err)
	}
	if _, err := passed.Seek(0, 0); err != nil {
		t.Fatal(err)
	}
	leaked, err := os.Open("/etc")
	if err != nil {
		t.Fatal(err)
	}
	defer passed.Close()
	defer leaked.Close()

	for _, tt := range []struct {
		name     string
		flags    []string
		readable bool // fd 3 is the passed file
	}{
		{"none asked for", nil, false},
		{"preserve-fds 1", []string{"--preserve-fds", "1"}, true},
	} {
		t.Run(tt.name, func(t *testing.T) {
			fx := newFixture(t)
			// The init (sh) lists its own fds; sh's own pipes for $(...)
			// show as pipe:[N].
			script := `for f in /proc/1/fd/*; do echo FD ${f##*/} $(readlink $f); done; cat /proc/1/fd/7/hostname && echo LEAKED-7; cat /proc/1/fd/100/hostname && echo LEAKED-100; [ -e /proc/1/fd/3 ] && cat /proc/1/fd/3; echo DONE`
			c := fx.start(t, runOpts{
				flags:   append([]string{"--console=pipe"}, tt.flags...),
				command: []string{"/bin/sh", "-c", script},
				files:   []*os.File{passed, leaked},
				// The wrapper leaves fd 7 and fd 100 open without
				// O_CLOEXEC, as a careless caller's shell would.
				wrap: []string{"/bin/bash", "-c", `exec 7</etc 100</etc; exec "$@"`, "bash"},
			})
			if got := c.wait(startTimeout); got != 0 {
				t.Fatalf("exit %d\nstdout: %s\nstderr: %s", got, c.stdout.String(), c.stderr.String())
			}
			out := c.stdout.String()
			for _, l := range nonEmptyLines(out) {
				f := strings.Fields(l)
				if len(f) < 2 || f[0] != "FD" {
					continue
				}
				switch {
				case f[1] == "0" || f[1] == "1" || f[1] == "2":
				case len(f) == 3 && strings.HasPrefix(f[2], "pipe:"):
					// sh's own, for $(readlink)
				case f[1] == "3" && tt.readable:
				default:
					t.Errorf("the init has fd %s (%s), which nobody asked to pass", f[1], strings.Join(f[2:], " "))
				}
			}
			if strings.Contains(out, "LEAKED") {
				t.Errorf("the init reached a host directory through an inherited fd:\n%s", out)
			}
			if has := strings.Contains(out, "PASSED-FD-CONTENT"); has != tt.readable {
				t.Errorf("fd 3 passed to the init = %v, want %v:\n%s", has, tt.readable, out)
			}
		})
	}
}

// TestSocketActivation: with LISTEN_FDS for the supervisor (as systemd
// passes sockets), the init gets the fds and is told so for PID 1.
func TestSocketActivation(t *testing.T) {
	fx := newFixture(t)
	r, w, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	if _, err := w.WriteString("ACTIVATED\n"); err != nil {
		t.Fatal(err)
	}
	w.Close()
	c := fx.start(t, runOpts{
		flags:   []string{"--console=pipe"},
		command: []string{"/bin/sh", "-c", `echo ENV $LISTEN_FDS $LISTEN_PID $LISTEN_FDNAMES; cat /proc/self/fd/3`},
		files:   []*os.File{r},
		// LISTEN_PID must be the supervisor's own pid: the wrapper
		// sets it to its own and execs containerctl.
		wrap: []string{"/bin/sh", "-c", `LISTEN_PID=$$ LISTEN_FDS=1 LISTEN_FDNAMES=web exec "$@"`, "sh"},
	})
	if got := c.wait(startTimeout); got != 0 {
		t.Fatalf("exit %d\nstderr: %s", got, c.stderr.String())
	}
	out := c.stdout.String()
	if !strings.Contains(out, "ENV 1 1 web") || !strings.Contains(out, "ACTIVATED") {
		t.Errorf("socket activation: want LISTEN_FDS=1 LISTEN_PID=1 LISTEN_FDNAMES=web and fd 3 readable; got:\n%s", out)
	}
}

// TestOSReleaseIsACopy: /run/host/os-release has the host's contents but
// is not a bind of the host's file, which a guest could remount
// read-write and write (nspawn binds it).
func TestOSReleaseIsACopy(t *testing.T) {
	fx := newFixture(t)
	fx.setInitArgs(t, "-report", "-read", "/run/host/os-release")
	c := fx.start(t, runOpts{})
	r := c.report()
	want, err := os.ReadFile("/etc/os-release")
	if err != nil {
		want, err = os.ReadFile("/usr/lib/os-release")
	}
	if err != nil {
		t.Fatal(err)
	}
	if got := r.Reads["/run/host/os-release"]; got.Data != string(want) {
		t.Errorf("/run/host/os-release = %q (%s), want the host's %q", got.Data, got.Err, want)
	}
	for _, m := range parseMountinfo(r.Mountinfo) {
		if strings.HasPrefix(m.point, "/run/host/os-release") {
			t.Errorf("/run/host/os-release is a mount (%s %s from %s): a guest could remount it read-write", m.fstype, m.root, m.source)
		}
	}
}

// TestGuestSetuidUnreachable: a guest's root may plant a setuid binary in
// its root; the directory of default roots containerctl makes is 0700, so
// no host user can run it.
func TestGuestSetuidUnreachable(t *testing.T) {
	fx := newFixture(t)
	const parent = "/var/lib/containers"
	if exists(parent) {
		if integrationMode() {
			t.Fatalf("%s exists before the test: this test needs containerctl to create it", parent)
		}
		t.Skipf("%s exists: this test needs containerctl to create it", parent)
	}
	root := filepath.Join(parent, fx.name)
	t.Cleanup(func() {
		os.RemoveAll(root)
		os.Remove(parent)
	})
	mustCopy(t, busybox, filepath.Join(fx.sysHost, "busybox"), 0o755)
	bb := fx.system + "/busybox"
	c := fx.start(t, runOpts{noRoot: true, flags: []string{"--console=pipe"},
		command: []string{bb, "sh", "-c", bb + " cp " + bb + " /planted && " + bb + " chmod 4755 /planted && echo PLANTED"}})
	if got := c.wait(startTimeout); got != 0 {
		t.Fatalf("exit %d\nstderr: %s", got, c.stderr.String())
	}
	fi, err := os.Stat(parent)
	if err != nil || fi.Mode().Perm() != 0o700 {
		t.Errorf("%s = %v, %v; want a 0700 directory", parent, fi, err)
	}
	planted := filepath.Join(root, "planted")
	if fi, err := os.Stat(planted); err != nil || fi.Mode()&os.ModeSetuid == 0 {
		t.Fatalf("the guest's plant %s = %v, %v; want a setuid file", planted, fi, err)
	}
	// As nobody on the host, the plant cannot even be reached.
	cmd := exec.Command(planted, "id", "-u")
	cmd.SysProcAttr = &syscall.SysProcAttr{Credential: &syscall.Credential{Uid: 65534, Gid: 65534}}
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Run(); err == nil {
		t.Errorf("a host user ran the guest's setuid plant %s: %s", planted, out.String())
	} else if !strings.Contains(err.Error(), "permission denied") {
		t.Errorf("running the plant as nobody: %v, want permission denied", err)
	}
}

// TestStopFrozenGuest: a guest that freezes itself in the v1 freezer
// (which it may mount in its cgroup namespace) is still killed when the
// stop timeout passes, and leaves nothing behind; a frozen task acts on
// SIGKILL only once thawed.
func TestStopFrozenGuest(t *testing.T) {
	requireRoot(t)
	if v1Mount("freezer") == "" {
		t.Skip("the host has no v1 freezer hierarchy, which this guest would use")
	}
	fx := newFixture(t)
	script := `mkdir -p /tmp/f && mount -t cgroup -o freezer none /tmp/f && echo MOUNTED && (sleep 0.5; echo FROZEN > /tmp/f/freezer.state) & sleep 1000`
	c := fx.start(t, runOpts{flags: []string{"--console=pipe", "--stop-timeout", "1s"}, command: []string{"/bin/sh", "-c", script}})
	c.waitLine("MOUNTED", startTimeout)
	c.findInit()
	// Wait until the guest is frozen.
	deadline := time.Now().Add(5 * time.Second)
	for {
		b, _ := os.ReadFile(filepath.Join("/proc", itoa(c.initPID), "status"))
		if strings.Contains(string(b), "State:\tD") || strings.Contains(string(b), "(stopped)") || strings.Contains(string(b), "frozen") {
			break
		}
		if st, _ := os.ReadFile(filepath.Join(v1Mount("freezer"), "containerctl", fx.name, "guest", "freezer.state")); strings.TrimSpace(string(st)) == "FROZEN" {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the guest did not freeze itself:\n%s\n%s", c.stdout.String(), c.stderr.String())
		}
		time.Sleep(20 * time.Millisecond)
	}
	start := time.Now()
	r := ctl(t, "stop", fx.name)
	if r.code != 0 || !strings.Contains(r.stdout, "killed") {
		t.Errorf("stop of a frozen guest: exit %d, stdout %q, stderr %q; want 0 and killed", r.code, r.stdout, r.stderr)
	}
	if d := time.Since(start); d > 10*time.Second {
		t.Errorf("stop of a frozen guest took %v, want about the 1s stop timeout", d)
	}
	c.wait(10 * time.Second)
	// The cleanup checks that no process, record or cgroup is left.
}

// TestStopDeepCgroupGuest: a guest that makes its cgroup trees deeper
// than a path can name (over PATH_MAX from the host's root), in cgroup2
// and in a v1 freezer hierarchy of its own with a task frozen at the
// bottom, is still stopped within its stop timeout, with one line of
// output, and leaves no cgroup behind (the fixture's check).
func TestStopDeepCgroupGuest(t *testing.T) {
	requireRoot(t)
	if v1Mount("freezer") == "" {
		t.Skip("the host has no v1 freezer hierarchy, which this guest would use")
	}
	fx := newFixture(t)
	script := `mkdir -p /tmp/f && mount -t cgroup -o freezer none /tmp/f || exit 1
/sbin/testinit deep-cgroup /tmp/f 18 freeze &
/sbin/testinit deep-cgroup /sys/fs/cgroup 20 &
exec sleep 1000`
	c := fx.start(t, runOpts{flags: []string{"--console=pipe", "--stop-timeout", "1s"}, command: []string{"/bin/sh", "-c", script}})
	c.waitLine("DEEP /tmp/f", startTimeout)
	c.waitLine("DEEP /sys/fs/cgroup", startTimeout)
	start := time.Now()
	r := ctl(t, "stop", fx.name)
	if r.code != 0 {
		t.Errorf("stop of a guest with deep cgroups: exit %d, stdout %q, stderr %q; want 0", r.code, r.stdout, r.stderr)
	}
	if d := time.Since(start); d > 10*time.Second {
		t.Errorf("stop of a guest with deep cgroups took %v, want about the 1s stop timeout", d)
	}
	c.wait(10 * time.Second)
	if strings.Contains(c.stderr.String(), "remove cgroup") || strings.Contains(c.stderr.String(), "thaw") {
		t.Errorf("the supervisor could not clean up:\n%s", c.stderr.String())
	}
	if r := ctl(t, "list"); r.code != 0 || strings.Contains(r.stdout, fx.name) {
		t.Errorf("list after the stop: exit %d, %q; want no %s", r.code, r.stdout, fx.name)
	}
}

// TestReachableRootWarns: a --root that host users can reach (every
// directory above it lets others through) gets a warning, since a setuid
// file its guest plants would run for any of them.
func TestReachableRootWarns(t *testing.T) {
	fx := newFixture(t)
	open := filepath.Join(fx.dir, "open")
	mustMkdir(t, open)
	if err := os.Chmod(filepath.Dir(fx.dir), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(fx.dir, 0o755); err != nil {
		t.Fatal(err)
	}
	root := filepath.Join(open, "root")
	if err := os.Rename(fx.root, root); err != nil {
		t.Fatal(err)
	}
	c := fx.start(t, runOpts{root: root, flags: []string{"--console=pipe"}, command: []string{"/bin/true"}})
	if got := c.wait(startTimeout); got != 0 {
		t.Fatalf("exit %d\n%s", got, c.stderr.String())
	}
	if !strings.Contains(c.stderr.String(), "host users can reach "+root) {
		t.Errorf("run with a root host users can reach: stderr %q, want a warning", c.stderr.String())
	}
	// And none where the directory above it is closed.
	if err := os.Chmod(open, 0o700); err != nil {
		t.Fatal(err)
	}
	r := ctl(t, "run", fx.name, "--root", root, "--store", fx.store, "--console=pipe", "--", "/bin/true")
	if r.code != 0 || strings.Contains(r.stderr, "host users can reach") {
		t.Errorf("run with a closed root: exit %d, stderr %q; want 0 and no warning", r.code, r.stderr)
	}
}

// TestFailedStartLeavesBindSources: what the init child made through a
// bind (a mount point for a later tmpfs) is removed from the bind's source
// on the host when a later step fails, not only what it made in the root.
func TestFailedStartLeavesBindSources(t *testing.T) {
	fx := newFixture(t)
	src := filepath.Join(fx.dir, "hostdir")
	mustMkdir(t, src)
	before := tree(t, src)
	r := ctl(t, "run", fx.name, "--root", fx.root, "--store", fx.store, "--console=pipe",
		"--bind", src+":/mnt", "--tmpfs", "/mnt/sub/deep", "--tmpfs", "/zz:nr_inodes=foo", "--", "/bin/true")
	if r.code != 1 || !strings.Contains(r.stderr, "nr_inodes=foo") {
		t.Fatalf("run with a bad tmpfs option: exit %d, stderr %q; want 1 and the option named", r.code, r.stderr)
	}
	if after := tree(t, src); strings.Join(after, "\n") != strings.Join(before, "\n") {
		t.Errorf("the failed start left %q in the bind's source (before: %q)", after, before)
	}
}
