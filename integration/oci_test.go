package integration

import (
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"sort"
	"strconv"
	"strings"
	"testing"
	"time"

	specs "github.com/opencontainers/runtime-spec/specs-go"
)

// ociState is containerctl-oci state's JSON.
func ociState(t *testing.T, root, id string) specs.State {
	t.Helper()
	out := runProgram(t, 0, ociBin, "--root", root, "state", id)
	var s specs.State
	if err := json.Unmarshal([]byte(out), &s); err != nil {
		t.Fatalf("state %s: %v: %s", id, err, out)
	}
	return s
}

// TestOCILifecycle drives containerctl-oci by hand, as a shim does: create
// leaves the init waiting and writes the pid file, start runs the process,
// state follows it, exec runs beside it, kill and delete end it, and the
// errors callers match say "does not exist" and "container not running".
// Nothing is left: no record, no cgroup (the suite's host check), no
// process.
func TestOCILifecycle(t *testing.T) {
	fx := newFixture(t)
	dir := fx.bundle(t, []string{"/bin/sh", "-c", "echo started; exec sleep 1000"}, func(s *specs.Spec) {
		s.Linux.CgroupsPath = "/containerctl-oci-test/" + fx.name
	})
	root := filepath.Join(fx.dir, "oci-root")
	pidFile := filepath.Join(fx.dir, "init.pid")
	oci := func(want int, args ...string) string {
		t.Helper()
		return runProgram(t, want, ociBin, append([]string{"--root", root}, args...)...)
	}
	oci(0, "create", "--bundle", dir, "--pid-file", pidFile, fx.name)
	t.Cleanup(func() { _ = runProgramQuiet(ociBin, "--root", root, "delete", "--force", fx.name) })
	b, err := os.ReadFile(pidFile)
	if err != nil {
		t.Fatal(err)
	}
	pid, _ := strconv.Atoi(string(b))
	if s := ociState(t, root, fx.name); s.Status != specs.StateCreated || s.Pid != pid || s.Bundle != dir {
		t.Errorf("state after create = %+v, want created, pid %d, bundle %s", s, pid, dir)
	}
	if exe, _ := os.Readlink(filepath.Join("/proc", strconv.Itoa(pid), "exe")); strings.Contains(exe, "sleep") || strings.Contains(exe, "busybox") {
		t.Errorf("after create the init already runs the process (%s); want it waiting for start", exe)
	}
	oci(0, "start", fx.name)
	if s := ociState(t, root, fx.name); s.Status != specs.StateRunning {
		t.Errorf("state after start = %s, want running", s.Status)
	}
	if out := oci(0, "exec", fx.name, "--", "cat", "/proc/1/cmdline"); !strings.Contains(out, "sleep") {
		t.Errorf("exec cat /proc/1/cmdline = %q, want the container's process", out)
	}
	oci(0, "pause", fx.name)
	if s := ociState(t, root, fx.name); s.Status != "paused" {
		t.Errorf("state after pause = %s, want paused", s.Status)
	}
	if out := oci(1, "pause", fx.name); !strings.Contains(out, "container already paused") {
		t.Errorf("pause of a paused container: %q, want %q", out, "container already paused")
	}
	oci(0, "resume", fx.name)
	if out := oci(1, "resume", fx.name); !strings.Contains(out, "container not paused") {
		t.Errorf("resume of a running container: %q, want %q", out, "container not paused")
	}
	if s := ociState(t, root, fx.name); s.Status != specs.StateRunning {
		t.Errorf("state after resume = %s, want running", s.Status)
	}
	res := filepath.Join(fx.dir, "resources.json")
	if err := os.WriteFile(res, []byte(`{"pids":{"limit":77},"memory":{"limit":33554432}}`), 0o644); err != nil {
		t.Fatal(err)
	}
	oci(0, "update", "--resources", res, fx.name)
	if p, m := hostCgroupFile(t, pid, "pids.max"), hostCgroupFile(t, pid, "memory.limit_in_bytes"); p != "77" || m != "33554432" {
		t.Errorf("after update: pids.max %s, memory limit %s; want 77 and 33554432", p, m)
	}
	if out := oci(1, "update", "--resources", "/dev/null", fx.name); !strings.Contains(out, fx.name) {
		t.Errorf("update with no JSON: %q, want a refusal naming the container", out)
	}
	oci(0, "kill", fx.name, "0") // only asks whether it runs
	if s := ociState(t, root, fx.name); s.Status != specs.StateRunning {
		t.Errorf("state after kill 0 = %s, want running", s.Status)
	}
	oci(0, "kill", fx.name, "KILL")
	waitFor(t, func() bool { return ociState(t, root, fx.name).Status == specs.StateStopped }, "stopped after kill")
	if out := oci(1, "kill", fx.name, "0"); !strings.Contains(out, "container not running") {
		t.Errorf("kill 0 of a stopped container: %q, want %q", out, "container not running")
	}
	if out := oci(1, "kill", fx.name, "TERM"); !strings.Contains(out, "container not running") {
		t.Errorf("kill of a stopped container: %q, want %q", out, "container not running")
	}
	oci(0, "delete", fx.name)
	if out := oci(1, "state", fx.name); !strings.Contains(out, "does not exist") {
		t.Errorf("state after delete: %q, want %q", out, "does not exist")
	}
	// With --log, the error goes to the file, in JSON lines as containerd
	// reads them, and to stderr, as runc's does.
	logFile := filepath.Join(fx.dir, "oci.log")
	if out := oci(1, "--log", logFile, "--log-format", "json", "state", fx.name); !strings.Contains(out, "does not exist") || strings.Contains(out, "{") {
		t.Errorf("state after delete with --log: stderr %q, want the error as text", out)
	}
	var entry struct{ Level, Msg string }
	if b, err := os.ReadFile(logFile); err != nil || json.Unmarshal(b, &entry) != nil || entry.Level != "error" || !strings.Contains(entry.Msg, "does not exist") {
		t.Errorf("--log file: %q (%v), want one JSON line of level error saying %q", b, err, "does not exist")
	}
	if entries, _ := os.ReadDir(root); len(entries) != 0 {
		t.Errorf("--root %s after delete holds %v, want nothing", root, entries)
	}
	if alive(pid) {
		t.Errorf("init %d alive after delete", pid)
	}
}

