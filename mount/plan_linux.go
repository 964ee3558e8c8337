package mount

import (
	"fmt"
	"path"
	"strings"

	specs "github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/sys/unix"
)

// Kind is what a Step does.
type Kind int

const (
	// Mount mounts a filesystem (proc, tmpfs, ...) on Target.
	Mount Kind = iota
	// Bind binds the host path Source on Target.
	Bind
	// Device creates a device node at Target.
	Device
	// Symlink creates a symbolic link at Target pointing to Source.
	Symlink
	// Mask makes Target inaccessible (an empty read-only tmpfs over a
	// directory, /dev/null over a file).
	Mask
	// Readonly makes the existing Target read-only.
	Readonly
	// File writes Data to a new read-only file at Target.
	File
)

// Step is one step of setting up a container's filesystem. Targets are paths
// inside the container's root; sources of binds are host paths. The plan is
// data so that it can be read by a unit test and logged; Apply executes it.
type Step struct {
	Kind   Kind
	Source string
	Target string
	FSType string
	// Flags are mount(2) flags for Mount. For Bind, MS_REC makes it
	// recursive and MS_RDONLY, MS_NOSUID, MS_NODEV and MS_NOEXEC are set on
	// the new mount (and its submounts) after binding.
	Flags uintptr
	Data  string
	// Mode, Major and Minor describe a Device (Mode includes the file type).
	Mode         uint32
	Major, Minor uint32
}

func (s Step) String() string {
	switch s.Kind {
	case Mount:
		return fmt.Sprintf("mount %s on %s%s", s.FSType, s.Target, describe(s.Flags, s.Data))
	case Bind:
		return fmt.Sprintf("bind %s on %s%s", s.Source, s.Target, describe(s.Flags, s.Data))
	case Device:
		return fmt.Sprintf("mknod %s %d:%d mode %#o", s.Target, s.Major, s.Minor, s.Mode&0o7777)
	case Symlink:
		return fmt.Sprintf("symlink %s -> %s", s.Target, s.Source)
	case Mask:
		return "mask " + s.Target
	case Readonly:
		return "read-only " + s.Target
	case File:
		return fmt.Sprintf("write %s (%d bytes)", s.Target, len(s.Data))
	}
	return fmt.Sprintf("step %d on %s", s.Kind, s.Target)
}

func describe(flags uintptr, data string) string {
	var d []string
	if flags != 0 {
		d = append(d, FlagString(flags))
	}
	if data != "" {
		d = append(d, data)
	}
	if len(d) == 0 {
		return ""
	}
	return " (" + strings.Join(d, ", ") + ")"
}

// bindAttrs are the flags a bind mount takes after it is made.
const bindAttrs = unix.MS_RDONLY | unix.MS_NOSUID | unix.MS_NODEV | unix.MS_NOEXEC

// defaultDevices are the nodes every container's /dev gets (runtime-spec
// config-linux.md, "Default Devices"; systemd-nspawn's copy_devnodes).
var defaultDevices = []Step{
	{Kind: Device, Target: "/dev/null", Mode: unix.S_IFCHR | 0o666, Major: 1, Minor: 3},
	{Kind: Device, Target: "/dev/zero", Mode: unix.S_IFCHR | 0o666, Major: 1, Minor: 5},
	{Kind: Device, Target: "/dev/full", Mode: unix.S_IFCHR | 0o666, Major: 1, Minor: 7},
	{Kind: Device, Target: "/dev/random", Mode: unix.S_IFCHR | 0o666, Major: 1, Minor: 8},
	{Kind: Device, Target: "/dev/urandom", Mode: unix.S_IFCHR | 0o666, Major: 1, Minor: 9},
	{Kind: Device, Target: "/dev/tty", Mode: unix.S_IFCHR | 0o666, Major: 5, Minor: 0},
	{Kind: Symlink, Target: "/dev/ptmx", Source: "pts/ptmx"},
	{Kind: Symlink, Target: "/dev/fd", Source: "/proc/self/fd"},
	{Kind: Symlink, Target: "/dev/stdin", Source: "/proc/self/fd/0"},
	{Kind: Symlink, Target: "/dev/stdout", Source: "/proc/self/fd/1"},
	{Kind: Symlink, Target: "/dev/stderr", Source: "/proc/self/fd/2"},
}

