//go:build linux

package mount

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// applyChildEnv makes the test binary, started again by runApply, carry out
// one step in a root instead of running the tests: {"root": ..., "step":
// ...} as JSON.
const applyChildEnv = "_CONTAINERCTL_MOUNT_TEST_APPLY"

func TestMain(m *testing.M) {
	if req := os.Getenv(applyChildEnv); req != "" {
		if err := applyChild(req); err != nil {
			fmt.Fprintln(os.Stderr, err)
			os.Exit(1)
		}
		os.Exit(0)
	}
	os.Exit(m.Run())
}

type applyRequest struct {
	Root string `json:"root"`
	Step Step   `json:"step"`
}

// applyChild runs in a new mount namespace: it prepares the root and applies
// the step, and then reads the bind's target, which must not block either.
func applyChild(req string) error {
	var r applyRequest
	if err := json.Unmarshal([]byte(req), &r); err != nil {
		return err
	}
	root, err := Prepare(r.Root)
	if err != nil {
		return err
	}
	defer root.Close()
	if err := root.Apply([]Step{r.Step}, nil); err != nil {
		return err
	}
	data, err := os.ReadFile(filepath.Join(r.Root, r.Step.Target))
	if err != nil {
		return err
	}
	fmt.Printf("%s", data)
	return nil
}

// requireRoot skips a test that needs root, except in CI
// (CONTAINERCTL_INTEGRATION=1), where it fails: a skip must not hide a
// regression.
func requireRoot(t *testing.T) {
	t.Helper()
	if os.Geteuid() == 0 {
		return
	}
	if os.Getenv("CONTAINERCTL_INTEGRATION") == "1" {
		t.Fatal("needs root (CONTAINERCTL_INTEGRATION=1)")
	}
	t.Skip("needs root")
}

// runApply applies step in root from a child process in a new mount
// namespace, and returns its output and how long it took. A child that is
// still running after a while is killed, and the test fails.
func runApply(t *testing.T, root string, step Step) (string, time.Duration, error) {
	t.Helper()
	req, err := json.Marshal(applyRequest{Root: root, Step: step})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	t.Cleanup(cancel)
	cmd := exec.CommandContext(ctx, os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), applyChildEnv+"="+string(req))
	cmd.SysProcAttr = &syscall.SysProcAttr{Cloneflags: unix.CLONE_NEWNS}
	var stderr strings.Builder
	cmd.Stderr = &stderr
	start := time.Now()
	out, err := cmd.Output()
	took := time.Since(start)
	if ctx.Err() != nil {
		t.Fatalf("apply %s: still running after %s, killed", step, took.Round(time.Millisecond))
	}
	if err != nil {
		return string(out), took, fmt.Errorf("%w: %s", err, strings.TrimSpace(stderr.String()))
	}
	return string(out), took, nil
}

// TestApplyBindTargets binds a file onto mount points that a root can hold:
// a FIFO (which open(2) would block on), a regular file, nothing, a
// symbolic link and a device.
func TestApplyBindTargets(t *testing.T) {
	requireRoot(t)
	for _, tt := range []struct {
		name    string
		setup   func(path string) error
		wantErr string // "" for a bind that works
	}{
		{"fifo", func(p string) error { return unix.Mkfifo(p, 0o644) }, ""},
		{"regular file", func(p string) error { return os.WriteFile(p, []byte("old"), 0o644) }, ""},
		{"missing", func(string) error { return nil }, ""},
		{"symlink", func(p string) error { return os.Symlink("/etc/passwd", p) }, ErrSymlink.Error()},
		{"device", func(p string) error { return unix.Mknod(p, unix.S_IFCHR|0o666, int(unix.Mkdev(1, 3))) }, ErrDevice.Error()},
		{"directory", func(p string) error { return os.Mkdir(p, 0o755) }, "is a directory"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			dir := t.TempDir()
			root := filepath.Join(dir, "root")
			src := filepath.Join(dir, "source")
			if err := os.MkdirAll(filepath.Join(root, "run"), 0o755); err != nil {
				t.Fatal(err)
			}
			if err := os.WriteFile(src, []byte("from the host\n"), 0o644); err != nil {
				t.Fatal(err)
			}
			if err := tt.setup(filepath.Join(root, "run", "target")); err != nil {
				t.Fatal(err)
			}
			out, took, err := runApply(t, root, Step{Kind: Bind, Source: src, Target: "/run/target"})
			t.Logf("took %s", took.Round(time.Millisecond))
			switch {
			case tt.wantErr == "" && err != nil:
				t.Errorf("apply bind on a %s = %v, want no error", tt.name, err)
			case tt.wantErr == "" && out != "from the host\n":
				t.Errorf("apply bind on a %s: target reads %q, want %q", tt.name, out, "from the host\n")
			case tt.wantErr != "" && (err == nil || !strings.Contains(err.Error(), tt.wantErr)):
				t.Errorf("apply bind on a %s = %v, want an error containing %q", tt.name, err, tt.wantErr)
			}
		})
	}
}

// TestApplyFileOnFIFO: a File step onto an existing FIFO fails at once
// rather than opening it.
func TestApplyFileOnFIFO(t *testing.T) {
	requireRoot(t)
	root := t.TempDir()
	if err := unix.Mkfifo(filepath.Join(root, "target"), 0o644); err != nil {
		t.Fatal(err)
	}
	_, took, err := runApply(t, root, Step{Kind: File, Target: "/target", Data: "x"})
	t.Logf("took %s", took.Round(time.Millisecond))
	if err == nil || !strings.Contains(err.Error(), "file exists") {
		t.Errorf("apply file on a fifo = %v, want an error containing %q", err, "file exists")
	}
	var exit *exec.ExitError
	if err != nil && !errors.As(err, &exit) {
		t.Errorf("apply file on a fifo = %v, want the child's exit status", err)
	}
}

// TestApplyBindDescriptor binds the child's standard input, as the console
// is bound: a descriptor opened before the new mount namespace, which
// mount(2) refuses to bind through its /proc/self/fd link.
func TestApplyBindDescriptor(t *testing.T) {
	requireRoot(t)
	root := t.TempDir()
	// runApply's child has /dev/null, opened by the parent, on fd 0.
	out, took, err := runApply(t, root, Step{Kind: Bind, Source: "/proc/self/fd/0", Target: "/dev/console"})
	t.Logf("took %s", took.Round(time.Millisecond))
	if err != nil || out != "" {
		t.Errorf("apply bind of fd 0 on /dev/console = %q, %v, want the empty /dev/null", out, err)
	}
}
