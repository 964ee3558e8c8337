//go:build linux

package integration

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

// hostCgroup is the container's cgroup directory in the hierarchy mounted at
// mnt (a v1 controller's or the unified one).
func hostCgroup(mnt, name string) string {
	return filepath.Join("/sys/fs/cgroup", mnt, "containerctl", name)
}

// guestCgroup is the cgroup below the container's that is the root of the
// guest's cgroup namespace; the container's, above it, holds the limits.
func guestCgroup(mnt, name string) string {
	return filepath.Join(hostCgroup(mnt, name), "guest")
}

// unifiedMount is where this host mounts cgroup2: /sys/fs/cgroup on a v2
// host, /sys/fs/cgroup/unified on a hybrid one.
func unifiedMount(t *testing.T) string {
	t.Helper()
	var st syscall.Statfs_t
	for _, p := range []string{"/sys/fs/cgroup", "/sys/fs/cgroup/unified"} {
		if syscall.Statfs(p, &st) == nil && st.Type == 0x63677270 { // CGROUP2_SUPER_MAGIC
			return p
		}
	}
	t.Fatal("no cgroup2 hierarchy on this host")
	return ""
}

// v1Mount is the v1 hierarchy of ctrl, or "" on a host that has it on v2.
func v1Mount(ctrl string) string {
	p := filepath.Join("/sys/fs/cgroup", ctrl)
	var st syscall.Statfs_t
	if syscall.Statfs(p, &st) == nil && st.Type == 0x27e0eb { // CGROUP_SUPER_MAGIC
		return p
	}
	return ""
}

// limitFile is the cgroup file of the container that holds a controller's
// setting: the v1 one where the host has the controller on v1.
func limitFile(t *testing.T, name, ctrl, v1File, v2File string) string {
	if m := v1Mount(ctrl); m != "" {
		return filepath.Join(m, "containerctl", name, v1File)
	}
	return filepath.Join(unifiedMount(t), "containerctl", name, v2File)
}

func readInts(t *testing.T, p string) []int {
	t.Helper()
	b, err := os.ReadFile(p)
	if err != nil {
		t.Fatal(err)
	}
	var ns []int
	for _, f := range strings.Fields(string(b)) {
		n, err := strconv.Atoi(f)
		if err != nil {
			t.Fatalf("%s: %q is not a number", p, f)
		}
		ns = append(ns, n)
	}
	slices.Sort(ns)
	return ns
}

// TestCgroupPlacement: the container's processes, and only they, are in a
// cgroup of its own in every hierarchy; inside, the cgroup namespace makes
// it the root.
func TestCgroupPlacement(t *testing.T) {
	requireRoot(t)
	fx := newFixture(t)
	c := fx.start(t, runOpts{command: []string{"/sbin/testinit", "-report", "-orphan", "-read", "/proc/self/cgroup"}})
	r := c.report()
	c.ready()
	c.findInit()

	inside := r.Reads["/proc/self/cgroup"]
	if inside.Err != "" || !strings.Contains(inside.Data, "0::/\n") {
		t.Errorf("/proc/self/cgroup inside = %q (%s), want the namespace root 0::/", inside.Data, inside.Err)
	}
	b, err := os.ReadFile(filepath.Join("/proc", strconv.Itoa(c.initPID), "cgroup"))
	if err != nil {
		t.Fatal(err)
	}
	want := "/containerctl/" + fx.name + "/guest"
	// Every hierarchy: the guest may mount any of them, and in its cgroup
	// namespace it would see whatever cgroup it was left in.
	for _, line := range strings.Split(strings.TrimSpace(string(b)), "\n") {
		parts := strings.SplitN(line, ":", 3)
		if parts[2] != want {
			t.Errorf("init's cgroup in %q = %q, want %q", parts[1], parts[2], want)
		}
	}

	var wantPIDs []int
	for _, p := range c.procs() {
		wantPIDs = append(wantPIDs, p.pid)
	}
	slices.Sort(wantPIDs)
	if len(wantPIDs) < 2 {
		t.Fatalf("container processes %v, want the init and its orphan", wantPIDs)
	}
	procs := filepath.Join(unifiedMount(t), "containerctl", fx.name, "guest", "cgroup.procs")
	if got := readInts(t, procs); !slices.Equal(got, wantPIDs) {
		t.Errorf("%s = %v, want exactly the container's processes %v", procs, got, wantPIDs)
	}
	if m := v1Mount("memory"); m != "" {
		p := filepath.Join(m, "containerctl", fx.name, "guest", "cgroup.procs")
		if got := readInts(t, p); !slices.Equal(got, wantPIDs) {
			t.Errorf("%s = %v, want %v", p, got, wantPIDs)
		}
	}
}

