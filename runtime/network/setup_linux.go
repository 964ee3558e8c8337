package network

import (
	"errors"
	"fmt"
	"net"
	"net/netip"
	"slices"

	"github.com/vishvananda/netlink"
	"github.com/vishvananda/netns"
	"golang.org/x/sys/unix"
)

// Net is a container's network once it is set up: netlink handles on both
// sides and the container's namespace, held open so that interfaces moved
// in can be moved back before the namespace goes (when its last process
// exits, the kernel destroys virtual links in it and hands physical ones to
// the machine's first namespace, not to ours).
type Net struct {
	plan *Plan
	rec  *Record
	ns   netns.NsHandle
	host *netlink.Handle
	in   *netlink.Handle
	// moved are the interfaces moved in, by name: who each is in the
	// container's namespace (the record's MovedLinks too).
	moved map[string]MovedLink
	// guestRan says the guest's own code may have run (GuestStarted):
	// before, what is in its namespace is what the start put there.
	guestRan bool
}

// Setup makes p for the container whose init child is pid: its links,
// addresses and routes on both sides, then the port forwards. The caller
// has written p.Record() (with keep, when set, as NetNS) to its state
// record first, so that a supervisor killed halfway leaves a list of what
// to remove. keep is where the container's namespace is bound while
// interfaces are moved in, so that they outlive a killed supervisor ("" for
// none). On failure Setup removes what it made.
func Setup(p *Plan, pid int, keep string) (_ *Net, retErr error) {
	rec := p.Record()
	rec.NetNS = keep
	n := &Net{plan: p, rec: rec, ns: -1}
	defer func() {
		if retErr != nil {
			_ = n.Close()
		}
	}()
	var err error
	if n.host, err = netlink.NewHandle(); err != nil {
		return nil, fmt.Errorf("netlink: %w", err)
	}
	// What a dead supervisor of this container left.
	if err := Remove(rec); err != nil {
		return nil, err
	}
	if n.ns, err = netns.GetFromPid(pid); err != nil {
		return nil, fmt.Errorf("network namespace of pid %d: %w", pid, err)
	}
	if n.in, err = netlink.NewHandleAt(n.ns); err != nil {
		return nil, fmt.Errorf("netlink in the container: %w", err)
	}
	for _, v := range p.Veths {
		if err := n.addVeth(v); err != nil {
			return nil, fmt.Errorf("veth %s: %w", v.Host, err)
		}
	}
	for _, s := range p.Subs {
		if err := n.addSub(s); err != nil {
			return nil, fmt.Errorf("%s %s on %s: %w", s.Kind, s.Name, s.Parent, err)
		}
	}
	if len(p.Moves) > 0 && keep != "" {
		if err := bindNamespace(n.ns, keep); err != nil {
			return nil, err
		}
	}
	for _, m := range p.Moves {
		if err := n.moveIn(m); err != nil {
			return nil, fmt.Errorf("move %s into the container: %w", m, err)
		}
	}
	if err := addForwards(p); err != nil {
		return nil, fmt.Errorf("port forwards: %w", err)
	}
	return n, nil
}

// Close takes the container's network away from the host: the interfaces
// moved in go back, then the links and the forwards are removed. It is
// safe on a partly set-up Net.
func (n *Net) Close() error {
	var errs []error
	if n.in != nil {
		for _, m := range n.plan.Moves {
			// One try: the namespace goes below, whatever it gave.
			errs = append(errs, asLoss(n.moveOut(m)))
		}
	}
	if n.host != nil {
		// The interfaces were moved out above: Remove is not to try
		// them again (and report them lost), and unbinds the namespace
		// whatever that gave: a guest could make a second try fail as
		// the first (its links outlive its processes in a bound
		// namespace), and keep the record, and the name, forever.
		rec := *n.rec
		rec.Moved, rec.MovedLinks = nil, nil
		errs = append(errs, Remove(&rec))
		n.host.Close()
	}
	if n.in != nil {
		n.in.Close()
	}
	if n.ns >= 0 {
		n.ns.Close()
	}
	return errors.Join(errs...)
}

