package main

import (
	"fmt"
	"os"

	"github.com/spf13/cobra"

	"github.com/containerctl/containerctl/runtime"
)

func loginCommand(stateDir *string) *cobra.Command {
	return &cobra.Command{
		Use:   "login NAME",
		Short: "Log in to a running container as root, on a pseudo-terminal",
		Long: `Login runs the container's own login(1) for root on a pseudo-terminal of the
container's, as machinectl login and nixos-container root-login do, or,
where the container has no login(1), root's shell as a login shell. It is
an exec (see containerctl exec --help): the same namespaces, limits and
confinement, without systemd-machined.`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			name := args[0]
			if err := runtime.ValidateName(name); err != nil {
				return err
			}
			command, err := runtime.LoginCommand(*stateDir, name)
			if err != nil {
				return fmt.Errorf("%s: %w", name, err)
			}
			o := runtime.ExecOptions{
				Args: command, TTY: true, Term: os.Getenv("TERM"), Log: log,
				Stdin: os.Stdin, Stdout: os.Stdout, Stderr: os.Stderr,
			}
			return execute(*stateDir, name, o)
		},
	}
}
