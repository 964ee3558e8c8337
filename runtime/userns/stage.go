package userns

import (
	"path"
	"strconv"

	"github.com/containerctl/containerctl/mount"
)

// StageKind is what the supervisor puts in the stage for the child.
type StageKind int

const (
	// StageTree is a host tree (the root, a bind's source), idmapped to
	// the range where the filesystem allows.
	StageTree StageKind = iota
	// StageSysfs is a sysfs mounted by the host's root: a guest without a
	// network namespace of its own may not mount one itself, for sysfs
	// shows the mounter's network namespace.
	StageSysfs
	// StageOwn is a file of the supervisor's own, in the container's
	// record directory beside the stage (the notify socket, the boot
	// ID), made for the range's root: bound as it is, never idmapped.
	// Its directory is a tmpfs, which Linux idmaps only from 6.3 on.
	StageOwn
	// StagePlain is a writable bind of a host tree without the idmap
	// option: bound as it is, so that what the guest's root writes there
	// is owned by the range's root on the host, never by host root (a
	// setuid file planted there would run as root for any host user).
	StagePlain
)

// Staged is one mount the supervisor makes in the stage directory, in the
// host's mount namespace, before the child makes its own. Made by the
// host's root, its read-only, nosuid, nodev and noexec flags come to the
// child locked (mount_namespaces(7), "restrictions"): the guest's root may
// not clear them, as it may on a mount its own namespace made.
type Staged struct {
	Kind StageKind
	// Name is its path in the stage directory.
	Name string
	// Source is the host path to bind, for a StageTree.
	Source string
	// Flags are the mount's MS_RDONLY, MS_NOSUID, MS_NODEV and MS_NOEXEC,
	// and MS_REC for a recursive bind.
	Flags uintptr
	// Optional says a tree the kernel will not idmap is bound as it is
	// (its files owned by nobody inside) rather than refusing the start.
	Optional bool
}

// RootName is the root's place in the stage directory.
const RootName = "root"

// consoleSource is the console as the child sees it (mount.Host.Console).
const consoleSource = "/proc/self/fd/0"

// Rewrite is the child's mount steps in a user namespace, and what the
// supervisor stages for them in stage:
//   - every bind of a host path comes from its staged, idmapped copy (the
//     supervisor's own files, in the directory of stage, from a plain one);
//   - a device node, which a user namespace may not create, is bound from
//     the host's node at the same path (the caller checks that it is the
//     same device);
//   - without a network namespace of its own, sysfs comes staged.
//
// The root is staged first, as RootName. With ownership Chown, a bind the
// kernel will not idmap is bound as it is.
func Rewrite(steps []mount.Step, root, stage string, ownNetwork bool, own Ownership) ([]mount.Step, []Staged) {
	staged := []Staged{{Kind: StageTree, Name: RootName, Source: root, Flags: msRec, Optional: own == Chown}}
	out := make([]mount.Step, 0, len(steps))
	for _, s := range steps {
		switch {
		case s.Kind == mount.Bind && s.Source != consoleSource:
			name := strconv.Itoa(len(staged))
			st := Staged{Kind: StageTree, Name: name, Source: s.Source, Flags: s.Flags, Optional: own == Chown}
			switch d := path.Dir(stage); {
			case d != "/" && path.Dir(s.Source) == d:
				st.Kind, st.Optional = StageOwn, false
			case s.Flags&msRdonly == 0 && !s.Idmap:
				st.Kind, st.Optional = StagePlain, false
			}
			staged = append(staged, st)
			s.Source = path.Join(stage, name)
		case s.Kind == mount.Device:
			s = mount.Step{Kind: mount.Bind, Source: s.Target, Target: s.Target}
		case s.Kind == mount.Mount && s.FSType == "sysfs" && !ownNetwork:
			name := "sysfs" + strconv.Itoa(len(staged))
			staged = append(staged, Staged{Kind: StageSysfs, Name: name, Flags: s.Flags & attrFlags})
			s = mount.Step{Kind: mount.Bind, Source: path.Join(stage, name), Target: s.Target, Flags: s.Flags & attrFlags}
		}
		out = append(out, s)
	}
	return out, staged
}

// The mount(2) flags the stage uses (linux/mount.h), the package's own so
// that Rewrite builds anywhere.
const (
	msRdonly  = 0x1
	msNosuid  = 0x2
	msNodev   = 0x4
	msNoexec  = 0x8
	msRec     = 0x4000
	attrFlags = msRdonly | msNosuid | msNodev | msNoexec
)
