package main

import (
	"errors"
	"fmt"
	"os"
	"path"
	"path/filepath"
	goruntime "runtime"
	"slices"
	"strings"

	securejoin "github.com/cyphar/filepath-securejoin"
	"github.com/google/uuid"
	specs "github.com/opencontainers/runtime-spec/specs-go"

	"github.com/containerctl/containerctl/cgroup"
	"github.com/containerctl/containerctl/cgroup/limits"
	"github.com/containerctl/containerctl/runtime"
	"github.com/containerctl/containerctl/runtime/security"
	"github.com/containerctl/containerctl/runtime/userns"
)

const (
	// defaultRootDir holds the roots of containers named on the command
	// line, as in NixOS (/var/lib/containers/NAME).
	defaultRootDir = "/var/lib/containers"
	// defaultProfileDir holds NixOS containers' system profiles; the init
	// is PROFILE/init, a path inside the container (under the store).
	defaultProfileDir = "/nix/var/nix/profiles/containers"
	defaultStore      = "/nix"
	// defaultPath is systemd-nspawn's PATH for the payload.
	defaultPath = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
)

// uuidNamespace derives each container's stable container_uuid from its
// name when none is given (UUIDv5).
var uuidNamespace = uuid.MustParse("3f5d8a4c-7c8e-4f0e-9a51-6c1d2b7e9f10")

// options are the flags that shape a container's spec.
type options struct {
	name           string
	root           string // default defaultRootDir/NAME
	profile        string // default defaultProfileDir/NAME
	store          string // host directory bound read-only at /nix; "" for none
	storeSet       bool   // --store was given: a missing one is an error
	binds          []string
	bindsRO        []string
	tmpfs          []string
	hostname       string
	setenv         []string
	uuid           string
	privateNetwork bool
	ephemeral      bool     // an overlay of the root on a tmpfs, as nspawn --ephemeral
	netnsPath      string   // a network namespace to join instead
	privateUsers   string   // --private-users: no, identity, pick, BASE[:COUNT]
	usersOwnership string   // --private-users-ownership: map, chown
	boot           bool     // find the root's own init, as systemd-nspawn -b
	addCaps        []string // --capability
	dropCaps       []string // --drop-capability
	limits         limits.Limits
	cgroupParent   string
	ncpu           int    // the host's CPUs, which bound --cpu-quota
	terminal       bool   // the init gets a pseudo-terminal as console
	term           string // TERM for the init
	command        []string
}