func (n *Net) addVeth(v Veth) error {
	attrs := netlink.NewLinkAttrs()
	attrs.Name = v.Host
	attrs.HardwareAddr, _ = net.ParseMAC(v.HostMAC)
	peerMAC, _ := net.ParseMAC(v.PeerMAC)
	if v.Bridge != "" {
		br, err := n.host.LinkByName(v.Bridge)
		if err != nil {
			return fmt.Errorf("bridge %s: %w", v.Bridge, err)
		}
		attrs.MasterIndex = br.Attrs().Index
	}
	veth := &netlink.Veth{LinkAttrs: attrs, PeerName: v.Peer, PeerHardwareAddr: peerMAC, PeerNamespace: netlink.NsFd(n.ns)}
	if err := n.host.LinkAdd(veth); err != nil {
		return fmt.Errorf("create: %w", err)
	}
	host, err := n.host.LinkByName(v.Host)
	if err != nil {
		return err
	}
	// The kernel takes no alias when it creates a link (rtnl_newlink
	// ignores IFLA_IFALIAS): set it now. A supervisor killed before
	// leaves an unmarked veth, which dies with the container's
	// namespace all the same.
	if err := n.host.LinkSetAlias(host, Marker(n.plan.Container)); err != nil {
		return fmt.Errorf("mark: %w", err)
	}
	if v.AltName != "" {
		if err := n.host.LinkAddAltName(host, v.AltName); err != nil {
			return fmt.Errorf("altname %s: %w", v.AltName, err)
		}
	}
	if err := configure(n.host, host, v.HostAddrs, v.HostRoutes, nil); err != nil {
		return fmt.Errorf("host side: %w", err)
	}
	peer, err := n.in.LinkByName(v.Peer)
	if err != nil {
		return fmt.Errorf("container side %s: %w", v.Peer, err)
	}
	if err := configure(n.in, peer, v.LocalAddrs, v.LocalRoutes, v.Gateways); err != nil {
		return fmt.Errorf("container side %s: %w", v.Peer, err)
	}
	return nil
}

// configure brings l up with its addresses, its routes (scope link, on l)
// and its default routes, through h.
func configure(h *netlink.Handle, l netlink.Link, addrs, routes []netip.Prefix, gateways []netip.Addr) error {
	if err := h.LinkSetUp(l); err != nil {
		return fmt.Errorf("set up: %w", err)
	}
	idx := l.Attrs().Index
	for _, a := range addrs {
		// No duplicate address detection: the addresses are the
		// plan's, and a tentative IPv6 address cannot be used for a
		// second or so after the init starts.
		addr := &netlink.Addr{IPNet: ipNet(a), Flags: unix.IFA_F_NODAD}
		if err := h.AddrAdd(l, addr); err != nil {
			return fmt.Errorf("address %s: %w", a, err)
		}
	}
	for _, r := range routes {
		if err := h.RouteAdd(&netlink.Route{LinkIndex: idx, Dst: ipNet(r), Scope: netlink.SCOPE_LINK}); err != nil {
			return fmt.Errorf("route to %s: %w", r, err)
		}
	}
	for _, g := range gateways {
		if err := h.RouteAdd(&netlink.Route{LinkIndex: idx, Gw: g.AsSlice()}); err != nil {
			return fmt.Errorf("default route via %s: %w", g, err)
		}
	}
	return nil
}

func ipNet(p netip.Prefix) *net.IPNet {
	return &net.IPNet{IP: p.Addr().AsSlice(), Mask: net.CIDRMask(p.Bits(), p.Addr().BitLen())}
}

