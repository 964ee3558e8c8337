package main

import (
	"encoding/json"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"text/tabwriter"
	"time"

	specs "github.com/opencontainers/runtime-spec/specs-go"
	"github.com/spf13/cobra"
	"golang.org/x/sys/unix"

	"github.com/containerctl/containerctl/runtime"
	"github.com/containerctl/containerctl/signals"
)

// ociName is the name under which the binary answers runc's command line:
// containerd's BinaryName and podman's --runtime take a binary's path, not
// a command line, so the OCI personality has a path of its own, a link to
// this binary (make build makes bin/containerctl-oci).
const ociName = "containerctl-oci"

// version is what --version prints.
const version = "0.1.0"

// ociFlags are containerctl-oci's global flags, runc's.
type ociFlags struct {
	root, logFile, logFormat string
	systemdCgroup, debug     bool
}

func runOCI(args []string) error {
	var g ociFlags
	root := &cobra.Command{
		Use:           ociName,
		Short:         "containerctl's engine behind runc's command line, for containerd and podman",
		Version:       version,
		SilenceUsage:  true,
		SilenceErrors: true,
		PersistentPreRunE: func(*cobra.Command, []string) error {
			return setupOCILog(g)
		},
	}
	root.SetVersionTemplate(fmt.Sprintf("%s version %s\nspec: %s\n", ociName, version, specs.Version))
	pf := root.PersistentFlags()
	pf.StringVar(&g.root, "root", runtime.DefaultOCIStateDir, "directory of the containers' state")
	pf.StringVar(&g.logFile, "log", "", "write the log to this file instead of stderr (an error that ends the command goes to both)")
	pf.StringVar(&g.logFormat, "log-format", "text", "log format: text, json")
	pf.BoolVar(&g.systemdCgroup, "systemd-cgroup", false, "cgroupsPath is systemd's slice:prefix:name, laid out as systemd would (no unit is made through systemd)")
	pf.BoolVar(&g.debug, "debug", false, "debug logging")
	root.AddCommand(ociCreateCommand(&g), ociStartCommand(&g), ociStateCommand(&g), ociKillCommand(&g),
		ociDeleteCommand(&g), ociListCommand(&g), ociPSCommand(&g), ociPauseCommand(&g, true), ociPauseCommand(&g, false),
		ociFeaturesCommand(), ociSpecCommand(), ociExecCommand(&g), ociUpdateCommand(&g))
	root.SetArgs(args)
	return root.Execute()
}

// setupOCILog sends the log to --log as well, in --log-format: containerd
// reads the last error from that file's JSON lines.
func setupOCILog(g ociFlags) error {
	level := "warn"
	if g.debug {
		level = "debug"
	}
	if err := setupLog(level, g.logFormat); err != nil {
		return err
	}
	if g.logFile != "" {
		f, err := os.OpenFile(g.logFile, os.O_WRONLY|os.O_APPEND|os.O_CREATE|unix.O_CLOEXEC, 0o644)
		if err != nil {
			return fmt.Errorf("--log: %w", err)
		}
		log.SetOutput(f)
		logToFile = true
	}
	return nil
}

// logToFile says that --log sent the log to a file: the error that ends
// the command is then also printed on stderr, as runc prints it.
var logToFile bool

func ociCreateCommand(g *ociFlags) *cobra.Command {
	var bundle, pidFile, consoleSocket string
	var noPivot, noNewKeyring bool
	var preserveFDs int
	cmd := &cobra.Command{
		Use:   "create --bundle DIR [--pid-file F] [--console-socket SOCK] ID",
		Short: "Set a container up, its init waiting for start",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			id := args[0]
			if noPivot {
				return fmt.Errorf("%s: --no-pivot: not supported: the root is always entered with pivot_root", id)
			}
			spec, err := loadOCISpec(bundle, g.systemdCgroup)
			if err != nil {
				return fmt.Errorf("%s: %w", id, err)
			}
			if preserveFDs > startFDs {
				return fmt.Errorf("%s: --preserve-fds %d: only %d fds were passed", id, preserveFDs, startFDs)
			}
			abs, _ := filepath.Abs(bundle)
			pid, err := runtime.Create(g.root, id, spec, runtime.CreateOptions{
				Bundle: abs, ConsoleSocket: consoleSocket, PreserveFDs: preserveFDs,
				Stdin: os.Stdin, Stdout: os.Stdout, Stderr: os.Stderr, Log: log,
			})
			if err != nil {
				return err
			}
			if pidFile != "" {
				if err := writePidFile(pidFile, pid); err != nil {
					_ = runtime.Delete(g.root, id, true, log.WithField("container", id))
					return fmt.Errorf("%s: --pid-file: %w", id, err)
				}
			}
			return nil
		},
	}
	fl := cmd.Flags()
	fl.StringVarP(&bundle, "bundle", "b", ".", "the bundle: config.json and the root")
	fl.StringVar(&pidFile, "pid-file", "", "write the init's PID here")
	fl.StringVar(&consoleSocket, "console-socket", "", "unix socket to send the terminal's master to")
	fl.BoolVar(&noPivot, "no-pivot", false, "refused: the root is always pivoted into")
	fl.BoolVar(&noNewKeyring, "no-new-keyring", false, "accepted: no session keyring is made either way")
	fl.IntVar(&preserveFDs, "preserve-fds", 0, "pass this many fds from 3 on to the init")
	return cmd
}

