//go:build linux

package integration

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/containerctl/containerctl/integration/testinit/report"
)

const (
	busybox = "/bin/busybox"

	// How long a container may take to start, and a command to finish.
	startTimeout = 15 * time.Second
	cmdTimeout   = 30 * time.Second
)

// requireRoot skips the test without root or without the built binaries,
// and fails it instead under CONTAINERCTL_INTEGRATION=1.
func requireRoot(t *testing.T) {
	t.Helper()
	if os.Geteuid() == 0 && ctlBin != "" && initBin != "" {
		return
	}
	msg := "integration tests need root (and binaries built by TestMain)"
	if integrationMode() {
		t.Fatal(msg + "; CONTAINERCTL_INTEGRATION=1, so this is a failure")
	}
	t.Skip(msg)
}

// requireBusybox does the same for a static busybox, which .ci/run installs.
func requireBusybox(t *testing.T) {
	t.Helper()
	if _, err := os.Stat(busybox); err == nil {
		return
	}
	msg := busybox + " is missing: install busybox-static"
	if integrationMode() {
		t.Fatal(msg + "; CONTAINERCTL_INTEGRATION=1, so this is a failure")
	}
	t.Skip(msg)
}

// randHex returns n random hex digits.
func randHex(n int) string {
	b := make([]byte, (n+1)/2)
	if _, err := rand.Read(b); err != nil {
		panic(err)
	}
	return hex.EncodeToString(b)[:n]
}

// nixHash returns a random 32-character hash in Nix's base-32 alphabet.
func nixHash() string {
	const alphabet = "0123456789abcdfghijklmnpqrsvwxyz"
	b := make([]byte, 32)
	if _, err := rand.Read(b); err != nil {
		panic(err)
	}
	for i := range b {
		b[i] = alphabet[int(b[i])%len(alphabet)]
	}
	return string(b)
}

// containerName makes a valid, unique container name from the test's name.
func containerName(t *testing.T) string {
	t.Helper()
	var b strings.Builder
	for _, r := range strings.TrimPrefix(t.Name(), "Test") {
		switch {
		case r >= 'a' && r <= 'z', r >= 'A' && r <= 'Z', r >= '0' && r <= '9', r == '-', r == '_':
			b.WriteRune(r)
		default:
			b.WriteRune('_')
		}
	}
	base := b.String()
	if len(base) > 48 {
		base = base[:48]
	}
	return "it-" + base + "-" + randHex(6)
}

// fixture is one container's world on the host: a busybox ROOT and a
// NixOS-like STORE whose profile for the container points at a system with
// testinit as its init.
type fixture struct {
	dir     string
	name    string
	root    string // ROOT: bin/busybox and applets, sbin/testinit
	store   string // STORE, bound at /nix
	system  string // the system's path inside: /nix/store/<hash>-system
	sysHost string // the same on the host: STORE/store/<hash>-system
	data    string // contents of the system's data.txt
}

// newFixture builds a fixture in a fresh temporary directory.
func newFixture(t *testing.T) *fixture {
	t.Helper()
	requireRoot(t)
	requireBusybox(t)
	dir := t.TempDir()
	trackDir(dir)
	hash := nixHash()
	fx := &fixture{
		dir:    dir,
		name:   containerName(t),
		root:   filepath.Join(dir, "root"),
		store:  filepath.Join(dir, "store"),
		system: "/nix/store/" + hash + "-system",
		data:   "store data " + randHex(8) + "\n",
	}
	fx.sysHost = filepath.Join(fx.store, "store", hash+"-system")

	mustMkdir(t, filepath.Join(fx.root, "bin"))
	mustMkdir(t, filepath.Join(fx.root, "sbin"))
	mustCopy(t, busybox, filepath.Join(fx.root, "bin", "busybox"), 0o755)
	for _, applet := range []string{"sh", "echo", "cat", "sleep", "ls", "true", "false", "hostname", "readlink"} {
		if err := os.Symlink("busybox", filepath.Join(fx.root, "bin", applet)); err != nil {
			t.Fatal(err)
		}
	}
	mustCopy(t, initBin, fx.rootInit(), 0o755)

	mustMkdir(t, fx.sysHost)
	mustCopy(t, initBin, fx.storeInit(), 0o755)
	if err := os.WriteFile(filepath.Join(fx.sysHost, "data.txt"), []byte(fx.data), 0o644); err != nil {
		t.Fatal(err)
	}
	profiles := filepath.Join(fx.store, "var", "nix", "profiles", "containers")
	mustMkdir(t, profiles)
	if err := os.Symlink(fx.system, filepath.Join(profiles, fx.name)); err != nil {
		t.Fatal(err)
	}
	for _, exe := range []string{fx.rootInit(), fx.storeInit()} {
		if err := trackExe(exe); err != nil {
			t.Fatal(err)
		}
	}
	return fx
}

