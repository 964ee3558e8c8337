//go:build linux

package integration

import (
	"crypto/sha256"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

// The private users tests start containers with --private-users, whose
// root is an unprivileged ID range of the host's, and check from inside
// and from the host that it is: its IDs, the files it writes, the twelve
// ways a guest's root without a user namespace reaches the host, its range
// across starts and beside another container's.

const bb = "/bin/busybox"

// usersRange is the host range of a running container's user namespace,
// as its init's uid_map says: the first host ID and how many.
func usersRange(t *testing.T, pid int) (base, count int) {
	t.Helper()
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/uid_map", pid))
	if err != nil {
		t.Fatal(err)
	}
	f := strings.Fields(string(b))
	if len(f) != 3 || f[0] != "0" {
		t.Fatalf("/proc/%d/uid_map = %q, want one map from 0", pid, b)
	}
	base, _ = strconv.Atoi(f[1])
	count, _ = strconv.Atoi(f[2])
	return base, count
}

// hostUID is a process's real uid on the host.
func hostUID(t *testing.T, pid int) int {
	t.Helper()
	p, _ := readProcStatus(pid, "Uid")
	uid, err := strconv.Atoi(strings.Fields(p + " x")[0])
	if err != nil {
		t.Fatalf("/proc/%d/status: no Uid: %v", pid, err)
	}
	return uid
}

func readProcStatus(pid int, key string) (string, bool) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return "", false
	}
	for _, l := range strings.Split(string(b), "\n") {
		if k, v, ok := strings.Cut(l, ":"); ok && k == key {
			return strings.TrimSpace(v), true
		}
	}
	return "", false
}

// startShell starts fx with --private-users=mode (and more flags) running
// script in busybox sh; the script's last command should keep it running
// when the test looks from the host.
func (fx *fixture) startShell(t *testing.T, script string, flags ...string) *container {
	t.Helper()
	c := fx.start(t, runOpts{flags: append([]string{"--console=pipe"}, flags...), command: []string{bb, "sh", "-c", script}})
	return c
}

// ownerOf is a file's owner on the host.
func ownerOf(t *testing.T, p string) (uid, gid uint32) {
	t.Helper()
	var st syscall.Stat_t
	if err := syscall.Lstat(p, &st); err != nil {
		t.Fatal(err)
	}
	return st.Uid, st.Gid
}

// TestPrivateUsersIDs: inside, the init is root; on the host, it is the
// range's first ID, the range is 65536 IDs of no host user, and the
// guest's cgroup is its root's to manage.
func TestPrivateUsersIDs(t *testing.T) {
	fx := newFixture(t)
	c := fx.startShell(t, "echo INSIDE $("+bb+" id -u) $("+bb+" id -g); exec "+bb+" sleep 600", "--private-users=pick")
	line := c.waitLine("INSIDE ", startTimeout)
	if line != "INSIDE 0 0" {
		t.Errorf("inside: id -u, id -g = %q, want 0 0", strings.TrimPrefix(line, "INSIDE "))
	}
	c.findInit()
	base, count := usersRange(t, c.initPID)
	if count != 65536 || base < 0x80000 || base%65536 != 0 {
		t.Errorf("uid_map: %d IDs from %d, want 65536 from a 64K-aligned base at or above 524288", count, base)
	}
	if got := hostUID(t, c.initPID); got != base {
		t.Errorf("the init's uid on the host = %d, want the range's first, %d", got, base)
	}
	if g, _ := readProcStatus(c.initPID, "Gid"); strings.Fields(g)[0] != strconv.Itoa(base) {
		t.Errorf("the init's gid on the host = %q, want %d", g, base)
	}
	gidMap, _ := os.ReadFile(fmt.Sprintf("/proc/%d/gid_map", c.initPID))
	if f := strings.Fields(string(gidMap)); !slices.Equal(f, []string{"0", strconv.Itoa(base), "65536"}) {
		t.Errorf("gid_map = %q, want the uid_map's range", gidMap)
	}
	for _, f := range []string{"", "cgroup.procs", "cgroup.subtree_control", "cgroup.threads"} {
		p := filepath.Join("/sys/fs/cgroup/unified/containerctl", c.name, "guest", f)
		if _, err := os.Stat(p); err != nil {
			continue // no cgroup2 hierarchy on this host
		}
		if uid, gid := ownerOf(t, p); int(uid) != base || int(gid) != base {
			t.Errorf("%s owned by %d:%d, want the range's root %d", p, uid, gid, base)
		}
	}
	lock := filepath.Join(stateDir, "userns-"+strconv.Itoa(base)+".lock")
	if !exists(lock) {
		t.Errorf("%s missing while the container runs", lock)
	}
	ctl(t, "stop", c.name, "--timeout", "1s")
	c.wait(cmdTimeout)
	if exists(lock) {
		t.Errorf("%s left after the container stopped", lock)
	}
}

