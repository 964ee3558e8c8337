//go:build linux

package integration

import (
	"bufio"
	"bytes"
	"crypto/sha256"
	"fmt"
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
	specs "github.com/opencontainers/runtime-spec/specs-go"
)

// execApplets are the busybox applets the exec tests use besides the
// fixture's.
var execApplets = []string{"id", "tty", "ps", "setsid", "env", "pwd", "grep", "sha256sum", "head"}

// startExecFixture starts a container whose init waits for the halt, with
// more applets and an /etc/passwd, and waits until it is up.
func startExecFixture(t *testing.T, flags ...string) (*fixture, *container) {
	t.Helper()
	fx := newFixture(t)
	for _, a := range execApplets {
		if err := os.Symlink("busybox", filepath.Join(fx.root, "bin", a)); err != nil {
			t.Fatal(err)
		}
	}
	mustMkdir(t, filepath.Join(fx.root, "etc"))
	mustMkdir(t, filepath.Join(fx.root, "tmp"))
	passwd := "root:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65534:nobody:/nonexistent:/bin/false\n"
	if err := os.WriteFile(filepath.Join(fx.root, "etc", "passwd"), []byte(passwd), 0o644); err != nil {
		t.Fatal(err)
	}
	c := fx.start(t, runOpts{flags: append([]string{"--console=pipe"}, flags...), command: []string{"/sbin/testinit"}})
	c.ready()
	return fx, c
}

// execBg starts `containerctl exec` with args and returns it running, its
// stdout read line by line.
func execBg(t *testing.T, stdin io.Reader, args ...string) (*exec.Cmd, *lineBuffer) {
	t.Helper()
	cmd := exec.Command(ctlBin, append([]string{"exec"}, args...)...)
	out := newLineBuffer()
	cmd.Stdin, cmd.Stdout, cmd.Stderr = stdin, out, os.Stderr
	cmd.WaitDelay = 5 * time.Second
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if cmd.ProcessState == nil {
			_ = cmd.Process.Kill()
			_ = cmd.Wait()
		}
	})
	return cmd, out
}