// rootInit is ROOT/sbin/testinit on the host, /sbin/testinit inside.
func (fx *fixture) rootInit() string { return filepath.Join(fx.root, "sbin", "testinit") }

// storeInit is the system's init on the host, fx.system+"/init" inside.
func (fx *fixture) storeInit() string { return filepath.Join(fx.sysHost, "init") }

// setInitArgs sets the arguments the default (store) init runs with: it gets
// none on its command line and reads them from testinit.args beside it.
func (fx *fixture) setInitArgs(t *testing.T, args ...string) {
	t.Helper()
	content := strings.Join(args, "\n") + "\n"
	if err := os.WriteFile(filepath.Join(fx.sysHost, "testinit.args"), []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
}

func mustMkdir(t *testing.T, dir string) {
	t.Helper()
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
}

func mustCopy(t *testing.T, src, dst string, mode os.FileMode) {
	t.Helper()
	in, err := os.Open(src)
	if err != nil {
		t.Fatal(err)
	}
	defer in.Close()
	out, err := os.OpenFile(dst, os.O_CREATE|os.O_WRONLY|os.O_TRUNC, mode)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := io.Copy(out, in); err != nil {
		out.Close()
		t.Fatal(err)
	}
	if err := out.Close(); err != nil {
		t.Fatal(err)
	}
}

// result is the outcome of one containerctl command run to completion.
type result struct {
	stdout, stderr string
	code           int
}

// ctl runs containerctl with args and waits for it.
func ctl(t *testing.T, args ...string) result {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), cmdTimeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, ctlBin, args...)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	cmd.WaitDelay = 5 * time.Second
	err := cmd.Run()
	r := result{stdout: stdout.String(), stderr: stderr.String()}
	var exitErr *exec.ExitError
	switch {
	case err == nil:
	case errors.As(err, &exitErr) && exitErr.ExitCode() >= 0:
		r.code = exitErr.ExitCode()
	default:
		t.Fatalf("containerctl %s: %v\nstdout: %s\nstderr: %s", strings.Join(args, " "), err, r.stdout, r.stderr)
	}
	return r
}

// runOpts says how to start a container.
type runOpts struct {
	flags   []string   // run flags after NAME (--root and --store are added)
	command []string   // after "--"; none runs the store profile's init
	env     []string   // extra environment for the supervisor
	noRoot  bool       // do not pass --root fx.root
	wrap    []string   // a command that execs containerctl, given as its last arguments
	root    string     // pass --root root instead of fx.root
	files   []*os.File // the supervisor's fds from 3 on
	bundle  string     // run this OCI bundle (no --store, no --root)
}

// container is one running `containerctl run`.
type container struct {
	t       *testing.T
	fx      *fixture
	name    string
	cmd     *exec.Cmd
	stdout  *lineBuffer
	stderr  *lockedBuffer
	done    chan struct{}
	exit    int // valid once done is closed
	initPID int // the init's pid on the host, once found
	pidNS   string
}

