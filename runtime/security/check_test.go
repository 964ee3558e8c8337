package security

import (
	"errors"
	"fmt"
	"strings"
	"testing"

	specs "github.com/opencontainers/runtime-spec/specs-go"
)

func uintp(v uint) *uint { return &v }

func TestCompileSeccompRefuses(t *testing.T) {
	allow := func(sc ...specs.LinuxSyscall) *specs.LinuxSeccomp {
		return &specs.LinuxSeccomp{DefaultAction: specs.ActAllow, Syscalls: sc}
	}
	errnoRule := func(names ...string) specs.LinuxSyscall {
		return specs.LinuxSyscall{Names: names, Action: specs.ActErrno}
	}
	for _, tt := range []struct {
		name  string
		s     *specs.LinuxSeccomp
		field string // the error names it
		want  error
	}{
		{"notify default", &specs.LinuxSeccomp{DefaultAction: specs.ActNotify}, "linux.seccomp.defaultAction", ErrUnsupported},
		{"trace default", &specs.LinuxSeccomp{DefaultAction: specs.ActTrace}, "linux.seccomp.defaultAction", ErrUnsupported},
		{"no default", &specs.LinuxSeccomp{}, "linux.seccomp.defaultAction", ErrUnsupported},
		{"errno default beyond MAX_ERRNO", &specs.LinuxSeccomp{DefaultAction: specs.ActErrno, DefaultErrnoRet: uintp(4096)}, "linux.seccomp.defaultAction", ErrUnsupported},
		{"defaultErrnoRet with allow", &specs.LinuxSeccomp{DefaultAction: specs.ActAllow, DefaultErrnoRet: uintp(1)}, "linux.seccomp.defaultErrnoRet", ErrUnsupported},
		{"notify rule", allow(specs.LinuxSyscall{Names: []string{"keyctl"}, Action: specs.ActNotify}), "linux.seccomp.syscalls[0].action", ErrUnsupported},
		{"errnoRet with kill", allow(specs.LinuxSyscall{Names: []string{"keyctl"}, Action: specs.ActKill, ErrnoRet: uintp(1)}), "linux.seccomp.syscalls[0].action", ErrUnsupported},
		{"unknown denied name", allow(errnoRule("keyctl"), errnoRule("no_such_call")), "linux.seccomp.syscalls[1].names", ErrUnknownName},
		{"name in two actions, the first conditional", allow(
			specs.LinuxSyscall{Names: []string{"keyctl"}, Action: specs.ActErrno, Args: []specs.LinuxSeccompArg{{Index: 0, Value: 1, Op: specs.OpEqualTo}}},
			specs.LinuxSyscall{Names: []string{"keyctl"}, Action: specs.ActKillProcess}), "linux.seccomp.syscalls[1].names", ErrUnsupported},
		{"unknown op", allow(specs.LinuxSyscall{Names: []string{"ioctl"}, Action: specs.ActErrno, Args: []specs.LinuxSeccompArg{{Index: 1, Op: "SCMP_CMP_FOO"}}}), "linux.seccomp.syscalls[0].args[0].op", ErrUnsupported},
		{"arg index 6", allow(specs.LinuxSyscall{Names: []string{"ioctl"}, Action: specs.ActErrno, Args: []specs.LinuxSeccompArg{{Index: 6, Op: specs.OpEqualTo}}}), "linux.seccomp.syscalls[0].args[0].index", ErrUnsupported},
		{"listener", &specs.LinuxSeccomp{DefaultAction: specs.ActAllow, ListenerPath: "/run/l.sock"}, "linux.seccomp.listenerPath", ErrUnsupported},
		{"listener metadata", &specs.LinuxSeccomp{DefaultAction: specs.ActAllow, ListenerMetadata: "x"}, "linux.seccomp.listenerMetadata", ErrUnsupported},
		{"wait killable flag", &specs.LinuxSeccomp{DefaultAction: specs.ActAllow, Flags: []specs.LinuxSeccompFlag{specs.LinuxSeccompFlagWaitKillableRecv}}, "linux.seccomp.flags", ErrUnsupported},
		{"unknown flag", &specs.LinuxSeccomp{DefaultAction: specs.ActAllow, Flags: []specs.LinuxSeccompFlag{"SECCOMP_FILTER_FLAG_FOO"}}, "linux.seccomp.flags", ErrUnsupported},
		{"unknown architecture", &specs.LinuxSeccomp{DefaultAction: specs.ActAllow, Architectures: []specs.Arch{"SCMP_ARCH_VAX"}}, "linux.seccomp.architectures", ErrUnknownName},
	} {
		_, err := compileSeccomp(tt.s, "amd64")
		if !errors.Is(err, tt.want) || !strings.Contains(fmt.Sprint(err), tt.field) {
			t.Errorf("CompileSeccomp(%s) = %v, want %v naming %s", tt.name, err, tt.want, tt.field)
		}
	}
}

