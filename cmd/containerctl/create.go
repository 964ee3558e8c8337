package main

import (
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"

	"github.com/coreos/go-systemd/v22/unit"
	"github.com/spf13/cobra"

	"github.com/containerctl/containerctl/mount"
	"github.com/containerctl/containerctl/runtime"
)

// Imperative containers, as nixos-container create/update/destroy/start:
// a container is its settings file, CONFIG_DIR/NAME.conf, which run and
// container@.service read, and its root.

func createCommand() *cobra.Command {
	var f specFlags
	var autoStart bool
	cmd := &cobra.Command{
		Use:   "create NAME [--path PROFILE] [run flags] [--auto-start]",
		Short: "Declare a container: write its settings file, NAME.conf, for run and container@.service",
		Long: `Create writes ` + defaultConfigDir + `/NAME.conf (see --config-dir) from the run
flags given, checked as run checks them, with NixOS's keys (SYSTEM_PATH,
ROOT, PRIVATE_NETWORK, EXTRA_FLAGS), as nixos-container create does. Where
systemd runs, it installs container@.service when the host has none, and
with --auto-start enables container@NAME.service, which starts it at boot.
It refuses a NAME that already has a settings file. Unlike run, create
gives the container private users by default (PRIVATE_USERS=pick: its
root is an unprivileged user on the host); --private-users=no turns that
off.`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			name := args[0]
			if err := defaultPrivateUsers(cmd); err != nil {
				return err
			}
			if err := absRoot(cmd); err != nil {
				return err
			}
			if _, _, err := f.build(cmd, args); err != nil {
				return err
			}
			text, err := confText(cmd.LocalFlags(), "# "+name+": written by containerctl create; run and container@.service read it.\n", "auto-start")
			if err != nil {
				return fmt.Errorf("%s: %w", name, err)
			}
			if autoStart && !systemdRunning() {
				return fmt.Errorf("%s: --auto-start: %w", name, errNoSystemd)
			}
			file, err := confFile(configDir, name)
			if err != nil {
				return fmt.Errorf("%s: %w", name, err)
			}
			if err := writeNewFile(file, text); errors.Is(err, os.ErrExist) {
				return fmt.Errorf("%s: %s exists: the container is created already (update changes it, destroy removes it)", name, file)
			} else if err != nil {
				return fmt.Errorf("%s: %w", name, err)
			}
			if err := enableUnit(name, autoStart); err != nil {
				_ = os.Remove(file)
				return fmt.Errorf("%s: %w", name, err)
			}
			fmt.Printf("%s: created %s\n", name, file)
			return nil
		},
	}
	f.register(cmd)
	cmd.Flags().BoolVar(&autoStart, "auto-start", false, "start the container at boot: enable container@NAME.service (WantedBy=machines.target)")
	return cmd
}

// writeNewFile writes text to file, which must not exist, whole or not at
// all: through a temporary file that is linked to its name.
func writeNewFile(file, text string) error {
	if _, err := os.Lstat(file); err == nil {
		return fmt.Errorf("%s: %w", file, os.ErrExist)
	}
	if err := os.MkdirAll(filepath.Dir(file), 0o755); err != nil {
		return err
	}
	return writeThrough(file, text, os.Link)
}

// writeThrough writes text to a new temporary file (O_EXCL: never one a
// link was planted at) beside file, mode 0644, and puts it in place with
// place (os.Rename over file, or os.Link, which refuses one that exists).
func writeThrough(file, text string, place func(tmp, file string) error) error {
	tmp, err := os.CreateTemp(filepath.Dir(file), "."+filepath.Base(file)+".")
	if err != nil {
		return err
	}
	defer os.Remove(tmp.Name())
	_, err = tmp.WriteString(text)
	if err == nil {
		err = tmp.Chmod(0o644)
	}
	if cerr := tmp.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return err
	}
	if err := place(tmp.Name(), file); err != nil {
		return fmt.Errorf("%s: %w", file, err)
	}
	return nil
}

// enableUnit installs container@.service where systemd runs and the host has
// none, and with autoStart enables NAME's instance. What it did is undone
// when a later step fails.
func enableUnit(name string, autoStart bool) error {
	if !systemdRunning() {
		return nil
	}
	installed, err := installTemplate()
	if err != nil {
		return err
	}
	if !autoStart {
		return nil
	}
	if _, err := systemctl("enable", "container@"+name+".service"); err != nil {
		if installed != "" {
			_ = os.Remove(installed)
			_, _ = systemctl("daemon-reload")
		}
		return err
	}
	return nil
}

