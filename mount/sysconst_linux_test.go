//go:build linux

package mount

import (
	"testing"

	"golang.org/x/sys/unix"
)

func TestLinuxConstants(t *testing.T) {
	for _, tt := range []struct {
		name      string
		got, want uint64
	}{
		{"MS_RDONLY", msRdonly, unix.MS_RDONLY},
		{"MS_NOSUID", msNosuid, unix.MS_NOSUID},
		{"MS_NODEV", msNodev, unix.MS_NODEV},
		{"MS_NOEXEC", msNoexec, unix.MS_NOEXEC},
		{"MS_SYNCHRONOUS", msSynchronous, unix.MS_SYNCHRONOUS},
		{"MS_REMOUNT", msRemount, unix.MS_REMOUNT},
		{"MS_MANDLOCK", msMandlock, unix.MS_MANDLOCK},
		{"MS_DIRSYNC", msDirsync, unix.MS_DIRSYNC},
		{"MS_NOATIME", msNoatime, unix.MS_NOATIME},
		{"MS_NODIRATIME", msNodiratime, unix.MS_NODIRATIME},
		{"MS_BIND", msBind, unix.MS_BIND},
		{"MS_MOVE", msMove, unix.MS_MOVE},
		{"MS_REC", msRec, unix.MS_REC},
		{"MS_SILENT", msSilent, unix.MS_SILENT},
		{"MS_UNBINDABLE", msUnbindable, unix.MS_UNBINDABLE},
		{"MS_PRIVATE", msPrivate, unix.MS_PRIVATE},
		{"MS_SLAVE", msSlave, unix.MS_SLAVE},
		{"MS_SHARED", msShared, unix.MS_SHARED},
		{"MS_RELATIME", msRelatime, unix.MS_RELATIME},
		{"MS_STRICTATIME", msStrictatime, unix.MS_STRICTATIME},
		{"MS_LAZYTIME", msLazytime, unix.MS_LAZYTIME},
		{"S_IFIFO", sIFIFO, unix.S_IFIFO},
		{"S_IFCHR", sIFCHR, unix.S_IFCHR},
		{"S_IFBLK", sIFBLK, unix.S_IFBLK},
	} {
		if tt.got != tt.want {
			t.Errorf("%s = %#x, want unix.%s = %#x", tt.name, tt.got, tt.name, tt.want)
		}
	}
}
