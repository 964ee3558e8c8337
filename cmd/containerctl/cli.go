package main

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"
	"golang.org/x/term"

	"github.com/containerctl/containerctl/cgroup"
	"github.com/containerctl/containerctl/runtime"
	"github.com/containerctl/containerctl/runtime/network"
	"github.com/containerctl/containerctl/signals"
)

// configDir holds the containers' settings files (--config-dir).
var configDir = defaultConfigDir

// run parses the command line and runs the subcommand. cobra (spf13/cobra)
// gives the subcommands, help and flag parsing that users of nspawn and
// runc expect, without hand-written parsing.
func run(args []string) error {
	var logLevel, logFormat, stateDir string
	root := &cobra.Command{
		Use:           "containerctl",
		Short:         "Run whole systems in lightweight containers",
		SilenceUsage:  true,
		SilenceErrors: true,
		PersistentPreRunE: func(*cobra.Command, []string) error {
			return setupLog(logLevel, logFormat)
		},
	}
	root.PersistentFlags().StringVar(&logLevel, "log-level", "info", "log level: debug, info, warn, error")
	root.PersistentFlags().StringVar(&logFormat, "log-format", "text", "log format: text, json")
	root.PersistentFlags().StringVar(&stateDir, "state-dir", runtime.DefaultStateDir, "directory of running containers' records")
	root.PersistentFlags().StringVar(&configDir, "config-dir", defaultConfigDir, "directory of the containers' settings files, NAME.conf, which run reads (flags win)")

	root.AddCommand(runCommand(&stateDir), specCommand(), stopCommand(&stateDir), listCommand(&stateDir), statusCommand(&stateDir),
		execCommand(&stateDir), loginCommand(&stateDir), reloadCommand(&stateDir), unitCommand(),
		createCommand(), updateCommand(&stateDir), destroyCommand(&stateDir), startCommand())
	root.SetArgs(args)
	c, err := root.ExecuteC()
	return nameContainer(c, root, err)
}

// nameContainer puts the container's name before an error that lacks it:
// cobra's own, of a flag or of the arguments ("unknown flag: --bogus"),
// know no container. The name is the command's first argument, as far
// as the parse got.
func nameContainer(c, root *cobra.Command, err error) error {
	if err == nil || c == nil || c == root {
		return err
	}
	pos := c.Flags().Args()
	if len(pos) == 0 || runtime.ValidateName(pos[0]) != nil {
		return err
	}
	if name := runtime.DisplayName(pos[0]); !strings.HasPrefix(err.Error(), name+": ") {
		return fmt.Errorf("%s: %w", name, err)
	}
	return err
}

// specFlags are the flags of run and spec.
type specFlags struct {
	o           options
	console     string
	stopTimeout time.Duration
	notifyReady bool
	killSignal  string
	preserveFDs int
	allowDevs   bool
	bundle      string
	net         network.Config
}