// TestOCIDeleteRefusesRunning: delete of a running container is refused
// (the container keeps running) unless --force, which kills it.
func TestOCIDeleteRefusesRunning(t *testing.T) {
	fx := newFixture(t)
	dir := fx.bundle(t, []string{"/bin/sleep", "1000"}, func(s *specs.Spec) { s.Linux.CgroupsPath = "/containerctl-oci-test/" + fx.name })
	root := filepath.Join(fx.dir, "oci-root")
	runProgram(t, 0, ociBin, "--root", root, "create", "--bundle", dir, fx.name)
	runProgram(t, 0, ociBin, "--root", root, "start", fx.name)
	if out := runProgram(t, 1, ociBin, "--root", root, "delete", fx.name); !strings.Contains(out, "not stopped") {
		t.Errorf("delete of a running container: %q, want a refusal", out)
	}
	if s := ociState(t, root, fx.name); s.Status != specs.StateRunning {
		t.Fatalf("after a refused delete: %s, want running", s.Status)
	}
	pid := ociState(t, root, fx.name).Pid
	runProgram(t, 0, ociBin, "--root", root, "delete", "--force", fx.name)
	if waitProcs(5*time.Second, func(p procInfo) bool { return p.pid == pid }) != nil {
		t.Errorf("init %d survived delete --force", pid)
	}
}

func runProgramQuiet(name string, args ...string) error {
	return exec.Command(name, args...).Run()
}

func waitFor(t *testing.T, ok func() bool, what string) {
	t.Helper()
	for deadline := time.Now().Add(10 * time.Second); !ok(); time.Sleep(20 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("not %s within 10s", what)
		}
	}
}

