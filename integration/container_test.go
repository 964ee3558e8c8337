//go:build linux

package integration

import (
	"encoding/json"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/containerd/console"
)

// allowedEnv is the whole environment containerctl gives an init.
var allowedEnv = []string{"container", "container_uuid", "PATH", "TERM", "HOME", "USER", "LOGNAME", "NOTIFY_SOCKET"}

func selfNS(t *testing.T) map[string]string {
	t.Helper()
	ns := map[string]string{}
	for _, n := range []string{"mnt", "pid", "uts", "ipc", "net"} {
		link, err := os.Readlink("/proc/self/ns/" + n)
		if err != nil {
			t.Fatal(err)
		}
		ns[n] = link
	}
	return ns
}

// TestIdentity: the init is PID 1 of new mnt, pid, uts and ipc namespaces,
// shares the host's network namespace, is named for the container and sees
// only containerctl's environment.
func TestIdentity(t *testing.T) {
	requireRoot(t)
	self := selfNS(t)
	tests := []struct {
		name     string
		flags    []string
		hostname func(fx *fixture) string
	}{
		{"default hostname", nil, func(fx *fixture) string { return fx.name }},
		{"--hostname", []string{"--hostname", "custom-host"}, func(*fixture) string { return "custom-host" }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			fx := newFixture(t)
			leakKey := "CONTAINERCTL_IT_LEAK_" + strings.ToUpper(randHex(8))
			c := fx.start(t, runOpts{
				flags:   tt.flags,
				command: []string{"/sbin/testinit", "-report"},
				env:     []string{leakKey + "=leaked"},
			})
			r := c.report()

			if r.PID != 1 {
				t.Errorf("pid inside = %d, want 1", r.PID)
			}
			if want := tt.hostname(fx); r.Hostname != want {
				t.Errorf("hostname inside = %q, want %q", r.Hostname, want)
			}
			for _, n := range []string{"mnt", "pid", "uts", "ipc"} {
				if r.NS[n] == "" || r.NS[n] == self[n] {
					t.Errorf("%s namespace inside = %q, want a new one (host: %q)", n, r.NS[n], self[n])
				}
			}
			if r.NS["net"] != self["net"] {
				t.Errorf("net namespace inside = %q, want the host's %q", r.NS["net"], self["net"])
			}
			// From the host: the process found as the init is in the
			// namespaces it reports.
			for _, n := range []string{"mnt", "pid", "uts", "ipc", "net"} {
				link, err := os.Readlink("/proc/" + itoa(c.initPID) + "/ns/" + n)
				if err != nil {
					t.Fatal(err)
				}
				if link != r.NS[n] {
					t.Errorf("host view: /proc/%d/ns/%s = %q, inside view %q", c.initPID, n, link, r.NS[n])
				}
			}

			env := map[string]string{}
			for _, kv := range r.Env {
				k, v, _ := strings.Cut(kv, "=")
				env[k] = v
				if !slices.Contains(allowedEnv, k) {
					t.Errorf("environment inside has %q, want only %v", kv, allowedEnv)
				}
			}
			if env["container"] != "containerctl" {
				t.Errorf("environment inside: container=%q, want containerctl (env %v)", env["container"], r.Env)
			}
			if env["container_uuid"] == "" {
				t.Errorf("environment inside: container_uuid missing (env %v)", r.Env)
			}
			if _, ok := env[leakKey]; ok {
				t.Errorf("environment inside has the supervisor's %s", leakKey)
			}
		})
	}
}

// TestInitPath: the init is PROFILE/init, PROFILE defaulting to the
// container's NixOS profile, resolved inside the container; or CMD.
func TestInitPath(t *testing.T) {
	requireRoot(t)
	tests := []struct {
		name    string
		opts    func(fx *fixture) runOpts
		wantExe func(fx *fixture) string
	}{
		{
			name:    "default profile",
			opts:    func(*fixture) runOpts { return runOpts{} },
			wantExe: func(fx *fixture) string { return fx.system + "/init" },
		},
		{
			name:    "--path",
			opts:    func(fx *fixture) runOpts { return runOpts{flags: []string{"--path", fx.system}} },
			wantExe: func(fx *fixture) string { return fx.system + "/init" },
		},
		{
			name: "command",
			opts: func(*fixture) runOpts {
				return runOpts{command: []string{"/sbin/testinit", "-report"}}
			},
			wantExe: func(*fixture) string { return "/sbin/testinit" },
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			fx := newFixture(t)
			fx.setInitArgs(t, "-report")
			c := fx.start(t, tt.opts(fx))
			r := c.report()
			if r.PID != 1 {
				t.Errorf("pid inside = %d, want 1", r.PID)
			}
			if want := tt.wantExe(fx); r.Exe != want {
				t.Errorf("/proc/self/exe inside = %q, want %q", r.Exe, want)
			}
		})
	}
}

// TestRunCreatesRoot: run creates a missing ROOT, ROOT/etc (0755) and an
// empty ROOT/etc/os-release.
func TestRunCreatesRoot(t *testing.T) {
	fx := newFixture(t)
	fx.setInitArgs(t, "-report", "-stat", "/etc/os-release")
	root := filepath.Join(fx.dir, "fresh")
	c := fx.start(t, runOpts{root: root})
	r := c.report()

	fi, err := os.Stat(filepath.Join(root, "etc"))
	if err != nil {
		t.Fatalf("ROOT/etc after run: %v", err)
	}
	if !fi.IsDir() || fi.Mode().Perm() != 0o755 {
		t.Errorf("ROOT/etc mode = %v, want a directory with 0755", fi.Mode())
	}
	fi, err = os.Stat(filepath.Join(root, "etc", "os-release"))
	if err != nil {
		t.Fatalf("ROOT/etc/os-release after run: %v", err)
	}
	if !fi.Mode().IsRegular() || fi.Size() != 0 {
		t.Errorf("ROOT/etc/os-release = %v, %d bytes, want an empty regular file", fi.Mode(), fi.Size())
	}
	if !r.Stats["/etc/os-release"].Exists {
		t.Errorf("/etc/os-release inside: missing")
	}
}