func (f *specFlags) register(cmd *cobra.Command) {
	fl := cmd.Flags()
	fl.StringVarP(&f.o.root, "root", "D", "", "container root directory (default "+defaultRootDir+"/NAME)")
	fl.StringVar(&f.o.profile, "path", "", "system profile; the init is PATH/init (default "+defaultProfileDir+"/NAME)")
	fl.StringVar(&f.o.store, "store", defaultStore, "host directory bound read-only at /nix; empty for none")
	fl.StringArrayVar(&f.o.binds, "bind", nil, "bind a host path: SRC[:DST[:rbind|norbind]] (repeatable)")
	fl.StringArrayVar(&f.o.bindsRO, "bind-ro", nil, "bind a host path read-only: SRC[:DST[:OPTIONS]] (repeatable)")
	fl.StringArrayVar(&f.o.tmpfs, "tmpfs", nil, "mount a tmpfs: DST[:OPTIONS] (repeatable)")
	fl.StringVar(&f.o.hostname, "hostname", "", "hostname (default NAME)")
	fl.StringArrayVarP(&f.o.setenv, "setenv", "E", nil, "set NAME=VALUE in the init's environment (repeatable)")
	fl.StringVar(&f.o.uuid, "uuid", "", "container_uuid, and so the guest's machine ID when its /etc/machine-id is empty (default derived from NAME)")
	fl.StringVar(&f.o.uuid, "machine-id", "", "the same as --uuid, as 32 hexadecimal digits")
	fl.BoolVarP(&f.o.boot, "boot", "b", false, "boot the root's own init (/usr/lib/systemd/systemd, /lib/systemd/systemd, /sbin/init); a command becomes its arguments")
	fl.BoolVar(&f.notifyReady, "notify-ready", false, "send READY=1 to $NOTIFY_SOCKET only once the guest's init has (as nspawn --notify-ready=yes)")
	fl.StringArrayVar(&f.o.addCaps, "capability", nil, "keep a capability beyond the default set (repeatable, comma list)")
	fl.StringArrayVar(&f.o.dropCaps, "drop-capability", nil, "drop a capability from the default set (repeatable, comma list)")
	fl.BoolVar(&f.o.ephemeral, "ephemeral", false, "run on an overlay of the root whose upper layer is a tmpfs: nothing the container writes survives its stop (as nspawn --ephemeral)")
	fl.BoolVar(&f.o.privateNetwork, "private-network", false, "give the container its own network namespace with only loopback")
	f.registerNetwork(fl)
	fl.StringVar(&f.o.limits.MemoryMax, "memory-max", "", "memory limit, as systemd's MemoryMax= (e.g. 512M, 2G, infinity)")
	fl.StringVar(&f.o.limits.MemoryHigh, "memory-high", "", "memory throttling point, as MemoryHigh= (cgroup v2 only)")
	fl.StringVar(&f.o.limits.CPUWeight, "cpu-weight", "", "CPU weight 1..10000, as CPUWeight=")
	fl.StringVar(&f.o.limits.CPUQuota, "cpu-quota", "", "CPU time per CPU, as CPUQuota= (e.g. 50%, 150%)")
	fl.StringVar(&f.o.limits.TasksMax, "tasks-max", "", "most tasks (processes and threads), as TasksMax= (default 16384; infinity for none)")
	fl.StringVar(&f.o.limits.IOWeight, "io-weight", "", "block I/O weight 1..10000, as IOWeight=")
	fl.StringVar(&f.o.cgroupParent, "cgroup-parent", "", "parent cgroup, e.g. /machine (default: the delegated unit's cgroup, else "+cgroup.DefaultParent+")")
	fl.StringVar(&f.console, "console", "", "console mode: interactive, read-only, passive, pipe (default interactive on a terminal, else read-only)")
	fl.StringVar(&f.killSignal, "kill-signal", "SIGRTMIN+3", "signal that asks the init to halt (systemd's SIGRTMIN+3; SIGTERM for most other inits)")
	fl.DurationVar(&f.stopTimeout, "stop-timeout", runtime.DefaultStopTimeout, "how long a halt may take before the container is killed")
	fl.IntVar(&f.preserveFDs, "preserve-fds", 0, "pass this many fds from 3 on to the init (as runc's --preserve-fds); socket-activated fds (LISTEN_FDS) are passed without it")
	fl.StringVar(&f.bundle, "oci-bundle", "", "run an OCI bundle's config.json as it is written (as nspawn --oci-bundle); only the flags of how to run it (console, stop and kill, fds) apply")
	fl.StringVarP(&f.o.privateUsers, "private-users", "U", "no", "user namespace: no (the guest's root is the host's), identity (0-65535 as themselves), pick (a free 65536-ID range, stable for NAME) or BASE[:COUNT]")
	fl.Lookup("private-users").NoOptDefVal = "pick" // -U, as nspawn's
	fl.StringVar(&f.o.usersOwnership, "private-users-ownership", "map", "how the root's files come to be owned by the range: map (idmapped mounts; the files on disk keep their owners) or chown (shift the root's owners once where it cannot be idmapped)")
	fl.BoolVar(&f.allowDevs, "allow-unrestricted-devices", false, "start even where no device policy can be enforced (no cgroup2 device filter, no v1 devices controller): the guest can then use every device of the host")
}

