//go:build linux

package integration

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

// The boot tests start a real, unmodified systemd (Debian bookworm's 252)
// with `containerctl run --boot`, each on a fresh overlay of the cached root
// that fixtures/debian-root.sh builds, and check it from inside (systemctl
// through nsenter) and from the host. They run one after the other: a boot
// keeps both cores of the CI machine busy for about half a second.

// TestBoot: systemd boots to "running" with no failed unit, journald runs,
// the console reaches run's stdout, and the guest gets the environment and
// the /run/host files that systemd expects of a container.
func TestBoot(t *testing.T) {
	lower := requireDebianRoot(t)
	root, _ := overlayRoot(t, lower)
	machineID := randHex(32)
	b := startBoot(t, bootOpts{root: root, flags: []string{"--machine-id", machineID}})
	took := b.requireRunning()
	t.Logf("boot to running: %v", took.Round(time.Millisecond))
	b.checkNoFailedUnits()

	// The root's /etc/machine-id is empty, so systemd takes the machine ID
	// from container_uuid, which --machine-id sets.
	if got := strings.TrimSpace(b.mustGuest("cat", "/etc/machine-id")); got != machineID {
		t.Errorf("/etc/machine-id inside = %q, want %q (--machine-id)", got, machineID)
	}

	if got := strings.TrimSpace(b.mustGuest("systemctl", "is-active", "systemd-journald")); got != "active" {
		t.Errorf("systemctl is-active systemd-journald = %q, want active", got)
	}
	// systemd writes its status to /dev/console, which goes to run's stdout.
	for _, s := range []string{"Welcome to ", "Reached target multi-user.target"} {
		if _, ok := b.waitConsole(s, 5*time.Second); !ok {
			t.Errorf("no console line containing %q on run's stdout", s)
		}
	}

	env, err := os.ReadFile(fmt.Sprintf("/proc/%d/environ", b.pid))
	if err != nil {
		t.Fatal(err)
	}
	vars := map[string]string{}
	for _, kv := range strings.Split(string(env), "\x00") {
		if k, v, ok := strings.Cut(kv, "="); ok {
			vars[k] = v
		}
	}
	for k, want := range map[string]string{"container": "containerctl", "NOTIFY_SOCKET": "/run/host/notify"} {
		if vars[k] != want {
			t.Errorf("guest PID 1 environment: %s=%q, want %q", k, vars[k], want)
		}
	}
	if vars["container_uuid"] == "" {
		t.Errorf("guest PID 1 environment: no container_uuid")
	}
	guestRoot := fmt.Sprintf("/proc/%d/root", b.pid)
	if got, err := os.ReadFile(guestRoot + "/run/host/container-manager"); err != nil || strings.TrimSpace(string(got)) != "containerctl" {
		t.Errorf("/run/host/container-manager inside = %q (%v), want containerctl", got, err)
	}
	if _, err := os.Stat(guestRoot + "/run/host/os-release"); err != nil {
		t.Errorf("/run/host/os-release inside: %v", err)
	}

	took = b.requireCleanHalt()
	t.Logf("stop to exit: %v", took.Round(time.Millisecond))
}

// TestBootCleanHalt: containerctl stop halts systemd cleanly: stop says so,
// run exits 0, systemd goes through its shutdown to the end, and what the
// guest wrote just before is on its disk (the overlay's upper directory).
func TestBootCleanHalt(t *testing.T) {
	lower := requireDebianRoot(t)
	root, upper := overlayRoot(t, lower)
	b := startBoot(t, bootOpts{root: root})
	b.requireRunning()

	data := "data " + randHex(8)
	b.mustGuest("sh", "-c", "echo '"+data+"' > /var/tmp/persist && sync")
	took := b.requireCleanHalt()
	t.Logf("stop to exit: %v", took.Round(time.Millisecond))

	// systemd-shutdown's last words after SIGRTMIN+3, as with nspawn.
	for _, s := range []string{"Reached target shutdown.target", "Reached target final.target", "Halting system."} {
		if !b.consoleHas(s) {
			t.Errorf("no console line containing %q on run's stdout: not a clean shutdown", s)
		}
	}
	got, err := os.ReadFile(filepath.Join(upper, "var/tmp/persist"))
	if err != nil || strings.TrimSpace(string(got)) != data {
		t.Errorf("var/tmp/persist in the overlay's upper directory = %q (%v), want %q", got, err, data)
	}
}