// TestCgroupMemoryMax: a process that allocates past --memory-max is
// OOM-killed; the container's init and the supervisor carry on.
func TestCgroupMemoryMax(t *testing.T) {
	requireRoot(t)
	fx := newFixture(t)
	c := fx.start(t, runOpts{
		flags:   []string{"--memory-max", "48M", "--console=pipe"},
		command: []string{"/bin/sh", "-c", "/sbin/testinit alloc 256; echo alloc-exit $?; cat /proc/self/cgroup >/dev/null; echo survived"},
	})
	if got := c.wait(30 * time.Second); got != 0 {
		t.Errorf("containerctl run: exit status %d, want 0 (only the allocator dies)", got)
	}
	out := c.stdout.String()
	if !strings.Contains(out, "alloc-exit 137") || !strings.Contains(out, "survived") {
		t.Errorf("stdout = %q, want the allocator killed by SIGKILL (alloc-exit 137) and the init to go on", out)
	}
	if strings.Contains(out, "ALLOC-DONE") {
		t.Errorf("the allocator got 256 MiB past a 48M limit:\n%s", out)
	}
	if !strings.Contains(out, "ALLOC 32") {
		t.Errorf("the allocator did not get 32 MiB under a 48M limit:\n%s", out)
	}
}

// TestCgroupTasksMax: a fork loop stops at --tasks-max.
func TestCgroupTasksMax(t *testing.T) {
	requireRoot(t)
	fx := newFixture(t)
	c := fx.start(t, runOpts{
		flags:   []string{"--tasks-max", "24", "--console=pipe"},
		command: []string{"/sbin/testinit", "forks", "60"},
	})
	line := c.waitLine("FORKED", startTimeout)
	var ok, failed int
	if _, err := fmt.Sscanf(line, "FORKED ok=%d failed=%d", &ok, &failed); err != nil {
		t.Fatalf("%q: %v", line, err)
	}
	// Go's threads count as tasks too, so fewer than 24 children fit.
	if ok >= 24 || failed == 0 || ok < 5 {
		t.Errorf("%s: want the forks to stop short of the limit of 24 tasks", line)
	}
	current := limitFile(t, fx.name, "pids", "pids.current", "pids.current")
	if got := readInts(t, current); len(got) != 1 || got[0] > 24 || got[0] < ok {
		t.Errorf("%s = %v, want between %d and 24", current, got, ok)
	}
	if got := ctl(t, "stop", fx.name, "--timeout", "1s"); got.code != 0 {
		t.Errorf("stop: exit %d: %s", got.code, got.stderr)
	}
}

// TestCgroupCPUQuota: --cpu-quota 50% holds a busy loop to about half a CPU.
func TestCgroupCPUQuota(t *testing.T) {
	requireRoot(t)
	fx := newFixture(t)
	c := fx.start(t, runOpts{flags: []string{"--cpu-quota", "50%", "--console=pipe"}, command: []string{"/sbin/testinit", "spin"}})
	c.findInit()
	// Let it run into its quota, then measure over two seconds.
	time.Sleep(300 * time.Millisecond)
	t0, c0 := time.Now(), cpuTicks(t, c.initPID)
	time.Sleep(2 * time.Second)
	used := float64(cpuTicks(t, c.initPID)-c0) / 100 / time.Since(t0).Seconds() // USER_HZ is 100
	t.Logf("busy loop under --cpu-quota 50%%: %.2f CPUs", used)
	if used > 0.6 || used < 0.3 {
		t.Errorf("busy loop used %.2f CPUs under --cpu-quota 50%%, want about 0.5 (0.3 to 0.6)", used)
	}
	if got := ctl(t, "stop", fx.name, "--timeout", "1s"); got.code != 0 {
		t.Errorf("stop: exit %d: %s", got.code, got.stderr)
	}
}

