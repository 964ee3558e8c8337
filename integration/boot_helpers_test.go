//go:build linux

package integration

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

const (
	// debianFixture builds (once, then caches) the Debian bookworm root
	// with systemd that the boot tests start; it prints the root's path.
	debianFixture = "fixtures/debian-root.sh"

	// How long systemd may take to be done starting, and to halt. A boot
	// takes about a second on the 2-core CI machine; these are generous
	// so that a slow machine does not fail, and a hang still does.
	bootTimeout = 60 * time.Second
	haltTimeout = 60 * time.Second
)

var debianRoot struct {
	once sync.Once
	path string
	err  error
}

// requireDebianRoot returns the cached Debian root, building it with the
// fixture script the first time (about 50 s on CI). Without it, or without
// nsenter to reach the booted guest, the test skips, and fails under
// CONTAINERCTL_INTEGRATION=1.
func requireDebianRoot(t *testing.T) string {
	t.Helper()
	requireRoot(t)
	debianRoot.once.Do(func() {
		if _, err := exec.LookPath("nsenter"); err != nil {
			debianRoot.err = fmt.Errorf("nsenter (util-linux) is missing: %w", err)
			return
		}
		var stderr bytes.Buffer
		cmd := exec.Command("bash", debianFixture)
		cmd.Stderr = &stderr
		out, err := cmd.Output()
		if err != nil {
			debianRoot.err = fmt.Errorf("%s: %w\n%s", debianFixture, err, stderr.String())
			return
		}
		p := strings.TrimSpace(string(out))
		if _, err := os.Stat(filepath.Join(p, "usr/lib/systemd/systemd")); err != nil {
			debianRoot.err = fmt.Errorf("%s printed %q, which has no systemd: %w", debianFixture, p, err)
			return
		}
		debianRoot.path = p
	})
	if debianRoot.err != nil {
		msg := "the Debian root for boot tests: " + debianRoot.err.Error()
		if integrationMode() {
			t.Fatal(msg + "\nCONTAINERCTL_INTEGRATION=1, so this is a failure")
		}
		t.Skip(msg)
	}
	return debianRoot.path
}

// overlayRoot mounts, on the host, a fresh overlay of lower in a temporary
// directory, so that a boot never writes to the cached root nor sees the
// boot before it. It returns the mount point and the upper directory, where
// whatever the guest wrote is found. The overlay is unmounted in a cleanup
// registered now, so it runs after the cleanups of the containers started
// later on it.
func overlayRoot(t *testing.T, lower string) (merged, upper string) {
	t.Helper()
	dir := t.TempDir()
	merged, upper, work := filepath.Join(dir, "merged"), filepath.Join(dir, "upper"), filepath.Join(dir, "work")
	for _, d := range []string{merged, upper, work} {
		mustMkdir(t, d)
	}
	opts := fmt.Sprintf("lowerdir=%s,upperdir=%s,workdir=%s", lower, upper, work)
	mountT(t, "overlay", merged, "overlay", 0, opts)
	return merged, upper
}

// mountT mounts, and unmounts in a cleanup.
func mountT(t *testing.T, source, target, fstype string, flags uintptr, data string) {
	t.Helper()
	if err := syscall.Mount(source, target, fstype, flags, data); err != nil {
		t.Fatalf("mount %s on %s (%s, %s): %v", source, target, fstype, data, err)
	}
	t.Cleanup(func() { unmountT(t, target) })
}

// unmountT unmounts target, waiting a little while it is busy (a process of
// the container that is still exiting), then lazily: TestMain fails the
// suite if any mount is left in the host's table.
func unmountT(t *testing.T, target string) {
	t.Helper()
	deadline := time.Now().Add(2 * time.Second)
	for {
		err := syscall.Unmount(target, 0)
		if err == nil {
			return
		}
		if errors.Is(err, syscall.EBUSY) && time.Now().Before(deadline) {
			time.Sleep(20 * time.Millisecond)
			continue
		}
		t.Logf("unmount %s: %v; detaching it lazily", target, err)
		if err := syscall.Unmount(target, syscall.MNT_DETACH); err != nil {
			t.Errorf("unmount %s lazily: %v", target, err)
		}
		return
	}
}