// TestStoreAndRoot: the store is at /nix read-only (even for root), the
// root is ROOT, and nothing of the host's root is reachable inside.
func TestStoreAndRoot(t *testing.T) {
	fx := newFixture(t)
	markerDir, err := os.MkdirTemp("/var/tmp", "containerctl-it-marker-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(markerDir) })
	marker := filepath.Join(markerDir, "marker")
	if err := os.WriteFile(marker, []byte("host\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	dataPath := fx.system + "/data.txt"
	roWrites := []string{"/nix/it-probe", fx.system + "/it-probe", "/nix/var/nix/it-probe", "/proc/sys/kernel/printk_ratelimit"}
	fx.setInitArgs(t,
		"-report",
		"-read", dataPath,
		"-write", strings.Join(roWrites, ","),
		"-absent", marker,
		"-absent", markerDir,
	)
	c := fx.start(t, runOpts{})
	r := c.report()

	if got := r.Reads[dataPath]; got.Err != "" || got.Data != fx.data {
		t.Errorf("read %s inside = %q, %q, want %q", dataPath, got.Data, got.Err, fx.data)
	}
	if r.UID != 0 {
		t.Errorf("uid inside = %d, want 0", r.UID)
	}
	for _, p := range roWrites {
		if got := r.Writes[p]; got.Errno != "EROFS" {
			t.Errorf("write %s inside: errno %q (%s), want EROFS", p, got.Errno, got.Err)
		}
	}
	for _, p := range roWrites[:3] {
		if rel, ok := strings.CutPrefix(p, "/nix/"); ok && exists(filepath.Join(fx.store, rel)) {
			t.Errorf("write %s inside reached the host store", p)
		}
	}
	if !exists(filepath.Join(fx.root, "etc", "os-release")) {
		t.Errorf("ROOT/etc/os-release does not exist after run")
	}
	for _, p := range []string{marker, markerDir} {
		if got := r.Stats[p]; got.Exists || got.Err != "" {
			t.Errorf("host path %s inside: %+v, want absent", p, got)
		}
	}

	hostRoot, ok := mountAt(parseMountinfo(hostMountinfo(t)), "/")
	if !ok {
		t.Fatal("host mountinfo has no / mount")
	}
	ms := parseMountinfo(r.Mountinfo)
	allowed := []string{"/nix", "/proc", "/sys", "/dev", "/run", "/tmp"}
	for _, m := range ms {
		if m.devNum == hostRoot.devNum && m.root == "/" {
			t.Errorf("mount inside shows the host root filesystem whole: %+v", m)
		}
		ok := m.point == "/"
		for _, a := range allowed {
			ok = ok || m.point == a || strings.HasPrefix(m.point, a+"/")
		}
		if !ok {
			t.Errorf("unexpected mount point inside: %+v", m)
		}
	}
	if m, ok := mountAt(ms, "/"); !ok || !strings.HasSuffix(fx.root, m.root) {
		t.Errorf("/ inside = %+v, want a bind of ROOT %s", m, fx.root)
	}
	if m, ok := mountAt(ms, "/nix"); !ok || !strings.HasSuffix(fx.store, m.root) || !hasOpt(m.opts, "ro") {
		t.Errorf("/nix inside = %+v, want a read-only bind of STORE %s", m, fx.store)
	}
}

// TestDevAndMounts: the API filesystems and the device nodes inside.
func TestDevAndMounts(t *testing.T) {
	fx := newFixture(t)
	nodes := []string{"/dev/null", "/dev/zero", "/dev/full", "/dev/random", "/dev/urandom", "/dev/tty"}
	fx.setInitArgs(t, "-report", "-stat", strings.Join(append(nodes, "/dev/ptmx", "/dev/console"), ","))
	c := fx.start(t, runOpts{})
	r := c.report()

	ms := parseMountinfo(r.Mountinfo)
	mounts := []struct {
		point, fstype string
		ro            bool
	}{
		{"/proc", "proc", false},
		{"/proc/sys", "", true},
		{"/sys", "sysfs", true},
		{"/dev", "tmpfs", false},
		{"/dev/pts", "devpts", false},
		{"/dev/shm", "tmpfs", false},
		{"/dev/mqueue", "mqueue", false},
		{"/run", "tmpfs", false},
		{"/tmp", "tmpfs", false},
	}
	for _, want := range mounts {
		m, ok := mountAt(ms, want.point)
		if !ok {
			t.Errorf("no mount at %s inside", want.point)
			continue
		}
		if want.fstype != "" && m.fstype != want.fstype {
			t.Errorf("mount at %s inside: type %s, want %s", want.point, m.fstype, want.fstype)
		}
		if want.ro && !hasOpt(m.opts, "ro") {
			t.Errorf("mount at %s inside: options %s, want ro", want.point, m.opts)
		}
	}
	for _, n := range nodes {
		if got := r.Stats[n]; !got.Exists || !strings.HasPrefix(got.Mode, "Dc") {
			t.Errorf("%s inside = %+v, want a character device", n, got)
		}
	}
	if got := r.Stats["/dev/ptmx"]; got.Link != "pts/ptmx" {
		t.Errorf("/dev/ptmx inside = %+v, want a symlink to pts/ptmx", got)
	}
	if got := r.Stats["/dev/console"]; !got.Exists {
		t.Errorf("/dev/console inside: missing")
	}
}

// TestStop: stop halts an obeying init cleanly and fast, and kills one that
// ignores the halt signal once the timeout passes; either way nothing of the
// container remains.
func TestStop(t *testing.T) {
	requireRoot(t)
	tests := []struct {
		name      string
		initArgs  []string
		runFlags  []string
		stopArgs  []string
		orphan    bool
		wantMsg   string
		wantExit  int
		minDur    time.Duration
		maxDur    time.Duration
		wantHalts bool
	}{
		{name: "obey", initArgs: []string{"-halt", "obey"}, wantMsg: "halted cleanly", maxDur: time.Second, wantHalts: true},
		{name: "obey with orphan", initArgs: []string{"-halt", "obey", "-orphan"}, orphan: true, wantMsg: "halted cleanly", maxDur: time.Second, wantHalts: true},
		{name: "obey exit status", initArgs: []string{"-halt", "obey", "-exit", "4"}, wantMsg: "halted cleanly", wantExit: 4, maxDur: time.Second, wantHalts: true},
		{name: "ignore --stop-timeout", initArgs: []string{"-halt", "ignore"}, runFlags: []string{"--stop-timeout", "1s"}, wantMsg: "killed", wantExit: 137, minDur: time.Second, maxDur: 5 * time.Second},
		{name: "ignore with orphan", initArgs: []string{"-halt", "ignore", "-orphan"}, runFlags: []string{"--stop-timeout", "1s"}, orphan: true, wantMsg: "killed", wantExit: 137, minDur: time.Second, maxDur: 5 * time.Second},
		{name: "ignore stop --timeout", initArgs: []string{"-halt", "ignore"}, stopArgs: []string{"--timeout", "1s"}, wantMsg: "killed", wantExit: 137, minDur: time.Second, maxDur: 5 * time.Second},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			fx := newFixture(t)
			c := fx.start(t, runOpts{flags: tt.runFlags, command: append([]string{"/sbin/testinit"}, tt.initArgs...)})
			c.ready()
			wantProcs := 1
			if tt.orphan {
				wantProcs = 2
			}
			if ps := c.procs(); len(ps) < wantProcs {
				t.Fatalf("%d processes of the container before stop, want %d", len(ps), wantProcs)
			}

			start := time.Now()
			res := ctl(t, append([]string{"stop", fx.name}, tt.stopArgs...)...)
			took := time.Since(start)
			if res.code != 0 {
				t.Fatalf("containerctl stop %s: exit %d, want 0\nstderr: %s", fx.name, res.code, res.stderr)
			}
			if out := strings.TrimSpace(res.stdout); !strings.Contains(out, tt.wantMsg) || strings.Contains(out, "\n") {
				t.Errorf("containerctl stop stdout = %q, want one line containing %q", res.stdout, tt.wantMsg)
			}
			if took < tt.minDur || took > tt.maxDur {
				t.Errorf("containerctl stop took %v, want between %v and %v", took, tt.minDur, tt.maxDur)
			}
			// stop returns once the container has exited: no waiting
			// for its processes.
			if left := waitProcs(0, c.owns); len(left) > 0 {
				t.Errorf("%d processes of the container alive when stop returned", len(left))
			}
			if got := c.wait(5 * time.Second); got != tt.wantExit {
				t.Errorf("containerctl run exit status = %d, want %d", got, tt.wantExit)
			}
			halted := c.stdout.has(func(l string) bool { return l == "TESTINIT-HALT" })
			if halted != tt.wantHalts {
				t.Errorf("init printed TESTINIT-HALT = %v, want %v", halted, tt.wantHalts)
			}
			c.checkGone(2 * time.Second)
			if exists(filepath.Join(stateDir, fx.name)) {
				t.Errorf("%s exists after run exited", filepath.Join(stateDir, fx.name))
			}
		})
	}
}

// TestStopNotRunning: stop of a container that does not run fails.
func TestStopNotRunning(t *testing.T) {
	requireRoot(t)
	name := containerName(t)
	res := ctl(t, "stop", name)
	if res.code != 1 {
		t.Errorf("containerctl stop %s: exit %d, want 1", name, res.code)
	}
	if !strings.Contains(res.stderr, name) || !strings.Contains(res.stderr, "not running") {
		t.Errorf("containerctl stop %s: stderr = %q, want it to name the container and say not running", name, res.stderr)
	}
}

// TestSignalSupervisor: SIGTERM or SIGINT to run halts the container as
// stop does.
func TestSignalSupervisor(t *testing.T) {
	requireRoot(t)
	for _, sig := range []syscall.Signal{syscall.SIGTERM, syscall.SIGINT} {
		t.Run(sig.String(), func(t *testing.T) {
			fx := newFixture(t)
			c := fx.start(t, runOpts{command: []string{"/sbin/testinit", "-halt", "obey"}})
			c.ready()
			if err := c.cmd.Process.Signal(sig); err != nil {
				t.Fatal(err)
			}
			if got := c.wait(5 * time.Second); got != 0 {
				t.Errorf("containerctl run after %v: exit status %d, want 0", sig, got)
			}
			if !c.stdout.has(func(l string) bool { return l == "TESTINIT-HALT" }) {
				t.Errorf("init did not get the halt signal (no TESTINIT-HALT)")
			}
			c.checkGone(2 * time.Second)
		})
	}
}

// TestSecondSIGINTKills: a second SIGINT does not wait for the stop
// timeout: the container is killed at once.
func TestSecondSIGINTKills(t *testing.T) {
	requireRoot(t)
	fx := newFixture(t)
	c := fx.start(t, runOpts{flags: []string{"--stop-timeout", "1m"}, command: []string{"/sbin/testinit", "-halt", "ignore", "-orphan"}})
	c.ready()
	start := time.Now()
	for range 2 {
		if err := c.cmd.Process.Signal(syscall.SIGINT); err != nil {
			t.Fatal(err)
		}
		time.Sleep(100 * time.Millisecond)
	}
	if got := c.wait(5 * time.Second); got != 128+int(syscall.SIGKILL) {
		t.Errorf("containerctl run after two SIGINTs: exit status %d, want %d", got, 128+int(syscall.SIGKILL))
	}
	if d := time.Since(start); d > 10*time.Second {
		t.Errorf("two SIGINTs took %v to end the container, want no wait for the 1m stop timeout", d)
	}
	c.checkGone(2 * time.Second)
}

// TestExitStatus: run exits with the init's exit status.
func TestExitStatus(t *testing.T) {
	requireRoot(t)
	tests := []struct {
		name    string
		command []string
		want    int
	}{
		{"testinit exit 0", []string{"/sbin/testinit", "-halt", "none"}, 0},
		{"testinit exit 7", []string{"/sbin/testinit", "-halt", "none", "-exit", "7"}, 7},
		{"sh exit 5", []string{"/bin/sh", "-c", "exit 5"}, 5},
		{"false", []string{"/bin/false"}, 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			fx := newFixture(t)
			c := fx.start(t, runOpts{command: tt.command})
			if got := c.wait(startTimeout); got != tt.want {
				t.Errorf("containerctl run -- %s: exit status %d, want %d\nstderr: %s", strings.Join(tt.command, " "), got, tt.want, c.stderr.String())
			}
		})
	}
}

