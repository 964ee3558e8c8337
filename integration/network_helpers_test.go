//go:build linux

package integration

import (
	"bufio"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"slices"
	"sort"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/google/nftables"
	"github.com/vishvananda/netlink"
	"github.com/vishvananda/netns"
)

// netHost is a network namespace that a test makes to be its containers'
// host: their supervisors run in it (through nsenter), so that no link,
// address, route or nftables rule is ever made in the machine's own
// namespace. A sleeping process holds it.
type netHost struct {
	t    *testing.T
	cmd  *exec.Cmd
	path string // /proc/PID/ns/net
	ns   netns.NsHandle
	h    *netlink.Handle
	// before is what the namespace held once set up, which it must hold
	// again after each container.
	before []string
}

func newNetHost(t *testing.T) *netHost {
	t.Helper()
	requireRoot(t)
	// The shell says when unshare has made the namespace: comparing with
	// our own would not do, for a thread of ours may have been in another.
	cmd := exec.Command("unshare", "--net", "--", "sh", "-c", "echo ready; exec sleep 3600")
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatalf("unshare --net: %v", err)
	}
	n := &netHost{t: t, cmd: cmd, path: "/proc/" + strconv.Itoa(cmd.Process.Pid) + "/ns/net", ns: -1}
	t.Cleanup(n.close)
	if line, err := bufio.NewReader(stdout).ReadString('\n'); err != nil || line != "ready\n" {
		t.Fatalf("unshare --net: %q, %v", line, err)
	}
	if n.ns, err = netns.GetFromPath(n.path); err != nil {
		t.Fatal(err)
	}
	if n.h, err = netlink.NewHandleAt(n.ns); err != nil {
		t.Fatal(err)
	}
	lo, err := n.h.LinkByName("lo")
	if err != nil {
		t.Fatal(err)
	}
	if err := n.h.LinkSetUp(lo); err != nil {
		t.Fatal(err)
	}
	return n
}

func (n *netHost) close() {
	if n.h != nil {
		n.h.Close()
	}
	if n.ns >= 0 {
		n.ns.Close()
	}
	n.cmd.Process.Kill()
	n.cmd.Wait()
}

// wrap is the runOpts.wrap that starts a supervisor in the namespace.
func (n *netHost) wrap() []string { return []string{"nsenter", "--net=" + n.path, "--"} }

// run runs a command in the namespace and returns its output.
func (n *netHost) run(args ...string) (string, error) {
	out, err := exec.Command("nsenter", append([]string{"--net=" + n.path, "--"}, args...)...).CombinedOutput()
	return string(out), err
}

// snapshot lists the namespace's links (with their altnames and master),
// addresses, routes and nftables tables, one string each.
func (n *netHost) snapshot() []string {
	n.t.Helper()
	var out []string
	links, err := n.h.LinkList()
	if err != nil {
		n.t.Fatal(err)
	}
	for _, l := range links {
		a := l.Attrs()
		out = append(out, "link "+a.Name+" "+strings.Join(a.AltNames, ",")+" master="+strconv.Itoa(a.MasterIndex))
		addrs, _ := n.h.AddrList(l, netlink.FAMILY_ALL)
		for _, ad := range addrs {
			out = append(out, "addr "+a.Name+" "+ad.IPNet.String())
		}
	}
	routes, err := n.h.RouteListFiltered(netlink.FAMILY_ALL, &netlink.Route{Table: 0}, 0)
	if err != nil {
		n.t.Fatal(err)
	}
	for _, r := range routes {
		out = append(out, "route "+r.String())
	}
	for _, t := range n.tables() {
		out = append(out, "nft table "+t)
	}
	sort.Strings(out)
	return out
}

// tables lists the namespace's nftables tables as FAMILY NAME.
func (n *netHost) tables() []string {
	n.t.Helper()
	c, err := nftables.New(nftables.WithNetNSFd(int(n.ns)))
	if err != nil {
		n.t.Fatal(err)
	}
	ts, err := c.ListTables()
	if err != nil {
		n.t.Fatal(err)
	}
	var out []string
	for _, t := range ts {
		out = append(out, strconv.Itoa(int(t.Family))+" "+t.Name)
	}
	return out
}

// mark takes the snapshot each container's end must return to.
func (n *netHost) mark() { n.before = n.snapshot() }

