package runtime

import (
	"encoding/json"
	"fmt"
	"io"
	"syscall"

	specs "github.com/opencontainers/runtime-spec/specs-go"

	"github.com/containerctl/containerctl/mount"
)

// The supervisor and the init child talk over a SOCK_SEQPACKET socketpair,
// one JSON message a packet (runc's libcontainer/sync.go does the same over
// a stream):
//
//	supervisor -> child: config
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
	msgGo      = "go"
	msgError   = "error"
)

type message struct {
	Type   string      `json:"type"`
	Config *initConfig `json:"config,omitempty"`
	Log    string      `json:"log,omitempty"`
	Error  *InitError  `json:"error,omitempty"`
}

// initConfig is all the init child needs: the spec, the mount plan made
// from it, and the host path of the console's pseudo-terminal.
type initConfig struct {
	Name    string      `json:"name"`
	Spec    *specs.Spec `json:"spec"`
	Steps   mount.Steps `json:"steps"`
	Console string      `json:"console,omitempty"`
	Debug   bool        `json:"debug,omitempty"`
}

// InitError is a failure inside the init child, carried to the supervisor
// as data (youki's ErrorEnclosure). It unwraps to the errno where there was
// one.
type InitError struct {
	Message string `json:"message"`
	Errno   int    `json:"errno,omitempty"`
}

func (e *InitError) Error() string { return e.Message }

func (e *InitError) Unwrap() error {
	if e.Errno == 0 {
		return nil
	}
	return syscall.Errno(e.Errno)
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