// cpuTicks is utime+stime of pid in clock ticks (proc(5)).
func cpuTicks(t *testing.T, pid int) int {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("/proc", strconv.Itoa(pid), "stat"))
	if err != nil {
		t.Fatal(err)
	}
	f := strings.Fields(string(b[strings.LastIndexByte(string(b), ')')+2:]))
	ut, _ := strconv.Atoi(f[11])
	st, _ := strconv.Atoi(f[12])
	return ut + st
}

// TestCgroupNotWritableFromInside: nothing of the host's cgroup tree can be
// written from inside. The container's /sys/fs/cgroup is a cgroup2 mount in
// its own cgroup namespace, so its root is the container's cgroup, and a
// cgroup filesystem the container mounts itself, v2 or v1, is rooted there
// too: what it creates lands under its own cgroup, never at the host's root.
func TestCgroupNotWritableFromInside(t *testing.T) {
	requireRoot(t)
	fx := newFixture(t)
	marker := "escape-" + randHex(4)
	script := strings.Join([]string{
		"mkdir /sys/fs/cgroup/" + marker + "-sys && echo MADE-SYS",
		"mkdir /sys/fs/cgroup/../" + marker + "-up 2>/dev/null && echo WROTE-ABOVE",
		"mkdir -p /tmp/cg2 /tmp/mem",
		"mount -t cgroup2 none /tmp/cg2 && mkdir /tmp/cg2/" + marker + " && echo MADE-V2",
		"if grep -q memory /proc/self/cgroup; then mount -t cgroup -o memory none /tmp/mem && mkdir /tmp/mem/" + marker + " && echo MADE-V1; fi",
		"echo done; sleep 60",
	}, "\n")
	c := fx.start(t, runOpts{flags: []string{"--console=pipe"}, command: []string{"/bin/sh", "-c", script}})
	c.waitLine("done", startTimeout)
	out := c.stdout.String()
	if strings.Contains(out, "WROTE-ABOVE") {
		t.Errorf("the container wrote above its /sys/fs/cgroup:\n%s", out)
	}
	if !strings.Contains(out, "MADE-SYS") || !strings.Contains(out, "MADE-V2") {
		t.Fatalf("could not make a cgroup in the container's own cgroup2 view:\n%s\n%s", out, c.stderr.String())
	}
	u := unifiedMount(t)
	for _, m := range []string{marker, marker + "-sys"} {
		if exists(filepath.Join(u, m)) {
			t.Errorf("a cgroup made inside appeared at the host's root: %s", filepath.Join(u, m))
		}
		if !exists(filepath.Join(u, "containerctl", fx.name, "guest", m)) {
			t.Errorf("a cgroup made inside is not under the guest's own cgroup %s", filepath.Join(u, "containerctl", fx.name, "guest", m))
		}
	}
	if m := v1Mount("memory"); m != "" {
		// The host has the hierarchy: the guest must have tried it, or
		// this part proves nothing.
		if !strings.Contains(out, "MADE-V1") {
			t.Errorf("the host has a v1 memory hierarchy, but the guest could not make a cgroup in its own view of it:\n%s\n%s", out, c.stderr.String())
		}
		if exists(filepath.Join(m, marker)) {
			t.Errorf("a v1 memory cgroup made inside appeared at the host's root")
		}
		if !exists(filepath.Join(m, "containerctl", fx.name, "guest", marker)) {
			t.Errorf("a v1 memory cgroup made inside is not under the container's own")
		}
	}
	if got := ctl(t, "stop", fx.name, "--timeout", "1s"); got.code != 0 {
		t.Errorf("stop: exit %d: %s", got.code, got.stderr)
	}
	// The cleanup checks that the container's cgroups, and what it made
	// inside them, are gone.
}

