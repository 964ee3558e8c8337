//go:build linux

package integration

import (
	"os/exec"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/vishvananda/netlink"
	"golang.org/x/sys/unix"
)

// netScript wraps a container's shell script: PID 1 exits on SIGTERM (the
// tests' --kill-signal), and the script ends by waiting.
func netScript(body string) []string {
	return []string{"/bin/sh", "-c", "trap \"exit 0\" TERM\n" + body + "\necho NET-READY\nsleep 1000 & wait"}
}

// netFlags are the run flags of a network test's container.
func netFlags(flags ...string) []string {
	return append([]string{"--console=pipe", "--kill-signal=SIGTERM"}, flags...)
}

// stopAndCheck stops c and checks that the host namespace is as it was.
func stopAndCheck(t *testing.T, nh *netHost, c *container) {
	t.Helper()
	if r := ctl(t, "stop", c.name, "--timeout", "5s"); r.code != 0 {
		t.Fatalf("stop %s: exit %d: %s", c.name, r.code, r.stderr)
	}
	c.wait(10 * time.Second)
	nh.checkRestored(3 * time.Second)
}

// TestPrivateNetworkLoopback: --private-network shows only lo, up.
func TestPrivateNetworkLoopback(t *testing.T) {
	nh := newNetHost(t)
	nh.mark()
	fx := newFixture(t)
	netApplets(t, fx)
	c := fx.start(t, runOpts{flags: netFlags("--private-network"), command: netScript(`ip -o link | while read n name rest; do echo LINK $name $rest; done`), wrap: nh.wrap()})
	c.waitLine("NET-READY", startTimeout)
	var links []string
	for _, l := range nonEmptyLines(c.stdout.String()) {
		if strings.HasPrefix(l, "LINK ") {
			links = append(links, l)
		}
	}
	if len(links) != 1 || !strings.HasPrefix(links[0], "LINK lo: ") || !strings.Contains(links[0], "UP") {
		t.Errorf("links in the container = %q, want only lo, up", links)
	}
	stopAndCheck(t, nh, c)
}

// TestNetworkVeth: a veth with IPv4 and IPv6 addresses on both sides; the
// host side reaches the container and the container the host, and all of
// it goes when the container stops.
func TestNetworkVeth(t *testing.T) {
	nh := newNetHost(t)
	nh.mark()
	fx := newFixture(t)
	netApplets(t, fx)
	c := fx.start(t, runOpts{
		flags: netFlags("--network-veth", "--host-address", "10.233.1.1/24", "--local-address", "10.233.1.2/24",
			"--host-address6", "fc00:1::1/64", "--local-address6", "fc00:1::2/64"),
		command: netScript(`ip -o addr; ip route; ip -6 route; ping -c1 -W5 10.233.1.1 >/dev/null && echo PING4-OK; ping -c1 -W5 fc00:1::1 >/dev/null && echo PING6-OK`),
		wrap:    nh.wrap(),
	})
	c.waitLine("NET-READY", startTimeout)
	out := c.stdout.String()
	for _, want := range []string{"host0    inet 10.233.1.2/24", "host0    inet6 fc00:1::2/64", "default via 10.233.1.1 dev host0", "default via fc00:1::1 dev host0", "PING4-OK", "PING6-OK"} {
		if !strings.Contains(out, want) {
			t.Errorf("container output lacks %q:\n%s", want, out)
		}
	}
	full := "ve-" + c.name
	hl := nh.link(full)
	a := hl.Attrs()
	if len(a.Name) > 15 || !strings.HasPrefix(a.Name, "ve-") || !slices.Contains(a.AltNames, full) {
		t.Errorf("host link %s, altnames %q: want a ve- name of at most 15 characters with the altname %s", a.Name, a.AltNames, full)
	}
	if a.OperState != netlink.OperUp && a.Flags&1 == 0 {
		t.Errorf("host link %s is not up", a.Name)
	}
	for _, cidr := range []string{"10.233.1.1/24", "fc00:1::1/64"} {
		if !nh.hasAddr(hl, cidr) {
			t.Errorf("host link %s lacks the address %s", a.Name, cidr)
		}
	}
	for _, addr := range []string{"10.233.1.2", "fc00:1::2"} {
		if out, err := nh.run(busybox, "ping", "-c1", "-W5", addr); err != nil {
			t.Errorf("ping %s from the host side: %v\n%s", addr, err, out)
		}
	}
	stopAndCheck(t, nh, c)
}

