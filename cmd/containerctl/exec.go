package main

import (
	"errors"
	"os"

	"github.com/spf13/cobra"

	"github.com/containerctl/containerctl/runtime"
)

func execCommand(stateDir *string) *cobra.Command {
	var o runtime.ExecOptions
	cmd := &cobra.Command{
		Use:   "exec [flags] NAME -- COMMAND [ARG...]",
		Short: "Run a command inside a running container",
		Long: `Exec runs COMMAND in every namespace of the running container NAME, with its
capability bounding set, seccomp filter and limits, a clean environment and
the user of the container's /etc/passwd, and exits with its exit status.
Signals sent to containerctl exec are passed on to the command.`,
		Args: cobra.MinimumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			name, command := splitExecArgs(args)
			o.Args = command
			o.Stdin, o.Stdout, o.Stderr = os.Stdin, os.Stdout, os.Stderr
			o.Term = os.Getenv("TERM")
			o.Log = log
			return execute(*stateDir, name, o)
		},
	}
	fl := cmd.Flags()
	// exec's flags stop at NAME, as docker's and nsenter's do, so that
	// `exec foo sh -c ...` gives -c to sh.
	fl.SetInterspersed(false)
	fl.BoolVarP(&o.TTY, "tty", "t", false, "give the command a pseudo-terminal (raw mode, window size relayed)")
	fl.StringVarP(&o.User, "user", "u", "", "run as this user of the container's /etc/passwd, by name or number (default root)")
	fl.StringVarP(&o.Workdir, "workdir", "w", "", "working directory inside the container, absolute (default /)")
	fl.StringArrayVarP(&o.Env, "setenv", "E", nil, "set NAME=VALUE in the command's environment (repeatable)")
	return cmd
}

// splitExecArgs splits NAME [--] COMMAND...: with flags stopping at NAME,
// a "--" after it is still in the arguments.
func splitExecArgs(args []string) (name string, command []string) {
	command = args[1:]
	if len(command) > 0 && command[0] == "--" {
		command = command[1:]
	}
	return args[0], command
}

// execute runs an exec and turns its end into containerctl's exit: the
// command's status, or an error that names the container.
func execute(stateDir, name string, o runtime.ExecOptions) error {
	status, err := runtime.Exec(stateDir, name, o)
	var ee *runtime.ExecError
	if errors.As(err, &ee) {
		logError(err)
		return exitStatus(ee.Status)
	}
	if err != nil {
		return err
	}
	if status != 0 {
		return exitStatus(status)
	}
	return nil
}
