package cgroup

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
)

// Create makes the container's cgroup in every hierarchy and sets its
// limits, after moving the caller where cfg.Supervisor says. It refuses,
// before creating anything, limits this host's controllers cannot enforce;
// and a cgroup of that name that already holds processes, and device rules
// nothing can enforce (unless cfg.AllowUnrestrictedDevices).
func Create(l Layout, cfg Config) (_ *Cgroup, retErr error) {
	plan, err := planResources(l, cfg.Resources)
	if err != nil {
		return nil, err
	}
	roots, err := openRoots(l)
	if err != nil {
		return nil, err
	}
	c := &Cgroup{roots: roots, paths: map[string]string{}, delegated: cfg.Delegated}
	var filter *deviceFilter
	if r := cfg.Resources; r != nil && len(r.Devices) > 0 && l.hasUnified() {
		filter = loadDeviceFilter(r.Devices)
	}
	defer func() {
		filter.close()
		if retErr != nil {
			_ = c.Destroy()
		}
	}()
	if cfg.Supervisor != "" {
		if err := c.moveSelf(cfg.Supervisor); err != nil {
			return nil, err
		}
	}
	// Every hierarchy, not only those the limits use: the guest may mount
	// any of them, and in its cgroup namespace it then sees the cgroup it
	// was in when it made the namespace.
	for _, h := range l.Hierarchies {
		if err := c.makeLeaf(h, cfg); err != nil {
			return nil, err
		}
	}
	if p, ok := c.paths[UnifiedKey]; ok {
		owned := func(d string) bool {
			for _, o := range append(slices.Clone(c.parents), c.managed...) {
				if o.key == UnifiedKey && o.rel == d {
					return true
				}
			}
			return cfg.Delegated && d == cfg.Parents[UnifiedKey]
		}
		if err := c.enableControllers(p, plan.v2Controllers(), owned); err != nil {
			return nil, err
		}
	}
	for _, w := range plan {
		p, ok := c.paths[w.hierarchy]
		if !ok {
			return nil, fmt.Errorf("cgroup: no %s hierarchy for %s", w.hierarchy, w.file)
		}
		if err := writeFile(filepath.Join(c.abs(w.hierarchy, p), w.file), w.value); err != nil {
			return nil, err
		}
	}
	if err := c.restrictDevices(cfg, filter); err != nil {
		return nil, err
	}
	if err := c.makeGuest(); err != nil {
		return nil, err
	}
	return c, nil
}

// moveSelf moves the calling process to the cgroup2 cgroup rel, made if
// missing.
func (c *Cgroup) moveSelf(rel string) error {
	d := c.abs(UnifiedKey, rel)
	if err := os.Mkdir(d, 0o755); err != nil && !errors.Is(err, os.ErrExist) {
		return fmt.Errorf("create cgroup %s: %w", d, err)
	}
	return writeFile(filepath.Join(d, "cgroup.procs"), strconv.Itoa(os.Getpid()))
}

// restrictDevices attaches the cgroup2 device filter where there is a
// unified hierarchy (the v1 devices controller got its writes with the
// plan), and refuses rules that neither enforces.
func (c *Cgroup) restrictDevices(cfg Config, filter *deviceFilter) error {
	r := cfg.Resources
	if r == nil || len(r.Devices) == 0 {
		return nil
	}
	if p, ok := c.paths[UnifiedKey]; ok && filter != nil {
		c.deviceErr = filter.attach(c.abs(UnifiedKey, p))
		c.bpfDevices = c.deviceErr == nil
	}
	if ok, why := c.DevicesEnforced(); !ok && !cfg.AllowUnrestrictedDevices {
		if why == nil {
			why = errors.New("no cgroup2 hierarchy and no v1 devices controller")
		}
		return fmt.Errorf("%w: %w (a guest with CAP_MKNOD could open any device)", ErrDevicesUnrestricted, why)
	}
	return nil
}

// makeLeaf makes the container's cgroup in h, below cfg's parent there.
func (c *Cgroup) makeLeaf(h Hierarchy, cfg Config) error {
	parent := cfg.Parents[h.Key]
	if parent == "" {
		parent = "/"
	}
	leaf := filepath.Join(parent, cfg.Name)
	managed := cfg.Managed || within(parent, DefaultParent)
	err := c.mkdir(h.Key, parent, leaf, managed)
	// Another container's teardown may remove the shared parent between
	// our look and our mkdir: make it again.
	for try := 0; errors.Is(err, os.ErrNotExist) && try < 3; try++ {
		err = c.mkdir(h.Key, parent, leaf, managed)
	}
	if err != nil {
		return err
	}
	c.paths[h.Key] = leaf
	if slices.Contains(h.Controllers, "cpuset") {
		return c.inheritCpuset(h.Key, leaf)
	}
	return nil
}