// writePidFile writes pid whole, through a file renamed into place, as the
// caller may read it the moment create exits. The temporary file is a new
// one (O_EXCL): a fixed name could be a link another user planted, which
// root would follow.
func writePidFile(file string, pid int) error {
	return writeThrough(file, strconv.Itoa(pid), os.Rename)
}

// loadOCISpec reads the bundle's config.json, the root made absolute
// against the bundle, and with --systemd-cgroup, cgroupsPath as systemd's
// slice:prefix:name turned into the path systemd would give it.
func loadOCISpec(bundle string, systemdCgroup bool) (*specs.Spec, error) {
	dir, err := filepath.Abs(bundle)
	if err != nil {
		return nil, err
	}
	b, err := os.ReadFile(filepath.Join(dir, "config.json"))
	if err != nil {
		return nil, err
	}
	var spec specs.Spec
	if err := json.Unmarshal(b, &spec); err != nil {
		return nil, fmt.Errorf("%s: %w", filepath.Join(dir, "config.json"), err)
	}
	if spec.Root == nil || spec.Process == nil || spec.Linux == nil {
		return nil, fmt.Errorf("%s: needs root, process and linux", filepath.Join(dir, "config.json"))
	}
	if !filepath.IsAbs(spec.Root.Path) {
		spec.Root.Path = filepath.Join(dir, spec.Root.Path)
	}
	if systemdCgroup && spec.Linux.CgroupsPath != "" {
		p, err := systemdCgroupPath(spec.Linux.CgroupsPath)
		if err != nil {
			return nil, err
		}
		spec.Linux.CgroupsPath = p
	}
	return &spec, nil
}

// systemdCgroupPath turns "machine.slice:libpod:ID" into
// /machine.slice/libpod-ID.scope, and a nested slice "a-b.slice" into
// /a.slice/a-b.slice, as systemd lays them out.
func systemdCgroupPath(s string) (string, error) {
	parts := strings.Split(s, ":")
	if len(parts) != 3 || parts[2] == "" || strings.Contains(s, "/") {
		return "", fmt.Errorf("cgroupsPath %q: want slice:prefix:name with --systemd-cgroup", s)
	}
	slice, prefix, name := parts[0], parts[1], parts[2]
	if slice == "" {
		slice = "system.slice"
	}
	if !strings.HasSuffix(slice, ".slice") {
		return "", fmt.Errorf("cgroupsPath %q: %q is not a slice", s, slice)
	}
	p := ""
	words := strings.Split(strings.TrimSuffix(slice, ".slice"), "-")
	for i := range words {
		if slice != "-.slice" {
			p += "/" + strings.Join(words[:i+1], "-") + ".slice"
		}
	}
	unit := name
	if prefix != "" {
		unit = prefix + "-" + name
	}
	if !strings.Contains(unit, ".") {
		unit += ".scope"
	}
	return p + "/" + unit, nil
}

func ociStartCommand(g *ociFlags) *cobra.Command {
	return &cobra.Command{
		Use: "start ID", Short: "Run the user's process in a created container", Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			return runtime.Start(g.root, args[0], log.WithField("container", args[0]))
		},
	}
}

func ociStateCommand(g *ociFlags) *cobra.Command {
	return &cobra.Command{
		Use: "state ID", Short: "Print a container's state (the runtime spec's JSON)", Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			c, err := runtime.OCIDescribe(g.root, args[0])
			if err != nil {
				return err
			}
			return printJSON(stateJSON(c))
		},
	}
}

// stateJSON is the runtime spec's state with runc's rootfs and created.
func stateJSON(c runtime.OCIContainer) any {
	return struct {
		specs.State
		Rootfs  string    `json:"rootfs"`
		Created time.Time `json:"created"`
	}{c.State, c.Rootfs, c.Created}
}

func ociKillCommand(g *ociFlags) *cobra.Command {
	var all bool
	cmd := &cobra.Command{
		Use: "kill [--all] ID [SIGNAL]", Short: "Send a signal to a container's init (SIGTERM by default)", Args: cobra.RangeArgs(1, 2),
		RunE: func(cmd *cobra.Command, args []string) error {
			sig := "SIGTERM"
			if len(args) == 2 {
				sig = args[1]
			}
			// 0 asks only whether the init runs, as runc and kill(1)
			// take it.
			var s syscall.Signal
			if sig != "0" {
				var err error
				if s, err = signals.Parse(sig); err != nil {
					return fmt.Errorf("%s: %w", args[0], err)
				}
			}
			return runtime.Kill(g.root, args[0], s, all)
		},
	}
	cmd.Flags().BoolVarP(&all, "all", "a", false, "send it to every process of the container")
	return cmd
}