// TestContainerd: containerd's own client runs containers through
// containerctl-oci (its runc binary): a command's output and exit status,
// a long-running task that is listed, exec'd into, paused, killed and
// deleted, and a terminal through the console socket that the container
// sees as its own /dev/pts/0.
func TestContainerd(t *testing.T) {
	image := ociImage(t)
	c := startContainerd(t)
	c.ctr(0, "image", "import", image)
	name := containerName(t)
	if out := c.ctr(3, "run", "--rm", "--runc-binary", ociBin, testImage, name, "/bin/sh", "-c", "echo hi; exit 3"); out != "hi\n" {
		t.Errorf("ctr run: output %q, want %q", out, "hi\n")
	}
	long := name + "-long"
	c.ctr(0, "run", "-d", "--runc-binary", ociBin, testImage, long, "sleep", "1000")
	if out := c.ctr(0, "task", "ls"); !strings.Contains(out, long) || !strings.Contains(out, "RUNNING") {
		t.Errorf("ctr task ls:\n%s\nwant %s running", out, long)
	}
	if out := c.ctr(0, "task", "exec", "--exec-id", "e1", long, "/bin/sh", "-c", "echo in $(cat /proc/1/cmdline | tr -d '\\0')"); !strings.Contains(out, "in sleep1000") {
		t.Errorf("ctr task exec: %q, want the task's PID 1 seen from the exec", out)
	}
	c.ctr(0, "task", "pause", long)
	if out := c.ctr(0, "task", "ls"); !strings.Contains(out, "PAUSED") {
		t.Errorf("ctr task ls after pause:\n%s\nwant PAUSED", out)
	}
	c.ctr(0, "task", "resume", long)
	c.ctr(0, "task", "kill", "-s", "SIGKILL", long)
	waitFor(t, func() bool { return strings.Contains(c.ctr(0, "task", "ls"), "STOPPED") }, "STOPPED after kill")
	c.ctr(0, "task", "delete", long)
	c.ctr(0, "container", "delete", long)

	term := startProgramOnPty(t, nil, "ctr", "-a", c.sock, "-n", "test", "run", "-t", "--rm", "--runc-binary", ociBin, testImage, name+"-tty",
		"/bin/sh", "-c", "tty; echo done")
	term.expect("/dev/pts/0", 30*time.Second)
	term.expect("done", 10*time.Second)
	select {
	case <-term.done:
	case <-time.After(15 * time.Second):
		t.Errorf("ctr run -t: still running 15s after its command ended")
	}
}

// TestPodman: podman runs containers through containerctl-oci (its
// --runtime, with conmon): a command's output and status, and a detached
// container that is exec'd into, stopped and removed; from inside, PID 1
// is the command, the hostname podman set, and namespaces of its own.
func TestPodman(t *testing.T) {
	image := ociImage(t)
	p := newPodman(t)
	p.run(0, "load", "-i", image)
	// Root here lacks CAP_SYS_RESOURCE: podman's default rlimits cannot be
	// set, so they are given.
	limits := []string{"--network", "host", "--ulimit", "nofile=1024:1024", "--ulimit", "nproc=1000:1000"}
	name := containerName(t)
	out := p.run(4, append(append([]string{"run", "--rm", "--hostname", "pod-test"}, limits...), testImage,
		"/bin/sh", "-c", "echo hi; hostname; cat /proc/1/cmdline; echo; readlink /proc/1/ns/pid; readlink /proc/1/ns/mnt; exit 4")...)
	lines := strings.Split(strings.TrimSpace(out), "\n")
	hostPID, _ := os.Readlink("/proc/self/ns/pid")
	hostMnt, _ := os.Readlink("/proc/self/ns/mnt")
	if len(lines) != 5 || lines[0] != "hi" || lines[1] != "pod-test" || !strings.HasPrefix(lines[2], "/bin/sh") ||
		lines[3] == hostPID || lines[4] == hostMnt {
		t.Errorf("podman run: output %q; want hi, the hostname, the command as PID 1 and namespaces of its own", out)
	}
	// podman's --tmpfs copies the directory up (tmpcopyup) by default.
	if out := p.run(0, append(append([]string{"run", "--rm", "--tmpfs", "/bin:rw,exec,size=16m"}, limits...), testImage, "/bin/ls", "/bin")...); !strings.Contains(out, "busybox") {
		t.Errorf("podman run --tmpfs /bin: ls /bin = %q, want the image's /bin copied up", out)
	}
	p.run(0, append(append([]string{"run", "-d", "--name", name}, limits...), testImage, "sleep", "1000")...)
	if out := p.run(0, "exec", name, "cat", "/proc/1/cmdline"); !strings.HasPrefix(out, "sleep") {
		t.Errorf("podman exec: %q, want the container's PID 1", out)
	}
	p.run(0, "stop", "-t", "1", name)
	p.run(0, "rm", name)
	if out := p.run(0, "ps", "-a", "-q"); strings.TrimSpace(out) != "" {
		t.Errorf("podman ps -a after rm: %q, want none", out)
	}
}

