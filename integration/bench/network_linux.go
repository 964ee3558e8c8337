//go:build linux

package main

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/sirupsen/logrus"
	"golang.org/x/sys/unix"
)

// The network section: from the start of the runtime until a container's
// veth has its addresses up and a default route and the container reaches
// the host side over it. containerctl configures the veth itself
// (--network-veth --host-address --local-address); systemd-nspawn
// --network-veth only makes the pair and leaves the addresses to networkd,
// or, in the NixOS module, to `ip` in ExecStartPost and in the container's
// init. Here the bench does it for nspawn, from outside, the moment the
// host side appears: `ip` on ve-NAME, then `nsenter -n ip` on host0, and
// that is counted in nspawn's time.
//
// Every sample runs with its host side in a network namespace of the
// bench's own (netThread), so that no link or address is ever made in the
// machine's namespace; it dies with the bench.

// Registered here rather than in setup_linux.go and report.go, so that the
// section stays in its own file.
func init() {
	packages["iproute2"] = "ip"
	sectionTitles["network"] = "Start of a container with a veth, addresses and a route, until it reaches the host side (busybox root)"
}

const (
	netHostAddr  = "10.233.1.1"
	netLocalAddr = "10.233.1.2"
	netPrefix    = "/24"
	netTimeout   = 30 * time.Second
)

// netInit is the container's init: it waits until host0 has the local
// address and a default route via the host address, then until a ping of
// the host address is answered (so the host side is up and addressed
// too), says ready and exits, which ends the container.
const netInit = `A=` + netHostAddr + ` B=` + netLocalAddr + `
until busybox ip -4 addr show dev host0 2>/dev/null | busybox grep -q "inet $B/" &&
	busybox ip route show default | busybox grep -q "via $A"; do busybox usleep 2000; done
until busybox ping -c1 -W1 $A >/dev/null 2>&1; do busybox usleep 2000; done
echo ready`

var netTools = []string{"containerctl", "systemd-nspawn"}

// newNetThread returns an nsThread whose OS thread has a network namespace
// of its own, with lo up: what it starts (supervisors, ip) makes its links
// there. unshare(CLONE_NEWNET) applies to the calling thread; the thread
// stays locked, so the runtime ends it with the goroutine, and the
// namespace ends with it and the last process in it.
func newNetThread() (*nsThread, error) {
	t := &nsThread{fns: make(chan func())}
	errc := make(chan error)
	go func() {
		runtime.LockOSThread()
		if err := unix.Unshare(unix.CLONE_NEWNET); err != nil {
			errc <- fmt.Errorf("unshare network namespace: %w", err)
			return
		}
		if err := linkUp("lo"); err != nil {
			errc <- err
			return
		}
		errc <- nil
		for fn := range t.fns {
			fn()
		}
	}()
	if err := <-errc; err != nil {
		return nil, err
	}
	return t, nil
}

// linkUp sets the link name up in the calling thread's network namespace.
func linkUp(name string) error {
	fd, err := unix.Socket(unix.AF_INET, unix.SOCK_DGRAM|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		return fmt.Errorf("socket: %w", err)
	}
	defer unix.Close(fd)
	ifr, err := unix.NewIfreq(name)
	if err != nil {
		return err
	}
	if err := unix.IoctlIfreq(fd, unix.SIOCGIFFLAGS, ifr); err != nil {
		return fmt.Errorf("flags of %s: %w", name, err)
	}
	ifr.SetUint16(ifr.Uint16() | unix.IFF_UP)
	if err := unix.IoctlIfreq(fd, unix.SIOCSIFFLAGS, ifr); err != nil {
		return fmt.Errorf("set %s up: %w", name, err)
	}
	return nil
}

// netLinks lists the links of t's namespace.
func netLinks(t *nsThread) ([]string, error) {
	var names []string
	var err error
	t.do(func() {
		var ifs []net.Interface
		if ifs, err = net.Interfaces(); err != nil {
			return
		}
		for _, i := range ifs {
			names = append(names, i.Name)
		}
	})
	return names, err
}

