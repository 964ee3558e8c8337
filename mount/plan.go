package mount

import (
	"fmt"
	"path"
	"slices"
	"strings"

	specs "github.com/opencontainers/runtime-spec/specs-go"
)

// Host is what the runtime adds to the spec's mounts.
type Host struct {
	// Console binds the init child's standard input, a pseudo-terminal's
	// slave, on /dev/console (Source "/proc/self/fd/0" in the child) when
	// the spec mounts a tmpfs on /dev.
	Console bool
	// Files are the runtime's own steps (File or Bind, e.g. under /run/host
	// and /proc/sys/kernel/random/boot_id), carried out after the spec's
	// mounts and before linux.devices, masked and read-only paths.
	Files []Step
}

// Steps is a compiled mount plan: Steps run in the container's new mount
// namespace before the cgroup namespace exists; Cgroup (the cgroup
// filesystem mounts) run inside the new cgroup namespace.
type Steps struct {
	Steps  []Step `json:"steps"`
	Cgroup []Step `json:"cgroup,omitempty"`
}

// consoleSource is the console as the init child sees it: its standard
// input is the pseudo-terminal's slave.
const consoleSource = "/proc/self/fd/0"

// defaultDevices are the nodes every container's /dev gets (runtime-spec
// config-linux.md, "Default Devices"; systemd-nspawn's copy_devnodes).
var defaultDevices = []Step{
	{Kind: Device, Target: "/dev/null", Mode: sIFCHR | 0o666, Major: 1, Minor: 3},
	{Kind: Device, Target: "/dev/zero", Mode: sIFCHR | 0o666, Major: 1, Minor: 5},
	{Kind: Device, Target: "/dev/full", Mode: sIFCHR | 0o666, Major: 1, Minor: 7},
	{Kind: Device, Target: "/dev/random", Mode: sIFCHR | 0o666, Major: 1, Minor: 8},
	{Kind: Device, Target: "/dev/urandom", Mode: sIFCHR | 0o666, Major: 1, Minor: 9},
	{Kind: Device, Target: "/dev/tty", Mode: sIFCHR | 0o666, Major: 5, Minor: 0},
	{Kind: Symlink, Target: "/dev/ptmx", Source: "pts/ptmx"},
	{Kind: Symlink, Target: "/dev/fd", Source: "/proc/self/fd"},
	{Kind: Symlink, Target: "/dev/stdin", Source: "/proc/self/fd/0"},
	{Kind: Symlink, Target: "/dev/stdout", Source: "/proc/self/fd/1"},
	{Kind: Symlink, Target: "/dev/stderr", Source: "/proc/self/fd/2"},
}

// entry is a step with what Plan needs to check it.
type entry struct {
	Step
	name   string // for messages: "bind /srv on /run"
	bind   bool   // binds a host path
	writes bool   // the runtime creates Target itself (not the spec's mount point)
	cgroup bool   // a cgroup filesystem, mounted in the cgroup namespace
}

// Plan compiles the spec's mounts, devices, masked and read-only paths and
// the runtime's own steps into one plan, in this order:
//
//  1. the spec's mounts, in order (the cgroup filesystems into Cgroup);
//  2. when the spec mounts a tmpfs on /dev, the default devices and, with
//     host.Console, /dev/console;
//  3. host.Files;
//  4. linux.devices;
//  5. masked paths, then read-only paths.
//
// It refuses, with an error matching ErrRefused, a mount on "/" or on a
// relative path, a bind over /proc or /sys, a bind that covers a path the
// runtime creates in 2 to 4 (it would create it in the host's directory),
// and a step after a cgroup mount that the split into Cgroup would reorder
// against it.
func Plan(spec *specs.Spec, host Host) (Steps, error) {
	var es []entry
	devTmpfs := false
	for _, m := range spec.Mounts {
		e, err := specMount(m)
		if err != nil {
			return Steps{}, err
		}
		devTmpfs = devTmpfs || e.Kind == Mount && e.Target == "/dev" && e.FSType == "tmpfs"
		es = append(es, e)
	}
	if devTmpfs {
		for _, s := range defaultDevices {
			es = append(es, entry{Step: s, name: "default device " + s.Target, writes: true})
		}
		if host.Console {
			s := Step{Kind: Bind, Source: consoleSource, Target: "/dev/console"}
			es = append(es, entry{Step: s, name: "console on /dev/console", bind: true, writes: true})
		}
	}
	for _, s := range host.Files {
		e, err := hostFile(s)
		if err != nil {
			return Steps{}, err
		}
		es = append(es, e)
	}
	if spec.Linux != nil {
		more, err := linuxPaths(spec.Linux)
		if err != nil {
			return Steps{}, err
		}
		es = append(es, more...)
	}
	if err := check(es); err != nil {
		return Steps{}, err
	}
	var p Steps
	for _, e := range es {
		if e.cgroup {
			p.Cgroup = append(p.Cgroup, e.Step)
		} else {
			p.Steps = append(p.Steps, e.Step)
		}
	}
	return p, nil
}

