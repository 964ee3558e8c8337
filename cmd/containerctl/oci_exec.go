package main

import (
	"encoding/json"
	"fmt"
	"os"
	"strconv"

	specs "github.com/opencontainers/runtime-spec/specs-go"
	"github.com/spf13/cobra"

	"github.com/containerctl/containerctl/runtime"
)

func ociExecCommand(g *ociFlags) *cobra.Command {
	var processFile, pidFile, consoleSocket, cwd, user string
	var env []string
	var detach, tty bool
	cmd := &cobra.Command{
		Use:   "exec [--process F | ID -- CMD [ARG...]] [--detach] [--pid-file F] [--console-socket SOCK] [-t] ID",
		Short: "Run a process in a running container",
		Args:  cobra.MinimumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			id := args[0]
			o, err := ociExecOptions(processFile, args[1:], cwd, user, env, tty)
			if err != nil {
				return fmt.Errorf("%s: %w", id, err)
			}
			pid, err := runtime.OCIExec(g.root, id, o, consoleSocket, detach)
			if err != nil {
				return err
			}
			if !detach {
				return exitStatus(pid)
			}
			if pidFile != "" {
				return writePidFile(pidFile, pid)
			}
			return nil
		},
	}
	fl := cmd.Flags()
	fl.StringVarP(&processFile, "process", "p", "", "the process, as config.json's process")
	fl.BoolVarP(&detach, "detach", "d", false, "return once the process runs; the caller's subreaper waits for it")
	fl.StringVar(&pidFile, "pid-file", "", "write the process's PID here")
	fl.StringVar(&consoleSocket, "console-socket", "", "unix socket to send the terminal's master to")
	fl.BoolVarP(&tty, "tty", "t", false, "give the process a terminal")
	fl.StringVar(&cwd, "cwd", "", "working directory inside the container")
	fl.StringVarP(&user, "user", "u", "", "UID[:GID]")
	fl.StringArrayVarP(&env, "env", "e", nil, "NAME=VALUE (repeatable)")
	return cmd
}

// ociExecOptions are the exec's from --process or from the command line.
func ociExecOptions(processFile string, args []string, cwd, user string, env []string, tty bool) (runtime.ExecOptions, error) {
	o := runtime.ExecOptions{Stdin: os.Stdin, Stdout: os.Stdout, Stderr: os.Stderr, Log: log, Workdir: cwd, Env: env, TTY: tty, Args: args}
	if processFile == "" {
		if len(args) == 0 {
			return o, fmt.Errorf("exec: want --process or a command")
		}
		if user != "" {
			return o, fmt.Errorf("--user %q: not supported without --process", user)
		}
		return o, nil
	}
	if len(args) > 0 {
		return o, fmt.Errorf("exec: --process and a command")
	}
	b, err := os.ReadFile(processFile)
	if err != nil {
		return o, err
	}
	var p specs.Process
	if err := json.Unmarshal(b, &p); err != nil {
		return o, fmt.Errorf("--process %s: %w", processFile, err)
	}
	if len(p.Args) == 0 {
		return o, fmt.Errorf("--process %s: no args", processFile)
	}
	// What the exec does not execute is refused by name, never dropped.
	switch {
	case p.User.Username != "":
		return o, fmt.Errorf("--process %s: user.username is not supported (give uid and gid)", processFile)
	case p.ApparmorProfile != "" || p.SelinuxLabel != "":
		return o, fmt.Errorf("--process %s: apparmorProfile and selinuxLabel are not supported", processFile)
	case p.Scheduler != nil || p.IOPriority != nil || p.ExecCPUAffinity != nil:
		return o, fmt.Errorf("--process %s: scheduler, ioPriority and execCPUAffinity are not supported", processFile)
	}
	o.Process = &p
	o.Args, o.Env, o.Workdir, o.TTY = p.Args, append(p.Env, env...), p.Cwd, p.Terminal || tty
	o.User = strconv.FormatUint(uint64(p.User.UID), 10)
	gid := p.User.GID
	o.GID, o.Groups = &gid, p.User.AdditionalGids
	return o, nil
}
