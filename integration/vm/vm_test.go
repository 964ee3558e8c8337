//go:build linux

// Package vm tests containerctl on a real systemd host: a Debian bookworm VM
// (its own kernel, systemd as PID 1, cgroup v2 only) booted once under qemu
// with software emulation, in which container@.service and
// container-NAME.service run containers as NixOS would. The VM's image is
// built once and cached by image.sh; guest.sh runs every check inside, in
// that one boot (and one reboot of the VM, for auto-start), and writes the
// results to a 9p share, which this test reports as one subtest per check.
//
// It is its own package, so that `go test ./integration/ ./integration/vm/`
// runs it beside the rest of the suite instead of after it: qemu creates no
// mount, cgroup or link on this machine, so the suite's check of the host
// at its end is not disturbed by it.
package vm

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"syscall"
	"testing"
	"time"
)

const (
	cacheDir = "/var/cache/containerctl-test/vm"
	// vmTimeout bounds the whole qemu run: two boots of the VM and every
	// check, about 100 s on the idle 2-core CI machine. It stays within
	// the 10 minutes go test gives a package by default, image build
	// included.
	vmTimeout = 7 * time.Minute
)

// checks are guest.sh's checks, in the order it runs them, and what each
// shows.
var checks = []struct{ name, what string }{
	{"cgroup2-only", "the VM's cgroups are v2 only"},
	{"start", "systemctl start container@foo returns once the guest is ready, and the unit is active"},
	{"boot-journal", "the guest's boot messages are in journalctl -u container@foo"},
	{"cgroup", "supervisor and guest below the unit's cgroup, the conf file's limits there, no cgroup outside it"},
	{"monitor", "once the guest is ready, the unit's main process is containerctl-monitor, one thread, the same PID"},
	{"reboot", "a reboot in the guest (exit 133) restarts the unit with a new PID 1"},
	{"crash", "kill -9 of the guest's PID 1 fails the unit, which restarts (Restart=on-failure)"},
	{"stop", "systemctl stop halts the guest through SIGRTMIN+3 and leaves nothing behind"},
	{"private-users", "a unit's default private users (--private-users=pick) on a kernel whose tmpfs cannot be idmapped"},
	{"nix-start", "a NixOS-shaped container (empty root, profile in the store) starts under the template"},
	{"reload", "systemctl reload activates a new profile without a restart"},
	{"hung-stop", "an init that ignores SIGRTMIN+3 is killed by containerctl at its stop timeout, not by systemd"},
	{"imperative", "containerctl create --auto-start, start and stop through the unit, ephemeral with create's default private users"},
	{"autostart", "an enabled container@nix runs again after the VM's reboot"},
}

func integrationMode() bool { return os.Getenv("CONTAINERCTL_INTEGRATION") == "1" }

// require skips the test for a missing prerequisite, or fails it under
// CONTAINERCTL_INTEGRATION=1: a skip must never hide a regression in CI.
func require(t *testing.T, ok bool, format string, args ...any) {
	t.Helper()
	if ok {
		return
	}
	msg := fmt.Sprintf(format, args...)
	if integrationMode() {
		t.Fatal(msg + "\nCONTAINERCTL_INTEGRATION=1, so this is a failure")
	}
	t.Skip(msg)
}

