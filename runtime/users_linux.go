package runtime

import (
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"syscall"

	"golang.org/x/sys/unix"

	"github.com/containerctl/containerctl/mount"
	"github.com/containerctl/containerctl/runtime/userns"
)

// A container with private users is started so (see userns and doc.go):
//
//  1. prepareUsers reserves the range, gives the guest's cgroup and the
//     console to its root, and lets that root search the record directory;
//  2. the child is cloned into a new user namespace with the others but
//     the mount namespace, the maps written before it runs (SysProcAttr);
//  3. with its config sent, stageUsers idmaps the root and every bind
//     through the child's user namespace and mounts them, as the host's
//     root, in a stage directory in the host's mount namespace;
//  4. the child makes its mount namespace then, owned by its user
//     namespace: the staged mounts come to it locked, so that the guest's
//     root cannot make /nix writable again; it sets up the staged root,
//     binding the staged trees in place, and pivots into it;
//  5. once it is ready, the stage goes.

// prepareUsers is step 1.
func (s *supervisor) prepareUsers(rec *record) error {
	u := s.p.Users
	if u == nil {
		return nil
	}
	lease, err := userns.Reserve(s.p.StateDir, s.p.Name, u, s.p.Root)
	if err != nil {
		return err
	}
	s.onUndo("release the ID range", func() error { lease.Release(); return nil })
	s.users = lease
	u.Range = lease.Range
	s.state.Users = &lease.Range
	if err := rec.write(s.state); err != nil {
		return err
	}
	s.log.WithField("range", u.Range.String()).Infof("user namespace: host IDs %d-%d are the guest's 0-%d", u.Range.Base, u.Range.End()-1, u.Range.Count-1)
	for _, d := range []string{s.p.StateDir, rec.dir} {
		if err := letOthersSearch(d); err != nil {
			return fmt.Errorf("let the container's root reach its stage: %w", err)
		}
	}
	root := int(u.Range.Base)
	// The notify socket is bound in as it is (userns.StageOwn): the
	// guest's root must own it to connect.
	if err := os.Chown(s.p.NotifyPath, root, root); err != nil {
		return fmt.Errorf("give the notify socket to the container's root: %w", err)
	}
	if err := s.cgroup.ChownGuest(root, root); err != nil {
		return fmt.Errorf("cgroup: %w", err)
	}
	if s.slave != nil {
		// The guest's tty group, 5, as devpts gives it inside.
		if err := s.slave.Chown(root, root+5); err != nil {
			return fmt.Errorf("give the console to the container's root: %w", err)
		}
	}
	return checkHostDevices(s.p.Mounts.Steps)
}

// letOthersSearch adds the search bits for group and others to dir's mode
// and keeps the rest: a state directory the caller gave (--state-dir /tmp,
// say) keeps its write and sticky bits, which a plain chmod 0711 took.
func letOthersSearch(dir string) error {
	fi, err := os.Stat(dir)
	if err != nil {
		return err
	}
	mode := fi.Mode() & (os.ModePerm | os.ModeSticky | os.ModeSetgid | os.ModeSetuid)
	if mode&0o011 == 0o011 {
		return nil
	}
	return os.Chmod(dir, mode|0o011)
}

// checkHostDevices refuses a device the child would bind from the host (a
// user namespace may not make device nodes) where the host's node at that
// path is not that device.
func checkHostDevices(steps []mount.Step) error {
	for _, st := range steps {
		if st.Kind != mount.Device {
			continue
		}
		var fi unix.Stat_t
		if err := unix.Stat(st.Target, &fi); err != nil {
			return fmt.Errorf("device %s: a user namespace binds the host's node: %w", st.Target, err)
		}
		if fi.Mode&unix.S_IFMT != st.Mode&unix.S_IFMT || unix.Major(fi.Rdev) != st.Major || unix.Minor(fi.Rdev) != st.Minor {
			return fmt.Errorf("device %s: the host's node is %d:%d, not %d:%d (a user namespace binds the host's node)", st.Target, unix.Major(fi.Rdev), unix.Minor(fi.Rdev), st.Major, st.Minor)
		}
	}
	return nil
}

