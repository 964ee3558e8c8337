package runtime

import (
	"errors"
	"fmt"
	"path"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	specs "github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/sys/unix"

	"github.com/containerctl/containerctl/cgroup"
	"github.com/containerctl/containerctl/mount"
	"github.com/containerctl/containerctl/runtime/network"
	"github.com/containerctl/containerctl/runtime/security"
	"github.com/containerctl/containerctl/runtime/userns"
)

// Plan is a container's spec compiled once, checked and complete: every
// entry point (run today; exec and the OCI verbs later) executes a Plan and
// never goes back to the spec. What the spec asks for and the runtime does
// not execute is refused by Compile, never ignored.
type Plan struct {
	Name     string
	StateDir string
	// Root is the container's root directory on the host, absolute and
	// clean; MakeRootParents allows its missing parents to be created.
	Root            string
	MakeRootParents bool
	// Ephemeral runs the container on an overlay of Root whose upper
	// layer is a tmpfs, from the spec's EphemeralAnnotation: nothing it
	// writes survives it.
	Ephemeral  bool
	Hostname   string
	Domainname string
	// NewNetwork and NewCgroupNS say which namespaces beyond mount, PID,
	// UTS and IPC the container gets (UTS and IPC are new when the spec
	// asks, mount and PID always).
	NewUTS, NewIPC, NewNetwork, NewCgroupNS bool
	// NetNSPath is a network namespace the init child joins instead
	// (nspawn's --network-namespace-path).
	NetNSPath string `json:",omitempty"`
	// Network is what the supervisor makes of the container's network
	// namespace before the init runs (nil for loopback only).
	Network *network.Plan `json:",omitempty"`
	// Mounts are the mount steps: the spec's mounts, the runtime's own
	// files under /run/host, devices, masks and read-only paths.
	Mounts mount.Steps
	// Process is what the init child execs as PID 1.
	Process Process
	// Profile is the system profile whose init Process runs, from the
	// spec's ProfileAnnotation ("" for another init), and InitInterpreter
	// the #! interpreter its init started with: what reload compares.
	Profile         string
	InitInterpreter string
	// Seccomp is the filter the init gets and Capabilities its bounding
	// set (nil for none).
	Seccomp      *security.Seccomp
	Capabilities *security.Capabilities
	// PreserveFDs passes the supervisor's fds 3 to 3+PreserveFDs-1 to the
	// init (socket activation, runc's --preserve-fds); every other fd is
	// closed before the init runs.
	PreserveFDs int
	// Sysctl are linux.sysctl's values, each of a namespace of the
	// container's own; ReadonlyRoot and RootPropagation are root.readonly
	// and linux.rootfsPropagation (mount(2) flags; 0 keeps the default,
	// a recursive slave of the host's).
	Sysctl          []Sysctl
	ReadonlyRoot    bool
	RootPropagation uintptr
	// HostFiles are the host paths of the runtime's own files in the
	// record directory (the notify socket, the boot ID), which the mount
	// steps bind into the container.
	NotifyPath, BootIDPath string

	Console     Console
	StopTimeout time.Duration
	KillSignal  unix.Signal
	NotifyReady bool
	BootsSystem bool
	// Detached is an OCI create's container: no supervisor stays, the
	// init waits for start (see Create).
	Detached bool
	// AllowUnrestrictedDevices accepts a host where no device policy can
	// be enforced (neither a cgroup2 device filter nor a v1 devices
	// controller): the guest's CAP_MKNOD then reaches every device.
	AllowUnrestrictedDevices bool

	// Users is the container's user namespace, nil for none (the
	// guest's root is the host's). A pick's range is filled in by the
	// start that reserves it.
	Users *userns.Users `json:",omitempty"`

	// Layout is the host's cgroup hierarchies, and Cgroup where the
	// container's cgroup goes in them and what it may use.
	Layout cgroup.Layout
	Cgroup cgroup.Config
}

// Process is the init: what is exec'd, with what, where.
type Process struct {
	Args            []string `json:"args"`
	Env             []string `json:"env"`
	Cwd             string   `json:"cwd"`
	NoNewPrivileges bool     `json:"no_new_privileges,omitempty"`
	OOMScoreAdj     *int     `json:"oom_score_adj,omitempty"`
	User            User     `json:"user"`
	Umask           *uint32  `json:"umask,omitempty"`
	Rlimits         []Rlimit `json:"rlimits,omitempty"`
}