// TestSystemdHost boots the VM once and reports guest.sh's checks.
func TestSystemdHost(t *testing.T) {
	if testing.Short() && !integrationMode() {
		t.Skip("boots a VM under emulation (minutes); not with -short")
	}
	require(t, os.Geteuid() == 0, "the VM tests need root (debootstrap, mkfs, the image's container roots)")
	qemu, err := exec.LookPath("qemu-system-x86_64")
	require(t, err == nil, "qemu-system-x86_64 is missing (make deps installs qemu-system-x86): %v", err)

	image := buildImage(t)
	share := t.TempDir()
	buildBinaries(t, filepath.Join(share, "bin"))
	copyFile(t, "guest.sh", filepath.Join(share, "run.sh"), 0o755)
	writeFile(t, filepath.Join(share, "stage"), "1\n")

	console := filepath.Join(t.TempDir(), "console.log")
	run := bootVM(t, qemu, image, share, console)
	t.Logf("qemu: %v in all; stage 1 runner after %v, stage 2 runner after %v (the VM's reboot)",
		run.took.Round(100*time.Millisecond), run.runner1.Round(100*time.Millisecond), run.runner2.Round(100*time.Millisecond))
	if b, err := os.ReadFile(filepath.Join(share, "timings")); err == nil {
		t.Logf("timings inside the VM (seconds):\n%s", b)
	}

	results := readResults(t, share)
	for _, c := range checks {
		t.Run(c.name, func(t *testing.T) {
			r, ok := results[c.name]
			delete(results, c.name)
			switch {
			case !ok:
				t.Errorf("%s: no result: the run stopped before this check (%v)\n%s", c.what, run.err, run.tail(share, console))
			case !r.ok:
				t.Errorf("%s:\n%s\n%s", c.what, r.detail, evidence(share, c.name))
			default:
				t.Log(r.detail)
			}
		})
	}
	// Checks with no entry above only report failures (restart-journal,
	// autostart-stop).
	for name, r := range results {
		t.Run(name, func(t *testing.T) {
			if !r.ok {
				t.Errorf("%s\n%s", r.detail, evidence(share, name))
			}
		})
	}
	if stage := strings.TrimSpace(readFile(filepath.Join(share, "stage"))); stage != "done" || run.err != nil {
		t.Errorf("the VM's run did not finish (stage %q, qemu: %v)\n%s", stage, run.err, run.tail(share, console))
	}
}

// buildImage returns the cached image's directory, building it first when
// it is missing or image.sh changed (a few minutes).
func buildImage(t *testing.T) string {
	t.Helper()
	start := time.Now()
	cmd := exec.Command("bash", "image.sh", cacheDir)
	var stderr strings.Builder
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	require(t, err == nil, "image.sh: %v\n%s", err, stderr.String())
	if stderr.Len() > 0 {
		t.Logf("image.sh built the image in %v:\n%s", time.Since(start).Round(time.Second), stderr.String())
	}
	return strings.TrimSpace(string(out))
}

// buildBinaries builds what guest.sh installs in the VM: containerctl (or
// copies $CONTAINERCTL_BIN), containerctl-nsenter and containerctl-monitor
// beside it (as package.nix installs them), and hunginit.
func buildBinaries(t *testing.T, dir string) {
	t.Helper()
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	goBin, err := exec.LookPath("go")
	if err != nil {
		goBin = "/usr/local/go/bin/go"
	}
	out, err := exec.Command(goBin, "env", "GOMOD").Output()
	if err != nil {
		t.Fatalf("go env GOMOD: %v", err)
	}
	modRoot := filepath.Dir(strings.TrimSpace(string(out)))
	build := func(name string, args ...string) {
		cmd := exec.Command(args[0], args[1:]...)
		cmd.Dir = modRoot
		cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
		if b, err := cmd.CombinedOutput(); err != nil {
			t.Fatalf("build %s: %v\n%s", name, err, b)
		}
	}
	build("hunginit", goBin, "build", "-o", filepath.Join(dir, "hunginit"), "./integration/vm/hunginit")
	if bin := os.Getenv("CONTAINERCTL_BIN"); bin != "" {
		copyFile(t, bin, filepath.Join(dir, "containerctl"), 0o755)
		for _, h := range []string{"containerctl-nsenter", "containerctl-monitor"} {
			copyFile(t, filepath.Join(filepath.Dir(bin), h), filepath.Join(dir, h), 0o755)
		}
		return
	}
	build("containerctl", goBin, "build", "-trimpath", "-o", filepath.Join(dir, "containerctl"), "./cmd/containerctl")
	gcc, err := exec.LookPath("gcc")
	require(t, err == nil, "gcc is missing (make deps installs it): it builds containerctl-nsenter and containerctl-monitor")
	build("containerctl-nsenter", gcc, "-static", "-Os", "-Wall", "-Werror", "-o", filepath.Join(dir, "containerctl-nsenter"), "runtime/nsenter/helper/nsenter.c")
	build("containerctl-monitor", gcc, "-static", "-Os", "-Wall", "-Werror", "-o", filepath.Join(dir, "containerctl-monitor"), "runtime/monitor/monitor.c")
}

// vmRun is how the VM's run went.
type vmRun struct {
	took, runner1, runner2 time.Duration // qemu's run; when each stage's runner began
	err                    error
}