// TestCgroupSupervisorKilled: when the supervisor is killed, its reaper
// removes the container's cgroups and record with no other command run:
// the Go supervisor during the start, and the monitor it became once the
// container runs (which holds the record's lock across its exec). What
// waits meanwhile is containerctl-reaper, one thread of C, and not a Go
// process: it costs a tenth of the memory for every container.
func TestCgroupSupervisorKilled(t *testing.T) {
	requireRoot(t)
	for _, kill := range []string{"containerctl", "containerctl-monitor"} {
		t.Run(kill, func(t *testing.T) {
			t.Parallel()
			fx := newFixture(t)
			c := fx.start(t, runOpts{flags: []string{"--console=pipe"}, command: []string{"/sbin/testinit", "-halt", "ignore", "-orphan"}})
			c.ready()
			dir := filepath.Join(unifiedMount(t), "containerctl", fx.name)
			if !exists(dir) {
				t.Fatalf("%s missing while the container runs", dir)
			}
			reaper := c.waitReaper(startTimeout)
			exe, err := os.Readlink(fmt.Sprintf("/proc/%d/exe", reaper))
			if err != nil {
				t.Fatal(err)
			}
			if want := filepath.Join(filepath.Dir(ctlBin), "containerctl-reaper"); exe != want {
				t.Errorf("reaper %d runs %s; want %s", reaper, exe, want)
			}
			status, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", reaper))
			if err != nil {
				t.Fatal(err)
			}
			if n := procStatus(t, string(status), "Threads")["Threads"]; n != "1" {
				t.Errorf("reaper %d has %s threads; want 1 (a Go process has several)", reaper, n)
			}
			// Killed as soon as it runs the binary named: the start's
			// Go, or the monitor.
			sup := c.cmd.Process.Pid
			for deadline := time.Now().Add(5 * time.Second); ; time.Sleep(10 * time.Millisecond) {
				exe, _ := os.Readlink(fmt.Sprintf("/proc/%d/exe", sup))
				if filepath.Base(exe) == kill {
					break
				}
				if time.Now().After(deadline) {
					t.Fatalf("supervisor %d runs %s, not %s, 5s on", sup, exe, kill)
				}
			}
			if err := c.cmd.Process.Signal(syscall.SIGKILL); err != nil {
				t.Fatal(err)
			}
			<-c.done
			for _, p := range append([]string{filepath.Join(stateDir, fx.name), fmt.Sprintf("/proc/%d", reaper)}, cgroupDirs(fx.name)...) {
				if !waitAbsent(p, 3*time.Second) {
					t.Errorf("%s still exists 3s after the supervisor was killed", p)
				}
			}
		})
	}
}

// TestCgroupBadLimits: a limit that is malformed or cannot be enforced on
// this host is refused before anything is created.
func TestCgroupBadLimits(t *testing.T) {
	requireRoot(t)
	tests := []struct {
		flag, value, want string
	}{
		{"--memory-max", "10X", "unknown unit"},
		{"--memory-max", "-5M", "negative"},
		{"--cpu-quota", strconv.Itoa(100*runtime.NumCPU()+1) + "%", "CPUs"},
		{"--cpu-quota", "50", "percentage"},
		{"--tasks-max", "0", "positive"},
		{"--cpu-weight", "0", "1 to 10000"},
		{"--io-weight", "20000", "1 to 10000"},
	}
	if v1Mount("memory") != "" {
		tests = append(tests, struct{ flag, value, want string }{"--memory-high", "100M", "cgroup v2"})
	}
	for _, tt := range tests {
		t.Run(tt.flag+"="+tt.value, func(t *testing.T) {
			fx := newFixture(t)
			root := filepath.Join(t.TempDir(), "root")
			r := ctl(t, "run", fx.name, "--root", root, "--store", fx.store, tt.flag+"="+tt.value, "--", "/bin/true")
			if r.code != 1 || !strings.Contains(r.stderr, tt.want) || !strings.Contains(r.stderr, fx.name) {
				t.Errorf("run %s=%s: exit %d, stderr %q; want 1 and a message naming %s with %q", tt.flag, tt.value, r.code, r.stderr, fx.name, tt.want)
			}
			for _, p := range append([]string{root, filepath.Join(stateDir, fx.name)}, cgroupDirs(fx.name)...) {
				if exists(p) {
					t.Errorf("%s exists after a refused run", p)
				}
			}
		})
	}
}

