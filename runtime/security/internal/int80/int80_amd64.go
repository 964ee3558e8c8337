package int80

// Syscall makes the i386 system call nr with three arguments and returns
// the kernel's result (a negative errno on failure).
func Syscall(nr, a1, a2, a3 uintptr) int32
