package runtime

import (
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"time"

	"golang.org/x/sys/unix"

	"github.com/containerctl/containerctl/cgroup"
	"github.com/containerctl/containerctl/runtime/network"
	"github.com/containerctl/containerctl/runtime/userns"
)

// State is the record of a running container, kept in
// STATEDIR/NAME/state.json while its supervisor lives.
type State struct {
	// ID tells this run's record from another of the same name, where a
	// path or an inode number cannot: the state directory of a new run may
	// reuse the inode number of an old one.
	ID            string   `json:"id"`
	Name          string   `json:"name"`
	SupervisorPID int      `json:"supervisor_pid"`
	PID           int      `json:"pid"` // the init's PID on the host
	Root          string   `json:"root"`
	Init          []string `json:"init"`
	// Profile is the system profile the container runs (PROFILE/init, the
	// NixOS shape), as reload last switched it; "" for another init.
	Profile string    `json:"profile,omitempty"`
	Started time.Time `json:"started"`
	// Cgroup is the container's cgroups, for whoever cleans up after a
	// supervisor that died.
	Cgroup cgroup.Record `json:"cgroup"`
	// Network is what the container's network made on the host, for
	// whoever cleans up after a supervisor that died, and for status.
	Network *network.Record `json:"network,omitempty"`
	// InitStartTime is the init's start time (/proc/PID/stat field 22),
	// written with PID: exec checks that the pid still names that process.
	InitStartTime uint64 `json:"init_start_time,omitempty"`
	// InitExecd says the init child has exec'd the init: until then PID
	// runs containerctl's own binary, which nothing may enter (exec).
	InitExecd bool `json:"init_execd,omitempty"`
	// Users is the ID range of a container with private users, whose
	// locks whoever cleans up after its supervisor removes.
	Users *userns.Range `json:"users,omitempty"`
}

// record is a container's state directory, locked by its live supervisor.
// The lock is flock(2) on the directory itself: the kernel drops it when the
// supervisor dies, however it dies, so a record left by a crash is known to
// be stale and never blocks a new run (a PID check alone could be fooled by
// PID reuse).
type record struct {
	dir string
	f   *os.File
}