// TestNetworkPortForward: TCP and UDP forwards, over IPv4 and IPv6, from the
// host side's own addresses to a server in the container, in an nftables
// table of the container's own that goes when it stops.
func TestNetworkPortForward(t *testing.T) {
	nh := newNetHost(t)
	nh.mark()
	fx := newFixture(t)
	c := fx.start(t, runOpts{
		flags: netFlags("--network-veth", "--host-address", "10.233.2.1/24", "--local-address", "10.233.2.2/24",
			"--host-address6", "fc00:2::1/64", "--local-address6", "fc00:2::2/64", "--port", "tcp:8080:80", "--port", "udp:5353:53"),
		command: netScript(`/sbin/testinit echo-server tcp:80 udp:53 &`),
		wrap:    nh.wrap(),
	})
	c.waitLine("ECHO-READY", startTimeout)
	table := "1 containerctl-" + c.name // NFPROTO_INET
	if tables := nh.tables(); !slices.Contains(tables, table) {
		t.Errorf("nftables tables while running = %q, want %q", tables, table)
	}
	for _, tt := range []struct{ network, addr string }{
		{"tcp", "10.233.2.1:8080"}, {"tcp", "[fc00:2::1]:8080"},
		{"udp", "10.233.2.1:5353"}, {"udp", "[fc00:2::1]:5353"},
	} {
		msg := "hello " + tt.network + " " + tt.addr
		got, err := nh.exchange(tt.network, tt.addr, msg)
		if err != nil || got != "ECHO "+msg+"\n" {
			t.Errorf("exchange(%s, %s) = %q, %v, want %q", tt.network, tt.addr, got, err, "ECHO "+msg+"\n")
		}
	}
	stopAndCheck(t, nh, c)
}

// TestNetworkKilledSupervisor: a supervisor killed with SIGKILL leaves
// nothing in the host namespace once its reaper has run (the veth dies
// with the container's namespace; the forwards' table is the reaper's to
// remove), and the name starts again.
func TestNetworkKilledSupervisor(t *testing.T) {
	nh := newNetHost(t)
	nh.mark()
	fx := newFixture(t)
	flags := netFlags("--network-veth", "--host-address", "10.233.4.1/24", "--local-address", "10.233.4.2/24", "--port", "tcp:8080:80")
	c := fx.start(t, runOpts{flags: flags, command: netScript(`/sbin/testinit echo-server tcp:80 &`), wrap: nh.wrap()})
	c.waitLine("ECHO-READY", startTimeout)
	if got, err := nh.exchange("tcp", "10.233.4.1:8080", "before"); err != nil || got != "ECHO before\n" {
		t.Fatalf("forward before the kill = %q, %v", got, err)
	}
	c.waitReaper(startTimeout)
	c.cmd.Process.Signal(syscall.SIGKILL)
	c.wait(10 * time.Second)
	nh.checkRestored(10 * time.Second)

	c2 := fx.start(t, runOpts{flags: flags, command: netScript(`/sbin/testinit echo-server tcp:80 &`), wrap: nh.wrap()})
	c2.waitLine("ECHO-READY", startTimeout)
	if got, err := nh.exchange("tcp", "10.233.4.1:8080", "after"); err != nil || got != "ECHO after\n" {
		t.Errorf("forward after the restart = %q, %v", got, err)
	}
	stopAndCheck(t, nh, c2)
}