// linkWatch is a netlink socket of t's namespace subscribed to link
// changes, opened before the supervisor starts so that no new link is
// missed.
type linkWatch struct{ fd int }

func newLinkWatch(t *nsThread) (*linkWatch, error) {
	var fd int
	var err error
	t.do(func() {
		fd, err = unix.Socket(unix.AF_NETLINK, unix.SOCK_RAW|unix.SOCK_CLOEXEC, unix.NETLINK_ROUTE)
		if err != nil {
			err = fmt.Errorf("netlink socket: %w", err)
			return
		}
		if err = unix.Bind(fd, &unix.SockaddrNetlink{Family: unix.AF_NETLINK, Groups: unix.RTMGRP_LINK}); err != nil {
			unix.Close(fd)
			err = fmt.Errorf("netlink bind: %w", err)
		}
	})
	if err != nil {
		return nil, err
	}
	// A timeout on each read, so that the waiter sees a supervisor that died.
	tv := unix.NsecToTimeval(int64(50 * time.Millisecond))
	if err := unix.SetsockoptTimeval(fd, unix.SOL_SOCKET, unix.SO_RCVTIMEO, &tv); err != nil {
		unix.Close(fd)
		return nil, fmt.Errorf("netlink SO_RCVTIMEO: %w", err)
	}
	return &linkWatch{fd: fd}, nil
}

func (w *linkWatch) close() { unix.Close(w.fd) }

// wait returns when a link named name appears, and when it saw it, or
// fails when p exits or the deadline passes.
func (w *linkWatch) wait(name string, p *proc, deadline time.Time) (time.Time, error) {
	buf := make([]byte, 1<<16)
	for {
		select {
		case <-p.done:
			return time.Time{}, fmt.Errorf("exited before %s appeared: %w", name, p.exitError())
		default:
		}
		if time.Now().After(deadline) {
			return time.Time{}, fmt.Errorf("no link %s: %w", name, errTimeout)
		}
		n, _, err := unix.Recvfrom(w.fd, buf, 0)
		if errors.Is(err, unix.EAGAIN) || errors.Is(err, unix.EINTR) {
			continue
		}
		if err != nil {
			return time.Time{}, fmt.Errorf("netlink read: %w", err)
		}
		msgs, err := syscall.ParseNetlinkMessage(buf[:n])
		if err != nil {
			return time.Time{}, fmt.Errorf("netlink message: %w", err)
		}
		for i := range msgs {
			if msgs[i].Header.Type == unix.RTM_NEWLINK && linkName(&msgs[i]) == name {
				return time.Now(), nil
			}
		}
	}
}

func linkName(m *syscall.NetlinkMessage) string {
	attrs, err := syscall.ParseNetlinkRouteAttr(m)
	if err != nil {
		return ""
	}
	for _, a := range attrs {
		if a.Attr.Type == unix.IFLA_IFNAME {
			return string(bytes.TrimRight(a.Value, "\x00"))
		}
	}
	return ""
}

// nsChild finds, among sup's descendants, the first process that is PID 1
// of a nested PID namespace: nspawn's container init, a child of nspawn
// itself. It reads only sup's subtree (/proc/PID/task/*/children), not the
// whole process table.
func nsChild(sup int) int {
	queue := []int{sup}
	for len(queue) > 0 {
		pid := queue[0]
		queue = queue[1:]
		fs, _ := filepath.Glob(fmt.Sprintf("/proc/%d/task/*/children", pid))
		for _, f := range fs {
			data, _ := os.ReadFile(f)
			for _, c := range strings.Fields(string(data)) {
				cp, err := strconv.Atoi(c)
				if err != nil {
					continue
				}
				if st, err := readStatus(cp); err == nil && len(st.nspid) > 1 && st.nspid[len(st.nspid)-1] == 1 {
					return cp
				}
				queue = append(queue, cp)
			}
		}
	}
	return 0
}