// bootOpts says how to boot a system.
type bootOpts struct {
	name  string   // the container's name; default from the test's
	root  string   // ROOT on the host
	store string   // --store; "" for none
	flags []string // run flags besides --boot
	env   []string // extra environment of the supervisor
	users bool     // the guest has a user namespace of its own, which guest commands enter
}

// booted is a `containerctl run --boot`, with its guest's PID 1 found.
type booted struct {
	*container
	started time.Time
	pid     int  // the guest's PID 1 on the host, from containerctl status
	users   bool // enter the guest's user namespace too
}

// startBoot starts `containerctl run NAME --boot` and finds the guest's PID 1;
// it does not wait for the system to be up. When the test fails, a cleanup
// logs what the guest's systemd says went wrong, before the container's own
// cleanup stops it.
func startBoot(t *testing.T, o bootOpts) *booted {
	t.Helper()
	name := o.name
	if name == "" {
		name = containerName(t)
	}
	fx := &fixture{dir: t.TempDir(), name: name, root: o.root, store: o.store}
	b := &booted{started: time.Now(), users: o.users}
	b.container = fx.start(t, runOpts{flags: append([]string{"--boot"}, o.flags...), env: o.env})
	t.Cleanup(b.diagnose)
	b.findInit()
	deadline := time.Now().Add(5 * time.Second)
	for b.pid == 0 {
		b.pid = statusPID(t, b.name)
		if b.pid == 0 && time.Now().After(deadline) {
			t.Fatalf("%s: containerctl status gives no pid 5 s after run started\nstderr:\n%s", b.name, b.stderr.String())
		}
		time.Sleep(20 * time.Millisecond)
	}
	if b.pid != b.initPID {
		t.Fatalf("containerctl status %s: pid %d, but the PID 1 under the supervisor is %d", b.name, b.pid, b.initPID)
	}
	return b
}

// statusPID is the init's host pid from `containerctl status NAME --json`,
// or 0.
func statusPID(t *testing.T, name string) int {
	t.Helper()
	r := ctl(t, "status", name, "--json")
	if r.code != 0 {
		return 0
	}
	var st struct {
		PID int `json:"pid"`
	}
	if err := json.Unmarshal([]byte(r.stdout), &st); err != nil {
		t.Fatalf("containerctl status %s --json: %v\n%s", name, err, r.stdout)
	}
	return st.PID
}

// guest runs a command in every namespace of the guest's PID 1 and in its
// root and working directory, as `machinectl shell` would, and returns its
// stdout and stderr. err is the command's failure, if any.
func (b *booted) guest(timeout time.Duration, args ...string) (stdout, stderr string, err error) {
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	argv := []string{"-t", strconv.Itoa(b.pid), "-m", "-u", "-i", "-p", "-C", "-r", "-w"}
	if b.users {
		// As the guest's root: its systemd answers only its own.
		argv = append(argv, "-U")
	}
	argv = append(argv, args...)
	cmd := exec.CommandContext(ctx, "nsenter", argv...)
	var o, e bytes.Buffer
	cmd.Stdout, cmd.Stderr = &o, &e
	cmd.WaitDelay = time.Second
	err = cmd.Run()
	if ctx.Err() != nil {
		err = fmt.Errorf("%s: %w", strings.Join(args, " "), ctx.Err())
	} else if err != nil {
		err = fmt.Errorf("%s: %w", strings.Join(args, " "), err)
	}
	return o.String(), e.String(), err
}