// answers are what a container's init reports about itself, and what the
// host sees of its cgroup.
type answers map[string]string

// runtimeAnswers runs the bundle with an OCI runtime (create, start),
// collects the init's report and the host's view of its limits, and
// deletes it.
func runtimeAnswers(t *testing.T, runtime, root, id, bundle string) answers {
	t.Helper()
	out := filepath.Join(t.TempDir(), "out")
	f, err := os.Create(out)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	cmd := exec.Command(runtime, "--root", root, "create", "--bundle", bundle, id)
	cmd.Stdout, cmd.Stderr = f, f
	if err := cmd.Run(); err != nil {
		b, _ := os.ReadFile(out)
		t.Fatalf("%s create: %v: %s", runtime, err, b)
	}
	t.Cleanup(func() { _ = exec.Command(runtime, "--root", root, "delete", "--force", id).Run() })
	runProgram(t, 0, runtime, "--root", root, "start", id)
	var report string
	waitFor(t, func() bool {
		b, _ := os.ReadFile(out)
		report = string(b)
		return strings.Contains(report, "END\n")
	}, runtime+"'s container reporting")
	a := answers{}
	hostNS := map[string]string{}
	for _, line := range strings.Split(report, "\n") {
		k, v, ok := strings.Cut(line, "=")
		if !ok {
			continue
		}
		if ns, isNS := strings.CutPrefix(k, "ns:"); isNS {
			hostNS[ns] = v
			host, _ := os.Readlink("/proc/self/ns/" + ns)
			v = map[bool]string{true: "the host's", false: "its own"}[v == host]
		}
		a[k] = v
	}
	var state specs.State
	if err := json.Unmarshal([]byte(runProgram(t, 0, runtime, "--root", root, "state", id)), &state); err != nil {
		t.Fatal(err)
	}
	for k, file := range map[string]string{"memory limit": "memory.limit_in_bytes", "pids limit": "pids.max"} {
		a[k] = hostCgroupFile(t, state.Pid, file)
	}
	runProgram(t, 0, runtime, "--root", root, "delete", "--force", id)
	return a
}

// hostCgroupFile reads a v1 or cgroup2 limit file of pid's cgroup.
func hostCgroupFile(t *testing.T, pid int, file string) string {
	t.Helper()
	ctrl, _, _ := strings.Cut(file, ".")
	b, err := os.ReadFile(filepath.Join("/proc", strconv.Itoa(pid), "cgroup"))
	if err != nil {
		t.Fatal(err)
	}
	for _, line := range strings.Split(string(b), "\n") {
		parts := strings.SplitN(line, ":", 3)
		if len(parts) != 3 || !slices.Contains(strings.Split(parts[1], ","), ctrl) {
			continue
		}
		// The cgroup the init is in, or above it (the container's, where
		// the limits are, when the init sits in a leaf below).
		for dir := parts[2]; ; dir = filepath.Dir(dir) {
			if v, err := os.ReadFile(filepath.Join("/sys/fs/cgroup", ctrl, dir, file)); err == nil && strings.TrimSpace(string(v)) != "max" &&
				strings.TrimSpace(string(v)) != "9223372036854771712" {
				return strings.TrimSpace(string(v))
			}
			if dir == "/" {
				break
			}
		}
	}
	return "(none)"
}