// TestSupervisorKilled: SIGKILL of the supervisor takes the container with
// it, leaves no mount behind, and does not block the name. With a pty
// console the hangup alone may end the init; with --console=pipe and an init
// deaf to SIGHUP only the parent-death signal can.
func TestSupervisorKilled(t *testing.T) {
	requireRoot(t)
	tests := []struct {
		name  string
		flags []string
		init  []string
	}{
		{"pty console", nil, []string{"/sbin/testinit", "-report", "-orphan"}},
		{"pipe console, deaf init", []string{"--console=pipe"}, []string{"/sbin/testinit", "-report", "-orphan", "-halt", "ignore"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			fx := newFixture(t)
			mountsBefore := sortedLines(strings.Join(hostMountinfo(t), "\n"))
			c := fx.start(t, runOpts{flags: tt.flags, command: tt.init})
			r := c.report()
			if r.OrphanPID == 0 {
				t.Fatal("testinit -orphan reported no orphan")
			}
			if ps := c.procs(); len(ps) < 2 {
				t.Fatalf("%d processes of the container before the kill, want 2 (init and orphan)", len(ps))
			}
			initPID := c.initPID

			if err := c.cmd.Process.Kill(); err != nil {
				t.Fatal(err)
			}
			c.wait(5 * time.Second)
			if left := waitProcs(2*time.Second, c.owns); len(left) > 0 {
				t.Errorf("%d processes of the container alive 2s after SIGKILL of the supervisor (init %d alive: %v)", len(left), initPID, alive(initPID))
			}
			mountsAfter := sortedLines(strings.Join(hostMountinfo(t), "\n"))
			if added, removed := setDiff(mountsBefore, mountsAfter); len(added)+len(removed) > 0 {
				t.Errorf("host mounts changed: added %q, removed %q", added, removed)
			}

			res := ctl(t, "list", "--json")
			if res.code != 0 {
				t.Fatalf("containerctl list --json: exit %d\nstderr: %s", res.code, res.stderr)
			}
			for _, ct := range decodeList(t, res.stdout) {
				if ct.Name == fx.name {
					t.Errorf("containerctl list --json shows the killed container: %+v", ct)
				}
			}
			// The reaper may still be removing it when list looks: it
			// holds the lock then, and list leaves the record to it.
			if !waitAbsent(filepath.Join(stateDir, fx.name), 2*time.Second) {
				t.Errorf("%s still exists 2s after containerctl list", filepath.Join(stateDir, fx.name))
			}

			again := fx.start(t, runOpts{command: []string{"/sbin/testinit", "-halt", "obey"}})
			again.ready()
			res = ctl(t, "stop", fx.name)
			if res.code != 0 || !strings.Contains(res.stdout, "halted cleanly") {
				t.Errorf("stop after the rerun: exit %d, stdout %q, stderr %q; want 0 and halted cleanly", res.code, res.stdout, res.stderr)
			}
			if got := again.wait(5 * time.Second); got != 0 {
				t.Errorf("rerun exit status = %d, want 0", got)
			}
		})
	}
}

// TestAlreadyRunning: a second run of a running name fails and leaves the
// first alone.
func TestAlreadyRunning(t *testing.T) {
	fx := newFixture(t)
	c := fx.start(t, runOpts{command: []string{"/sbin/testinit", "-halt", "obey"}})
	c.ready()

	res := ctl(t, "run", fx.name, "--root", fx.root, "--store", fx.store, "--", "/sbin/testinit", "-halt", "none")
	if res.code != 1 {
		t.Errorf("second run: exit %d, want 1", res.code)
	}
	if !strings.Contains(res.stderr, fx.name) || !strings.Contains(res.stderr, "already running") {
		t.Errorf("second run: stderr = %q, want it to name %s and say already running", res.stderr, fx.name)
	}
	if c.exited() || !alive(c.initPID) {
		t.Fatalf("the first container died after the second run (supervisor exited: %v)", c.exited())
	}
	if !exists(filepath.Join(stateDir, fx.name, "state.json")) {
		t.Errorf("%s/state.json of the first container is gone", filepath.Join(stateDir, fx.name))
	}
	res = ctl(t, "stop", fx.name)
	if res.code != 0 || !strings.Contains(res.stdout, "halted cleanly") {
		t.Errorf("stop: exit %d, stdout %q; want 0 and halted cleanly", res.code, res.stdout)
	}
	if got := c.wait(5 * time.Second); got != 0 {
		t.Errorf("run exit status = %d, want 0", got)
	}
}

// TestValidNames: names at the edges of the rules run.
func TestValidNames(t *testing.T) {
	requireRoot(t)
	for _, name := range []string{strings.Repeat("a", 64), "A.b_c-1", "x"} {
		t.Run(name, func(t *testing.T) {
			fx := newFixture(t)
			fx.name = name
			c := fx.start(t, runOpts{command: []string{"/sbin/testinit", "-halt", "none", "-exit", "3"}})
			if got := c.wait(startTimeout); got != 3 {
				t.Errorf("run %s: exit status %d, want 3\nstderr: %s", name, got, c.stderr.String())
			}
		})
	}
}

