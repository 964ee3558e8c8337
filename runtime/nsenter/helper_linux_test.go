package nsenter

import (
	"bytes"
	"errors"
	"os"
	"path/filepath"
	"testing"

	"golang.org/x/sys/unix"
)

// TestSealedCopy: what exec runs is a copy that nothing can change, on a
// high close-on-exec fd.
func TestSealedCopy(t *testing.T) {
	src := filepath.Join(t.TempDir(), "helper")
	content := bytes.Repeat([]byte("\x7fELF helper "), 1000)
	if err := os.WriteFile(src, content, 0o755); err != nil {
		t.Fatal(err)
	}
	f, err := sealedCopy(src, 10)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if fd := int(f.Fd()); fd < 10 {
		t.Errorf("sealedCopy(src, 10).Fd() = %d, want at least 10", fd)
	}
	if flags, err := unix.FcntlInt(f.Fd(), unix.F_GETFD, 0); err != nil || flags&unix.FD_CLOEXEC == 0 {
		t.Errorf("sealedCopy: F_GETFD = %#x, %v; want FD_CLOEXEC", flags, err)
	}
	want := unix.F_SEAL_SEAL | unix.F_SEAL_SHRINK | unix.F_SEAL_GROW | unix.F_SEAL_WRITE
	if seals, err := unix.FcntlInt(f.Fd(), unix.F_GET_SEALS, 0); err != nil || seals&want != want {
		t.Errorf("sealedCopy: F_GET_SEALS = %#x, %v; want %#x", seals, err, want)
	}
	got, err := os.ReadFile(procPath(f))
	if err != nil || !bytes.Equal(got, content) {
		t.Errorf("sealedCopy: contents differ from the source (%v)", err)
	}
	// Through a new open, as /proc/PID/exe would give it: still no write.
	w, err := os.OpenFile(procPath(f), os.O_WRONLY, 0)
	if err == nil {
		_, err = w.Write([]byte("x"))
		w.Close()
	}
	if !errors.Is(err, unix.EPERM) {
		t.Errorf("write to the sealed copy: %v, want EPERM", err)
	}
	if err := unix.Ftruncate(int(f.Fd()), 0); !errors.Is(err, unix.EPERM) {
		t.Errorf("truncate the sealed copy: %v, want EPERM", err)
	}
	if _, err := sealedCopy(filepath.Join(t.TempDir(), "missing"), 10); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("sealedCopy(missing) = %v, want ErrNotExist", err)
	}
}
