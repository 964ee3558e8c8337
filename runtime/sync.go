package runtime

import (
	"encoding/json"
	"fmt"
	specs "github.com/opencontainers/runtime-spec/specs-go"
	"io"
	"syscall"

	"github.com/containerctl/containerctl/mount"
	"github.com/containerctl/containerctl/runtime/security"
)

// The supervisor and the init child talk over a SOCK_SEQPACKET socketpair,
// one JSON message a packet (runc's libcontainer/sync.go does the same over
// a stream):
//
//	supervisor -> child: config (what the child needs of the Plan)
//	supervisor -> child: cgroups, once the child is in all its cgroups (the
//	v1 ones take a while: see Cgroup.Add), which the child awaits before
//	it makes its cgroup namespace; it sets up the rest meanwhile
//	child -> supervisor: log... then ready, or error
//	supervisor -> child: go
//	child: exec(2) the init; the child's end is close-on-exec, so the
//	supervisor reads EOF on success, or an error if exec failed.
const (
	msgConfig  = "config"
	msgLog     = "log"
	msgCgroups = "cgroups"
	msgReady   = "ready"
	// msgStaged: the supervisor has staged the idmapped mounts; the
	// child makes its mount namespace (users_linux.go).
	msgStaged = "staged"
	msgGo     = "go"
	// msgDetach, in place of msgGo, tells an OCI create's child to wait
	// for "start" on its exec FIFO, with nobody at the socket's end.
	msgDetach = "detach"
	// msgHooks, from an OCI create's child once its mounts are made,
	// asks the creator to run its createRuntime hooks; msgHooksDone
	// answers, and the child runs its createContainer hooks.
	msgHooks     = "hooks"
	msgHooksDone = "hooks-done"
	msgError     = "error"
)

type message struct {
	Type   string      `json:"type"`
	Config *initConfig `json:"config,omitempty"`
	Log    string      `json:"log,omitempty"`
	Error  *InitError  `json:"error,omitempty"`
	// Created, with an error, are the paths inside the root that the
	// child created before it failed, for the supervisor to remove.
	Created []string `json:"created,omitempty"`
}

// initConfig is what the init child needs of the Plan: no spec, nothing
// to derive again.
type initConfig struct {
	Name         string                 `json:"name"`
	Root         string                 `json:"root"`
	Hostname     string                 `json:"hostname,omitempty"`
	Domainname   string                 `json:"domainname,omitempty"`
	NewNetwork   bool                   `json:"new_network,omitempty"`
	NetNSPath    string                 `json:"netns_path,omitempty"`
	NewCgroupNS  bool                   `json:"new_cgroup_ns,omitempty"`
	Ephemeral    bool                   `json:"ephemeral,omitempty"`
	Steps        mount.Steps            `json:"steps"`
	Process      Process                `json:"process"`
	Seccomp      *security.Seccomp      `json:"seccomp,omitempty"`
	Capabilities *security.Capabilities `json:"capabilities,omitempty"`
	PreserveFDs  int                    `json:"preserve_fds,omitempty"`
	// ExecFifoFD is the fd of the OCI create's exec FIFO (opened
	// O_PATH), after the preserved ones; -1 for none.
	ExecFifoFD int `json:"exec_fifo_fd,omitempty"`
	// ConsoleSocketFD is the OCI caller's console socket, to which the
	// child sends the master of a terminal it makes in the container's
	// devpts; 0 for none.
	ConsoleSocketFD int      `json:"console_socket_fd,omitempty"`
	Sysctl          []Sysctl `json:"sysctl,omitempty"`
	ReadonlyRoot    bool     `json:"readonly_root,omitempty"`
	// RootPropagation is mount(2) flags; 0 keeps the recursive slave.
	RootPropagation uintptr `json:"root_propagation,omitempty"`
	Debug           bool    `json:"debug,omitempty"`
	// Hooks are an OCI create's createContainer and startContainer hooks,
	// which the child runs in the container's namespaces.
	Hooks *containerHooks `json:"hooks,omitempty"`
	// Users says the child is in a user namespace of its own, and makes
	// its mount namespace once the stage is ready; Root is then the
	// staged root.
	Users bool `json:"users,omitempty"`
}

func (p *Plan) initConfig(debug bool) *initConfig {
	c := &initConfig{
		Name:            p.Name,
		Root:            p.Root,
		Hostname:        p.Hostname,
		Domainname:      p.Domainname,
		NewNetwork:      p.NewNetwork,
		NewCgroupNS:     p.NewCgroupNS,
		Ephemeral:       p.Ephemeral,
		Steps:           p.Mounts,
		Process:         p.Process,
		Seccomp:         p.Seccomp,
		Capabilities:    p.Capabilities,
		PreserveFDs:     p.PreserveFDs,
		Sysctl:          p.Sysctl,
		ReadonlyRoot:    p.ReadonlyRoot,
		RootPropagation: p.RootPropagation,
		Debug:           debug,
		NetNSPath:       p.NetNSPath,
	}
	p.usersConfig(c)
	return c
}

// InitError is a failure inside the init child, carried to the supervisor
// as data (youki's ErrorEnclosure): its message, its errno where there was
// one, and its kind, so that errors.Is matches the errno and the kind's
// sentinel (ErrInitNotFound, ErrMount) in the supervisor as in the child.
type InitError struct {
	Message string `json:"message"`
	Errno   int    `json:"errno,omitempty"`
	Kind    string `json:"kind,omitempty"`
}

// The kinds of InitError.
const (
	kindInitNotFound = "init-not-found"
	kindMount        = "mount"
)

func (e *InitError) Error() string { return e.Message }

func (e *InitError) Unwrap() []error {
	var errs []error
	if e.Errno != 0 {
		errs = append(errs, syscall.Errno(e.Errno))
	}
	switch e.Kind {
	case kindInitNotFound:
		errs = append(errs, ErrInitNotFound)
	case kindMount:
		errs = append(errs, ErrMount)
	}
	return errs
}

// maxMessage stays below the default socket buffer (net.core.wmem_default),
// past which a packet cannot be sent at all.
const maxMessage = 128 << 10

func writeMessage(w io.Writer, m message) error {
	b, err := json.Marshal(m)
	if err != nil {
		return err
	}
	if len(b) > maxMessage {
		return fmt.Errorf("sync message %q of %d bytes is too large", m.Type, len(b))
	}
	_, err = w.Write(b)
	return err
}

// readMessage reads one packet; io.EOF means the other end closed.
func readMessage(r io.Reader) (message, error) {
	var m message
	buf := make([]byte, maxMessage)
	n, err := r.Read(buf)
	if err != nil {
		return m, err
	}
	if n == 0 {
		return m, io.EOF
	}
	if err := json.Unmarshal(buf[:n], &m); err != nil {
		return m, fmt.Errorf("decode sync message: %w", err)
	}
	return m, nil
}

// containerHooks are the hooks of an OCI spec that run in the container's
// namespaces, and the state (the runtime spec's JSON, with the init's PID
// on the host) they get on stdin.
type containerHooks struct {
	CreateContainer []specs.Hook `json:"create_container,omitempty"`
	StartContainer  []specs.Hook `json:"start_container,omitempty"`
	State           specs.State  `json:"state"`
}
