package security

import (
	"fmt"
	"sort"

	specs "github.com/opencontainers/runtime-spec/specs-go"
)

// An abi is one system call interface a kernel serves: its audit
// architecture (struct seccomp_data's arch), its syscall numbers, and
// whether its arguments are 32-bit.
type abi struct {
	name  specs.Arch
	audit uint32
	nrBit uint32 // set in every number of this ABI (x32's __X32_SYSCALL_BIT)
	is32  bool   // arguments are 32-bit: only their low halves are compared
	// syscalls are its numbers by name, sorted by name, then number
	// (tables.go). A name may have more than one: the x32 table names a
	// few calls twice (ioctl is 16 and 514, its x32 entry), and a filter
	// must cover each.
	syscalls []syscallNr
}

// syscallNr is one entry of a generated table.
type syscallNr struct {
	name string
	nr   uint32
}

const x32Bit = 0x40000000

// numbers returns the entries for name, in the order of their numbers:
// none when the ABI has no such call.
func (a *abi) numbers(name string) []syscallNr {
	t := a.syscalls
	i := sort.Search(len(t), func(i int) bool { return t[i].name >= name })
	j := i
	for j < len(t) && t[j].name == name {
		j++
	}
	return t[i:j]
}

//go:generate go run ./internal/gentables

var (
	abiX86_64  = &abi{name: specs.ArchX86_64, audit: archX86_64Audit, syscalls: archX86_64Syscalls}
	abiX32     = &abi{name: specs.ArchX32, audit: archX32Audit, nrBit: x32Bit, syscalls: archX32Syscalls}
	abiI386    = &abi{name: specs.ArchX86, audit: archI386Audit, is32: true, syscalls: archI386Syscalls}
	abiAARCH64 = &abi{name: specs.ArchAARCH64, audit: archAARCH64Audit, syscalls: archAARCH64Syscalls}
	abiARM     = &abi{name: specs.ArchARM, audit: archARMAudit, is32: true, syscalls: archARMSyscalls}
	allABIs    = []*abi{abiX86_64, abiX32, abiI386, abiAARCH64, abiARM}
)

// families are the ABIs a kernel may serve to a process of each GOARCH:
// the native one first, then the companions the same kernel also serves
// (an x86-64 kernel runs i386 code, also through int 0x80 from a 64-bit
// process, and x32 code; an arm64 kernel runs 32-bit ARM code). A 32-bit
// binary may run on the 64-bit kernel, so its family is the same.
var families = map[string][]*abi{
	"amd64": {abiX86_64, abiX32, abiI386},
	"386":   {abiI386, abiX86_64, abiX32},
	"arm64": {abiAARCH64, abiARM},
	"arm":   {abiARM, abiAARCH64},
}

// family returns the ABIs for goarch, or an error for an architecture the
// library has no syscall tables for: a filter is never silently left out.
func family(goarch string) ([]*abi, error) {
	f, ok := families[goarch]
	if !ok {
		return nil, fmt.Errorf("linux.seccomp: no syscall table for architecture %s: %w", goarch, ErrUnsupported)
	}
	return f, nil
}

// knownSyscall reports whether any table has the name.
func knownSyscall(name string) bool {
	for _, a := range allABIs {
		if len(a.numbers(name)) > 0 {
			return true
		}
	}
	return false
}

// specArches are the OCI architecture names; those of no family here are
// accepted and ignored, as this kernel never reports them.
var specArches = map[specs.Arch]bool{
	specs.ArchX86: true, specs.ArchX86_64: true, specs.ArchX32: true,
	specs.ArchARM: true, specs.ArchAARCH64: true,
	specs.ArchMIPS: true, specs.ArchMIPS64: true, specs.ArchMIPS64N32: true,
	specs.ArchMIPSEL: true, specs.ArchMIPSEL64: true, specs.ArchMIPSEL64N32: true,
	specs.ArchPPC: true, specs.ArchPPC64: true, specs.ArchPPC64LE: true,
	specs.ArchS390: true, specs.ArchS390X: true, specs.ArchPARISC: true,
	specs.ArchPARISC64: true, specs.ArchRISCV64: true, specs.ArchLOONGARCH64: true,
	specs.ArchM68K: true, specs.ArchSH: true, specs.ArchSHEB: true,
}