func TestCompileSeccompAccepts(t *testing.T) {
	s := mustCompile(t, &specs.LinuxSeccomp{
		DefaultAction: specs.ActAllow,
		Flags:         []specs.LinuxSeccompFlag{specs.LinuxSeccompFlagLog, specs.LinuxSeccompFlagSpecAllow},
		Syscalls: []specs.LinuxSyscall{
			// Unknown to every table, but allowing it filters no less.
			{Names: []string{"no_such_call", "getpid"}, Action: specs.ActAllow},
			{Names: []string{"keyctl"}, Action: specs.ActKillProcess},
			{Names: []string{"add_key"}, Action: specs.ActTrap},
			{Names: []string{"acct"}, Action: specs.ActLog},
			{Names: []string{"swapon"}, Action: specs.ActKill},
			{Names: []string{"bpf"}, Action: specs.ActErrno, ErrnoRet: uintp(38)},
			{Names: []string{"bpf"}, Action: specs.ActErrno, ErrnoRet: uintp(38)},
		},
	}, "amd64")
	if want := uint32(flagLog | flagSpecAllow); s.Flags != want {
		t.Errorf("Flags = %#x, want %#x", s.Flags, want)
	}
	checkCalls(t, s, []call{
		{"keyctl", auditX86_64, 250, nil, retKillProcess},
		{"add_key", auditX86_64, 248, nil, retTrap},
		{"acct", auditX86_64, 163, nil, retLog},
		{"swapon", auditX86_64, 167, nil, retKillThread},
		{"bpf", auditX86_64, 321, nil, retErrno | 38},
		{"i386 bpf", auditI386, 357, nil, retErrno | 38},
		{"getpid", auditX86_64, x64Getpid, nil, retAllow},
	})
}

// TestCompileSeccompAllowList: the shape of podman's and containerd's
// default profiles. go-seccomp-bpf's own assembler leaves an argument in
// the accumulator after a failed condition and compares it with the next
// syscall numbers: there ioctl(fd, 0) matched read (0) and was allowed.
func TestCompileSeccompAllowList(t *testing.T) {
	s := mustCompile(t, &specs.LinuxSeccomp{
		DefaultAction:   specs.ActErrno,
		DefaultErrnoRet: uintp(1),
		Architectures:   []specs.Arch{specs.ArchX86_64, specs.ArchX86, specs.ArchX32},
		Syscalls: []specs.LinuxSyscall{
			{Names: []string{"ioctl"}, Action: specs.ActAllow, Args: []specs.LinuxSeccompArg{{Index: 1, Value: tcgets, Op: specs.OpEqualTo}}},
			{Names: []string{"read", "getpid", "arch_prctl", "set_tls"}, Action: specs.ActAllow},
			{Names: []string{"clone3"}, Action: specs.ActErrno, ErrnoRet: uintp(38)},
			// Docker's personality rules: several values of one argument
			// are alternatives.
			{Names: []string{"personality"}, Action: specs.ActAllow, Args: []specs.LinuxSeccompArg{
				{Index: 0, Value: 0, Op: specs.OpEqualTo}, {Index: 0, Value: 8, Op: specs.OpEqualTo}}},
			// Two arguments: both must hold.
			{Names: []string{"socket"}, Action: specs.ActAllow, Args: []specs.LinuxSeccompArg{
				{Index: 0, Value: 1, Op: specs.OpEqualTo}, {Index: 1, Value: 0xf, ValueTwo: 1, Op: specs.OpMaskedEqual}}},
		},
	}, "amd64")
	const x64Personality, x64Socket, x64Clone3 = 135, 41, 435
	checkCalls(t, s, []call{
		{"ioctl(TCGETS)", auditX86_64, x64Ioctl, []uint64{0, tcgets}, retAllow},
		{"ioctl(0)", auditX86_64, x64Ioctl, []uint64{0, 0}, deny},
		{"ioctl(TCGETS | 1<<32)", auditX86_64, x64Ioctl, []uint64{0, tcgets | 1<<32}, deny},
		{"read", auditX86_64, x64Read, nil, retAllow},
		{"write", auditX86_64, 1, nil, deny},
		{"clone3", auditX86_64, x64Clone3, nil, retErrno | 38},
		{"personality(0)", auditX86_64, x64Personality, []uint64{0}, retAllow},
		{"personality(8)", auditX86_64, x64Personality, []uint64{8}, retAllow},
		{"personality(9)", auditX86_64, x64Personality, []uint64{9}, deny},
		{"socket(1, 0x801)", auditX86_64, x64Socket, []uint64{1, 0x801}, retAllow},
		{"socket(1, 2)", auditX86_64, x64Socket, []uint64{1, 2}, deny},
		{"socket(2, 1)", auditX86_64, x64Socket, []uint64{2, 1}, deny},
		{"x32 read", auditX86_64, x32Bit | x64Read, nil, retAllow},
		{"x32 write", auditX86_64, x32Bit | 1, nil, deny},
		{"i386 getpid", auditI386, i386Getpid, nil, retAllow},
		{"i386 ioctl(TCGETS)", auditI386, i386Ioctl, []uint64{0, tcgets}, retAllow},
		{"i386 ioctl(0)", auditI386, i386Ioctl, []uint64{0, 0}, deny},
	})
}