// TestNetworkStaleLink: a link that a dead supervisor of the same name
// left, with the container's marker, is removed by the next start; one
// without it blocks the start.
func TestNetworkStaleLink(t *testing.T) {
	nh := newNetHost(t)
	nh.mark()
	fx := newFixture(t)
	full := "ve-" + fx.name
	// A veth pair: this kernel may have no dummy links.
	addDummy := func(name, alias string) {
		t.Helper()
		attrs := netlink.NewLinkAttrs()
		attrs.Name = name
		if err := nh.h.LinkAdd(&netlink.Veth{LinkAttrs: attrs, PeerName: name + "p"}); err != nil {
			t.Fatal(err)
		}
		if err := nh.h.LinkSetAlias(nh.link(name), alias); err != nil {
			t.Fatal(err)
		}
		if err := nh.h.LinkAddAltName(nh.link(name), full); err != nil {
			t.Fatal(err)
		}
	}
	addDummy("it-other0", "someone else's")
	r := nh.ctl(t, "run", fx.name, "--root", fx.root, "--store", "", "--console=pipe", "--network-veth", "--", "/bin/true")
	if r.code == 0 || !oneLineNaming(r.stderr, fx.name, "exists on the host") {
		t.Errorf("run with %s held by another link: exit %d, stderr %q; want a failure, one line naming the container", full, r.code, r.stderr)
	}
	if err := nh.h.LinkDel(nh.link("it-other0")); err != nil {
		t.Fatal(err)
	}
	addDummy("it-stale0", "containerctl:"+fx.name)
	c := fx.start(t, runOpts{flags: netFlags("--network-veth"), command: netScript("true"), wrap: nh.wrap()})
	c.waitLine("NET-READY", startTimeout)
	if l := nh.link(full); l.Type() != "veth" {
		t.Errorf("%s is a %s link, want the container's veth", full, l.Type())
	}
	stopAndCheck(t, nh, c)
}

// TestNetworkBridge: two containers with 40-character names that share
// their first 15 characters get different, working vb- links on one test
// bridge; they reach each other, the bridge's address (their gateway) and
// the host side reaches them, over IPv4 and IPv6.
func TestNetworkBridge(t *testing.T) {
	nh := newNetHost(t)
	br := netlink.NewLinkAttrs()
	br.Name = "it-br0"
	if err := nh.h.LinkAdd(&netlink.Bridge{LinkAttrs: br}); err != nil {
		t.Fatal(err)
	}
	bridge := nh.link("it-br0")
	for _, cidr := range []string{"10.233.3.1/24", "fc00:3::1/64"} {
		a, err := netlink.ParseAddr(cidr)
		if err != nil {
			t.Fatal(err)
		}
		a.Flags = unix.IFA_F_NODAD
		if err := nh.h.AddrAdd(bridge, a); err != nil {
			t.Fatal(err)
		}
	}
	if err := nh.h.LinkSetUp(bridge); err != nil {
		t.Fatal(err)
	}
	nh.mark()
	base := "it-NetworkBridge-" + randHex(6) + "-"
	var cs []*container
	for i, peer := range []string{"3", "2"} {
		self := []string{"2", "3"}[i]
		fx := newFixture(t)
		netApplets(t, fx)
		fx.name = base + strings.Repeat(string(rune('a'+i)), 40-len(base))
		script := `try() { i=0; while [ $i -lt 50 ]; do ping -c1 -W1 $1 >/dev/null && { echo $2; return; }; i=$((i+1)); sleep 0.2; done; }
try 10.233.3.1 PING-GW4-OK; try fc00:3::1 PING-GW6-OK; try 10.233.3.` + peer + ` PING-PEER4-OK; try fc00:3::` + peer + ` PING-PEER6-OK`
		cs = append(cs, fx.start(t, runOpts{
			flags: netFlags("--network-bridge", "it-br0", "--local-address", "10.233.3."+self+"/24", "--gateway", "10.233.3.1",
				"--local-address6", "fc00:3::"+self+"/64", "--gateway", "fc00:3::1"),
			command: netScript(script),
			wrap:    nh.wrap(),
		}))
	}
	var names []string
	for i, c := range cs {
		c.waitLine("NET-READY", 2*startTimeout)
		out := c.stdout.String()
		for _, want := range []string{"PING-GW4-OK", "PING-GW6-OK", "PING-PEER4-OK", "PING-PEER6-OK"} {
			if !strings.Contains(out, want) {
				t.Errorf("%s: no %s:\n%s", c.name, want, out)
			}
		}
		a := nh.link("vb-" + c.name).Attrs()
		names = append(names, a.Name)
		if len(a.Name) > 15 || !strings.HasPrefix(a.Name, "vb-") || a.MasterIndex != bridge.Attrs().Index {
			t.Errorf("host link of %s = %s (master %d): want a vb- name of at most 15 characters on it-br0 (%d)", c.name, a.Name, a.MasterIndex, bridge.Attrs().Index)
		}
		addr := "10.233.3." + []string{"2", "3"}[i]
		if out, err := nh.run(busybox, "ping", "-c1", "-W5", addr); err != nil {
			t.Errorf("ping %s from the host side: %v\n%s", addr, err, out)
		}
	}
	if names[0] == names[1] {
		t.Errorf("the two containers' host links are both %s", names[0])
	}
	for _, c := range cs {
		if r := ctl(t, "stop", c.name, "--timeout", "5s"); r.code != 0 {
			t.Errorf("stop %s: exit %d: %s", c.name, r.code, r.stderr)
		}
		c.wait(10 * time.Second)
	}
	nh.checkRestored(3 * time.Second)
}