// buildSpec turns the options into the OCI spec the runtime executes. It
// reads the host only to resolve --bind sources relative to the working
// directory and to skip a default /nix that is missing.
func buildSpec(o options) (*specs.Spec, error) {
	if err := runtime.ValidateName(o.name); err != nil {
		return nil, err
	}
	root := o.root
	if root == "" {
		root = filepath.Join(defaultRootDir, o.name)
	}
	root, err := filepath.Abs(root)
	if err != nil {
		return nil, err
	}
	hostname := o.hostname
	if hostname == "" {
		hostname = o.name
	} else if err := runtime.ValidateHostname(hostname); err != nil {
		return nil, fmt.Errorf("--hostname: %w", err)
	}
	annotations := map[string]string{"org.containerctl.name": o.name}
	args := o.command
	switch {
	case o.boot && o.profile == "":
		init, err := findBootInit(root)
		if err != nil {
			return nil, err
		}
		// As with nspawn -b, a command is the init's arguments.
		args = append([]string{init}, o.command...)
	case len(args) == 0:
		profile := o.profile
		if profile == "" {
			profile = path.Join(defaultProfileDir, o.name)
		}
		args = []string{path.Join(profile, "init")}
		annotations[runtime.ProfileAnnotation] = profile
	}
	if o.ephemeral {
		annotations[runtime.EphemeralAnnotation] = "true"
	}
	env, err := environment(o)
	if err != nil {
		return nil, err
	}
	caps, err := capabilities(o)
	if err != nil {
		return nil, err
	}
	mounts, err := mountList(o)
	if err != nil {
		return nil, err
	}
	ncpu := o.ncpu
	if ncpu == 0 {
		ncpu = goruntime.NumCPU()
	}
	res, err := o.limits.Resources(ncpu)
	if err != nil {
		return nil, limitFlagError(err)
	}
	res.Devices = deviceRules()
	var cgroupsPath string
	if o.cgroupParent != "" {
		if !path.IsAbs(o.cgroupParent) || path.Clean(o.cgroupParent) != o.cgroupParent || strings.Contains(o.cgroupParent, "..") {
			return nil, fmt.Errorf("--cgroup-parent %q: want a clean absolute path such as /machine", o.cgroupParent)
		}
		// Inside containerctl's own tree, the parent would be another
		// container's cgroup, which its guest controls.
		if strings.HasPrefix(o.cgroupParent+"/", cgroup.DefaultParent+"/") {
			return nil, fmt.Errorf("--cgroup-parent %q: %s holds the containers' own cgroups; use a parent outside it", o.cgroupParent, cgroup.DefaultParent)
		}
		cgroupsPath = path.Join(o.cgroupParent, o.name)
	}
	namespaces := []specs.LinuxNamespace{
		{Type: specs.MountNamespace},
		{Type: specs.PIDNamespace},
		{Type: specs.UTSNamespace},
		{Type: specs.IPCNamespace},
		{Type: specs.CgroupNamespace},
	}
	switch {
	case o.netnsPath != "" && o.privateNetwork:
		return nil, fmt.Errorf("--network-namespace-path %s: the container joins that namespace: no other network setting applies", o.netnsPath)
	case o.netnsPath != "":
		if !filepath.IsAbs(o.netnsPath) {
			return nil, fmt.Errorf("--network-namespace-path %s: not an absolute path", o.netnsPath)
		}
		namespaces = append(namespaces, specs.LinuxNamespace{Type: specs.NetworkNamespace, Path: o.netnsPath})
	case o.privateNetwork:
		namespaces = append(namespaces, specs.LinuxNamespace{Type: specs.NetworkNamespace})
	}
	users, err := privateUsers(o, annotations)
	if err != nil {
		return nil, err
	}
	if users != nil {
		namespaces = append(namespaces, specs.LinuxNamespace{Type: specs.UserNamespace})
	}
	spec := &specs.Spec{
		Version:  specs.Version,
		Root:     &specs.Root{Path: root},
		Hostname: hostname,
		Process: &specs.Process{
			Terminal: o.terminal,
			Args:     args,
			Env:      env,
			Cwd:      "/",
			Capabilities: &specs.LinuxCapabilities{
				Bounding:  caps,
				Effective: caps,
				Permitted: caps,
			},
		},
		Mounts: mounts,
		Linux: &specs.Linux{
			Namespaces:  namespaces,
			Resources:   res,
			CgroupsPath: cgroupsPath,
			Seccomp:     security.DefaultSeccomp(),
			// As systemd-nspawn: the kernel's knobs are read-only and
			// what leaks host secrets or state is hidden.
			ReadonlyPaths: []string{"/proc/sys", "/proc/sysrq-trigger", "/proc/bus", "/proc/fs", "/proc/irq"},
			MaskedPaths: []string{
				"/proc/kcore", "/proc/keys", "/proc/timer_list", "/proc/kallsyms",
				"/proc/latency_stats", "/proc/sched_debug", "/proc/acpi", "/proc/scsi",
				"/sys/firmware",
			},
		},
		Annotations: annotations,
	}
	if users != nil {
		spec.Linux.UIDMappings, spec.Linux.GIDMappings = users, users
	}
	return spec, nil
}

// privateUsers reads --private-users and --private-users-ownership into
// the spec's map (none for pick, which the start makes) and annotations.
// It returns nil maps and no annotation for no.
func privateUsers(o options, annotations map[string]string) ([]specs.LinuxIDMapping, error) {
	u, err := userns.Parse(o.privateUsers)
	if err != nil {
		return nil, fmt.Errorf("--private-users: %w", err)
	}
	own, err := userns.ParseOwnership(o.usersOwnership)
	if err != nil {
		return nil, fmt.Errorf("--private-users-ownership: %w", err)
	}
	if u == nil {
		return nil, nil
	}
	if own != userns.Map {
		annotations[runtime.OwnershipAnnotation] = string(own)
	}
	if u.Mode == userns.Pick {
		annotations[runtime.PrivateUsersAnnotation] = string(userns.Pick)
		return []specs.LinuxIDMapping{}, nil
	}
	return []specs.LinuxIDMapping{{ContainerID: 0, HostID: u.Range.Base, Size: u.Range.Count}}, nil
}

