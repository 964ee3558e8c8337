package security

import (
	"slices"
	"strings"
	"testing"

	"github.com/elastic/go-seccomp-bpf/arch"
)

// TestTablesMatchLibrary: tables.go is what internal/gentables makes from
// the library today (go generate ./runtime/security after an update), and
// each table is in the order numbers' binary search needs.
func TestTablesMatchLibrary(t *testing.T) {
	for _, tt := range []struct {
		abi  *abi
		info *arch.Info
	}{{abiX86_64, arch.X86_64}, {abiX32, arch.X32}, {abiI386, arch.I386}, {abiAARCH64, arch.AARCH64}, {abiARM, arch.ARM}} {
		if tt.abi.audit != uint32(tt.info.ID) {
			t.Errorf("%s: audit %#x, the library's %#x", tt.info.Name, tt.abi.audit, uint32(tt.info.ID))
		}
		sorted := slices.IsSortedFunc(tt.abi.syscalls, func(a, b syscallNr) int {
			if a.name != b.name {
				return strings.Compare(a.name, b.name)
			}
			return int(a.nr) - int(b.nr)
		})
		if !sorted {
			t.Errorf("%s: table not sorted by name, then number: run go generate ./runtime/security", tt.info.Name)
		}
		for nr, name := range tt.info.SyscallNumbers {
			found := false
			for _, e := range tt.abi.numbers(name) {
				found = found || e.nr == uint32(nr)
			}
			if !found {
				t.Errorf("%s: %s = %v, the library has %d: run go generate ./runtime/security", tt.info.Name, name, tt.abi.numbers(name), nr)
			}
		}
		if len(tt.abi.syscalls) != len(tt.info.SyscallNumbers) {
			t.Errorf("%s: %d numbers in tables.go, %d in the library: run go generate ./runtime/security", tt.info.Name, len(tt.abi.syscalls), len(tt.info.SyscallNumbers))
		}
	}
}

// TestNumbersLookup: a name with two numbers gives both, in order; a name
// outside the table and names just beside its ends give none.
func TestNumbersLookup(t *testing.T) {
	var got []uint32
	for _, e := range abiX32.numbers("ioctl") {
		got = append(got, e.nr)
	}
	if !slices.Equal(got, []uint32{16, 514}) {
		t.Errorf("x32 ioctl = %v, want [16 514]", got)
	}
	for _, name := range []string{"", "no_such_call", "~", "\x00"} {
		if n := abiX86_64.numbers(name); len(n) != 0 {
			t.Errorf("x86-64 %q = %v, want none", name, n)
		}
	}
	first, last := abiX86_64.syscalls[0], abiX86_64.syscalls[len(abiX86_64.syscalls)-1]
	for _, e := range []syscallNr{first, last} {
		if n := abiX86_64.numbers(e.name); len(n) == 0 || n[0] != e {
			t.Errorf("x86-64 %q = %v, want %v first", e.name, n, e)
		}
	}
}
