package security

import (
	"github.com/containerctl/containerctl/runtime/security/internal/int80"
	"golang.org/x/sys/unix"
)

// The same calls through the x86-64 kernel's other ABIs: i386 through int
// 0x80, x32 with the x32 bit (ENOSYS without the filter where the kernel
// has no x32; the filter sees the call first).
func init() {
	i386 := func(name string, denied bool, nr, a1, a2, a3 uintptr) probe {
		return probe{name, denied, func(p int) unix.Errno {
			if a1 == ^uintptr(0) {
				a1 = uintptr(p)
			}
			r := int80.Syscall(nr, a1, a2, a3)
			if r < 0 {
				return unix.Errno(-r)
			}
			if nr == 338 {
				unix.Close(int(r)) // fanotify_init's fd
			}
			return 0
		}}
	}
	probes = append(probes,
		i386("i386 getpid", false, 20, 0, 0, 0),
		i386("i386 fanotify_init", true, 338, unix.FAN_CLASS_NOTIF, unix.O_RDONLY, 0),
		i386("i386 ioctl(FIFREEZE)", true, 54, ^uintptr(0), fiFreeze, 0),
		i386("i386 ioctl(TCGETS)", false, 54, ^uintptr(0), unix.TCGETS, 0),
		probe{"x32 keyctl", true, func(int) unix.Errno {
			_, _, e := unix.Syscall(x32Bit|unix.SYS_KEYCTL, 0, ^uintptr(2), 0)
			return e
		}},
	)
}