// addSub makes a macvlan (bridge mode, as nspawn's) or ipvlan (L2) link on
// a host parent, created right in the container's namespace.
func (n *Net) addSub(s Sub) error {
	parent, err := n.host.LinkByName(s.Parent)
	if err != nil {
		return err
	}
	attrs := netlink.NewLinkAttrs()
	attrs.Name, attrs.ParentIndex, attrs.Namespace = s.Name, parent.Attrs().Index, netlink.NsFd(n.ns)
	var l netlink.Link = &netlink.IPVlan{LinkAttrs: attrs, Mode: netlink.IPVLAN_MODE_L2}
	if s.Kind == "macvlan" {
		attrs.HardwareAddr, _ = net.ParseMAC(s.MAC)
		l = &netlink.Macvlan{LinkAttrs: attrs, Mode: netlink.MACVLAN_MODE_BRIDGE}
	}
	if err := n.host.LinkAdd(l); err != nil {
		return fmt.Errorf("create: %w", err)
	}
	in, err := n.in.LinkByName(s.Name)
	if err != nil {
		return err
	}
	if s.AltName != "" {
		if err := n.in.LinkAddAltName(in, s.AltName); err != nil {
			return fmt.Errorf("altname %s: %w", s.AltName, err)
		}
	}
	return nil
}

func (n *Net) moveIn(name string) error {
	l, err := n.host.LinkByName(name)
	if err != nil {
		return err
	}
	if err := n.host.LinkSetNsFd(l, int(n.ns)); err != nil {
		return err
	}
	if n.moved == nil {
		n.moved = map[string]MovedLink{}
		n.rec.MovedLinks = n.moved
	}
	in, err := n.in.LinkByName(name)
	if err != nil {
		// Unknown, it could only be found by its name later, which
		// the guest can give a link of its own.
		n.moved[name] = MovedLink{}
		return fmt.Errorf("find it in the container: %w", err)
	}
	n.moved[name] = identify(in)
	return nil
}

// GuestStarted says that the container's init runs the guest's code from
// now on: an interface that a guest's link could pass for is not moved
// back after this.
func (n *Net) GuestStarted() { n.guestRan = true }

// Record is what the network made, with who the interfaces moved in are
// (MovedLinks): for the state record once Setup has returned.
func (n *Net) Record() *Record { return n.rec }

// MovedLink is who an interface moved in is: its index in the container's
// namespace, its type and its link (a veth's peer, in the host's
// namespace). A guest may delete the interface and make a link of its own
// at the same index (RTM_NEWLINK takes one), but not a physical device,
// nor a veth whose peer is the host's.
type MovedLink struct {
	Index  int    `json:"index"`
	Parent int    `json:"parent,omitempty"`
	Kind   string `json:"kind"`
	// PeerNS is the namespace of its link's other end, as the container's
	// names it (IFLA_LINK_NETNSID; -1 for none or the same): the host's
	// for a veth of the host's, never for one the guest made.
	PeerNS int `json:"peer_ns"`
	// Alias and AltNames are the host's, given back as they were: not
	// who it is, but what the guest may have changed.
	Alias    string   `json:"alias,omitempty"`
	AltNames []string `json:"alt_names,omitempty"`
}

// same says whether l is the link m was.
func (m MovedLink) same(l netlink.Link) bool {
	id := identify(l)
	return id.Index == m.Index && id.Parent == m.Parent && id.Kind == m.Kind && id.PeerNS == m.PeerNS
}

// provable says whether a link the guest made could not pass for m: a
// physical device (no link kind; the guest can make none), or a link whose
// other end is in another namespace (a veth of the host's; the guest
// cannot name the host's namespace). A tap, a dummy or a vxlan the guest
// can make again at the same index and name.
func (m MovedLink) provable() bool { return m.Kind == "device" || m.PeerNS >= 0 }

func identify(l netlink.Link) MovedLink {
	a := l.Attrs()
	return MovedLink{Index: a.Index, Parent: a.ParentIndex, Kind: l.Type(), PeerNS: a.NetNsID, Alias: a.Alias, AltNames: a.AltNames}
}