// TestCgroupSiblingsUntouched: stopping one container removes its own
// cgroups only, not those of another under the same parent, nor what that
// other's guest made below its cgroup, and does not wait on them.
func TestCgroupSiblingsUntouched(t *testing.T) {
	requireRoot(t)
	fxA, fxB := newFixture(t), newFixture(t)
	// B first, so that B is the one that made the shared parent.
	b := fxB.start(t, runOpts{command: []string{"/sbin/testinit", "-halt", "obey"}})
	b.ready()
	a := fxA.start(t, runOpts{flags: []string{"--console=pipe"}, command: []string{"/bin/sh", "-c", "mkdir /sys/fs/cgroup/guest-sub && echo made; sleep 60"}})
	a.waitLine("made", startTimeout)
	sub := filepath.Join(unifiedMount(t), "containerctl", fxA.name, "guest", "guest-sub")
	if !exists(sub) {
		t.Fatalf("%s missing while A runs", sub)
	}
	start := time.Now()
	if r := ctl(t, "stop", fxB.name); r.code != 0 || !strings.Contains(r.stdout, "halted cleanly") {
		t.Fatalf("stop B: exit %d, stdout %q, stderr %q", r.code, r.stdout, r.stderr)
	}
	if d := time.Since(start); d > 2*time.Second {
		t.Errorf("stopping B took %v with A running beside it, want well under 2s", d)
	}
	for _, p := range []string{sub, filepath.Join(unifiedMount(t), "containerctl", fxA.name)} {
		if !exists(p) {
			t.Errorf("stopping B removed %s, which belongs to A", p)
		}
	}
	if got := ctl(t, "stop", fxA.name, "--timeout", "1s"); got.code != 0 {
		t.Errorf("stop A: exit %d: %s", got.code, got.stderr)
	}
}

// TestCgroupGuestCannotRaiseLimits: the guest may write anything in its own
// cgroup namespace, v2 or a v1 hierarchy it mounts, but the limits sit on
// the container's cgroup above its root: lifting them there changes
// nothing, and an allocation past --memory-max is still killed.
func TestCgroupGuestCannotRaiseLimits(t *testing.T) {
	requireRoot(t)
	fx := newFixture(t)
	script := strings.Join([]string{
		"echo max > /sys/fs/cgroup/memory.max 2>/dev/null",
		"echo max > /sys/fs/cgroup/pids.max 2>/dev/null",
		"mkdir -p /tmp/mem /tmp/pids",
		"mount -t cgroup -o memory none /tmp/mem 2>/dev/null && echo -1 > /tmp/mem/memory.limit_in_bytes && echo LIFTED-V1",
		"mount -t cgroup -o pids none /tmp/pids 2>/dev/null && echo max > /tmp/pids/pids.max",
		"/sbin/testinit alloc 256; echo alloc-exit $?",
	}, "\n")
	c := fx.start(t, runOpts{flags: []string{"--memory-max", "48M", "--console=pipe"}, command: []string{"/bin/sh", "-c", script}})
	if got := c.wait(30 * time.Second); got != 0 {
		t.Errorf("containerctl run: exit status %d, want 0", got)
	}
	out := c.stdout.String()
	if v1Mount("memory") != "" && !strings.Contains(out, "LIFTED-V1") {
		t.Errorf("the guest could not even try to lift its v1 memory limit:\n%s\n%s", out, c.stderr.String())
	}
	if !strings.Contains(out, "alloc-exit 137") || strings.Contains(out, "ALLOC-DONE") {
		t.Errorf("after the guest lifted what it could, an allocation past --memory-max 48M was not killed:\n%s", out)
	}
}

