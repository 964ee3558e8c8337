package mount

import (
	"errors"
	"syscall"
	"testing"
)

func TestFlagString(t *testing.T) {
	for _, tt := range []struct {
		flags uintptr
		want  string
	}{
		{0, "0"},
		{msBind | msRdonly, "MS_RDONLY|MS_BIND"},
		{msBind | msRec, "MS_BIND|MS_REC"},
		{msSlave | msRec, "MS_REC|MS_SLAVE"},
		{1 << 40, "0x10000000000"},
	} {
		if got := FlagString(tt.flags); got != tt.want {
			t.Errorf("FlagString(%#x) = %q, want %q", tt.flags, got, tt.want)
		}
	}
}

func TestParseOptions(t *testing.T) {
	for _, tt := range []struct {
		opts  []string
		flags uintptr
		data  string
	}{
		{nil, 0, ""},
		{[]string{"nosuid", "noexec", "nodev"}, msNosuid | msNoexec | msNodev, ""},
		{[]string{"rbind", "ro"}, msBind | msRec | msRdonly, ""},
		{[]string{"ro", "rw"}, 0, ""},
		{[]string{"nosuid", "mode=755", "size=65536k"}, msNosuid, "mode=755,size=65536k"},
		{[]string{"newinstance", "ptmxmode=0666"}, 0, "newinstance,ptmxmode=0666"},
	} {
		flags, data := ParseOptions(tt.opts)
		if flags != tt.flags || data != tt.data {
			t.Errorf("ParseOptions(%q) = %s, %q, want %s, %q", tt.opts, FlagString(flags), data, FlagString(tt.flags), tt.data)
		}
	}
}

func TestErrorMessage(t *testing.T) {
	err := error(&Error{
		Op: "mount", What: "read-only bind", Source: "/nix", Target: "/var/lib/containers/foo/nix",
		Flags: msBind | msRec, Err: syscall.ENOENT,
	})
	want := "mount /nix on /var/lib/containers/foo/nix: read-only bind (MS_BIND|MS_REC): no such file or directory"
	if got := err.Error(); got != want {
		t.Errorf("Error() = %q, want %q", got, want)
	}
	if !errors.Is(err, syscall.ENOENT) {
		t.Errorf("errors.Is(%v, ENOENT) = false, want true", err)
	}
}