// mustGuest runs a command in the guest and fails the test if it fails.
func (b *booted) mustGuest(args ...string) string {
	b.t.Helper()
	out, errOut, err := b.guest(cmdTimeout, args...)
	if err != nil {
		b.t.Fatalf("in %s: %v\nstdout: %s\nstderr: %s", b.name, err, out, errOut)
	}
	return out
}

// waitRunning waits until the guest's systemd is done starting and returns
// its state (running, or degraded when a unit failed) and how long it took
// since run started. Until PID 1 is systemd and has its private socket,
// systemctl cannot ask it (it says offline, or fails), so it asks again.
func (b *booted) waitRunning() (string, time.Duration) {
	b.t.Helper()
	deadline := b.started.Add(bootTimeout)
	state := ""
	for time.Now().Before(deadline) {
		if b.exited() {
			b.t.Fatalf("%s: containerctl run exited with %d before the system was up (last state %q)", b.name, b.exit, state)
		}
		out, _, _ := b.guest(time.Until(deadline), "systemctl", "is-system-running", "--wait")
		state = strings.TrimSpace(out)
		switch state {
		case "running", "degraded", "maintenance", "stopping":
			return state, time.Since(b.started)
		}
		time.Sleep(20 * time.Millisecond)
	}
	b.t.Fatalf("%s: the system is not up %v after run started (last state %q)", b.name, bootTimeout, state)
	return "", 0
}

// requireRunning waits for the guest to be up and fails the test unless it
// is running, with no failed unit.
func (b *booted) requireRunning() time.Duration {
	b.t.Helper()
	state, took := b.waitRunning()
	if state != "running" {
		b.t.Fatalf("%s: systemctl is-system-running = %q, want running", b.name, state)
	}
	return took
}

// failedUnits lists the guest's failed units.
func (b *booted) failedUnits() ([]string, error) {
	out, errOut, err := b.guest(cmdTimeout, "systemctl", "--failed", "--no-legend", "--plain", "--full")
	if err != nil {
		return nil, fmt.Errorf("%w: %s", err, errOut)
	}
	var units []string
	for _, l := range nonEmptyLines(out) {
		if f := strings.Fields(l); len(f) > 0 {
			units = append(units, f[0])
		}
	}
	return units, nil
}

// diagnose logs, when the test failed and the guest still runs, its state,
// its failed units and their journals, and its jobs.
func (b *booted) diagnose() {
	t := b.t
	if !t.Failed() || b.exited() || b.pid == 0 {
		return
	}
	state, _, _ := b.guest(10*time.Second, "systemctl", "is-system-running")
	t.Logf("%s: guest state %q", b.name, strings.TrimSpace(state))
	units, err := b.failedUnits()
	if err != nil {
		t.Logf("%s: systemctl --failed: %v", b.name, err)
	}
	for _, u := range units {
		out, errOut, _ := b.guest(10*time.Second, "journalctl", "-b", "-u", u, "--no-pager", "-n", "60")
		t.Logf("%s: failed unit %s; journalctl -b -u %s:\n%s%s", b.name, u, u, out, errOut)
	}
	if jobs, _, err := b.guest(10*time.Second, "systemctl", "list-jobs", "--no-pager"); err == nil {
		t.Logf("%s: systemctl list-jobs:\n%s", b.name, jobs)
	}
}

// checkNoFailedUnits fails the test if any unit failed in the guest.
func (b *booted) checkNoFailedUnits() {
	b.t.Helper()
	units, err := b.failedUnits()
	if err != nil {
		b.t.Errorf("%s: systemctl --failed: %v", b.name, err)
		return
	}
	if len(units) > 0 {
		b.t.Errorf("%s: failed units in the guest: %v", b.name, units)
	}
}

var ansiSeq = regexp.MustCompile("\x1b\\[[0-9;?]*[a-zA-Z]")

// plain strips the terminal's colours from a console line.
func plain(s string) string { return ansiSeq.ReplaceAllString(s, "") }