// TestBootRebootPoweroff: systemctl reboot inside ends run with 133, as
// systemd-nspawn does (the kernel kills the PID namespace's init with
// SIGHUP on reboot(2)); systemctl poweroff ends it with 0.
func TestBootRebootPoweroff(t *testing.T) {
	lower := requireDebianRoot(t)
	tests := []struct {
		verb     string
		wantExit int
		wantLine string
	}{
		{"reboot", 133, "Rebooting."},
		{"poweroff", 0, "Powering off."},
	}
	for _, tt := range tests {
		t.Run(tt.verb, func(t *testing.T) {
			root, _ := overlayRoot(t, lower)
			b := startBoot(t, bootOpts{root: root})
			b.requireRunning()
			start := time.Now()
			// systemctl may lose its connection as the system goes down;
			// only run's exit status counts.
			if out, errOut, err := b.guest(cmdTimeout, "systemctl", tt.verb); err != nil {
				t.Logf("systemctl %s: %v\n%s%s", tt.verb, err, out, errOut)
			}
			if got := b.wait(haltTimeout); got != tt.wantExit {
				t.Errorf("systemctl %s inside: containerctl run exit status = %d, want %d", tt.verb, got, tt.wantExit)
			}
			t.Logf("%s to exit: %v", tt.verb, time.Since(start).Round(time.Millisecond))
			if !b.consoleHas(tt.wantLine) {
				t.Errorf("no console line containing %q on run's stdout", tt.wantLine)
			}
		})
	}
}

// TestBootNotifyReady: with --notify-ready, run tells its own $NOTIFY_SOCKET
// READY=1 only once the guest's systemd has told /run/host/notify that it is
// done starting, so a Type=notify unit wrapping run is started when the
// container is up; without it, READY=1 comes as soon as the init runs.
func TestBootNotifyReady(t *testing.T) {
	lower := requireDebianRoot(t)
	tests := []struct {
		name        string
		flags       []string
		wantRunning bool // the guest is running when READY=1 arrives
	}{
		{"notify-ready", []string{"--notify-ready"}, true},
		{"default", nil, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			root, _ := overlayRoot(t, lower)
			n := listenNotify(t)
			b := startBoot(t, bootOpts{root: root, flags: tt.flags, env: []string{"NOTIFY_SOCKET=" + n.path}})
			if !n.wait("READY=1", bootTimeout) {
				t.Fatalf("no READY=1 on $NOTIFY_SOCKET within %v; got %q", bootTimeout, n.lines.String())
			}
			readyAt := time.Since(b.started)
			// Asked at once: READY=1 must not have come before the guest's.
			out, _, _ := b.guest(cmdTimeout, "systemctl", "is-system-running")
			state := strings.TrimSpace(out)
			t.Logf("READY=1 after %v; guest state then %q", readyAt.Round(time.Millisecond), state)
			if tt.wantRunning && state != "running" {
				t.Errorf("guest state when READY=1 arrived = %q, want running", state)
			}
			_, took := b.waitRunning()
			t.Logf("boot to running: %v", took.Round(time.Millisecond))
			b.requireCleanHalt()
			if tt.wantRunning && !n.has("STOPPING=1") {
				t.Errorf("no STOPPING=1 on $NOTIFY_SOCKET during the halt; got %q", n.lines.String())
			}
			// The halt's own timeout (180 s) and its margin (15 s).
			if tt.wantRunning && !n.has("EXTEND_TIMEOUT_USEC=195000000") {
				t.Errorf("no EXTEND_TIMEOUT_USEC=195000000 on $NOTIFY_SOCKET during the halt; got %q", n.lines.String())
			}
			t.Logf("notifications: %q", n.lines.String())
		})
	}
}

