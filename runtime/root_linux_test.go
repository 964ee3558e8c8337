package runtime

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestPrepareRootCreatesAndUndoes(t *testing.T) {
	tmp := t.TempDir()
	root := filepath.Join(tmp, "a", "b", "root")
	if _, err := prepareRoot(root, false, true); err == nil {
		t.Fatalf("prepareRoot(%s, false, true) with a missing parent = nil error, want one", root)
	}
	if _, err := os.Stat(filepath.Join(tmp, "a")); !os.IsNotExist(err) {
		t.Fatalf("a failed prepareRoot left %s behind", filepath.Join(tmp, "a"))
	}
	undo, err := prepareRoot(root, true, true)
	if err != nil {
		t.Fatal(err)
	}
	// The roots' directory is closed to host users; those above it are
	// not containerctl's to close.
	if fi, err := os.Stat(filepath.Dir(root)); err != nil || fi.Mode().Perm() != 0o700 {
		t.Errorf("prepareRoot made %s = %v, %v, want 0700", filepath.Dir(root), fi, err)
	}
	if fi, err := os.Stat(filepath.Join(tmp, "a")); err != nil || fi.Mode().Perm() != 0o755 {
		t.Errorf("prepareRoot made %s = %v, %v, want 0755", filepath.Join(tmp, "a"), fi, err)
	}
	fi, err := os.Stat(filepath.Join(root, "etc"))
	if err != nil || fi.Mode().Perm() != 0o755 {
		t.Fatalf("root/etc = %v, %v, want a 0755 directory", fi, err)
	}
	if fi, err := os.Stat(filepath.Join(root, "etc", "os-release")); err != nil || fi.Size() != 0 {
		t.Fatalf("root/etc/os-release = %v, %v, want an empty file", fi, err)
	}
	if err := undo(); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join(tmp, "a")); !os.IsNotExist(err) {
		t.Errorf("undo left %s behind (stat: %v)", filepath.Join(tmp, "a"), err)
	}
}

func TestPrepareRootKeepsExisting(t *testing.T) {
	root := t.TempDir()
	if err := os.Mkdir(filepath.Join(root, "etc"), 0o700); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(root, "etc", "os-release"), []byte("ID=test\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	undo, err := prepareRoot(root, false, true)
	if err != nil {
		t.Fatal(err)
	}
	if err := undo(); err != nil {
		t.Fatal(err)
	}
	if b, err := os.ReadFile(filepath.Join(root, "etc", "os-release")); err != nil || string(b) != "ID=test\n" {
		t.Errorf("os-release after prepare and undo = %q, %v, want it untouched", b, err)
	}
}

// A root whose etc links to a host directory must not make prepareRoot write
// there: the link is resolved inside the root.
func TestPrepareRootDoesNotFollowLinksOut(t *testing.T) {
	tmp := t.TempDir()
	hostEtc := filepath.Join(tmp, "host-etc")
	if err := os.Mkdir(hostEtc, 0o755); err != nil {
		t.Fatal(err)
	}
	for _, target := range []string{hostEtc, "../host-etc", "../../../../../../" + hostEtc} {
		root := filepath.Join(tmp, "root")
		if err := os.MkdirAll(root, 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.Symlink(target, filepath.Join(root, "etc")); err != nil {
			t.Fatal(err)
		}
		if undo, err := prepareRoot(root, false, true); err == nil {
			_ = undo()
		}
		if _, err := os.Lstat(filepath.Join(hostEtc, "os-release")); !os.IsNotExist(err) {
			t.Errorf("prepareRoot with root/etc -> %s wrote %s", target, filepath.Join(hostEtc, "os-release"))
		}
		if err := os.RemoveAll(root); err != nil {
			t.Fatal(err)
		}
	}
}

// A failed start's undo must remove what prepareRoot made where it made it:
// with root/etc a link that escapes the root as a host path would, the
// os-release created inside the root is removed there, and the host's file
// of the same name is left alone.
func TestPrepareRootUndoDoesNotFollowLinksOut(t *testing.T) {
	tmp := t.TempDir()
	root := filepath.Join(tmp, "a", "root")
	hostLib := filepath.Join(tmp, "usr", "lib")
	for _, d := range []string{filepath.Join(root, "usr", "lib"), hostLib} {
		if err := os.MkdirAll(d, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	hostFile := filepath.Join(hostLib, "os-release")
	if err := os.WriteFile(hostFile, []byte("ID=host\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	// Inside the root, ../../usr/lib is ROOT/usr/lib; on the host it is
	// tmp/usr/lib.
	if err := os.Symlink("../../usr/lib", filepath.Join(root, "etc")); err != nil {
		t.Fatal(err)
	}
	undo, err := prepareRoot(root, false, true)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join(root, "usr", "lib", "os-release")); err != nil {
		t.Fatalf("os-release not created inside the root: %v", err)
	}
	if err := undo(); err != nil {
		t.Fatal(err)
	}
	if b, err := os.ReadFile(hostFile); err != nil || string(b) != "ID=host\n" {
		t.Errorf("the host's %s after undo = %q, %v; want it untouched", hostFile, b, err)
	}
	if _, err := os.Stat(filepath.Join(root, "usr", "lib", "os-release")); !os.IsNotExist(err) {
		t.Errorf("undo left the os-release it made inside the root (stat: %v)", err)
	}
}

// TestCheckRootsDir: a roots directory containerctl made is closed again
// if it was opened; one a user made is left alone with a warning.
func TestCheckRootsDir(t *testing.T) {
	if os.Geteuid() != 0 {
		if os.Getenv("CONTAINERCTL_INTEGRATION") == "1" {
			t.Fatal("trusted.* xattrs need root; CONTAINERCTL_INTEGRATION=1, so this is a failure")
		}
		t.Skip("trusted.* xattrs need root")
	}
	tmp := t.TempDir()
	ours := filepath.Join(tmp, "ours")
	if err := mkdirParent(ours, true); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(ours, 0o755); err != nil {
		t.Fatal(err)
	}
	if w, err := checkRootsDir(ours); err != nil || w != "" {
		t.Errorf("checkRootsDir(ours) = %q, %v, want no warning", w, err)
	}
	if fi, _ := os.Stat(ours); fi.Mode().Perm() != 0o700 {
		t.Errorf("checkRootsDir(ours) left mode %v, want 0700", fi.Mode().Perm())
	}
	theirs := filepath.Join(tmp, "theirs")
	if err := os.Mkdir(theirs, 0o755); err != nil {
		t.Fatal(err)
	}
	if w, err := checkRootsDir(theirs); err != nil || !strings.Contains(w, "chmod 0700") {
		t.Errorf("checkRootsDir(theirs) = %q, %v, want a warning naming chmod 0700", w, err)
	}
	if fi, _ := os.Stat(theirs); fi.Mode().Perm() != 0o755 {
		t.Errorf("checkRootsDir(theirs) changed the user's mode to %v", fi.Mode().Perm())
	}
}