// TestCgroupDelegatedUnit: run under a systemd unit with Delegate=yes
// (systemd marks the unit's cgroup with the trusted.delegate xattr), the
// container goes to UNIT/payload and the supervisor moves to
// UNIT/supervisor, since cgroup v2 allows no processes in a cgroup whose
// children have controllers; payload goes with the container.
func TestCgroupDelegatedUnit(t *testing.T) {
	requireRoot(t)
	u := unifiedMount(t)
	unit := filepath.Join(u, "it-"+randHex(4)+".service")
	if err := os.Mkdir(unit, 0o755); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		for _, d := range []string{filepath.Join(unit, "supervisor"), filepath.Join(unit, "payload"), unit} {
			if err := os.Remove(d); err != nil && !os.IsNotExist(err) {
				t.Errorf("remove %s: %v", d, err)
			}
		}
	})
	if err := syscall.Setxattr(unit, "trusted.delegate", []byte("1"), 0); err != nil {
		t.Fatalf("mark %s delegated: %v", unit, err)
	}
	fx := newFixture(t)
	// The supervisor is started from inside the unit's cgroup, as systemd
	// would start it.
	c := fx.start(t, runOpts{
		wrap:    []string{"/bin/sh", "-c", `echo $$ > "$0/cgroup.procs" && exec "$@"`, unit},
		command: []string{"/sbin/testinit", "-halt", "obey"},
	})
	c.ready()
	c.findInit()
	b, err := os.ReadFile(filepath.Join("/proc", strconv.Itoa(c.initPID), "cgroup"))
	if err != nil {
		t.Fatal(err)
	}
	rel := strings.TrimPrefix(unit, u)
	if want := "0::" + rel + "/payload/guest\n"; !strings.Contains(string(b), want) {
		t.Errorf("init's /proc/PID/cgroup = %q, want %q", b, want)
	}
	// The v1 hierarchies where the unit sits at the root (systemd delegates
	// only some) get a cgroup of the container's name, not every unit's
	// shared "payload".
	if v1Mount("pids") != "" {
		if want := ":pids:/containerctl/" + fx.name + "/payload/guest\n"; !strings.Contains(string(b), want) {
			t.Errorf("init's /proc/PID/cgroup = %q, want a line ending %q", b, want)
		}
	}
	sup, err := os.ReadFile(filepath.Join("/proc", strconv.Itoa(c.cmd.Process.Pid), "cgroup"))
	if err != nil {
		t.Fatal(err)
	}
	if want := "0::" + rel + "/supervisor\n"; !strings.Contains(string(sup), want) {
		t.Errorf("supervisor's /proc/PID/cgroup = %q, want %q", sup, want)
	}
	if r := ctl(t, "stop", fx.name); r.code != 0 {
		t.Fatalf("stop: exit %d: %s", r.code, r.stderr)
	}
	c.wait(10 * time.Second)
	if exists(filepath.Join(unit, "payload")) {
		t.Errorf("%s still exists after the container stopped", filepath.Join(unit, "payload"))
	}
}

// hostDevice finds a character device outside the containers' device
// policy that root can open with no capability beyond file access (so that
// only the policy keeps a guest out): /dev/kvm or /dev/loop-control.
func hostDevice(t *testing.T) (path string, major, minor uint32) {
	t.Helper()
	for _, p := range []string{"/dev/kvm", "/dev/loop-control"} {
		var st syscall.Stat_t
		if syscall.Stat(p, &st) != nil {
			continue
		}
		f, err := os.Open(p)
		if err != nil {
			continue
		}
		f.Close()
		return p, uint32(st.Rdev>>8&0xfff | st.Rdev>>32&^0xfff), uint32(st.Rdev&0xff | st.Rdev>>12&^0xff)
	}
	t.Fatal("no /dev/kvm or /dev/loop-control that root can open on this host")
	return "", 0, 0
}

