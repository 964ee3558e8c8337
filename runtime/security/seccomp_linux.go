package security

import (
	"fmt"
	"unsafe"

	"golang.org/x/sys/unix"
)

// Install installs the filter on the calling thread, which must be locked
// to its OS thread and exec next: the filter passes to the new program. It
// does not set no_new_privs (the runtime does that, if the spec asks):
// the caller is root with CAP_SYS_ADMIN, which seccomp(2) accepts instead.
//
// No SECCOMP_FILTER_FLAG_TSYNC: the Go runtime's other threads stay
// unfiltered, but execve kills every other thread of the process, and the
// new program's one thread is the caller's, with its filter. A nil
// filter installs nothing.
func (s *Seccomp) Install() error {
	if s == nil {
		return nil
	}
	if len(s.Program) == 0 {
		return fmt.Errorf("install seccomp filter: empty program")
	}
	prog := make([]unix.SockFilter, len(s.Program))
	for i, in := range s.Program {
		prog[i] = unix.SockFilter{Code: in.Code, Jt: in.Jt, Jf: in.Jf, K: in.K}
	}
	fprog := unix.SockFprog{Len: uint16(len(prog)), Filter: &prog[0]}
	_, _, errno := unix.Syscall(unix.SYS_SECCOMP, unix.SECCOMP_SET_MODE_FILTER, uintptr(s.Flags), uintptr(unsafe.Pointer(&fprog)))
	if errno != 0 {
		return fmt.Errorf("install seccomp filter: %w", errno)
	}
	return nil
}
