package security

import (
	"encoding/binary"
	"encoding/json"
	"errors"
	"slices"
	"strings"
	"testing"

	specs "github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/net/bpf"
)

const (
	auditX86_64  = 0xc000003e
	auditI386    = 0x40000003
	auditAARCH64 = 0xc00000b7
	auditARM     = 0x40000028
	deny         = retErrno | eperm
)

// Syscall numbers, from the kernel's tables (arch/x86/entry/syscalls,
// include/uapi/asm-generic/unistd.h, arch/arm/tools/syscall.tbl).
const (
	x64Ioctl, x64Getpid, x64FanotifyInit, x64Quotactl, x64QuotactlFd, x64Keyctl = 16, 39, 300, 179, 443, 250
	x64Read, x64OpenByHandleAt                                                  = 0, 304
	x32Ioctl, x32KexecLoad                                                      = 514, 528
	i386Ioctl, i386Getpid, i386FanotifyInit, i386Keyctl, i386Quotactl           = 54, 20, 338, 288, 131
	a64FanotifyInit, a64Ioctl, a64Getpid, armFanotifyInit, armKeyctl            = 262, 29, 172, 367, 311
	tcgets                                                                      = 0x5401
)

// ioc is the kernel's _IOC(dir, type, nr, size), to check the constants.
func ioc(dir, typ, nr, size uint32) uint32 { return dir<<30 | size<<16 | typ<<8 | nr }

func TestIoctlNumbers(t *testing.T) {
	const w, r, rw = 1, 2, 3
	for _, tt := range []struct {
		name      string
		got, want uint32
	}{
		{"FIFREEZE", fiFreeze, ioc(rw, 'X', 119, 4)},
		{"FITHAW", fiThaw, ioc(rw, 'X', 120, 4)},
		{"FITRIM", fiTrim, ioc(rw, 'X', 121, 24)},
		{"FS_IOC_SHUTDOWN", fsIocShutdown, ioc(r, 'X', 125, 4)},
		{"BTRFS_IOC_RESIZE", btrfsIocResize, ioc(w, 0x94, 3, 4096)},
		{"BTRFS_IOC_RM_DEV", btrfsIocRmDev, ioc(w, 0x94, 11, 4096)},
		{"BTRFS_IOC_RM_DEV_V2", btrfsIocRmDevV2, ioc(w, 0x94, 58, 4096)},
		{"FS_IOC_SETFSLABEL", fsIocSetFSLabel, ioc(w, 0x94, 50, 256)},
		{"EXT4_IOC_SETFSUUID", ext4IocSetFSUUID, ioc(w, 'f', 44, 8)},
		{"EXT4_IOC_SWAP_BOOT", ext4IocSwapBoot, ioc(0, 'f', 17, 0)},
	} {
		if tt.got != tt.want {
			t.Errorf("%s = %#x, want %#x", tt.name, tt.got, tt.want)
		}
	}
}

// run interprets the program on a struct seccomp_data. x/net/bpf's VM reads
// words big-endian, as from a packet, so each word is stored big-endian at
// the offset where the little-endian kernel keeps it.
func run(t *testing.T, s *Seccomp, audit, nr uint32, args ...uint64) uint32 {
	t.Helper()
	raw := make([]bpf.RawInstruction, len(s.Program))
	for i, in := range s.Program {
		raw[i] = bpf.RawInstruction{Op: in.Code, Jt: in.Jt, Jf: in.Jf, K: in.K}
	}
	prog, ok := bpf.Disassemble(raw)
	if !ok {
		t.Fatalf("program does not disassemble: %v", prog)
	}
	vm, err := bpf.NewVM(prog)
	if err != nil {
		t.Fatalf("bpf.NewVM: %v", err)
	}
	data := make([]byte, 64)
	binary.BigEndian.PutUint32(data[offNr:], nr)
	binary.BigEndian.PutUint32(data[offArch:], audit)
	for i, a := range args {
		binary.BigEndian.PutUint32(data[offArgs+8*i:], uint32(a))
		binary.BigEndian.PutUint32(data[offArgs+8*i+4:], uint32(a>>32))
	}
	got, err := vm.Run(data)
	if err != nil {
		t.Fatalf("run: %v", err)
	}
	return uint32(got)
}