// TestPrivateUsersExec: exec enters the user namespace: its command is root
// inside with the init's maps, and the range's root on the host.
func TestPrivateUsersExec(t *testing.T) {
	fx := newFixture(t)
	c := fx.startShell(t, "echo UP; exec "+bb+" sleep 600", "--private-users=pick")
	c.waitLine("UP", startTimeout)
	c.findInit()
	base, _ := usersRange(t, c.initPID)
	r := ctl(t, "exec", c.name, "--", bb, "sh", "-c", bb+" id -u; "+bb+" cat /proc/self/uid_map; "+bb+" awk '/^Uid/ {print $2}' /proc/self/status")
	if r.code != 0 {
		t.Fatalf("exec: exit %d\nstderr: %s", r.code, r.stderr)
	}
	lines := nonEmptyLines(r.stdout)
	if len(lines) < 3 || lines[0] != "0" || !slices.Equal(strings.Fields(lines[1]), []string{"0", strconv.Itoa(base), "65536"}) {
		t.Errorf("exec's id -u and uid_map = %q, want 0 and 0 %d 65536", lines, base)
	}
}

// TestPrivateUsersEscapes: each of the twelve ways a guest's root without
// a user namespace reaches the host (it keeps CAP_SYS_ADMIN over the
// host's own objects) is tried from inside, and found refused from the
// host: its root filesystem through a devtmpfs node, kernel.core_pattern
// through a fresh /proc and through /proc/sys made writable, sysfs, /sys
// and the store made writable, and debugfs, tracefs, securityfs and
// binfmt_misc.
func TestPrivateUsersEscapes(t *testing.T) {
	fx := newFixture(t)
	var root syscall.Stat_t
	if err := syscall.Stat("/", &root); err != nil {
		t.Fatal(err)
	}
	major, minor := root.Dev>>8&0xfff, root.Dev&0xff|root.Dev>>12&0xfff00
	marker := "ESCAPE-" + randHex(6)
	corePattern := readFileT(t, "/proc/sys/kernel/core_pattern")
	storeBefore := tree(t, fx.store)
	helper := "/sys/kernel/uevent_helper"
	helperBefore, _ := os.ReadFile(helper)

	script := `B=` + bb + `
try() { name=$1; shift; "$@" >/dev/null 2>&1; echo "ESC $name $?"; }
$B mkdir -p /tmp/e/dev /tmp/e/host /tmp/e/proc /tmp/e/sys /tmp/e/debug /tmp/e/trace /tmp/e/sec /tmp/e/binfmt
try devtmpfs $B mount -t devtmpfs devtmpfs /tmp/e/dev
try mknod $B mknod /tmp/e/root b ` + fmt.Sprint(major, " ", minor) + `
try hostfs $B sh -c "$B mount -t ext4 /tmp/e/root /tmp/e/host && echo x > /tmp/e/host/` + marker + `"
try proc-core $B sh -c "$B mount -t proc proc /tmp/e/proc; echo '|/bin/` + marker + `' > /tmp/e/proc/sys/kernel/core_pattern"
try procsys-core $B sh -c "$B mount -o remount,rw /proc/sys; $B mount -o remount,bind,rw /proc/sys; echo '|/bin/` + marker + `' > /proc/sys/kernel/core_pattern"
try sysfs $B mount -t sysfs sysfs /tmp/e/sys
try sys-rw $B sh -c "$B mount -o remount,rw /sys || $B mount -o remount,bind,rw /sys"
try sys-write $B sh -c "echo /bin/` + marker + ` > ` + helper + `"
try nix-rw $B sh -c "$B mount -o remount,rw /nix || $B mount -o remount,bind,rw /nix"
try nix-write $B sh -c "echo x > /nix/` + marker + `"
try debugfs $B mount -t debugfs debugfs /tmp/e/debug
try tracefs $B mount -t tracefs tracefs /tmp/e/trace
try securityfs $B mount -t securityfs securityfs /tmp/e/sec
try binfmt $B sh -c "$B mount -t binfmt_misc binfmt_misc /tmp/e/binfmt && echo ':` + marker + `:E::esc::/bin/sh:' > /tmp/e/binfmt/register"
echo ESC-DONE
exec $B sleep 600`
	c := fx.startShell(t, script, "--private-users=pick")
	c.waitLine("ESC-DONE", startTimeout)
	got := map[string]string{}
	for _, l := range nonEmptyLines(c.stdout.String()) {
		if f := strings.Fields(l); len(f) == 3 && f[0] == "ESC" {
			got[f[1]] = f[2]
		}
	}
	// binfmt_misc is the user namespace's own since Linux 6.7: mounting
	// it may succeed; the host's must not change.
	for _, name := range []string{"devtmpfs", "mknod", "hostfs", "proc-core", "procsys-core", "sysfs", "sys-rw", "sys-write", "nix-rw", "nix-write", "debugfs", "tracefs", "securityfs"} {
		if got[name] == "" || got[name] == "0" {
			t.Errorf("escape %s from inside: exit %q, want it refused", name, got[name])
		}
	}
	if now := readFileT(t, "/proc/sys/kernel/core_pattern"); now != corePattern {
		t.Errorf("the host's core_pattern = %q, was %q", now, corePattern)
	}
	if exists("/" + marker) {
		os.Remove("/" + marker)
		t.Errorf("the guest wrote /%s on the host's root filesystem", marker)
	}
	if now := tree(t, fx.store); !slices.Equal(now, storeBefore) {
		t.Errorf("the store changed: %q, was %q", now, storeBefore)
	}
	if now, _ := os.ReadFile(helper); string(now) != string(helperBefore) {
		t.Errorf("the host's %s = %q, was %q", helper, now, helperBefore)
	}
	binfmt := t.TempDir()
	mountT(t, "binfmt_misc", binfmt, "binfmt_misc", 0, "")
	if exists(filepath.Join(binfmt, marker)) {
		t.Errorf("the guest registered a binfmt_misc handler on the host")
	}
}

