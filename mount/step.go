package mount

import (
	"fmt"
	"strings"
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
// data so that it can be read by a unit test, logged and sent to the init
// child as JSON; Root.Apply executes it.
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
	// Propagation, for Mount and Bind, is the mount's own propagation
	// (MS_PRIVATE, MS_SLAVE, MS_SHARED or MS_UNBINDABLE, with MS_REC),
	// set after it is made; 0 leaves the slave it is born as.
	Propagation uintptr `json:",omitempty"`
	// Idmap, for a Bind, asks that under private users the bind be
	// idmapped even when it is writable (the mount option "idmap",
	// nspawn's :idmap): the guest's root then writes there as the files'
	// owners on the host, host root included.
	Idmap bool `json:",omitempty"`
	// CopyUp, for a tmpfs Mount (the option "tmpcopyup", runc's and
	// podman's), copies what the directory held into the new tmpfs.
	CopyUp bool `json:",omitempty"`
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
