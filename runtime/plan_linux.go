package runtime

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"

	specs "github.com/opencontainers/runtime-spec/specs-go"

	"github.com/containerctl/containerctl/cgroup"
	"github.com/containerctl/containerctl/mount"
	"github.com/containerctl/containerctl/runtime/network"
)

// Compile checks a container's spec and options against this host and
// compiles the Plan that Run executes. It creates nothing: whatever it
// refuses leaves the host as it was.
func Compile(c *Container, opts Options) (*Plan, error) {
	p, err := compile(c, opts)
	if err != nil {
		return nil, err
	}
	if err := p.checkRoot(); err != nil {
		return nil, err
	}
	if p.Layout, err = cgroup.DetectLayout(); err != nil {
		return nil, fmt.Errorf("find cgroup hierarchies: %w", err)
	}
	if p.Cgroup, err = cgroup.Place(p.Layout, p.Name, c.Spec.Linux.CgroupsPath, resources(c.Spec)); err != nil {
		return nil, fmt.Errorf("cgroup: %w", err)
	}
	if err := cgroup.Check(p.Layout, p.Cgroup.Resources); err != nil {
		return nil, err
	}
	p.Cgroup.AllowUnrestrictedDevices = p.AllowUnrestrictedDevices
	if err := p.checkStateDir(); err != nil {
		return nil, err
	}
	if p.Network != nil {
		if err := network.Check(p.Network); err != nil {
			return nil, err
		}
	}
	if p.NetNSPath != "" {
		if err := network.CheckNamespace(p.NetNSPath); err != nil {
			return nil, fmt.Errorf("%w: %w", ErrInvalidSpec, err)
		}
		if err := p.checkNetNSSysctls(); err != nil {
			return nil, err
		}
	}
	spec, err := p.resolveBinds(c.Spec)
	if err != nil {
		return nil, err
	}
	if err := checkInit(spec); err != nil {
		return nil, err
	}
	if p.Profile != "" {
		p.InitInterpreter = initInterpreter(spec)
	}
	if p.Mounts, err = p.mountSteps(spec); err != nil {
		return nil, err
	}
	return p, nil
}

// checkNetNSSysctls refuses net sysctls for a network namespace joined by
// path that is the host's own: they would change the host's network. One
// of another container's, or a named one (ip netns, netavark's), takes them
// as runc gives them: for everything in it.
func (p *Plan) checkNetNSSysctls() error {
	i := slices.IndexFunc(p.Sysctl, func(s Sysctl) bool { return strings.HasPrefix(s.Path, "net/") })
	if i < 0 {
		return nil
	}
	host, err := network.IsHostNamespace(p.NetNSPath)
	if err != nil {
		return fmt.Errorf("%w: %w", ErrInvalidSpec, err)
	}
	if host {
		return fmt.Errorf("%w: linux.sysctl %s: the network namespace %s is the host's", ErrInvalidSpec, strings.ReplaceAll(p.Sysctl[i].Path, "/", "."), p.NetNSPath)
	}
	return nil
}

// checkStateDir keeps the records of running containers out of every
// container's reach: a guest that could write a record could make the
// next containerctl command clean up, and so kill, what it names.
func (p *Plan) checkStateDir() error {
	state, err := realPath(p.StateDir)
	if err != nil {
		return fmt.Errorf("state directory %s: %w", p.StateDir, err)
	}
	if under(state, p.Root) || under(p.Root, state) {
		return fmt.Errorf("%w: root %s and the state directory %s must not contain each other", ErrInvalidSpec, p.Root, p.StateDir)
	}
	return nil
}

// resolveBinds returns the spec with every bind source resolved to its real
// path once, so that a link in it (in a directory a guest shares) cannot
// send the bind elsewhere later, and refuses a source that would hand the
// guest the host's root, its API filesystems (/proc, /sys, a cgroup
// hierarchy with its release_agent, /dev) or the records of running
// containers.
func (p *Plan) resolveBinds(spec *specs.Spec) (*specs.Spec, error) {
	mounts, err := readMounts()
	if err != nil {
		return nil, err
	}
	state, _ := realPath(p.StateDir)
	out := *spec
	out.Mounts = append([]specs.Mount(nil), spec.Mounts...)
	for i, m := range out.Mounts {
		if !isBind(m) {
			continue
		}
		real, err := filepath.EvalSymlinks(m.Source)
		if err != nil {
			return nil, fmt.Errorf("bind source for %s: %w", m.Destination, err)
		}
		if err := checkBindSource(real, state, recursiveBind(m), mounts); err != nil {
			return nil, fmt.Errorf("%w: bind source %s for %s: %w", ErrInvalidSpec, m.Source, m.Destination, err)
		}
		out.Mounts[i].Source = real
	}
	return &out, nil
}