// compile checks the parts of a spec that need nothing of the host and
// fills in the plan's pure fields. The host-dependent parts (the root's
// real path, the cgroup placement, the host's files) are Compile's.
func compile(c *Container, opts Options) (*Plan, error) {
	if err := ValidateName(c.Name); err != nil {
		return nil, err
	}
	s := c.Spec
	if s == nil || s.Root == nil || s.Process == nil || len(s.Process.Args) == 0 {
		return nil, fmt.Errorf("%w: needs a root and process args", ErrInvalidSpec)
	}
	if err := checkUnsupported(s, opts.execFifo != nil); err != nil {
		return nil, err
	}
	if err := checkOptions(opts); err != nil {
		return nil, err
	}
	var err error
	p := &Plan{
		Name:                     c.Name,
		StateDir:                 c.stateDir(),
		MakeRootParents:          opts.MakeRootParents,
		Hostname:                 s.Hostname,
		Domainname:               s.Domainname,
		Console:                  opts.Console,
		StopTimeout:              opts.StopTimeout,
		KillSignal:               opts.KillSignal,
		NotifyReady:              opts.NotifyReady,
		BootsSystem:              opts.BootsSystem,
		Detached:                 opts.execFifo != nil,
		PreserveFDs:              opts.PreserveFDs,
		AllowUnrestrictedDevices: opts.AllowUnrestrictedDevices,
	}
	if p.Console == "" {
		p.Console = ConsoleReadOnly
	}
	if p.StopTimeout == 0 {
		p.StopTimeout = DefaultStopTimeout
	}
	if p.KillSignal == 0 {
		p.KillSignal = haltSignal
	}
	if err := p.compileNamespaces(s); err != nil {
		return nil, err
	}
	users, err := compileUsers(s)
	if err != nil {
		return nil, err
	}
	p.Users = users
	if err := p.compileNetwork(opts.Network); err != nil {
		return nil, err
	}
	if err := p.compileNamesAndRoot(s.Root.Path); err != nil {
		return nil, err
	}
	dir := filepath.Join(p.StateDir, p.Name)
	p.NotifyPath, p.BootIDPath = filepath.Join(dir, notifyFile), filepath.Join(dir, bootIDFile)
	p.Process = Process{
		Args:            s.Process.Args,
		Env:             append(s.Process.Env, listenEnv(opts)...),
		Cwd:             s.Process.Cwd,
		NoNewPrivileges: s.Process.NoNewPrivileges,
		OOMScoreAdj:     s.Process.OOMScoreAdj,
	}
	if err := p.compileAnnotations(s.Annotations); err != nil {
		return nil, err
	}
	if err := p.compileProcessAndRoot(s); err != nil {
		return nil, err
	}
	if !path.IsAbs(p.Process.Cwd) {
		return nil, fmt.Errorf("%w: process.cwd %q is not an absolute path", ErrInvalidSpec, p.Process.Cwd)
	}
	if p.Seccomp, err = security.CompileSeccomp(s.Linux.Seccomp); err != nil {
		return nil, fmt.Errorf("%w: %w", ErrInvalidSpec, err)
	}
	if p.Capabilities, err = security.CompileCapabilities(s.Process.Capabilities); err != nil {
		return nil, fmt.Errorf("%w: %w", ErrInvalidSpec, err)
	}
	return p, nil
}

// compileNamesAndRoot checks the hostname, the domain name and the root.
func (p *Plan) compileNamesAndRoot(root string) error {
	if err := checkHostname(p.Hostname); err != nil {
		return err
	}
	if p.Domainname != "" {
		if err := checkHostname(p.Domainname); err != nil {
			return fmt.Errorf("domainname: %w", err)
		}
	}
	if !filepath.IsAbs(root) {
		return fmt.Errorf("%w: root %q is not an absolute path", ErrInvalidSpec, root)
	}
	p.Root = filepath.Clean(root)
	if p.Root == "/" {
		return fmt.Errorf("%w: root %s is the host's own root", ErrInvalidSpec, root)
	}
	return nil
}

// compileAnnotations reads containerctl's own annotations.
func (p *Plan) compileAnnotations(a map[string]string) error {
	p.Profile = a[ProfileAnnotation]
	switch e := a[EphemeralAnnotation]; e {
	case "", "false":
	case "true":
		p.Ephemeral = true
	default:
		return fmt.Errorf("%w: annotation %s=%q: want true or false", ErrInvalidSpec, EphemeralAnnotation, e)
	}
	return nil
}

// compileNetwork compiles the network beyond loopback, which needs a
// network namespace of the container's own.
func (p *Plan) compileNetwork(c network.Config) error {
	if c.Empty() {
		return nil
	}
	if p.NetNSPath != "" {
		return fmt.Errorf("%w: network namespace %s: the container joins it, no other network setting applies", ErrInvalidSpec, p.NetNSPath)
	}
	if !p.NewNetwork {
		return fmt.Errorf("%w: network settings need a private network (a network namespace of the container's own)", ErrInvalidSpec)
	}
	n, err := network.Compile(p.Name, c)
	if err != nil {
		return fmt.Errorf("%w: %w", ErrInvalidSpec, err)
	}
	p.Network = n
	return nil
}

// ProfileAnnotation names, in a spec, the system profile whose init the
// process is (PROFILE/init), for reload.
const ProfileAnnotation = "org.containerctl.profile"

// EphemeralAnnotation, "true" in a spec, runs the container on an overlay
// of its root whose upper layer is a tmpfs (nspawn's --ephemeral).
const EphemeralAnnotation = "org.containerctl.ephemeral"