// TestDevicesRestricted: a guest with CAP_MKNOD can make a node for a host
// device outside its policy, but not open it; its own /dev works.
func TestDevicesRestricted(t *testing.T) {
	requireRoot(t)
	dev, major, minor := hostDevice(t)
	t.Logf("host device %s (c %d:%d)", dev, major, minor)
	fx := newFixture(t)
	script := fmt.Sprintf("echo x > /dev/null && echo NULL-OK; mknod /dev/testdev c %d %d && echo MKNOD-OK; (exec 3< /dev/testdev) && echo OPENED-HOST-DEVICE; true", major, minor)
	c := fx.start(t, runOpts{flags: []string{"--console=pipe"}, command: []string{"/bin/sh", "-c", script}})
	c.wait(startTimeout)
	out := c.stdout.String()
	if !strings.Contains(out, "NULL-OK") || !strings.Contains(out, "MKNOD-OK") {
		t.Fatalf("inside: /dev/null or mknod failed:\n%s\n%s", out, c.stderr.String())
	}
	if strings.Contains(out, "OPENED-HOST-DEVICE") {
		t.Errorf("the guest opened the host's %s through a node it made:\n%s", dev, c.stderr.String())
	}
}

// TestDevicesRestrictedByBPF: the cgroup2 device filter (an eBPF program on
// the container's cgroup) holds on its own. On a hybrid host the test opens
// the v1 devices controller to a host device while the guest waits, and
// the guest still cannot open it.
func TestDevicesRestrictedByBPF(t *testing.T) {
	requireRoot(t)
	v1 := v1Mount("devices")
	if v1 == "" {
		// Without v1, TestDevicesRestricted exercises the filter alone.
		t.Log("no v1 devices controller: TestDevicesRestricted covers the eBPF filter")
	}
	dev, major, minor := hostDevice(t)
	fx := newFixture(t)
	script := fmt.Sprintf("mknod /dev/testdev c %d %d && echo WAITING; while [ ! -e /go ]; do sleep 0.05; done; (exec 3< /dev/testdev) && echo OPENED-HOST-DEVICE; echo DONE", major, minor)
	c := fx.start(t, runOpts{flags: []string{"--console=pipe"}, command: []string{"/bin/sh", "-c", script}})
	c.waitLine("WAITING", startTimeout)
	if v1 != "" {
		// Allow the device at both levels (a cgroup with children cannot
		// go back to allowing everything).
		rule := fmt.Sprintf("c %d:%d rwm", major, minor)
		for _, d := range []string{hostCgroup("devices", fx.name), guestCgroup("devices", fx.name)} {
			if err := os.WriteFile(filepath.Join(d, "devices.allow"), []byte(rule), 0); err != nil {
				t.Fatal(err)
			}
		}
		if b, _ := os.ReadFile(filepath.Join(guestCgroup("devices", fx.name), "devices.list")); !strings.Contains(string(b), rule) {
			t.Fatalf("could not open the v1 devices controller to %s: devices.list = %q", rule, b)
		}
	}
	if err := os.WriteFile(filepath.Join(fx.root, "go"), nil, 0o644); err != nil {
		t.Fatal(err)
	}
	c.waitLine("DONE", startTimeout)
	if strings.Contains(c.stdout.String(), "OPENED-HOST-DEVICE") {
		t.Errorf("with the v1 devices controller open, the guest opened the host's %s: the cgroup2 device filter is not in force\n%s", dev, c.stderr.String())
	}
}