// execChild finds the process that exec started: containerctl exec's own
// child (the helper clones it with CLONE_PARENT), in the container.
func execChild(t *testing.T, c *container, execPID int) procInfo {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for {
		for _, p := range listProcs() {
			if p.ppid == execPID && p.pidNS == c.pidNS {
				return p
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("no child of containerctl exec (pid %d) in the container's PID namespace", execPID)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func exitCode(cmd *exec.Cmd) int {
	if ws, ok := cmd.ProcessState.Sys().(syscall.WaitStatus); ok && ws.Signaled() {
		return 128 + int(ws.Signal())
	}
	return cmd.ProcessState.ExitCode()
}

// TestExecNamespaces: an exec'd command is in every namespace of the
// container's init, sees the init as PID 1, and is containerctl exec's own
// child; SIGTERM to containerctl exec reaches it, and its status is exec's.
func TestExecNamespaces(t *testing.T) {
	_, c := startExecFixture(t, "--private-network")
	r := ctl(t, "exec", c.name, "--", "cat", "/proc/1/cmdline")
	if r.code != 0 || !strings.HasPrefix(r.stdout, "/sbin/testinit") {
		t.Errorf("exec cat /proc/1/cmdline = %q (exit %d, %s), want the init's", r.stdout, r.code, r.stderr)
	}
	cmd, _ := execBg(t, nil, c.name, "--", "sleep", "100")
	p := execChild(t, c, cmd.Process.Pid)
	for _, ns := range []string{"mnt", "pid", "uts", "ipc", "net", "cgroup"} {
		got, err1 := os.Readlink(fmt.Sprintf("/proc/%d/ns/%s", p.pid, ns))
		want, err2 := os.Readlink(fmt.Sprintf("/proc/%d/ns/%s", c.initPID, ns))
		if err1 != nil || err2 != nil || got != want {
			t.Errorf("exec'd process's %s namespace = %q (%v), want the init's %q (%v)", ns, got, err1, want, err2)
		}
	}
	if host, _ := os.Readlink("/proc/self/ns/net"); host == "" || host == mustReadlink(t, fmt.Sprintf("/proc/%d/ns/net", p.pid)) {
		t.Errorf("exec'd process is in the host's network namespace %q", host)
	}
	// It is in the container's ps, as is the init.
	if r := ctl(t, "exec", c.name, "--", "ps", "-o", "pid,args"); !strings.Contains(r.stdout, "sleep 100") || !strings.Contains(r.stdout, "1 /sbin/testinit") {
		t.Errorf("exec ps = %q (%s), want the init as 1 and the exec'd sleep 100", r.stdout, r.stderr)
	}
	if err := cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	_ = cmd.Wait()
	if got := exitCode(cmd); got != 143 {
		t.Errorf("exec sleep 100, SIGTERM to containerctl exec: exit %d, want 143", got)
	}
	if alive(p.pid) {
		t.Errorf("exec'd sleep %d still alive after its SIGTERM", p.pid)
	}
}

func mustReadlink(t *testing.T, p string) string {
	t.Helper()
	s, err := os.Readlink(p)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// TestExecStatusAndStdin: the command's exit status is exec's, and stdin,
// stdout and stderr are the caller's.
func TestExecStatusAndStdin(t *testing.T) {
	_, c := startExecFixture(t)
	if r := ctl(t, "exec", c.name, "--", "sh", "-c", "echo out; echo err >&2; exit 7"); r.code != 7 || r.stdout != "out\n" || r.stderr != "err\n" {
		t.Errorf("exec sh -c 'exit 7' = exit %d, stdout %q, stderr %q; want 7, out, err", r.code, r.stdout, r.stderr)
	}
	if r := ctl(t, "exec", c.name, "--", "sh", "-c", "kill -9 $$"); r.code != 137 {
		t.Errorf("exec of a command killed by SIGKILL: exit %d, want 137", r.code)
	}
	cmd, out := execBg(t, strings.NewReader("hi\n"), c.name, "--", "cat")
	if err := cmd.Wait(); err != nil {
		t.Errorf("echo hi | exec cat: %v", err)
	}
	if got := out.String(); got != "hi\n" {
		t.Errorf("echo hi | exec cat = %q, want %q", got, "hi\n")
	}
	// Each exec's cgroup goes once its command has exited.
	for _, d := range cgroupDirs(c.name) {
		if ents, _ := filepath.Glob(filepath.Join(d, "exec-*")); len(ents) > 0 {
			t.Errorf("execs that exited left cgroups %v", ents)
		}
	}
	r := ctl(t, "exec", c.name, "--", "/no/such/command")
	if r.code != 127 || strings.Count(r.stderr, "\n") != 1 || !strings.Contains(r.stderr, c.name+": exec /no/such/command: No such file or directory") {
		t.Errorf("exec of a missing command = exit %d, %q; want 127 and one line naming it", r.code, r.stderr)
	}
}

// TestExecTTY: with -t the command gets a terminal of the container's, and
// the caller's terminal is relayed both ways.
func TestExecTTY(t *testing.T) {
	_, c := startExecFixture(t)
	if err := os.Symlink("busybox", filepath.Join(c.fx.root, "bin", "stty")); err != nil {
		t.Fatal(err)
	}
	s := startOnPty(t, &console.WinSize{Height: 33, Width: 111},
		"exec", "-t", c.name, "--", "sh", "-c", "tty; read line; echo got-$line; stty size; exit 3")
	s.expect("/dev/pts/", startTimeout)
	s.send("ping")
	s.expect("got-ping", startTimeout)
	s.expect("33 111", startTimeout)
	if got := s.wait(startTimeout); got != 3 {
		t.Errorf("exec -t ... exit 3: exit status %d; terminal:\n%q", got, s.out.String())
	}
}

// TestExecKilledWithContainer: what an exec leaves behind dies when the
// container stops, and its cgroup goes with the container's.
func TestExecKilledWithContainer(t *testing.T) {
	_, c := startExecFixture(t)
	if r := ctl(t, "exec", c.name, "--", "sh", "-c", "setsid sleep 1000 </dev/null >/dev/null 2>&1 &"); r.code != 0 {
		t.Fatalf("exec setsid sleep: exit %d: %s", r.code, r.stderr)
	}
	var sleeper int
	deadline := time.Now().Add(5 * time.Second)
	for sleeper == 0 {
		for _, p := range c.procs() {
			if b, _ := os.ReadFile(fmt.Sprintf("/proc/%d/cmdline", p.pid)); string(b) == "sleep\x001000\x00" {
				sleeper = p.pid
			}
		}
		if sleeper == 0 && time.Now().After(deadline) {
			t.Fatal("no sleep 1000 in the container after exec")
		}
		time.Sleep(20 * time.Millisecond)
	}
	cg, err := os.ReadFile(fmt.Sprintf("/proc/%d/cgroup", sleeper))
	if err != nil || !strings.Contains(string(cg), "/containerctl/"+c.name+"/exec-") {
		t.Errorf("/proc/%d/cgroup = %q (%v), want an exec- cgroup below the container's", sleeper, cg, err)
	}
	if r := ctl(t, "stop", c.name, "--timeout", "5s"); r.code != 0 {
		t.Fatalf("stop: exit %d: %s", r.code, r.stderr)
	}
	c.wait(startTimeout)
	if waitProcs(2*time.Second, func(p procInfo) bool { return p.pid == sleeper }) != nil {
		t.Errorf("exec'd sleep %d outlived the container", sleeper)
	}
}

// TestExecRefused: a container that is not running, and bad input, are
// refused with one line naming the container, before anything is made.
func TestExecRefused(t *testing.T) {
	fx, c := startExecFixture(t)
	for _, tt := range []struct {
		args []string
		want string
	}{
		{[]string{"it-no-such-container", "--", "true"}, "it-no-such-container: not running"},
		{[]string{c.name}, c.name + ": exec: no command"},
		{[]string{"--user", "mallory", c.name, "--", "id"}, c.name + `: user "mallory": not in the container's /etc/passwd`},
		{[]string{"--workdir", "tmp", c.name, "--", "pwd"}, c.name + `: exec: --workdir "tmp": not an absolute path`},
		{[]string{"-E", "NOVALUE", c.name, "--", "env"}, c.name + `: exec: -E "NOVALUE": want NAME=VALUE`},
	} {
		r := ctl(t, append([]string{"exec"}, tt.args...)...)
		if r.code != 1 || strings.Count(r.stderr, "\n") != 1 || !strings.Contains(r.stderr, tt.want) {
			t.Errorf("exec %q = exit %d, stderr %q; want 1 and one line with %q", tt.args, r.code, r.stderr, tt.want)
		}
	}
	for _, d := range cgroupDirs(c.name) {
		if ents, _ := filepath.Glob(filepath.Join(d, "exec-*")); len(ents) > 0 {
			t.Errorf("refused execs left cgroups %v", ents)
		}
	}
	if r := ctl(t, "stop", fx.name, "--timeout", "5s"); r.code != 0 {
		t.Fatalf("stop: exit %d: %s", r.code, r.stderr)
	}
	c.wait(startTimeout)
	r := ctl(t, "exec", fx.name, "--", "true")
	if r.code != 1 || strings.TrimSpace(r.stderr) != "containerctl: error: "+fx.name+": not running" {
		t.Errorf("exec into a stopped container = exit %d, %q; want 1 and %q", r.code, r.stderr, fx.name+": not running")
	}
}

// TestExecLimits: an exec'd command counts against the container's limits.
func TestExecLimits(t *testing.T) {
	_, c := startExecFixture(t, "--tasks-max", "24")
	cmd, out := execBg(t, nil, c.name, "--", "/sbin/testinit", "forks", "40")
	line, ok := out.waitFor(func(l string) bool { return strings.HasPrefix(l, "FORKED") }, startTimeout)
	if !ok {
		t.Fatalf("no FORKED line from exec testinit forks 40: %q", out.String())
	}
	var forked, failed int
	if _, err := fmt.Sscanf(line, "FORKED ok=%d failed=%d", &forked, &failed); err != nil {
		t.Fatalf("%q: %v", line, err)
	}
	if forked >= 24 || failed == 0 {
		t.Errorf("exec'd %s: want the forks to stop short of the container's 24 tasks", line)
	}
	_ = cmd.Process.Signal(syscall.SIGTERM)
	_ = cmd.Wait()
}

// procStatus reads fields of /proc/PID/status.
func procStatus(t *testing.T, text string, keys ...string) map[string]string {
	t.Helper()
	m := map[string]string{}
	sc := bufio.NewScanner(strings.NewReader(text))
	for sc.Scan() {
		k, v, _ := strings.Cut(sc.Text(), ":")
		for _, want := range keys {
			if k == want {
				m[k] = strings.TrimSpace(v)
			}
		}
	}
	return m
}

// TestExecConfinement: the exec'd command has the init's bounding set and
// seccomp filter, and runs as the user, where and with what it is told.
func TestExecConfinement(t *testing.T) {
	_, c := startExecFixture(t, "--drop-capability", "CAP_SYS_ADMIN")
	r := ctl(t, "exec", c.name, "--", "cat", "/proc/self/status")
	if r.code != 0 {
		t.Fatalf("exec cat /proc/self/status: exit %d: %s", r.code, r.stderr)
	}
	initStatus, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", c.initPID))
	if err != nil {
		t.Fatal(err)
	}
	keys := []string{"CapBnd", "Seccomp", "NoNewPrivs", "CapInh", "CapAmb"}
	got, want := procStatus(t, r.stdout, keys...), procStatus(t, string(initStatus), keys...)
	for _, k := range keys {
		if got[k] != want[k] || got[k] == "" {
			t.Errorf("exec'd process's %s = %q, want the init's %q", k, got[k], want[k])
		}
	}
	if got["Seccomp"] != "2" {
		t.Errorf("exec'd process's Seccomp = %q, want 2 (a filter)", got["Seccomp"])
	}
	r = ctl(t, "exec", "--user", "nobody", "--workdir", "/tmp", "-E", "K=V", c.name, "--", "sh", "-c", "id -u; id -g; pwd; echo $K $HOME $USER $container")
	if want := "65534\n65534\n/tmp\nV /nonexistent nobody containerctl\n"; r.code != 0 || r.stdout != want {
		t.Errorf("exec --user nobody --workdir /tmp -E K=V = exit %d, %q (%s); want %q", r.code, r.stdout, r.stderr, want)
	}
	r = ctl(t, "exec", "--user", "nobody", c.name, "--", "cat", "/proc/self/status")
	// The filter is installed before setresuid, while it may be without
	// no_new_privs, and the capabilities go at setresuid.
	if st := procStatus(t, r.stdout, "CapEff", "CapPrm", "Seccomp", "Uid"); st["CapEff"] != "0000000000000000" || st["CapPrm"] != "0000000000000000" || st["Seccomp"] != "2" || !strings.HasPrefix(st["Uid"], "65534") {
		t.Errorf("exec --user nobody: %v, want no capabilities, Seccomp 2, uid 65534", st)
	}
}

func fileHash(t *testing.T, p string) string {
	t.Helper()
	b, err := os.ReadFile(p)
	if err != nil {
		t.Fatal(err)
	}
	return fmt.Sprintf("%x", sha256.Sum256(b))
}

// TestExecHostBinaryUnreachable: while execs run, nothing inside the
// container reaches the host's containerctl or helper through
// /proc/PID/exe: no exe link of a process inside is one of them or has
// their contents, none can be opened for writing, and they are unchanged.
func TestExecHostBinaryUnreachable(t *testing.T) {
	_, c := startExecFixture(t)
	helper := filepath.Join(filepath.Dir(ctlBin), "containerctl-nsenter")
	hashes := map[string]string{ctlBin: fileHash(t, ctlBin), helper: fileHash(t, helper)}
	sleeper, _ := execBg(t, nil, c.name, "--", "sleep", "100")
	execChild(t, c, sleeper.Process.Pid)
	// From inside, as root, a loop over every process while more execs
	// start: their exe links, a write to each, and their contents' hash.
	probe := `end=$(( $(date +%s) + 3 )); while [ $(date +%s) -lt $end ]; do
for p in /proc/[0-9]*; do
  l=$(readlink $p/exe 2>/dev/null) || continue
  echo "EXE $l"
  if (: >> $p/exe) 2>/dev/null; then echo "WROTE $p $l"; fi
  h=$(sha256sum $p/exe 2>/dev/null | head -c 64) && echo "HASH $h"
done; done`
	if err := os.Symlink("busybox", filepath.Join(c.fx.root, "bin", "date")); err != nil {
		t.Fatal(err)
	}
	prober, out := execBg(t, nil, c.name, "--", "sh", "-c", probe)
	for i := 0; i < 10; i++ {
		ctl(t, "exec", c.name, "--", "true")
	}
	if err := prober.Wait(); err != nil {
		t.Fatalf("probe: %v\n%s", err, out.String())
	}
	for _, l := range strings.Split(out.String(), "\n") {
		switch {
		case strings.HasPrefix(l, "WROTE "):
			t.Errorf("inside, an exe could be opened for writing: %s", l)
		case strings.HasPrefix(l, "EXE ") && (strings.Contains(l, "containerctl") && !strings.Contains(l, "memfd:")):
			t.Errorf("inside, an exe link names the host's binary: %s", l)
		case strings.HasPrefix(l, "HASH ") && strings.TrimPrefix(l, "HASH ") == hashes[ctlBin]:
			t.Errorf("inside, an exe has the contents of the host's containerctl")
		}
	}
	for _, p := range c.procs() {
		if p.exe == ctlBin || p.exe == helper {
			t.Errorf("process %d in the container runs the host's %s", p.pid, p.exe)
		}
	}
	_ = sleeper.Process.Signal(syscall.SIGTERM)
	_ = sleeper.Wait()
	for p, h := range hashes {
		if got := fileHash(t, p); got != h {
			t.Errorf("%s changed during the execs", p)
		}
	}
	// Caught before its exec, a child of the helper shows the sealed copy.
	t.Logf("the probe saw %d exe links to the helper's memfd", strings.Count(out.String(), "EXE /memfd:containerctl-nsenter"))
	if !bytes.Contains([]byte(out.String()), []byte("EXE /bin/busybox")) {
		t.Errorf("the probe saw no process inside: %q", out.String())
	}
}

// TestExecBoot: exec into a booted Debian system reaches its systemd.
func TestExecBoot(t *testing.T) {
	lower := requireDebianRoot(t)
	root, _ := overlayRoot(t, lower)
	b := startBoot(t, bootOpts{root: root})
	// As soon as the record shows the init: the guest is still booting.
	if r := ctl(t, "exec", b.name, "--", "true"); r.code != 0 {
		t.Errorf("exec true while the guest boots: exit %d: %s", r.code, r.stderr)
	}
	// Until systemd has its socket, systemctl cannot ask it, --wait or not.
	b.requireRunning()
	r := ctl(t, "exec", b.name, "--", "systemctl", "is-system-running", "--wait")
	if got := strings.TrimSpace(r.stdout); r.code != 0 || got != "running" {
		t.Errorf("exec systemctl is-system-running = %q, exit %d (%s); want running", got, r.code, r.stderr)
	}
	r = ctl(t, "exec", "--user", "nobody", b.name, "--", "id", "-un")
	if got := strings.TrimSpace(r.stdout); r.code != 0 || got != "nobody" {
		t.Errorf("exec --user nobody id -un = %q, exit %d (%s); want nobody", got, r.code, r.stderr)
	}
	b.requireCleanHalt()
}

// TestExecChildConfined: what exec clones into the container's PID
// namespace is, from its first instruction, no stronger than the
// container's root: a guest's root may stop and ptrace it before it execs
// (CAP_SYS_PTRACE), so it must already have the container's capability
// bounding set as its effective set, and its seccomp filter.
func TestExecChildConfined(t *testing.T) {
	_, c := startExecFixture(t)
	initStatus, err := os.ReadFile(filepath.Join("/proc", itoa(c.initPID), "status"))
	if err != nil {
		t.Fatal(err)
	}
	var bnd string
	for _, l := range strings.Split(string(initStatus), "\n") {
		if v, ok := strings.CutPrefix(l, "CapBnd:"); ok {
			bnd = strings.TrimSpace(v)
		}
	}
	// A catch that comes only once the child has run and exited sees
	// nothing of it ("?"): that says nothing either way, so it is tried
	// again. On a loaded machine most tries miss (the child lives for a
	// millisecond), and a miss costs little.
	const tries = 50
	for try := 0; try < tries; try++ {
		f := catchExecChild(t, c)
		if len(f) == 6 && f[3] == "?" {
			continue
		}
		if len(f) != 6 || f[3] != bnd || f[4] != "2" {
			t.Errorf("exec's child before its exec: %q (CAUGHT pid exe CapEff Seccomp CapPrm); want CapEff the container's bounding set %s and Seccomp 2 (a filter)", f, bnd)
		}
		return
	}
	t.Fatalf("%d catches came after the exec's child had exited", tries)
}

// TestExecChildWithinBounding: a spec may give the process permitted and
// effective capabilities beyond its bounding set (exec cuts them). The
// exec's child, which the guest's root (CAP_SYS_PTRACE, here) can stop
// and inspect before its exec, holds none of them: a review drove such a
// child to sethostname with CAP_SYS_ADMIN outside the bounding set.
func TestExecChildWithinBounding(t *testing.T) {
	fx := newFixture(t)
	for _, a := range execApplets {
		_ = os.Symlink("busybox", filepath.Join(fx.root, "bin", a))
	}
	// CAP_KILL 5, CAP_SETGID 6, CAP_SETUID 7, CAP_NET_BIND_SERVICE 10,
	// CAP_SYS_PTRACE 19: 0x804e0. CAP_SYS_MODULE 16 and CAP_SYS_ADMIN 21
	// beyond it.
	bounding := []string{"CAP_KILL", "CAP_SETGID", "CAP_SETUID", "CAP_NET_BIND_SERVICE", "CAP_SYS_PTRACE"}
	more := append(slices.Clone(bounding), "CAP_SYS_MODULE", "CAP_SYS_ADMIN")
	dir := fx.bundle(t, []string{"/sbin/testinit"}, func(s *specs.Spec) {
		s.Process.Capabilities = &specs.LinuxCapabilities{Bounding: bounding, Effective: more, Permitted: more}
	})
	c := fx.start(t, runOpts{bundle: dir})
	c.ready()
	const bnd = 0x804e0
	// Only a catch before the exec shows the child's own sets (the exec
	// recomputes them): its exe is then the helper's sealed copy.
	const tries = 200
	for try := 0; try < tries; try++ {
		f := catchExecChild(t, c)
		if len(f) != 6 {
			t.Fatalf("catch: %q", f)
		}
		if !strings.Contains(f[2], "memfd") {
			continue
		}
		eff, err1 := strconv.ParseUint(f[3], 16, 64)
		prm, err2 := strconv.ParseUint(f[5], 16, 64)
		if err1 != nil || err2 != nil || eff&^bnd != 0 || prm&^bnd != 0 {
			t.Errorf("exec's child before its exec: CapEff %s, CapPrm %s; want nothing beyond the bounding set %#x", f[3], f[5], bnd)
		}
		return
	}
	t.Fatalf("none of %d catches came before the exec's child had exec'd: the attempt was not made", tries)
}

// catchExecChild runs testinit's catch beside an exec and returns its
// line's fields: CAUGHT pid exe CapEff Seccomp.
func catchExecChild(t *testing.T, c *container) []string {
	t.Helper()
	watcher, out := execBg(t, nil, c.name, "--", "/sbin/testinit", "catch")
	if _, ok := out.waitFor(func(l string) bool { return l == "CATCH-READY" }, startTimeout); !ok {
		t.Fatalf("the watcher did not start")
	}
	// The watcher is the last pid; the next exec's child is the next.
	if r := ctl(t, "exec", c.name, "--", "true"); r.code != 0 {
		t.Fatalf("exec true: exit %d: %s", r.code, r.stderr)
	}
	line, ok := out.waitFor(func(l string) bool { return strings.HasPrefix(l, "CAUGHT ") || l == "CATCH-TIMEOUT" }, startTimeout)
	_ = watcher.Wait()
	if !ok || !strings.HasPrefix(line, "CAUGHT ") {
		t.Fatalf("the watcher caught nothing: %q", line)
	}
	return strings.Fields(line)
}
