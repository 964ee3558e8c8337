package runtime

import (
	"fmt"
	"slices"
	"strings"

	specs "github.com/opencontainers/runtime-spec/specs-go"

	"github.com/containerctl/containerctl/mount"
)

// User is the identity the init runs as: process.user, without a name
// (which the spec leaves to the caller to resolve).
type User struct {
	UID            uint32   `json:"uid"`
	GID            uint32   `json:"gid"`
	AdditionalGids []uint32 `json:"additional_gids,omitempty"`
}

// changes says whether the init must leave root's identity.
func (u User) changes() bool { return u.UID != 0 || u.GID != 0 || len(u.AdditionalGids) > 0 }

// Rlimit is one of process.rlimits, by Linux resource number.
type Rlimit struct {
	Resource   int    `json:"resource"`
	Name       string `json:"name"`
	Soft, Hard uint64
}

// rlimitNumbers are the Linux resource numbers (asm-generic/resource.h,
// which x86 and arm share), here so that the plan compiles anywhere.
var rlimitNumbers = map[string]int{
	"RLIMIT_CPU": 0, "RLIMIT_FSIZE": 1, "RLIMIT_DATA": 2, "RLIMIT_STACK": 3,
	"RLIMIT_CORE": 4, "RLIMIT_RSS": 5, "RLIMIT_NPROC": 6, "RLIMIT_NOFILE": 7,
	"RLIMIT_MEMLOCK": 8, "RLIMIT_AS": 9, "RLIMIT_LOCKS": 10, "RLIMIT_SIGPENDING": 11,
	"RLIMIT_MSGQUEUE": 12, "RLIMIT_NICE": 13, "RLIMIT_RTPRIO": 14, "RLIMIT_RTTIME": 15,
}

// compileProcessIdentity checks process.user and process.rlimits.
func (p *Plan) compileProcessIdentity(sp *specs.Process) error {
	u := sp.User
	if u.Username != "" {
		return unsupported("process.user.username (a Windows field; give uid and gid)")
	}
	p.Process.User = User{UID: u.UID, GID: u.GID, AdditionalGids: u.AdditionalGids}
	p.Process.Umask = u.Umask
	if err := checkUmask(u.Umask); err != nil {
		return err
	}
	var err error
	p.Process.Rlimits, err = compileRlimits(sp.Rlimits)
	return err
}

// checkUmask checks process.user.umask (nil: none given).
func checkUmask(m *uint32) error {
	if m != nil && *m > 0o777 {
		return fmt.Errorf("%w: process.user.umask %#o: more than 0777", ErrInvalidSpec, *m)
	}
	return nil
}

// compileRlimits checks process.rlimits: known types, each once, soft
// within hard.
func compileRlimits(rls []specs.POSIXRlimit) ([]Rlimit, error) {
	var out []Rlimit
	seen := map[string]bool{}
	for _, r := range rls {
		n, ok := rlimitNumbers[r.Type]
		switch {
		case !ok:
			return nil, fmt.Errorf("%w: process.rlimits: unknown type %q", ErrInvalidSpec, r.Type)
		case seen[r.Type]:
			return nil, fmt.Errorf("%w: process.rlimits: %s given twice", ErrInvalidSpec, r.Type)
		case r.Soft > r.Hard:
			return nil, fmt.Errorf("%w: process.rlimits: %s soft limit %d above its hard limit %d", ErrInvalidSpec, r.Type, r.Soft, r.Hard)
		}
		seen[r.Type] = true
		out = append(out, Rlimit{Resource: n, Name: r.Type, Soft: r.Soft, Hard: r.Hard})
	}
	return out, nil
}

// ipcSysctls are the sysctls of the IPC namespace (ipc_sysctl.c,
// mq_sysctl.c).
var ipcSysctls = []string{
	"kernel.msgmax", "kernel.msgmnb", "kernel.msgmni", "kernel.sem", "kernel.shmall",
	"kernel.shmmax", "kernel.shmmni", "kernel.shm_rmid_forced",
}

// compileSysctl checks linux.sysctl: only sysctls of a namespace that the
// container has of its own are accepted, since any other would change the
// host (kernel.core_pattern, say). Keys are dotted (net.ipv4.ip_forward)
// or slashed, as sysctl(8) takes them.
func (p *Plan) compileSysctl(sysctl map[string]string) error {
	keys := make([]string, 0, len(sysctl))
	for k := range sysctl {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	for _, k := range keys {
		name := k
		if !strings.Contains(k, "/") {
			name = strings.ReplaceAll(k, ".", "/")
		}
		parts := strings.Split(name, "/")
		if slices.Contains(parts, "") || slices.Contains(parts, "..") || slices.Contains(parts, ".") {
			return fmt.Errorf("%w: linux.sysctl %q: not a sysctl name", ErrInvalidSpec, k)
		}
		dotted := strings.Join(parts, ".")
		switch {
		case parts[0] == "net" && (p.NewNetwork || p.NetNSPath != ""):
			// A namespace joined by path is checked not to be the host's
			// once it can be opened (Compile, checkNetNSSysctls).
		case (slices.Contains(ipcSysctls, dotted) || strings.HasPrefix(dotted, "fs.mqueue.")) && p.NewIPC:
		case parts[0] == "net" || slices.Contains(ipcSysctls, dotted) || strings.HasPrefix(dotted, "fs.mqueue."):
			return fmt.Errorf("%w: linux.sysctl %s: the container shares the host's namespace for it", ErrInvalidSpec, k)
		default:
			return fmt.Errorf("%w: linux.sysctl %s: not a sysctl of the container's own namespaces: it would change the host", ErrInvalidSpec, k)
		}
		if strings.ContainsAny(sysctl[k], "\n") {
			return fmt.Errorf("%w: linux.sysctl %s: a value with a newline", ErrInvalidSpec, k)
		}
		p.Sysctl = append(p.Sysctl, Sysctl{Path: name, Value: sysctl[k]})
	}
	return nil
}

// Sysctl is one value to write under /proc/sys, inside the container's
// namespaces.
type Sysctl struct {
	Path  string `json:"path"` // below /proc/sys
	Value string `json:"value"`
}

// compileProcessAndRoot checks what the init is set up with beyond its
// command: its identity and limits, the sysctls, and the root's read-only
// flag and propagation.
func (p *Plan) compileProcessAndRoot(s *specs.Spec) error {
	if err := p.compileProcessIdentity(s.Process); err != nil {
		return err
	}
	p.ReadonlyRoot = s.Root.Readonly
	if s.Linux == nil {
		return nil
	}
	if err := p.compileSysctl(s.Linux.Sysctl); err != nil {
		return err
	}
	var err error
	if p.RootPropagation, err = mount.Propagation(s.Linux.RootfsPropagation); err != nil {
		return fmt.Errorf("%w: linux.rootfsPropagation: %w", ErrInvalidSpec, err)
	}
	return nil
}
