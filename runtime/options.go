package runtime

import (
	"os"
	"time"

	"github.com/sirupsen/logrus"
	"golang.org/x/sys/unix"

	"github.com/containerctl/containerctl/runtime/network"
	"github.com/containerctl/containerctl/signals"
)

// DefaultStateDir holds a directory for each running container.
const DefaultStateDir = "/run/containerctl"

// DefaultStopTimeout is how long a halt may take before the container is
// killed, as in NixOS's container unit and systemd's default for machines.
const DefaultStopTimeout = 180 * time.Second

// haltSignal is what a halt sends unless told otherwise: SIGRTMIN+3,
// systemd's.
const haltSignal = signals.Halt

// The files of a container's record directory, STATEDIR/NAME.
const (
	stateFile   = "state.json"
	planFile    = "plan.json"
	controlFile = "control"
	notifyFile  = "notify"
	bootIDFile  = "boot_id"
	bootingFile = "booting"
)

// Options are the supervisor's settings, which are not part of the spec.
type Options struct {
	Console Console
	// Args is the command line that started the supervisor (os.Args),
	// with which the monitor starts it again for an event
	// (monitor_linux.go); with none, the supervisor never hands off.
	Args []string
	// StopTimeout is how long a halt may take (DefaultStopTimeout when
	// zero; negative is refused).
	StopTimeout time.Duration
	// KillSignal is what a halt sends to the init; signals.Halt
	// (SIGRTMIN+3, systemd's) when zero. As nspawn's --kill-signal.
	KillSignal unix.Signal
	// MakeRootParents creates missing parents of the root, as for the
	// default /var/lib/containers/NAME; otherwise the parent must exist.
	MakeRootParents bool
	// NotifyReady makes the supervisor tell its own service manager
	// READY=1 only once the guest's init has sent READY=1, as
	// systemd-nspawn --notify-ready=yes; otherwise as soon as the init runs.
	NotifyReady bool
	// BootsSystem says the init boots a whole system (systemd), which
	// needs its share of root's inotify instances: the start is refused
	// when too few are left (see InotifyError).
	BootsSystem bool
	// PreserveFDs passes the supervisor's fds 3 to 3+PreserveFDs-1 to the
	// init, as runc's --preserve-fds. With ListenFDs (socket activation)
	// the init is told of them in LISTEN_FDS, LISTEN_PID and
	// LISTEN_FDNAMES, as nspawn does.
	PreserveFDs   int
	ListenFDs     bool
	ListenFDNames string
	// AllowUnrestrictedDevices starts the container even where no device
	// policy can be enforced (see Plan).
	AllowUnrestrictedDevices bool
	// Network is the container's private network beyond loopback (a veth,
	// addresses, forwards, interfaces moved in), which needs a network
	// namespace of its own in the spec, or a namespace to join.
	Network network.Config
	// Stdin, Stdout and Stderr are the supervisor's own; the console is
	// relayed to them.
	Stdin, Stdout, Stderr *os.File
	// execFifo and consoleSocket are an OCI create's (see Create), and
	// containerHooks the hooks its init child runs in the container's
	// namespaces, with the state they read.
	execFifo, consoleSocket *os.File
	containerHooks          *containerHooks
	// runtimeHooks runs the prestart and createRuntime hooks, given the
	// init's PID, once the child's namespaces and mounts exist.
	runtimeHooks func(pid int) error
	// pipes, when set, is survivePipes begun in the background.
	pipes *pipeSignal
	Log   *logrus.Logger
}
