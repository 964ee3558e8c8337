package main

import (
	"errors"
	"fmt"
	"os"

	"github.com/spf13/cobra"

	"github.com/containerctl/containerctl/runtime"
)

func reloadCommand(stateDir *string) *cobra.Command {
	var o runtime.ReloadOptions
	cmd := &cobra.Command{
		Use:   "reload NAME [--path PROFILE] [--restart-if-needed]",
		Short: "Activate a system profile in a running container without a reboot",
		Long: `Reload runs PROFILE/bin/switch-to-configuration test inside the running
container NAME, as root with a login environment, in all its namespaces, and
exits with its status, as NixOS's container@.service ExecReload does; the
profile is then the container's (status shows it). Without --path it reloads
the profile the container runs, which nix-env --set may have changed.

A profile that cannot be switched to in place (one without
bin/switch-to-configuration, or whose init starts with another #!
interpreter than the running one's) is refused, unless --restart-if-needed:
then the container is halted and started again from it by its supervisor.
A switch that fails leaves the container running, with its profile as it
was.`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			name := args[0]
			if err := runtime.ValidateName(name); err != nil {
				return err
			}
			o.Exec = runtime.ExecOptions{Stdin: os.Stdin, Stdout: os.Stdout, Stderr: os.Stderr, Log: log}
			status, restarted, err := runtime.Reload(*stateDir, name, o)
			var ee *runtime.ExecError
			switch {
			case errors.As(err, &ee):
				logError(err)
				return exitStatus(ee.Status)
			case err != nil && status > 0:
				logError(err)
				return exitStatus(status)
			case err != nil:
				return err
			case restarted:
				fmt.Printf("%s: started again from %s\n", name, o.Path)
			default:
				fmt.Printf("%s: switched to %s\n", name, profileName(*stateDir, name))
			}
			return nil
		},
	}
	cmd.Flags().StringVar(&o.Path, "path", "", "system profile to activate (default: the one the container runs)")
	cmd.Flags().BoolVar(&o.RestartIfNeeded, "restart-if-needed", false, "halt and start the container again when the profile cannot be switched to in place")
	return cmd
}

func profileName(stateDir, name string) string {
	if s, err := runtime.Load(stateDir, name); err == nil {
		return s.Profile
	}
	return "the new profile"
}