// waitConsole waits for a console line containing s (colours aside).
func (b *booted) waitConsole(s string, timeout time.Duration) (string, bool) {
	return b.stdout.waitFor(func(l string) bool { return strings.Contains(plain(l), s) }, timeout)
}

// consoleHas tells whether the console has shown a line containing s.
func (b *booted) consoleHas(s string) bool {
	return b.stdout.has(func(l string) bool { return strings.Contains(plain(l), s) })
}

// halt runs `containerctl stop NAME` and waits for run to exit; it returns
// stop's result, how long until run exited, and run's exit status.
func (b *booted) halt() (result, time.Duration, int) {
	b.t.Helper()
	start := time.Now()
	res := ctl(b.t, "stop", b.name)
	code := b.wait(haltTimeout)
	return res, time.Since(start), code
}

// requireCleanHalt halts the guest and fails the test unless stop said it
// halted cleanly and run exited 0.
func (b *booted) requireCleanHalt() time.Duration {
	b.t.Helper()
	res, took, code := b.halt()
	if res.code != 0 || !strings.Contains(res.stdout, "halted cleanly") {
		b.t.Errorf("containerctl stop %s: exit %d, stdout %q, want 0 and \"halted cleanly\"\nstderr: %s", b.name, res.code, res.stdout, res.stderr)
	}
	if code != 0 {
		b.t.Errorf("containerctl run %s exit status = %d, want 0", b.name, code)
	}
	return took
}

// notifyListener is the supervisor's $NOTIFY_SOCKET: a datagram socket the
// test binds, as systemd does for a Type=notify unit.
type notifyListener struct {
	path  string
	conn  *net.UnixConn
	lines *lineBuffer // every field of every datagram, one a line
}

func listenNotify(t *testing.T) *notifyListener {
	t.Helper()
	path := filepath.Join(t.TempDir(), "notify")
	conn, err := net.ListenUnixgram("unixgram", &net.UnixAddr{Name: path, Net: "unixgram"})
	if err != nil {
		t.Fatal(err)
	}
	n := &notifyListener{path: path, conn: conn, lines: newLineBuffer()}
	done := make(chan struct{})
	go func() {
		defer close(done)
		buf := make([]byte, 64<<10)
		for {
			k, _, err := conn.ReadFromUnix(buf)
			if err != nil {
				n.lines.close()
				return
			}
			msg := strings.TrimRight(string(buf[:k]), "\n")
			n.lines.Write([]byte(msg + "\n"))
		}
	}()
	t.Cleanup(func() {
		conn.Close()
		<-done
	})
	return n
}

// wait waits for a field, e.g. READY=1.
func (n *notifyListener) wait(field string, timeout time.Duration) bool {
	_, ok := n.lines.waitFor(func(l string) bool { return l == field }, timeout)
	return ok
}

func (n *notifyListener) has(field string) bool {
	return n.lines.has(func(l string) bool { return l == field })
}

// readSysctls reads host sysctls, by their /proc/sys paths.
func readSysctls(t *testing.T, paths []string) map[string]string {
	t.Helper()
	m := map[string]string{}
	for _, p := range paths {
		b, err := os.ReadFile(p)
		if err != nil {
			t.Fatal(err)
		}
		m[p] = strings.TrimSpace(string(b))
	}
	return m
}

// topCgroups lists, in every cgroup hierarchy of the host, the cgroups at
// its top but containerctl's own parent.
func topCgroups(t *testing.T) map[string][]string {
	t.Helper()
	hier, err := filepath.Glob("/sys/fs/cgroup/*/cgroup.procs")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat("/sys/fs/cgroup/cgroup.procs"); err == nil {
		hier = append(hier, "/sys/fs/cgroup/cgroup.procs")
	}
	m := map[string][]string{}
	for _, h := range hier {
		d := filepath.Dir(h)
		for _, e := range dirEntries(d, true) {
			if e != "containerctl" {
				m[d] = append(m[d], e)
			}
		}
	}
	return m
}
