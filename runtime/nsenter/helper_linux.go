package nsenter

import (
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"strings"

	"golang.org/x/sys/unix"
)

// HelperName is the helper's file name, beside containerctl or in
// LibexecDir.
const HelperName = "containerctl-nsenter"

// LibexecDir is where a package installs the helper.
const LibexecDir = "/usr/libexec/containerctl"

// FindHelper finds the helper next to the running containerctl, else in
// LibexecDir.
func FindHelper() (string, error) { return FindProgram(HelperName) }

// FindProgram finds one of containerctl's helper programs, name, next to
// the running containerctl, else in LibexecDir.
func FindProgram(name string) (string, error) {
	var tried []string
	if exe, err := os.Executable(); err == nil {
		p := filepath.Join(filepath.Dir(exe), name)
		if unix.Access(p, unix.X_OK) == nil {
			return p, nil
		}
		tried = append(tried, p)
	}
	p := filepath.Join(LibexecDir, name)
	if unix.Access(p, unix.X_OK) == nil {
		return p, nil
	}
	tried = append(tried, p)
	return "", fmt.Errorf("%s not found (looked for %s)", name, strings.Join(tried, ", "))
}

// sealedCopy copies the helper into a memfd and seals it against any
// change, so that what runs is this copy: a process in the container that
// opens our /proc/PID/exe reaches the memfd, which nothing can write, and
// never the host's file (CVE-2019-5736). The fd is close-on-exec and at
// least minFD, so that the ExtraFiles moved to 3, 4... cannot take its
// number before the exec opens it by /proc/self/fd/N.
func sealedCopy(path string, minFD int) (*os.File, error) {
	src, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer src.Close()
	fd, err := unix.MemfdCreate(HelperName, unix.MFD_CLOEXEC|unix.MFD_ALLOW_SEALING)
	if err != nil {
		return nil, fmt.Errorf("memfd_create: %w", err)
	}
	mem := os.NewFile(uintptr(fd), "memfd:"+HelperName)
	if _, err := io.Copy(mem, src); err != nil {
		mem.Close()
		return nil, fmt.Errorf("copy %s: %w", path, err)
	}
	seals := unix.F_SEAL_SEAL | unix.F_SEAL_SHRINK | unix.F_SEAL_GROW | unix.F_SEAL_WRITE
	if _, err := unix.FcntlInt(mem.Fd(), unix.F_ADD_SEALS, seals); err != nil {
		mem.Close()
		return nil, fmt.Errorf("seal the copy of %s: %w", path, err)
	}
	high, err := unix.FcntlInt(mem.Fd(), unix.F_DUPFD_CLOEXEC, minFD)
	mem.Close()
	if err != nil {
		return nil, fmt.Errorf("dup the copy of %s: %w", path, err)
	}
	return os.NewFile(uintptr(high), "memfd:"+HelperName), nil
}

// procPath is the path by which the exec reaches the open file f.
func procPath(f *os.File) string { return "/proc/self/fd/" + strconv.Itoa(int(f.Fd())) }

// StartTime is the start time of process pid, in clock ticks since boot
// (/proc/PID/stat field 22): with the pid, it tells a process from a later
// one that got the same pid.
func StartTime(pid int) (uint64, error) {
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if errors.Is(err, os.ErrNotExist) {
		return 0, fmt.Errorf("process %d: %w", pid, unix.ESRCH)
	}
	if err != nil {
		return 0, err
	}
	return ParseStartTime(string(b))
}

// OpenPidFD opens a pidfd of pid and checks that it is still the process
// that started at start: a pid read from a record may have been reused.
func OpenPidFD(pid int, start uint64) (*os.File, error) {
	fd, err := unix.PidfdOpen(pid, 0)
	if err != nil {
		return nil, fmt.Errorf("pidfd_open %d: %w", pid, err)
	}
	f := os.NewFile(uintptr(fd), "pidfd")
	// Read after the open: a match now means the pidfd is that process.
	got, err := StartTime(pid)
	if err == nil && got != start {
		err = fmt.Errorf("process %d started at %d, not at %d: %w", pid, got, start, unix.ESRCH)
	}
	if err != nil {
		f.Close()
		return nil, err
	}
	return f, nil
}
