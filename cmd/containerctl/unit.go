package main

import (
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/coreos/go-systemd/v22/unit"
	"github.com/spf13/cobra"
	"github.com/spf13/pflag"

	"github.com/containerctl/containerctl/runtime"
)

// unitConfig is what a container's unit says.
type unitConfig struct {
	name        string
	bin         string   // containerctl's absolute path
	runArgs     []string // run's flags after NAME, and -- COMMAND
	root        string   // the container's root, which must be mounted first
	stopTimeout time.Duration
	autoStart   bool
	// template makes container@.service, for any NAME (%i), whose
	// settings run reads from /etc/containers/NAME.conf.
	template bool
}

// stopMargin is what systemd waits beyond the halt's own timeout before it
// kills containerctl: time to kill what did not halt and to clean up, so
// that systemd's default (90 s) never cuts a 180 s halt short, the bug
// NixOS's containers had. A halt given longer than the unit says (in a
// settings file, under the template) extends it with EXTEND_TIMEOUT_USEC.
const stopMargin = runtime.HaltMargin

// unitOptions are the unit of one container, container-NAME.service, as
// NixOS's container@.service runs nspawn: notify, the guest's readiness,
// the halt through SIGTERM (containerctl turns it into SIGRTMIN+3), a
// delegated cgroup below machine.slice, a restart on failure and on the
// guest's reboot (exit 133), and a reload that activates a new profile.
func unitOptions(c unitConfig) []*unit.UnitOption {
	name, root := systemdQuote(c.name), pathQuote(c.root)
	if c.template {
		// The instance name is systemd's to fill in: not escaped.
		name, root = "%i", pathQuote(defaultRootDir)+"/%i"
	}
	run := execLine([]string{c.bin, "run"}) + " " + name + " " + execLine(append([]string{"--notify-ready"}, c.runArgs...))
	opts := []*unit.UnitOption{
		unit.NewUnitOption("Unit", "Description", fmt.Sprintf("Container '%s'", name)),
		unit.NewUnitOption("Unit", "Documentation", "man:systemd-nspawn(1)"),
		unit.NewUnitOption("Unit", "RequiresMountsFor", root),
		unit.NewUnitOption("Service", "Type", "notify"),
		unit.NewUnitOption("Service", "NotifyAccess", "main"),
		unit.NewUnitOption("Service", "ExecStart", run),
		unit.NewUnitOption("Service", "ExecReload", execLine([]string{c.bin, "reload"})+" "+name),
		unit.NewUnitOption("Service", "KillMode", "mixed"),
		unit.NewUnitOption("Service", "KillSignal", "SIGTERM"),
		unit.NewUnitOption("Service", "TimeoutStopSec", fmt.Sprintf("%ds", int((c.stopTimeout+stopMargin).Seconds()))),
		unit.NewUnitOption("Service", "Delegate", "yes"),
		unit.NewUnitOption("Service", "Slice", "machine.slice"),
		unit.NewUnitOption("Service", "Restart", "on-failure"),
		unit.NewUnitOption("Service", "RestartForceExitStatus", "133"),
		unit.NewUnitOption("Service", "SuccessExitStatus", "133"),
	}
	if c.autoStart {
		opts = append(opts, unit.NewUnitOption("Install", "WantedBy", "machines.target"))
	}
	return opts
}

// execLine is a command line as systemd reads ExecStart=: each argument
// quoted where it has to be, and % and $ escaped (systemd.service(5),
// "Command lines"; systemd.unit(5), "Specifiers").
func execLine(args []string) string {
	quoted := make([]string, len(args))
	for i, a := range args {
		quoted[i] = systemdQuote(a)
	}
	return strings.Join(quoted, " ")
}

func systemdQuote(a string) string {
	return quoteWord(strings.NewReplacer("%", "%%", "$", "$$").Replace(a))
}

// pathQuote is a path as RequiresMountsFor= reads it: specifiers (%)
// expanded, but not $, and white space separating paths.
func pathQuote(p string) string { return quoteWord(strings.ReplaceAll(p, "%", "%%")) }

