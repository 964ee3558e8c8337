package userns

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"time"

	"golang.org/x/sys/unix"
)

// Lease is a container's hold on its ID range: a lock file for each 64K
// block of it in the state directory, locked (flock) while the container
// runs, so that no other start takes an overlapping range, and removed
// when it stops. A supervisor that is killed leaves its files unlocked:
// the next start that finds one takes it over.
type Lease struct {
	Range Range
	files []*os.File
}

// pickTries is how many ranges a pick tries, from the name's own on.
const pickTries = 4096

// Reserve takes the range of u for a container named name whose root is
// root: Identity's and Fixed's as they are (Fixed refused when another
// running container holds part of it), or, for Pick, the first free range
// of the name's candidates that no host user or group (/etc/passwd,
// /etc/group) lies in. With Chown ownership a root already shifted names
// its range by its owner, and that range is tried first.
func Reserve(stateDir, name string, u *Users, root string) (*Lease, error) {
	switch u.Mode {
	case Identity:
		// The host's own IDs, which no lock could reserve.
		return &Lease{Range: u.Range}, nil
	case Fixed:
		l, err := lock(stateDir, u.Range)
		if err != nil {
			return nil, err
		}
		if l == nil {
			return nil, fmt.Errorf("private users %s: %w by another running container", u.Range, ErrRangeTaken)
		}
		return l, nil
	case Pick:
	default:
		return nil, fmt.Errorf("%w: mode %q", ErrInvalid, u.Mode)
	}
	var hostIDs []uint32
	for _, f := range []string{"/etc/passwd", "/etc/group"} {
		b, err := os.ReadFile(f)
		if err != nil && !errors.Is(err, os.ErrNotExist) {
			return nil, fmt.Errorf("pick an ID range: %w", err)
		}
		hostIDs = append(hostIDs, HostIDs(b)...)
	}
	bases := Candidates(name, pickTries)
	if u.Ownership == Chown {
		if b, ok := shiftedBase(root); ok {
			bases = append([]uint32{b}, bases...)
		}
	}
	for _, b := range bases {
		r := Range{b, Size}
		if _, held := Holds(r, hostIDs); held {
			continue
		}
		l, err := lock(stateDir, r)
		if err != nil {
			return nil, err
		}
		if l != nil {
			return l, nil
		}
	}
	return nil, fmt.Errorf("pick an ID range for %s: %w: none of %d free", name, ErrRangeTaken, len(bases))
}

// shiftedBase is the range a root shifted by Chown records in its owner.
func shiftedBase(root string) (uint32, bool) {
	var st unix.Stat_t
	if err := unix.Stat(root, &st); err != nil || st.Uid == 0 || st.Uid%Size != 0 || st.Uid != st.Gid {
		return 0, false
	}
	return st.Uid, true
}

// lock locks every block of r, or none: it returns nil when one is held.
func lock(stateDir string, r Range) (*Lease, error) {
	l := &Lease{Range: r}
	for _, b := range Blocks(r) {
		f, err := lockFile(filepath.Join(stateDir, "userns-"+strconv.FormatUint(uint64(b), 10)+".lock"))
		if err != nil || f == nil {
			l.Release()
			return nil, err
		}
		l.files = append(l.files, f)
	}
	return l, nil
}

// lockFile creates and locks p, or returns nil when another holds it. A
// file another start removed between our open and our lock is no lock:
// the path must still name the file locked.
func lockFile(p string) (*os.File, error) {
	for {
		f, err := os.OpenFile(p, os.O_RDWR|os.O_CREATE|unix.O_CLOEXEC|unix.O_NOFOLLOW, 0o600)
		if err != nil {
			return nil, fmt.Errorf("ID range lock %s: %w", p, err)
		}
		err = unix.Flock(int(f.Fd()), unix.LOCK_EX|unix.LOCK_NB)
		if errors.Is(err, unix.EWOULDBLOCK) {
			f.Close()
			return nil, nil
		}
		if err != nil {
			f.Close()
			return nil, fmt.Errorf("ID range lock %s: %w", p, err)
		}
		var held, now unix.Stat_t
		if unix.Fstat(int(f.Fd()), &held) == nil && unix.Stat(p, &now) == nil && held.Ino == now.Ino && held.Dev == now.Dev {
			return f, nil
		}
		f.Close()
	}
}

// Release removes the lock files and unlocks them, in that order, so that
// no start locks a file about to go.
func (l *Lease) Release() {
	if l == nil {
		return
	}
	for _, f := range l.files {
		_ = os.Remove(f.Name())
		f.Close()
	}
	l.files = nil
}

// Prune removes the lock files of r that no running container holds: those
// a supervisor that was killed left behind. A supervisor that was just
// killed may still hold them for a moment after its record's lock is
// free (its files are closed one by one as it exits), so a held lock is
// tried again for a second; one held longer is another container's, which
// removes it when it stops.
func Prune(stateDir string, r Range) {
	for i := 0; i < 50; i++ {
		l, err := lock(stateDir, r)
		if err != nil {
			return
		}
		if l != nil {
			l.Release()
			return
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// Files are the lease's locked files, which a supervisor that execs keeps
// open across the exec (runtime/monitor_linux.go): closing one would free
// the range while the container runs.
func (l *Lease) Files() []*os.File {
	if l == nil {
		return nil
	}
	return l.files
}

// Adopt is the lease of range r whose locked files are files, as Files
// gave them before an exec: they must still be the lock files of r, held.
func Adopt(stateDir string, r Range, files []*os.File) (*Lease, error) {
	for _, f := range files {
		// Taking a lock that this open file already holds succeeds; one
		// that another holds does not.
		if err := unix.Flock(int(f.Fd()), unix.LOCK_EX|unix.LOCK_NB); err != nil {
			return nil, fmt.Errorf("ID range lock %s: not held: %w", f.Name(), err)
		}
		if filepath.Dir(f.Name()) != filepath.Clean(stateDir) {
			return nil, fmt.Errorf("ID range lock %s: not in %s", f.Name(), stateDir)
		}
	}
	return &Lease{Range: r, files: files}, nil
}
