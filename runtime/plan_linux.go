package runtime

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"

	specs "github.com/opencontainers/runtime-spec/specs-go"

	"github.com/containerctl/containerctl/cgroup"
	"github.com/containerctl/containerctl/mount"
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
	for _, m := range c.Spec.Mounts {
		if !isBind(m) {
			continue
		}
		if _, err := os.Stat(m.Source); err != nil {
			return nil, fmt.Errorf("bind source for %s: %w", m.Destination, err)
		}
	}
	if err := checkInit(c.Spec); err != nil {
		return nil, err
	}
	if p.Mounts, err = p.mountSteps(c.Spec); err != nil {
		return nil, err
	}
	return p, nil
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