// build makes the spec from the flags and NAME [-- COMMAND...].
func (f *specFlags) build(cmd *cobra.Command, args []string) (*runtime.Container, runtime.Console, error) {
	f.o.name = args[0]
	f.o.command = args[1:]
	f.o.storeSet = cmd.Flags().Changed("store")
	mode := runtime.ConsoleReadOnly
	if term.IsTerminal(int(os.Stdin.Fd())) {
		mode = runtime.ConsoleInteractive
	}
	if f.console != "" {
		var err error
		if mode, err = runtime.ParseConsole(f.console); err != nil {
			return nil, "", fmt.Errorf("%s: --console: %w", runtime.DisplayName(f.o.name), err)
		}
	}
	if f.bundle != "" {
		spec, err := loadBundle(cmd.LocalFlags(), f.bundle)
		if err != nil {
			return nil, "", fmt.Errorf("%s: %w", runtime.DisplayName(f.o.name), err)
		}
		if f.console == "" && !spec.Process.Terminal {
			mode = runtime.ConsolePipe
		}
		spec.Process.Terminal = mode != runtime.ConsolePipe
		if len(f.o.command) > 0 {
			return nil, "", fmt.Errorf("%s: --oci-bundle: the bundle's process.args are the command", runtime.DisplayName(f.o.name))
		}
		return &runtime.Container{Name: f.o.name, Spec: spec}, mode, runtime.ValidateName(f.o.name)
	}
	f.o.terminal = mode != runtime.ConsolePipe
	if mode == runtime.ConsoleInteractive {
		f.o.term = os.Getenv("TERM")
	}
	if f.stopTimeout < 0 {
		return nil, "", fmt.Errorf("%s: --stop-timeout %v: must not be negative", runtime.DisplayName(f.o.name), f.stopTimeout)
	}
	if f.preserveFDs < 0 {
		return nil, "", fmt.Errorf("%s: --preserve-fds %d: must not be negative", runtime.DisplayName(f.o.name), f.preserveFDs)
	}
	f.impliedNetwork()
	spec, err := buildSpec(f.o)
	if err != nil {
		return nil, "", fmt.Errorf("%s: %w", runtime.DisplayName(f.o.name), err)
	}
	return &runtime.Container{Name: f.o.name, Spec: spec}, mode, nil
}