// installTemplate writes container@.service to systemdUnitDir when no unit
// directory holds one, and returns the file it wrote ("" for none).
func installTemplate() (string, error) {
	for _, dir := range []string{"/etc/systemd/system", "/run/systemd/system", "/usr/lib/systemd/system", "/lib/systemd/system"} {
		if _, err := os.Stat(filepath.Join(dir, "container@.service")); err == nil {
			return "", nil
		}
	}
	bin, err := os.Executable()
	if err == nil {
		bin, err = filepath.EvalSymlinks(bin)
	}
	if err != nil {
		return "", err
	}
	opts := unitOptions(unitConfig{bin: bin, stopTimeout: runtime.DefaultStopTimeout, template: true})
	b, err := io.ReadAll(unit.Serialize(opts))
	if err != nil {
		return "", err
	}
	file := filepath.Join(systemdUnitDir, "container@.service")
	if err := writeNewFile(file, string(b)); err != nil {
		return "", err
	}
	if _, err := systemctl("daemon-reload"); err != nil {
		_ = os.Remove(file)
		return "", err
	}
	return file, nil
}

// absRoot makes a --root given on the command line absolute, so that the
// settings file names one directory: a relative ROOT would be taken from
// the working directory of whoever reads the file (systemd's is /, and
// destroy's may be anywhere).
func absRoot(cmd *cobra.Command) error {
	fl := cmd.Flags().Lookup("root")
	if fl == nil || !fl.Changed || fl.Value.String() == "" || filepath.IsAbs(fl.Value.String()) {
		return nil
	}
	abs, err := filepath.Abs(fl.Value.String())
	if err != nil {
		return fmt.Errorf("--root: %w", err)
	}
	return fl.Value.Set(abs)
}

// containerRoot is NAME's root as run would find it: the settings file's
// ROOT, else defaultRootDir/NAME. A relative ROOT is refused: which
// directory it names depends on the reader's working directory.
func containerRoot(name string) (string, error) {
	var f specFlags
	cmd := &cobra.Command{Use: "run"}
	f.register(cmd)
	if err := applyConf(cmd.Flags(), configDir, name); err != nil {
		return "", err
	}
	if f.o.root == "" {
		return filepath.Join(defaultRootDir, name), nil
	}
	if !filepath.IsAbs(f.o.root) {
		return "", fmt.Errorf("ROOT %q in %s.conf is relative: it names a directory of the reader's working directory; give it as an absolute path", f.o.root, filepath.Join(configDir, name))
	}
	return filepath.Clean(f.o.root), nil
}

// checkRemovable refuses to remove a root outside defaultRootDir without
// force, and, even with it, the host's root or a tree that holds a mount:
// removing it would reach into what is mounted there.
func checkRemovable(root string, force bool) error {
	resolved, err := filepath.EvalSymlinks(root)
	if err != nil {
		return err
	}
	if resolved == "/" {
		return fmt.Errorf("root %s is the host's root directory", root)
	}
	// Not even with --force: the directory of every container's root or
	// one above it, or a directory of the host's own system.
	if rel, err := filepath.Rel(resolved, defaultRootDir); err == nil && !strings.HasPrefix(rel, "..") {
		return fmt.Errorf("root %s holds %s, every container's root: it is never removed", root, defaultRootDir)
	}
	if filepath.Dir(resolved) == "/" || slices.Contains([]string{"/usr/local", "/var/lib", "/nix/store", "/nix/var"}, resolved) {
		return fmt.Errorf("root %s is a directory of the host's system: it is never removed", root)
	}
	if rel, err := filepath.Rel(defaultRootDir, resolved); !force && (err != nil || rel == "." || strings.HasPrefix(rel, "..")) {
		return fmt.Errorf("root %s is outside %s: destroy removes it only with --force", root, defaultRootDir)
	}
	mi, err := os.Open("/proc/self/mountinfo")
	if err != nil {
		return err
	}
	defer mi.Close()
	mounts, err := mount.ParseMountinfo(mi)
	if err != nil {
		return err
	}
	for _, m := range mounts {
		if m.Point == resolved || strings.HasPrefix(m.Point, resolved+"/") {
			return fmt.Errorf("%s is a mount point inside the root: unmount it first", m.Point)
		}
	}
	return nil
}
