package security

import (
	"errors"
	"fmt"
	"slices"
	"strings"
	"testing"

	specs "github.com/opencontainers/runtime-spec/specs-go"
)

func TestParseCapability(t *testing.T) {
	for _, tt := range []struct{ in, want string }{
		{"net_admin", "CAP_NET_ADMIN"},
		{"CAP_NET_ADMIN", "CAP_NET_ADMIN"},
		{"cap_Sys_Admin", "CAP_SYS_ADMIN"},
		{"Chown", "CAP_CHOWN"},
		{"checkpoint_restore", "CAP_CHECKPOINT_RESTORE"},
		{"bpf", "CAP_BPF"},
	} {
		if got, err := ParseCapability(tt.in); got != tt.want || err != nil {
			t.Errorf("ParseCapability(%q) = %q, %v, want %q", tt.in, got, err, tt.want)
		}
	}
	for _, in := range []string{"", "CAP_", "net-admin", "CAP_NO_SUCH", "all"} {
		if got, err := ParseCapability(in); !errors.Is(err, ErrUnknownName) {
			t.Errorf("ParseCapability(%q) = %q, %v, want %v", in, got, err, ErrUnknownName)
		}
	}
}

func TestDefaultCapabilitiesKnown(t *testing.T) {
	for _, c := range DefaultCapabilities {
		if got, err := ParseCapability(c); got != c || err != nil {
			t.Errorf("ParseCapability(%q) = %q, %v, want it unchanged", c, got, err)
		}
	}
}

func TestCompileCapabilities(t *testing.T) {
	set := []string{"CAP_SYS_ADMIN", "CAP_CHOWN", "CAP_KILL"}
	got, err := CompileCapabilities(&specs.LinuxCapabilities{
		Bounding:  set,
		Effective: []string{"CAP_KILL", "CAP_CHOWN", "CAP_SYS_ADMIN", "CAP_KILL"},
		Permitted: set,
	})
	if want := []int{0, 5, 21}; err != nil || !slices.Equal(got.Bounding, want) {
		t.Errorf("CompileCapabilities(%v) = %+v, %v, want bounding %v", set, got, err, want)
	}
	if got, err := CompileCapabilities(nil); got != nil || err != nil {
		t.Errorf("CompileCapabilities(nil) = %v, %v, want nil, nil", got, err)
	}
	if got, err := CompileCapabilities(&specs.LinuxCapabilities{}); err != nil || len(got.Bounding) != 0 {
		t.Errorf("CompileCapabilities(empty) = %+v, %v, want an empty bounding set", got, err)
	}
}

func TestCompileCapabilitiesRefuses(t *testing.T) {
	set := []string{"CAP_SYS_ADMIN", "CAP_CHOWN"}
	for _, tt := range []struct {
		name  string
		c     specs.LinuxCapabilities
		field string
		want  error
	}{
		{"unknown bounding", specs.LinuxCapabilities{Bounding: []string{"CAP_NOPE"}}, "process.capabilities.bounding", ErrUnknownName},
		{"unknown effective", specs.LinuxCapabilities{Bounding: set, Effective: []string{"CAP_NOPE"}, Permitted: set}, "process.capabilities.effective", ErrUnknownName},
		{"effective beyond permitted", specs.LinuxCapabilities{Bounding: set, Effective: set, Permitted: set[:1]}, "process.capabilities.effective: CAP_CHOWN", ErrInvalidSet},
		{"inheritable beyond bounding", specs.LinuxCapabilities{Bounding: set[:1], Inheritable: set}, "process.capabilities.inheritable: CAP_CHOWN", ErrInvalidSet},
		{"ambient not permitted", specs.LinuxCapabilities{Bounding: set, Inheritable: set, Ambient: set[:1]}, "process.capabilities.ambient: CAP_SYS_ADMIN is not in the permitted", ErrInvalidSet},
		{"ambient not inheritable", specs.LinuxCapabilities{Bounding: set, Permitted: set, Ambient: set[:1]}, "process.capabilities.ambient: CAP_SYS_ADMIN is not in the inheritable", ErrInvalidSet},
	} {
		_, err := CompileCapabilities(&tt.c)
		if !errors.Is(err, tt.want) || !strings.Contains(fmt.Sprint(err), tt.field) {
			t.Errorf("CompileCapabilities(%s) = %v, want %v naming %s", tt.name, err, tt.want, tt.field)
		}
	}
}