func runCommand(stateDir *string) *cobra.Command {
	var f specFlags
	cmd := &cobra.Command{
		Use:   "run NAME [flags] [-- COMMAND [ARG...]]",
		Short: "Run a container in the foreground until its init exits",
		Long: `Run boots the container NAME with its init as PID 1 and supervises it until
the init exits; containerctl then exits with the init's exit status.
SIGTERM, SIGINT and "containerctl stop" halt it with SIGRTMIN+3.`,
		Args: cobra.MinimumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			// prepare reads the flags and the settings file into a
			// container and its options; profile, when not empty,
			// replaces the one they give.
			// replaces the one they give, and the command's. The file
			// is read once a process: its flags add to the command
			// line's.
			confRead := false
			prepare := func(profile string) (*runtime.Container, runtime.Options, error) {
				if !confRead {
					if err := applyConf(cmd.Flags(), configDir, args[0]); err != nil {
						return nil, runtime.Options{}, fmt.Errorf("%s: %w", runtime.DisplayName(args[0]), err)
					}
					confRead = true
				}
				a := args
				if profile != "" {
					f.o.profile, a = profile, args[:1]
				}
				c, mode, err := f.build(cmd, a)
				if err != nil {
					return nil, runtime.Options{}, err
				}
				c.StateDir = *stateDir
				sig, err := signals.Parse(f.killSignal)
				if err == nil && signals.Stops(sig) {
					err = fmt.Errorf("%s stops the init instead of asking it to halt", signals.Name(sig))
				}
				if err != nil {
					return nil, runtime.Options{}, fmt.Errorf("%s: --kill-signal: %w", c.Name, err)
				}
				var preserve int
				var listen bool
				var names string
				if profile == "" {
					if preserve, listen, names, err = passedFDs(f.preserveFDs); err != nil {
						return nil, runtime.Options{}, fmt.Errorf("%s: %w", c.Name, err)
					}
				}
				return c, runtime.Options{
					KillSignal:               sig,
					Console:                  mode,
					StopTimeout:              f.stopTimeout,
					PreserveFDs:              preserve,
					ListenFDs:                listen,
					ListenFDNames:            names,
					AllowUnrestrictedDevices: f.allowDevs,
					Network:                  f.net,
					NotifyReady:              f.notifyReady,
					// The profile's init (NixOS) and --boot start systemd.
					BootsSystem:     f.bundle == "" && (f.o.boot || len(f.o.command) == 0),
					MakeRootParents: f.bundle == "" && f.o.root == "",
					Args:            os.Args,
					Stdin:           os.Stdin,
					Stdout:          os.Stdout,
					Stderr:          os.Stderr,
					Log:             log,
				}, nil
			}
			var status int
			var err error
			if runtime.Resuming() {
				// The monitor exec'd this command line again for an
				// event of a running container: its settings are in
				// the record, not read again.
				status, err = runtime.Resume(runtime.Options{Args: os.Args, Stdin: os.Stdin, Stdout: os.Stdout, Stderr: os.Stderr, Log: log})
			} else {
				c, opts, perr := prepare("")
				if perr != nil {
					return perr
				}
				status, err = runtime.Run(c, opts)
			}
			// A reload that could not switch in place asked for the
			// container to be started again, from another profile: in
			// this process, so that a unit's main process stays. The
			// fds passed went to the first init.
			for rr := (*runtime.RestartRequest)(nil); errors.As(err, &rr); {
				log.WithField("container", args[0]).Infof("starting again from %s", rr.Profile)
				c, opts, perr := prepare(rr.Profile)
				if perr != nil {
					return perr
				}
				status, err = runtime.Run(c, opts)
			}
			if err != nil {
				return err
			}
			if status != 0 {
				return exitStatus(status)
			}
			return nil
		},
	}
	f.register(cmd)
	return cmd
}

func specCommand() *cobra.Command {
	var f specFlags
	cmd := &cobra.Command{
		Use:   "spec NAME [flags] [-- COMMAND [ARG...]]",
		Short: "Print the OCI runtime spec that run would execute",
		Args:  cobra.MinimumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if err := applyConf(cmd.Flags(), configDir, args[0]); err != nil {
				return fmt.Errorf("%s: %w", runtime.DisplayName(args[0]), err)
			}
			c, _, err := f.build(cmd, args)
			if err != nil {
				return err
			}
			enc := json.NewEncoder(os.Stdout)
			enc.SetIndent("", "  ")
			return enc.Encode(c.Spec)
		},
	}
	f.register(cmd)
	return cmd
}

func stopCommand(stateDir *string) *cobra.Command {
	var timeout time.Duration
	cmd := &cobra.Command{
		Use:   "stop NAME",
		Short: "Halt a running container and wait until it has exited (through its unit when one runs it)",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			name := args[0]
			if err := runtime.ValidateName(name); err != nil {
				return err
			}
			if st, err := runtime.Load(*stateDir, name); err == nil {
				if u := runningUnit(name, st.SupervisorPID); u != "" {
					if cmd.Flags().Changed("timeout") {
						log.WithField("container", name).Warnf("--timeout: stopping through %s, whose TimeoutStopSec applies", u)
					}
					if _, err := systemctl("stop", u); err != nil {
						return fmt.Errorf("%s: %w", name, err)
					}
					fmt.Printf("%s: stopped through %s\n", name, u)
					return nil
				}
			}
			res, err := runtime.Stop(*stateDir, name, timeout)
			if err != nil {
				return err
			}
			switch res.Outcome {
			case runtime.OutcomeHalted:
				fmt.Printf("%s: halted cleanly in %v, exit status %d\n", name, res.Elapsed.Round(time.Millisecond), res.ExitStatus)
			case runtime.OutcomeKilled:
				why := res.Reason
				if why == "" {
					why = fmt.Sprintf("did not halt within %v", res.Timeout)
				}
				fmt.Printf("%s: %s, killed, exit status %d\n", name, why, res.ExitStatus)
			default:
				fmt.Printf("%s: had already exited, exit status %d\n", name, res.ExitStatus)
			}
			return nil
		},
	}
	cmd.Flags().DurationVarP(&timeout, "timeout", "t", 0, "kill the container if it has not halted by then (default: its --stop-timeout)")
	return cmd
}