// TestBootConfinement: a booted systemd, which tries more than any test
// init, stays in the container: what it makes in its cgroup2 mount lands in
// its own cgroup, it cannot change the host's sysctls (/proc/sys is
// read-only; the network namespace is the host's), it does not get debugfs
// or tracefs, and its capability bounding set is systemd-nspawn's.
func TestBootConfinement(t *testing.T) {
	lower := requireDebianRoot(t)
	sysctls := []string{
		"/proc/sys/fs/file-max",
		"/proc/sys/fs/nr_open",
		"/proc/sys/net/unix/max_dgram_qlen",
		"/proc/sys/fs/inotify/max_user_instances",
		"/proc/sys/fs/inotify/max_user_watches",
		"/proc/sys/kernel/pid_max",
	}
	sysBefore := readSysctls(t, sysctls)
	cgBefore := topCgroups(t)

	root, _ := overlayRoot(t, lower)
	b := startBoot(t, bootOpts{root: root})
	b.requireRunning()

	// The guest's PID 1 sees itself at the root of its cgroup namespace.
	cg := b.mustGuest("cat", "/proc/1/cgroup")
	var v2 string
	for _, l := range nonEmptyLines(cg) {
		if strings.HasPrefix(l, "0::") {
			v2 = strings.TrimPrefix(l, "0::")
		}
	}
	if !strings.HasPrefix(v2, "/") || strings.HasPrefix(v2, "/..") {
		t.Errorf("/proc/1/cgroup inside has 0::%s, want a path under its own root\n%s", v2, cg)
	}

	// /sys/fs/cgroup is a writable cgroup2 mount rooted at the container's
	// cgroup.
	ms := parseMountinfo(nonEmptyLines(readFileT(t, fmt.Sprintf("/proc/%d/mountinfo", b.pid))))
	own := guestCgroup(filepath.Base(unifiedMount(t)), b.name)
	if m, ok := mountAt(ms, "/sys/fs/cgroup"); !ok || m.fstype != "cgroup2" || hasOpt(m.opts, "ro") {
		t.Errorf("/sys/fs/cgroup inside: %+v, want a writable cgroup2 mount", m)
	} else {
		t.Logf("/sys/fs/cgroup inside: cgroup2 root %s (seen from the host)", m.root)
	}
	probe := "probe-" + randHex(6)
	b.mustGuest("mkdir", "/sys/fs/cgroup/"+probe)
	if !exists(filepath.Join(own, probe)) {
		t.Errorf("mkdir /sys/fs/cgroup/%s inside: not at %s", probe, filepath.Join(own, probe))
	}
	if p := filepath.Join(unifiedMount(t), probe); exists(p) {
		t.Errorf("mkdir /sys/fs/cgroup/%s inside made %s at the host's root", probe, p)
	}
	b.mustGuest("rmdir", "/sys/fs/cgroup/"+probe)
	for _, m := range ms {
		if m.fstype == "cgroup" && !hasOpt(m.opts, "ro") {
			t.Errorf("a writable cgroup v1 hierarchy inside at %s (root %s)", m.point, m.root)
		}
	}
	if diff := compareTop(cgBefore, topCgroups(t)); diff != "" {
		t.Errorf("the host's top-level cgroups changed while the guest ran:\n%s", diff)
	}

	// /proc/sys is read-only: writing a value back unchanged fails. On the
	// host as root it would succeed, and fs.* and net.* (the host's network
	// namespace) are the host's.
	for _, p := range sysctls {
		out, errOut, err := b.guest(cmdTimeout, "sh", "-c", "cat "+p+" > "+p)
		if err == nil {
			t.Errorf("writing %s inside succeeded, want a read-only /proc/sys", p)
		} else if !strings.Contains(errOut, "Read-only file system") {
			t.Logf("writing %s inside: %v: %s%s", p, err, out, errOut)
		}
	}
	if m, ok := mountAt(ms, "/proc/sys"); !ok || !hasOpt(m.opts, "ro") {
		t.Errorf("/proc/sys inside: %+v, want read-only", m)
	}
	if m, ok := mountAt(ms, "/sys"); !ok || !hasOpt(m.opts, "ro") {
		t.Errorf("/sys inside: %+v, want read-only", m)
	}

	// systemd mounts debugfs and tracefs (sys-kernel-debug.mount,
	// sys-kernel-tracing.mount) when it has CAP_SYS_RAWIO.
	for _, m := range ms {
		switch m.fstype {
		case "debugfs", "tracefs":
			t.Errorf("%s mounted inside at %s", m.fstype, m.point)
		}
	}

	// What the host's bounding set lacks no container gets (this CI
	// machine has no CAP_SYS_RESOURCE).
	want := nspawnCaps & capBnd(t, os.Getpid())
	if bnd := capBnd(t, b.pid); bnd != want {
		t.Errorf("guest PID 1 CapBnd = %#x, want systemd-nspawn's %#x (extra: %v, missing: %v)",
			bnd, want, capNames(bnd&^want), capNames(want&^bnd))
	}

	b.requireCleanHalt()
	if diff := compareMaps(sysBefore, readSysctls(t, sysctls)); diff != "" {
		t.Errorf("host sysctls changed by the boot:\n%s", diff)
	}
}