// checkRoot refuses the host's own root, however it is spelled (a link to
// it, /tmp/..), and a root whose parent is missing unless it may be made.
func (p *Plan) checkRoot() error {
	real, err := filepath.EvalSymlinks(p.Root)
	switch {
	case err == nil:
		if fi, err := os.Stat(real); err != nil {
			return fmt.Errorf("root %s: %w", p.Root, err)
		} else if !fi.IsDir() {
			return fmt.Errorf("root %s: not a directory", p.Root)
		}
		if isHostRoot(real) {
			return fmt.Errorf("%w: root %s is the host's own root", ErrInvalidSpec, p.Root)
		}
		// Mounted and pivoted to by its real path, so that a link
		// swapped in later cannot redirect the container.
		p.Root = real
		return nil
	case !errors.Is(err, os.ErrNotExist):
		return fmt.Errorf("root %s: %w", p.Root, err)
	case p.MakeRootParents:
		return nil
	}
	parent := filepath.Dir(p.Root)
	if fi, err := os.Stat(parent); err != nil {
		return fmt.Errorf("root %s: parent directory: %w", p.Root, err)
	} else if !fi.IsDir() {
		return fmt.Errorf("root %s: parent %s is not a directory", p.Root, parent)
	}
	return nil
}

func isHostRoot(dir string) bool {
	a, err := os.Stat(dir)
	if err != nil {
		return false
	}
	b, err := os.Stat("/")
	return err == nil && os.SameFile(a, b)
}

// mountSteps builds the container's mount steps once: the spec's mounts,
// the console, the runtime's own files (/run/host, the boot ID), devices,
// masks and read-only paths.
func (p *Plan) mountSteps(spec *specs.Spec) (mount.Steps, error) {
	files, err := hostFiles(spec, p.NotifyPath, p.BootIDPath)
	if err != nil {
		return mount.Steps{}, err
	}
	steps, err := mount.Plan(spec, mount.Host{Console: p.Console != ConsolePipe, Files: files})
	if err != nil {
		return mount.Steps{}, fmt.Errorf("%w: %w", ErrInvalidSpec, err)
	}
	return steps, nil
}

// apiFilesystems are the kernel's own filesystems: a bind of one (or of a
// tree that holds one) gives the guest the host's view of the kernel.
var apiFilesystems = []string{
	"proc", "sysfs", "cgroup", "cgroup2", "devtmpfs", "debugfs", "tracefs",
	"securityfs", "bpf", "configfs", "efivarfs", "pstore", "binfmt_misc", "fusectl",
}

func readMounts() ([]mount.Info, error) {
	f, err := os.Open("/proc/self/mountinfo")
	if err != nil {
		return nil, err
	}
	defer f.Close()
	return mount.ParseMountinfo(f)
}

// checkBindSource refuses the host's root, the state directory (and what
// holds it), and an API filesystem: the one the source lies on, or, for a
// recursive bind, one mounted below it. A device node on devtmpfs (/dev/kvm,
// /dev/fuse) may be bound; its directory may not.
func checkBindSource(src, state string, recursive bool, mounts []mount.Info) error {
	if isHostRoot(src) {
		return errors.New("the host's root directory")
	}
	if state != "" && (under(src, state) || under(state, src)) {
		return fmt.Errorf("holds or lies in the records of running containers (%s)", state)
	}
	fi, err := os.Stat(src)
	if err != nil {
		return err
	}
	var on mount.Info // the mount src lies on: the deepest at or above it, the last of those
	for _, m := range mounts {
		if under(src, m.Point) && len(m.Point) >= len(on.Point) {
			on = m
		}
	}
	if slices.Contains(apiFilesystems, on.FSType) && (fi.IsDir() || on.FSType != "devtmpfs") {
		return fmt.Errorf("the host's %s (%s)", on.FSType, on.Point)
	}
	for _, m := range mounts {
		if recursive && fi.IsDir() && m.Point != src && under(m.Point, src) && slices.Contains(apiFilesystems, m.FSType) {
			return fmt.Errorf("a recursive bind would bring the host's %s at %s", m.FSType, m.Point)
		}
	}
	return nil
}

func recursiveBind(m specs.Mount) bool {
	for _, o := range m.Options {
		if o == "rbind" {
			return true
		}
	}
	return false
}

// under reports whether the clean path p is dir or lies below it.
func under(p, dir string) bool {
	return p == dir || dir == "/" || strings.HasPrefix(p, dir+"/")
}

// realPath resolves the links of the part of p that exists.
func realPath(p string) (string, error) {
	p = filepath.Clean(p)
	if !filepath.IsAbs(p) {
		return "", errors.New("not an absolute path")
	}
	for rest := ""; ; {
		real, err := filepath.EvalSymlinks(p)
		if err == nil {
			return filepath.Join(real, rest), nil
		}
		if !errors.Is(err, os.ErrNotExist) || p == "/" {
			return "", err
		}
		p, rest = filepath.Dir(p), filepath.Join(filepath.Base(p), rest)
	}
}