// TestPrivateUsersStoreReadOnly: the store stays read-only: the guest's
// root can neither remount it writable (the host's root made it, so the
// kernel locks its flags) nor write to it, and nothing reaches the host's
// directory.
func TestPrivateUsersStoreReadOnly(t *testing.T) {
	fx := newFixture(t)
	before := tree(t, fx.store)
	c := fx.startShell(t, bb+" mount -o remount,rw /nix; echo REMOUNT $?; "+bb+" mount -o remount,bind,rw /nix; echo REBIND $?; "+
		"echo x > /nix/written; echo WRITE $?; "+bb+" cat /nix/store/*-system/data.txt; echo DONE", "--private-users=pick")
	c.waitLine("DONE", startTimeout)
	out := c.stdout.String()
	for _, want := range []string{"REMOUNT 1", "REBIND 1", "WRITE 1"} {
		if !strings.Contains(out, want+"\n") {
			t.Errorf("inside: want %q (refused), got:\n%s", want, out)
		}
	}
	if !strings.Contains(out, fx.data) {
		t.Errorf("inside: the store's data.txt unreadable:\n%s", out)
	}
	if now := tree(t, fx.store); !slices.Equal(now, before) {
		t.Errorf("the store directory changed: %q, was %q", now, before)
	}
}

