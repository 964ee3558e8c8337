package runtime

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"time"

	"golang.org/x/sys/unix"
)

// ErrRootInUse is a start refused because another running container has
// its root.
var ErrRootInUse = errors.New("in use by another running container")

// rootLock is a container's hold on its root directory, as
// systemd-nspawn locks its image: a lock file in the state directory
// named by the root's device and inode, flock'd while the container runs.
// Two containers that both write one root (two systemd guests writing one
// journal, machine-id and package database) would corrupt it, so the hold
// is exclusive; a container that does not write its root (--ephemeral, on
// an overlay of it, or a read-only root) takes a shared one, which others
// of its kind share. A supervisor killed leaves the file unlocked: the
// next start takes it over, and the reaper removes it.
type rootLock struct {
	f         *os.File
	exclusive bool
}

// rootLockPath is the lock file of the root directory at root.
func rootLockPath(stateDir, root string) (string, error) {
	var st unix.Stat_t
	if err := unix.Stat(root, &st); err != nil {
		return "", fmt.Errorf("root %s: %w", root, err)
	}
	return filepath.Join(stateDir, fmt.Sprintf("root-%d-%d.lock", st.Dev, st.Ino)), nil
}

// lockRoot takes root for the container name.
func lockRoot(stateDir, name, root string, exclusive bool) (*rootLock, error) {
	p, err := rootLockPath(stateDir, root)
	if err != nil {
		return nil, err
	}
	for busy := 0; ; {
		f, err := os.OpenFile(p, os.O_RDWR|os.O_CREATE|unix.O_CLOEXEC|unix.O_NOFOLLOW, 0o600)
		if err != nil {
			return nil, fmt.Errorf("root lock %s: %w", p, err)
		}
		// Exclusive first, also for a shared hold: one that gets it is
		// alone, and clears a dead writer's name from the file.
		err = unix.Flock(int(f.Fd()), unix.LOCK_EX|unix.LOCK_NB)
		if err == nil {
			_ = f.Truncate(0)
			if !exclusive {
				// A conversion, not atomic: one that comes between is
				// looked at again below.
				err = unix.Flock(int(f.Fd()), unix.LOCK_SH|unix.LOCK_NB)
			}
		} else if errors.Is(err, unix.EWOULDBLOCK) && !exclusive {
			err = unix.Flock(int(f.Fd()), unix.LOCK_SH|unix.LOCK_NB)
		}
		if errors.Is(err, unix.EWOULDBLOCK) && busy < 5 {
			// Held exclusively for a moment by a last sharer's
			// release or a cleanup that removes the file: look again.
			f.Close()
			busy++
			time.Sleep(10 * time.Millisecond)
			continue
		}
		if errors.Is(err, unix.EWOULDBLOCK) {
			holder := ""
			if b, _ := os.ReadFile(p); len(b) > 0 {
				holder = " (" + strings.TrimSpace(string(b)) + ")"
			}
			f.Close()
			if exclusive {
				return nil, fmt.Errorf("root %s: %w%s; only containers that do not write it (--ephemeral) may share it", root, ErrRootInUse, holder)
			}
			return nil, fmt.Errorf("root %s: %w%s, which writes it", root, ErrRootInUse, holder)
		}
		if err != nil {
			f.Close()
			return nil, fmt.Errorf("root lock %s: %w", p, err)
		}
		// A file another container removed between our open and our
		// lock is no lock: the path must still name the file locked.
		var held, now unix.Stat_t
		if unix.Fstat(int(f.Fd()), &held) != nil || unix.Stat(p, &now) != nil || held.Ino != now.Ino || held.Dev != now.Dev {
			f.Close()
			continue
		}
		if exclusive {
			// Who holds it, for the refusal of the next.
			_, _ = f.WriteAt([]byte(name+"\n"), 0)
		}
		return &rootLock{f: f, exclusive: exclusive}, nil
	}
}

// release removes the lock file when no other container holds it, and
// unlocks it. A shared holder removes it only when it can take it
// exclusively: it is then the last.
func (l *rootLock) release() {
	if l == nil || l.f == nil {
		return
	}
	if l.exclusive || unix.Flock(int(l.f.Fd()), unix.LOCK_EX|unix.LOCK_NB) == nil {
		_ = os.Remove(l.f.Name())
	}
	l.f.Close()
	l.f = nil
}

// removeStaleRootLock removes the lock file of a dead container's root
// (the record's) when nobody holds it.
func removeStaleRootLock(stateDir, root string) {
	if root == "" {
		return
	}
	p, err := rootLockPath(stateDir, root)
	if err != nil {
		return
	}
	f, err := os.OpenFile(p, os.O_RDWR|unix.O_CLOEXEC|unix.O_NOFOLLOW, 0)
	if err != nil {
		return
	}
	defer f.Close()
	if unix.Flock(int(f.Fd()), unix.LOCK_EX|unix.LOCK_NB) == nil {
		_ = os.Remove(p)
	}
}
