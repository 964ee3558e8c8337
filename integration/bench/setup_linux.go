//go:build linux

package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"sort"
	"strconv"
	"strings"
	"time"

	specs "github.com/opencontainers/runtime-spec/specs-go"
	"github.com/sirupsen/logrus"
	"golang.org/x/sys/unix"
)

// packages are the Debian packages of the peers and of the fixtures.
var packages = map[string]string{
	"systemd-container": "systemd-nspawn",
	"crun":              "crun",
	"runc":              "runc",
	"containerd":        "containerd",
	"bubblewrap":        "bwrap",
	"busybox-static":    "busybox",
	"util-linux":        "unshare",
	"debootstrap":       "debootstrap",
}

// ensurePackages installs those of the packages whose command is missing.
func ensurePackages() error {
	var missing []string
	for pkg, cmd := range packages {
		if _, err := exec.LookPath(cmd); err != nil {
			missing = append(missing, pkg)
		}
	}
	if len(missing) == 0 {
		return nil
	}
	sort.Strings(missing)
	logrus.Infof("installing %s", strings.Join(missing, " "))
	install := func() error {
		cmd := exec.Command("apt-get", append([]string{"install", "-y", "-qq", "--no-install-recommends"}, missing...)...)
		cmd.Env = append(os.Environ(), "DEBIAN_FRONTEND=noninteractive")
		out, err := cmd.CombinedOutput()
		if err != nil {
			return fmt.Errorf("apt-get install %s: %w: %s", strings.Join(missing, " "), err, lastLines(out, 5))
		}
		return nil
	}
	if install() == nil {
		return nil
	}
	// The package lists may be missing or stale on a new machine.
	if out, err := exec.Command("apt-get", "update", "-qq").CombinedOutput(); err != nil {
		return fmt.Errorf("apt-get update: %w: %s", err, lastLines(out, 5))
	}
	return install()
}

// busyboxRoot makes (once) the busybox root of the start and scale sections
// under dir: busybox and a few links to it, the mount points, an
// etc/os-release (so that containerctl, which writes one when missing, never
// writes into a root that containers share) and a /usr, without which
// systemd-nspawn refuses a directory.
func busyboxRoot(dir string) (string, error) {
	root := filepath.Join(dir, "busybox")
	if _, err := os.Stat(filepath.Join(root, ".complete")); err == nil {
		return root, nil
	}
	bb, err := exec.LookPath("busybox")
	if err != nil {
		return "", fmt.Errorf("busybox root: %w (package busybox-static)", err)
	}
	if out, err := exec.Command("file", "-L", bb).Output(); err == nil && strings.Contains(string(out), "dynamically linked") {
		return "", fmt.Errorf("busybox root: %s is dynamically linked; install busybox-static", bb)
	}
	if err := os.RemoveAll(root); err != nil {
		return "", err
	}
	for _, d := range []string{"bin", "usr", "etc", "proc", "sys", "dev", "run", "tmp", "var"} {
		if err := os.MkdirAll(filepath.Join(root, d), 0o755); err != nil {
			return "", err
		}
	}
	data, err := os.ReadFile(bb)
	if err != nil {
		return "", err
	}
	if err := os.WriteFile(filepath.Join(root, "bin/busybox"), data, 0o755); err != nil {
		return "", err
	}
	for _, c := range []string{"sh", "true", "echo", "sleep", "cat", "ls", "mount", "ps", "hostname"} {
		if err := os.Symlink("busybox", filepath.Join(root, "bin", c)); err != nil {
			return "", err
		}
	}
	files := map[string]string{
		"etc/os-release": "NAME=busybox\nID=busybox\n",
		"etc/passwd":     "root:x:0:0:root:/:/bin/sh\n",
		"etc/group":      "root:x:0:\n",
		".complete":      "",
	}
	for _, f := range []string{"etc/os-release", "etc/passwd", "etc/group", ".complete"} {
		if err := os.WriteFile(filepath.Join(root, f), []byte(files[f]), 0o644); err != nil {
			return "", err
		}
	}
	return root, nil
}

// copyTree makes dst a copy of src with hard links for the files: a root
// of its own per container (systemd-nspawn locks the directory it runs)
// that costs almost no disk.
func copyTree(src, dst string) error {
	return filepath.WalkDir(src, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, err := filepath.Rel(src, p)
		if err != nil {
			return err
		}
		t := filepath.Join(dst, rel)
		switch {
		case d.IsDir():
			return os.MkdirAll(t, 0o755)
		case d.Type()&fs.ModeSymlink != 0:
			l, err := os.Readlink(p)
			if err != nil {
				return err
			}
			return os.Symlink(l, t)
		default:
			return os.Link(p, t)
		}
	})
}

