//go:build linux

package integration

import (
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

// addSystem adds a system to fx's store, with testinit as its init and,
// unless switchScript is empty, that script as its
// bin/switch-to-configuration; it returns the system's path inside.
func (fx *fixture) addSystem(t *testing.T, switchScript string) string {
	t.Helper()
	hash := nixHash()
	host := filepath.Join(fx.store, "store", hash+"-system")
	mustMkdir(t, filepath.Join(host, "bin"))
	mustCopy(t, initBin, filepath.Join(host, "init"), 0o755)
	if err := trackExe(filepath.Join(host, "init")); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(host, "testinit.args"), []byte("-halt\nobey\n-notify\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if switchScript != "" {
		if err := os.WriteFile(filepath.Join(host, "bin", "switch-to-configuration"), []byte(switchScript), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	return "/nix/store/" + hash + "-system"
}

// switchRecorder is a switch-to-configuration that records how it ran.
func switchRecorder(file string, status int) string {
	return "#!/bin/sh\necho \"uid=$(id -u) arg=$1 self=$0 mnt=$(readlink /proc/self/ns/mnt) pid=$(readlink /proc/self/ns/pid) init_mnt=$(readlink /proc/1/ns/mnt) init_pid=$(readlink /proc/1/ns/pid) home=$HOME\" > " + file + "\nexit " + itoa(status) + "\n"
}

func profileOf(t *testing.T, name string) string {
	t.Helper()
	r := ctl(t, "status", name, "--json")
	if r.code != 0 {
		t.Fatalf("status %s: exit %d: %s", name, r.code, r.stderr)
	}
	return decodeOne(t, r.stdout).Profile
}

// TestReload: reload activates a profile in the running container: its
// switch-to-configuration runs inside, as root, in the container's
// namespaces, PID 1 stays, and the profile is recorded; a switch that
// fails leaves the container running on its profile; a profile that
// cannot be switched to is refused, or, with --restart-if-needed, the
// same supervisor starts the container again from it.
func TestReload(t *testing.T) {
	fx := newFixture(t)
	for _, a := range []string{"id", "readlink"} {
		_ = os.Symlink("busybox", filepath.Join(fx.root, "bin", a))
	}
	// Ready as systemd says it: the supervisor hands off to the monitor,
	// and each reload below reaches a supervisor resumed for it.
	fx.setInitArgs(t, "-halt", "obey", "-notify")
	c := fx.start(t, runOpts{flags: []string{"--console=pipe"}})
	c.ready()
	c.waitMonitor()
	initPID := c.initPID
	link := "/nix/var/nix/profiles/containers/" + fx.name
	if got := profileOf(t, fx.name); got != link {
		t.Errorf("status: profile %q, want the profile link %s", got, link)
	}

	// As ExecReload after nix-env --set: the link moved, reload without --path.
	moved := fx.addSystem(t, switchRecorder("/run/switched-moved", 0))
	hostLink := filepath.Join(fx.store, "var", "nix", "profiles", "containers", fx.name)
	if err := os.Remove(hostLink); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink(moved, hostLink); err != nil {
		t.Fatal(err)
	}
	if r := ctl(t, "reload", fx.name); r.code != 0 {
		t.Fatalf("reload (moved link): exit %d, stderr %q", r.code, r.stderr)
	}
	ran := ctl(t, "exec", fx.name, "--", "cat", "/run/switched-moved").stdout
	f := map[string]string{}
	for _, kv := range strings.Fields(ran) {
		k, v, _ := strings.Cut(kv, "=")
		f[k] = v
	}
	if f["uid"] != "0" || f["arg"] != "test" || f["self"] != link+"/bin/switch-to-configuration" || f["home"] != "/root" ||
		f["mnt"] == "" || f["mnt"] != f["init_mnt"] || f["pid"] != f["init_pid"] {
		t.Errorf("switch-to-configuration ran as %q; want uid 0, arg test, through %s, HOME /root, in PID 1's mount and PID namespaces", ran, link)
	}

	// --path: another profile, recorded.
	next := fx.addSystem(t, switchRecorder("/run/switched-next", 0))
	if r := ctl(t, "reload", fx.name, "--path", next); r.code != 0 || !strings.Contains(r.stdout, "switched to "+next) {
		t.Fatalf("reload --path: exit %d, stdout %q, stderr %q", r.code, r.stdout, r.stderr)
	}
	if got := profileOf(t, fx.name); got != next {
		t.Errorf("status after reload --path: profile %q, want %s", got, next)
	}
	// Recorded by a resumed supervisor, which handed off again.
	c.waitMonitor()
	if !alive(initPID) {
		t.Errorf("PID 1 (%d on the host) is gone after reload: the container was rebooted", initPID)
	}

	// A switch that fails.
	failing := fx.addSystem(t, switchRecorder("/run/switched-failing", 3))
	r := ctl(t, "reload", fx.name, "--path", failing)
	if r.code != 3 || !strings.Contains(r.stderr, "runs on") || len(nonEmptyLines(r.stderr)) != 1 {
		t.Errorf("failing reload: exit %d, stderr %q; want 3 and one line saying the container runs on", r.code, r.stderr)
	}
	if got := profileOf(t, fx.name); got != next || !alive(initPID) {
		t.Errorf("after a failed switch: profile %q (want %s), PID 1 alive %v", got, next, alive(initPID))
	}

	// A profile with no switch-to-configuration: refused, then restarted.
	plain := fx.addSystem(t, "")
	r = ctl(t, "reload", fx.name, "--path", plain)
	if r.code != 1 || !strings.Contains(r.stderr, "cannot be switched to in place") || !strings.Contains(r.stderr, "switch-to-configuration") {
		t.Errorf("reload of a profile without switch-to-configuration: exit %d, stderr %q; want 1 and the reason", r.code, r.stderr)
	}
	// A profile that has no init at all (a typo) is refused before the
	// halt: the container runs on.
	r = ctl(t, "reload", fx.name, "--path", "/nix/store/no-such-profile", "--restart-if-needed")
	if r.code != 1 || !oneLineNaming(r.stderr, fx.name, "not an executable file in the container") || !strings.Contains(r.stderr, "runs on") {
		t.Errorf("reload --restart-if-needed of a missing profile: exit %d, stderr %q; want 1 and one line saying the container runs on", r.code, r.stderr)
	}
	if got := profileOf(t, fx.name); got != next || !alive(initPID) {
		t.Errorf("after a refused restart: profile %q (want %s), PID 1 alive %v", got, next, alive(initPID))
	}
	r = ctl(t, "reload", fx.name, "--path", plain, "--restart-if-needed")
	if r.code != 0 || !strings.Contains(r.stdout, "started again") {
		t.Fatalf("reload --restart-if-needed: exit %d, stdout %q, stderr %q", r.code, r.stdout, r.stderr)
	}
	if got := profileOf(t, fx.name); got != plain {
		t.Errorf("status after the restart: profile %q, want %s", got, plain)
	}
	if waitProcs(2*time.Second, func(p procInfo) bool { return p.pid == initPID }) != nil {
		t.Errorf("the old PID 1 (%d) survived the restart", initPID)
	}
	if c.exited() {
		t.Errorf("the supervisor exited on the restart; want the same one to run the container again")
	}
	c.waitMonitor()
	// Started again by a supervisor that the monitor exec'd: none of the
	// signals the handoffs block stays blocked in the new init. testinit
	// is Go, whose signal thread blocks what it does not ask for: a
	// signal counts as blocked only when every thread blocks it.
	r = ctl(t, "status", fx.name, "--json")
	st := decodeOne(t, r.stdout)
	tasks, err := filepath.Glob(fmt.Sprintf("/proc/%d/task/*/status", st.PID))
	if err != nil || len(tasks) == 0 {
		t.Fatalf("threads of the restarted init %d: %v", st.PID, err)
	}
	all := ^uint64(0)
	for _, task := range tasks {
		b, err := os.ReadFile(task)
		if err != nil {
			t.Fatal(err)
		}
		blk, err := strconv.ParseUint(procStatus(t, string(b), "SigBlk")["SigBlk"], 16, 64)
		if err != nil {
			t.Fatal(err)
		}
		all &= blk
	}
	for _, sig := range []syscall.Signal{syscall.SIGHUP, syscall.SIGINT, syscall.SIGTERM, syscall.SIGWINCH} {
		if all&(1<<(uint(sig)-1)) != 0 {
			t.Errorf("the restarted init (pid %d) has %v blocked in all its threads (%016x)", st.PID, sig, all)
		}
	}
	if st := ctl(t, "exec", fx.name, "--", "true"); st.code != 0 {
		t.Errorf("exec after the restart: exit %d: %s", st.code, st.stderr)
	}
}

// TestConfFile: run reads NAME.conf from the settings directory, with
// NixOS's keys, and the command line wins over it.
func TestConfFile(t *testing.T) {
	fx := newFixture(t)
	system := fx.addSystem(t, "")
	dir := t.TempDir()
	conf := "SYSTEM_PATH=" + system + "\nPRIVATE_NETWORK=0\nEXTRA_FLAGS=\"--hostname=from-conf --console pipe\"\n"
	if err := os.WriteFile(filepath.Join(dir, fx.name+".conf"), []byte(conf), 0o644); err != nil {
		t.Fatal(err)
	}
	c := fx.start(t, runOpts{flags: []string{"--config-dir", dir, "--console=read-only"}})
	c.ready()
	if got := profileOf(t, fx.name); got != system {
		t.Errorf("profile %q, want SYSTEM_PATH's %s", got, system)
	}
	if r := ctl(t, "exec", fx.name, "--", "hostname"); strings.TrimSpace(r.stdout) != "from-conf" {
		t.Errorf("hostname %q (%s), want EXTRA_FLAGS's from-conf", r.stdout, r.stderr)
	}
	// A bad value (HOST_ADDRESS is executed now, and would make a veth in
	// the machine's own namespace).
	if err := os.WriteFile(filepath.Join(dir, "bad.conf"), []byte("PRIVATE_NETWORK=maybe\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	r := ctl(t, "--config-dir", dir, "run", "bad", "--root", fx.root, "--", "/bin/true")
	if r.code != 1 || !strings.Contains(r.stderr, "bad.conf:1: PRIVATE_NETWORK") || len(nonEmptyLines(r.stderr)) != 1 {
		t.Errorf("run with a bad value: exit %d, stderr %q; want 1 and one line naming the file, the line and the key", r.code, r.stderr)
	}
}