// mkdir creates leaf and its missing parents. A leaf left by a supervisor
// that died is made anew if empty; one with processes is refused.
func (c *Cgroup) mkdir(key, parent, leaf string, managed bool) error {
	var missing []string
	for p := parent; p != "/"; p = filepath.Dir(p) {
		if _, err := os.Stat(c.abs(key, p)); err == nil {
			break
		}
		missing = append(missing, p)
	}
	for i := len(missing) - 1; i >= 0; i-- {
		err := os.Mkdir(c.abs(key, missing[i]), 0o755)
		if err == nil {
			c.parents = append(c.parents, dir{key, missing[i]})
		} else if !errors.Is(err, os.ErrExist) {
			return fmt.Errorf("create cgroup %s: %w", c.abs(key, missing[i]), err)
		}
	}
	if managed {
		for p := parent; p != "/"; p = filepath.Dir(p) {
			c.managed = append(c.managed, dir{key, p})
		}
	}
	abs := c.abs(key, leaf)
	err := os.Mkdir(abs, 0o755)
	if err == nil || !errors.Is(err, os.ErrExist) {
		if err != nil {
			return fmt.Errorf("create cgroup %s: %w", abs, err)
		}
		return nil
	}
	// Left by a supervisor that died. Never reuse it: a cgroup that was
	// once killed through cgroup.kill can kill what is cloned into it
	// later (its kill sequence differs from the new parent's), so make a
	// new one.
	procs, perr := treeProcs(abs)
	if perr != nil {
		return perr
	}
	if len(procs) > 0 {
		return fmt.Errorf("cgroup %s: %w: holds processes %v", abs, ErrInUse, procs)
	}
	if err := removeTree(abs); err != nil {
		return err
	}
	if err := os.Mkdir(abs, 0o755); err != nil {
		return fmt.Errorf("create cgroup %s: %w", abs, err)
	}
	return nil
}

// makeGuest makes the guest's cgroup below the container's in every
// hierarchy, and passes every controller the container has on to it.
func (c *Cgroup) makeGuest() error {
	for _, k := range c.keys() {
		rel := filepath.Join(c.paths[k], guestName)
		if err := os.Mkdir(c.abs(k, rel), 0o755); err != nil && !errors.Is(err, os.ErrExist) {
			return fmt.Errorf("create cgroup %s: %w", c.abs(k, rel), err)
		}
		if slices.Contains(c.roots[k].h.Controllers, "cpuset") {
			if err := c.inheritCpuset(k, rel); err != nil {
				return err
			}
		}
	}
	p, ok := c.paths[UnifiedKey]
	if !ok {
		return nil
	}
	// The guest's systemd divides them among its units.
	dir := c.abs(UnifiedKey, p)
	b, err := readFile(filepath.Join(dir, "cgroup.controllers"))
	if err != nil {
		return err
	}
	if ctrls := strings.Fields(string(b)); len(ctrls) > 0 {
		if err := writeFile(filepath.Join(dir, "cgroup.subtree_control"), "+"+strings.Join(ctrls, " +")); err != nil {
			return err
		}
	}
	c.dir, err = os.Open(filepath.Join(dir, guestName))
	return err
}

// inheritCpuset fills cpuset.cpus and cpuset.mems, empty in a new v1
// cpuset cgroup (no process may join it then), from the nearest ancestor
// that has them, for leaf and its parents.
func (c *Cgroup) inheritCpuset(key, leaf string) error {
	var chain []string
	for p := leaf; p != "/"; p = filepath.Dir(p) {
		chain = append(chain, p)
	}
	for i := len(chain) - 1; i >= 0; i-- {
		for _, f := range []string{"cpuset.cpus", "cpuset.mems"} {
			own, err := readFile(filepath.Join(c.abs(key, chain[i]), f))
			if err != nil {
				return err
			}
			if strings.TrimSpace(string(own)) != "" {
				continue
			}
			v, err := readFile(filepath.Join(c.abs(key, filepath.Dir(chain[i])), f))
			if err != nil {
				return err
			}
			if err := writeFile(filepath.Join(c.abs(key, chain[i]), f), strings.TrimSpace(string(v))); err != nil {
				return err
			}
		}
	}
	return nil
}

// enableControllers turns on controllers for leaf's children all the way
// down from the cgroup2 root, as cgroup v2 requires: in the cgroups
// containerctl owns (owned), every controller they have, so that the guest's
// systemd gets them to divide among its units as under nspawn; in the root,
// only ctrls, those the limits need. A cgroup someone else owns, such as
// systemd's slices, must pass ctrls down already.
func (c *Cgroup) enableControllers(leaf string, ctrls []string, owned func(string) bool) error {
	var chain []string
	for p := filepath.Dir(leaf); ; p = filepath.Dir(p) {
		chain = append(chain, p)
		if p == "/" {
			break
		}
	}
	for i := len(chain) - 1; i >= 0; i-- {
		p, abs := chain[i], c.abs(UnifiedKey, chain[i])
		want := ctrls
		if p != "/" && owned(p) {
			b, err := readFile(filepath.Join(abs, "cgroup.controllers"))
			if err != nil {
				return err
			}
			want = strings.Fields(string(b))
		}
		b, err := readFile(filepath.Join(abs, "cgroup.subtree_control"))
		if err != nil {
			return err
		}
		have := strings.Fields(string(b))
		missing := slices.DeleteFunc(slices.Clone(want), func(c string) bool { return slices.Contains(have, c) })
		if len(missing) == 0 {
			continue
		}
		if p != "/" && !owned(p) {
			return fmt.Errorf("cgroup %s does not pass the %s controller down (cgroup.subtree_control): %w", abs, strings.Join(missing, ", "), ErrNotOwned)
		}
		if err := writeFile(filepath.Join(abs, "cgroup.subtree_control"), "+"+strings.Join(missing, " +")); err != nil {
			return err
		}
	}
	return nil
}