// limitFlags are the flags of the systemd settings of limits.Limits.
var limitFlags = map[string]string{
	"MemoryMax": "--memory-max", "MemoryHigh": "--memory-high", "CPUWeight": "--cpu-weight",
	"CPUQuota": "--cpu-quota", "TasksMax": "--tasks-max", "IOWeight": "--io-weight",
}

// limitFlagError names the flag of a bad limit before its setting:
// "--memory-max: MemoryMax="10X": unknown unit ...".
func limitFlagError(err error) error {
	var e *limits.Error
	if errors.As(err, &e) && limitFlags[e.Setting] != "" {
		return fmt.Errorf("%s: %w", limitFlags[e.Setting], err)
	}
	return err
}

// environment is the init's whole environment: systemd's container
// interface (container=, container_uuid=), PATH, TERM, root's HOME, USER
// and LOGNAME, then --setenv.
func environment(o options) ([]string, error) {
	// systemd in the guest takes its machine ID from container_uuid when
	// the root's /etc/machine-id is empty or missing, so a stable one per
	// name gives a stable machine ID (--uuid and --machine-id override it;
	// a machine ID is the same 128 bits, written without dashes).
	id := uuid.NewSHA1(uuidNamespace, []byte(o.name)).String()
	if o.uuid != "" {
		u, err := uuid.Parse(o.uuid)
		if err != nil || u == uuid.Nil {
			return nil, fmt.Errorf("--uuid/--machine-id %q: want 32 hexadecimal digits, not all zero", o.uuid)
		}
		id = u.String()
	}
	term := o.term
	if term == "" {
		term = "vt220"
	}
	env := []string{
		"container=containerctl",
		"container_uuid=" + id,
		"PATH=" + defaultPath,
		"TERM=" + term,
		"HOME=/root",
		"USER=root",
		"LOGNAME=root",
		"NOTIFY_SOCKET=" + runtime.NotifySocket,
	}
	for _, kv := range o.setenv {
		k, _, ok := strings.Cut(kv, "=")
		if !ok || k == "" || strings.ContainsAny(k, " \t\n") {
			return nil, fmt.Errorf("--setenv %q: want NAME=VALUE", kv)
		}
		env = setenv(env, kv)
	}
	return env, nil
}

func setenv(env []string, kv string) []string {
	k, _, _ := strings.Cut(kv, "=")
	for i, e := range env {
		if strings.HasPrefix(e, k+"=") {
			env[i] = kv
			return env
		}
	}
	return append(env, kv)
}