// planRange is the range a container's record says it runs with.
func planRange(t *testing.T, name string) int {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(stateDir, name, "plan.json"))
	if err != nil {
		t.Fatal(err)
	}
	var p struct {
		Users *struct {
			Range struct{ Base int } `json:"range"`
		}
	}
	if err := json.Unmarshal(b, &p); err != nil || p.Users == nil {
		t.Fatalf("plan.json of %s: no user namespace (%v)", name, err)
	}
	return p.Users.Range.Base
}

// TestPrivateUsersOwnership: with idmapped mounts, a file the guest's root
// creates is owned by root on disk, as inside, and is still its own after
// a restart, which gets the same range.
func TestPrivateUsersOwnership(t *testing.T) {
	fx := newFixture(t)
	c := fx.startShell(t, "echo secret > /owned && "+bb+" chmod 600 /owned && echo MADE; exec "+bb+" sleep 600", "--private-users=pick")
	c.waitLine("MADE", startTimeout)
	c.findInit()
	first, _ := usersRange(t, c.initPID)
	if uid, gid := ownerOf(t, filepath.Join(fx.root, "owned")); uid != 0 || gid != 0 {
		t.Errorf("/owned on disk owned by %d:%d, want 0:0 (idmapped: the owner as inside)", uid, gid)
	}
	if uid, _ := ownerOf(t, fx.root); uid != 0 {
		t.Errorf("the root on disk owned by %d, want 0: an idmapped root is not shifted", uid)
	}
	ctl(t, "stop", c.name, "--timeout", "1s")
	c.wait(cmdTimeout)

	c = fx.startShell(t, "echo READ $("+bb+" cat /owned); exec "+bb+" sleep 600", "--private-users=pick")
	if line := c.waitLine("READ", startTimeout); line != "READ secret" {
		t.Errorf("after a restart, /owned reads %q, want secret", line)
	}
	c.findInit()
	if again, _ := usersRange(t, c.initPID); again != first {
		t.Errorf("the restart's range starts at %d, the first start's at %d; want the same", again, first)
	}
	if planRange(t, c.name) != first {
		t.Errorf("plan.json records range %d, want %d", planRange(t, c.name), first)
	}
}

// TestPrivateUsersChown: a root on a filesystem the kernel cannot idmap
// (overlayfs) is refused by default, with the reason; with
// --private-users-ownership=chown its owners are shifted into the range
// once, the root's owner records it, and a file made inside is owned by
// the range on disk.
func TestPrivateUsersChown(t *testing.T) {
	fx := newFixture(t)
	merged, _ := overlayRoot(t, fx.root)
	r := ctl(t, "run", fx.name, "--root", merged, "--store", fx.store, "--private-users=pick", "--console=pipe", "--", bb, "true")
	if r.code == 0 || !strings.Contains(r.stderr, "idmap") || !strings.Contains(r.stderr, "--private-users-ownership=chown") {
		t.Errorf("run on an overlay root: exit %d, stderr %q; want refused, naming idmap and the chown option", r.code, r.stderr)
	}
	c := fx.start(t, runOpts{root: merged, flags: []string{"--console=pipe", "--private-users=pick", "--private-users-ownership=chown"},
		command: []string{bb, "sh", "-c", "echo x > /made && echo MADE $(" + bb + " stat -c %u /made) $(" + bb + " stat -c %u /bin/busybox); exec " + bb + " sleep 600"}})
	if line := c.waitLine("MADE", startTimeout); line != "MADE 0 0" {
		t.Errorf("inside: owners of /made and /bin/busybox = %q, want 0 0", strings.TrimPrefix(line, "MADE "))
	}
	c.findInit()
	base, _ := usersRange(t, c.initPID)
	for _, p := range []string{merged, filepath.Join(merged, "made"), filepath.Join(merged, "bin", "busybox")} {
		if uid, gid := ownerOf(t, p); int(uid) != base || int(gid) != base {
			t.Errorf("%s on disk owned by %d:%d, want the range's root %d (shifted)", p, uid, gid, base)
		}
	}
}

