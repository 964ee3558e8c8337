package integration

import (
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

// TestEphemeral: with --ephemeral the container writes, replaces and
// deletes files in its root and sees its changes (and exec sees them too),
// but the root on disk is as it was, during the run and after it, and the
// next run starts from it again. The overlay is never on the host's mounts.
func TestEphemeral(t *testing.T) {
	fx := newFixture(t)
	seed := filepath.Join(fx.root, "etc", "seed")
	mustMkdir(t, filepath.Dir(seed))
	for p, content := range map[string]string{seed: "orig\n", filepath.Join(fx.root, "etc", "os-release"): ""} {
		if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	before := tree(t, fx.root)

	c := fx.start(t, runOpts{
		flags: []string{"--ephemeral", "--console=pipe"},
		command: []string{"/bin/sh", "-c", "echo changed > /etc/seed && echo new > /new && " +
			"/bin/busybox rm /bin/false && /bin/busybox mkdir -p /var/lib/made && echo ready && exec sleep 1000"},
	})
	c.waitLine("ready", startTimeout)
	if r := ctl(t, "exec", c.name, "--", "cat", "/etc/seed", "/new"); r.code != 0 || r.stdout != "changed\nnew\n" {
		t.Errorf("exec cat /etc/seed /new inside = %q (exit %d, %s), want the container's writes", r.stdout, r.code, r.stderr)
	}
	if r := ctl(t, "exec", c.name, "--", "ls", "/bin/false"); r.code == 0 {
		t.Errorf("exec ls /bin/false inside: exit 0, want the file deleted inside")
	}
	mounts, err := os.ReadFile("/proc/self/mountinfo")
	if err != nil {
		t.Fatal(err)
	}
	if _, ok := mountAt(parseMountinfo(strings.Split(string(mounts), "\n")), fx.root); ok {
		t.Errorf("host mounts: something is mounted at the root %s while the container runs", fx.root)
	}
	if got := tree(t, fx.root); !slices.Equal(got, before) {
		t.Errorf("root on disk while running = %v, want it unchanged: %v", got, before)
	}
	ctl(t, "stop", c.name, "--timeout", "1s")
	c.wait(startTimeout)
	if got := tree(t, fx.root); !slices.Equal(got, before) {
		t.Errorf("root on disk after the stop = %v, want it unchanged: %v", got, before)
	}
	if b, _ := os.ReadFile(seed); string(b) != "orig\n" {
		t.Errorf("%s on disk = %q, want %q", seed, b, "orig\n")
	}

	again := fx.start(t, runOpts{
		flags:   []string{"--ephemeral", "--console=pipe"},
		command: []string{"/bin/sh", "-c", "cat /etc/seed; ls /new 2>/dev/null && echo leaked; exit 0"},
	})
	if code := again.wait(startTimeout); code != 0 || again.stdout.String() != "orig\n" {
		t.Errorf("second ephemeral run: exit %d, output %q, want 0 and %q", code, again.stdout.String(), "orig\n")
	}
}