// userMaps sets step 2's clone flags and maps on the child's command.
func (p *Plan) userMaps(a *syscall.SysProcAttr) {
	if p.Users == nil {
		return
	}
	a.Cloneflags = a.Cloneflags&^unix.CLONE_NEWNS | unix.CLONE_NEWUSER
	r := p.Users.Range
	m := []syscall.SysProcIDMap{{ContainerID: 0, HostID: int(r.Base), Size: int(r.Count)}}
	a.UidMappings, a.GidMappings = m, m
	// The guest's root may set its processes' groups (login, su).
	a.GidMappingsEnableSetgroups = true
	// The child keeps the host's root's IDs, which the maps leave out,
	// until it takes the namespace's own root's: then its exec gives it
	// the namespace's capabilities.
	a.Credential = &syscall.Credential{Uid: 0, Gid: 0}
}

// stageUsers is step 3; the stage is removed by unstageUsers, or by the
// undo of a failed start.
func (s *supervisor) stageUsers() error {
	p := s.p
	if p.Users == nil {
		return nil
	}
	ns, err := os.Open(filepath.Join("/proc", strconv.Itoa(s.child.pid()), "ns", "user"))
	if err != nil {
		return fmt.Errorf("open the container's user namespace: %w", err)
	}
	defer ns.Close()
	_, staged := userns.Rewrite(p.Mounts.Steps, p.Root, p.stageDir(), p.NewNetwork, p.Users.Ownership)
	st, err := userns.MakeStage(p.stageDir(), staged, int(ns.Fd()), p.Users.Range)
	if err != nil {
		return err
	}
	s.stage = st
	s.onUndo("remove the stage", s.unstageUsers)
	if st.Shifted {
		s.log.WithField("range", p.Users.Range.String()).Info("the root cannot be idmapped; its owners are shifted into the range")
	}
	for _, src := range st.Plain {
		s.log.Warnf("bind source %s cannot be idmapped; bound as it is, its files owned by nobody inside", src)
	}
	return s.child.send(message{Type: msgStaged})
}

// unstageUsers is step 5.
func (s *supervisor) unstageUsers() error {
	if s.stage == nil {
		return nil
	}
	err := s.stage.Close()
	if err == nil {
		s.stage = nil
	}
	return err
}

// enterUsers is the child's side of step 4: once the stage is ready, a
// mount namespace of its own user namespace's, and the staged root. Only this thread, locked, is in it: unshare(2) gives a thread its
// own filesystem context, and the init is exec'd from it.
func enterUsers(sock *os.File, cfg *initConfig) (*mount.Root, error) {
	prepare := mount.Prepare
	if cfg.Ephemeral {
		// An overlay of the (staged) root, on a tmpfs of this mount
		// namespace's own.
		prepare = mount.PrepareEphemeral
	}
	if !cfg.Users {
		return prepare(cfg.Root)
	}
	if err := expect(sock, msgStaged); err != nil {
		return nil, fmt.Errorf("wait for the stage: %w", err)
	}
	if err := unix.Unshare(unix.CLONE_NEWNS); err != nil {
		return nil, fmt.Errorf("new mount namespace in the user namespace: %w", err)
	}
	return prepare(cfg.Root)
}

// removeStaleUsers removes what a dead supervisor's private users left: a
// stage still mounted, and the locks of its range that no other start has
// taken since.
func removeStaleUsers(dir string) error {
	if err := userns.RemoveStage(filepath.Join(dir, stageName)); err != nil {
		return err
	}
	st, err := readState(dir)
	if err != nil || st.Users == nil {
		return nil
	}
	userns.Prune(filepath.Dir(dir), *st.Users)
	return nil
}
