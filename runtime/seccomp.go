package runtime

import (
	"fmt"

	specs "github.com/opencontainers/runtime-spec/specs-go"
)

// DefaultBlockedSyscalls are refused with EPERM in every container, as
// systemd-nspawn's and Docker's filters refuse them: the capabilities a
// booted system keeps (CAP_DAC_READ_SEARCH, CAP_SYS_ADMIN, CAP_SYS_BOOT)
// would otherwise reach the host through them.
var DefaultBlockedSyscalls = []string{
	"open_by_handle_at",             // opens any host file by handle with CAP_DAC_READ_SEARCH ("shocker")
	"kexec_load", "kexec_file_load", // loads a new kernel for the host
	"swapon", "swapoff", // the host's swap
	"add_key", "request_key", "keyctl", // the kernel keyring is not namespaced
	"init_module", "finit_module", "delete_module",
	"iopl", "ioperm", // raw I/O ports
	"acct",                                     // the host's process accounting
	"bpf", "perf_event_open", "lookup_dcookie", // kernel tracing with CAP_SYS_ADMIN
}

// syscallNumbers are the numbers of the syscalls a filter may name, on
// x86-64 (also the x32 ABI's, without its 0x40000000 bit) and i386. Other
// architectures get no filter, and a spec that asks for one is refused.
var syscallNumbers = map[string][2]int{ // name: {x86-64, i386}; -1: none
	"open_by_handle_at": {304, 342},
	"kexec_load":        {246, 283},
	"kexec_file_load":   {320, -1},
	"swapon":            {167, 87},
	"swapoff":           {168, 115},
	"add_key":           {248, 286},
	"request_key":       {249, 287},
	"keyctl":            {250, 288},
	"init_module":       {175, 128},
	"finit_module":      {313, 350},
	"delete_module":     {176, 129},
	"iopl":              {172, 110},
	"ioperm":            {173, 101},
	"acct":              {163, 51},
	"bpf":               {321, 357},
	"perf_event_open":   {298, 336},
	"lookup_dcookie":    {212, 253},
}

// seccompDenyList checks that a spec's seccomp section is of the one shape
// the runtime executes, allow by default and a list refused with an errno,
// and returns the names and the errno.
func seccompDenyList(s *specs.LinuxSeccomp) (names []string, errno uint, err error) {
	if s == nil {
		return nil, 0, nil
	}
	if s.DefaultAction != specs.ActAllow {
		return nil, 0, fmt.Errorf("%w: seccomp default action %q: only %q is supported", ErrInvalidSpec, s.DefaultAction, specs.ActAllow)
	}
	for _, sc := range s.Syscalls {
		if sc.Action != specs.ActErrno || len(sc.Args) > 0 {
			return nil, 0, fmt.Errorf("%w: seccomp rule %v: only %q without argument conditions is supported", ErrInvalidSpec, sc.Names, specs.ActErrno)
		}
		e := uint(1) // EPERM
		if sc.ErrnoRet != nil {
			e = *sc.ErrnoRet
		}
		if errno != 0 && e != errno {
			return nil, 0, fmt.Errorf("%w: seccomp rules with different errnos are not supported", ErrInvalidSpec)
		}
		errno = e
		for _, n := range sc.Names {
			if _, ok := syscallNumbers[n]; !ok {
				return nil, 0, fmt.Errorf("%w: seccomp: syscall %q is not known to containerctl", ErrInvalidSpec, n)
			}
			names = append(names, n)
		}
	}
	return names, errno, nil
}
