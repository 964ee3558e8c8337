package integration

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestImperative: create, update, start and destroy, as nixos-container's.
// create writes NAME.conf that run then reads, refusing bad flags, a name
// already created and (with no systemd on this host) --auto-start before
// anything is written; update switches a running container to a new
// --path in place and puts the file back when the switch fails; start says
// that no systemd runs here; destroy refuses a root outside
// /var/lib/containers, and with --force stops the container and removes
// its settings and its root.
func TestImperative(t *testing.T) {
	fx := newFixture(t)
	for _, a := range []string{"id", "readlink"} {
		_ = os.Symlink("busybox", filepath.Join(fx.root, "bin", a))
	}
	fx.setInitArgs(t, "-halt", "obey")
	dir := t.TempDir()
	conf := filepath.Join(dir, fx.name+".conf")
	cc := func(args ...string) result { return ctl(t, append([]string{"--config-dir", dir}, args...)...) }
	oneLine := func(what string, r result, want string) {
		t.Helper()
		if r.code == 0 || !strings.Contains(r.stderr, fx.name+": ") || !strings.Contains(r.stderr, want) || len(nonEmptyLines(r.stderr)) != 1 {
			t.Errorf("%s: exit %d, stderr %q; want a failure and one line naming %s and saying %q", what, r.code, r.stderr, fx.name, want)
		}
	}

	for _, bad := range []struct{ flag, want string }{
		{"--memory-max=lots", "MemoryMax"},
		{"--bind=/srv/a b:/b", "white space"},
		{"--auto-start", "systemd is not running"},
	} {
		oneLine("create "+bad.flag, cc("create", fx.name, "--root", fx.root, bad.flag), bad.want)
		if exists(conf) {
			t.Fatalf("create %s: wrote %s, want nothing written", bad.flag, conf)
		}
	}

	system := fx.addSystem(t, switchRecorder("/run/switched-first", 0))
	r := cc("create", fx.name, "--path", system, "--root", fx.root, "--store", fx.store, "--hostname=created", "--console=pipe")
	text, _ := os.ReadFile(conf)
	if r.code != 0 || !strings.Contains(string(text), "SYSTEM_PATH="+system+"\n") || !strings.Contains(string(text), "ROOT="+fx.root+"\n") {
		t.Fatalf("create: exit %d (%s), %s holds %q; want SYSTEM_PATH and ROOT", r.code, r.stderr, conf, text)
	}
	oneLine("create again", cc("create", fx.name, "--root", fx.root), "created already")

	c := fx.start(t, runOpts{noRoot: true, flags: []string{"--config-dir", dir}})
	c.ready()
	if r := ctl(t, "exec", fx.name, "--", "hostname"); strings.TrimSpace(r.stdout) != "created" {
		t.Errorf("hostname inside %q (%s), want create's --hostname", r.stdout, r.stderr)
	}

	next := fx.addSystem(t, switchRecorder("/run/switched-next", 0))
	if r := cc("update", fx.name, "--path", next); r.code != 0 || !strings.Contains(r.stdout, "switched to "+next) {
		t.Errorf("update --path: exit %d, stdout %q, stderr %q; want a switch in place", r.code, r.stdout, r.stderr)
	}
	text, _ = os.ReadFile(conf)
	if got := profileOf(t, fx.name); got != next || !alive(c.initPID) || !strings.Contains(string(text), "SYSTEM_PATH="+next+"\n") || !strings.Contains(string(text), "--hostname=created") {
		t.Errorf("after update: profile %q (want %s), PID 1 alive %v, %s holds %q", got, next, alive(c.initPID), conf, text)
	}
	failing := fx.addSystem(t, switchRecorder("/run/switched-failing", 3))
	oneLine("update to a failing switch", cc("update", fx.name, "--path", failing), "put back")
	if after, _ := os.ReadFile(conf); string(after) != string(text) {
		t.Errorf("after a failed update %s holds %q, want it put back: %q", conf, after, text)
	}

	oneLine("start", cc("start", fx.name), "systemd is not running")
	oneLine("destroy of a root outside /var/lib/containers", cc("destroy", fx.name), "only with --force")
	if c.exited() || !exists(conf) || !exists(fx.root) {
		t.Fatalf("a refused destroy: supervisor exited %v, settings kept %v, root kept %v; want all kept", c.exited(), exists(conf), exists(fx.root))
	}
	if r := cc("destroy", fx.name, "--force"); r.code != 0 {
		t.Fatalf("destroy --force: exit %d: %s", r.code, r.stderr)
	}
	// stop returns once the container has exited; its supervisor may take
	// a moment more to.
	c.wait(startTimeout)
	if !c.exited() || exists(conf) || exists(fx.root) {
		t.Errorf("after destroy --force: supervisor exited %v, settings left %v, root left %v; want it stopped and both removed", c.exited(), exists(conf), exists(fx.root))
	}
	oneLine("destroy again", cc("destroy", fx.name, "--force"), "no such container")
}