// TestOCIMatchesRunc: the same bundle, run by containerctl-oci and by
// runc, gives the same answers from inside (namespaces, capabilities,
// identity, hostname, the spec's mounts) and from the host (the cgroup
// limits). The table is printed.
func TestOCIMatchesRunc(t *testing.T) {
	runc := requireProgram(t, "runc")
	fx := newFixture(t)
	for _, a := range []string{"grep", "id", "cut"} {
		_ = os.Symlink("busybox", filepath.Join(fx.root, "bin", a))
	}
	script := `for ns in mnt pid uts ipc net cgroup user; do echo "ns:$ns=$(readlink /proc/self/ns/$ns)"; done
grep -E '^Cap(Inh|Prm|Eff|Bnd|Amb)' /proc/self/status | tr -d '\t' | sed 's/:/=/'
echo "id=$(id)"; echo "hostname=$(hostname)"; echo "pid=$$"
for m in /proc /dev /dev/pts /dev/shm /dev/mqueue /sys /srv/data; do grep -q " $m " /proc/self/mountinfo && echo "mount:$m=yes" || echo "mount:$m=no"; done
echo END; exec sleep 1000`
	data := t.TempDir()
	limit, pids := int64(64<<20), int64(100)
	dir := fx.bundle(t, []string{"/bin/sh", "-c", script}, func(s *specs.Spec) {
		s.Hostname = "compared"
		s.Mounts = append(s.Mounts, specs.Mount{Destination: "/srv/data", Type: "bind", Source: data, Options: []string{"rbind", "ro"}})
		s.Linux.Resources.Memory = &specs.LinuxMemory{Limit: &limit}
		s.Linux.Resources.Pids = &specs.LinuxPids{Limit: &pids}
		s.Linux.CgroupsPath = "/containerctl-oci-test/" + fx.name
		// runc refuses a capability the host's bounding set lacks (here
		// CAP_SYS_RESOURCE); containerctl leaves it out.
		c := s.Process.Capabilities
		for _, set := range []*[]string{&c.Bounding, &c.Effective, &c.Permitted} {
			*set = slices.DeleteFunc(*set, func(n string) bool { return n == "CAP_SYS_RESOURCE" })
		}
	})
	// runc leaves the parents of a cgroupsPath behind.
	t.Cleanup(func() {
		dirs, _ := filepath.Glob("/sys/fs/cgroup/*/containerctl-oci-test")
		for _, d := range dirs {
			_ = os.Remove(d)
		}
	})
	mustMkdir(t, filepath.Join(fx.root, "srv", "data"))
	ours := runtimeAnswers(t, ociBin, filepath.Join(fx.dir, "oci-root"), fx.name, dir)
	theirs := runtimeAnswers(t, runc, filepath.Join(fx.dir, "runc-root"), fx.name, dir)
	var keys []string
	for k := range theirs {
		keys = append(keys, k)
	}
	for k := range ours {
		if _, ok := theirs[k]; !ok {
			keys = append(keys, k)
		}
	}
	sort.Strings(keys)
	table := "\n  what                     containerctl-oci           runc\n"
	for _, k := range keys {
		table += fmtRow(k, ours[k], theirs[k])
		if ours[k] != theirs[k] {
			t.Errorf("%s: containerctl-oci %q, runc %q", k, ours[k], theirs[k])
		}
	}
	t.Log(table)
}

func fmtRow(k, a, b string) string {
	pad := func(s string, n int) string {
		for len(s) < n {
			s += " "
		}
		return s
	}
	return "  " + pad(k, 25) + pad(a, 27) + b + "\n"
}

