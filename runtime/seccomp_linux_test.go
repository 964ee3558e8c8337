package runtime

import (
	"testing"

	specs "github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/sys/unix"
)

// runBPF interprets the classic BPF instructions the filter uses, on a
// struct seccomp_data of nr and arch.
func runBPF(t *testing.T, prog []unix.SockFilter, nr, arch uint32) uint32 {
	t.Helper()
	var a uint32
	for pc := 0; pc < len(prog); pc++ {
		in := prog[pc]
		switch in.Code {
		case unix.BPF_LD | unix.BPF_W | unix.BPF_ABS:
			switch in.K {
			case offNr:
				a = nr
			case offArch:
				a = arch
			default:
				t.Fatalf("load of offset %d", in.K)
			}
		case unix.BPF_ALU | unix.BPF_AND | unix.BPF_K:
			a &= in.K
		case unix.BPF_JMP | unix.BPF_JEQ | unix.BPF_K:
			if a == in.K {
				pc += int(in.Jt)
			} else {
				pc += int(in.Jf)
			}
		case unix.BPF_RET | unix.BPF_K:
			return in.K
		default:
			t.Fatalf("instruction %#x at %d", in.Code, pc)
		}
	}
	t.Fatal("ran off the end of the program")
	return 0
}

func TestSeccompFilter(t *testing.T) {
	prog := seccompFilter(DefaultBlockedSyscalls, 1)
	deny := uint32(unix.SECCOMP_RET_ERRNO | 1)
	for _, tt := range []struct {
		name     string
		nr, arch uint32
		want     uint32
	}{
		{"x86-64 open_by_handle_at", 304, unix.AUDIT_ARCH_X86_64, deny},
		{"x32 open_by_handle_at", 304 | x32Bit, unix.AUDIT_ARCH_X86_64, deny},
		{"x32 kexec_load (its own number)", 528 | x32Bit, unix.AUDIT_ARCH_X86_64, deny},
		{"i386 open_by_handle_at", 342, unix.AUDIT_ARCH_I386, deny},
		{"x86-64 keyctl", 250, unix.AUDIT_ARCH_X86_64, deny},
		{"x86-64 lookup_dcookie (last)", 212, unix.AUDIT_ARCH_X86_64, deny},
		{"i386 lookup_dcookie (last)", 253, unix.AUDIT_ARCH_I386, deny},
		{"x86-64 read", 0, unix.AUDIT_ARCH_X86_64, unix.SECCOMP_RET_ALLOW},
		{"x86-64 mount", 165, unix.AUDIT_ARCH_X86_64, unix.SECCOMP_RET_ALLOW},
		// 342 is i386's open_by_handle_at but not x86-64's.
		{"x86-64 342", 342, unix.AUDIT_ARCH_X86_64, unix.SECCOMP_RET_ALLOW},
		{"i386 304", 304, unix.AUDIT_ARCH_I386, unix.SECCOMP_RET_ALLOW},
		{"other architecture", 304, unix.AUDIT_ARCH_AARCH64, unix.SECCOMP_RET_ALLOW},
	} {
		if got := runBPF(t, prog, tt.nr, tt.arch); got != tt.want {
			t.Errorf("%s: filter returns %#x, want %#x", tt.name, got, tt.want)
		}
	}
}

func TestSeccompDenyListRefusesOtherShapes(t *testing.T) {
	for _, s := range []*specs.LinuxSeccomp{
		{DefaultAction: specs.ActErrno},
		{DefaultAction: specs.ActAllow, Syscalls: []specs.LinuxSyscall{{Names: []string{"keyctl"}, Action: specs.ActKill}}},
		{DefaultAction: specs.ActAllow, Syscalls: []specs.LinuxSyscall{{Names: []string{"no_such_call"}, Action: specs.ActErrno}}},
	} {
		if _, _, err := seccompDenyList(s); err == nil {
			t.Errorf("seccompDenyList(%+v) = nil error, want one", s)
		}
	}
}
