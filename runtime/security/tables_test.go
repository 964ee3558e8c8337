package security

import (
	"slices"
	"testing"

	"github.com/elastic/go-seccomp-bpf/arch"
)

// TestTablesMatchLibrary: tables.go is what internal/gentables makes from
// the library today (go generate ./runtime/security after an update).
func TestTablesMatchLibrary(t *testing.T) {
	for _, tt := range []struct {
		abi  *abi
		info *arch.Info
	}{{abiX86_64, arch.X86_64}, {abiX32, arch.X32}, {abiI386, arch.I386}, {abiAARCH64, arch.AARCH64}, {abiARM, arch.ARM}} {
		if tt.abi.audit != uint32(tt.info.ID) {
			t.Errorf("%s: audit %#x, the library's %#x", tt.info.Name, tt.abi.audit, uint32(tt.info.ID))
		}
		got := tt.abi.numbers()
		n := 0
		for nr, name := range tt.info.SyscallNumbers {
			n++
			if !slices.Contains(got[name], uint32(nr)) {
				t.Errorf("%s: %s = %v, the library has %d: run go generate ./runtime/security", tt.info.Name, name, got[name], nr)
			}
		}
		total := 0
		for _, nrs := range got {
			total += len(nrs)
		}
		if total != n {
			t.Errorf("%s: %d numbers in tables.go, %d in the library: run go generate ./runtime/security", tt.info.Name, total, n)
		}
	}
}
