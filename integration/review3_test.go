package integration

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	specs "github.com/opencontainers/runtime-spec/specs-go"
)

// TestInitDropsCallersGroups: the guest's root gets no supplementary
// groups of the process that started containerctl. It kept them (disk,
// docker, ... from a shell or a unit with SupplementaryGroups=) when the
// spec's user was 0:0 with no additional gids, since the groups were set
// only for a user change; runc always sets them.
func TestInitDropsCallersGroups(t *testing.T) {
	fx := newFixture(t)
	for _, tt := range []struct {
		name  string
		flags []string
	}{
		{"host users", nil},
		{"private users", []string{"--private-users=pick"}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			c := fx.start(t, runOpts{
				flags:   append([]string{"--console=pipe"}, tt.flags...),
				command: []string{"/bin/cat", "/proc/self/status"},
				wrap:    []string{"setpriv", "--groups", "6,27,42"},
			})
			line := c.waitLine("Groups:", startTimeout)
			if got := strings.TrimSpace(strings.TrimPrefix(line, "Groups:")); got != "" {
				t.Errorf("the guest's init has supplementary groups %q, want none", got)
			}
			if code := c.wait(startTimeout); code != 0 {
				t.Errorf("supervisor exit %d, want 0\nstderr:\n%s", code, c.stderr.String())
			}
		})
	}
}

// TestOCIRefusesPlantedRecord: in a --root that others may write (/tmp, as
// a careless caller gives it), a record another user made is refused. Its
// state names the cgroups delete kills and its hooks run as root: a record
// of nobody's, a copy of a running container's state with a poststop hook,
// had root's delete --force kill that container and run the hook.
func TestOCIRefusesPlantedRecord(t *testing.T) {
	fx := newFixture(t)
	dir := fx.bundle(t, []string{"/bin/sleep", "1000"}, func(s *specs.Spec) { s.Linux.CgroupsPath = "/containerctl-oci-test/" + fx.name })
	root := filepath.Join(fx.dir, "oci-root")
	mustMkdir(t, root)
	if err := os.Chmod(root, 0o1777); err != nil {
		t.Fatal(err)
	}
	runProgram(t, 0, ociBin, "--root", root, "create", "--bundle", dir, fx.name)
	t.Cleanup(func() { _ = runProgramQuiet(ociBin, "--root", root, "delete", "--force", fx.name) })
	runProgram(t, 0, ociBin, "--root", root, "start", fx.name)

	planted := filepath.Join(root, "planted")
	mustMkdir(t, planted)
	state, err := os.ReadFile(filepath.Join(root, fx.name, "state.json"))
	if err != nil {
		t.Fatal(err)
	}
	pwned := filepath.Join(fx.dir, "pwned")
	hook := mustJSON(t, map[string]any{"bundle": dir, "hooks": map[string]any{
		"poststop": []any{map[string]any{"path": "/bin/sh", "args": []string{"sh", "-c", "touch " + pwned}}},
	}})
	for name, b := range map[string][]byte{"state.json": state, "oci.json": hook} {
		if err := os.WriteFile(filepath.Join(planted, name), b, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	if err := filepath.Walk(planted, func(p string, _ os.FileInfo, err error) error {
		if err != nil {
			return err
		}
		return os.Chown(p, 65534, 65534)
	}); err != nil {
		t.Fatal(err)
	}
	if out := runProgram(t, 1, ociBin, "--root", root, "delete", "--force", "planted"); !strings.Contains(out, "not this runtime's") {
		t.Errorf("delete --force of a record of uid 65534: %q, want a refusal", out)
	}
	if exists(pwned) {
		t.Errorf("the planted record's poststop hook ran as root")
	}
	if s := ociState(t, root, fx.name); s.Status != specs.StateRunning {
		t.Errorf("%s after the planted record's delete: %s, want running", fx.name, s.Status)
	}
}

// TestPrivateUsersBindReachWarned: with private users, a writable bind
// that host users can reach is named in a warning, as a reachable root
// is. Through the idmap the guest's root writes as the host's root: a
// setuid binary it copied into such a bind ran as euid 0 for host user
// 65534. A read-only bind is not named.
func TestPrivateUsersBindReachWarned(t *testing.T) {
	fx := newFixture(t)
	for _, d := range []string{filepath.Dir(fx.dir), fx.dir} {
		if err := os.Chmod(d, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	rw, ro := filepath.Join(fx.dir, "shared"), filepath.Join(fx.dir, "shared-ro")
	mustMkdir(t, rw)
	mustMkdir(t, ro)
	c := fx.start(t, runOpts{
		flags:   []string{"--console=pipe", "--private-users=pick", "--bind", rw + ":/shared", "--bind-ro", ro + ":/ro"},
		command: []string{"/bin/true"},
	})
	if code := c.wait(startTimeout); code != 0 {
		t.Fatalf("supervisor exit %d, want 0\nstderr:\n%s", code, c.stderr.String())
	}
	stderr := c.stderr.String()
	if !strings.Contains(stderr, "host users can reach bind source "+rw+":") {
		t.Errorf("no warning names the reachable writable bind %s:\n%s", rw, stderr)
	}
	if strings.Contains(stderr, "bind source "+ro) {
		t.Errorf("a warning names the read-only bind %s:\n%s", ro, stderr)
	}
}