func listCommand(stateDir *string) *cobra.Command {
	var asJSON bool
	cmd := &cobra.Command{
		Use:   "list",
		Short: "List running containers",
		Args:  cobra.NoArgs,
		RunE: func(*cobra.Command, []string) error {
			states, err := runtime.List(*stateDir)
			if err != nil {
				return err
			}
			if asJSON {
				if states == nil {
					states = []runtime.State{}
				}
				return printJSON(states)
			}
			w := tabwriter.NewWriter(os.Stdout, 0, 4, 2, ' ', 0)
			fmt.Fprintln(w, "NAME\tPID\tROOT\tINIT\tUPTIME")
			for _, s := range states {
				fmt.Fprintf(w, "%s\t%d\t%s\t%s\t%s\n", s.Name, s.PID, s.Root, strings.Join(s.Init, " "), uptime(s.Started))
			}
			return w.Flush()
		},
	}
	cmd.Flags().BoolVar(&asJSON, "json", false, "print JSON")
	return cmd
}

func statusCommand(stateDir *string) *cobra.Command {
	var asJSON bool
	cmd := &cobra.Command{
		Use:   "status NAME",
		Short: "Show a running container",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			s, err := runtime.Load(*stateDir, args[0])
			if err != nil {
				return fmt.Errorf("%s: %w", runtime.DisplayName(args[0]), err)
			}
			if asJSON {
				return printJSON(s)
			}
			fmt.Printf("%s: running\n  init pid:       %d\n  supervisor pid: %d\n  root:           %s\n  init:           %s\n  started:        %s (up %s)\n",
				s.Name, s.PID, s.SupervisorPID, s.Root, strings.Join(s.Init, " "), s.Started.Format(time.RFC3339), uptime(s.Started))
			if s.Profile != "" {
				fmt.Printf("  profile:        %s\n", s.Profile)
			}
			printNetwork(s.Network)
			return nil
		},
	}
	cmd.Flags().BoolVar(&asJSON, "json", false, "print JSON")
	return cmd
}

func printJSON(v any) error {
	enc := json.NewEncoder(os.Stdout)
	enc.SetIndent("", "  ")
	return enc.Encode(v)
}

func uptime(started time.Time) string {
	d := time.Since(started)
	if d < time.Minute {
		return d.Round(time.Second).String()
	}
	return d.Round(time.Minute).String()
}

// passedFDs are the fds the init gets beyond 0, 1 and 2: --preserve-fds, or
// those of socket activation (sd_listen_fds(3): LISTEN_FDS for this
// process's LISTEN_PID), as nspawn passes them on.
func passedFDs(preserve int) (n int, listen bool, names string, err error) {
	pid, _ := strconv.Atoi(os.Getenv("LISTEN_PID"))
	listenFDs, err := strconv.Atoi(os.Getenv("LISTEN_FDS"))
	if pid != os.Getpid() || err != nil || listenFDs <= 0 {
		if preserve > startFDs {
			// Only fds containerctl was given: a higher number is one
			// of its own (the Go runtime's), not the caller's.
			return 0, false, "", fmt.Errorf("--preserve-fds %d: containerctl was started with %d fds from 3 on", preserve, startFDs)
		}
		return preserve, false, "", nil
	}
	if listenFDs > startFDs {
		return 0, false, "", fmt.Errorf("LISTEN_FDS=%d, but containerctl was started with %d fds from 3 on", listenFDs, startFDs)
	}
	if preserve != 0 && preserve != listenFDs {
		return 0, false, "", fmt.Errorf("--preserve-fds %d: socket activation passes %d fds (LISTEN_FDS)", preserve, listenFDs)
	}
	return listenFDs, true, os.Getenv("LISTEN_FDNAMES"), nil
}