// TestNetworkRefusals: bad network settings are refused before anything
// is made, each in one line that names the container.
func TestNetworkRefusals(t *testing.T) {
	nh := newNetHost(t)
	nh.mark()
	fx := newFixture(t)
	local := []string{"--local-address", "10.233.5.2/24"}
	for _, tt := range []struct {
		name  string
		flags []string
		want  string
	}{
		{"invalid CIDR", []string{"--host-address", "10.233.5.1/33"}, "not an address or CIDR"},
		{"different subnets", []string{"--host-address", "10.233.5.1/24", "--local-address", "10.233.6.2/24"}, "different subnets"},
		{"IPv6 as IPv4", []string{"--local-address", "fc00::2/64"}, "not an IPv4 address"},
		{"missing bridge", []string{"--network-bridge", "it-nobr0"}, "bridge it-nobr0: no such link"},
		{"missing interface", []string{"--network-interface", "it-noif0"}, "interface it-noif0: no such link"},
		{"missing macvlan parent", []string{"--network-macvlan", "it-noif0"}, "it-noif0: no such link"},
		{"port out of range", append([]string{"--port", "tcp:70000:80"}, local...), "not a port number"},
		{"port twice", append([]string{"--port", "tcp:8080:80", "--port", "8080:81"}, local...), "forwarded by"},
		{"port without an address", []string{"--port", "8080"}, "need a veth with a local address"},
		{"long veth name", []string{"--network-veth-name", "a-very-long-name0"}, "longer than 15"},
	} {
		args := append([]string{"run", fx.name, "--root", fx.root, "--store", "", "--console=pipe"}, tt.flags...)
		r := nh.ctl(t, append(args, "--", "/bin/true")...)
		if r.code == 0 || !oneLineNaming(r.stderr, fx.name, tt.want) {
			t.Errorf("%s: run %s: exit %d, stderr %q; want a failure in one line naming %s and saying %q",
				tt.name, strings.Join(tt.flags, " "), r.code, r.stderr, fx.name, tt.want)
		}
		nh.checkRestored(0)
		if exists(stateDir + "/" + fx.name) {
			t.Errorf("%s: a record of %s was left", tt.name, fx.name)
		}
	}
}