// TestCgroupSupervisorKilledEarly: a supervisor killed within its first
// milliseconds, while it makes the cgroups, leaves none of them: they are
// recorded before they are made, for the reaper. The kills fall over the
// start's first 5 ms, where the cgroups are made.
func TestCgroupSupervisorKilledEarly(t *testing.T) {
	requireRoot(t)
	fx := newFixture(t)
	leaked := 0
	for i := range 40 {
		cmd := exec.Command(ctlBin, "run", fx.name, "--store", fx.store, "--root", fx.root, "--console=pipe", "--", "/sbin/testinit")
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		time.Sleep(time.Duration(1000+(i%8)*500) * time.Microsecond)
		_ = cmd.Process.Signal(syscall.SIGKILL)
		_ = cmd.Wait()
		for _, d := range cgroupDirs(fx.name) {
			if !waitAbsent(d, 3*time.Second) {
				leaked++
				t.Errorf("kill %d, %v in: %s still exists 3s after the supervisor was killed", i, time.Duration(1000+(i%8)*500)*time.Microsecond, d)
				_ = os.Remove(filepath.Join(d, "guest"))
				_ = os.Remove(d)
			}
		}
		if leaked > 0 {
			break
		}
	}
	// A record directory a kill left before the record's lock (empty) is
	// removed by the next command that looks at the name.
	ctl(t, "status", fx.name)
}

// TestCgroupMemoryTooSmall: a memory limit too small for the start, or for
// the init, is named as the cause: the OOM killer's kill at it, never only
// the init child's reset socket or a bare status 137.
func TestCgroupMemoryTooSmall(t *testing.T) {
	requireRoot(t)
	fx := newFixture(t)
	failed := 0
	for _, m := range []string{"64K", "128K", "256K"} {
		r := ctl(t, "run", fx.name, "--store", fx.store, "--root", fx.root, "--console=pipe", "--memory-max", m, "--", "/bin/sh", "-c", "echo x")
		if r.code == 0 {
			continue // enough for a busybox sh, this time
		}
		failed++
		if !strings.Contains(r.stderr, "the OOM killer killed") {
			t.Errorf("--memory-max %s: exit %d, stderr %q; want the OOM killer named", m, r.code, r.stderr)
		}
	}
	if failed == 0 {
		t.Errorf("every limit down to 64K was enough for the start and a shell: nothing was tested")
	}
}

// TestPlannedRecordKillsNothing: a record whose cgroups were written
// before they were made (a supervisor killed in its first milliseconds)
// names paths that may be another's, which the start would have refused:
// its cleanup removes only what is empty, and kills nothing. Here the path
// holds a process of the test's, which must live on.
func TestPlannedRecordKillsNothing(t *testing.T) {
	requireRoot(t)
	name := containerName(t)
	cg := filepath.Join(unifiedMount(t), "containerctl", name)
	if err := os.MkdirAll(cg, 0o755); err != nil {
		t.Fatal(err)
	}
	victim := exec.Command("sleep", "1000")
	if err := victim.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		_ = victim.Process.Kill()
		_ = victim.Wait()
		_ = os.Remove(cg)
		_ = os.Remove(filepath.Dir(cg)) // containerctl's, when only ours
	})
	if err := os.WriteFile(filepath.Join(cg, "cgroup.procs"), []byte(strconv.Itoa(victim.Process.Pid)), 0); err != nil {
		t.Fatal(err)
	}
	dead := exec.Command("true")
	if err := dead.Run(); err != nil {
		t.Fatal(err)
	}
	rec := filepath.Join(stateDir, name)
	if err := os.MkdirAll(rec, 0o700); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = os.RemoveAll(rec) })
	state := fmt.Sprintf(`{"id":"planted","name":%q,"supervisor_pid":%d,"cgroup":{"cgroups":[{"hierarchy":"unified","path":"/containerctl/%s","parents":["/containerctl"]}],"planned":true}}`,
		name, dead.Process.Pid, name)
	if err := os.WriteFile(filepath.Join(rec, "state.json"), []byte(state), 0o600); err != nil {
		t.Fatal(err)
	}
	ctl(t, "status", name) // cleans up after the dead supervisor
	if exists(rec) {
		t.Errorf("the dead supervisor's record %s is still there", rec)
	}
	// A killed child of ours stays a zombie: ask its cgroup.
	if b, err := os.ReadFile(filepath.Join(cg, "cgroup.procs")); err != nil || !slices.Contains(strings.Fields(string(b)), strconv.Itoa(victim.Process.Pid)) {
		t.Errorf("the process in the planned path was killed, or its cgroup removed: cgroup.procs %q, %v", b, err)
	}
}