// call is one syscall and what the filter must return for it.
type call struct {
	name  string
	audit uint32
	nr    uint32
	args  []uint64
	want  uint32
}

func checkCalls(t *testing.T, s *Seccomp, calls []call) {
	t.Helper()
	for _, c := range calls {
		if got := run(t, s, c.audit, c.nr, c.args...); got != c.want {
			t.Errorf("filter(%s) = %#x, want %#x", c.name, got, c.want)
		}
	}
}

func mustCompile(t *testing.T, s *specs.LinuxSeccomp, goarch string) *Seccomp {
	t.Helper()
	c, err := compileSeccomp(s, goarch)
	if err != nil {
		t.Fatalf("compileSeccomp(%s) = %v", goarch, err)
	}
	// What the init child gets is the JSON of it.
	b, err := json.Marshal(c)
	if err != nil {
		t.Fatal(err)
	}
	var back Seccomp
	if err := json.Unmarshal(b, &back); err != nil {
		t.Fatal(err)
	}
	return &back
}

func TestDefaultSeccompAMD64(t *testing.T) {
	s := mustCompile(t, DefaultSeccomp(), "amd64")
	checkCalls(t, s, []call{
		{"x86-64 fanotify_init", auditX86_64, x64FanotifyInit, nil, deny},
		{"x86-64 quotactl", auditX86_64, x64Quotactl, nil, deny},
		{"x86-64 quotactl_fd", auditX86_64, x64QuotactlFd, nil, deny},
		{"x86-64 keyctl", auditX86_64, x64Keyctl, nil, deny},
		{"x86-64 open_by_handle_at", auditX86_64, x64OpenByHandleAt, nil, deny},
		{"x86-64 ioctl(FIFREEZE)", auditX86_64, x64Ioctl, []uint64{3, fiFreeze}, deny},
		{"x86-64 ioctl(FIFREEZE | 1<<32)", auditX86_64, x64Ioctl, []uint64{3, fiFreeze | 1<<32}, deny},
		{"x86-64 ioctl(FIFREEZE sign-extended)", auditX86_64, x64Ioctl, []uint64{3, 0xffffffff_00000000 | fiFreeze}, deny},
		{"x86-64 ioctl(FITHAW)", auditX86_64, x64Ioctl, []uint64{3, fiThaw}, deny},
		{"x86-64 ioctl(FITRIM)", auditX86_64, x64Ioctl, []uint64{3, fiTrim}, deny},
		{"x86-64 ioctl(FS_IOC_SHUTDOWN)", auditX86_64, x64Ioctl, []uint64{3, fsIocShutdown}, deny},
		{"x86-64 ioctl(BTRFS_IOC_RM_DEV_V2)", auditX86_64, x64Ioctl, []uint64{3, btrfsIocRmDevV2}, deny},
		{"x86-64 ioctl(TCGETS)", auditX86_64, x64Ioctl, []uint64{0, tcgets}, retAllow},
		// FIFREEZE in another argument is no freeze.
		{"x86-64 ioctl(fd FIFREEZE, TCGETS)", auditX86_64, x64Ioctl, []uint64{fiFreeze, tcgets}, retAllow},
		{"x86-64 getpid", auditX86_64, x64Getpid, nil, retAllow},
		{"x86-64 read", auditX86_64, x64Read, nil, retAllow},
		{"x32 fanotify_init", auditX86_64, x32Bit | x64FanotifyInit, nil, deny},
		{"x32 kexec_load (its own number)", auditX86_64, x32Bit | x32KexecLoad, nil, deny},
		{"x32 ioctl(FIFREEZE)", auditX86_64, x32Bit | x32Ioctl, []uint64{3, fiFreeze}, deny},
		{"x32 ioctl(TCGETS)", auditX86_64, x32Bit | x32Ioctl, []uint64{3, tcgets}, retAllow},
		{"x32 getpid", auditX86_64, x32Bit | x64Getpid, nil, retAllow},
		{"i386 fanotify_init", auditI386, i386FanotifyInit, nil, deny},
		{"i386 keyctl", auditI386, i386Keyctl, nil, deny},
		{"i386 quotactl", auditI386, i386Quotactl, nil, deny},
		{"i386 ioctl(FIFREEZE)", auditI386, i386Ioctl, []uint64{3, fiFreeze}, deny},
		{"i386 ioctl(FIFREEZE | 1<<32), high half left by int 0x80", auditI386, i386Ioctl, []uint64{3, fiFreeze | 1<<32}, deny},
		{"i386 ioctl(TCGETS)", auditI386, i386Ioctl, []uint64{3, tcgets}, retAllow},
		{"i386 getpid", auditI386, i386Getpid, nil, retAllow},
		// x86-64's fanotify_init number is i386's something else.
		{"i386 300", auditI386, x64FanotifyInit, nil, retAllow},
		{"an architecture the kernel does not serve", auditAARCH64, a64FanotifyInit, nil, retErrno | enosys},
	})
}