// TestOCIHooks: every hook of the runtime spec runs, in order, with the
// state on stdin: createRuntime, createContainer (in the container's mount
// namespace, before the pivot), startContainer (in the container, its path
// the container's), poststart, and poststop after delete. A failing
// createRuntime hook fails create and leaves nothing.
func TestOCIHooks(t *testing.T) {
	fx := newFixture(t)
	log := filepath.Join(fx.dir, "hooks.log")
	hook := func(name string) specs.Hook {
		script := filepath.Join(fx.dir, name+".sh")
		body := "#!/bin/bash\nstate=$(cat)\necho \"" + name + " mnt=$(readlink /proc/self/ns/mnt) $state\" >> " + log + "\n"
		if err := os.WriteFile(script, []byte(body), 0o755); err != nil {
			t.Fatal(err)
		}
		return specs.Hook{Path: script}
	}
	// startContainer's path is the container's: a script in its root.
	inside := "#!/bin/sh\ncat > /run/start-hook-state\n"
	if err := os.WriteFile(filepath.Join(fx.root, "start-hook"), []byte(inside), 0o755); err != nil {
		t.Fatal(err)
	}
	dir := fx.bundle(t, []string{"/bin/sleep", "1000"}, func(s *specs.Spec) {
		s.Linux.CgroupsPath = "/containerctl-oci-test/" + fx.name
		s.Hooks = &specs.Hooks{
			CreateRuntime:   []specs.Hook{hook("createRuntime")},
			CreateContainer: []specs.Hook{hook("createContainer")},
			StartContainer:  []specs.Hook{{Path: "/start-hook"}},
			// A poststart or poststop hook that fails is a warning, and
			// the hooks after it run (the spec's lifecycle).
			Poststart: []specs.Hook{{Path: "/bin/false"}, hook("poststart")},
			Poststop:  []specs.Hook{{Path: "/bin/false"}, hook("poststop")},
		}
	})
	root := filepath.Join(fx.dir, "oci-root")
	runProgram(t, 0, ociBin, "--root", root, "create", "--bundle", dir, fx.name)
	t.Cleanup(func() { _ = runProgramQuiet(ociBin, "--root", root, "delete", "--force", fx.name) })
	pid := ociState(t, root, fx.name).Pid
	if out := runProgram(t, 0, ociBin, "--root", root, "start", fx.name); !strings.Contains(out, "warning: "+fx.name+": poststart hook /bin/false") {
		t.Errorf("start with a failing poststart hook: %q, want a warning naming it", out)
	}
	if st := ociState(t, root, fx.name); st.Status != specs.StateRunning {
		t.Errorf("after start: status %s, want running", st.Status)
	}
	if out := runProgram(t, 0, ociBin, "--root", root, "exec", fx.name, "--", "cat", "/run/start-hook-state"); !strings.Contains(out, `"id":"`+fx.name+`"`) {
		t.Errorf("startContainer hook's state inside: %q, want the state JSON", out)
	}
	if out := runProgram(t, 0, ociBin, "--root", root, "delete", "--force", fx.name); !strings.Contains(out, "warning: "+fx.name+": poststop hook /bin/false") {
		t.Errorf("delete with a failing poststop hook: %q, want a warning naming it", out)
	}
	b, _ := os.ReadFile(log)
	lines := nonEmptyLines(string(b))
	hostMnt, _ := os.Readlink("/proc/self/ns/mnt")
	want := []string{"createRuntime", "createContainer", "poststart", "poststop"}
	if len(lines) != len(want) {
		t.Fatalf("hooks ran: %q, want %v in order", lines, want)
	}
	for i, w := range want {
		l := lines[i]
		if !strings.HasPrefix(l, w+" ") || !strings.Contains(l, `"id":"`+fx.name+`"`) {
			t.Errorf("hook %d: %q, want %s with the state", i, l, w)
		}
		inContainer := !strings.Contains(l, "mnt="+hostMnt+" ")
		if inContainer != (w == "createContainer") {
			t.Errorf("%s ran in the container's mount namespace: %v (%q)", w, inContainer, l)
		}
		status := map[string]string{"createRuntime": "creating", "createContainer": "creating", "poststart": "running", "poststop": "stopped"}[w]
		if !strings.Contains(l, `"status":"`+status+`"`) {
			t.Errorf("%s's state %q, want the status %s", w, l, status)
		}
		if w != "poststop" && !strings.Contains(l, `"pid":`+strconv.Itoa(pid)) {
			t.Errorf("%s's state %q lacks the init's pid %d", w, l, pid)
		}
	}

	// A root that is not there: refused by name, nothing is left.
	noRoot := fx.bundle(t, []string{"/bin/true"}, func(s *specs.Spec) { s.Root.Path = filepath.Join(fx.dir, "no-root") })
	if out := runProgram(t, 1, ociBin, "--root", root, "create", "--bundle", noRoot, fx.name); !oneLineNaming(out, fx.name, "root.path "+filepath.Join(fx.dir, "no-root")+": no such file or directory") {
		t.Errorf("create with a missing root: %q, want one line naming root.path", out)
	}
	if entries, _ := os.ReadDir(root); len(entries) != 0 {
		t.Errorf("--root after a create without a root holds %v, want nothing", entries)
	}

	// A createRuntime hook that fails: create fails, nothing is left.
	failing := fx.bundle(t, []string{"/bin/true"}, func(s *specs.Spec) {
		s.Linux.CgroupsPath = "/containerctl-oci-test/" + fx.name
		s.Hooks = &specs.Hooks{CreateRuntime: []specs.Hook{{Path: "/bin/false"}}}
	})
	if out := runProgram(t, 1, ociBin, "--root", root, "create", "--bundle", failing, fx.name); !strings.Contains(out, "createRuntime hook") {
		t.Errorf("create with a failing hook: %q, want the hook named", out)
	}
	if entries, _ := os.ReadDir(root); len(entries) != 0 {
		t.Errorf("--root after a failed create holds %v, want nothing", entries)
	}
}

