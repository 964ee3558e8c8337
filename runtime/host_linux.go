package runtime

import (
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"strings"
	"sync"
	"time"

	"github.com/coreos/go-systemd/v22/daemon"
	specs "github.com/opencontainers/runtime-spec/specs-go"
	"github.com/sirupsen/logrus"
	"golang.org/x/sys/unix"

	"github.com/containerctl/containerctl/mount"
)

// NotifySocket is where the guest finds the supervisor's sd_notify socket,
// as systemd's CONTAINER_INTERFACE.md names it; the spec's environment
// points NOTIFY_SOCKET there.
const NotifySocket = "/run/host/notify"

// writeBootID writes a random UUID, in the form of
// /proc/sys/kernel/random/boot_id, to path.
func writeBootID(path string) error {
	id, err := randomID()
	if err != nil {
		return err
	}
	s := id[0:8] + "-" + id[8:12] + "-4" + id[13:16] + "-a" + id[17:20] + "-" + id[20:32] + "\n"
	return os.WriteFile(path, []byte(s), 0o444)
}

// readOnlyBind are a Bind step's flags for a read-only bind.
const readOnlyBind = unix.MS_RDONLY

// hostFiles are the files of /run/host that the container interface asks
// for: the host's os-release, the container manager's name, and the notify
// socket; and the container's own boot ID. The os-release is a copy, not a
// bind of the host's file: a bind could be remounted read-write from inside
// and would then write the host's file. They go on the container's /run, so
// only a spec that mounts a tmpfs there gets them.
func hostFiles(spec *specs.Spec, notifyPath, bootIDPath string) ([]mount.Step, error) {
	hasRun := false
	for _, m := range spec.Mounts {
		hasRun = hasRun || (m.Destination == "/run" && m.Type == "tmpfs")
	}
	if !hasRun {
		return nil, nil
	}
	host := []mount.Step{{Kind: mount.File, Target: "/run/host/container-manager", Data: "containerctl\n"}}
	for _, p := range []string{"/etc/os-release", "/usr/lib/os-release"} {
		b, err := readSmallFile(p, 64<<10)
		if errors.Is(err, os.ErrNotExist) {
			continue
		}
		if err != nil {
			return nil, fmt.Errorf("host os-release: %w", err)
		}
		host = append(host, mount.Step{Kind: mount.File, Target: "/run/host/os-release", Data: string(b)})
		break
	}
	// Read-only: connect(2) to a socket needs no write to its mount, and
	// the guest cannot chmod, chown or touch the host's socket file.
	host = append(host, mount.Step{Kind: mount.Bind, Source: notifyPath, Target: NotifySocket, Flags: readOnlyBind})
	// A boot ID of its own, as nspawn gives: the guest's journal tells its
	// boots apart, not only the host's.
	host = append(host, mount.Step{Kind: mount.Bind, Source: bootIDPath, Target: "/proc/sys/kernel/random/boot_id", Flags: readOnlyBind})
	return host, nil
}

// readSmallFile reads at most limit bytes of p, following links as the
// host does.
func readSmallFile(p string, limit int64) ([]byte, error) {
	f, err := os.Open(p)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	b, err := io.ReadAll(io.LimitReader(f, limit+1))
	if err == nil && int64(len(b)) > limit {
		err = fmt.Errorf("%s: larger than %d bytes", p, limit)
	}
	return b, err
}

// notifier receives the guest's sd_notify messages on the socket that the
// guest sees as /run/host/notify, and tells the supervisor's own service
// manager (its $NOTIFY_SOCKET, when it has one) about the container, as
// systemd-nspawn does: READY=1 once the container runs, or with
// --notify-ready once the guest's own init is ready.
type notifier struct {
	conn         *net.UnixConn
	forward      bool   // --notify-ready
	booting      string // the record's booting mark, removed once the guest is ready
	bootingTimer *time.Timer
	log          *logrus.Entry
	ready        chan struct{}
	once         sync.Once
}

func listenNotify(path string, forward bool, booting string, log *logrus.Entry) (*notifier, error) {
	conn, err := net.ListenUnixgram("unixgram", &net.UnixAddr{Name: path, Net: "unixgram"})
	if err != nil {
		return nil, fmt.Errorf("notify socket: %w", err)
	}
	if err := os.Chmod(path, 0o600); err != nil {
		conn.Close()
		return nil, fmt.Errorf("notify socket: %w", err)
	}
	n := newNotifier(conn, forward, booting, false, log)
	// A guest that never says READY=1 (not systemd, or stuck) stops
	// counting as booting after a while, as far as the inotify check
	// goes (see checkInotify).
	n.bootingTimer = time.AfterFunc(2*time.Minute, func() { _ = os.Remove(booting) })
	return n, nil
}

// newNotifier serves the notify socket conn; ready says the guest has said
// READY=1 already (to a supervisor before an exec).
func newNotifier(conn *net.UnixConn, forward bool, booting string, ready bool, log *logrus.Entry) *notifier {
	n := &notifier{conn: conn, forward: forward, booting: booting, log: log, ready: make(chan struct{})}
	if ready {
		n.once.Do(func() { close(n.ready) })
	}
	go n.serve()
	return n
}

func (n *notifier) serve() {
	buf := make([]byte, 4096)
	for {
		k, _, err := n.conn.ReadFromUnix(buf)
		if err != nil {
			if !errors.Is(err, net.ErrClosed) {
				n.log.WithError(err).Debug("notify socket")
			}
			return
		}
		for _, line := range strings.Split(string(buf[:k]), "\n") {
			switch {
			case line == "READY=1":
				n.once.Do(func() {
					_ = os.Remove(n.booting)
					n.log.Info("guest is ready (READY=1)")
					if n.forward {
						n.notify("READY=1\nSTATUS=Container running, guest ready.")
					}
					// Last: the supervisor may hand off to the
					// monitor once ready is closed, and what is
					// not sent by then never is.
					close(n.ready)
				})
			case strings.HasPrefix(line, "STATUS="):
				n.log.WithField("status", strings.TrimPrefix(line, "STATUS=")).Debug("guest status")
			}
		}
	}
}

// started is called once the init runs.
func (n *notifier) started() {
	if !n.forward {
		n.notify("READY=1\nSTATUS=Container running.")
	} else {
		n.notify("STATUS=Container running, waiting for the guest to be ready.")
	}
}

// stopping tells the service manager that the halt has begun and how long
// it may take: EXTEND_TIMEOUT_USEC keeps a unit's TimeoutStopSec (the
// template's follows the default stop timeout) from cutting short a halt
// given longer, as NixOS's containers were cut at systemd's 90 s.
func (n *notifier) stopping(timeout time.Duration) {
	n.notify(fmt.Sprintf("STOPPING=1\nEXTEND_TIMEOUT_USEC=%d\nSTATUS=Halting the container.", (timeout + HaltMargin).Microseconds()))
}

// HaltMargin is the time beyond a halt's timeout to kill what did not halt
// and clean up.
const HaltMargin = 15 * time.Second

// notify sends state to the supervisor's own $NOTIFY_SOCKET, if any
// (github.com/coreos/go-systemd/v22/daemon).
func (n *notifier) notify(state string) {
	if _, err := daemon.SdNotify(false, state); err != nil {
		n.log.WithError(err).Warn("sd_notify")
	}
}

func (n *notifier) close() {
	if n != nil {
		if n.bootingTimer != nil {
			n.bootingTimer.Stop()
		}
		n.conn.Close()
	}
}