// moveOut moves an interface back to the host, if it is still in the
// container.
func (n *Net) moveOut(name string) error {
	host, err := netns.Get()
	if err != nil {
		return err
	}
	defer host.Close()
	m, ok := n.moved[name]
	if !ok {
		return nil // never moved in
	}
	return moveBack(n.in, name, m, host, !n.guestRan)
}

// ErrGone is an interface moved in that is no longer in the container: a
// loss to report, not a failure of the cleanup.
var ErrGone = errors.New("no longer in the container (deleted, moved on or replaced by the guest): not moved back")

// ErrUnprovable is an interface moved in of a kind that a link the guest
// made could pass for (MovedLink.provable): not moved back, a loss as
// ErrGone is.
type ErrUnprovable struct{ Kind string }

func (e ErrUnprovable) Error() string {
	return fmt.Sprintf("a %s, which the guest could have made again in its place: not moved back, it goes with the container's namespace", e.Kind)
}

// Is makes it an ErrGone: a loss, not a failure.
func (e ErrUnprovable) Is(target error) bool { return target == ErrGone }

// moveBack moves the interface that was name when it was moved in back to
// the host, under that name: found as m says (m's Index 0: not known, by
// its name alone), since the guest may have renamed it. One that is gone
// from the container (the guest deleted it, or moved it to a namespace of
// its own), or that a link of the guest's stands in for, is an error: it
// does not come back, and nothing of the guest's goes to the host.
func moveBack(in *netlink.Handle, name string, m MovedLink, host netns.NsHandle, trusted bool) error {
	var l netlink.Link
	if m.Index > 0 {
		if byIdx, e := in.LinkByIndex(m.Index); e == nil && m.same(byIdx) {
			l = byIdx
		}
	} else {
		byName, e := in.LinkByName(name)
		if e != nil && !isNotFound(e) {
			return fmt.Errorf("interface %s: %w", name, e)
		}
		l = byName
	}
	if l == nil {
		return fmt.Errorf("interface %s: %w", name, ErrGone)
	}
	if m.Index > 0 && !m.provable() && !trusted {
		// It may be the guest's: it stays, and dies with the
		// container's namespace.
		return fmt.Errorf("interface %s: %w", name, ErrUnprovable{Kind: m.Kind})
	}
	// The altnames and alias the guest gave it stay behind (one could
	// hold the name, or a host link's, and the alias could pass for a
	// container's marker); the host's come back.
	for _, a := range l.Attrs().AltNames {
		if !slices.Contains(m.AltNames, a) {
			_ = in.LinkDelAltName(l, a)
		}
	}
	if m.Index > 0 && l.Attrs().Alias != m.Alias {
		_ = in.LinkSetAlias(l, m.Alias)
	}
	if l.Attrs().Name != name {
		// The guest renamed it: the host gets it back as it gave it. A
		// link must be down to be renamed; a link of the guest's that
		// took the name gives it up.
		if err := in.LinkSetDown(l); err != nil {
			return fmt.Errorf("interface %s (renamed %s in the container): %w", name, l.Attrs().Name, err)
		}
		if holder, err := in.LinkByName(name); err == nil && holder.Attrs().Index != l.Attrs().Index {
			// The guest's, in a namespace about to go: deleted.
			if err := in.LinkDel(holder); err != nil {
				return fmt.Errorf("interface %s (renamed %s in the container): remove the guest's link of its name: %w", name, l.Attrs().Name, err)
			}
		}
		if err := in.LinkSetName(l, name); err != nil {
			return fmt.Errorf("interface %s (renamed %s in the container): rename it back: %w", name, l.Attrs().Name, err)
		}
	}
	if err := in.LinkSetNsFd(l, int(host)); err != nil {
		return fmt.Errorf("move %s back to the host: %w", name, err)
	}
	return nil
}