// firstPick is the range containerctl tries first for a name: a hash of
// it, as runtime/userns's Candidates (restated here, so that the test can
// find two names that want the same range).
func firstPick(name string) int {
	const first, last, size = 0x00080000, 0x6FFF0000, 0x10000
	sum := sha256.Sum256([]byte("containerctl-userns:" + name))
	return first + int(binary.BigEndian.Uint64(sum[:8])%((last-first)/size))*size
}

// TestPrivateUsersPickConcurrent: two containers whose names want the same
// range, started at the same moment, get disjoint ranges; each is the
// first it wants or the next free one.
func TestPrivateUsersPickConcurrent(t *testing.T) {
	a, b := newFixture(t), newFixture(t)
	prefix := a.name[:len(a.name)-6]
	seen := map[int]string{}
	for i := 0; ; i++ {
		name := fmt.Sprintf("%s%06x", prefix, i)
		if other, ok := seen[firstPick(name)]; ok {
			a.name, b.name = other, name
			break
		}
		seen[firstPick(name)] = name
	}
	ca := a.startShell(t, "echo UP; exec "+bb+" sleep 600", "--private-users=pick")
	cb := b.startShell(t, "echo UP; exec "+bb+" sleep 600", "--private-users=pick")
	ca.waitLine("UP", startTimeout)
	cb.waitLine("UP", startTimeout)
	ca.findInit()
	cb.findInit()
	baseA, countA := usersRange(t, ca.initPID)
	baseB, countB := usersRange(t, cb.initPID)
	if baseA < baseB+countB && baseB < baseA+countA {
		t.Errorf("%s and %s, which both want %d: ranges %d+%d and %d+%d overlap", a.name, b.name, firstPick(a.name), baseA, countA, baseB, countB)
	}
	if want := firstPick(a.name); baseA != want && baseB != want {
		t.Errorf("neither %s nor %s got %d, the range both want first (got %d, %d)", a.name, b.name, want, baseA, baseB)
	}
}

// TestPrivateUsersFixed: an explicit range is the one mapped, identity maps
// the host's own IDs, and a range that overlaps a running container's is
// refused before anything is made.
func TestPrivateUsersFixed(t *testing.T) {
	fx := newFixture(t)
	c := fx.startShell(t, "echo UP; exec "+bb+" sleep 600", "--private-users=1048576:65536")
	c.waitLine("UP", startTimeout)
	c.findInit()
	if base, count := usersRange(t, c.initPID); base != 1048576 || count != 65536 {
		t.Errorf("--private-users=1048576:65536: uid_map %d+%d", base, count)
	}
	other := newFixture(t)
	r := ctl(t, "run", other.name, "--root", other.root, "--store", other.store, "--private-users=1100000:100", "--console=pipe", "--", bb, "true")
	if r.code == 0 || !strings.Contains(r.stderr, "taken") {
		t.Errorf("a range inside a running container's: exit %d, stderr %q; want refused as taken", r.code, r.stderr)
	}
	if exists(filepath.Join(stateDir, other.name)) || exists(filepath.Join(stateDir, "userns-1114112.lock")) {
		t.Errorf("the refused start left its record or a lock")
	}
	id := newFixture(t)
	ci := id.startShell(t, "echo UP; exec "+bb+" sleep 600", "--private-users=identity")
	ci.waitLine("UP", startTimeout)
	ci.findInit()
	if base, count := usersRange(t, ci.initPID); base != 0 || count != 65536 {
		t.Errorf("--private-users=identity: uid_map %d+%d, want 0+65536", base, count)
	}
}