// addVethPair makes a veth pair in the test's namespace, a stand-in for a
// host interface (this kernel may have no dummy links).
func addVethPair(t *testing.T, nh *netHost, name, peer string) {
	t.Helper()
	attrs := netlink.NewLinkAttrs()
	attrs.Name = name
	if err := nh.h.LinkAdd(&netlink.Veth{LinkAttrs: attrs, PeerName: peer}); err != nil {
		t.Fatal(err)
	}
}

// TestNetworkInterface: an interface moved in leaves the host side while
// the container runs and comes back when it stops, also when its
// supervisor is killed: a virtual link would die with the container's
// namespace, which is kept until the reaper has moved it back. One that
// the guest renamed comes back under its own name.
func TestNetworkInterface(t *testing.T) {
	nh := newNetHost(t)
	addVethPair(t, nh, "it-mv0", "it-mv0p")
	nh.mark()
	for _, tt := range []struct{ kill, rename bool }{{false, false}, {true, false}, {false, true}} {
		kill := tt.kill
		fx := newFixture(t)
		netApplets(t, fx)
		script := `ip -o link | grep -q ": it-mv0[:@]" && echo MOVED-IN`
		if tt.rename {
			script += "\nip link set it-mv0 down && ip link set it-mv0 name it-guest0 && ip link set it-guest0 up && echo RENAMED"
		}
		c := fx.start(t, runOpts{flags: netFlags("--network-interface", "it-mv0"), command: netScript(script), wrap: nh.wrap()})
		c.waitLine("NET-READY", startTimeout)
		if !strings.Contains(c.stdout.String(), "MOVED-IN") {
			t.Errorf("it-mv0 is not in the container:\n%s", c.stdout.String())
		}
		if tt.rename && !strings.Contains(c.stdout.String(), "RENAMED") {
			t.Errorf("the guest did not rename it-mv0:\n%s", c.stdout.String())
		}
		if tt.rename {
			// And it gives the renamed link the old name as an altname
			// and an alias of its own (busybox's ip has no altnames:
			// done from outside, in the container's namespace), which
			// would make the rename back fail, and come to the host.
			c.findInit()
			ns := "--net=/proc/" + itoa(c.initPID) + "/ns/net"
			for _, args := range [][]string{{"ip", "link", "property", "add", "dev", "it-guest0", "altname", "it-mv0"}, {"ip", "link", "set", "it-guest0", "alias", "guest-alias"}} {
				if out, err := exec.Command("nsenter", append([]string{ns, "--"}, args...)...).CombinedOutput(); err != nil {
					t.Fatalf("%v: %v: %s", args, err, out)
				}
			}
		}
		if _, err := nh.h.LinkByName("it-mv0"); err == nil {
			t.Errorf("it-mv0 is still on the host side while the container runs")
		}
		if kill {
			c.waitReaper(startTimeout)
			c.cmd.Process.Signal(syscall.SIGKILL)
			c.wait(10 * time.Second)
			nh.checkRestored(10 * time.Second)
			continue
		}
		stopAndCheck(t, nh, c)
		if l, err := nh.h.LinkByName("it-mv0"); err == nil && (l.Attrs().Alias == "guest-alias" || len(l.Attrs().AltNames) > 0) {
			t.Errorf("it-mv0 came back with the guest's alias %q or altnames %q", l.Attrs().Alias, l.Attrs().AltNames)
		}
	}

	// runLost moves ifname in, runs script (which prints mark), stops the
	// container and checks that ifname did not come back to the host and
	// that the supervisor said why.
	runLost := func(ifname, script, mark, why string) {
		t.Helper()
		fx := newFixture(t)
		netApplets(t, fx)
		c := fx.start(t, runOpts{flags: netFlags("--network-interface", ifname), command: netScript(script + " && echo " + mark), wrap: nh.wrap()})
		c.waitLine("NET-READY", startTimeout)
		if !strings.Contains(c.stdout.String(), mark) {
			t.Fatalf("the guest did not say %s:\n%s", mark, c.stdout.String())
		}
		if r := ctl(t, "stop", c.name, "--timeout", "5s"); r.code != 0 {
			t.Fatalf("stop %s: exit %d: %s", c.name, r.code, r.stderr)
		}
		c.wait(10 * time.Second)
		if l, err := nh.h.LinkByName(ifname); err == nil {
			t.Errorf("after the stop the host has a %s %s: a link the guest made could have come out", l.Type(), ifname)
		}
		if !strings.Contains(c.stderr.String(), "interface "+ifname+": "+why) {
			t.Errorf("the supervisor did not say %s stays behind (%q):\n%s", ifname, why, c.stderr.String())
		}
	}
	// A guest that deletes it and makes a link of its own under its name:
	// that link does not go to the host.
	runLost("it-mv0", "ip link del it-mv0 && ip link add it-mv0 type veth peer name it-g0", "REPLACED", "no longer in the container")
	// The pair died with the guest's delete: made again, for the
	// namespace's last check.
	addVethPair(t, nh, "it-mv0", "it-mv0p")
	// A tap the guest could make again at its index and under its name
	// (TUNSETIFINDEX): not moved back, gone with the container.
	if out, err := nh.run("ip", "tuntap", "add", "dev", "it-tap0", "mode", "tap"); err != nil {
		t.Fatalf("ip tuntap add: %v: %s", err, out)
	}
	runLost("it-tap0", `ip -o link | grep -q ": it-tap0:"`, "MOVED-IN", "a tuntap, which the guest could have made again")
	nh.checkRestored(3 * time.Second)
}

