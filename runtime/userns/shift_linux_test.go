package userns

import (
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
)

func requireRoot(t *testing.T) {
	t.Helper()
	if os.Geteuid() == 0 {
		return
	}
	if os.Getenv("CONTAINERCTL_INTEGRATION") == "1" {
		t.Fatal("chown needs root; CONTAINERCTL_INTEGRATION=1, so this is a failure")
	}
	t.Skip("chown needs root")
}

func owner(t *testing.T, p string) (uint32, uint32, os.FileMode) {
	t.Helper()
	fi, err := os.Lstat(p)
	if err != nil {
		t.Fatal(err)
	}
	st := fi.Sys().(*syscall.Stat_t)
	return st.Uid, st.Gid, fi.Mode()
}

func TestShift(t *testing.T) {
	requireRoot(t)
	root := filepath.Join(t.TempDir(), "root")
	for _, d := range []string{root, filepath.Join(root, "bin")} {
		if err := os.Mkdir(d, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	suid := filepath.Join(root, "bin", "su")
	if err := os.WriteFile(suid, nil, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := syscall.Chmod(suid, 0o4755); err != nil {
		t.Fatal(err)
	}
	user := filepath.Join(root, "home")
	if err := os.WriteFile(user, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Lchown(user, 1000, 100); err != nil {
		t.Fatal(err)
	}
	link := filepath.Join(root, "link")
	if err := os.Symlink("/etc/passwd", link); err != nil {
		t.Fatal(err)
	}
	r := Range{Base: 524288, Count: Size}
	for i := 0; i < 2; i++ { // the second is the record's no-op
		if err := Shift(root, r); err != nil {
			t.Fatalf("Shift #%d: %v", i+1, err)
		}
	}
	for p, want := range map[string][2]uint32{root: {524288, 524288}, suid: {524288, 524288}, user: {525288, 524388}, link: {524288, 524288}} {
		if uid, gid, _ := owner(t, p); uid != want[0] || gid != want[1] {
			t.Errorf("Shift: %s owned by %d:%d, want %d:%d", p, uid, gid, want[0], want[1])
		}
	}
	if _, _, mode := owner(t, suid); mode&os.ModeSetuid == 0 {
		t.Errorf("Shift: %s lost its setuid bit (mode %v)", suid, mode)
	}
	if _, err := os.Readlink(link); err != nil {
		t.Errorf("Shift: %s: %v", link, err)
	}
	if err := Shift(root, Range{Base: 655360, Count: Size}); err == nil || !strings.Contains(err.Error(), "another range") {
		t.Errorf("Shift into another range = %v, want refused", err)
	}
}
