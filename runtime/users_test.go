package runtime

import (
	"errors"
	"testing"

	specs "github.com/opencontainers/runtime-spec/specs-go"

	"github.com/containerctl/containerctl/runtime/userns"
)

func usersSpec(userNS bool, maps []specs.LinuxIDMapping, ann map[string]string) *specs.Spec {
	s := &specs.Spec{Linux: &specs.Linux{UIDMappings: maps, GIDMappings: maps}, Annotations: ann}
	if userNS {
		s.Linux.Namespaces = []specs.LinuxNamespace{{Type: specs.UserNamespace}}
	}
	return s
}

func TestCompileUsers(t *testing.T) {
	m := func(host, size uint32) []specs.LinuxIDMapping {
		return []specs.LinuxIDMapping{{ContainerID: 0, HostID: host, Size: size}}
	}
	for _, tt := range []struct {
		name string
		spec *specs.Spec
		want *userns.Users
	}{
		{"none", usersSpec(false, nil, nil), nil},
		{"fixed", usersSpec(true, m(524288, 65536), nil), &userns.Users{Mode: userns.Fixed, Range: userns.Range{Base: 524288, Count: 65536}, Ownership: userns.Map}},
		{"identity", usersSpec(true, m(0, 65536), nil), &userns.Users{Mode: userns.Identity, Range: userns.Range{Count: 65536}, Ownership: userns.Map}},
		{"pick", usersSpec(true, nil, map[string]string{PrivateUsersAnnotation: "pick", OwnershipAnnotation: "chown"}), &userns.Users{Mode: userns.Pick, Ownership: userns.Chown}},
	} {
		got, err := compileUsers(tt.spec)
		if err != nil || (got == nil) != (tt.want == nil) || got != nil && *got != *tt.want {
			t.Errorf("compileUsers(%s) = %+v, %v; want %+v", tt.name, got, err, tt.want)
		}
	}
}

func TestCompileUsersRefuses(t *testing.T) {
	two := []specs.LinuxIDMapping{{ContainerID: 0, HostID: 524288, Size: 1000}, {ContainerID: 1000, HostID: 600000, Size: 1000}}
	for _, tt := range []struct {
		name string
		spec *specs.Spec
	}{
		{"maps without a user namespace", usersSpec(false, []specs.LinuxIDMapping{{HostID: 1, Size: 1}}, nil)},
		{"pick without a user namespace", usersSpec(false, nil, map[string]string{PrivateUsersAnnotation: "pick"})},
		{"two maps", usersSpec(true, two, nil)},
		{"no map", usersSpec(true, nil, nil)},
		{"not from 0", usersSpec(true, []specs.LinuxIDMapping{{ContainerID: 1, HostID: 524288, Size: 10}}, nil)},
		{"past the last ID", usersSpec(true, []specs.LinuxIDMapping{{HostID: 4294967000, Size: 65536}}, nil)},
		{"pick and maps", usersSpec(true, []specs.LinuxIDMapping{{HostID: 524288, Size: 10}}, map[string]string{PrivateUsersAnnotation: "pick"})},
		{"bad ownership", usersSpec(true, nil, map[string]string{PrivateUsersAnnotation: "pick", OwnershipAnnotation: "off"})},
	} {
		if got, err := compileUsers(tt.spec); !errors.Is(err, ErrInvalidSpec) {
			t.Errorf("compileUsers(%s) = %+v, %v; want %v", tt.name, got, err, ErrInvalidSpec)
		}
	}
}
