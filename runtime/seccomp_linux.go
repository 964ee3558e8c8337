package runtime

import (
	"fmt"
	goruntime "runtime"
	"unsafe"

	"golang.org/x/sys/unix"
)

// seccompData offsets (linux/seccomp.h: struct seccomp_data).
const (
	offNr   = 0
	offArch = 4
	x32Bit  = 0x40000000
)

// x32Numbers are the x32 ABI's own numbers for syscalls in the list.
var x32Numbers = map[string]uint32{"kexec_load": 528}

// seccompFilter assembles a classic BPF program that returns errno for the
// named syscalls, on x86-64 (with the x32 ABI) and on i386 (int 0x80, which
// a 64-bit process can use too), and allows everything else.
func seccompFilter(names []string, errno uint) []unix.SockFilter {
	type block struct {
		arch uint32
		nrs  []uint32
		mask bool
	}
	var x64, i386 []uint32
	for _, n := range names {
		nr := syscallNumbers[n]
		x64 = append(x64, uint32(nr[0]))
		// The few x32 syscalls that have numbers of their own (512 to
		// 547, unused by x86-64) are compared after the x32 bit is
		// masked off, like the rest.
		if x, ok := x32Numbers[n]; ok {
			x64 = append(x64, x)
		}
		if nr[1] >= 0 {
			i386 = append(i386, uint32(nr[1]))
		}
	}
	blocks := []block{{unix.AUDIT_ARCH_X86_64, x64, true}, {unix.AUDIT_ARCH_I386, i386, false}}

	stmt := func(code uint16, k uint32) unix.SockFilter { return unix.SockFilter{Code: code, K: k} }
	jump := func(k uint32, jt, jf uint8) unix.SockFilter {
		return unix.SockFilter{Code: unix.BPF_JMP | unix.BPF_JEQ | unix.BPF_K, K: k, Jt: jt, Jf: jf}
	}
	allow := stmt(unix.BPF_RET|unix.BPF_K, unix.SECCOMP_RET_ALLOW)
	deny := stmt(unix.BPF_RET|unix.BPF_K, unix.SECCOMP_RET_ERRNO|uint32(errno&unix.SECCOMP_RET_DATA))

	// Each block: load nr, [mask], one jeq per syscall to its own deny,
	// allow, deny. Short jumps only, so no 8-bit offset can overflow.
	var body [][]unix.SockFilter
	for _, b := range blocks {
		var p []unix.SockFilter
		p = append(p, stmt(unix.BPF_LD|unix.BPF_W|unix.BPF_ABS, offNr))
		if b.mask {
			p = append(p, stmt(unix.BPF_ALU|unix.BPF_AND|unix.BPF_K, ^uint32(x32Bit)))
		}
		for i, nr := range b.nrs {
			// Jump over the remaining jeqs and the allow to the deny.
			p = append(p, jump(nr, uint8(len(b.nrs)-i), 0))
		}
		p = append(p, allow, deny)
		body = append(body, p)
	}
	// Header: load arch; for each block, jeq arch to its start.
	prog := []unix.SockFilter{stmt(unix.BPF_LD|unix.BPF_W|unix.BPF_ABS, offArch)}
	skip := 0 // instructions of the blocks before this one
	for i, b := range blocks {
		remainingHeader := len(blocks) - i // this jeq's followers in the header, plus the allow below
		prog = append(prog, jump(b.arch, uint8(remainingHeader-1+1+skip), 0))
		skip += len(body[i])
	}
	prog = append(prog, allow) // another architecture
	for _, p := range body {
		prog = append(prog, p...)
	}
	return prog
}

// installSeccomp installs the filter on the calling thread, which then
// execs the init: the filter passes to it. Only x86-64 has tables.
func installSeccomp(names []string, errno uint) error {
	if len(names) == 0 {
		return nil
	}
	if goruntime.GOARCH != "amd64" {
		return fmt.Errorf("seccomp: no syscall table for %s", goruntime.GOARCH)
	}
	prog := seccompFilter(names, errno)
	fprog := unix.SockFprog{Len: uint16(len(prog)), Filter: &prog[0]}
	if err := unix.Prctl(unix.PR_SET_SECCOMP, unix.SECCOMP_MODE_FILTER, uintptr(unsafe.Pointer(&fprog)), 0, 0); err != nil {
		return fmt.Errorf("install seccomp filter: %w", err)
	}
	return nil
}