// ipBatch runs `ip -batch -` with cmds on t (nil: the host's namespace),
// prefixed by prefix (nsenter into the container).
func ipBatch(t *nsThread, prefix []string, cmds string) error {
	argv := append(append([]string{}, prefix...), "ip", "-batch", "-")
	cmd := exec.Command(argv[0], argv[1:]...)
	cmd.Stdin = strings.NewReader(cmds)
	var err error
	var out []byte
	onThread(t, func() { out, err = cmd.CombinedOutput() })
	if err != nil {
		return fmt.Errorf("%s: %w: %s", strings.Join(argv, " "), err, oneLine(string(out)))
	}
	return nil
}

// configureNspawn gives nspawn's veth what containerctl's flags give its
// own: the host side up with the host address (and so the route to the
// local address), host0 up with the local address and a default route
// via the host address.
func configureNspawn(t *nsThread, p *proc, name string, deadline time.Time) error {
	host := "ve-" + name
	if err := ipBatch(t, nil, fmt.Sprintf("link set %s up\naddr add %s%s dev %s\n", host, netHostAddr, netPrefix, host)); err != nil {
		return err
	}
	leader := nsChild(p.pid())
	for leader == 0 {
		if time.Now().After(deadline) {
			return fmt.Errorf("no container init below nspawn %d: %w", p.pid(), errTimeout)
		}
		time.Sleep(time.Millisecond)
		leader = nsChild(p.pid())
	}
	return ipBatch(nil, []string{"nsenter", "-t", strconv.Itoa(leader), "-n"},
		fmt.Sprintf("link set host0 up\naddr add %s%s dev host0\nroute add default via %s\n", netLocalAddr, netPrefix, netHostAddr))
}

// netSample is one container: from the start of the runtime until the
// host side of its veth appears and until it is ready, and from ready to
// its supervisor's exit (the init exits right after it says ready).
type netSample struct{ link, ready, exit time.Duration }

// netOnce starts one container with tool on t and times it.
func netOnce(cfg *config, t *nsThread, tool, bb, name string) (s netSample, retErr error) {
	var argv, env []string
	undo := func() {}
	switch tool {
	case "containerctl":
		argv = []string{cfg.bin, "run", name, "--root", bb, "--store=", "--console=pipe",
			"--network-veth", "--host-address", netHostAddr + netPrefix, "--local-address", netLocalAddr + netPrefix,
			"--", "/bin/sh", "-c", netInit}
	case "systemd-nspawn":
		var err error
		argv, env, undo, err = nspawnCmd(name, "--register=no", "--keep-unit", "-q", "-M", name, "-D", bb,
			"--console=pipe", "--network-veth", "/bin/sh", "-c", netInit)
		if err != nil {
			return s, err
		}
	}
	w, err := newLinkWatch(t)
	if err != nil {
		undo()
		return s, err
	}
	defer w.close()
	p, err := startProc(t, argv, env, true)
	if err != nil {
		undo()
		return s, err
	}
	p.cleanup = undo
	defer func() {
		select {
		case <-p.done:
		default:
			p.signal(syscall.SIGKILL)
			<-p.done
		}
		p.finish()
	}()
	// Ready is timed where it happens, not when this goroutine, busy with
	// nspawn's addresses, gets to it.
	readyAt := make(chan time.Time, 1)
	go func() {
		select {
		case <-p.ready:
			readyAt <- time.Now()
		case <-p.done:
		}
	}()
	deadline := p.started.Add(netTimeout)
	seen, err := w.wait("ve-"+name, p, deadline)
	if err != nil {
		return s, err
	}
	s.link = seen.Sub(p.started)
	if tool == "systemd-nspawn" {
		if err := configureNspawn(t, p, name, deadline); err != nil {
			return s, err
		}
	}
	select {
	case at := <-readyAt:
		s.ready = at.Sub(p.started)
	case <-p.done:
		return s, fmt.Errorf("%s exited before the container was ready: %w", tool, p.exitError())
	case <-time.After(time.Until(deadline)):
		return s, fmt.Errorf("container not ready after %s: %w", netTimeout, errTimeout)
	}
	if err := p.waitExit(netTimeout); err != nil {
		return s, err
	}
	if p.waitErr != nil {
		return s, fmt.Errorf("%s: %w", tool, p.exitError())
	}
	s.exit = p.exited.Sub(p.started) - s.ready
	return s, netRestored(t, 2*time.Second)
}

