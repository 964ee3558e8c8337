package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/spf13/cobra"
)

// useConfigDir points configDir at a temporary directory for one test.
func useConfigDir(t *testing.T) string {
	t.Helper()
	dir := t.TempDir()
	old := configDir
	configDir = dir
	t.Cleanup(func() { configDir = old })
	return dir
}

// TestContainerRootRelative: a relative ROOT in NAME.conf is refused, not
// taken from the reader's working directory: destroy run from
// /var/lib/containers removed /var/lib/containers/ROOT, another
// container's root, and left the container's own.
func TestContainerRootRelative(t *testing.T) {
	dir := useConfigDir(t)
	tests := []struct {
		root, want, err string
	}{
		{"", filepath.Join(defaultRootDir, "c"), ""},
		{"/srv/c/./c", "/srv/c/c", ""},
		{"victim", "", "relative"},
		{"../victim", "", "relative"},
	}
	for _, tt := range tests {
		text := "EXTRA_FLAGS=--store=\n"
		if tt.root != "" {
			text += "ROOT=" + tt.root + "\n"
		}
		if err := os.WriteFile(filepath.Join(dir, "c.conf"), []byte(text), 0o644); err != nil {
			t.Fatal(err)
		}
		got, err := containerRoot("c")
		if tt.err != "" {
			if err == nil || !strings.Contains(err.Error(), tt.err) {
				t.Errorf("containerRoot(ROOT=%s) = %q, %v; want an error containing %q", tt.root, got, err, tt.err)
			}
			continue
		}
		if err != nil || got != tt.want {
			t.Errorf("containerRoot(ROOT=%s) = %q, %v; want %q", tt.root, got, err, tt.want)
		}
	}
}

// TestAbsRoot: a relative --root given to create or update is written
// absolute, against the working directory it was given in.
func TestAbsRoot(t *testing.T) {
	wd, err := os.Getwd()
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		args []string
		want string
	}{
		{[]string{"--root", "rel"}, filepath.Join(wd, "rel")},
		{[]string{"--root", "/abs/x"}, "/abs/x"},
		{nil, ""},
	}
	for _, tt := range tests {
		var f specFlags
		cmd := &cobra.Command{Use: "create"}
		f.register(cmd)
		if err := cmd.ParseFlags(tt.args); err != nil {
			t.Fatal(err)
		}
		if err := absRoot(cmd); err != nil || f.o.root != tt.want {
			t.Errorf("absRoot(%q) = %q, %v; want %q", tt.args, f.o.root, err, tt.want)
		}
	}
}

// TestWritePidFileNoFollow: the pid file's temporary file is never a link
// planted beside it: FILE.tmp was written through, as root, wherever it
// pointed.
func TestWritePidFileNoFollow(t *testing.T) {
	dir := t.TempDir()
	victim := filepath.Join(dir, "victim")
	if err := os.WriteFile(victim, []byte("keep"), 0o644); err != nil {
		t.Fatal(err)
	}
	file := filepath.Join(dir, "init.pid")
	if err := os.Symlink(victim, file+".tmp"); err != nil {
		t.Fatal(err)
	}
	if err := writePidFile(file, 42); err != nil {
		t.Fatalf("writePidFile = %v, want nil", err)
	}
	if b, _ := os.ReadFile(victim); string(b) != "keep" {
		t.Errorf("writePidFile wrote %q through the planted link, want %q kept", b, "keep")
	}
	if b, _ := os.ReadFile(file); string(b) != "42" {
		t.Errorf("pid file holds %q, want %q", b, "42")
	}
}