// specMount compiles one of the spec's mounts.
func specMount(m specs.Mount) (entry, error) {
	opts, prop := splitPropagation(m.Options)
	opts, idmap := splitIdmap(opts)
	copyUp := slices.Contains(opts, "tmpcopyup")
	opts = slices.DeleteFunc(opts, func(o string) bool { return o == "tmpcopyup" })
	flags, data := ParseOptions(opts)
	isBind := m.Type == "bind" || flags&msBind != 0
	name := fmt.Sprintf("mount %s on %s", m.Type, m.Destination)
	if m.Type == "" {
		name = "mount on " + m.Destination
	}
	if isBind {
		name = fmt.Sprintf("bind %s on %s", m.Source, m.Destination)
	}
	target, err := destination(name, m.Destination)
	if err != nil {
		return entry{}, err
	}
	if !isBind {
		if m.Type == "" {
			return entry{}, refuse(name, "no filesystem type")
		}
		source := m.Source
		if source == "" {
			source = m.Type
		}
		if copyUp && m.Type != "tmpfs" {
			return entry{}, refuse(name, "tmpcopyup is for a tmpfs")
		}
		s := Step{Kind: Mount, Source: source, Target: target, FSType: m.Type, Flags: flags, Data: data, Propagation: prop, CopyUp: copyUp}
		return entry{Step: s, name: name, cgroup: m.Type == "cgroup2" || m.Type == "cgroup"}, nil
	}
	if copyUp {
		return entry{}, refuse(name, "tmpcopyup is for a tmpfs")
	}
	if !path.IsAbs(m.Source) {
		return entry{}, refuse(name, "the source is not an absolute path")
	}
	if data != "" {
		return entry{}, refuse(name, "unsupported options %q", data)
	}
	for _, api := range []struct{ dir, fs string }{{"/proc", "proc"}, {"/sys", "sysfs"}} {
		// runc refuses any mount over /proc but procfs itself
		// (checkProcMount); a bind under them, such as lxcfs's
		// /proc/cpuinfo, only covers that file.
		if within(api.dir, target) {
			return entry{}, refuse(name, "a bind over %s could give the container the host's %s; only a %s filesystem goes there", api.dir, api.dir, api.fs)
		}
	}
	s := Step{Kind: Bind, Source: m.Source, Target: target, Flags: flags & (msRec | bindAttrs), Propagation: prop, Idmap: idmap}
	return entry{Step: s, name: name, bind: true}, nil
}

// destination checks and cleans a mount's destination: absolute, and not
// the root, which the runtime binds and pivots into itself.
func destination(name, dest string) (string, error) {
	if !path.IsAbs(dest) {
		return "", refuse(name, "the destination is not an absolute path")
	}
	target := path.Clean(dest)
	if target == "/" {
		return "", refuse(name, "the destination is the container's root directory")
	}
	return target, nil
}

// hostFile checks one of the runtime's own steps.
func hostFile(s Step) (entry, error) {
	name := "containerctl's " + s.String()
	if s.Kind != File && s.Kind != Bind {
		return entry{}, refuse(name, "not a file or a bind")
	}
	target, err := destination(name, s.Target)
	if err != nil {
		return entry{}, err
	}
	if s.Kind == Bind && !path.IsAbs(s.Source) {
		return entry{}, refuse(name, "the source is not an absolute path")
	}
	s.Target = target
	return entry{Step: s, name: name, bind: s.Kind == Bind, writes: true}, nil
}

// linuxPaths compiles linux.devices, masked and read-only paths.
func linuxPaths(l *specs.Linux) ([]entry, error) {
	var es []entry
	for _, d := range l.Devices {
		s, err := deviceStep(d)
		if err != nil {
			return nil, err
		}
		es = append(es, entry{Step: s, name: "device " + s.Target, writes: true})
	}
	for _, p := range l.MaskedPaths {
		if !path.IsAbs(p) {
			return nil, refuse("masked path "+p, "not an absolute path")
		}
		es = append(es, entry{Step: Step{Kind: Mask, Target: path.Clean(p)}, name: "masked path " + p})
	}
	for _, p := range l.ReadonlyPaths {
		if !path.IsAbs(p) {
			return nil, refuse("read-only path "+p, "not an absolute path")
		}
		es = append(es, entry{Step: Step{Kind: Readonly, Target: path.Clean(p)}, name: "read-only path " + p})
	}
	return es, nil
}

func deviceStep(d specs.LinuxDevice) (Step, error) {
	name := "device " + d.Path
	if !path.IsAbs(d.Path) || !strings.HasPrefix(path.Clean(d.Path), "/dev/") {
		return Step{}, refuse(name, "not a path under /dev")
	}
	var mode uint32
	switch d.Type {
	case "c", "u":
		mode = sIFCHR
	case "b":
		mode = sIFBLK
	case "p":
		mode = sIFIFO
	default:
		return Step{}, refuse(name, "unknown type %q", d.Type)
	}
	perm := uint32(0o666)
	if d.FileMode != nil {
		perm = uint32(d.FileMode.Perm())
	}
	return Step{Kind: Device, Target: path.Clean(d.Path), Mode: mode | perm, Major: uint32(d.Major), Minor: uint32(d.Minor)}, nil
}
