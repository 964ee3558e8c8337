package main

import (
	"errors"
	"slices"
	"testing"

	specs "github.com/opencontainers/runtime-spec/specs-go"

	"github.com/containerctl/containerctl/runtime"
	"github.com/containerctl/containerctl/runtime/userns"
)

func TestBuildSpecPrivateUsers(t *testing.T) {
	for _, tt := range []struct {
		users, ownership string
		userNS           bool
		maps             []specs.LinuxIDMapping
		annotations      map[string]string
	}{
		{"no", "", false, nil, nil},
		{"", "", false, nil, nil},
		{"identity", "", true, []specs.LinuxIDMapping{{ContainerID: 0, HostID: 0, Size: 65536}}, nil},
		{"524288:65536", "", true, []specs.LinuxIDMapping{{ContainerID: 0, HostID: 524288, Size: 65536}}, nil},
		{"pick", "chown", true, nil, map[string]string{runtime.PrivateUsersAnnotation: "pick", runtime.OwnershipAnnotation: "chown"}},
	} {
		s, err := buildSpec(options{name: "foo", store: "/", privateUsers: tt.users, usersOwnership: tt.ownership})
		if err != nil {
			t.Errorf("buildSpec(--private-users=%s) = %v", tt.users, err)
			continue
		}
		userNS := slices.ContainsFunc(s.Linux.Namespaces, func(n specs.LinuxNamespace) bool { return n.Type == specs.UserNamespace })
		if userNS != tt.userNS {
			t.Errorf("buildSpec(--private-users=%s): user namespace %v, want %v", tt.users, userNS, tt.userNS)
		}
		if len(s.Linux.UIDMappings)+len(tt.maps) > 0 && (!slices.Equal(s.Linux.UIDMappings, tt.maps) || !slices.Equal(s.Linux.GIDMappings, tt.maps)) {
			t.Errorf("buildSpec(--private-users=%s): maps %v, %v; want %v for both", tt.users, s.Linux.UIDMappings, s.Linux.GIDMappings, tt.maps)
		}
		for k, v := range tt.annotations {
			if s.Annotations[k] != v {
				t.Errorf("buildSpec(--private-users=%s): annotation %s = %q, want %q", tt.users, k, s.Annotations[k], v)
			}
		}
	}
}

func TestBuildSpecPrivateUsersErrors(t *testing.T) {
	for _, tt := range []struct{ users, ownership string }{
		{"maybe", ""}, {"0:65536", ""}, {"524288:0", ""}, {"4294901760:131072", ""}, {"-1", ""}, {"pick", "off"},
	} {
		_, err := buildSpec(options{name: "foo", store: "/", privateUsers: tt.users, usersOwnership: tt.ownership})
		if !errors.Is(err, userns.ErrInvalid) {
			t.Errorf("buildSpec(--private-users=%s --private-users-ownership=%s) = %v, want %v", tt.users, tt.ownership, err, userns.ErrInvalid)
		}
	}
}