// TestBadInput: bad input is refused with one line naming the container and
// the cause, before anything is created.
func TestBadInput(t *testing.T) {
	requireRoot(t)
	type input struct {
		name string   // the container name
		args []string // run flags and command after the name
		root string   // the --root passed, to watch
		want []string // substrings of stderr
		// notWant are substrings stderr must not have: the consequence
		// in the supervisor of a failure in the init child.
		notWant []string
		// noTree: root is the host's own; do not walk it.
		noTree bool
	}
	type badCase struct {
		name  string
		input func(t *testing.T, fx *fixture) input
	}
	var tests []badCase
	for _, bad := range []string{"../x", "a/b", "", strings.Repeat("n", 65), ".x", "-x", "a\nb"} {
		tests = append(tests, badCase{
			name: "name " + strings.NewReplacer("/", "_", "\n", "_").Replace(bad),
			input: func(t *testing.T, fx *fixture) input {
				in := input{name: bad, root: filepath.Join(fx.dir, "newroot")}
				switch {
				case strings.Contains(bad, "\n"):
					// Quoted, so that it stays one line.
					in.want = []string{strconv.Quote(bad)}
				case bad != "":
					in.want = []string{bad}
				}
				return in
			},
		})
	}
	// Each is refused before anything is created, with the cause named.
	flagCase := func(name string, args []string, want ...string) badCase {
		return badCase{name, func(t *testing.T, fx *fixture) input {
			src := filepath.Join(fx.dir, "src")
			mustMkdir(t, src)
			var a []string
			for _, arg := range args {
				a = append(a, strings.ReplaceAll(arg, "SRC", src))
			}
			return input{name: fx.name, root: fx.root, args: a, want: append([]string{fx.name}, want...)}
		}}
	}
	tests = append(tests,
		flagCase("bind over the root", []string{"--bind", "/:/"}, "over the container's root"),
		flagCase("bind to a path that cleans to the root", []string{"--bind", "SRC:/dev/../.."}, "over the container's root"),
		flagCase("tmpfs over the root", []string{"--tmpfs", "/"}, "over the container's root"),
		flagCase("bind over /run", []string{"--bind", "SRC:/run"}, "/run is mounted by containerctl itself"),
		flagCase("bind over /proc", []string{"--bind", "SRC:/proc"}, "/proc is mounted by containerctl itself"),
		flagCase("bind over /sys", []string{"--bind", "SRC:/sys"}, "/sys is mounted by containerctl itself"),
		flagCase("bind over /dev", []string{"--bind-ro", "SRC:/dev"}, "/dev is mounted by containerctl itself"),
		flagCase("bind over /run/host", []string{"--bind", "SRC:/run/host"}, "/run/host"),
		flagCase("store is the host's /proc", []string{"--store=/proc"}, "the host's proc"),
		flagCase("store is a file", []string{"--store=/etc/hostname"}, "--store /etc/hostname: not a directory"),
		flagCase("bind of the host's root", []string{"--bind", "/:/host"}, "the host's root directory"),
		flagCase("bind of the host's cgroup tree", []string{"--bind", "/sys/fs/cgroup:/cg"}, "/sys/fs/cgroup"),
		flagCase("bind of /sys", []string{"--bind-ro", "/sys:/hs"}, "the host's sysfs"),
		flagCase("bind of the records", []string{"--bind", "/run/containerctl:/x"}, "records of running containers"),
		flagCase("cgroup parent in another container's", []string{"--cgroup-parent=/containerctl/other/guest"}, "--cgroup-parent"),
		flagCase("kill signal that stops", []string{"--kill-signal=SIGSTOP"}, "--kill-signal"),
		flagCase("hostname with a space", []string{"--hostname", "bad host"}, "hostname", `"bad host"`),
		flagCase("hostname with a slash", []string{"--hostname", "a/b"}, "hostname", `"a/b"`),
		flagCase("hostname starting with -", []string{"--hostname=-x"}, "hostname", `"-x"`),
		flagCase("negative stop timeout", []string{"--stop-timeout=-1s"}, "--stop-timeout", "negative"),
		flagCase("cgroup parent with ..", []string{"--cgroup-parent=/../x"}, "--cgroup-parent", "/../x"),
		flagCase("negative preserve-fds", []string{"--preserve-fds=-1"}, "--preserve-fds"),
		// Not given to containerctl: fds of its own (the Go runtime's) must
		// not pass for the caller's.
		flagCase("preserve-fds not passed", []string{"--preserve-fds=50", "--", "/bin/true"}, "--preserve-fds 50: containerctl was started with"),
		badCase{"root is the host's root", func(t *testing.T, fx *fixture) input {
			return input{name: fx.name, root: "/", noTree: true, want: []string{fx.name, "host's own root"}}
		}},
		badCase{"root spelled /tmp/..", func(t *testing.T, fx *fixture) input {
			return input{name: fx.name, root: "/tmp/..", noTree: true, want: []string{fx.name, "host's own root"}}
		}},
		badCase{"root a link to /", func(t *testing.T, fx *fixture) input {
			link := filepath.Join(fx.dir, "rootlink")
			if err := os.Symlink("/", link); err != nil {
				t.Fatal(err)
			}
			return input{name: fx.name, root: link, noTree: true, want: []string{fx.name, "host's own root"}}
		}},
	)
	// Failures inside the init child: its own message, not what it causes
	// in the supervisor, and what the start made is undone (the root gets
	// etc/ and etc/os-release first; the tree check sees them go).
	childFailure := []string{"cgroup.procs", "no such process", "exited during start"}
	tests = append(tests,
		badCase{"tmpfs with an unknown option", func(t *testing.T, fx *fixture) input {
			return input{name: fx.name, root: fx.root, args: []string{"--tmpfs", "/mnt:bogus=1", "--", "/bin/true"},
				want: []string{fx.name, "mount tmpfs on", "/mnt", "bogus=1"}, notWant: childFailure}
		}},
		badCase{"tmpfs with a bad size", func(t *testing.T, fx *fixture) input {
			return input{name: fx.name, root: fx.root, args: []string{"--tmpfs", "/mnt:size=abc", "--", "/bin/true"},
				want: []string{fx.name, "mount tmpfs on", "size=abc"}, notWant: childFailure}
		}},
		badCase{"bind through a root link to a file", func(t *testing.T, fx *fixture) input {
			src := filepath.Join(fx.dir, "src")
			mustMkdir(t, src)
			if err := os.Symlink("/bin/busybox", filepath.Join(fx.root, "lnk")); err != nil {
				t.Fatal(err)
			}
			return input{name: fx.name, root: fx.root, args: []string{"--bind", src + ":/lnk/sub", "--", "/bin/true"},
				want: []string{fx.name, "/lnk/sub"}, notWant: childFailure}
		}},
	)
	tests = append(tests, []badCase{
		{"root parent missing", func(t *testing.T, fx *fixture) input {
			root := filepath.Join(fx.dir, "missing", "root")
			return input{name: fx.name, root: root, want: []string{fx.name, filepath.Join(fx.dir, "missing")}}
		}},
		{"no profile", func(t *testing.T, fx *fixture) input {
			empty := filepath.Join(fx.dir, "emptystore")
			mustMkdir(t, empty)
			return input{
				name: fx.name,
				root: filepath.Join(fx.dir, "newroot"),
				args: []string{"--store", empty},
				want: []string{fx.name, "var/nix/profiles/containers/" + fx.name + "/init"},
			}
		}},
		{"profile init not executable", func(t *testing.T, fx *fixture) input {
			sys := filepath.Join(fx.store, "store", "noexec-system")
			mustMkdir(t, sys)
			if err := os.WriteFile(filepath.Join(sys, "init"), []byte("#!/bin/sh\n"), 0o644); err != nil {
				t.Fatal(err)
			}
			return input{
				name: fx.name,
				root: filepath.Join(fx.dir, "newroot"),
				args: []string{"--path", "/nix/store/noexec-system"},
				want: []string{fx.name, "noexec-system/init"},
			}
		}},
		{"command missing", func(t *testing.T, fx *fixture) input {
			return input{name: fx.name, root: fx.root, args: []string{"--", "/no-such-init"}, want: []string{fx.name, "/no-such-init"}}
		}},
		{"command not executable", func(t *testing.T, fx *fixture) input {
			if err := os.WriteFile(filepath.Join(fx.root, "noexec"), []byte("#!/bin/sh\n"), 0o644); err != nil {
				t.Fatal(err)
			}
			return input{name: fx.name, root: fx.root, args: []string{"--", "/noexec"}, want: []string{fx.name, "/noexec"}}
		}},
		{"bind source missing", func(t *testing.T, fx *fixture) input {
			src := filepath.Join(fx.dir, "no-such-src")
			return input{name: fx.name, root: filepath.Join(fx.dir, "newroot"), args: []string{"--bind", src + ":/mnt"}, want: []string{fx.name, src}}
		}},
		{"bind-ro source missing", func(t *testing.T, fx *fixture) input {
			src := filepath.Join(fx.dir, "no-such-ro-src")
			return input{name: fx.name, root: filepath.Join(fx.dir, "newroot"), args: []string{"--bind-ro", src + ":/mnt"}, want: []string{fx.name, src}}
		}},
		{"store missing", func(t *testing.T, fx *fixture) input {
			store := filepath.Join(fx.dir, "no-such-store")
			return input{name: fx.name, root: filepath.Join(fx.dir, "newroot"), args: []string{"--store", store}, want: []string{fx.name, store}}
		}},
	}...)

	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			fx := newFixture(t)
			in := tt.input(t, fx)
			watch := []string{in.root}
			if in.name != "" {
				watch = append(watch, filepath.Join(stateDir, in.name), filepath.Join("/var/lib/containers", in.name))
				if dir, _, ok := strings.Cut(in.name, "/"); ok {
					watch = append(watch, filepath.Join(stateDir, dir), filepath.Join("/var/lib/containers", dir))
				}
			}
			if in.name != "" {
				watch = append(watch, cgroupDirs(in.name)...)
			}
			if in.noTree {
				watch = watch[1:]
			}
			existed := map[string]bool{}
			for _, p := range watch {
				existed[p] = exists(p)
			}
			var rootBefore []string
			if !in.noTree {
				rootBefore = tree(t, in.root)
			}

			args := append([]string{"run", in.name, "--root", in.root, "--store", fx.store}, in.args...)
			res := ctl(t, args...)
			if res.code != 1 {
				t.Errorf("containerctl %q: exit %d, want 1\nstdout: %s", args, res.code, res.stdout)
			}
			if lines := nonEmptyLines(res.stderr); len(lines) != 1 {
				t.Errorf("containerctl %q: stderr has %d lines, want 1:\n%s", args, len(lines), res.stderr)
			}
			for _, w := range in.want {
				if !strings.Contains(res.stderr, w) {
					t.Errorf("containerctl %q: stderr = %q, want it to contain %q", args, res.stderr, w)
				}
			}
			for _, w := range in.notWant {
				if strings.Contains(res.stderr, w) {
					t.Errorf("containerctl %q: stderr = %q, want the child's own error, not %q", args, res.stderr, w)
				}
			}
			for _, p := range watch {
				if !existed[p] && exists(p) {
					t.Errorf("containerctl %q created %s", args, p)
					if strings.HasPrefix(p, stateDir+"/") || strings.HasPrefix(p, "/var/lib/containers/") {
						os.RemoveAll(p)
					}
				}
			}
			if in.noTree {
				return
			}
			if after := tree(t, in.root); !slices.Equal(rootBefore, after) {
				t.Errorf("containerctl %q changed ROOT: before %q, after %q", args, rootBefore, after)
			}
		})
	}
}