// ociBundle writes the bundle that crun and runc run: the busybox root,
// the namespaces of a containerctl container (mount, PID, UTS, IPC; the
// host's network), and the mounts of runc's default spec (/proc, /dev with
// devpts, shm and mqueue, /sys, /sys/fs/cgroup).
func ociBundle(dir, root string, args []string) error {
	spec := &specs.Spec{
		Version:  "1.0.2", // crun 1.8 refuses versions it does not know (runtime-spec 1.3)
		Hostname: "bench",
		Root:     &specs.Root{Path: root},
		Process: &specs.Process{
			Args: args,
			Env:  []string{"PATH=/usr/sbin:/usr/bin:/sbin:/bin", "TERM=xterm"},
			Cwd:  "/",
			Capabilities: &specs.LinuxCapabilities{
				Bounding:  defaultCaps,
				Effective: defaultCaps,
				Permitted: defaultCaps,
			},
			NoNewPrivileges: true,
		},
		Mounts: []specs.Mount{
			{Destination: "/proc", Type: "proc", Source: "proc"},
			{Destination: "/dev", Type: "tmpfs", Source: "tmpfs", Options: []string{"nosuid", "strictatime", "mode=755", "size=65536k"}},
			{Destination: "/dev/pts", Type: "devpts", Source: "devpts", Options: []string{"nosuid", "noexec", "newinstance", "ptmxmode=0666", "mode=0620"}},
			{Destination: "/dev/shm", Type: "tmpfs", Source: "shm", Options: []string{"nosuid", "noexec", "nodev", "mode=1777", "size=65536k"}},
			{Destination: "/dev/mqueue", Type: "mqueue", Source: "mqueue", Options: []string{"nosuid", "noexec", "nodev"}},
			{Destination: "/sys", Type: "sysfs", Source: "sysfs", Options: []string{"nosuid", "noexec", "nodev", "ro"}},
			{Destination: "/sys/fs/cgroup", Type: "cgroup", Source: "cgroup", Options: []string{"nosuid", "noexec", "nodev", "relatime", "ro"}},
		},
		Linux: &specs.Linux{
			Namespaces: []specs.LinuxNamespace{
				{Type: specs.PIDNamespace}, {Type: specs.IPCNamespace}, {Type: specs.UTSNamespace}, {Type: specs.MountNamespace},
			},
			MaskedPaths: []string{
				"/proc/acpi", "/proc/asound", "/proc/kcore", "/proc/keys", "/proc/latency_stats", "/proc/timer_list",
				"/proc/timer_stats", "/proc/sched_debug", "/sys/firmware", "/proc/scsi",
			},
			ReadonlyPaths: []string{"/proc/bus", "/proc/fs", "/proc/irq", "/proc/sys", "/proc/sysrq-trigger"},
		},
	}
	data, err := json.MarshalIndent(spec, "", "\t")
	if err != nil {
		return err
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	return os.WriteFile(filepath.Join(dir, "config.json"), data, 0o644)
}

var defaultCaps = []string{"CAP_AUDIT_WRITE", "CAP_KILL", "CAP_NET_BIND_SERVICE"}

// debianRoot runs the fixture script, which builds the root once and
// prints its path.
func debianRoot(ctx context.Context, cfg *config) (string, error) {
	cmd := exec.CommandContext(ctx, "bash", cfg.debianFix, cfg.debianRoot)
	cmd.Stderr = os.Stderr
	out, err := cmd.Output()
	if err != nil {
		return "", fmt.Errorf("debian root: %s: %w", cfg.debianFix, err)
	}
	return strings.TrimSpace(string(out)), nil
}

func describeHost(bin string) map[string]string {
	h := map[string]string{"cpus": strconv.Itoa(runtime.NumCPU()), "go": runtime.Version()}
	var u unix.Utsname
	if unix.Uname(&u) == nil {
		h["kernel"] = unix.ByteSliceToString(u.Release[:])
	}
	if data, err := os.ReadFile("/proc/cpuinfo"); err == nil {
		for _, l := range strings.Split(string(data), "\n") {
			if k, v, ok := strings.Cut(l, ":"); ok && strings.TrimSpace(k) == "model name" {
				h["cpu"] = strings.TrimSpace(v)
				break
			}
		}
	}
	h["cgroups"] = cgroupMode()
	first := func(name string, args ...string) string {
		out, err := exec.Command(name, args...).CombinedOutput()
		if err != nil {
			return ""
		}
		l, _, _ := strings.Cut(strings.TrimSpace(string(out)), "\n")
		return l
	}
	h["containerctl"] = bin
	if v := first("git", "-C", filepath.Dir(bin), "describe", "--always", "--dirty"); v != "" {
		h["containerctl"] = "git " + v
	}
	h["crun"] = strings.TrimPrefix(first("crun", "--version"), "crun version ")
	h["runc"] = strings.TrimPrefix(first("runc", "--version"), "runc version ")
	h["containerd"] = strings.TrimPrefix(first("containerd", "--version"), "containerd github.com/containerd/containerd ")
	h["systemd-nspawn"] = first("systemd-nspawn", "--version")
	h["bwrap"] = strings.TrimPrefix(first("bwrap", "--version"), "bubblewrap ")
	h["unshare"] = strings.TrimPrefix(first("unshare", "--version"), "unshare from ")
	return h
}

func cgroupMode() string {
	var st unix.Statfs_t
	if unix.Statfs("/sys/fs/cgroup", &st) == nil && st.Type == unix.CGROUP2_SUPER_MAGIC {
		return "v2"
	}
	if unix.Statfs("/sys/fs/cgroup/unified", &st) == nil && st.Type == unix.CGROUP2_SUPER_MAGIC {
		return "hybrid (v1 controllers, cgroup2 at /sys/fs/cgroup/unified)"
	}
	return "v1"
}

// hostState is what a run must leave as it found it. Processes are checked
// apart: the harness is a child subreaper (main), so anything that one of
// its commands left running is reparented to it and found by leftovers.
type hostState struct {
	mounts  []string // mount points of the host's mount namespace
	cgroups []string // cgroup directories, two levels deep
	records []string // /run/containerctl
}

func snapshotHost() (*hostState, error) {
	h := &hostState{}
	data, err := os.ReadFile("/proc/self/mountinfo")
	if err != nil {
		return nil, err
	}
	for _, l := range strings.Split(strings.TrimSpace(string(data)), "\n") {
		if f := strings.Fields(l); len(f) > 4 {
			h.mounts = append(h.mounts, f[4])
		}
	}
	for _, pat := range []string{"/sys/fs/cgroup/*/*", "/sys/fs/cgroup/*/*/*"} {
		ms, _ := filepath.Glob(pat)
		for _, m := range ms {
			if fi, err := os.Stat(m); err == nil && fi.IsDir() {
				h.cgroups = append(h.cgroups, m)
			}
		}
	}
	if es, err := os.ReadDir("/run/containerctl"); err == nil {
		for _, e := range es {
			h.records = append(h.records, e.Name())
		}
	}
	return h, nil
}

// diff lists what after has that h had not.
func (h *hostState) diff(after *hostState) []string {
	var out []string
	added := func(what string, a, b []string) {
		seen := map[string]int{}
		for _, x := range a {
			seen[x]++
		}
		for _, x := range b {
			if seen[x] > 0 {
				seen[x]--
				continue
			}
			out = append(out, what+" "+x)
		}
	}
	added("mount", h.mounts, after.mounts)
	added("cgroup", h.cgroups, after.cgroups)
	added("/run/containerctl entry", h.records, after.records)
	sort.Strings(out)
	return out
}

// leftovers kills and reaps the harness's remaining children, which are
// all, at the end of a run, processes that a command left behind, and
// names them.
func leftovers() []string {
	var out []string
	tab, err := procTable()
	if err != nil {
		return []string{"process table: " + err.Error()}
	}
	self := os.Getpid()
	for pid, p := range tab {
		if p.ppid != self {
			continue
		}
		if p.state != "Z" {
			out = append(out, fmt.Sprintf("process %d (%s), killed", pid, p.comm))
			_ = unix.Kill(pid, unix.SIGKILL)
		}
		var ws unix.WaitStatus
		_, _ = unix.Wait4(pid, &ws, 0, nil)
	}
	sort.Strings(out)
	return out
}

func lastLines(b []byte, n int) string {
	ls := strings.Split(strings.TrimSpace(string(b)), "\n")
	if len(ls) > n {
		ls = ls[len(ls)-n:]
	}
	return strings.Join(ls, "; ")
}

var errTimeout = errors.New("timed out")

// sleepCtx sleeps for d or until ctx is done.
func sleepCtx(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return nil
	}
}