// mountList is the container's filesystem: the API filesystems systemd
// expects of a container (CONTAINER_INTERFACE.md), the store, then the
// user's binds and tmpfs mounts in the order given.
func mountList(o options) ([]specs.Mount, error) {
	mounts := []specs.Mount{
		{Destination: "/proc", Type: "proc", Source: "proc", Options: []string{"nosuid", "noexec", "nodev"}},
		{Destination: "/sys", Type: "sysfs", Source: "sysfs", Options: []string{"ro", "nosuid", "noexec", "nodev"}},
		// Mounted inside the container's cgroup namespace: its root is
		// the container's own cgroup, the only part of the host's tree
		// the guest can see or write (CONTAINER_INTERFACE.md).
		{Destination: "/sys/fs/cgroup", Type: "cgroup2", Source: "cgroup2", Options: []string{"nosuid", "noexec", "nodev"}},
		{Destination: "/dev", Type: "tmpfs", Source: "tmpfs", Options: []string{"nosuid", "strictatime", "mode=755", "size=4m"}},
		{Destination: "/dev/pts", Type: "devpts", Source: "devpts", Options: []string{"nosuid", "noexec", "newinstance", "ptmxmode=0666", "mode=0620", "gid=5"}},
		{Destination: "/dev/shm", Type: "tmpfs", Source: "shm", Options: []string{"nosuid", "nodev", "mode=1777"}},
		{Destination: "/dev/mqueue", Type: "mqueue", Source: "mqueue", Options: []string{"nosuid", "noexec", "nodev"}},
		{Destination: "/run", Type: "tmpfs", Source: "tmpfs", Options: []string{"nosuid", "nodev", "mode=755"}},
		{Destination: "/tmp", Type: "tmpfs", Source: "tmpfs", Options: []string{"nosuid", "nodev", "mode=1777"}},
	}
	if o.store != "" {
		store, err := filepath.Abs(o.store)
		if err != nil {
			return nil, err
		}
		fi, err := os.Stat(store)
		switch {
		case err == nil && !fi.IsDir():
			return nil, fmt.Errorf("--store %s: not a directory", o.store)
		case err == nil:
			mounts = append(mounts, specs.Mount{Destination: "/nix", Type: "bind", Source: store, Options: []string{"rbind", "ro"}})
		case errors.Is(err, os.ErrNotExist) && !o.storeSet:
			log.WithField("container", o.name).Infof("no %s on this host, the container gets no store", store)
		default:
			return nil, fmt.Errorf("--store %s: %w", o.store, errors.Unwrap(err))
		}
	}
	// The user may put another /tmp in place of containerctl's: nothing
	// of the runtime's goes there.
	own := slices.DeleteFunc(slices.Clone(mounts), func(m specs.Mount) bool { return m.Destination == "/tmp" })
	add := func(flag, arg string, m specs.Mount, err error) error {
		if err == nil {
			err = checkDestination(m.Destination, own)
		}
		if err != nil {
			return fmt.Errorf("%s %q: %w", flag, arg, err)
		}
		mounts = append(mounts, m)
		return nil
	}
	for _, b := range o.binds {
		m, err := parseBind(b, false)
		if err := add("--bind", b, m, err); err != nil {
			return nil, err
		}
	}
	for _, b := range o.bindsRO {
		m, err := parseBind(b, true)
		if err := add("--bind-ro", b, m, err); err != nil {
			return nil, err
		}
	}
	for _, t := range o.tmpfs {
		m, err := parseTmpfs(t)
		if err := add("--tmpfs", t, m, err); err != nil {
			return nil, err
		}
	}
	return mounts, nil
}

// checkDestination refuses a user's mount over the container's root, or at
// or above a filesystem containerctl mounts itself (own): the container
// would get the host's /proc or /sys through a bind, and containerctl would
// write its own files (devices, /run/host) into the bind's host directory.
// Below them, a mount is the user's to make (--bind /dev/fuse).
func checkDestination(dst string, own []specs.Mount) error {
	if dst == "/" {
		return errors.New("a mount over the container's root is not allowed (use --root)")
	}
	for _, m := range own {
		if m.Destination == dst || strings.HasPrefix(m.Destination, dst+"/") {
			return fmt.Errorf("%s is mounted by containerctl itself (%s on %s); mount below it instead", dst, m.Type, m.Destination)
		}
	}
	return nil
}

// parseBind reads systemd-nspawn's --bind syntax, SRC[:DST[:OPTIONS]], with
// the options rbind (the default) and norbind. A relative SRC is taken from
// the working directory; DST defaults to SRC.
func parseBind(s string, readOnly bool) (specs.Mount, error) {
	parts := strings.Split(s, ":")
	if len(parts) > 3 || parts[0] == "" {
		return specs.Mount{}, errors.New("want SRC[:DST[:OPTIONS]]")
	}
	src, err := filepath.Abs(parts[0])
	if err != nil {
		return specs.Mount{}, err
	}
	dst := src
	if len(parts) > 1 && parts[1] != "" {
		dst = parts[1]
	}
	if !path.IsAbs(dst) {
		return specs.Mount{}, fmt.Errorf("destination %q is not an absolute path", dst)
	}
	opts := []string{"rbind"}
	if len(parts) == 3 {
		for _, o := range strings.Split(parts[2], ",") {
			switch o {
			case "rbind":
			case "norbind":
				opts[0] = "bind"
			case "idmap":
				// nspawn's (NixOS adds it under privateUsers): under
				// --private-users a writable bind is idmapped only so.
				opts = append(opts, "idmap")
			default:
				return specs.Mount{}, fmt.Errorf("unknown option %q (rbind, norbind, idmap)", o)
			}
		}
	}
	if readOnly {
		opts = append(opts, "ro")
	}
	return specs.Mount{Destination: path.Clean(dst), Type: "bind", Source: src, Options: opts}, nil
}