// start starts `containerctl run` for fx and registers a cleanup that stops
// it, checks that nothing of it is left, and prunes its state.
func (fx *fixture) start(t *testing.T, o runOpts) *container {
	t.Helper()
	args := []string{"run", fx.name, "--store", fx.store, "--log-level", "debug"}
	switch {
	case o.bundle != "":
		args = []string{"run", fx.name, "--log-level", "debug", "--oci-bundle", o.bundle}
	case o.root != "":
		args = append(args, "--root", o.root)
	case !o.noRoot:
		args = append(args, "--root", fx.root)
	}
	args = append(args, o.flags...)
	if len(o.command) > 0 {
		args = append(append(args, "--"), o.command...)
	}
	c := &container{
		t:      t,
		fx:     fx,
		name:   fx.name,
		cmd:    exec.Command(ctlBin, args...),
		stdout: newLineBuffer(),
		stderr: &lockedBuffer{},
		done:   make(chan struct{}),
	}
	if len(o.wrap) > 0 {
		c.cmd = exec.Command(o.wrap[0], append(append(o.wrap[1:], ctlBin), args...)...)
	}
	c.cmd.Env = append(os.Environ(), o.env...)
	c.cmd.ExtraFiles = o.files
	c.cmd.Stdout, c.cmd.Stderr = c.stdout, c.stderr
	// The supervisor's own process group, so that nothing aimed at the
	// test's group reaches it; and with --console=pipe the container holds
	// our pipes, so do not wait forever for them to close.
	c.cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	c.cmd.WaitDelay = time.Second
	t.Logf("containerctl %s", strings.Join(args, " "))
	if err := c.cmd.Start(); err != nil {
		t.Fatalf("start containerctl run: %v", err)
	}
	go func() {
		c.cmd.Wait()
		c.exit = c.cmd.ProcessState.ExitCode()
		if ws, ok := c.cmd.ProcessState.Sys().(syscall.WaitStatus); ok && ws.Signaled() {
			c.exit = 128 + int(ws.Signal())
		}
		c.stdout.close()
		close(c.done)
	}()
	t.Cleanup(c.cleanup)
	return c
}

func (c *container) exited() bool {
	select {
	case <-c.done:
		return true
	default:
		return false
	}
}

// cleanup stops the container if it still runs (stop, then SIGKILL), checks
// that no process of it survives, and makes sure its state is pruned.
func (c *container) cleanup() {
	t := c.t
	if !c.exited() {
		ctl(t, "stop", c.name, "--timeout", "1s")
		select {
		case <-c.done:
		case <-time.After(10 * time.Second):
			t.Errorf("cleanup: %s: supervisor still running 10s after stop; killing it", c.name)
			c.cmd.Process.Kill()
			<-c.done
		}
	}
	c.checkGone(2 * time.Second)
	// Whoever ends the supervisor, its record and cgroups go: it removes
	// them itself, or its reaper does when it was killed.
	for _, p := range append([]string{filepath.Join(stateDir, c.name)}, cgroupDirs(c.name)...) {
		if !waitAbsent(p, 2*time.Second) {
			t.Errorf("cleanup: %s still exists after the container exited", p)
		}
	}
	if t.Failed() {
		t.Logf("%s stdout:\n%s", c.name, c.stdout.String())
		t.Logf("%s stderr:\n%s", c.name, c.stderr.String())
	}
}

// checkGone fails the test if any process of the container's PID namespace
// or running one of its testinit copies is still alive after wait.
func (c *container) checkGone(wait time.Duration) {
	c.t.Helper()
	left := waitProcs(wait, func(p procInfo) bool { return c.owns(p) })
	for _, p := range left {
		c.t.Errorf("%s: process %d (exe %s, pidns %s) outlived the container; killing it", c.name, p.pid, p.exe, p.pidNS)
		syscall.Kill(p.pid, syscall.SIGKILL)
	}
}

// owns tells whether p belongs to the container.
func (c *container) owns(p procInfo) bool {
	if c.pidNS != "" && p.pidNS == c.pidNS {
		return true
	}
	for _, exe := range []string{c.fx.rootInit(), c.fx.storeInit()} {
		if id, err := statID(exe); err == nil && id == p.exeID {
			return true
		}
	}
	return false
}

