package mount

// The Linux values of the mount(2) flags (linux/mount.h, include/uapi) and
// file types (linux/stat.h) that the plan uses. They are the package's own so
// that the plan, which is pure, builds and is tested on any system:
// golang.org/x/sys/unix has no MS_* on darwin, and its S_IF* there are
// different numbers. sysconst_linux_test.go checks each against unix.
const (
	msRdonly      = 0x1
	msNosuid      = 0x2
	msNodev       = 0x4
	msNoexec      = 0x8
	msSynchronous = 0x10
	msRemount     = 0x20
	msMandlock    = 0x40
	msDirsync     = 0x80
	msNoatime     = 0x400
	msNodiratime  = 0x800
	msBind        = 0x1000
	msMove        = 0x2000
	msRec         = 0x4000
	msSilent      = 0x8000
	msUnbindable  = 0x20000
	msPrivate     = 0x40000
	msSlave       = 0x80000
	msShared      = 0x100000
	msRelatime    = 0x200000
	msStrictatime = 0x1000000
	msLazytime    = 0x2000000
)

const (
	sIFIFO = 0o010000
	sIFCHR = 0o020000
	sIFBLK = 0o060000
)
