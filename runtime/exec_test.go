package runtime

import (
	"reflect"
	"strings"
	"testing"
)

func TestLookupUser(t *testing.T) {
	passwd := []byte("root:x:0:0:root:/root:/bin/sh\n# comment\nbroken:line\nnobody:x:65534:65534:nobody:/nonexistent:/bin/false\nalice:x:1000:100::/home/alice:/bin/sh\nnohome:x:1001:1001:::/bin/sh\n")
	group := []byte("root:x:0:\nwheel:x:10:alice,bob\nusers:x:100:alice\naudio:x:29:bob\n")
	tests := []struct {
		passwd, group []byte
		user          string
		want          execUser
		err           bool
	}{
		{passwd, group, "", execUser{Name: "root", Home: "/root", Shell: "/bin/sh"}, false},
		{passwd, group, "nobody", execUser{Name: "nobody", UID: 65534, GID: 65534, Home: "/nonexistent", Shell: "/bin/false"}, false},
		{passwd, group, "alice", execUser{Name: "alice", UID: 1000, GID: 100, Groups: []uint32{10}, Home: "/home/alice", Shell: "/bin/sh"}, false},
		{passwd, group, "1000", execUser{Name: "alice", UID: 1000, GID: 100, Groups: []uint32{10}, Home: "/home/alice", Shell: "/bin/sh"}, false},
		{passwd, group, "nohome", execUser{Name: "nohome", UID: 1001, GID: 1001, Home: "/", Shell: "/bin/sh"}, false},
		{passwd, group, "4242", execUser{Name: "4242", UID: 4242, GID: 4242, Home: "/"}, false},
		{passwd, group, "mallory", execUser{}, true},
		{nil, nil, "root", execUser{Name: "root", Home: "/root"}, false},
		{nil, nil, "nobody", execUser{}, true},
		{nil, nil, "4294967295", execUser{}, true},
	}
	for _, tt := range tests {
		got, err := lookupUser(tt.passwd, tt.group, tt.user)
		if !reflect.DeepEqual(got, tt.want) || (err != nil) != tt.err {
			t.Errorf("lookupUser(%q) = %+v, %v; want %+v, error %v", tt.user, got, err, tt.want, tt.err)
		}
	}
}

func TestExecEnv(t *testing.T) {
	u := execUser{Name: "alice", Home: "/home/alice"}
	got := execEnv([]string{"container=x", "PATH=/run/wrappers/bin:/bin", "SECRET=1"}, u, "xterm", []string{"K=V", "TERM=dumb", "K=W"})
	want := []string{"PATH=/run/wrappers/bin:/bin", "HOME=/home/alice", "USER=alice", "LOGNAME=alice", "container=containerctl", "TERM=dumb", "K=W"}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("execEnv(...) = %q, want %q", got, want)
	}
	if got := execEnv(nil, u, "vt220", nil); !strings.HasPrefix(got[0], "PATH=/usr/local/sbin:") {
		t.Errorf("execEnv(no PATH)[0] = %q, want the default PATH", got[0])
	}
}

func TestCheckExecOptions(t *testing.T) {
	tests := []struct {
		o   ExecOptions
		err string
	}{
		{ExecOptions{Args: []string{"id"}}, ""},
		{ExecOptions{Args: []string{"id"}, Workdir: "/tmp", Env: []string{"A=", "B=c=d"}}, ""},
		{ExecOptions{}, "no command"},
		{ExecOptions{Args: []string{""}}, "no command"},
		{ExecOptions{Args: []string{"id"}, Workdir: "tmp"}, "not an absolute path"},
		{ExecOptions{Args: []string{"id"}, Env: []string{"NOEQUALS"}}, "want NAME=VALUE"},
		{ExecOptions{Args: []string{"id"}, Env: []string{"=v"}}, "want NAME=VALUE"},
		{ExecOptions{Args: []string{"i\x00d"}}, "NUL"},
	}
	for _, tt := range tests {
		err := checkExecOptions(tt.o)
		if tt.err == "" && err != nil || tt.err != "" && (err == nil || !strings.Contains(err.Error(), tt.err)) {
			t.Errorf("checkExecOptions(%+v) = %v, want %q", tt.o, err, tt.err)
		}
	}
}
