// Package cgroup places a container's processes in a cgroup of their own,
// sets its limits, kills all of it, and removes it. cgroup v2 first; on a
// hybrid host (v1 controllers beside a cgroup2 "unified" hierarchy) the
// unified hierarchy tracks and kills the processes and the v1 controllers
// that exist carry the limits.
package cgroup

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"time"

	specs "github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/sys/unix"
)

// unified is the key of the cgroup2 hierarchy in per-hierarchy maps.
const unified = ""

// v1Controllers are the cgroup v1 controllers, which name their
// hierarchies (named ones, "name=systemd", are taken as they come).
var v1Controllers = []string{
	"cpu", "cpuacct", "cpuset", "memory", "devices", "freezer", "net_cls",
	"net_prio", "blkio", "perf_event", "hugetlb", "pids", "rdma", "misc",
}

// Layout is where the host mounts its cgroup hierarchies.
type Layout struct {
	Unified string            // the cgroup2 mount point, "" when there is none
	V1      map[string]string // v1 controller -> mount point
}

// DetectLayout reads the host's cgroup mounts from /proc/self/mountinfo.
func DetectLayout() (Layout, error) {
	f, err := os.Open("/proc/self/mountinfo")
	if err != nil {
		return Layout{}, err
	}
	defer f.Close()
	return parseLayout(f)
}

// inheritCpuset fills cpuset.cpus and cpuset.mems, empty in a new v1
// cpuset cgroup (no process may join it then), from the nearest ancestor
// that has them, for leaf and its parents below mnt.
func inheritCpuset(mnt, leaf string) error {
	var chain []string
	for p := leaf; p != mnt && p != "/"; p = filepath.Dir(p) {
		chain = append(chain, p)
	}
	for i := len(chain) - 1; i >= 0; i-- {
		for _, f := range []string{"cpuset.cpus", "cpuset.mems"} {
			own, err := os.ReadFile(filepath.Join(chain[i], f))
			if err != nil {
				return err
			}
			if strings.TrimSpace(string(own)) != "" {
				continue
			}
			v, err := os.ReadFile(filepath.Join(filepath.Dir(chain[i]), f))
			if err != nil {
				return err
			}
			if err := writeFile(filepath.Join(chain[i], f), strings.TrimSpace(string(v))); err != nil {
				return err
			}
		}
	}
	return nil
}

// UnifiedControllers lists the controllers the cgroup2 hierarchy offers.
func (l Layout) UnifiedControllers() []string {
	if l.Unified == "" {
		return nil
	}
	b, err := os.ReadFile(filepath.Join(l.Unified, "cgroup.controllers"))
	if err != nil {
		return nil
	}
	return strings.Fields(string(b))
}

// Config says where a container's cgroup goes and what it may use.
type Config struct {
	// Parents is the parent path in each hierarchy, relative to its root
	// (keyed by v1 controller, "" for cgroup2).
	Parents map[string]string
	// Managed lists parents that containerctl owns and removes when they
	// become empty (the default parent), as opposed to the user's
	// --cgroup-parent or a systemd unit's cgroup.
	Managed bool
	// Delegated says the cgroup2 parent is a unit's cgroup delegated to
	// containerctl (Delegate=yes), which it may configure.
	Delegated bool
	Name      string
	// Resources are the limits, as in the spec.
	Resources *specs.LinuxResources
}

// Cgroup is a container's cgroup in every hierarchy it uses.
type Cgroup struct {
	delegated bool
	// bpfDevices says the device rules are attached as a cgroup2 eBPF
	// program; deviceErr is why not, when they could not be.
	bpfDevices bool
	deviceErr  error
	paths      map[string]string // hierarchy -> absolute directory, with the limits
	guest      map[string]string // hierarchy -> the guest's directory below it
	leaves     []string          // the container's own directories, one a hierarchy
	parents    []string          // parents Create made, in order
	managed    []string          // parents to remove when empty
	dir        *os.File          // the cgroup2 directory, for CLONE_INTO_CGROUP
}

