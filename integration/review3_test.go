package integration

import (
	"os"
	"path/filepath"
	"strings"
	"syscall"
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
	rw, mapped, ro := filepath.Join(fx.dir, "shared"), filepath.Join(fx.dir, "mapped"), filepath.Join(fx.dir, "shared-ro")
	for _, d := range []string{rw, mapped, ro} {
		mustMkdir(t, d)
	}
	_ = os.Symlink("busybox", filepath.Join(fx.root, "bin", "chmod"))
	// Not idmapped, the bind's directory is nobody's inside: writable by
	// all, so that the guest's root can write there at all.
	if err := os.Chmod(rw, 0o777); err != nil {
		t.Fatal(err)
	}
	// The guest's root plants a setuid file in each writable bind.
	c := fx.start(t, runOpts{
		flags:   []string{"--console=pipe", "--private-users=pick", "--bind", rw + ":/shared", "--bind", mapped + ":/mapped:idmap", "--bind-ro", ro + ":/ro"},
		command: []string{"/bin/sh", "-c", "for d in /shared /mapped; do echo x > $d/suid && chmod 4755 $d/suid; done"},
	})
	if code := c.wait(startTimeout); code != 0 {
		t.Fatalf("supervisor exit %d, want 0\nstderr:\n%s", code, c.stderr.String())
	}
	stderr := c.stderr.String()
	if !strings.Contains(stderr, "host users can reach bind source "+mapped+":") {
		t.Errorf("no warning names the reachable idmapped writable bind %s:\n%s", mapped, stderr)
	}
	for _, d := range []string{rw, ro} {
		if strings.Contains(stderr, "bind source "+d+":") {
			t.Errorf("a warning names %s, which is not idmapped or is read-only:\n%s", d, stderr)
		}
	}
	// Without the idmap option, the planted file is the range's root's on
	// the host, not host root's.
	var st syscall.Stat_t
	if err := syscall.Stat(filepath.Join(rw, "suid"), &st); err != nil {
		t.Fatal(err)
	}
	if st.Uid == 0 || st.Uid < 65536 {
		t.Errorf("a file the guest's root wrote in a writable bind is owned by host uid %d, want the range's root", st.Uid)
	}
	for _, f := range []string{filepath.Join(rw, "suid"), filepath.Join(mapped, "suid")} {
		_ = os.Remove(f)
	}
}
