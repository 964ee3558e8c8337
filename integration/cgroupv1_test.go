//go:build linux

package integration

import (
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// v1Hierarchy is one cgroup v1 hierarchy of the host, as /proc/self/cgroup
// names it, and its root as the test reaches it: a detached mount of its
// own, whether or not the host mounts it.
type v1Hierarchy struct {
	key   string   // "memory", "cpu,cpuacct", "name=systemd"
	ctrls []string // bound controllers
	name  string   // name=, "" for none
	root  string   // /proc/self/fd/N of the test's detached mount
}

// mountOpts are the options that mount this hierarchy, as a guest would.
func (h v1Hierarchy) mountOpts() string {
	opts := slices.Clone(h.ctrls)
	if len(opts) == 0 {
		opts = append(opts, "none")
	}
	if h.name != "" {
		opts = append(opts, "name="+h.name)
	}
	return strings.Join(opts, ",")
}

// requireCgroupV1 skips on a kernel without cgroup v1, where there is no
// such hole to test; a kernel that has it runs the test, in every mode.
func requireCgroupV1(t *testing.T) {
	t.Helper()
	b, err := os.ReadFile("/proc/filesystems")
	if err != nil {
		t.Fatal(err)
	}
	for _, line := range strings.Split(string(b), "\n") {
		if f := strings.Fields(line); len(f) > 0 && f[len(f)-1] == "cgroup" {
			return
		}
	}
	t.Skip("this kernel has no cgroup v1 filesystem")
}

// fsmountCgroup mounts a v1 hierarchy by options, attached nowhere, and
// closes it at cleanup.
func fsmountCgroup(t *testing.T, ctrls []string, name string) string {
	t.Helper()
	fs, err := unix.Fsopen("cgroup", unix.FSOPEN_CLOEXEC)
	if err != nil {
		t.Fatalf("fsopen cgroup: %v", err)
	}
	defer unix.Close(fs)
	for _, c := range ctrls {
		if err := unix.FsconfigSetFlag(fs, c); err != nil {
			t.Fatalf("fsconfig %s: %v", c, err)
		}
	}
	if len(ctrls) == 0 {
		if err := unix.FsconfigSetFlag(fs, "none"); err != nil {
			t.Fatalf("fsconfig none: %v", err)
		}
	}
	if name != "" {
		if err := unix.FsconfigSetString(fs, "name", name); err != nil {
			t.Fatalf("fsconfig name=%s: %v", name, err)
		}
	}
	if err := unix.FsconfigCreate(fs); err != nil {
		t.Fatalf("fsconfig create (%v, name=%s): %v", ctrls, name, err)
	}
	m, err := unix.Fsmount(fs, unix.FSMOUNT_CLOEXEC, 0)
	if err != nil {
		t.Fatalf("fsmount: %v", err)
	}
	t.Cleanup(func() { unix.Close(m) })
	return "/proc/self/fd/" + strconv.Itoa(m)
}

// hostV1Hierarchies lists the host's v1 hierarchies from /proc/self/cgroup,
// which names them whether mounted or not, each reached by a detached mount.
func hostV1Hierarchies(t *testing.T) []v1Hierarchy {
	t.Helper()
	b, err := os.ReadFile("/proc/self/cgroup")
	if err != nil {
		t.Fatal(err)
	}
	var hs []v1Hierarchy
	for _, line := range strings.Split(strings.TrimSpace(string(b)), "\n") {
		parts := strings.SplitN(line, ":", 3)
		if len(parts) != 3 || parts[0] == "0" {
			continue
		}
		h := v1Hierarchy{key: parts[1]}
		for _, c := range strings.Split(parts[1], ",") {
			if n, ok := strings.CutPrefix(c, "name="); ok {
				h.name = n
			} else {
				h.ctrls = append(h.ctrls, c)
			}
		}
		h.root = fsmountCgroup(t, h.ctrls, h.name)
		hs = append(hs, h)
	}
	return hs
}

// mountedV1 reports whether the host mounts the root of the v1 hierarchy
// h: a cgroup mount of "/" whose superblock options name its controllers
// and name.
func mountedV1(t *testing.T, h v1Hierarchy) bool {
	t.Helper()
	b, err := os.ReadFile("/proc/self/mountinfo")
	if err != nil {
		t.Fatal(err)
	}
	want := strings.Split(strings.TrimPrefix(h.mountOpts(), "none,"), ",")
	for _, line := range strings.Split(string(b), "\n") {
		pre, post, ok := strings.Cut(line, " - ")
		f, g := strings.Fields(pre), strings.Fields(post)
		if !ok || len(f) < 5 || len(g) < 3 || g[0] != "cgroup" || f[3] != "/" {
			continue
		}
		if !slices.ContainsFunc(want, func(o string) bool { return !hasOpt(g[2], o) }) {
			return true
		}
	}
	return false
}

// unmountedHierarchy makes a named v1 hierarchy the host has but does not
// mount: a detached mount the test keeps open. At cleanup it checks that
// nothing was left below its root, removes what was, and closes the mount,
// which ends the hierarchy.
func unmountedHierarchy(t *testing.T) v1Hierarchy {
	t.Helper()
	h := v1Hierarchy{key: "name=containerctl-test-" + randHex(6)}
	h.name = strings.TrimPrefix(h.key, "name=")
	// Registered before the mount's own cleanup, so it runs after it. The
	// kernel ends a v1 hierarchy when its last mount goes only if its root
	// has no child then; a child just removed stays listed until its last
	// reference goes, a moment later. So the hierarchy is mounted again
	// and let go until it has gone.
	t.Cleanup(func() {
		deadline := time.Now().Add(3 * time.Second)
		for {
			b, err := os.ReadFile("/proc/self/cgroup")
			if err != nil || !strings.Contains(string(b), ":"+h.key+":") {
				return
			}
			if time.Now().After(deadline) {
				t.Errorf("hierarchy %s still exists 3s after the test closed its mount", h.key)
				return
			}
			if fs, err := unix.Fsopen("cgroup", unix.FSOPEN_CLOEXEC); err == nil {
				if unix.FsconfigSetFlag(fs, "none") == nil && unix.FsconfigSetString(fs, "name", h.name) == nil && unix.FsconfigCreate(fs) == nil {
					if m, err := unix.Fsmount(fs, unix.FSMOUNT_CLOEXEC, 0); err == nil {
						unix.Close(m)
					}
				}
				unix.Close(fs)
			}
			time.Sleep(20 * time.Millisecond)
		}
	})
	h.root = fsmountCgroup(t, nil, h.name)
	t.Cleanup(func() {
		var rm func(string)
		rm = func(d string) {
			entries, _ := os.ReadDir(d)
			for _, e := range entries {
				if e.IsDir() {
					rm(filepath.Join(d, e.Name()))
				}
			}
			if d != h.root {
				t.Errorf("cgroup %s left in hierarchy %s", strings.TrimPrefix(d, h.root), h.key)
				if err := os.Remove(d); err != nil {
					t.Errorf("remove %s: %v", d, err)
				}
			}
		}
		rm(h.root)
	})
	return h
}

// unboundControllers are the enabled v1 controllers that no hierarchy
// holds (hierarchy 0 in /proc/cgroups) and that cgroup2 does not offer
// either: a guest that could bind one would make a hierarchy of its own.
func unboundControllers(t *testing.T) []string {
	t.Helper()
	b, err := os.ReadFile("/proc/cgroups")
	if err != nil {
		t.Fatal(err)
	}
	v2, _ := os.ReadFile(filepath.Join(unifiedMount(t), "cgroup.controllers"))
	var ctrls []string
	for _, line := range strings.Split(string(b), "\n") {
		f := strings.Fields(line)
		if len(f) == 4 && f[1] == "0" && f[3] == "1" && !slices.Contains(strings.Fields(string(v2)), f[0]) {
			ctrls = append(ctrls, f[0])
		}
	}
	return ctrls
}

// TestCgroupV1Hierarchies: in every v1 hierarchy the host has, mounted or
// not, the container is in a cgroup of its own, and a guest that mounts the
// hierarchy sees that cgroup as the root: no release_agent (which the kernel
// runs as host root), nothing of the host's. It cannot bind a controller no
// hierarchy holds, nor make a new hierarchy. Once the supervisor is gone,
// however it went, its cgroups are gone from every hierarchy, including
// those only a detached mount reaches.
func TestCgroupV1Hierarchies(t *testing.T) {
	requireRoot(t)
	requireCgroupV1(t)
	for _, end := range []string{"stop", "kill"} {
		t.Run(end, func(t *testing.T) { testV1Hierarchies(t, end) })
	}
}

func testV1Hierarchies(t *testing.T, end string) {
	made := unmountedHierarchy(t)
	hs := hostV1Hierarchies(t)
	var unmounted []string
	for _, h := range hs {
		if !mountedV1(t, h) {
			unmounted = append(unmounted, h.key)
		}
	}
	if !slices.Contains(unmounted, made.key) {
		t.Fatalf("hierarchy %s not found unmounted among %v", made.key, unmounted)
	}
	t.Logf("v1 hierarchies %d, not mounted by the host: %v", len(hs), unmounted)
	unbound := unboundControllers(t)
	t.Logf("controllers bound to no hierarchy: %v", unbound)

	fx := newFixture(t)
	for _, applet := range []string{"mount", "umount", "mkdir"} {
		if err := os.Symlink("busybox", filepath.Join(fx.root, "bin", applet)); err != nil {
			t.Fatal(err)
		}
	}
	marker := "guest-made-" + randHex(4)
	var script []string
	for i, h := range hs {
		d := fmt.Sprintf("/tmp/h%d", i)
		script = append(script, fmt.Sprintf(`mkdir -p %[1]s; if mount -t cgroup -o %[2]s cgroup %[1]s; then echo "MOUNTED %[3]s"; `+
			`[ -e %[1]s/release_agent ] && echo "RELEASE-AGENT-SEEN %[3]s"; echo > %[1]s/release_agent 2>/dev/null && echo "RELEASE-AGENT-WRITTEN %[3]s"; `+
			`mkdir %[1]s/%[4]s && echo "MADE %[3]s"; umount %[1]s; fi`, d, h.mountOpts(), h.key, marker))
	}
	for _, c := range unbound {
		script = append(script, fmt.Sprintf(`mkdir -p /tmp/u; mount -t cgroup -o %[1]s cgroup /tmp/u 2>/dev/null && echo "BOUND %[1]s" && umount /tmp/u`, c))
	}
	script = append(script,
		`mkdir -p /tmp/n; mount -t cgroup -o none,name=guest-`+randHex(4)+` cgroup /tmp/n 2>/dev/null && echo "NEW-HIERARCHY" && umount /tmp/n`,
		"echo DONE; sleep 60")
	c := fx.start(t, runOpts{flags: []string{"--console=pipe"}, command: []string{"/bin/sh", "-c", strings.Join(script, "\n")}})
	c.waitLine("DONE", startTimeout)
	c.findInit()
	out := c.stdout.String()
	for _, bad := range []string{"RELEASE-AGENT-SEEN", "RELEASE-AGENT-WRITTEN", "BOUND", "NEW-HIERARCHY"} {
		if strings.Contains(out, bad) {
			t.Errorf("inside, the guest got %s:\n%s", bad, out)
		}
	}
	own, err := os.ReadFile(filepath.Join("/proc", strconv.Itoa(c.initPID), "cgroup"))
	if err != nil {
		t.Fatal(err)
	}
	guest := filepath.Join("/containerctl", fx.name, "guest")
	for _, h := range hs {
		if want := ":" + h.key + ":" + guest + "\n"; !strings.Contains(string(own), want) {
			t.Errorf("init's /proc/PID/cgroup = %q, want a line ending %q", own, want)
		}
		if !strings.Contains(out, "MOUNTED "+h.key+"\n") || !strings.Contains(out, "MADE "+h.key+"\n") {
			t.Errorf("inside, could not mount %s and make a cgroup in it:\n%s\n%s", h.key, out, c.stderr.String())
		}
		if exists(filepath.Join(h.root, marker)) {
			t.Errorf("in %s, a cgroup the guest made is at the hierarchy's root", h.key)
		}
		if !exists(filepath.Join(h.root, guest, marker)) {
			t.Errorf("in %s, a cgroup the guest made is not below its own %s", h.key, guest)
		}
	}
	if end == "stop" {
		if r := ctl(t, "stop", fx.name, "--timeout", "1s"); r.code != 0 {
			t.Errorf("stop: exit %d: %s", r.code, r.stderr)
		}
		c.wait(10 * time.Second)
	} else {
		// The reaper removes the cgroups, reaching the hierarchies the
		// host does not mount from the record alone.
		if err := c.cmd.Process.Signal(syscall.SIGKILL); err != nil {
			t.Fatal(err)
		}
		<-c.done
	}
	for _, h := range hs {
		if p := filepath.Join(h.root, "containerctl", fx.name); !waitAbsent(p, 3*time.Second) {
			t.Errorf("after %s, the container's cgroup is still in %s", end, h.key)
		}
	}
	if p := filepath.Join(made.root, "containerctl"); !waitAbsent(p, 3*time.Second) {
		t.Errorf("after %s, the default parent is still in %s", end, made.key)
	}
}