func TestCompileSeccompArchitectures(t *testing.T) {
	// Only x86-64 listed: the companions return ENOSYS, as calls of an
	// ABI outside a libseccomp filter fail.
	s := mustCompile(t, &specs.LinuxSeccomp{
		DefaultAction: specs.ActAllow,
		Architectures: []specs.Arch{specs.ArchX86_64, specs.ArchS390X},
		Syscalls:      []specs.LinuxSyscall{{Names: []string{"keyctl"}, Action: specs.ActErrno}},
	}, "amd64")
	checkCalls(t, s, []call{
		{"x86-64 keyctl", auditX86_64, x64Keyctl, nil, deny},
		{"x86-64 getpid", auditX86_64, x64Getpid, nil, retAllow},
		{"x32 getpid", auditX86_64, x32Bit | x64Getpid, nil, retErrno | enosys},
		{"i386 getpid", auditI386, i386Getpid, nil, retErrno | enosys},
	})
}

// TestConditions checks each operator against its meaning in Go, on
// 64-bit and 32-bit ABIs, around the values' edges.
func TestConditions(t *testing.T) {
	const v = 0x1_0000_0005
	vals := []uint64{0, 4, 5, 6, 0x1_0000_0004, v, 0x1_0000_0006, 0x2_0000_0000, 0xffff_ffff_ffff_ffff, 0x5}
	ops := map[specs.LinuxSeccompOperator]func(a, b uint64) bool{
		specs.OpEqualTo:      func(a, b uint64) bool { return a == b },
		specs.OpNotEqual:     func(a, b uint64) bool { return a != b },
		specs.OpLessThan:     func(a, b uint64) bool { return a < b },
		specs.OpLessEqual:    func(a, b uint64) bool { return a <= b },
		specs.OpGreaterThan:  func(a, b uint64) bool { return a > b },
		specs.OpGreaterEqual: func(a, b uint64) bool { return a >= b },
		specs.OpMaskedEqual:  func(a, b uint64) bool { return a&b == 4 },
	}
	for op, holds := range ops {
		s := mustCompile(t, &specs.LinuxSeccomp{
			DefaultAction: specs.ActAllow,
			Syscalls: []specs.LinuxSyscall{{Names: []string{"ioctl"}, Action: specs.ActErrno,
				Args: []specs.LinuxSeccompArg{{Index: 2, Value: v, ValueTwo: 4, Op: op}}}},
		}, "amd64")
		for _, a := range vals {
			want, want32 := uint32(retAllow), uint32(retAllow)
			if holds(a, v) {
				want = deny
			}
			if holds(a&0xffffffff, v&0xffffffff) {
				want32 = deny
			}
			if got := run(t, s, auditX86_64, x64Ioctl, 0, 0, a); got != want {
				t.Errorf("x86-64 ioctl(%s %#x, arg %#x) = %#x, want %#x", op, uint64(v), a, got, want)
			}
			if got := run(t, s, auditI386, i386Ioctl, 0, 0, a); got != want32 {
				t.Errorf("i386 ioctl(%s %#x, arg %#x) = %#x, want %#x", op, uint64(v), a, got, want32)
			}
		}
	}
}