func readFileT(t *testing.T, p string) string {
	t.Helper()
	b, err := os.ReadFile(p)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

func compareTop(before, after map[string][]string) string {
	var b strings.Builder
	for h, es := range after {
		added, removed := setDiff(before[h], es)
		for _, e := range added {
			fmt.Fprintf(&b, "  %s: added %s\n", h, e)
		}
		for _, e := range removed {
			fmt.Fprintf(&b, "  %s: removed %s\n", h, e)
		}
	}
	return b.String()
}

func compareMaps(before, after map[string]string) string {
	var b strings.Builder
	for k, v := range before {
		if after[k] != v {
			fmt.Fprintf(&b, "  %s = %q, was %q\n", k, after[k], v)
		}
	}
	return b.String()
}

// capability numbers, from linux/capability.h.
var capNumbers = map[string]uint{
	"CAP_CHOWN": 0, "CAP_DAC_OVERRIDE": 1, "CAP_DAC_READ_SEARCH": 2, "CAP_FOWNER": 3,
	"CAP_FSETID": 4, "CAP_KILL": 5, "CAP_SETGID": 6, "CAP_SETUID": 7, "CAP_SETPCAP": 8,
	"CAP_LINUX_IMMUTABLE": 9, "CAP_NET_BIND_SERVICE": 10, "CAP_NET_BROADCAST": 11,
	"CAP_NET_ADMIN": 12, "CAP_NET_RAW": 13, "CAP_IPC_LOCK": 14, "CAP_IPC_OWNER": 15,
	"CAP_SYS_MODULE": 16, "CAP_SYS_RAWIO": 17, "CAP_SYS_CHROOT": 18, "CAP_SYS_PTRACE": 19,
	"CAP_SYS_PACCT": 20, "CAP_SYS_ADMIN": 21, "CAP_SYS_BOOT": 22, "CAP_SYS_NICE": 23,
	"CAP_SYS_RESOURCE": 24, "CAP_SYS_TIME": 25, "CAP_SYS_TTY_CONFIG": 26, "CAP_MKNOD": 27,
	"CAP_LEASE": 28, "CAP_AUDIT_WRITE": 29, "CAP_AUDIT_CONTROL": 30, "CAP_SETFCAP": 31,
	"CAP_MAC_OVERRIDE": 32, "CAP_MAC_ADMIN": 33, "CAP_SYSLOG": 34, "CAP_WAKE_ALARM": 35,
	"CAP_BLOCK_SUSPEND": 36, "CAP_AUDIT_READ": 37, "CAP_PERFMON": 38, "CAP_BPF": 39,
	"CAP_CHECKPOINT_RESTORE": 40,
}

// nspawnCaps is systemd-nspawn's default capability bounding set (its
// arg_caps_retain in nspawn.c), 0xfdecafff; less what the host lacks.
var nspawnCaps = capMask(
	"CAP_AUDIT_CONTROL", "CAP_AUDIT_WRITE", "CAP_CHOWN", "CAP_DAC_OVERRIDE",
	"CAP_DAC_READ_SEARCH", "CAP_FOWNER", "CAP_FSETID", "CAP_IPC_OWNER", "CAP_KILL",
	"CAP_LEASE", "CAP_LINUX_IMMUTABLE", "CAP_MKNOD", "CAP_NET_BIND_SERVICE",
	"CAP_NET_BROADCAST", "CAP_NET_RAW", "CAP_SETFCAP", "CAP_SETGID", "CAP_SETPCAP",
	"CAP_SETUID", "CAP_SYS_ADMIN", "CAP_SYS_BOOT", "CAP_SYS_CHROOT", "CAP_SYS_NICE",
	"CAP_SYS_PTRACE", "CAP_SYS_RESOURCE", "CAP_SYS_TTY_CONFIG",
)

func capMask(names ...string) uint64 {
	var m uint64
	for _, n := range names {
		c, ok := capNumbers[n]
		if !ok {
			panic("unknown capability " + n)
		}
		m |= 1 << c
	}
	return m
}

func capNames(m uint64) []string {
	var names []string
	for n, c := range capNumbers {
		if m&(1<<c) != 0 {
			names = append(names, n)
		}
	}
	for c := uint(41); c < 64; c++ {
		if m&(1<<c) != 0 {
			names = append(names, "cap"+strconv.Itoa(int(c)))
		}
	}
	return names
}

// capBnd reads a process's capability bounding set.
func capBnd(t *testing.T, pid int) uint64 {
	t.Helper()
	for _, l := range nonEmptyLines(readFileT(t, fmt.Sprintf("/proc/%d/status", pid))) {
		if v, ok := strings.CutPrefix(l, "CapBnd:"); ok {
			n, err := strconv.ParseUint(strings.TrimSpace(v), 16, 64)
			if err != nil {
				t.Fatalf("CapBnd of %d: %v", pid, err)
			}
			return n
		}
	}
	t.Fatalf("no CapBnd in /proc/%d/status", pid)
	return 0
}

// nixSystem is a NixOS-shaped container on the host: an empty ROOT and a
// STORE with the container's profile, whose init is a stage-2 script that
// makes the root from the system in the store and execs its systemd.
type nixSystem struct {
	name   string
	root   string // ROOT: only etc/os-release until the init has run
	store  string // STORE, bound at /nix
	system string // /nix/store/<hash>-system, as the container sees it
}

// newNixSystem builds a nixSystem whose system is the Debian root: a
// read-only overlay of the cached root under a layer with the init script,
// so nothing of the 250 MB is copied and the cache cannot be written. The
// init waits slowStage2 after its marker line, as a slow stage 2 would.
func newNixSystem(t *testing.T, lower string, slowStage2 time.Duration) *nixSystem {
	t.Helper()
	return newNixSystemWith(t, lower, slowStage2, false)
}

// newNixSystemWith is newNixSystem, with the system copied into the store
// rather than an overlay of the cached root when copyRoot: an overlay
// cannot be idmapped, as private users need.
func newNixSystemWith(t *testing.T, lower string, slowStage2 time.Duration, copyRoot bool) *nixSystem {
	t.Helper()
	requireBusybox(t)
	dir := t.TempDir()
	hash, bbHash := nixHash(), nixHash()
	n := &nixSystem{
		name:   containerName(t),
		root:   filepath.Join(dir, "root"),
		store:  filepath.Join(dir, "store"),
		system: "/nix/store/" + hash + "-system",
	}
	mustMkdir(t, filepath.Join(n.root, "etc"))
	if err := os.WriteFile(filepath.Join(n.root, "etc/os-release"), []byte("ID=nixos\nNAME=NixOS\n"), 0o644); err != nil {
		t.Fatal(err)
	}

	// Debian's sh is dynamically linked and ROOT has no /lib: the script
	// runs with a static busybox from the store, as NixOS's stage 2 runs
	// with its own shell from the store.
	bbDir := "/nix/store/" + bbHash + "-busybox/bin"
	bbHost := filepath.Join(n.store, "store", bbHash+"-busybox", "bin")
	mustMkdir(t, bbHost)
	mustCopy(t, busybox, filepath.Join(bbHost, "busybox"), 0o755)
	for _, applet := range []string{"sh", "ln", "cp", "mkdir", "chmod", "sleep", "cat"} {
		if err := os.Symlink("busybox", filepath.Join(bbHost, applet)); err != nil {
			t.Fatal(err)
		}
	}
	if err := trackExe(filepath.Join(bbHost, "busybox")); err != nil {
		t.Fatal(err)
	}

	sleep := ""
	if slowStage2 > 0 {
		sleep = fmt.Sprintf("sleep %g\n", slowStage2.Seconds())
	}
	// Like NixOS's stage 2 and container init: the halt signal is trapped
	// first, since PID 1 ignores any signal it has no handler for.
	script := `#!` + bbDir + `/sh
trap 'echo NIXINIT-HALT; exit 0' 37
export PATH=` + bbDir + `
echo NIXINIT-STAGE2 pid $$
` + sleep + `sys=` + n.system + `
ln -sfn $sys/usr /usr
ln -sfn usr/bin /bin
ln -sfn usr/sbin /sbin
ln -sfn usr/lib /lib
ln -sfn usr/lib64 /lib64
[ -e /etc/passwd ] || cp -a $sys/etc/. /etc/
mkdir -p /var/lib /var/log /var/cache /var/spool /var/tmp /root /tmp /home /srv /mnt /opt /media
chmod 1777 /var/tmp /tmp
chmod 0700 /root
ln -sfn /run /var/run
ln -sfn /run/lock /var/lock
echo NIXINIT-EXEC
export PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin
exec $sys/usr/lib/systemd/systemd "$@"
`
	extra := filepath.Join(dir, "system-init")
	mustMkdir(t, extra)
	if err := os.WriteFile(filepath.Join(extra, "init"), []byte(script), 0o755); err != nil {
		t.Fatal(err)
	}
	sysHost := filepath.Join(n.store, "store", hash+"-system")
	if copyRoot {
		for _, src := range []string{lower + "/.", extra + "/."} {
			if out, err := exec.Command("cp", "-a", src, sysHost).CombinedOutput(); err != nil {
				t.Fatalf("copy the system into the store: %v\n%s", err, out)
			}
		}
	} else {
		mustMkdir(t, sysHost)
		// With no upper layer, an overlay is read-only.
		mountT(t, "overlay", sysHost, "overlay", syscall.MS_RDONLY, "lowerdir="+extra+":"+lower)
	}

	profiles := filepath.Join(n.store, "var/nix/profiles/containers")
	mustMkdir(t, profiles)
	if err := os.Symlink(n.system, filepath.Join(profiles, n.name)); err != nil {
		t.Fatal(err)
	}
	return n
}

// boot boots the system's profile with --boot.
func (n *nixSystem) boot(t *testing.T) *booted {
	t.Helper()
	return startBoot(t, bootOpts{
		name:  n.name,
		root:  n.root,
		store: n.store,
		flags: []string{"--path", "/nix/var/nix/profiles/containers/" + n.name},
	})
}

// TestNixBoot: a NixOS-shaped container, whose empty root is made by its
// init script from the system in the store bound at /nix, boots systemd
// from the store to running and halts cleanly.
func TestNixBoot(t *testing.T) {
	lower := requireDebianRoot(t)
	n := newNixSystem(t, lower, 0)
	b := n.boot(t)
	if _, ok := b.waitConsole("NIXINIT-STAGE2", startTimeout); !ok {
		t.Fatalf("no NIXINIT-STAGE2 line from the init script on run's stdout")
	}
	took := b.requireRunning()
	t.Logf("boot to running: %v", took.Round(time.Millisecond))
	b.checkNoFailedUnits()
	if exe, err := os.Readlink(fmt.Sprintf("/proc/%d/exe", b.pid)); err != nil || exe != n.system+"/usr/lib/systemd/systemd" {
		t.Errorf("guest PID 1 runs %q (%v), want systemd from the store", exe, err)
	}
	if _, ok := b.waitConsole("Welcome to ", 5*time.Second); !ok {
		t.Errorf("no \"Welcome to\" console line on run's stdout")
	}
	took = b.requireCleanHalt()
	t.Logf("stop to exit: %v", took.Round(time.Millisecond))
	if !b.consoleHas("Halting system.") {
		t.Errorf("no \"Halting system.\" console line on run's stdout: not a clean shutdown")
	}
}

// TestNixBootEarlyStop: a stop while the init script still prepares the
// root reaches it (its trap), so the container halts cleanly at once and
// systemd never starts.
func TestNixBootEarlyStop(t *testing.T) {
	lower := requireDebianRoot(t)
	n := newNixSystem(t, lower, 2*time.Second)
	b := n.boot(t)
	if _, ok := b.waitConsole("NIXINIT-STAGE2", startTimeout); !ok {
		t.Fatalf("no NIXINIT-STAGE2 line from the init script on run's stdout")
	}
	// The script sleeps 2 s after its marker; the stop comes well within
	// that, and its trap runs once the sleep (a foreground command) ends.
	res, took, code := b.halt()
	t.Logf("stop to exit: %v", took.Round(time.Millisecond))
	if res.code != 0 || !strings.Contains(res.stdout, "halted cleanly") {
		t.Errorf("containerctl stop %s: exit %d, stdout %q, want 0 and \"halted cleanly\"\nstderr: %s", b.name, res.code, res.stdout, res.stderr)
	}
	if code != 0 {
		t.Errorf("containerctl run exit status = %d, want 0", code)
	}
	if !b.consoleHas("NIXINIT-HALT") {
		t.Errorf("the init script's trap did not run (no NIXINIT-HALT line)")
	}
	for _, s := range []string{"NIXINIT-EXEC", "Welcome to "} {
		if b.consoleHas(s) {
			t.Errorf("console shows %q: systemd started after the stop", s)
		}
	}
}

// TestBootSiblingStop: stopping one container leaves another's cgroup tree
// alone. A booted systemd keeps empty cgroups of its own (user.slice, the
// slices and mounts it made), which a sibling's teardown must not remove;
// nor may it remove a sibling's cgroup made but not yet populated.
func TestBootSiblingStop(t *testing.T) {
	lower := requireDebianRoot(t)
	fx := newFixture(t)
	parent := filepath.Join(unifiedMount(t), "containerctl")
	if exists(parent) {
		// Then the sibling does not make the shared parent, and its
		// teardown does not try to remove it: a weaker test, which
		// CI must not pass for the real one.
		if integrationMode() {
			t.Fatalf("%s exists before the sibling starts (another container runs?); CONTAINERCTL_INTEGRATION=1, so this is a failure", parent)
		}
		t.Logf("%s exists before the sibling starts: a weaker test", parent)
	}
	sib := fx.start(t, runOpts{command: []string{"/sbin/testinit", "-halt", "obey"}})
	sib.ready()

	root, _ := overlayRoot(t, lower)
	b := startBoot(t, bootOpts{root: root})
	b.requireRunning()
	own := filepath.Join(parent, b.name)
	before := cgroupTree(t, own)

	// stop returns once the sibling's supervisor has cleaned up, which
	// must not wait on the guest's cgroups (ctl gives up after 30 s).
	start := time.Now()
	if res := ctl(t, "stop", fx.name); res.code != 0 {
		t.Fatalf("containerctl stop %s: exit %d\nstderr: %s", fx.name, res.code, res.stderr)
	}
	if took := time.Since(start); took > 5*time.Second {
		t.Errorf("containerctl stop %s took %v beside a running guest, want well under 5s", fx.name, took)
	}
	sib.wait(10 * time.Second)
	_, removed := setDiff(before, cgroupTree(t, own))
	if len(removed) > 0 {
		var warns []string
		for _, l := range nonEmptyLines(sib.stderr.String()) {
			if strings.Contains(l, "remove cgroup") {
				warns = append(warns, l)
			}
		}
		t.Errorf("stopping %s removed cgroups of the running guest %s: %v\nits warnings:\n%s",
			fx.name, b.name, removed, strings.Join(warns, "\n"))
	}
	b.checkNoFailedUnits()
	b.requireCleanHalt()
}

// cgroupTree lists the cgroups under dir, relative to it.
func cgroupTree(t *testing.T, dir string) []string {
	t.Helper()
	var cgs []string
	err := filepath.WalkDir(dir, func(p string, d os.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() && p != dir {
			rel, _ := filepath.Rel(dir, p)
			cgs = append(cgs, rel)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return cgs
}

// TestBootStopAtOnce: a stop issued the moment a boot starts is not lost.
// The guest's systemd ignores SIGRTMIN+3 until it has installed its handler
// (PID 1 of a namespace drops signals it does not handle), so the halt is
// sent again until it takes; without that, this stop would wait out the
// stop timeout and kill.
func TestBootStopAtOnce(t *testing.T) {
	lower := requireDebianRoot(t)
	root, _ := overlayRoot(t, lower)
	fx := &fixture{dir: t.TempDir(), name: containerName(t), root: root}
	c := fx.start(t, runOpts{flags: []string{"--boot", "--stop-timeout", "20s", "--console=passive"}})
	// As soon as the container is known at all: its record exists.
	for deadline := time.Now().Add(5 * time.Second); !exists(filepath.Join(stateDir, fx.name)); {
		if time.Now().After(deadline) {
			t.Fatal("no record 5 s after run started")
		}
		time.Sleep(time.Millisecond)
	}
	start := time.Now()
	r := ctl(t, "stop", fx.name)
	took := time.Since(start)
	if r.code != 0 || !strings.Contains(r.stdout, "halted cleanly") {
		t.Errorf("stop at once: exit %d, stdout %q, stderr %q; want 0 and halted cleanly", r.code, r.stdout, r.stderr)
	}
	if took > 10*time.Second {
		t.Errorf("stop at once took %v, want the halt to take without the 20s timeout", took)
	}
	t.Logf("stop at once: %v", took.Round(time.Millisecond))
	if got := c.wait(10 * time.Second); got != 0 {
		t.Errorf("run exit status %d, want 0", got)
	}
}