// checkOptions refuses supervisor settings that make no sense, rather than
// quietly replacing them.
func checkOptions(o Options) error {
	if o.StopTimeout < 0 {
		return fmt.Errorf("stop timeout %v: must not be negative", o.StopTimeout)
	}
	if o.PreserveFDs < 0 {
		return fmt.Errorf("preserve-fds %d: must not be negative", o.PreserveFDs)
	}
	if o.Console != "" {
		if _, err := ParseConsole(string(o.Console)); err != nil {
			return err
		}
	}
	return nil
}

// listenEnv is what a socket-activated init is told of the fds it gets, as
// sd_listen_fds(3) reads them: it is PID 1 in its namespace.
func listenEnv(o Options) []string {
	if !o.ListenFDs || o.PreserveFDs == 0 {
		return nil
	}
	env := []string{"LISTEN_FDS=" + strconv.Itoa(o.PreserveFDs), "LISTEN_PID=1"}
	if o.ListenFDNames != "" {
		env = append(env, "LISTEN_FDNAMES="+o.ListenFDNames)
	}
	return env
}

// compileNamespaces takes the namespaces the runtime makes: new mount and
// PID always, and new UTS, IPC, network and cgroup ones when asked. A
// namespace to join by path, a user or time namespace is not executed yet
// and so refused.
func (p *Plan) compileNamespaces(s *specs.Spec) error {
	if s.Linux == nil {
		return fmt.Errorf("%w: needs new mount and PID namespaces", ErrInvalidSpec)
	}
	seen := map[specs.LinuxNamespaceType]bool{}
	for _, ns := range s.Linux.Namespaces {
		if ns.Path != "" && ns.Type == specs.NetworkNamespace {
			if !filepath.IsAbs(ns.Path) {
				return fmt.Errorf("%w: network namespace %s: not an absolute path", ErrInvalidSpec, ns.Path)
			}
			p.NetNSPath = filepath.Clean(ns.Path)
			seen[ns.Type] = true
			continue
		}
		if ns.Path != "" {
			return unsupported("linux.namespaces: joining the %s namespace at %s", ns.Type, ns.Path)
		}
		if seen[ns.Type] {
			return fmt.Errorf("%w: linux.namespaces: %s given twice", ErrInvalidSpec, ns.Type)
		}
		seen[ns.Type] = true
		switch ns.Type {
		case specs.MountNamespace, specs.PIDNamespace:
		case specs.UTSNamespace:
			p.NewUTS = true
		case specs.IPCNamespace:
			p.NewIPC = true
		case specs.NetworkNamespace:
			p.NewNetwork = true
		case specs.CgroupNamespace:
			p.NewCgroupNS = true
		case specs.UserNamespace:
			// compileUsers reads its maps.
		default:
			return unsupported("linux.namespaces: a new %s namespace", ns.Type)
		}
	}
	if !seen[specs.MountNamespace] || !seen[specs.PIDNamespace] {
		return fmt.Errorf("%w: needs new mount and PID namespaces", ErrInvalidSpec)
	}
	if !seen[specs.CgroupNamespace] {
		// In the host's cgroup namespace a guest sees the host's cgroup
		// tree and may mount new v1 hierarchies, with a release_agent
		// that runs as host root.
		return unsupported("a container without a cgroup namespace of its own")
	}
	if (p.Hostname != "" || s.Domainname != "") && !p.NewUTS {
		return fmt.Errorf("%w: a hostname needs a new UTS namespace", ErrInvalidSpec)
	}
	return nil
}

// ValidateHostname checks a hostname as the runtime will: see checkHostname.
func ValidateHostname(h string) error { return checkHostname(h) }

// checkHostname is systemd's hostname_is_valid: dot-separated labels of
// letters, digits and '-' (and '_', which container names allow and which
// is the default hostname), none empty, none starting or ending with '-',
// at most 64 characters in all (HOST_NAME_MAX).
func checkHostname(h string) error {
	if h == "" {
		return nil
	}
	bad := func(why string) error {
		return fmt.Errorf("%w: hostname %s: %s", ErrInvalidSpec, strconv.Quote(h), why)
	}
	if len(h) > 64 {
		return bad("longer than 64 characters")
	}
	for _, label := range strings.Split(strings.TrimSuffix(h, "."), ".") {
		switch {
		case label == "":
			return bad("empty label")
		case label[0] == '-' || label[len(label)-1] == '-':
			return bad("a label starts or ends with '-'")
		}
		for _, c := range label {
			if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '-' || c == '_') {
				return bad(fmt.Sprintf("character %q is not allowed (letters, digits, '-', '.')", c))
			}
		}
	}
	return nil
}

// ErrUnsupported is a spec field the runtime does not execute; it is
// refused rather than ignored, so that a spec asking for more confinement
// never gets less.
var ErrUnsupported = errors.New("not supported by containerctl")

func unsupported(format string, a ...any) error {
	return fmt.Errorf("%w: %s: %w", ErrInvalidSpec, fmt.Sprintf(format, a...), ErrUnsupported)
}

func resources(spec *specs.Spec) *specs.LinuxResources {
	if spec.Linux == nil {
		return nil
	}
	return spec.Linux.Resources
}