// checkRestored fails the test unless the namespace is as marked, within
// wait (a reaper cleans up after a killed supervisor).
func (n *netHost) checkRestored(wait time.Duration) {
	n.t.Helper()
	deadline := time.Now().Add(wait)
	for {
		after := n.snapshot()
		added, removed := setDiff(n.before, after)
		if len(added) == 0 && len(removed) == 0 {
			return
		}
		if time.Now().After(deadline) {
			n.t.Errorf("the test's host namespace changed: added %q, removed %q", added, removed)
			return
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// link finds a link of the namespace by name or altname.
func (n *netHost) link(name string) netlink.Link {
	n.t.Helper()
	l, err := n.h.LinkByName(name)
	if err != nil {
		n.t.Fatalf("host link %s: %v", name, err)
	}
	return l
}

// hasAddr reports whether link l has the address cidr.
func (n *netHost) hasAddr(l netlink.Link, cidr string) bool {
	addrs, _ := n.h.AddrList(l, netlink.FAMILY_ALL)
	return slices.ContainsFunc(addrs, func(a netlink.Addr) bool { return a.IPNet.String() == cidr })
}

// netApplets adds the busybox applets the network tests use to fx's root.
func netApplets(t *testing.T, fx *fixture) {
	t.Helper()
	for _, a := range []string{"ip", "ping", "nc", "httpd", "wget", "grep", "mkdir"} {
		if err := os.Symlink("busybox", filepath.Join(fx.root, "bin", a)); err != nil {
			t.Fatal(err)
		}
	}
}

// exchange sends msg and a newline over network (tcp or udp) to addr from
// inside the namespace and returns the answer. The socket is made on a
// locked thread that enters the namespace and comes back: a thread left
// there would be Go's main thread at times, which lives on.
func (n *netHost) exchange(network, addr, msg string) (string, error) {
	type result struct {
		conn net.Conn
		err  error
	}
	done := make(chan result, 1)
	go func() {
		// Back to our own namespace before the thread is let go; should
		// that fail, the thread stays locked and Go ends it with us.
		runtime.LockOSThread()
		own, err := netns.Get()
		if err != nil {
			done <- result{err: err}
			return
		}
		defer own.Close()
		if err := netns.Set(n.ns); err != nil {
			done <- result{err: err}
			return
		}
		c, err := net.DialTimeout(network, addr, 3*time.Second)
		if netns.Set(own) == nil {
			runtime.UnlockOSThread()
		}
		done <- result{c, err}
	}()
	r := <-done
	if r.err != nil {
		return "", fmt.Errorf("%s %s: %w", network, addr, r.err)
	}
	defer r.conn.Close()
	r.conn.SetDeadline(time.Now().Add(3 * time.Second))
	if _, err := r.conn.Write([]byte(msg + "\n")); err != nil {
		return "", fmt.Errorf("%s %s: %w", network, addr, err)
	}
	buf := make([]byte, 1500)
	k, err := r.conn.Read(buf)
	if err != nil {
		return "", fmt.Errorf("%s %s: %w", network, addr, err)
	}
	return string(buf[:k]), nil
}

// ctl runs containerctl in the namespace, as ctl does.
func (n *netHost) ctl(t *testing.T, args ...string) result {
	t.Helper()
	cmd := exec.Command("nsenter", append([]string{"--net=" + n.path, "--", ctlBin}, args...)...)
	var stdout, stderr strings.Builder
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	cmd.WaitDelay = 5 * time.Second
	timer := time.AfterFunc(cmdTimeout, func() { cmd.Process.Kill() })
	defer timer.Stop()
	err := cmd.Run()
	r := result{stdout: stdout.String(), stderr: stderr.String(), code: cmd.ProcessState.ExitCode()}
	if err != nil && r.code <= 0 {
		t.Fatalf("containerctl %s: %v\nstderr: %s", strings.Join(args, " "), err, r.stderr)
	}
	return r
}

// oneLineNaming reports whether stderr is one line that names the
// container and says what.
func oneLineNaming(stderr, name, what string) bool {
	lines := nonEmptyLines(stderr)
	return len(lines) == 1 && strings.Contains(lines[0], name) && strings.Contains(lines[0], what)
}