// TestNetworkLinks: a macvlan link on a host interface and an extra veth
// pair, made in the container and gone when it stops.
func TestNetworkLinks(t *testing.T) {
	nh := newNetHost(t)
	addVethPair(t, nh, "it-par0", "it-par0p")
	nh.mark()
	fx := newFixture(t)
	netApplets(t, fx)
	c := fx.start(t, runOpts{
		flags:   netFlags("--network-macvlan", "it-par0", "--network-veth-extra", "it-xv0:inner0"),
		command: netScript(`ip -o link | grep -q ": mv-it-par0@" && echo MACVLAN-IN; ip -o link | grep -q ": inner0@" && echo EXTRA-IN`),
		wrap:    nh.wrap(),
	})
	c.waitLine("NET-READY", startTimeout)
	for _, want := range []string{"MACVLAN-IN", "EXTRA-IN"} {
		if !strings.Contains(c.stdout.String(), want) {
			t.Errorf("no %s:\n%s", want, c.stdout.String())
		}
	}
	if l := nh.link("it-xv0"); l.Type() != "veth" {
		t.Errorf("host side it-xv0 is a %s link, want veth", l.Type())
	}
	stopAndCheck(t, nh, c)
}

// TestNetworkNamespacePath: the container joins a network namespace given
// by path (the test's, which holds it-ns0) instead of a new one.
func TestNetworkNamespacePath(t *testing.T) {
	nh := newNetHost(t)
	addVethPair(t, nh, "it-ns0", "it-ns0p")
	nh.mark()
	fx := newFixture(t)
	netApplets(t, fx)
	c := fx.start(t, runOpts{flags: netFlags("--network-namespace-path", nh.path), command: netScript(`ip -o link | grep -q ": it-ns0@" && echo JOINED`)})
	c.waitLine("NET-READY", startTimeout)
	if !strings.Contains(c.stdout.String(), "JOINED") {
		t.Errorf("the container does not see the namespace's it-ns0:\n%s", c.stdout.String())
	}
	stopAndCheck(t, nh, c)
	for _, tt := range []struct {
		flags []string
		want  string
	}{
		{[]string{"--network-namespace-path", "/etc/hostname"}, "not a network namespace"},
		{[]string{"--network-namespace-path", nh.path, "--network-veth"}, "no other network setting"},
	} {
		args := append([]string{"run", fx.name, "--root", fx.root, "--store", "", "--console=pipe"}, tt.flags...)
		if r := nh.ctl(t, append(args, "--", "/bin/true")...); r.code == 0 || !oneLineNaming(r.stderr, fx.name, tt.want) {
			t.Errorf("run %s: exit %d, stderr %q; want one line naming %s and saying %q", strings.Join(tt.flags, " "), r.code, r.stderr, fx.name, tt.want)
		}
	}
}

