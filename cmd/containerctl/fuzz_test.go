package main

import (
	"path"
	"strings"
	"testing"
)

func oneLine(t *testing.T, what string, err error) {
	t.Helper()
	if err == nil {
		return
	}
	if msg := err.Error(); msg == "" || strings.ContainsAny(msg, "\n\r") {
		t.Fatalf("%s: error %q is not one line", what, msg)
	}
}

func FuzzParseBind(f *testing.F) {
	for _, s := range []string{"/srv", "/srv:/data", "/srv:/data:norbind", "rel:/data/", "/:/", "a:b:c:d", ":", "/x:/dev/../.."} {
		f.Add(s, false)
	}
	f.Fuzz(func(t *testing.T, s string, ro bool) {
		m, err := parseBind(s, ro)
		if err != nil {
			return // parseBind's errors are wrapped with the quoted flag value
		}
		if !path.IsAbs(m.Destination) || path.Clean(m.Destination) != m.Destination || !path.IsAbs(m.Source) {
			t.Fatalf("parseBind(%q) = %+v: want clean absolute paths", s, m)
		}
	})
}

func FuzzParseTmpfs(f *testing.F) {
	for _, s := range []string{"/tmp", "/mnt:size=64m", "rel", "/:mode=0755", "/x:a,b,,c"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		m, err := parseTmpfs(s)
		if err != nil {
			return
		}
		if !path.IsAbs(m.Destination) || path.Clean(m.Destination) != m.Destination || m.Type != "tmpfs" {
			t.Fatalf("parseTmpfs(%q) = %+v: want a tmpfs on a clean absolute path", s, m)
		}
	})
}

// FuzzBuildSpec: whatever the flags say, the spec builder either refuses
// with one clear line or builds a spec that never mounts over the root or
// over what containerctl mounts itself.
func FuzzBuildSpec(f *testing.F) {
	f.Add("foo", "", "/srv:/data", "/mnt:size=1m", "FOO=bar", "512M", "50%", "", "/machine")
	f.Add("a\nb", "bad host", "/:/", "/", "NOVALUE", "10X", "150", "0", "/../x")
	f.Add("web", "web.example", "/srv:/run", "/proc", "=x", "infinity", "201%", "infinity", "rel")
	base, err := mountList(options{})
	if err != nil {
		f.Fatal(err)
	}
	own := len(base) // containerctl's own mounts come first
	f.Fuzz(func(t *testing.T, name, hostname, bind, tmpfs, setenv, mem, quota, tasks, parent string) {
		o := options{
			name: name, root: "/nonexistent/fuzz-root", store: "", hostname: hostname,
			binds: []string{bind}, tmpfs: []string{tmpfs}, setenv: []string{setenv},
			cgroupParent: parent, ncpu: 2, command: []string{"/bin/true"},
		}
		o.limits.MemoryMax, o.limits.CPUQuota, o.limits.TasksMax = mem, quota, tasks
		s, err := buildSpec(o)
		if err != nil {
			oneLine(t, "buildSpec", err)
			return
		}
		for _, m := range s.Mounts[own:] {
			if m.Destination == "/" {
				t.Fatalf("buildSpec(%+v) mounts %s over the root", o, m.Type)
			}
			for _, c := range s.Mounts[:own] {
				if c.Destination != "/tmp" && (c.Destination == m.Destination || strings.HasPrefix(c.Destination, m.Destination+"/")) {
					t.Fatalf("buildSpec(%+v): the user's mount on %s covers containerctl's %s", o, m.Destination, c.Destination)
				}
			}
		}
	})
}
