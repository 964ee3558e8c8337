package main

import (
	"os"
	"strings"
	"testing"

	"github.com/spf13/cobra"
)

func TestConfText(t *testing.T) {
	tests := []struct {
		args []string
		want []string // lines after the header
		err  string
	}{
		{[]string{"--path", "/nix/store/abc-system", "--root", "/srv/c/foo", "--private-network"},
			[]string{"SYSTEM_PATH=/nix/store/abc-system", "PRIVATE_NETWORK=1", "ROOT=/srv/c/foo"}, ""},
		{[]string{"--memory-max", "64M", "--bind", "/a:/b", "--bind-ro", "/c:/d", "--boot"},
			[]string{`EXTRA_FLAGS="--bind=/a:/b --bind-ro=/c:/d --boot=true --memory-max=64M"`}, ""},
		{[]string{"--root", "/srv/with space"}, []string{`ROOT="/srv/with space"`}, ""},
		{[]string{"--private-network=false", "--hostname", "h"}, []string{"EXTRA_FLAGS=--hostname=h"}, ""},
		{[]string{"--bind", "/a b:/c"}, nil, "white space"},
		{[]string{"--setenv", `A="x"`}, nil, "quote"},
	}
	for _, tt := range tests {
		var f specFlags
		cmd := &cobra.Command{Use: "create"}
		f.register(cmd)
		if err := cmd.ParseFlags(tt.args); err != nil {
			t.Fatal(err)
		}
		got, err := confText(cmd.Flags(), "# header\n")
		if tt.err != "" {
			if err == nil || !strings.Contains(err.Error(), tt.err) {
				t.Errorf("confText(%q) = %q, %v; want an error containing %q", tt.args, got, err, tt.err)
			}
			continue
		}
		if want := "# header\n" + strings.Join(tt.want, "\n") + "\n"; err != nil || got != want {
			t.Errorf("confText(%q) = %q, %v; want %q", tt.args, got, err, want)
		}
	}
}

func TestUnitInCgroup(t *testing.T) {
	tests := []struct {
		cgroup, want string
	}{
		{"0::/machine.slice/container@foo.service/supervisor\n", "container@foo.service"},
		{"0::/machine.slice/container-foo.service\n", "container-foo.service"},
		{"12:name=systemd:/machine.slice/container@foo.service\n4:memory:/x\n0::/\n", "container@foo.service"},
		{"0::/machine.slice/container@foobar.service\n", ""},
		{"0::/user.slice/user-0.slice/session-1.scope\n", ""},
		{"4:memory:/machine.slice/container@foo.service\n", ""},
	}
	for _, tt := range tests {
		if got := unitInCgroup(tt.cgroup, "foo"); got != tt.want {
			t.Errorf("unitInCgroup(%q, foo) = %q, want %q", tt.cgroup, got, tt.want)
		}
	}
}

func TestCheckRemovableRefuses(t *testing.T) {
	for _, tt := range []struct {
		root string
		want string
	}{
		{"/", "host's root"},
		{"/etc", "host's system"},
		{"/var", defaultRootDir},
		{"/var/lib", defaultRootDir},
		{defaultRootDir, defaultRootDir},
		{"/usr/local", "host's system"},
	} {
		if _, err := os.Stat(tt.root); err != nil {
			continue // EvalSymlinks needs it; the check is of what exists
		}
		if err := checkRemovable(tt.root, true); err == nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("checkRemovable(%s, force) = %v, want a refusal mentioning %q", tt.root, err, tt.want)
		}
	}
}