func quoteWord(a string) string {
	if a != "" && !strings.ContainsAny(a, " \t\n\"'\\;") {
		return a
	}
	return `"` + strings.NewReplacer(`\`, `\\`, `"`, `\"`, "\n", `\n`, "\t", `\t`).Replace(a) + `"`
}

// defaultPrivateUsers makes --private-users=pick the default of unit and
// create: a declared container's root is nobody on the host unless told
// otherwise (--private-users=no).
func defaultPrivateUsers(cmd *cobra.Command) error {
	if cmd.Flags().Changed("private-users") {
		return nil
	}
	return cmd.Flags().Set("private-users", "pick")
}

// changedFlags are the run flags given on the command line, as flags again,
// for the unit's ExecStart.
func changedFlags(fs *pflag.FlagSet, skip ...string) []string {
	var out []string
	// VisitAll and Changed rather than Visit: a FlagSet such as cobra's
	// LocalFlags holds flags set elsewhere, which Visit does not list.
	fs.VisitAll(func(f *pflag.Flag) {
		if !f.Changed {
			return
		}
		for _, s := range skip {
			if f.Name == s {
				return
			}
		}
		if sv, ok := f.Value.(pflag.SliceValue); ok {
			for _, v := range sv.GetSlice() {
				out = append(out, "--"+f.Name+"="+v)
			}
			return
		}
		out = append(out, "--"+f.Name+"="+f.Value.String())
	})
	return out
}

func unitCommand() *cobra.Command {
	var f specFlags
	var autoStart, template bool
	cmd := &cobra.Command{
		Use:   "unit NAME [run flags] [-- COMMAND [ARG...]] | unit --template",
		Short: "Print the systemd unit (container-NAME.service) that runs a container",
		Long: `Unit prints container-NAME.service, a systemd unit that runs
"containerctl run NAME" with the flags given, as NixOS's container@.service
runs systemd-nspawn: Type=notify with --notify-ready, a halt on stop whose
TimeoutStopSec outlasts --stop-timeout, Delegate=yes below machine.slice,
Restart=on-failure and RestartForceExitStatus=133 for a guest's reboot, and
ExecReload=containerctl reload NAME. The flags are checked as run checks
them. Unlike run, the unit gives the container private users by default
(--private-users=pick, as systemd's systemd-nspawn@.service runs -U): its
root is an unprivileged user on the host. --private-users=no turns that
off. Install it with: containerctl unit foo > /etc/systemd/system/container-foo.service`,
		RunE: func(cmd *cobra.Command, args []string) error {
			bin, err := os.Executable()
			if err == nil {
				bin, err = filepath.EvalSymlinks(bin)
			}
			if err != nil {
				return err
			}
			if template {
				if len(args) > 0 || len(changedFlags(cmd.Flags(), "template", "auto-start")) > 0 {
					return fmt.Errorf("unit --template: takes no NAME and no run flags: they go in %s/NAME.conf", defaultConfigDir)
				}
				_, err = io.Copy(os.Stdout, unit.Serialize(unitOptions(unitConfig{bin: bin, stopTimeout: f.stopTimeout, autoStart: autoStart, template: true})))
				return err
			}
			if len(args) == 0 {
				return fmt.Errorf("unit: want NAME, or --template")
			}
			if err := defaultPrivateUsers(cmd); err != nil {
				return err
			}
			c, _, err := f.build(cmd, args)
			if err != nil {
				return err
			}
			runArgs := changedFlags(cmd.Flags(), "auto-start", "notify-ready")
			if len(args) > 1 {
				runArgs = append(append(runArgs, "--"), args[1:]...)
			}
			opts := unitOptions(unitConfig{
				name: c.Name, bin: bin, runArgs: runArgs, root: c.Spec.Root.Path,
				stopTimeout: f.stopTimeout, autoStart: autoStart,
			})
			_, err = io.Copy(os.Stdout, unit.Serialize(opts))
			return err
		},
	}
	f.register(cmd)
	cmd.Flags().BoolVar(&autoStart, "auto-start", false, "start the container at boot (WantedBy=machines.target)")
	cmd.Flags().BoolVar(&template, "template", false, "print container@.service, for any NAME, with its settings in "+defaultConfigDir+"/NAME.conf")
	return cmd
}
