package cgroup

import (
	"errors"
	"reflect"
	"testing"
)

func TestCheckPath(t *testing.T) {
	for _, tt := range []struct {
		in string
		ok bool
	}{
		{"/machine/web", true},
		{"/x", true},
		{"/../x", false},
		{"/machine/../x", false},
		{"/machine//x", false},
		{"/machine/x/", false},
		{"/machine/./x", false},
		{"machine/x", false},
		{"/", false},
		{"", false},
	} {
		err := checkPath(tt.in)
		if (err == nil) != tt.ok || err != nil && !errors.Is(err, ErrInvalidPath) {
			t.Errorf("checkPath(%q) = %v, want ok=%v (or ErrInvalidPath)", tt.in, err, tt.ok)
		}
	}
}

func TestPlace(t *testing.T) {
	l := testLayout(t)
	all := func(p string) map[string]string { return same(l, p) }
	unit := "/system.slice/web.service"
	inUnit := map[string]string{UnifiedKey: unit, "pids": unit, "memory": "/", "name=systemd": unit}
	for _, tt := range []struct {
		what string
		h    host
		path string
		want Config
	}{
		{"by hand", host{own: map[string]string{UnifiedKey: "/user.slice"}}, "",
			Config{Parents: all(DefaultParent), Managed: true, Name: "web"}},
		{"--cgroup-parent", host{}, "/machine/web",
			Config{Parents: all("/machine"), Name: "web"}},
		{"top level", host{}, "/web",
			Config{Parents: all("/"), Name: "web"}},
		{"delegated but not alone", host{own: inUnit, delegated: true}, "",
			Config{Parents: all(DefaultParent), Managed: true, Name: "web"}},
		{"not delegated", host{own: inUnit, alone: true}, "",
			Config{Parents: all(DefaultParent), Managed: true, Name: "web"}},
		{"delegated", host{own: inUnit, delegated: true, alone: true}, "",
			Config{
				Parents: map[string]string{
					UnifiedKey: unit, "pids": unit, "name=systemd": unit,
					"memory": "/containerctl/web", "cpu,cpuacct": "/containerctl/web",
					"devices": "/containerctl/web", "name=unmounted": "/containerctl/web",
				},
				Name: payloadName, Delegated: true, Supervisor: unit + "/supervisor",
			}},
	} {
		got, err := place(l, tt.h, "web", tt.path, nil)
		if err != nil || !reflect.DeepEqual(got, tt.want) {
			t.Errorf("place(%s) = %+v, %v, want %+v", tt.what, got, err, tt.want)
		}
	}
	if got, err := place(l, host{}, "web", "/../web", nil); !errors.Is(err, ErrInvalidPath) {
		t.Errorf(`place(cgroupsPath "/../web") = %+v, %v, want ErrInvalidPath`, got, err)
	}
}