// TestListStatus: list and status show a running container as it is.
func TestListStatus(t *testing.T) {
	fx := newFixture(t)
	before := time.Now()
	c := fx.start(t, runOpts{command: []string{"/sbin/testinit", "-halt", "obey"}})
	c.ready()

	if !exists(filepath.Join(stateDir, fx.name, "state.json")) {
		t.Errorf("%s/state.json does not exist while the container runs", filepath.Join(stateDir, fx.name))
	}
	check := func(what string, ct ctJSON) {
		t.Helper()
		if ct.Name != fx.name {
			t.Errorf("%s: name = %q, want %q", what, ct.Name, fx.name)
		}
		if ct.SupervisorPID != c.cmd.Process.Pid {
			t.Errorf("%s: supervisor_pid = %d, want %d", what, ct.SupervisorPID, c.cmd.Process.Pid)
		}
		if ct.PID != c.initPID || !alive(ct.PID) {
			t.Errorf("%s: pid = %d (alive %v), want the init %d", what, ct.PID, alive(ct.PID), c.initPID)
		}
		wantID, _ := statID(fx.rootInit())
		if id, err := statID("/proc/" + itoa(ct.PID) + "/exe"); err != nil || id != wantID {
			t.Errorf("%s: /proc/%d/exe is not %s (%v)", what, ct.PID, fx.rootInit(), err)
		}
		if filepath.Clean(ct.Root) != fx.root {
			t.Errorf("%s: root = %q, want %q", what, ct.Root, fx.root)
		}
		if len(ct.Init) == 0 || !strings.HasSuffix(ct.Init[0], "testinit") {
			t.Errorf("%s: init = %q, want /sbin/testinit and its arguments", what, ct.Init)
		}
		started, err := time.Parse(time.RFC3339, ct.Started)
		if err != nil {
			t.Errorf("%s: started = %q: %v", what, ct.Started, err)
		} else if started.Before(before.Add(-2*time.Second)) || started.After(time.Now().Add(2*time.Second)) {
			t.Errorf("%s: started = %v, want about %v", what, started, before)
		}
	}

	res := ctl(t, "list", "--json")
	if res.code != 0 {
		t.Fatalf("containerctl list --json: exit %d\nstderr: %s", res.code, res.stderr)
	}
	found := false
	for _, ct := range decodeList(t, res.stdout) {
		if ct.Name == fx.name {
			found = true
			check("list --json", ct)
		}
	}
	if !found {
		t.Errorf("containerctl list --json = %s, want %s in it", res.stdout, fx.name)
	}

	res = ctl(t, "status", fx.name, "--json")
	if res.code != 0 {
		t.Fatalf("containerctl status --json: exit %d\nstderr: %s", res.code, res.stderr)
	}
	check("status --json", decodeOne(t, res.stdout))

	for _, args := range [][]string{{"list"}, {"status", fx.name}} {
		res = ctl(t, args...)
		if res.code != 0 || !strings.Contains(res.stdout, fx.name) {
			t.Errorf("containerctl %s: exit %d, stdout %q; want 0 and %s in it", strings.Join(args, " "), res.code, res.stdout, fx.name)
		}
	}

	if res := ctl(t, "stop", fx.name); res.code != 0 {
		t.Fatalf("containerctl stop: exit %d\nstderr: %s", res.code, res.stderr)
	}
	c.wait(5 * time.Second)
	res = ctl(t, "status", fx.name, "--json")
	if res.code != 1 || !strings.Contains(res.stderr, fx.name) {
		t.Errorf("containerctl status after stop: exit %d, stderr %q; want 1 and the name", res.code, res.stderr)
	}
	res = ctl(t, "list", "--json")
	for _, ct := range decodeList(t, res.stdout) {
		if ct.Name == fx.name {
			t.Errorf("containerctl list --json after stop shows %s", fx.name)
		}
	}
}

// TestConsole: a command's output reaches run's stdout in every console mode
// that connects it, and its exit status is run's.
func TestConsole(t *testing.T) {
	requireRoot(t)
	tests := []struct {
		name    string
		flags   []string
		wantOut bool
	}{
		{"pipe", []string{"--console=pipe"}, true},
		{"read-only", []string{"--console=read-only"}, true},
		{"default without a terminal", nil, true},
		{"passive", []string{"--console=passive"}, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			fx := newFixture(t)
			c := fx.start(t, runOpts{flags: tt.flags, command: []string{"/bin/sh", "-c", "echo hi; exit 3"}})
			if got := c.wait(startTimeout); got != 3 {
				t.Errorf("exit status = %d, want 3\nstderr: %s", got, c.stderr.String())
			}
			out := strings.ReplaceAll(c.stdout.String(), "\r\n", "\n")
			if tt.wantOut && out != "hi\n" {
				t.Errorf("stdout = %q, want %q", c.stdout.String(), "hi\n")
			}
			if !tt.wantOut && strings.Contains(out, "hi") {
				t.Errorf("stdout = %q, want no output", c.stdout.String())
			}
		})
	}
}

