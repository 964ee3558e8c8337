package security

import (
	"slices"

	specs "github.com/opencontainers/runtime-spec/specs-go"
)

// deniedSyscalls are refused with EPERM in every container, as
// systemd-nspawn's and Docker's filters refuse them: the capabilities a
// booted system keeps (CAP_DAC_READ_SEARCH, CAP_SYS_ADMIN, CAP_SYS_BOOT,
// CAP_SYS_RESOURCE) would otherwise reach the host through them.
var deniedSyscalls = []string{
	"open_by_handle_at",             // opens any host file by handle with CAP_DAC_READ_SEARCH ("shocker")
	"kexec_load", "kexec_file_load", // loads a new kernel for the host
	"swapon", "swapoff", // the host's swap
	"add_key", "request_key", "keyctl", // the kernel keyring is not namespaced
	"init_module", "finit_module", "delete_module",
	"iopl", "ioperm", // raw I/O ports
	"acct",                                     // the host's process accounting
	"bpf", "perf_event_open", "lookup_dcookie", // kernel tracing with CAP_SYS_ADMIN
	// A filesystem mark (FAN_MARK_FILESYSTEM) on the filesystem a
	// container's root lies on hands it fds of the host's files, wherever
	// they are; nspawn refuses fanotify_init.
	"fanotify_init",
	// Quotas are the host filesystem's: nspawn refuses them too.
	"quotactl", "quotactl_fd",
}

// ioctl request numbers (linux/fs.h, linux/btrfs.h, xfs_fs.h), as _IOC
// builds them: dir<<30 | size<<16 | type<<8 | nr.
const (
	// FIFREEZE and FITHAW freeze and thaw the filesystem of the fd: a
	// guest with CAP_SYS_ADMIN and a directory of the host's filesystem
	// (its root) would stop every writer on the host.
	fiFreeze = 0xc0045877 // _IOWR('X', 119, int)
	fiThaw   = 0xc0045878 // _IOWR('X', 120, int)
	// FITRIM discards the free blocks of the host's filesystem: a storm of
	// I/O on a device the guest does not own.
	fiTrim = 0xc0185879 // _IOWR('X', 121, struct fstrim_range)
	// FS_IOC_SHUTDOWN (EXT4_IOC_SHUTDOWN, XFS_IOC_GOINGDOWN; f2fs and
	// btrfs too) shuts the host's filesystem down until it is remounted.
	fsIocShutdown = 0x8004587d // _IOR('X', 125, __u32)
	// BTRFS_IOC_RESIZE shrinks (or grows) a btrfs online, and the removal
	// of a device (by name, or by devid for _V2, which needs no access to
	// the device) moves the host's data off it: the host's geometry is
	// not the guest's to change. ext4 and XFS only grow online into space
	// their device already has, and are not listed.
	btrfsIocResize  = 0x50009403 // _IOW(0x94, 3, struct btrfs_ioctl_vol_args)
	btrfsIocRmDev   = 0x5000940b // _IOW(0x94, 11, struct btrfs_ioctl_vol_args)
	btrfsIocRmDevV2 = 0x5000943a // _IOW(0x94, 58, struct btrfs_ioctl_vol_args_v2)
	// FS_IOC_SETFSLABEL (ext4, xfs, btrfs, f2fs) and EXT4_IOC_SETFSUUID
	// rename the host's filesystem, which the host may mount by label or
	// UUID (NixOS's root is /dev/disk/by-label/nixos): the next boot
	// fails. EXT4_IOC_SWAP_BOOT rewrites its boot loader inode.
	fsIocSetFSLabel  = 0x41009432 // _IOW(0x94, 50, char[FSLABEL_MAX])
	ext4IocSetFSUUID = 0x4008662c // _IOW('f', 44, struct fsuuid)
	ext4IocSwapBoot  = 0x6611     // _IO('f', 17)
	// TIOCSTI pushes input into a terminal, and TIOCCONS redirects the
	// host's console to one. With CAP_SYS_ADMIN a guest may do either to
	// a terminal that is not its controlling one: the caller's, when it
	// was handed the caller's terminal (--console=pipe), whose shell then
	// runs what the guest typed as host root.
	tiocsti  = 0x5412
	tioccons = 0x541d
)

// deniedIoctls are refused with EPERM by request number.
var deniedIoctls = []uint32{
	fiFreeze, fiThaw, fiTrim, fsIocShutdown, btrfsIocResize, btrfsIocRmDev, btrfsIocRmDevV2,
	fsIocSetFSLabel, ext4IocSetFSUUID, ext4IocSwapBoot, tiocsti, tioccons,
}

// DefaultSeccomp is the section containerctl's CLI puts in every spec:
// allow by default; the calls above and the ioctls above refused with
// EPERM. The kernel reads an ioctl's request as 32 bits (its cmd is an
// unsigned int) while seccomp sees the 64-bit register: each rule masks
// the argument to its low half (SCMP_CMP_MASKED_EQ with 0xffffffff), so
// that high bits set by the caller, or a C library's sign extension of a
// request above 0x7fffffff, do not slip past the compare.
func DefaultSeccomp() *specs.LinuxSeccomp {
	errno := uint(eperm)
	s := &specs.LinuxSeccomp{
		DefaultAction: specs.ActAllow,
		Syscalls: []specs.LinuxSyscall{{
			Names:    slices.Clone(deniedSyscalls),
			Action:   specs.ActErrno,
			ErrnoRet: &errno,
		}},
	}
	for _, req := range deniedIoctls {
		s.Syscalls = append(s.Syscalls, specs.LinuxSyscall{
			Names:    []string{"ioctl"},
			Action:   specs.ActErrno,
			ErrnoRet: &errno,
			Args:     []specs.LinuxSeccompArg{{Index: 1, Value: 0xffffffff, ValueTwo: uint64(req), Op: specs.OpMaskedEqual}},
		})
	}
	return s
}