// bootVM runs qemu until the VM powers off (after guest.sh's two stages)
// or vmTimeout. The disk is opened with snapshot=on: the cached image is
// never written, and each run starts from it; a reboot inside the same qemu
// keeps what the first boot wrote.
func bootVM(t *testing.T, qemu, image, share, console string) vmRun {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), vmTimeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, qemu,
		"-accel", "tcg,thread=multi", "-cpu", "max", "-smp", "2", "-m", "2G",
		"-nic", "none", "-display", "none", "-monitor", "none",
		"-serial", "file:"+console,
		"-kernel", filepath.Join(image, "vmlinuz"), "-initrd", filepath.Join(image, "initrd"),
		"-append", "console=ttyS0 root=/dev/vda rw quiet",
		"-drive", "file="+filepath.Join(image, "disk.img")+",if=virtio,format=raw,snapshot=on",
		"-virtfs", "local,path="+share+",mount_tag=share,security_model=passthrough",
	)
	var out strings.Builder
	cmd.Stdout, cmd.Stderr = &out, &out
	cmd.WaitDelay = 5 * time.Second
	// qemu dies with the test, however it ends: Pdeathsig fires when the
	// thread that started it exits, so that thread is kept until Wait.
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()

	var r vmRun
	start := time.Now()
	if err := cmd.Start(); err != nil {
		t.Fatalf("start qemu: %v", err)
	}
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	tick := time.NewTicker(100 * time.Millisecond)
	defer tick.Stop()
	for {
		select {
		case err := <-done:
			r.took = time.Since(start)
			if ctx.Err() != nil {
				err = fmt.Errorf("killed after %v: %w", vmTimeout, ctx.Err())
			}
			if err != nil {
				r.err = fmt.Errorf("qemu: %w\n%s", err, out.String())
			}
			return r
		case <-tick.C:
			for i, d := range []*time.Duration{&r.runner1, &r.runner2} {
				if *d == 0 && exists(filepath.Join(share, fmt.Sprintf("trace-%d", i+1))) {
					*d = time.Since(start)
				}
			}
		}
	}
}

// tail is what shows where a run stopped: the ends of the console log and
// of guest.sh's traces.
func (r vmRun) tail(share, console string) string {
	var b strings.Builder
	for _, f := range []string{console, filepath.Join(share, "trace-1"), filepath.Join(share, "trace-2")} {
		if s := lastLines(readFile(f), 40); s != "" {
			fmt.Fprintf(&b, "--- last lines of %s:\n%s\n", filepath.Base(f), s)
		}
	}
	return b.String()
}

type result struct {
	ok     bool
	detail string
}

// readResults reads guest.sh's results: "ok NAME DETAIL" or "fail NAME
// DETAIL" lines; a check that fails once has failed.
func readResults(t *testing.T, share string) map[string]result {
	t.Helper()
	m := map[string]result{}
	f, err := os.Open(filepath.Join(share, "results"))
	if errors.Is(err, os.ErrNotExist) {
		return m
	}
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		status, rest, _ := strings.Cut(sc.Text(), " ")
		name, detail, _ := strings.Cut(rest, " ")
		if prev, seen := m[name]; seen && !prev.ok {
			continue
		}
		m[name] = result{ok: status == "ok", detail: detail}
	}
	if err := sc.Err(); err != nil {
		t.Fatal(err)
	}
	return m
}

// evidence is what guest.sh saved for a failed check: the unit's journal
// and state, and the journal of every container's unit in each boot.
func evidence(share, name string) string {
	var b strings.Builder
	if s := readFile(filepath.Join(share, "evidence", name)); s != "" {
		fmt.Fprintf(&b, "--- evidence:\n%s\n", s)
	}
	for _, j := range []string{"journal-1", "journal-2"} {
		if s := lastLines(readFile(filepath.Join(share, j)), 60); s != "" {
			fmt.Fprintf(&b, "--- %s, the containers' units (last lines):\n%s\n", j, s)
		}
	}
	return b.String()
}

func lastLines(s string, n int) string {
	lines := strings.Split(strings.TrimRight(s, "\n"), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}

func readFile(p string) string {
	b, _ := os.ReadFile(p)
	return string(b)
}

func exists(p string) bool {
	_, err := os.Stat(p)
	return err == nil
}

func writeFile(t *testing.T, p, s string) {
	t.Helper()
	if err := os.WriteFile(p, []byte(s), 0o644); err != nil {
		t.Fatal(err)
	}
}

func copyFile(t *testing.T, src, dst string, mode os.FileMode) {
	t.Helper()
	b, err := os.ReadFile(src)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(dst, b, mode); err != nil {
		t.Fatal(err)
	}
}