// TestConsoleLogLines: where the console and the supervisor's log share one
// stream, as a unit's stdout and stderr share its journal, a log line never
// glues onto a console line that lacks its newline (a login prompt).
func TestConsoleLogLines(t *testing.T) {
	fx := newFixture(t)
	c := fx.start(t, runOpts{
		flags:   []string{"--console=read-only"},
		wrap:    []string{"bash", "-c", `exec "$@" 2>&1`, "one-stream"},
		command: []string{"/bin/sh", "-c", "printf 'vm login: '; exec sleep 1000"},
	})
	deadline := time.Now().Add(startTimeout)
	for !strings.Contains(c.stdout.String(), "vm login: ") {
		if time.Now().After(deadline) || c.exited() {
			t.Fatalf("no prompt on the console\noutput: %q", c.stdout.String())
		}
		time.Sleep(10 * time.Millisecond)
	}
	ctl(t, "stop", c.name, "--timeout", "1s")
	c.wait(startTimeout)
	out := c.stdout.String()
	if strings.Contains(out, "vm login: containerctl") {
		t.Errorf("a log line glued onto the prompt:\n%s", out)
	}
	if !strings.Contains(out, "vm login: \ncontainerctl: ") {
		t.Errorf("want the prompt's line ended before the next log line, got:\n%q", out)
	}
}

// TestBindsAndTmpfs: --bind is writable, --bind-ro is not, --tmpfs is a
// fresh tmpfs.
func TestBindsAndTmpfs(t *testing.T) {
	fx := newFixture(t)
	rw, ro := filepath.Join(fx.dir, "rw"), filepath.Join(fx.dir, "ro")
	mustMkdir(t, rw)
	mustMkdir(t, ro)
	seed := "seed " + randHex(8) + "\n"
	if err := os.WriteFile(filepath.Join(ro, "seed.txt"), []byte(seed), 0o644); err != nil {
		t.Fatal(err)
	}
	for _, d := range []string{"rw", "ro", "scratch"} {
		mustMkdir(t, filepath.Join(fx.root, "srv", d))
	}
	c := fx.start(t, runOpts{
		flags: []string{"--bind", rw + ":/srv/rw", "--bind-ro", ro + ":/srv/ro", "--tmpfs", "/srv/scratch"},
		command: []string{"/sbin/testinit", "-report",
			"-write", "/srv/rw/hello,/srv/ro/hello,/srv/scratch/hello",
			"-read", "/srv/ro/seed.txt"},
	})
	r := c.report()

	if got := r.Writes["/srv/rw/hello"]; got.Err != "" {
		t.Errorf("write /srv/rw/hello inside: %s, want success", got.Err)
	}
	if b, err := os.ReadFile(filepath.Join(rw, "hello")); err != nil || string(b) != "written-by-testinit\n" {
		t.Errorf("host %s = %q, %v; want the file written inside", filepath.Join(rw, "hello"), b, err)
	}
	if got := r.Writes["/srv/ro/hello"]; got.Errno != "EROFS" {
		t.Errorf("write /srv/ro/hello inside: errno %q (%s), want EROFS", got.Errno, got.Err)
	}
	if exists(filepath.Join(ro, "hello")) {
		t.Errorf("write into the read-only bind reached the host")
	}
	if got := r.Reads["/srv/ro/seed.txt"]; got.Data != seed {
		t.Errorf("read /srv/ro/seed.txt inside = %q, %q; want %q", got.Data, got.Err, seed)
	}
	if got := r.Writes["/srv/scratch/hello"]; got.Err != "" {
		t.Errorf("write /srv/scratch/hello inside: %s, want success", got.Err)
	}
	if exists(filepath.Join(fx.root, "srv", "scratch", "hello")) {
		t.Errorf("write into the tmpfs reached ROOT on the host")
	}
	ms := parseMountinfo(r.Mountinfo)
	if m, ok := mountAt(ms, "/srv/scratch"); !ok || m.fstype != "tmpfs" {
		t.Errorf("mount at /srv/scratch inside = %+v (found %v), want a tmpfs", m, ok)
	}
	if m, ok := mountAt(ms, "/srv/ro"); !ok || !hasOpt(m.opts, "ro") {
		t.Errorf("mount at /srv/ro inside = %+v (found %v), want read-only", m, ok)
	}
	if m, ok := mountAt(ms, "/srv/rw"); !ok || !hasOpt(m.opts, "rw") {
		t.Errorf("mount at /srv/rw inside = %+v (found %v), want read-write", m, ok)
	}
}

// ctJSON is one container as list --json and status --json show it.
type ctJSON struct {
	Name          string   `json:"name"`
	SupervisorPID int      `json:"supervisor_pid"`
	PID           int      `json:"pid"`
	Root          string   `json:"root"`
	Init          []string `json:"init"`
	Started       string   `json:"started"`
	Profile       string   `json:"profile"`
}

var ctKeys = []string{"name", "supervisor_pid", "pid", "root", "init", "started"}

func decodeList(t *testing.T, s string) []ctJSON {
	t.Helper()
	var raw []map[string]json.RawMessage
	if err := json.Unmarshal([]byte(s), &raw); err != nil {
		t.Fatalf("decode list --json %q: %v", s, err)
	}
	var cts []ctJSON
	for _, m := range raw {
		cts = append(cts, decodeObject(t, m))
	}
	return cts
}

func decodeOne(t *testing.T, s string) ctJSON {
	t.Helper()
	var m map[string]json.RawMessage
	if err := json.Unmarshal([]byte(s), &m); err != nil {
		t.Fatalf("decode status --json %q: %v", s, err)
	}
	return decodeObject(t, m)
}

func decodeObject(t *testing.T, m map[string]json.RawMessage) ctJSON {
	t.Helper()
	for _, k := range ctKeys {
		if _, ok := m[k]; !ok {
			t.Errorf("container object %v has no key %q", m, k)
		}
	}
	b, _ := json.Marshal(m)
	var ct ctJSON
	if err := json.Unmarshal(b, &ct); err != nil {
		t.Errorf("container object %s: %v", b, err)
	}
	return ct
}

func hostMountinfo(t *testing.T) []string {
	t.Helper()
	b, err := os.ReadFile("/proc/self/mountinfo")
	if err != nil {
		t.Fatal(err)
	}
	return nonEmptyLines(string(b))
}

func nonEmptyLines(s string) []string {
	var lines []string
	for _, l := range strings.Split(s, "\n") {
		if strings.TrimSpace(l) != "" {
			lines = append(lines, l)
		}
	}
	return lines
}

