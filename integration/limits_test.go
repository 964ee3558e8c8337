//go:build linux

package integration

import (
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
)

const inotifyLimit = "/proc/sys/fs/inotify/max_user_instances"

// rootInotify counts the inotify instances root's processes hold.
func rootInotify(t *testing.T) int {
	t.Helper()
	n := 0
	pids, _ := filepath.Glob("/proc/[0-9]*")
	for _, p := range pids {
		var st syscall.Stat_t
		if syscall.Stat(p, &st) != nil || st.Uid != 0 {
			continue
		}
		fds, _ := filepath.Glob(p + "/fd/*")
		for _, fd := range fds {
			if l, err := os.Readlink(fd); err == nil && l == "anon_inode:inotify" {
				n++
			}
		}
	}
	return n
}

func setSysctl(t *testing.T, path string, v int) {
	t.Helper()
	if err := os.WriteFile(path, []byte(strconv.Itoa(v)), 0o644); err != nil {
		t.Fatal(err)
	}
}

// TestBootRefusedWithoutInotify: a system is not booted into a shortage of
// root's inotify instances, which every container without a user namespace
// shares (its systemd would fail with "Too many open files"): containerctl
// refuses, naming the sysctl, before creating anything. With enough left
// the same start goes ahead.
func TestBootRefusedWithoutInotify(t *testing.T) {
	requireRoot(t)
	b, err := os.ReadFile(inotifyLimit)
	if err != nil {
		t.Fatal(err)
	}
	orig, err := strconv.Atoi(strings.TrimSpace(string(b)))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { setSysctl(t, inotifyLimit, orig) })

	fx := newFixture(t)
	if err := os.Symlink("testinit", filepath.Join(fx.root, "sbin", "init")); err != nil {
		t.Fatal(err)
	}
	// Too few: what is in use plus 2, short of a booted system's share.
	setSysctl(t, inotifyLimit, rootInotify(t)+2)
	r := ctl(t, "run", fx.name, "--root", fx.root, "--store", fx.store, "--boot", "--", "-halt", "none")
	setSysctl(t, inotifyLimit, orig)
	if r.code != 1 || !strings.Contains(r.stderr, "fs.inotify.max_user_instances") || !strings.Contains(r.stderr, fx.name) {
		t.Errorf("run --boot with inotify instances short: exit %d, stderr %q; want 1 and a message naming %s and fs.inotify.max_user_instances", r.code, r.stderr, fx.name)
	}
	for _, p := range append([]string{filepath.Join(stateDir, fx.name)}, cgroupDirs(fx.name)...) {
		if exists(p) {
			t.Errorf("%s exists after a refused run", p)
		}
	}

	// Enough: the same boot runs (testinit as /sbin/init exits at once).
	setSysctl(t, inotifyLimit, rootInotify(t)+100)
	r = ctl(t, "run", fx.name, "--root", fx.root, "--store", fx.store, "--boot", "--console=pipe", "--", "-halt", "none", "-exit", "0")
	setSysctl(t, inotifyLimit, orig)
	if r.code != 0 {
		t.Errorf("run --boot with enough inotify instances: exit %d, stderr %q; want 0", r.code, r.stderr)
	}
}