// lockRecord creates and locks the state directory of name. A reader that
// is pruning a stale record holds the lock for a moment, so a busy lock is
// tried again for a short while before the container is called running.
func lockRecord(stateDir, name string) (*record, error) {
	if err := os.MkdirAll(stateDir, 0o700); err != nil {
		return nil, fmt.Errorf("create state directory: %w", err)
	}
	dir := filepath.Join(stateDir, name)
	deadline := time.Now().Add(250 * time.Millisecond)
	for {
		if err := os.Mkdir(dir, 0o700); err != nil && !errors.Is(err, os.ErrExist) {
			return nil, fmt.Errorf("create state directory: %w", err)
		}
		f, err := os.OpenFile(dir, unix.O_RDONLY|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
		if errors.Is(err, os.ErrNotExist) {
			continue // removed by a pruner between mkdir and open
		}
		if err != nil {
			return nil, fmt.Errorf("open state directory: %w", err)
		}
		err = unix.Flock(int(f.Fd()), unix.LOCK_EX|unix.LOCK_NB)
		if errors.Is(err, unix.EWOULDBLOCK) {
			f.Close()
			// A dead supervisor's record is being pruned (its reaper
			// waits for the cgroup to empty): wait longer for that.
			if s, err := readState(dir); err == nil && s.SupervisorPID > 0 && !alive(s.SupervisorPID) {
				deadline = later(deadline, time.Now().Add(10*time.Second))
			}
			if time.Now().Before(deadline) {
				time.Sleep(10 * time.Millisecond)
				continue
			}
			if s, err := readState(dir); err == nil {
				return nil, fmt.Errorf("%w (supervisor pid %d, init pid %d)", ErrRunning, s.SupervisorPID, s.PID)
			}
			return nil, ErrRunning
		}
		if err != nil {
			f.Close()
			return nil, fmt.Errorf("lock state directory: %w", err)
		}
		// A pruner may have removed the directory between our open and
		// our lock; then the lock is on a dead inode. Start again.
		if !samePath(f, dir) {
			f.Close()
			continue
		}
		// What a supervisor that died left: its cgroups and its files.
		if err := removeStaleCgroups(dir); err != nil {
			f.Close()
			return nil, fmt.Errorf("clean up after the previous supervisor: %w", err)
		}
		r := &record{dir: dir, f: f}
		r.clear()
		return r, nil
	}
}

func alive(pid int) bool {
	return unix.Kill(pid, 0) == nil || errors.Is(unix.Kill(pid, 0), unix.EPERM)
}

func later(a, b time.Time) time.Time {
	if a.After(b) {
		return a
	}
	return b
}

func samePath(f *os.File, p string) bool {
	a, err := f.Stat()
	if err != nil {
		return false
	}
	b, err := os.Lstat(p)
	return err == nil && os.SameFile(a, b)
}

// write replaces the record's state atomically.
func (r *record) write(s State) error {
	b, err := json.MarshalIndent(s, "", "  ")
	if err != nil {
		return err
	}
	return r.writeFile(stateFile, b)
}

// writePlan keeps the container's compiled plan beside its state, so that
// whatever enters the running container later (exec) executes the same
// plan rather than a spec compiled again. Not indented: it is for
// containerctl to read, and the seccomp program makes it long.
func (r *record) writePlan(p *Plan) error {
	b, err := json.Marshal(p)
	if err != nil {
		return err
	}
	return r.writeFile(planFile, b)
}

func (r *record) writeFile(name string, b []byte) error {
	tmp := filepath.Join(r.dir, name+".tmp")
	if err := os.WriteFile(tmp, append(b, '\n'), 0o600); err != nil {
		return fmt.Errorf("write %s: %w", name, err)
	}
	if err := os.Rename(tmp, filepath.Join(r.dir, name)); err != nil {
		return fmt.Errorf("write %s: %w", name, err)
	}
	return nil
}

// LoadPlan returns the compiled plan of a running container.
func LoadPlan(stateDir, name string) (*Plan, error) {
	if _, err := Load(stateDir, name); err != nil {
		return nil, err
	}
	return readPlan(filepath.Join(stateDir, name))
}

// readPlan reads the plan in the record at dir.
func readPlan(dir string) (*Plan, error) {
	b, err := os.ReadFile(filepath.Join(dir, planFile))
	if err != nil {
		return nil, fmt.Errorf("read plan: %w", err)
	}
	var p Plan
	if err := json.Unmarshal(b, &p); err != nil {
		return nil, fmt.Errorf("decode plan: %w", err)
	}
	return &p, nil
}

func (r *record) controlPath() string { return filepath.Join(r.dir, controlFile) }

// path is the record's file name.
func (r *record) path(name string) string { return filepath.Join(r.dir, name) }

func (r *record) clear() {
	for _, f := range []string{stateFile, stateFile + ".tmp", planFile, planFile + ".tmp", controlFile, notifyFile, bootingFile, bootIDFile} {
		// unlink, not os.Remove, which tries rmdir(2) too when the
		// file is not there.
		_ = unix.Unlink(filepath.Join(r.dir, f))
	}
}

// release removes the record and then drops the lock.
// abandon drops the lock but keeps the record, so that the next command
// finds it stale and tries the cleanup again.
func (r *record) abandon() error { return r.f.Close() }

func (r *record) release() error {
	r.clear()
	err := os.Remove(r.dir)
	if cerr := r.f.Close(); err == nil {
		err = cerr
	}
	return err
}

// cleanStale removes what a dead supervisor left: its container's cgroups
// (killing anything still in them) and its record. The caller holds the
// record's lock.
func cleanStale(dir string) error {
	if err := removeStaleCgroups(dir); err != nil {
		// Keep the record, the only list of these cgroups, for the
		// next command to try again.
		return err
	}
	if err := removeStaleUsers(dir); err != nil {
		return err
	}
	if st, err := readState(dir); err == nil {
		removeStaleRootLock(filepath.Dir(dir), st.Root)
	}
	(&record{dir: dir}).clear()
	return os.Remove(dir)
}

// removeStaleCgroups removes the cgroups the record at dir names, after
// checking that they are its container's own: a record that names another
// container or a host cgroup is refused, never acted on.
func removeStaleCgroups(dir string) error {
	s, err := readState(dir)
	if err != nil || s.Cgroup.Empty() && s.Network == nil {
		return nil
	}
	name := filepath.Base(dir)
	if s.Name != name {
		return fmt.Errorf("record %s is of container %q, not %q: left alone", dir, s.Name, name)
	}
	// An interface the guest deleted or replaced (network.ErrGone) is
	// lost; no reason to keep the record for another try.
	if _, rest := network.SplitLost(removeStaleNetwork(dir, s.Network)); len(rest) > 0 {
		return errors.Join(rest...)
	}
	if s.Cgroup.Empty() {
		return nil
	}
	if err := s.Cgroup.Check(name); err != nil {
		return fmt.Errorf("record %s: %w: left alone", dir, err)
	}
	return cgroup.Remove(s.Cgroup)
}

func randomID() (string, error) {
	b := make([]byte, 16)
	if _, err := rand.Read(b); err != nil {
		return "", err
	}
	return hex.EncodeToString(b), nil
}

func readState(dir string) (State, error) {
	var s State
	b, err := os.ReadFile(filepath.Join(dir, stateFile))
	if err != nil {
		return s, err
	}
	err = json.Unmarshal(b, &s)
	return s, err
}

// Load returns the state of a live container. A record whose supervisor is
// gone is removed on the way, and reported as ErrNotRunning.
func Load(stateDir, name string) (State, error) {
	if err := ValidateName(name); err != nil {
		return State{}, err
	}
	dir := filepath.Join(stateDir, name)
	f, err := os.OpenFile(dir, unix.O_RDONLY|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
	if errors.Is(err, os.ErrNotExist) {
		return State{}, ErrNotRunning
	}
	if err != nil {
		return State{}, err
	}
	defer f.Close()
	if err := unix.Flock(int(f.Fd()), unix.LOCK_EX|unix.LOCK_NB); err == nil {
		// Nobody holds it: the supervisor died without cleaning up.
		if samePath(f, dir) {
			if err := cleanStale(dir); err != nil {
				// Still not running; say why something stays behind.
				return State{}, fmt.Errorf("%w; cleaning up after its supervisor, which died, failed: %w", ErrNotRunning, err)
			}
		}
		return State{}, ErrNotRunning
	} else if !errors.Is(err, unix.EWOULDBLOCK) {
		return State{}, fmt.Errorf("lock %s: %w", dir, err)
	}
	s, err := readState(dir)
	if errors.Is(err, os.ErrNotExist) || err == nil && s.PID == 0 {
		// Locked but without an init yet: still starting.
		return State{}, ErrNotRunning
	}
	if err == nil && !alive(s.SupervisorPID) {
		// Locked by the reaper of a supervisor that died, cleaning up.
		return State{}, ErrNotRunning
	}
	if err != nil {
		return State{}, fmt.Errorf("read state: %w", err)
	}
	return s, nil
}

// starting reports whether a supervisor holds the record at dir: with no
// init in it yet, the container is starting.
func starting(dir string) bool {
	f, err := os.OpenFile(dir, unix.O_RDONLY|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
	if err != nil {
		return false
	}
	defer f.Close()
	return errors.Is(unix.Flock(int(f.Fd()), unix.LOCK_SH|unix.LOCK_NB), unix.EWOULDBLOCK)
}

// List returns the states of the live containers, by name.
func List(stateDir string) ([]State, error) {
	entries, err := os.ReadDir(stateDir)
	if errors.Is(err, os.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	var states []State
	for _, e := range entries {
		if !e.IsDir() || ValidateName(e.Name()) != nil {
			continue
		}
		s, err := Load(stateDir, e.Name())
		if errors.Is(err, ErrNotRunning) {
			continue
		}
		if err != nil {
			return nil, fmt.Errorf("%s: %w", e.Name(), err)
		}
		states = append(states, s)
	}
	sort.Slice(states, func(i, j int) bool { return states[i].Name < states[j].Name })
	return states, nil
}