// procs lists the live processes of the container.
func (c *container) procs() []procInfo {
	var ps []procInfo
	for _, p := range listProcs() {
		if c.owns(p) {
			ps = append(ps, p)
		}
	}
	return ps
}

// waitLine waits for a stdout line starting with prefix and returns it.
func (c *container) waitLine(prefix string, timeout time.Duration) string {
	c.t.Helper()
	line, ok := c.stdout.waitFor(func(l string) bool { return strings.HasPrefix(l, prefix) }, timeout)
	if !ok {
		state := "still running"
		if c.exited() {
			state = "exited with " + strconv.Itoa(c.exit)
		}
		c.t.Fatalf("%s: no %q line on stdout within %v (supervisor %s)\nstdout:\n%s\nstderr:\n%s",
			c.name, prefix, timeout, state, c.stdout.String(), c.stderr.String())
	}
	return line
}

// ready waits for TESTINIT-READY and finds the init on the host.
func (c *container) ready() {
	c.t.Helper()
	c.waitLine("TESTINIT-READY", startTimeout)
	c.findInit()
}

// waitMonitor waits until the supervisor has handed off to
// containerctl-monitor, as it does once the container runs.
func (c *container) waitMonitor() {
	c.t.Helper()
	pid := c.cmd.Process.Pid
	monitor := filepath.Join(filepath.Dir(ctlBin), "containerctl-monitor")
	for deadline := time.Now().Add(5 * time.Second); ; time.Sleep(20 * time.Millisecond) {
		exe, _ := os.Readlink(fmt.Sprintf("/proc/%d/exe", pid))
		if exe == monitor {
			return
		}
		if time.Now().After(deadline) {
			c.t.Fatalf("%s: supervisor %d runs %s 5s on; want %s\nstderr:\n%s", c.name, pid, exe, monitor, c.stderr.String())
		}
	}
}

// report waits for the TESTINIT-REPORT line and decodes it; it also waits
// for readiness.
func (c *container) report() *Report {
	c.t.Helper()
	line := c.waitLine("TESTINIT-REPORT ", startTimeout)
	var r Report
	if err := json.Unmarshal([]byte(strings.TrimPrefix(line, "TESTINIT-REPORT ")), &r); err != nil {
		c.t.Fatalf("%s: decode report: %v\n%s", c.name, err, line)
	}
	c.ready()
	return &r
}