// tree lists the paths under root, relative to it; nil if root is missing.
func tree(t *testing.T, root string) []string {
	t.Helper()
	if !exists(root) {
		return nil
	}
	var paths []string
	err := filepath.Walk(root, func(p string, fi os.FileInfo, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(root, p)
		paths = append(paths, rel+" "+fi.Mode().String())
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return paths
}

func itoa(n int) string { return strconv.Itoa(n) }

// TestInteractiveConsole: on a terminal, run relays the terminal to the
// container's console both ways, as systemd-nspawn's interactive console does.
func TestInteractiveConsole(t *testing.T) {
	requireRoot(t)
	requireBusybox(t)
	fx := newFixture(t)
	master, slavePath, err := console.NewPty()
	if err != nil {
		t.Fatal(err)
	}
	defer master.Close()
	slave, err := os.OpenFile(slavePath, os.O_RDWR, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer slave.Close()
	cmd := exec.Command(ctlBin, "run", fx.name, "--root", fx.root, "--store", fx.store, "--", "/bin/sh")
	cmd.Stdin, cmd.Stdout, cmd.Stderr = slave, slave, slave
	cmd.SysProcAttr = &syscall.SysProcAttr{Setsid: true, Setctty: true, Ctty: 0}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	done := make(chan struct{})
	go func() {
		_ = cmd.Wait()
		close(done)
	}()
	t.Cleanup(func() {
		_ = cmd.Process.Kill()
		<-done
	})

	var out lockedBuffer
	go func() { _, _ = io.Copy(&out, master) }()
	waitFor := func(s string) {
		t.Helper()
		deadline := time.Now().Add(startTimeout)
		for !strings.Contains(out.String(), s) {
			if time.Now().After(deadline) {
				t.Fatalf("no %q on the terminal within %v; it shows:\n%s", s, startTimeout, out.String())
			}
			time.Sleep(20 * time.Millisecond)
		}
	}
	// The shell's input comes only through the relay, and $((6*7)) is
	// expanded by the shell inside, so "in-42" proves the round trip.
	if _, err := master.Write([]byte("echo in-$((6*7)) $(hostname)\n")); err != nil {
		t.Fatal(err)
	}
	waitFor("in-42 " + fx.name)
	if _, err := master.Write([]byte("exit 4\n")); err != nil {
		t.Fatal(err)
	}
	select {
	case <-done:
	case <-time.After(startTimeout):
		t.Fatalf("containerctl run did not exit after the shell's exit; terminal:\n%s", out.String())
	}
	if got := cmd.ProcessState.ExitCode(); got != 4 {
		t.Errorf("exit status = %d, want 4; terminal:\n%s", got, out.String())
	}
}

// TestBootID: each container has a boot ID of its own, read-only, as with
// nspawn, so that a guest's journal tells its boots apart.
func TestBootID(t *testing.T) {
	requireRoot(t)
	host, err := os.ReadFile("/proc/sys/kernel/random/boot_id")
	if err != nil {
		t.Fatal(err)
	}
	const p = "/proc/sys/kernel/random/boot_id"
	var ids []string
	for range 2 {
		fx := newFixture(t)
		c := fx.start(t, runOpts{command: []string{"/sbin/testinit", "-report", "-read", p, "-write", p}})
		r := c.report()
		id := strings.TrimSpace(r.Reads[p].Data)
		if len(id) != 36 || id == strings.TrimSpace(string(host)) {
			t.Errorf("boot_id inside = %q (%s), want a UUID other than the host's %q", id, r.Reads[p].Err, strings.TrimSpace(string(host)))
		}
		if w := r.Writes[p]; w.Errno != "EROFS" {
			t.Errorf("writing boot_id inside: %+v, want EROFS", w)
		}
		ids = append(ids, id)
	}
	if ids[0] == ids[1] {
		t.Errorf("two containers share boot_id %q", ids[0])
	}
}

// TestSeccomp: the syscalls through which a container's capabilities would
// reach the host (open_by_handle_at with CAP_DAC_READ_SEARCH, the kernel
// keyring, swap, fanotify, quotas) and the ioctls that freeze, trim or shut
// down the host's filesystem fail with EPERM inside, as under nspawn;
// others work. The host's mounts are checked by the suite's TestMain.
func TestSeccomp(t *testing.T) {
	requireRoot(t)
	fx := newFixture(t)
	c := fx.start(t, runOpts{flags: []string{"--console=pipe"}, command: []string{"/sbin/testinit", "syscalls"}})
	if got := c.wait(startTimeout); got != 0 {
		t.Fatalf("testinit syscalls: exit %d\n%s", got, c.stderr.String())
	}
	out := c.stdout.String()
	for _, want := range []string{
		"SYSCALL open_by_handle_at EPERM", "SYSCALL keyctl EPERM", "SYSCALL swapoff EPERM", "SYSCALL getcwd ok",
		"SYSCALL fanotify_init EPERM", "SYSCALL quotactl EPERM", "SYSCALL quotactl_fd EPERM",
		// On a pipe: without the filter EOPNOTSUPP, EINVAL or ENOTTY.
		"SYSCALL ioctl_FIFREEZE EPERM", "SYSCALL ioctl_FIFREEZE|1<<32 EPERM", "SYSCALL ioctl_FITHAW EPERM",
		"SYSCALL ioctl_FITRIM EPERM", "SYSCALL ioctl_FS_IOC_SHUTDOWN EPERM",
		"SYSCALL ioctl_FS_IOC_SETFSLABEL EPERM", "SYSCALL ioctl_EXT4_IOC_SETFSUUID EPERM", "SYSCALL ioctl_EXT4_IOC_SWAP_BOOT EPERM",
		"SYSCALL ioctl_TIOCSTI EPERM", "SYSCALL ioctl_TIOCCONS EPERM",
		"SYSCALL ioctl_TCGETS ENOTTY", // allowed: a pipe is no terminal
	} {
		if !strings.Contains(out, want) {
			t.Errorf("inside the container, want %q; got:\n%s", want, out)
		}
	}
	// The filesystem the container's root lies on still takes writes:
	// nothing froze or shut it down.
	done := make(chan error, 1)
	go func() { done <- os.WriteFile(filepath.Join(fx.root, "seccomp-write-check"), []byte("x"), 0o644) }()
	select {
	case err := <-done:
		if err != nil {
			t.Errorf("write on the root's filesystem after the container: %v", err)
		}
		os.Remove(filepath.Join(fx.root, "seccomp-write-check"))
	case <-time.After(10 * time.Second):
		t.Errorf("write on the root's filesystem after the container: no answer in 10s (frozen?)")
	}
}

// TestKillSignal: --kill-signal changes what a halt sends, as nspawn's does,
// so an init that knows only SIGTERM stops cleanly instead of waiting out
// the timeout.
func TestKillSignal(t *testing.T) {
	requireRoot(t)
	fx := newFixture(t)
	c := fx.start(t, runOpts{
		flags:   []string{"--console=pipe", "--kill-signal", "SIGTERM"},
		command: []string{"/bin/sh", "-c", `trap "echo GOT-TERM; exit 0" TERM; echo READY; while :; do sleep 0.1; done`},
	})
	c.waitLine("READY", startTimeout)
	start := time.Now()
	r := ctl(t, "stop", fx.name)
	if r.code != 0 || !strings.Contains(r.stdout, "halted cleanly") {
		t.Errorf("stop: exit %d, stdout %q, stderr %q; want 0 and halted cleanly", r.code, r.stdout, r.stderr)
	}
	if d := time.Since(start); d > 5*time.Second {
		t.Errorf("stop took %v, want the init to take SIGTERM at once", d)
	}
	if got := c.wait(5 * time.Second); got != 0 || !c.stdout.has(func(l string) bool { return l == "GOT-TERM" }) {
		t.Errorf("run exit %d, stdout %q; want 0 after the init got SIGTERM", got, c.stdout.String())
	}
	if r := ctl(t, "run", fx.name+"x", "--root", fx.root, "--kill-signal", "SIGNOPE", "--", "/bin/true"); r.code != 1 || !strings.Contains(r.stderr, "unknown signal") {
		t.Errorf("run --kill-signal SIGNOPE: exit %d, stderr %q; want 1 and unknown signal", r.code, r.stderr)
	}
}

// TestStopInitWithoutHandler: an init that neither catches nor blocks the
// halt signal cannot be sent it at all (the kernel drops it for a PID
// namespace's init), so stop kills it after a grace of seconds, saying why,
// instead of waiting out the stop timeout for nothing; an init that
// catches the signal and dawdles still gets the whole timeout, and a
// script that execs an init which catches it within the grace halts.
func TestStopInitWithoutHandler(t *testing.T) {
	requireRoot(t)
	t.Run("no handler", func(t *testing.T) {
		t.Parallel()
		fx := newFixture(t)
		c := fx.start(t, runOpts{
			flags:   []string{"--console=pipe", "--stop-timeout", "2m"},
			command: []string{"/bin/sh", "-c", "echo READY; exec /bin/sleep 1000"},
		})
		c.waitLine("READY", startTimeout)
		start := time.Now()
		r := ctl(t, "stop", fx.name)
		if r.code != 0 || !strings.Contains(r.stdout, "neither catches nor blocks SIGRTMIN+3, so it cannot halt, killed") {
			t.Errorf("stop: exit %d, stdout %q, stderr %q; want 0 and the init killed as one that cannot halt", r.code, r.stdout, r.stderr)
		}
		if d := time.Since(start); d > time.Minute {
			t.Errorf("stop took %v; want it well short of the 2m stop timeout", d)
		}
		if got := c.wait(5 * time.Second); got != 137 {
			t.Errorf("run exit %d; want 137 (killed)", got)
		}
	})
	t.Run("handler that ignores", func(t *testing.T) {
		t.Parallel()
		fx := newFixture(t)
		c := fx.start(t, runOpts{
			flags:   []string{"--console=pipe", "--stop-timeout", "4s"},
			command: []string{"/bin/sh", "-c", `trap "echo GOT-HALT" 37; echo READY; while :; do sleep 0.1; done`},
		})
		c.waitLine("READY", startTimeout)
		r := ctl(t, "stop", fx.name)
		if r.code != 0 || !strings.Contains(r.stdout, "did not halt within 4s, killed") {
			t.Errorf("stop: exit %d, stdout %q, stderr %q; want 0 and a kill at the stop timeout", r.code, r.stdout, r.stderr)
		}
		c.wait(5 * time.Second)
		if !c.stdout.has(func(l string) bool { return l == "GOT-HALT" }) {
			t.Errorf("stdout %q: the init never got the halt signal", c.stdout.String())
		}
	})
	t.Run("handler exec'd later", func(t *testing.T) {
		t.Parallel()
		fx := newFixture(t)
		c := fx.start(t, runOpts{
			flags:   []string{"--console=pipe", "--kill-signal", "SIGTERM"},
			command: []string{"/bin/sh", "-c", `echo READY; sleep 4; exec /bin/sh -c 'trap "exit 7" TERM; while :; do sleep 0.1; done'`},
		})
		c.waitLine("READY", startTimeout)
		r := ctl(t, "stop", fx.name)
		if r.code != 0 || !strings.Contains(r.stdout, "halted cleanly") {
			t.Errorf("stop: exit %d, stdout %q, stderr %q; want 0 and a clean halt once the init takes SIGTERM", r.code, r.stdout, r.stderr)
		}
		if got := c.wait(5 * time.Second); got != 7 {
			t.Errorf("run exit %d; want 7, the exec'd init's", got)
		}
	})
}

// TestInitSignalMaskClear: the init starts with no signal blocked, whatever
// mask containerctl was started with (a caller, a service manager, or the
// monitor that execs a supervisor again): a blocked SIGRTMIN+3 would leave
// an init that does not reset its mask (a shell, not systemd) unable to
// halt, and Go's runtime passes a blocked signal it does not use on to
// every process it forks.
func TestInitSignalMaskClear(t *testing.T) {
	fx := newFixture(t)
	c := fx.start(t, runOpts{
		flags:   []string{"--console=pipe"},
		wrap:    []string{initBin, "exec-blocked"},
		command: []string{"/bin/sh", "-c", "grep SigBlk /proc/1/status"},
	})
	if got := c.wait(startTimeout); got != 0 {
		t.Fatalf("container exited %d\nstdout:\n%s\nstderr:\n%s", got, c.stdout.String(), c.stderr.String())
	}
	out := c.stdout.String()
	if !strings.Contains(out, "SigBlk:") {
		t.Fatalf("no SigBlk line from the init:\n%s", out)
	}
	if !strings.Contains(out, "SigBlk:\t0000000000000000") {
		t.Errorf("the init starts with signals blocked, as containerctl was started (SIGRTMIN+3, SIGUSR1, SIGTERM):\n%s", out)
	}
}

// TestSignalDuringStart: a SIGINT that comes while run starts, at any
// moment of its first milliseconds, ends it with at most one line, which
// gives the signal as the cause, never the init child's socket reset by
// the kill; and nothing is left (the fixture's check).
func TestSignalDuringStart(t *testing.T) {
	requireRoot(t)
	fx := newFixture(t)
	for i := range 30 {
		delay := time.Duration(1000+(i%10)*1000) * time.Microsecond
		cmd := exec.Command(ctlBin, "run", fx.name, "--store", fx.store, "--root", fx.root, "--console=pipe", "--", "/sbin/testinit")
		var stderr strings.Builder
		cmd.Stderr = &stderr
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		time.Sleep(delay)
		_ = cmd.Process.Signal(syscall.SIGINT)
		done := make(chan error, 1)
		go func() { done <- cmd.Wait() }()
		select {
		case <-done:
		case <-time.After(10 * time.Second):
			// Started before the signal: a halt that testinit obeys.
			t.Fatalf("SIGINT %v into the start: run still going 10s on", delay)
		}
		lines := nonEmptyLines(stderr.String())
		for _, l := range lines {
			if strings.Contains(l, "read sync") || strings.Contains(l, "connection reset") || strings.Contains(l, "killing the init child") {
				t.Errorf("SIGINT %v into the start: stderr %q, want the signal as the only cause", delay, stderr.String())
			}
		}
		if len(lines) > 1 && !strings.Contains(stderr.String(), "running, init is pid") {
			t.Errorf("SIGINT %v into the start: %d lines on stderr, want at most one:\n%s", delay, len(lines), stderr.String())
		}
		if cmd.ProcessState.ExitCode() == 0 && !strings.Contains(stderr.String(), "running, init is pid") {
			t.Errorf("SIGINT %v into the start: exit 0 without a start", delay)
		}
	}
	ctl(t, "status", fx.name)
}

// TestParseErrorsNameContainer: a flag or an argument count that the
// command line refuses is one line that names the container.
func TestParseErrorsNameContainer(t *testing.T) {
	for _, args := range [][]string{
		{"run", "it-parse", "--bogus"},
		{"run", "it-parse", "--stop-timeout=abc"},
		{"create", "it-parse", "--path", "/nix/store/x", "--", "/bin/sleep", "5"},
		{"stop", "it-parse", "--timeout", "soon"},
	} {
		r := ctl(t, args...)
		if r.code == 0 || !oneLineNaming(r.stderr, "it-parse", "") {
			t.Errorf("%s: exit %d, stderr %q; want one line naming it-parse", strings.Join(args, " "), r.code, r.stderr)
		}
	}
}

// TestRootInUse: a root that a running container writes is refused to a
// second one, in one line naming the first, also once the first has
// handed off to its monitor; containers that do not write it (--ephemeral)
// share it with each other; the lock goes with the container, also when
// its supervisor is killed.
func TestRootInUse(t *testing.T) {
	requireRoot(t)
	fx := newFixture(t)
	c := fx.start(t, runOpts{flags: []string{"--console=pipe"}, command: []string{"/sbin/testinit"}})
	c.ready()
	c.waitMonitor()
	second := func(name string, flags ...string) result {
		args := append([]string{"run", name, "--store", fx.store, "--root", fx.root, "--console=pipe"}, flags...)
		return ctl(t, append(args, "--", "/bin/true")...)
	}
	if r := second(fx.name + "-2"); r.code == 0 || !oneLineNaming(r.stderr, fx.name+"-2", "in use by another running container ("+fx.name+")") {
		t.Errorf("a second container on a root in use: exit %d, stderr %q; want one line naming %s", r.code, r.stderr, fx.name)
	}
	if r := second(fx.name+"-3", "--ephemeral"); r.code == 0 || !strings.Contains(r.stderr, "which writes it") {
		t.Errorf("an ephemeral container on a root another writes: exit %d, stderr %q; want a refusal", r.code, r.stderr)
	}
	if r := ctl(t, "stop", fx.name); r.code != 0 {
		t.Fatalf("stop: exit %d: %s", r.code, r.stderr)
	}
	c.wait(10 * time.Second)
	// Two that do not write it share it.
	e := fx.start(t, runOpts{flags: []string{"--console=pipe", "--ephemeral"}, command: []string{"/sbin/testinit"}})
	e.ready()
	if r := second(fx.name+"-4", "--ephemeral"); r.code != 0 {
		t.Errorf("a second ephemeral container on the root: exit %d, stderr %q; want it to run", r.code, r.stderr)
	}
	if r := second(fx.name + "-5"); r.code == 0 || !strings.Contains(r.stderr, "in use by another running container") {
		t.Errorf("a writing container on a root ephemeral ones use: exit %d, stderr %q; want a refusal", r.code, r.stderr)
	}
	// Killed: the reaper removes the lock; the root is free.
	e.waitReaper(startTimeout)
	_ = e.cmd.Process.Signal(syscall.SIGKILL)
	e.wait(10 * time.Second)
	var st syscall.Stat_t
	if err := syscall.Stat(fx.root, &st); err != nil {
		t.Fatal(err)
	}
	if lock := filepath.Join(stateDir, "root-"+strconv.FormatUint(st.Dev, 10)+"-"+strconv.FormatUint(st.Ino, 10)+".lock"); !waitAbsent(lock, 3*time.Second) {
		t.Errorf("%s left after the last container's supervisor was killed", lock)
	}
	if r := second(fx.name + "-6"); r.code != 0 {
		t.Errorf("a container on the root once the others are gone: exit %d, stderr %q", r.code, r.stderr)
	}
}