// Create makes the container's cgroup and sets its limits. It refuses,
// before creating anything, limits this host's controllers cannot enforce,
// and a cgroup of that name that already holds processes.
func Create(l Layout, cfg Config) (_ *Cgroup, retErr error) {
	plan, err := planResources(l, cfg.Resources)
	if err != nil {
		return nil, err
	}
	c := &Cgroup{paths: map[string]string{}, delegated: cfg.Delegated}
	defer func() {
		if retErr != nil {
			_ = c.Destroy()
		}
	}()
	hierarchies := map[string]string{}
	if l.Unified != "" {
		hierarchies[unified] = l.Unified
	}
	// Join every v1 hierarchy, not only those the limits use: the guest
	// may mount any of them, and in its cgroup namespace it then sees the
	// cgroup it was in when it made the namespace. Moving a process
	// between v1 cgroups waits for an RCU grace period (about 10 ms
	// here, see Add), which the init child spends setting up the root.
	for ctrl, m := range l.V1 {
		hierarchies[ctrl] = m
	}
	keys := make([]string, 0, len(hierarchies))
	for k := range hierarchies {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	for _, h := range keys {
		mnt := hierarchies[h]
		parent := filepath.Join(mnt, cfg.Parents[h])
		leaf := filepath.Join(parent, cfg.Name)
		if prev, ok := c.dirOf(mnt); ok {
			// Co-mounted controllers (cpu,cpuacct) share a directory.
			c.paths[h] = prev
			continue
		}
		managed := cfg.Managed || within(cfg.Parents[h], DefaultParent)
		err := c.mkdir(mnt, parent, leaf, managed)
		// Another container's teardown may remove the shared parent
		// between our look and our mkdir: make it again.
		for try := 0; errors.Is(err, os.ErrNotExist) && try < 3; try++ {
			err = c.mkdir(mnt, parent, leaf, managed)
		}
		if err != nil {
			return nil, err
		}
		c.paths[h] = leaf
		if h == "cpuset" {
			if err := inheritCpuset(mnt, leaf); err != nil {
				return nil, err
			}
		}
	}
	if p, ok := c.paths[unified]; ok {
		owned := func(dir string) bool {
			return slices.Contains(c.parents, dir) || slices.Contains(c.managed, dir) ||
				cfg.Delegated && dir == filepath.Join(l.Unified, cfg.Parents[unified])
		}
		if err := enableControllers(l.Unified, p, plan.v2Controllers(), owned); err != nil {
			return nil, err
		}
	}
	for _, w := range plan {
		p, ok := c.paths[w.hierarchy]
		if !ok {
			return nil, fmt.Errorf("cgroup: no %s hierarchy for %s", w.hierarchy, w.file)
		}
		if err := writeFile(filepath.Join(p, w.file), w.value); err != nil {
			return nil, err
		}
	}
	if r := cfg.Resources; r != nil && len(r.Devices) > 0 {
		if u, ok := c.paths[unified]; ok {
			c.deviceErr = attachDeviceFilter(u, r.Devices)
			c.bpfDevices = c.deviceErr == nil
		}
	}
	if err := c.makeGuest(l); err != nil {
		return nil, err
	}
	return c, nil
}

// guestName is the guest's cgroup, below the container's. The guest may
// write anything in its cgroup namespace, whose root this is; the limits
// sit on the container's cgroup above it, out of its reach (as nspawn keeps
// them on the unit, above its payload).
const guestName = "guest"

func (c *Cgroup) makeGuest(l Layout) error {
	c.guest = map[string]string{}
	for h, p := range c.paths {
		g := filepath.Join(p, guestName)
		if err := os.Mkdir(g, 0o755); err != nil && !errors.Is(err, os.ErrExist) {
			return fmt.Errorf("create cgroup %s: %w", g, err)
		}
		if h == "cpuset" {
			if err := inheritCpuset(l.V1[h], g); err != nil {
				return err
			}
		}
		c.guest[h] = g
	}
	if p, ok := c.paths[unified]; ok {
		// Pass every controller the container has on to the guest, whose
		// systemd divides them among its units.
		b, err := os.ReadFile(filepath.Join(p, "cgroup.controllers"))
		if err != nil {
			return err
		}
		if ctrls := strings.Fields(string(b)); len(ctrls) > 0 {
			if err := writeFile(filepath.Join(p, "cgroup.subtree_control"), "+"+strings.Join(ctrls, " +")); err != nil {
				return err
			}
		}
		var err2 error
		if c.dir, err2 = os.Open(c.guest[unified]); err2 != nil {
			return err2
		}
	}
	return nil
}

func (c *Cgroup) dirOf(mnt string) (string, bool) {
	for _, p := range c.paths {
		if strings.HasPrefix(p, mnt+"/") {
			return p, true
		}
	}
	return "", false
}

// mkdir creates leaf and its missing parents. A leaf left by a supervisor
// that died is made anew if empty; one with processes is refused.
func (c *Cgroup) mkdir(mnt, parent, leaf string, managed bool) error {
	var missing []string
	for p := parent; p != mnt && p != "/"; p = filepath.Dir(p) {
		if _, err := os.Stat(p); err == nil {
			break
		}
		missing = append(missing, p)
	}
	for i := len(missing) - 1; i >= 0; i-- {
		err := os.Mkdir(missing[i], 0o755)
		if err == nil {
			c.parents = append(c.parents, missing[i])
		} else if !errors.Is(err, os.ErrExist) {
			return fmt.Errorf("create cgroup %s: %w", missing[i], err)
		}
	}
	if managed {
		for p := parent; p != mnt && p != "/"; p = filepath.Dir(p) {
			c.managed = append(c.managed, p)
		}
	}
	err := os.Mkdir(leaf, 0o755)
	switch {
	case err == nil:
		c.leaves = append(c.leaves, leaf)
		return nil
	case !errors.Is(err, os.ErrExist):
		return fmt.Errorf("create cgroup %s: %w", leaf, err)
	}
	// Left by a supervisor that died. Never reuse it: a cgroup that was
	// once killed through cgroup.kill can kill what is cloned into it
	// later (its kill sequence differs from the new parent's), so make a
	// new one.
	procs, perr := treeProcs(leaf)
	if perr != nil {
		return perr
	}
	if len(procs) > 0 {
		return fmt.Errorf("cgroup %s already holds processes %v", leaf, procs)
	}
	if err := removeTree(leaf); err != nil {
		return err
	}
	if err := os.Mkdir(leaf, 0o755); err != nil {
		return fmt.Errorf("create cgroup %s: %w", leaf, err)
	}
	c.leaves = append(c.leaves, leaf)
	return nil
}

// Path is the cgroup's directory in the cgroup2 hierarchy, or in the first
// v1 one where there is none.
func (c *Cgroup) Path() string {
	if p, ok := c.paths[unified]; ok {
		return p
	}
	for _, ctrl := range []string{"pids", "freezer", "memory"} {
		if p, ok := c.paths[ctrl]; ok {
			return p
		}
	}
	for _, p := range c.Paths() {
		return p
	}
	return ""
}

// ManagedParents are the parents to remove once empty, for the record.
func (c *Cgroup) ManagedParents() []string { return slices.Clone(c.managed) }

// Paths are the cgroup's directories in every hierarchy, for the record a
// crashed supervisor's reaper cleans up.
func (c *Cgroup) Paths() []string {
	var ps []string
	for _, p := range c.paths {
		if !slices.Contains(ps, p) {
			ps = append(ps, p)
		}
	}
	slices.Sort(ps)
	return ps
}

// DevicesEnforced reports whether the spec's device rules are in force:
// through the cgroup2 eBPF device program, or the v1 devices controller,
// or both on a hybrid host; when not, the error says why.
func (c *Cgroup) DevicesEnforced() (bool, error) {
	_, v1 := c.paths["devices"]
	return c.bpfDevices || v1, c.deviceErr
}

// Delegated reports whether the cgroup is below a systemd unit's delegated
// cgroup, which systemd removes when the unit stops.
func (c *Cgroup) Delegated() bool { return c.delegated }

// GuestPath is the guest's cgroup directory in the cgroup2 hierarchy (or the
// first v1 one): the root of the guest's cgroup namespace.
func (c *Cgroup) GuestPath() string {
	return filepath.Join(c.Path(), guestName)
}

// FD is the guest's cgroup2 directory's descriptor for CLONE_INTO_CGROUP
// (SysProcAttr.UseCgroupFD), or -1 where there is no cgroup2 hierarchy.
func (c *Cgroup) FD() int {
	if c.dir == nil {
		return -1
	}
	return int(c.dir.Fd())
}

// Add moves pid into the guest's cgroup in every hierarchy; cloned is true
// when the process was created inside the cgroup2 one already.
func (c *Cgroup) Add(pid int, cloned bool) error {
	for h, p := range c.guest {
		if h == unified && cloned {
			continue
		}
		if err := writeFile(filepath.Join(p, "cgroup.procs"), strconv.Itoa(pid)); err != nil {
			return err
		}
	}
	return nil
}

// Kill kills every process in the cgroup with SIGKILL and waits, up to
// timeout (zero: not at all), until it is empty. cgroup.kill (Linux 5.14) does it in one step
// and cannot miss a process that forks meanwhile; without it the processes
// are frozen first, so that none can fork while they are killed one by one.
func (c *Cgroup) Kill(timeout time.Duration) error {
	return killPaths(c.paths, timeout)
}

// Destroy kills what is left and removes the cgroup, and the parents
// containerctl manages once they are empty.
func (c *Cgroup) Destroy() error {
	if c.dir != nil {
		c.dir.Close()
		c.dir = nil
	}
	err := killPaths(c.paths, 5*time.Second)
	// Only the container's own cgroups are removed with what is below
	// them; a parent is shared with other containers and is removed, not
	// emptied, once nothing else uses it.
	for _, leaf := range c.leaves {
		if rerr := removeTree(leaf); rerr != nil {
			err = errors.Join(err, rerr)
		}
	}
	for i := len(c.parents) - 1; i >= 0; i-- {
		_ = os.Remove(c.parents[i]) // busy while another container uses it
	}
	for _, p := range c.managed {
		_ = os.Remove(p)
	}
	c.leaves, c.parents, c.managed = nil, nil, nil
	return err
}

// Remove kills and removes cgroups by path, as recorded for a container
// whose supervisor died; parents named by managed are removed when empty.
func Remove(paths []string, managedParents []string) error {
	// A path may be gone already: removed by systemd with a unit's cgroup,
	// or by another cleanup.
	paths = slices.DeleteFunc(slices.Clone(paths), func(p string) bool {
		_, err := os.Stat(p)
		return errors.Is(err, os.ErrNotExist)
	})
	byKey := map[string]string{}
	for i, p := range paths {
		key := strconv.Itoa(i)
		if isUnified(p) {
			key = unified
		} else if strings.Contains(p, "/freezer/") {
			key = "freezer"
		}
		byKey[key] = p
	}
	err := killPaths(byKey, 5*time.Second)
	for _, p := range paths {
		if rerr := removeTree(p); rerr != nil {
			err = errors.Join(err, rerr)
		}
	}
	for _, p := range managedParents {
		_ = os.Remove(p)
	}
	return err
}

func isUnified(p string) bool {
	var st unix.Statfs_t
	return unix.Statfs(p, &st) == nil && st.Type == unix.CGROUP2_SUPER_MAGIC
}

func killPaths(paths map[string]string, timeout time.Duration) error {
	var any string
	for _, p := range paths {
		any = p
		break
	}
	if any == "" {
		return nil
	}
	if u, ok := paths[unified]; ok {
		any = u
		if err := writeFile(filepath.Join(u, "cgroup.kill"), "1"); err == nil {
			return waitEmpty(u, timeout)
		} else if !errors.Is(err, os.ErrNotExist) {
			return err
		}
	}
	thaw := func() error { return nil }
	if f, ok := paths["freezer"]; ok {
		if err := writeFile(filepath.Join(f, "freezer.state"), "FROZEN"); err != nil {
			return err
		}
		thaw = func() error { return writeFile(filepath.Join(f, "freezer.state"), "THAWED") }
	} else if u, ok := paths[unified]; ok {
		if err := writeFile(filepath.Join(u, "cgroup.freeze"), "1"); err == nil {
			thaw = func() error { return writeFile(filepath.Join(u, "cgroup.freeze"), "0") }
		}
	}
	procs, err := treeProcs(any)
	if errors.Is(err, os.ErrNotExist) {
		return thaw()
	}
	if err != nil {
		_ = thaw()
		return err
	}
	for _, pid := range procs {
		_ = unix.Kill(pid, unix.SIGKILL)
	}
	// Killed processes die only once thawed.
	if err := thaw(); err != nil {
		return err
	}
	return waitEmpty(any, timeout)
}

// waitEmpty waits until the cgroup at p has no process; a zero timeout
// does not wait.
func waitEmpty(p string, timeout time.Duration) error {
	if timeout <= 0 {
		return nil
	}
	deadline := time.Now().Add(timeout)
	for {
		procs, err := treeProcs(p)
		if errors.Is(err, os.ErrNotExist) {
			return nil
		}
		if err != nil {
			return err
		}
		if len(procs) == 0 {
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("cgroup %s: processes %v still there %v after SIGKILL", p, procs, timeout)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// removeTree removes the cgroup at dir and any the container made below it,
// deepest first (rmdir is the only way to remove a cgroup, and fails while
// it has children).
func removeTree(dir string) error {
	entries, err := os.ReadDir(dir)
	if errors.Is(err, os.ErrNotExist) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("remove cgroup %s: %w", dir, err)
	}
	var errs []error
	for _, e := range entries {
		if e.IsDir() {
			errs = append(errs, removeTree(filepath.Join(dir, e.Name())))
		}
	}
	// A cgroup stays busy until its last exited process is reaped, which
	// its new parent may do a moment after we saw it empty.
	deadline := time.Now().Add(2 * time.Second)
	for {
		err := os.Remove(dir)
		if err == nil || errors.Is(err, os.ErrNotExist) {
			break
		}
		if !errors.Is(err, unix.EBUSY) || time.Now().After(deadline) {
			errs = append(errs, fmt.Errorf("remove cgroup %s: %w", dir, err))
			break
		}
		time.Sleep(5 * time.Millisecond)
	}
	return errors.Join(errs...)
}

// treeProcs lists the processes in the cgroup at dir and below it.
func treeProcs(dir string) ([]int, error) {
	pids, err := readProcs(dir)
	if err != nil {
		return nil, err
	}
	entries, err := os.ReadDir(dir)
	if err != nil {
		return nil, err
	}
	for _, e := range entries {
		if !e.IsDir() {
			continue
		}
		sub, err := treeProcs(filepath.Join(dir, e.Name()))
		if err != nil && !errors.Is(err, os.ErrNotExist) {
			return nil, err
		}
		pids = append(pids, sub...)
	}
	return pids, nil
}

func readProcs(dir string) ([]int, error) {
	b, err := os.ReadFile(filepath.Join(dir, "cgroup.procs"))
	if err != nil {
		return nil, err
	}
	var pids []int
	for _, f := range strings.Fields(string(b)) {
		if pid, err := strconv.Atoi(f); err == nil {
			pids = append(pids, pid)
		}
	}
	return pids, nil
}

func writeFile(p, v string) error {
	if err := os.WriteFile(p, []byte(v), 0); err != nil {
		var pe *os.PathError
		if errors.As(err, &pe) {
			return fmt.Errorf("write %q to %s: %w", v, p, pe.Err)
		}
		return err
	}
	return nil
}

// enableControllers turns on controllers for dir's children all the way
// down from the cgroup2 root, as cgroup v2 requires: in the cgroups
// containerctl owns (owned), every controller they have, so that the guest's
// systemd gets them to divide among its units as under nspawn; in the root,
// only ctrls, those the limits need. A cgroup someone else owns, such as
// systemd's slices, must pass ctrls down already.
func enableControllers(root, dir string, ctrls []string, owned func(string) bool) error {
	var chain []string
	for p := filepath.Dir(dir); ; p = filepath.Dir(p) {
		chain = append(chain, p)
		if p == root || p == "/" {
			break
		}
	}
	for i := len(chain) - 1; i >= 0; i-- {
		p := chain[i]
		want := ctrls
		if p != root && owned(p) {
			b, err := os.ReadFile(filepath.Join(p, "cgroup.controllers"))
			if err != nil {
				return err
			}
			want = strings.Fields(string(b))
		}
		b, err := os.ReadFile(filepath.Join(p, "cgroup.subtree_control"))
		if err != nil {
			return err
		}
		have := strings.Fields(string(b))
		var missing []string
		for _, c := range want {
			if !slices.Contains(have, c) {
				missing = append(missing, c)
			}
		}
		if len(missing) == 0 {
			continue
		}
		if p != root && !owned(p) {
			return fmt.Errorf("cgroup %s does not pass the %s controller down (cgroup.subtree_control), and containerctl does not own it", p, strings.Join(missing, ", "))
		}
		if err := writeFile(filepath.Join(p, "cgroup.subtree_control"), "+"+strings.Join(missing, " +")); err != nil {
			return err
		}
	}
	return nil
}

// parseLayout finds the cgroup mounts in mountinfo text.
func parseLayout(r interface{ Read([]byte) (int, error) }) (Layout, error) {
	l := Layout{}
	sc := bufio.NewScanner(r)
	for sc.Scan() {
		line := sc.Text()
		pre, post, ok := strings.Cut(line, " - ")
		if !ok {
			continue
		}
		fields, postFields := strings.Fields(pre), strings.Fields(post)
		if len(fields) < 5 || len(postFields) < 3 || fields[3] != "/" {
			continue
		}
		mnt := unescape(fields[4])
		switch postFields[0] {
		case "cgroup2":
			if l.Unified == "" {
				l.Unified = mnt
			}
		case "cgroup":
			for _, o := range strings.Split(postFields[2], ",") {
				if slices.Contains(v1Controllers, o) || strings.HasPrefix(o, "name=") {
					if l.V1 == nil {
						l.V1 = map[string]string{}
					}
					if _, dup := l.V1[o]; !dup {
						l.V1[o] = mnt
					}
				}
			}
		}
	}
	return l, sc.Err()
}

// unescape undoes mountinfo's octal escapes ("\040" for a space).
func unescape(s string) string {
	if !strings.Contains(s, `\`) {
		return s
	}
	var b bytes.Buffer
	for i := 0; i < len(s); i++ {
		if s[i] == '\\' && i+3 < len(s) {
			if v, err := strconv.ParseUint(s[i+1:i+4], 8, 8); err == nil {
				b.WriteByte(byte(v))
				i += 3
				continue
			}
		}
		b.WriteByte(s[i])
	}
	return b.String()
}

// within reports whether the cgroup path p is dir or below it.
func within(p, dir string) bool {
	return p == dir || strings.HasPrefix(p, dir+"/")
}