// parseTmpfs reads --tmpfs DST[:OPTIONS]; as in systemd-nspawn the mount is
// mode 0755, nodev, nosuid unless the options say otherwise.
func parseTmpfs(s string) (specs.Mount, error) {
	dst, extra, _ := strings.Cut(s, ":")
	if !path.IsAbs(dst) {
		return specs.Mount{}, fmt.Errorf("destination %q is not an absolute path", dst)
	}
	opts := []string{"nosuid", "nodev", "mode=0755"}
	if extra != "" {
		opts = append(opts, strings.Split(extra, ",")...)
	}
	return specs.Mount{Destination: path.Clean(dst), Type: "tmpfs", Source: "tmpfs", Options: opts}, nil
}

// bootInits are where systemd-nspawn -b looks for a root's own init.
var bootInits = []string{"/usr/lib/systemd/systemd", "/lib/systemd/systemd", "/sbin/init"}

// findBootInit finds the root's own init, resolving links inside the root.
func findBootInit(root string) (string, error) {
	for _, p := range bootInits {
		h, err := securejoin.SecureJoin(root, p)
		if err != nil {
			continue
		}
		if fi, err := os.Stat(h); err == nil && fi.Mode().IsRegular() && fi.Mode().Perm()&0o111 != 0 {
			return p, nil
		}
	}
	return "", fmt.Errorf("--boot: no init in %s (looked for %s)", root, strings.Join(bootInits, ", "))
}

// capabilities is nspawn's default bounding set, with CAP_NET_ADMIN for a
// private network (the guest configures its own links then), and the
// user's --capability and --drop-capability ("all" for every one).
func capabilities(o options) ([]string, error) {
	caps := slices.Clone(security.DefaultCapabilities)
	if o.privateNetwork || o.netnsPath != "" {
		caps = append(caps, "CAP_NET_ADMIN")
	}
	for _, c := range o.addCaps {
		for _, name := range strings.Split(c, ",") {
			n, err := security.ParseCapability(name)
			if err != nil {
				return nil, fmt.Errorf("--capability: %w", err)
			}
			if !slices.Contains(caps, n) {
				caps = append(caps, n)
			}
		}
	}
	for _, c := range o.dropCaps {
		for _, name := range strings.Split(c, ",") {
			n, err := security.ParseCapability(name)
			if err != nil {
				return nil, fmt.Errorf("--drop-capability: %w", err)
			}
			caps = slices.DeleteFunc(caps, func(c string) bool { return c == n })
		}
	}
	slices.Sort(caps)
	return caps, nil
}

// deviceRules let the container use only the devices its /dev has, the
// pseudo-terminals, /dev/net/tun and /dev/fuse, and create nodes, as
// systemd-nspawn's device policy does: a guest with CAP_MKNOD cannot open
// the host's disks through a node it makes.
func deviceRules() []specs.LinuxDeviceCgroup {
	n := func(v int64) *int64 { return &v }
	rules := []specs.LinuxDeviceCgroup{
		{Allow: false, Access: "rwm"},
		{Allow: true, Type: "c", Access: "m"},
		{Allow: true, Type: "b", Access: "m"},
	}
	for _, d := range [][2]int64{{1, 3}, {1, 5}, {1, 7}, {1, 8}, {1, 9}, {5, 0}, {5, 2}, {10, 200}, {10, 229}} {
		rules = append(rules, specs.LinuxDeviceCgroup{Allow: true, Type: "c", Major: n(d[0]), Minor: n(d[1]), Access: "rwm"})
	}
	// Pseudo-terminals: the guest's own devpts and the console's.
	return append(rules, specs.LinuxDeviceCgroup{Allow: true, Type: "c", Major: n(136), Access: "rwm"})
}