// netRestored waits until t's namespace holds lo alone again.
func netRestored(t *nsThread, wait time.Duration) error {
	deadline := time.Now().Add(wait)
	for {
		links, err := netLinks(t)
		if err != nil {
			return err
		}
		if len(links) == 1 && links[0] == "lo" {
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("links left in the host side's namespace after the container: %s", strings.Join(links, " "))
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// netMetrics are the section's rows, in order, and how to read each from
// a sample.
var netMetrics = []struct {
	name string
	of   func(netSample) time.Duration
}{
	{"start to veth ready", func(s netSample) time.Duration { return s.ready }},
	{"start to host side of the veth made", func(s netSample) time.Duration { return s.link }},
	{"ready to supervisor exit", func(s netSample) time.Duration { return s.exit }},
}

const netNote = "network: the time runs from the start of the runtime until the container's init (busybox sh as PID 1) " +
	"sees " + netLocalAddr + netPrefix + " on host0 and a default route via " + netHostAddr + " and has a ping of it answered; " +
	"the init then exits. containerctl sets the addresses itself (--network-veth --host-address --local-address); " +
	"for systemd-nspawn --network-veth, which sets none, the time includes the bench's own configuration from outside, " +
	"as the NixOS module's scripts do it but started at once rather than after nspawn's READY: a netlink watch sees ve-NAME, " +
	"then `ip -batch` sets the host side up with its address and `nsenter -n ip -batch` host0 with its address and route " +
	"(3 process starts). Both run with the host side in a network namespace of the bench's own."

// benchNetwork starts -network-runs containers with a veth with each tool,
// interleaved (containerctl, nspawn, containerctl, ...), after two rounds
// of warm-up.
func benchNetwork(ctx context.Context, cfg *config, bb string, rep *report) ([]*result, error) {
	t, err := newNetThread()
	if err != nil {
		return nil, err
	}
	defer t.close()
	rep.Notes = append(rep.Notes, netNote)
	rows := make([]map[string]*result, len(netMetrics))
	for k, m := range netMetrics {
		rows[k] = map[string]*result{}
		for _, tool := range netTools {
			rows[k][tool] = &result{Section: "network", Metric: m.name, Tool: tool, Unit: "ms"}
		}
	}
	rows[0]["containerctl"].Note = "addresses by its flags"
	rows[0]["systemd-nspawn"].Note = "in a cgroup of its own; addresses by ip from outside"
	ms := func(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }
	const warmup = 2
	for round := 0; round < warmup+cfg.netRuns && ctx.Err() == nil; round++ {
		var cc *netSample
		for j, tool := range netTools {
			if rows[0][tool].Failures >= 3 && len(rows[0][tool].Samples) == 0 {
				continue
			}
			name := fmt.Sprintf("bn%d-%d", os.Getpid()%100000, round*len(netTools)+j)
			s, err := netOnce(cfg, t, tool, bb, name)
			if err != nil {
				logrus.WithError(err).Warnf("network %d with %s", round, tool)
				for k := range netMetrics {
					rows[k][tool].fail(err)
				}
				continue
			}
			logrus.Debugf("network %d with %s: link %s, ready %s, exit %s", round, tool, s.link, s.ready, s.exit)
			if round < warmup {
				continue
			}
			for k, m := range netMetrics {
				r := rows[k][tool]
				r.Samples = append(r.Samples, ms(m.of(s)))
				if tool != "containerctl" && cc != nil {
					r.Paired = append(r.Paired, ms(m.of(*cc)))
				}
			}
			if tool == "containerctl" {
				cc = &s
			}
		}
	}
	var rs []*result
	for k := range netMetrics {
		for _, tool := range netTools {
			rs = append(rs, rows[k][tool])
		}
	}
	return rs, ctx.Err()
}