// TestOCIExecProcess: an exec's --process is executed whole, as runc's:
// its user, capability sets, noNewPrivileges, rlimits and umask, seen from
// inside; it needs no CAP_SETUID or CAP_SETGID in the container's bounding
// set to take its user; and it may not reach past that bounding set.
func TestOCIExecProcess(t *testing.T) {
	fx := newFixture(t)
	for _, a := range []string{"id", "grep"} {
		_ = os.Symlink("busybox", filepath.Join(fx.root, "bin", a))
	}
	// Neither CAP_SETUID nor CAP_SETGID: the exec must take its user before
	// it gives up what the container lacks.
	bounding := []string{"CAP_KILL", "CAP_NET_BIND_SERVICE", "CAP_SYS_ADMIN"}
	dir := fx.bundle(t, []string{"/bin/sleep", "1000"}, func(s *specs.Spec) {
		s.Linux.CgroupsPath = "/containerctl-oci-test/" + fx.name
		s.Process.Capabilities = &specs.LinuxCapabilities{Bounding: bounding, Effective: bounding, Permitted: bounding}
		s.Process.NoNewPrivileges = false
	})
	root := filepath.Join(fx.dir, "oci-root")
	oci := func(want int, args ...string) string {
		t.Helper()
		return runProgram(t, want, ociBin, append([]string{"--root", root}, args...)...)
	}
	oci(0, "create", "--bundle", dir, fx.name)
	t.Cleanup(func() { _ = runProgramQuiet(ociBin, "--root", root, "delete", "--force", fx.name) })
	oci(0, "start", fx.name)
	if out := oci(0, "exec", fx.name, "--", "id"); !strings.Contains(out, "uid=0 gid=0") {
		t.Errorf("exec id in a container without CAP_SETGID: %q, want root", out)
	}
	process := func(p specs.Process) string {
		p.Cwd, p.Env = "/", []string{"PATH=/bin"}
		b, err := json.Marshal(&p)
		if err != nil {
			t.Fatal(err)
		}
		f := filepath.Join(fx.dir, "process.json")
		if err := os.WriteFile(f, b, 0o644); err != nil {
			t.Fatal(err)
		}
		return f
	}
	umask := uint32(0o027)
	script := "id; umask; ulimit -Sn; ulimit -Hn; grep -E '^(Cap|NoNewPrivs)' /proc/self/status"
	out := oci(0, "exec", "--process", process(specs.Process{
		Args: []string{"/bin/sh", "-c", script},
		User: specs.User{UID: 1000, GID: 1001, AdditionalGids: []uint32{5}, Umask: &umask},
		// CAP_NET_BIND_SERVICE (bit 10) kept as ambient by the non-root
		// user; CAP_SYS_ADMIN left out of every set.
		Capabilities: &specs.LinuxCapabilities{
			Bounding: []string{"CAP_NET_BIND_SERVICE", "CAP_KILL"}, Permitted: []string{"CAP_NET_BIND_SERVICE"},
			Effective: []string{"CAP_NET_BIND_SERVICE"}, Inheritable: []string{"CAP_NET_BIND_SERVICE"}, Ambient: []string{"CAP_NET_BIND_SERVICE"},
		},
		NoNewPrivileges: true,
		Rlimits:         []specs.POSIXRlimit{{Type: "RLIMIT_NOFILE", Soft: 64, Hard: 128}},
	}), fx.name)
	for _, want := range []string{
		"uid=1000 gid=1001 groups=5\n", "\n0027\n", "\n64\n128\n",
		"CapInh:\t0000000000000400\nCapPrm:\t0000000000000400\nCapEff:\t0000000000000400\nCapBnd:\t0000000000000420\nCapAmb:\t0000000000000400\n",
		"NoNewPrivs:\t1\n",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("exec --process: want %q in the output:\n%s", want, out)
		}
	}
	// Empty sets: root gets no capability.
	if out := oci(0, "exec", "--process", process(specs.Process{Args: []string{"grep", "^CapEff", "/proc/self/status"}, Capabilities: &specs.LinuxCapabilities{}}), fx.name); !strings.Contains(out, "CapEff:\t0000000000000000\n") {
		t.Errorf("exec --process with no capabilities: %q, want none effective", out)
	}
	if out := oci(1, "exec", "--process", process(specs.Process{Args: []string{"true"}, Capabilities: &specs.LinuxCapabilities{Bounding: []string{"CAP_SYS_PTRACE"}}}), fx.name); !oneLineNaming(out, fx.name, "CAP_SYS_PTRACE is not in the container's bounding set") {
		t.Errorf("exec --process beyond the bounding set: %q, want a refusal naming CAP_SYS_PTRACE", out)
	}

	// Detached execs (containerd's shim uses them for every exec, probes
	// included) leave their cgroup leaves for nobody waits for them: the
	// next exec removes the empty ones older than runtime's sweep age,
	// and keeps one still in use.
	pid := ociState(t, root, fx.name).Pid
	leaves := func() []string {
		t.Helper()
		entries, err := os.ReadDir(filepath.Join(cgroupDirOf(t, pid), ".."))
		if err != nil {
			t.Fatal(err)
		}
		var names []string
		for _, e := range entries {
			if e.IsDir() && strings.HasPrefix(e.Name(), "exec-") {
				names = append(names, e.Name())
			}
		}
		return names
	}
	for range 3 {
		oci(0, "exec", "--detach", fx.name, "--", "true")
	}
	oci(0, "exec", "--detach", fx.name, "--", "sleep", "1000")
	if n := len(leaves()); n != 4 {
		t.Fatalf("after four detached execs: %d exec leaves, want 4", n)
	}
	time.Sleep(6 * time.Second) // past the sweep age (5 s)
	oci(0, "exec", fx.name, "--", "true")
	if n := leaves(); len(n) != 1 {
		t.Errorf("after the next exec: exec leaves %v, want only the running sleep's", n)
	}
}

// cgroupDirOf is the cgroup2 directory of process pid on the host.
func cgroupDirOf(t *testing.T, pid int) string {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("/proc", strconv.Itoa(pid), "cgroup"))
	if err != nil {
		t.Fatal(err)
	}
	for _, line := range strings.Split(string(b), "\n") {
		if rest, ok := strings.CutPrefix(line, "0::"); ok {
			return filepath.Join(unifiedMount(t), rest)
		}
	}
	t.Fatalf("process %d has no cgroup2 cgroup:\n%s", pid, b)
	return ""
}