// TestPrivateUsersFailedStart: a start that fails in the child leaves no
// stage mounted and no lock behind.
func TestPrivateUsersFailedStart(t *testing.T) {
	fx := newFixture(t)
	before := readFileT(t, "/proc/self/mountinfo")
	r := ctl(t, "run", fx.name, "--root", fx.root, "--store", fx.store, "--private-users=pick", "--console=pipe", "--", "/no/such/init")
	if r.code == 0 || !strings.Contains(r.stderr, "/no/such/init") {
		t.Fatalf("run with a missing init: exit %d, stderr %q; want it refused", r.code, r.stderr)
	}
	if lock := filepath.Join(stateDir, "userns-"+strconv.Itoa(firstPick(fx.name))+".lock"); exists(lock) {
		t.Errorf("%s left by a failed start", lock)
	}
	for _, l := range nonEmptyLines(readFileT(t, "/proc/self/mountinfo")) {
		if strings.Contains(l, filepath.Join(stateDir, fx.name)) && !strings.Contains(before, l) {
			t.Errorf("a failed start left a mount: %s", l)
		}
	}
}

// TestBootPrivateUsers: a Debian system boots to running with no failed
// unit as the range's root, its systemd managing the cgroup it was given,
// and a DynamicUser service runs. The root is a copy of the cached one on
// a filesystem that can be idmapped (an overlay cannot).
func TestBootPrivateUsers(t *testing.T) {
	lower := requireDebianRoot(t)
	root := filepath.Join(t.TempDir(), "root")
	if out, err := exec.Command("cp", "-a", lower, root).CombinedOutput(); err != nil {
		t.Fatalf("copy the Debian root: %v\n%s", err, out)
	}
	b := startBoot(t, bootOpts{root: root, flags: []string{"--private-users=pick"}, users: true})
	took := b.requireRunning()
	t.Logf("boot to running as %d: %v", b.pid, took)
	b.checkNoFailedUnits()
	base, _ := usersRange(t, b.pid)
	if got := hostUID(t, b.pid); got != base {
		t.Errorf("the guest's systemd runs as %d on the host, want %d", got, base)
	}
	out := b.mustGuest("systemd-run", "-p", "DynamicUser=yes", "-p", "StateDirectory=dyn", "--wait", "--pipe", "sh", "-c", "id -u; echo hi > /var/lib/dyn/f && cat /var/lib/dyn/f")
	lines := nonEmptyLines(out)
	t.Logf("DynamicUser service: %q", lines)
	if len(lines) < 2 || lines[0] == "0" || lines[len(lines)-1] != "hi" {
		t.Errorf("a DynamicUser service printed %q, want a dynamic uid and hi", lines)
	}
	// login enters the user namespace: its shell is the guest's root, whom
	// the guest's systemd answers.
	s := startOnPty(t, nil, "login", b.name)
	s.expect("#", 30*time.Second)
	s.send("echo LOGIN-$((6*7)) $(id -u) $(cat /proc/self/uid_map) $(systemctl is-system-running); exit")
	want := fmt.Sprintf("LOGIN-42 0 0 %d 65536 running", base)
	s.expect(want, 30*time.Second)
	if got := s.wait(startTimeout); got != 0 {
		t.Errorf("login exit status %d, want 0", got)
	}
	b.requireCleanHalt()
}

// TestPrivateUsersSupervisorKilled: when the supervisor is killed, what
// cleans up after it also frees the range: its lock file goes with the
// record.
func TestPrivateUsersSupervisorKilled(t *testing.T) {
	fx := newFixture(t)
	c := fx.startShell(t, "echo UP; exec "+bb+" sleep 600", "--private-users=pick")
	c.waitLine("UP", startTimeout)
	c.findInit()
	base, _ := usersRange(t, c.initPID)
	lock := filepath.Join(stateDir, "userns-"+strconv.Itoa(base)+".lock")
	if !exists(lock) {
		t.Fatalf("%s missing while the container runs", lock)
	}
	// The reaper starts once the container runs, off its start's path:
	// kill the supervisor only once it is there to clean up.
	waitReaperFor(t, filepath.Join(stateDir, fx.name), startTimeout)
	if err := c.cmd.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	<-c.done
	for _, p := range []string{filepath.Join(stateDir, fx.name), lock} {
		if !waitAbsent(p, 3*time.Second) {
			t.Errorf("%s still exists 3s after the supervisor was killed", p)
		}
	}
}