func TestDefaultSeccompARM64(t *testing.T) {
	s := mustCompile(t, DefaultSeccomp(), "arm64")
	checkCalls(t, s, []call{
		{"aarch64 fanotify_init", auditAARCH64, a64FanotifyInit, nil, deny},
		{"aarch64 ioctl(FIFREEZE | 1<<32)", auditAARCH64, a64Ioctl, []uint64{3, fiFreeze | 1<<32}, deny},
		{"aarch64 ioctl(TCGETS)", auditAARCH64, a64Ioctl, []uint64{3, tcgets}, retAllow},
		{"aarch64 getpid", auditAARCH64, a64Getpid, nil, retAllow},
		{"arm fanotify_init", auditARM, armFanotifyInit, nil, deny},
		{"arm keyctl", auditARM, armKeyctl, nil, deny},
		{"x86-64 on arm64", auditX86_64, x64Getpid, nil, retErrno | enosys},
	})
}

func TestCompileSeccompUnsupportedArch(t *testing.T) {
	for _, goarch := range []string{"riscv64", "ppc64le", "s390x", "loong64", "mips64le"} {
		if _, err := compileSeccomp(DefaultSeccomp(), goarch); !errors.Is(err, ErrUnsupported) {
			t.Errorf("compileSeccomp(default, %s) = %v, want %v", goarch, err, ErrUnsupported)
		}
	}
	if s, err := compileSeccomp(nil, "riscv64"); s != nil || err != nil {
		t.Errorf("compileSeccomp(nil) = %v, %v, want nil, nil", s, err)
	}
}

// TestProgramJSON: the default filter travels as one base64 string, comes
// back as the same instructions, and a record's older array form reads too.
func TestProgramJSON(t *testing.T) {
	s := mustCompile(t, DefaultSeccomp(), "amd64")
	b, err := json.Marshal(s)
	if err != nil {
		t.Fatal(err)
	}
	if want := 8 * len(s.Program) * 4 / 3; len(b) > want+64 {
		t.Errorf("%d instructions encode to %d bytes; want about %d (base64)", len(s.Program), len(b), want)
	}
	var back Seccomp
	if err := json.Unmarshal(b, &back); err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(back.Program, s.Program) || back.Flags != s.Flags {
		t.Errorf("round trip changed the filter")
	}
	old, err := json.Marshal(map[string]any{"program": []Instruction(s.Program), "flags": s.Flags})
	if err != nil {
		t.Fatal(err)
	}
	back = Seccomp{}
	if err := json.Unmarshal(old, &back); err != nil {
		t.Fatalf("array form: %v", err)
	}
	if !slices.Equal(back.Program, s.Program) {
		t.Errorf("array form read back differs")
	}
	if err := json.Unmarshal([]byte(`{"program":"AAAA"}`), &back); err == nil || !strings.Contains(err.Error(), "whole number") {
		t.Errorf("3 bytes: got %v; want a refusal", err)
	}
}