// findInit finds the container's PID 1 on the host: a descendant of the
// supervisor whose pid in its innermost namespace is 1.
func (c *container) findInit() {
	c.t.Helper()
	sup := c.cmd.Process.Pid
	deadline := time.Now().Add(5 * time.Second)
	for {
		procs := listProcs()
		byPID := map[int]procInfo{}
		for _, p := range procs {
			byPID[p.pid] = p
		}
		for _, p := range procs {
			if len(p.nsPIDs) < 2 || p.nsPIDs[len(p.nsPIDs)-1] != 1 {
				continue
			}
			for q, n := p, 0; n < 16; q, n = byPID[q.ppid], n+1 {
				if q.ppid == sup {
					c.initPID, c.pidNS = p.pid, p.pidNS
					return
				}
				if q.ppid <= 1 {
					break
				}
			}
		}
		if time.Now().After(deadline) {
			c.t.Fatalf("%s: no PID 1 of a new PID namespace under supervisor %d", c.name, sup)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// wait waits for the supervisor to exit and returns its exit status (128+N
// if it died of signal N).
func (c *container) wait(timeout time.Duration) int {
	c.t.Helper()
	select {
	case <-c.done:
		return c.exit
	case <-time.After(timeout):
		c.t.Fatalf("%s: supervisor still running after %v\nstdout:\n%s\nstderr:\n%s",
			c.name, timeout, c.stdout.String(), c.stderr.String())
		return -1
	}
}

// Report is what testinit reports from inside.
type Report = report.Report

// mountEntry is one parsed /proc/PID/mountinfo line.
type mountEntry struct {
	devNum, root, point, opts, fstype, source string
}

func parseMountinfo(lines []string) []mountEntry {
	var ms []mountEntry
	for _, l := range lines {
		pre, post, ok := strings.Cut(l, " - ")
		if !ok {
			continue
		}
		f, g := strings.Fields(pre), strings.Fields(post)
		if len(f) < 6 || len(g) < 2 {
			continue
		}
		ms = append(ms, mountEntry{devNum: f[2], root: unescapeMount(f[3]), point: unescapeMount(f[4]), opts: f[5], fstype: g[0], source: g[1]})
	}
	return ms
}

// unescapeMount undoes mountinfo's octal escapes (\040 for a space).
func unescapeMount(s string) string {
	if !strings.Contains(s, `\`) {
		return s
	}
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		if s[i] == '\\' && i+4 <= len(s) {
			if n, err := strconv.ParseUint(s[i+1:i+4], 8, 8); err == nil {
				b.WriteByte(byte(n))
				i += 3
				continue
			}
		}
		b.WriteByte(s[i])
	}
	return b.String()
}

// mountAt returns the last (topmost) mount at point.
func mountAt(ms []mountEntry, point string) (mountEntry, bool) {
	var found mountEntry
	ok := false
	for _, m := range ms {
		if m.point == point {
			found, ok = m, true
		}
	}
	return found, ok
}

func hasOpt(opts, opt string) bool {
	for _, o := range strings.Split(opts, ",") {
		if o == opt {
			return true
		}
	}
	return false
}

// procInfo is what the tests need to know of one host process.
type procInfo struct {
	pid, ppid int
	nsPIDs    []int // NSpid: the pid in each nested PID namespace
	pidNS     string
	exe       string
	exeID     fileID
}

// listProcs reads every process from the host's /proc; processes that go
// away meanwhile are skipped.
func listProcs() []procInfo {
	ents, err := os.ReadDir("/proc")
	if err != nil {
		return nil
	}
	var ps []procInfo
	for _, e := range ents {
		pid, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		p, ok := readProc(pid)
		if ok {
			ps = append(ps, p)
		}
	}
	return ps
}

func readProc(pid int) (procInfo, bool) {
	dir := "/proc/" + strconv.Itoa(pid)
	status, err := os.ReadFile(dir + "/status")
	if err != nil {
		return procInfo{}, false
	}
	p := procInfo{pid: pid}
	for _, l := range strings.Split(string(status), "\n") {
		k, v, _ := strings.Cut(l, ":")
		switch k {
		case "State":
			if strings.HasPrefix(strings.TrimSpace(v), "Z") {
				// A zombie is dead already; it holds nothing.
				return procInfo{}, false
			}
		case "PPid":
			p.ppid, _ = strconv.Atoi(strings.TrimSpace(v))
		case "NSpid":
			for _, f := range strings.Fields(v) {
				n, _ := strconv.Atoi(f)
				p.nsPIDs = append(p.nsPIDs, n)
			}
		}
	}
	p.pidNS, _ = os.Readlink(dir + "/ns/pid")
	p.exe, _ = os.Readlink(dir + "/exe")
	p.exeID, _ = statID(dir + "/exe")
	return p, true
}

func statID(path string) (fileID, error) {
	var st syscall.Stat_t
	if err := syscall.Stat(path, &st); err != nil {
		return fileID{}, err
	}
	return fileID{st.Dev, st.Ino}, nil
}

// waitProcs polls until no process matches or wait passes, and returns the
// matching processes left.
func waitProcs(wait time.Duration, match func(procInfo) bool) []procInfo {
	deadline := time.Now().Add(wait)
	for {
		var left []procInfo
		for _, p := range listProcs() {
			if match(p) {
				left = append(left, p)
			}
		}
		if len(left) == 0 || time.Now().After(deadline) {
			return left
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func alive(pid int) bool {
	p, ok := readProc(pid)
	return ok && p.pid == pid
}

func exists(path string) bool {
	_, err := os.Lstat(path)
	return err == nil
}

// lineBuffer collects output and splits it into lines, dropping the "\r" a
// pty may put before "\n".
type lineBuffer struct {
	mu      sync.Mutex
	all     bytes.Buffer
	partial []byte
	lines   []string
	closed  bool
	changed chan struct{} // closed and replaced on every change
}

func newLineBuffer() *lineBuffer { return &lineBuffer{changed: make(chan struct{})} }

func (b *lineBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.all.Write(p)
	b.partial = append(b.partial, p...)
	for {
		i := bytes.IndexByte(b.partial, '\n')
		if i < 0 {
			break
		}
		b.lines = append(b.lines, strings.TrimRight(string(b.partial[:i]), "\r"))
		b.partial = b.partial[i+1:]
	}
	b.notifyLocked()
	return len(p), nil
}

func (b *lineBuffer) close() {
	b.mu.Lock()
	defer b.mu.Unlock()
	if len(b.partial) > 0 {
		b.lines = append(b.lines, strings.TrimRight(string(b.partial), "\r"))
		b.partial = nil
	}
	b.closed = true
	b.notifyLocked()
}

func (b *lineBuffer) notifyLocked() {
	close(b.changed)
	b.changed = make(chan struct{})
}

// waitFor returns the first line matching pred, waiting up to timeout.
func (b *lineBuffer) waitFor(pred func(string) bool, timeout time.Duration) (string, bool) {
	timer := time.NewTimer(timeout)
	defer timer.Stop()
	for {
		b.mu.Lock()
		for _, l := range b.lines {
			if pred(l) {
				b.mu.Unlock()
				return l, true
			}
		}
		closed, changed := b.closed, b.changed
		b.mu.Unlock()
		if closed {
			return "", false
		}
		select {
		case <-changed:
		case <-timer.C:
			return "", false
		}
	}
}

func (b *lineBuffer) has(pred func(string) bool) bool {
	b.mu.Lock()
	defer b.mu.Unlock()
	for _, l := range b.lines {
		if pred(l) {
			return true
		}
	}
	return false
}

func (b *lineBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.all.String()
}

// lockedBuffer is a bytes.Buffer safe for a writer and a reader at once.
type lockedBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *lockedBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *lockedBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// cgroupDirs are the places a container's cgroup may be, in every
// hierarchy, when it runs under the default parent.
func cgroupDirs(name string) []string {
	mounts, _ := filepath.Glob("/sys/fs/cgroup/*/cgroup.procs")
	dirs := []string{filepath.Join("/sys/fs/cgroup", "containerctl", name)}
	for _, m := range mounts {
		dirs = append(dirs, filepath.Join(filepath.Dir(m), "containerctl", name))
	}
	return dirs
}

// waitAbsent waits up to timeout for p not to exist.
func waitAbsent(p string, timeout time.Duration) bool {
	deadline := time.Now().Add(timeout)
	for exists(p) {
		if time.Now().After(deadline) {
			return false
		}
		time.Sleep(10 * time.Millisecond)
	}
	return true
}

// waitReaper waits until the container's reaper runs. The supervisor
// starts it beside the start and does not release the init before its
// exec: one killed before then has its record pruned by the next command
// instead, so the tests of what the reaper does kill only once it is
// there.
func (c *container) waitReaper(timeout time.Duration) int {
	c.t.Helper()
	return waitReaperFor(c.t, filepath.Join("/run/containerctl", c.name), timeout)
}

// waitReaperFor waits for the reaper of the record at dir, which
// containerctl-reaper's command line names, and returns its pid.
func waitReaperFor(t *testing.T, dir string, timeout time.Duration) int {
	t.Helper()
	for deadline := time.Now().Add(timeout); ; time.Sleep(5 * time.Millisecond) {
		for _, p := range listProcs() {
			b, _ := os.ReadFile(fmt.Sprintf("/proc/%d/cmdline", p.pid))
			if args := strings.Split(string(b), "\x00"); len(args) > 2 && args[0] == "containerctl-reaper" && args[1] == dir {
				return p.pid
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("no reaper for %s within %v", dir, timeout)
		}
	}
}