// TestNetworkFailedStart: a start that fails after the network is set up
// (the init is missing, found only once the child has mounted a tmpfs), or
// in the middle of it (a macvlan on loopback, after the veth), leaves
// nothing in the host namespace and no record.
func TestNetworkFailedStart(t *testing.T) {
	nh := newNetHost(t)
	nh.mark()
	fx := newFixture(t)
	veth := []string{"--network-veth", "--host-address", "10.233.7.1/24", "--local-address", "10.233.7.2/24", "--port", "8080:80"}
	for _, tt := range []struct {
		name  string
		flags []string
		init  string
		want  string
	}{
		{"init missing", append([]string{"--tmpfs", "/opt"}, veth...), "/opt/no-init", "/opt/no-init"},
		{"macvlan on loopback", append([]string{"--network-macvlan", "lo"}, veth...), "/bin/true", "macvlan mv-lo on lo"},
	} {
		args := append([]string{"run", fx.name, "--root", fx.root, "--store", "", "--console=pipe"}, tt.flags...)
		r := nh.ctl(t, append(args, "--", tt.init)...)
		if r.code == 0 || !strings.Contains(r.stderr, fx.name) || !strings.Contains(r.stderr, tt.want) {
			t.Errorf("%s: exit %d, stderr %q; want a failure naming %s and %q", tt.name, r.code, r.stderr, fx.name, tt.want)
		}
		nh.checkRestored(0)
		if exists(stateDir + "/" + fx.name) {
			t.Errorf("%s: a record of %s was left", tt.name, fx.name)
		}
	}
}

// TestNetworkPortForwardFromElsewhere: a forward also takes what another
// machine sends to the host (prerouting), where the host forwards IP
// packets: a second test namespace is that machine, on a veth of its own.
func TestNetworkPortForwardFromElsewhere(t *testing.T) {
	nh, client := newNetHost(t), newNetHost(t)
	attrs := netlink.NewLinkAttrs()
	attrs.Name = "it-up0"
	if err := nh.h.LinkAdd(&netlink.Veth{LinkAttrs: attrs, PeerName: "it-down0", PeerNamespace: netlink.NsFd(client.ns)}); err != nil {
		t.Fatal(err)
	}
	for _, end := range []struct {
		n          *netHost
		link, cidr string
	}{{nh, "it-up0", "192.168.77.1/24"}, {client, "it-down0", "192.168.77.2/24"}} {
		l := end.n.link(end.link)
		a, _ := netlink.ParseAddr(end.cidr)
		if err := end.n.h.AddrAdd(l, a); err != nil {
			t.Fatal(err)
		}
		if err := end.n.h.LinkSetUp(l); err != nil {
			t.Fatal(err)
		}
	}
	// The test's own namespace forwards; the machine's setting is not
	// touched.
	if out, err := nh.run("sh", "-c", "echo 1 > /proc/sys/net/ipv4/ip_forward"); err != nil {
		t.Fatalf("ip_forward in the test's namespace: %v\n%s", err, out)
	}
	nh.mark()
	fx := newFixture(t)
	c := fx.start(t, runOpts{
		flags:   netFlags("--network-veth", "--host-address", "10.233.8.1/24", "--local-address", "10.233.8.2/24", "--port", "tcp:8080:80"),
		command: netScript(`/sbin/testinit echo-server tcp:80 &`),
		wrap:    nh.wrap(),
	})
	c.waitLine("ECHO-READY", startTimeout)
	if got, err := client.exchange("tcp", "192.168.77.1:8080", "from elsewhere"); err != nil || got != "ECHO from elsewhere\n" {
		t.Errorf("exchange from the other namespace = %q, %v, want %q", got, err, "ECHO from elsewhere\n")
	}
	stopAndCheck(t, nh, c)
}