// TestLongAllowList: every x86-64 call allowed by name, through every ABI,
// stays within the kernel's limit and each 8-bit jump.
func TestLongAllowList(t *testing.T) {
	var names []string
	for _, e := range abiX86_64.syscalls {
		if len(names) == 0 || names[len(names)-1] != e.name {
			names = append(names, e.name)
		}
	}
	s := mustCompile(t, &specs.LinuxSeccomp{
		DefaultAction: specs.ActErrno,
		Syscalls:      []specs.LinuxSyscall{{Names: names, Action: specs.ActAllow}},
	}, "amd64")
	for _, e := range abiX86_64.numbers("wait4") {
		checkCalls(t, s, []call{{"wait4", auditX86_64, e.nr, nil, retAllow}})
	}
	checkCalls(t, s, []call{{"x86-64 999", auditX86_64, 999, nil, deny}})
}

// TestCompileSeccompUnknownBothFail: podman's profile fails calls by
// default with ENOSYS and names ppc's swapcontext among those it fails
// with EPERM; the name is in no table here, and failing it either way
// filters no less, so it is left out rather than refused.
func TestCompileSeccompUnknownBothFail(t *testing.T) {
	s := mustCompile(t, &specs.LinuxSeccomp{
		DefaultAction: specs.ActErrno, DefaultErrnoRet: uintp(38),
		Syscalls: []specs.LinuxSyscall{
			{Names: []string{"swapcontext", "bdflush"}, Action: specs.ActErrno, ErrnoRet: uintp(1)},
			{Names: []string{"getpid"}, Action: specs.ActAllow},
		},
	}, "amd64")
	checkCalls(t, s, []call{
		{"getpid", auditX86_64, x64Getpid, nil, retAllow},
		{"keyctl", auditX86_64, 250, nil, retErrno | 38},
	})
}

// TestCompileSeccompFirstRuleWins: a name whose first rule has no argument
// condition keeps that rule's action; a later rule for it is never
// reached, as with runc (podman allows setns, then fails it).
func TestCompileSeccompFirstRuleWins(t *testing.T) {
	s := mustCompile(t, &specs.LinuxSeccomp{
		DefaultAction: specs.ActErrno, DefaultErrnoRet: uintp(38),
		Syscalls: []specs.LinuxSyscall{
			{Names: []string{"setns", "getpid"}, Action: specs.ActAllow},
			{Names: []string{"setns", "keyctl"}, Action: specs.ActErrno, ErrnoRet: uintp(1)},
		},
	}, "amd64")
	checkCalls(t, s, []call{
		{"setns", auditX86_64, 308, nil, retAllow},
		{"keyctl", auditX86_64, 250, nil, retErrno | 1},
		{"getpid", auditX86_64, x64Getpid, nil, retAllow},
	})
}

// TestCompileSeccompDisjointRules: podman fails socket(AF_NETLINK, *,
// NETLINK_AUDIT) with EINVAL and allows every other socket call in rules
// whose conditions cannot overlap the first's, so their order does not
// matter and they are taken as they are.
func TestCompileSeccompDisjointRules(t *testing.T) {
	s := mustCompile(t, &specs.LinuxSeccomp{
		DefaultAction: specs.ActErrno, DefaultErrnoRet: uintp(38),
		Syscalls: []specs.LinuxSyscall{
			{Names: []string{"socket"}, Action: specs.ActErrno, ErrnoRet: uintp(22), Args: []specs.LinuxSeccompArg{
				{Index: 0, Value: 16, Op: specs.OpEqualTo}, {Index: 2, Value: 9, Op: specs.OpEqualTo}}},
			{Names: []string{"socket"}, Action: specs.ActAllow, Args: []specs.LinuxSeccompArg{{Index: 2, Value: 9, Op: specs.OpNotEqual}}},
			{Names: []string{"socket"}, Action: specs.ActAllow, Args: []specs.LinuxSeccompArg{{Index: 0, Value: 16, Op: specs.OpNotEqual}}},
		},
	}, "amd64")
	checkCalls(t, s, []call{
		{"netlink audit socket", auditX86_64, 41, []uint64{16, 3, 9}, retErrno | 22},
		{"netlink route socket", auditX86_64, 41, []uint64{16, 3, 0}, retAllow},
		{"inet socket", auditX86_64, 41, []uint64{2, 1, 9}, retAllow},
	})
}