func ociDeleteCommand(g *ociFlags) *cobra.Command {
	var force bool
	cmd := &cobra.Command{
		Use: "delete [--force] ID", Short: "Remove what create made; --force kills a running container first", Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			return runtime.Delete(g.root, args[0], force, log.WithField("container", args[0]))
		},
	}
	cmd.Flags().BoolVarP(&force, "force", "f", false, "kill the container if it runs")
	return cmd
}

func ociListCommand(g *ociFlags) *cobra.Command {
	var format string
	var quiet bool
	cmd := &cobra.Command{
		Use: "list", Short: "List the containers", Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			cs, err := runtime.OCIList(g.root)
			if err != nil {
				return err
			}
			if format == "json" {
				out := make([]any, len(cs))
				for i, c := range cs {
					out[i] = stateJSON(c)
				}
				return printJSON(out)
			}
			w := tabwriter.NewWriter(os.Stdout, 0, 8, 2, ' ', 0)
			if !quiet {
				fmt.Fprintln(w, "ID\tPID\tSTATUS\tBUNDLE\tCREATED")
			}
			for _, c := range cs {
				if quiet {
					fmt.Fprintln(w, c.State.ID)
					continue
				}
				fmt.Fprintf(w, "%s\t%d\t%s\t%s\t%s\n", c.State.ID, c.State.Pid, c.State.Status, c.State.Bundle, c.Created.Format(time.RFC3339Nano))
			}
			return w.Flush()
		},
	}
	cmd.Flags().StringVarP(&format, "format", "f", "table", "table or json")
	cmd.Flags().BoolVarP(&quiet, "quiet", "q", false, "IDs only")
	return cmd
}

func ociPSCommand(g *ociFlags) *cobra.Command {
	var format string
	cmd := &cobra.Command{
		Use: "ps [--format json] ID", Short: "List a container's processes", Args: cobra.MinimumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			pids, err := runtime.Processes(g.root, args[0])
			if err != nil {
				return err
			}
			if format == "json" {
				if pids == nil {
					pids = []int{}
				}
				return json.NewEncoder(os.Stdout).Encode(pids)
			}
			fmt.Println("PID")
			for _, p := range pids {
				fmt.Println(p)
			}
			return nil
		},
	}
	cmd.Flags().StringVarP(&format, "format", "f", "table", "table or json")
	return cmd
}

func ociPauseCommand(g *ociFlags, pause bool) *cobra.Command {
	use, short := "resume ID", "Thaw a paused container"
	if pause {
		use, short = "pause ID", "Freeze every process of a container"
	}
	return &cobra.Command{
		Use: use, Short: short, Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error { return runtime.Pause(g.root, args[0], pause) },
	}
}

func ociSpecCommand() *cobra.Command {
	var bundle string
	cmd := &cobra.Command{
		Use: "spec [--bundle DIR]", Short: "Write a default config.json (an sh in rootfs)", Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			file := filepath.Join(bundle, "config.json")
			if _, err := os.Stat(file); err == nil {
				return fmt.Errorf("%s exists", file)
			}
			spec, err := buildSpec(options{name: "container", root: filepath.Join(bundle, "rootfs"), command: []string{"sh"}, storeSet: true, terminal: true})
			if err != nil {
				return err
			}
			spec.Root.Path = "rootfs"
			delete(spec.Annotations, "org.containerctl.name")
			// runc's spec's confinement, not run's (a booted system's):
			// three capabilities, no_new_privs and a read-only root.
			caps := []string{"CAP_AUDIT_WRITE", "CAP_KILL", "CAP_NET_BIND_SERVICE"}
			spec.Process.Capabilities = &specs.LinuxCapabilities{Bounding: caps, Effective: caps, Permitted: caps}
			spec.Process.NoNewPrivileges = true
			spec.Root.Readonly = true
			b, err := json.MarshalIndent(spec, "", "\t")
			if err != nil {
				return err
			}
			return os.WriteFile(file, append(b, '\n'), 0o644)
		},
	}
	cmd.Flags().StringVarP(&bundle, "bundle", "b", ".", "where to write config.json")
	return cmd
}

// isOCI says whether the binary runs as containerctl-oci.
func isOCI(argv0 string) bool { return filepath.Base(argv0) == ociName }

func ociUpdateCommand(g *ociFlags) *cobra.Command {
	var resources string
	cmd := &cobra.Command{
		Use: "update --resources F|- ID", Short: "Set new limits (linux.resources JSON) on a running container", Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			var b []byte
			var err error
			switch resources {
			case "":
				return fmt.Errorf("%s: update: want --resources FILE or -", args[0])
			case "-":
				b, err = io.ReadAll(os.Stdin)
			default:
				b, err = os.ReadFile(resources)
			}
			if err != nil {
				return fmt.Errorf("%s: --resources: %w", args[0], err)
			}
			var res specs.LinuxResources
			if err := json.Unmarshal(b, &res); err != nil {
				return fmt.Errorf("%s: --resources: %w", args[0], err)
			}
			return runtime.Update(g.root, args[0], &res)
		},
	}
	cmd.Flags().StringVarP(&resources, "resources", "r", "", "linux.resources as JSON, from a file or - for stdin")
	return cmd
}