// Plan turns the spec's mounts, devices, masked and read-only paths into
// steps, in order. When the spec mounts a tmpfs on /dev, the default devices
// follow it, and console (a host path to the pseudo-terminal's slave, empty
// for none) is bound on /dev/console.
func Plan(spec *specs.Spec, console string) ([]Step, error) {
	var steps []Step
	for _, m := range spec.Mounts {
		if !path.IsAbs(m.Destination) {
			return nil, fmt.Errorf("mount destination %q: not an absolute path", m.Destination)
		}
		target := path.Clean(m.Destination)
		flags, data := ParseOptions(m.Options)
		if m.Type == "bind" || flags&unix.MS_BIND != 0 {
			if !path.IsAbs(m.Source) {
				return nil, fmt.Errorf("bind source %q for %s: not an absolute path", m.Source, target)
			}
			if data != "" {
				return nil, fmt.Errorf("bind %s on %s: unsupported options %q", m.Source, target, data)
			}
			steps = append(steps, Step{Kind: Bind, Source: m.Source, Target: target, Flags: flags & (unix.MS_REC | bindAttrs)})
			continue
		}
		if m.Type == "" {
			return nil, fmt.Errorf("mount on %s: no filesystem type", target)
		}
		source := m.Source
		if source == "" {
			source = m.Type
		}
		steps = append(steps, Step{Kind: Mount, Source: source, Target: target, FSType: m.Type, Flags: flags, Data: data})
		if target == "/dev" && m.Type == "tmpfs" {
			steps = append(steps, defaultDevices...)
			if console != "" {
				steps = append(steps, Step{Kind: Bind, Source: console, Target: "/dev/console"})
			}
		}
	}
	if spec.Linux != nil {
		for _, d := range spec.Linux.Devices {
			s, err := deviceStep(d)
			if err != nil {
				return nil, err
			}
			steps = append(steps, s)
		}
		for _, p := range spec.Linux.MaskedPaths {
			steps = append(steps, Step{Kind: Mask, Target: path.Clean(p)})
		}
		for _, p := range spec.Linux.ReadonlyPaths {
			steps = append(steps, Step{Kind: Readonly, Target: path.Clean(p)})
		}
	}
	return steps, nil
}

func deviceStep(d specs.LinuxDevice) (Step, error) {
	if !path.IsAbs(d.Path) || !strings.HasPrefix(path.Clean(d.Path), "/dev/") {
		return Step{}, fmt.Errorf("device %q: not a path under /dev", d.Path)
	}
	var mode uint32
	switch d.Type {
	case "c", "u":
		mode = unix.S_IFCHR
	case "b":
		mode = unix.S_IFBLK
	case "p":
		mode = unix.S_IFIFO
	default:
		return Step{}, fmt.Errorf("device %s: unknown type %q", d.Path, d.Type)
	}
	perm := uint32(0o666)
	if d.FileMode != nil {
		perm = uint32(d.FileMode.Perm())
	}
	return Step{Kind: Device, Target: path.Clean(d.Path), Mode: mode | perm, Major: uint32(d.Major), Minor: uint32(d.Minor)}, nil
}

// SplitCgroup separates the steps that mount a cgroup filesystem from the
// rest: those must run inside the container's cgroup namespace, which can
// be made only once the container is in its cgroups.
func SplitCgroup(steps []Step) (rest, cgroups []Step) {
	for _, s := range steps {
		if s.Kind == Mount && (s.FSType == "cgroup2" || s.FSType == "cgroup") {
			cgroups = append(cgroups, s)
		} else {
			rest = append(rest, s)
		}
	}
	return rest, cgroups
}
