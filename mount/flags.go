package mount

import (
	"fmt"
	"sort"
	"strconv"
	"strings"
)

// flagNames lists the mount(2) flags in the order they are printed.
var flagNames = []struct {
	flag uintptr
	name string
}{
	{msRdonly, "MS_RDONLY"},
	{msNosuid, "MS_NOSUID"},
	{msNodev, "MS_NODEV"},
	{msNoexec, "MS_NOEXEC"},
	{msSynchronous, "MS_SYNCHRONOUS"},
	{msRemount, "MS_REMOUNT"},
	{msMandlock, "MS_MANDLOCK"},
	{msDirsync, "MS_DIRSYNC"},
	{msNoatime, "MS_NOATIME"},
	{msNodiratime, "MS_NODIRATIME"},
	{msBind, "MS_BIND"},
	{msMove, "MS_MOVE"},
	{msRec, "MS_REC"},
	{msSilent, "MS_SILENT"},
	{msUnbindable, "MS_UNBINDABLE"},
	{msPrivate, "MS_PRIVATE"},
	{msSlave, "MS_SLAVE"},
	{msShared, "MS_SHARED"},
	{msRelatime, "MS_RELATIME"},
	{msStrictatime, "MS_STRICTATIME"},
	{msLazytime, "MS_LAZYTIME"},
}

// FlagString formats mount(2) flags as "MS_BIND|MS_RDONLY", for errors and
// debug logs. Unknown bits are printed in hex.
func FlagString(flags uintptr) string {
	if flags == 0 {
		return "0"
	}
	var names []string
	for _, f := range flagNames {
		if flags&f.flag != 0 {
			names = append(names, f.name)
			flags &^= f.flag
		}
	}
	if flags != 0 {
		names = append(names, "0x"+strconv.FormatUint(uint64(flags), 16))
	}
	return strings.Join(names, "|")
}

// options maps the mount options of an OCI spec to mount(2) flags: set is
// or'ed in, clear is taken out (so "rw" undoes "ro").
var options = map[string]struct {
	set, clear uintptr
}{
	"ro":          {set: msRdonly},
	"rw":          {clear: msRdonly},
	"nosuid":      {set: msNosuid},
	"suid":        {clear: msNosuid},
	"nodev":       {set: msNodev},
	"dev":         {clear: msNodev},
	"noexec":      {set: msNoexec},
	"exec":        {clear: msNoexec},
	"sync":        {set: msSynchronous},
	"async":       {clear: msSynchronous},
	"dirsync":     {set: msDirsync},
	"noatime":     {set: msNoatime},
	"atime":       {clear: msNoatime},
	"nodiratime":  {set: msNodiratime},
	"diratime":    {clear: msNodiratime},
	"relatime":    {set: msRelatime},
	"norelatime":  {clear: msRelatime},
	"strictatime": {set: msStrictatime},
	"lazytime":    {set: msLazytime},
	"bind":        {set: msBind},
	"rbind":       {set: msBind | msRec},
}

// ParseOptions splits OCI mount options into mount(2) flags and the data
// string passed to the filesystem ("mode=755,size=64k"). Propagation options
// (rprivate, rslave, ...) are taken out before (splitPropagation).
func ParseOptions(opts []string) (flags uintptr, data string) {
	var rest []string
	for _, o := range opts {
		if f, ok := options[o]; ok {
			flags = flags&^f.clear | f.set
			continue
		}
		rest = append(rest, o)
	}
	return flags, strings.Join(rest, ",")
}

// bindAttrs are the flags a bind mount takes after it is made.
const bindAttrs = msRdonly | msNosuid | msNodev | msNoexec

// propagations are the propagation options of mounts and of the root.
var propagations = map[string]uintptr{
	"private": msPrivate, "rprivate": msPrivate | msRec, "slave": msSlave, "rslave": msSlave | msRec,
	"shared": msShared, "rshared": msShared | msRec, "unbindable": msUnbindable, "runbindable": msUnbindable | msRec,
}

// splitPropagation takes a mount's propagation option (the last wins) out
// of its options.
func splitPropagation(opts []string) (rest []string, prop uintptr) {
	for _, o := range opts {
		if p, ok := propagations[o]; ok {
			prop = p
			continue
		}
		rest = append(rest, o)
	}
	return rest, prop
}

// splitIdmap takes the idmap options ("idmap", "ridmap") out of a mount's
// options.
func splitIdmap(opts []string) (rest []string, idmap bool) {
	for _, o := range opts {
		if o == "idmap" || o == "ridmap" {
			idmap = true
			continue
		}
		rest = append(rest, o)
	}
	return rest, idmap
}

// Propagation is the mount(2) flags of a root propagation as the spec's
// linux.rootfsPropagation names it; "" is 0.
func Propagation(name string) (uintptr, error) {
	flags, ok := propagations[name]
	if name == "" {
		flags, ok = 0, true
	}
	if !ok {
		return 0, fmt.Errorf("unknown propagation %q (private, rprivate, slave, rslave, shared, rshared, unbindable, runbindable)", name)
	}
	return flags, nil
}

// OptionNames are the mount options the plan takes itself (mount(2)
// flags, and tmpcopyup), sorted (for containerctl-oci features).
func OptionNames() []string {
	names := make([]string, 0, len(options)+1)
	for n := range options {
		names = append(names, n)
	}
	names = append(names, "tmpcopyup")
	sort.Strings(names)
	return names
}
