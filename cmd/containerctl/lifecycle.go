package main

import (
	"errors"
	"fmt"
	"os"

	"github.com/spf13/cobra"

	"github.com/containerctl/containerctl/runtime"
)

func updateCommand(stateDir *string) *cobra.Command {
	var f specFlags
	cmd := &cobra.Command{
		Use:   "update NAME [--path PROFILE] [run flags]",
		Short: "Change a created container's settings; a new --path is activated at once, without a reboot",
		Long: `Update rewrites NAME.conf with the flags given over the settings it holds, as
nixos-container update does. When the container runs and --path names
another profile, that profile is activated in place, as reload does; if
the switch fails, the settings file is put back as it was. Other settings
take effect at the next start.`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			name := args[0]
			if err := runtime.ValidateName(name); err != nil {
				return err
			}
			file, err := confFile(configDir, name)
			if err != nil {
				return fmt.Errorf("%s: %w", name, err)
			}
			old, err := os.ReadFile(file)
			if err != nil {
				return fmt.Errorf("%s: not created (containerctl create makes it): %w", name, err)
			}
			if err := absRoot(cmd); err != nil {
				return err
			}
			if err := applyConf(cmd.Flags(), configDir, name); err != nil {
				return fmt.Errorf("%s: %w", name, err)
			}
			if _, _, err := f.build(cmd, args); err != nil {
				return err
			}
			text, err := confText(cmd.LocalFlags(), "# "+name+": written by containerctl update; run and container@.service read it.\n")
			if err != nil {
				return fmt.Errorf("%s: %w", name, err)
			}
			if err := replaceFile(file, text); err != nil {
				return fmt.Errorf("%s: %w", name, err)
			}
			fmt.Printf("%s: updated %s\n", name, file)
			return activate(*stateDir, name, f.o.profile, func() error { return replaceFile(file, string(old)) })
		},
	}
	f.register(cmd)
	return cmd
}

// activate switches a running NAME to profile when it runs another; undo
// puts the settings back when the switch fails.
func activate(stateDir, name, profile string, undo func() error) error {
	st, err := runtime.Load(stateDir, name)
	if errors.Is(err, runtime.ErrNotRunning) || err == nil && (profile == "" || st.Profile == profile) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("%s: %w", name, err)
	}
	o := runtime.ReloadOptions{Path: profile, Exec: runtime.ExecOptions{Stdin: os.Stdin, Stdout: os.Stdout, Stderr: os.Stderr, Log: log}}
	if _, _, err := runtime.Reload(stateDir, name, o); err != nil {
		if uerr := undo(); uerr != nil {
			return fmt.Errorf("%s: %w; and putting the settings back: %w", name, err, uerr)
		}
		return fmt.Errorf("%s: settings put back as they were: %w", name, err)
	}
	fmt.Printf("%s: switched to %s\n", name, profile)
	return nil
}

// replaceFile writes text to file whole, through a temporary file renamed
// over it.
func replaceFile(file, text string) error { return writeThrough(file, text, os.Rename) }

func destroyCommand(stateDir *string) *cobra.Command {
	var force bool
	cmd := &cobra.Command{
		Use:   "destroy NAME [--force]",
		Short: "Stop a container and remove its settings file and its root",
		Long: `Destroy stops NAME if it runs (through its unit when a unit runs it),
disables container@NAME.service, and removes NAME.conf and the container's
root, as nixos-container destroy does. A root outside ` + defaultRootDir + `
is removed only with --force; a root that holds a mount point is never.`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			name := args[0]
			if err := runtime.ValidateName(name); err != nil {
				return err
			}
			if err := destroy(*stateDir, name, force); err != nil {
				return fmt.Errorf("%s: %w", name, err)
			}
			fmt.Printf("%s: destroyed\n", name)
			return nil
		},
	}
	cmd.Flags().BoolVar(&force, "force", false, "remove a root outside "+defaultRootDir+" too")
	return cmd
}

func destroy(stateDir, name string, force bool) error {
	file, err := confFile(configDir, name)
	if err != nil {
		return err
	}
	root, err := containerRoot(name)
	if err != nil {
		return err
	}
	_, confErr := os.Lstat(file)
	_, rootErr := os.Lstat(root)
	st, runErr := runtime.Load(stateDir, name)
	if confErr != nil && rootErr != nil && runErr != nil {
		return fmt.Errorf("no such container: no %s, no root %s, not running", file, root)
	}
	if rootErr == nil {
		if err := checkRemovable(root, force); err != nil {
			return err
		}
	}
	if runErr == nil {
		if err := stopContainer(stateDir, name, st); err != nil {
			return err
		}
	}
	if systemdRunning() {
		u := "container@" + name + ".service"
		if state, err := systemctl("is-enabled", u); err == nil && state == "enabled" {
			if _, err := systemctl("disable", u); err != nil {
				return err
			}
		}
	}
	// The root first: if it cannot all go (a guest's chattr +i), the
	// settings file still names it for the next destroy.
	if rootErr == nil {
		if err := os.RemoveAll(root); err != nil {
			return fmt.Errorf("remove root %s (its settings file is kept, for another destroy): %w", root, err)
		}
	}
	if err := os.Remove(file); err != nil && !errors.Is(err, os.ErrNotExist) {
		return err
	}
	return nil
}

// stopContainer halts a running container: through the unit that runs it,
// so that systemd neither restarts it nor marks it failed, else itself.
func stopContainer(stateDir, name string, st runtime.State) error {
	if u := runningUnit(name, st.SupervisorPID); u != "" {
		_, err := systemctl("stop", u)
		return err
	}
	_, err := runtime.Stop(stateDir, name, 0)
	return err
}

func startCommand() *cobra.Command {
	return &cobra.Command{
		Use:   "start NAME",
		Short: "Start a container through its systemd unit, and wait until it is ready",
		Long: `Start runs "systemctl start" on the unit of NAME: container-NAME.service
when installed (containerctl unit NAME), else container@NAME.service for a
container with a settings file (containerctl create). Without systemd, or
without a unit, it says so: containerctl run NAME runs it in the foreground.`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			name := args[0]
			if err := runtime.ValidateName(name); err != nil {
				return err
			}
			if !systemdRunning() {
				return fmt.Errorf("%s: %w: run it in the foreground with containerctl run %s", name, errNoSystemd, name)
			}
			u, err := loadedUnit(name)
			if err != nil {
				return fmt.Errorf("%s: %w", name, err)
			}
			if u == "" {
				return fmt.Errorf("%s: no unit runs it: containerctl create %s declares it, or containerctl unit %s prints one", name, name, name)
			}
			if _, err := systemctl("start", u); err != nil {
				return fmt.Errorf("%s: %w", name, err)
			}
			fmt.Printf("%s: started through %s\n", name, u)
			return nil
		},
	}
}