// TestPrivateUsersReload: reload's switch-to-configuration runs in the user
// namespace, as its root; a restart from a profile that cannot be
// switched to gets the same range again.
func TestPrivateUsersReload(t *testing.T) {
	fx := newFixture(t)
	for _, a := range []string{"id", "readlink", "tr"} {
		_ = os.Symlink("busybox", filepath.Join(fx.root, "bin", a))
	}
	fx.setInitArgs(t, "-halt", "obey")
	c := fx.start(t, runOpts{flags: []string{"--console=pipe", "--private-users=pick"}})
	c.ready()
	base, _ := usersRange(t, c.initPID)
	next := fx.addSystem(t, "#!/bin/sh\necho \"uid=$(id -u) map=$(tr -s ' ' < /proc/self/uid_map) userns=$(readlink /proc/self/ns/user) init_userns=$(readlink /proc/1/ns/user)\" > /run/switched\n")
	if r := ctl(t, "reload", fx.name, "--path", next); r.code != 0 {
		t.Fatalf("reload --path: exit %d, stderr %q", r.code, r.stderr)
	}
	ran := ctl(t, "exec", fx.name, "--", "cat", "/run/switched").stdout
	f := map[string]string{}
	for _, kv := range strings.Split(strings.TrimSpace(ran), " ") {
		k, v, _ := strings.Cut(kv, "=")
		f[k] = v
	}
	if f["uid"] != "0" || f["userns"] == "" || f["userns"] != f["init_userns"] {
		t.Errorf("switch-to-configuration ran as %q; want uid 0 in PID 1's user namespace", ran)
	}
	plain := fx.addSystem(t, "")
	if r := ctl(t, "reload", fx.name, "--path", plain, "--restart-if-needed"); r.code != 0 {
		t.Fatalf("reload --restart-if-needed: exit %d, stderr %q", r.code, r.stderr)
	}
	pid := waitNewInit(t, fx.name, c.initPID)
	if again, _ := usersRange(t, pid); again != base {
		t.Errorf("after the restart the range starts at %d, want %d again", again, base)
	}
}

// waitNewInit waits for the container's recorded init to be another than
// old, and returns it.
func waitNewInit(t *testing.T, name string, old int) int {
	t.Helper()
	deadline := time.Now().Add(startTimeout)
	for time.Now().Before(deadline) {
		if r := ctl(t, "status", name, "--json"); r.code == 0 {
			if st := decodeOne(t, r.stdout); st.PID != 0 && st.PID != old {
				return st.PID
			}
		}
		time.Sleep(50 * time.Millisecond)
	}
	t.Fatalf("%s: no new init within %v", name, startTimeout)
	return 0
}

// TestNixBootPrivateUsers: the NixOS-shaped container (an empty root, the
// system in the store bound at /nix, its init script from the store) boots
// to running with no failed unit as the range's root, and halts cleanly.
func TestNixBootPrivateUsers(t *testing.T) {
	lower := requireDebianRoot(t)
	n := newNixSystemWith(t, lower, 0, true)
	b := startBoot(t, bootOpts{
		name: n.name, root: n.root, store: n.store, users: true,
		flags: []string{"--path", "/nix/var/nix/profiles/containers/" + n.name, "--private-users=pick"},
	})
	took := b.requireRunning()
	t.Logf("boot to running as %d: %v", b.pid, took)
	b.checkNoFailedUnits()
	base, _ := usersRange(t, b.pid)
	if got := hostUID(t, b.pid); got != base || base < 65536 {
		t.Errorf("the guest's systemd runs as %d on the host, want the range's first ID %d", got, base)
	}
	b.requireCleanHalt()
}
