package network

import (
	"fmt"
	"net/netip"
	"slices"
	"strings"
)

// Config is a container's private network as asked for, with
// systemd-nspawn's terms. The zero Config asks for nothing beyond a
// namespace with loopback.
type Config struct {
	// Veth makes a veth pair: ve-NAME on the host (vb-NAME enslaved to
	// Bridge), VethName (host0 when empty) in the container.
	Veth     bool   `json:"veth,omitempty"`
	VethName string `json:"veth_name,omitempty"`
	Bridge   string `json:"bridge,omitempty"`
	// The addresses of both ends, as ADDRESS or ADDRESS/PREFIX: the host
	// address goes on the host side (it is the container's gateway on a
	// bridge), the local address on the container side. An address
	// without a prefix is a point-to-point one, as NixOS gives them.
	HostAddress   string `json:"host_address,omitempty"`
	LocalAddress  string `json:"local_address,omitempty"`
	HostAddress6  string `json:"host_address6,omitempty"`
	LocalAddress6 string `json:"local_address6,omitempty"`
	// Gateways replace the host address as the container's default
	// route, one per IP version at most.
	Gateways []string `json:"gateways,omitempty"`
	// Ports are forwards from the host, [PROTO:]HOSTPORT[:CONTAINERPORT].
	Ports []string `json:"ports,omitempty"`
	// Interfaces are moved into the container; MACVLANs and IPVLANs get a
	// macvlan (mv-IF) or ipvlan (iv-IF) link in the container each.
	Interfaces []string `json:"interfaces,omitempty"`
	MACVLANs   []string `json:"macvlans,omitempty"`
	IPVLANs    []string `json:"ipvlans,omitempty"`
	// ExtraVeths are more veth pairs without addresses, HOST[:CONTAINER]
	// (NixOS's extraVeths).
	ExtraVeths []string `json:"extra_veths,omitempty"`
}

// Empty reports whether c asks for nothing beyond a new namespace.
func (c Config) Empty() bool {
	return !c.Veth && c.VethName == "" && c.Bridge == "" && c.HostAddress == "" && c.LocalAddress == "" &&
		c.HostAddress6 == "" && c.LocalAddress6 == "" && len(c.Gateways) == 0 && len(c.Ports) == 0 &&
		len(c.Interfaces) == 0 && len(c.MACVLANs) == 0 && len(c.IPVLANs) == 0 && len(c.ExtraVeths) == 0
}

// Plan is a Config compiled for one container: every name, address and
// route, decided before anything is made.
type Plan struct {
	Container string `json:"container"`
	Veths     []Veth `json:"veths,omitempty"` // the main one first
	Subs      []Sub  `json:"subs,omitempty"`
	// Moves are host interfaces moved into the container, by name.
	Moves []string `json:"moves,omitempty"`
	Ports []Port   `json:"ports,omitempty"`
	// Table is the nftables table of the port forwards (inet family), and
	// Targets the container's addresses they forward to.
	Table   string       `json:"table,omitempty"`
	Targets []netip.Addr `json:"targets,omitempty"`
}

// Veth is one veth pair: the host side Host (with the altname AltName when
// the full name is too long), the container side Peer.
type Veth struct {
	Host    string `json:"host"`
	AltName string `json:"alt_name,omitempty"`
	Peer    string `json:"peer"`
	HostMAC string `json:"host_mac"`
	PeerMAC string `json:"peer_mac"`
	Bridge  string `json:"bridge,omitempty"`
	// HostAddrs and HostRoutes (to the container's addresses, on Host)
	// are the host side's; LocalAddrs, LocalRoutes (on Peer, scope link)
	// and Gateways (default routes) the container's.
	HostAddrs   []netip.Prefix `json:"host_addrs,omitempty"`
	HostRoutes  []netip.Prefix `json:"host_routes,omitempty"`
	LocalAddrs  []netip.Prefix `json:"local_addrs,omitempty"`
	LocalRoutes []netip.Prefix `json:"local_routes,omitempty"`
	Gateways    []netip.Addr   `json:"gateways,omitempty"`
}

// Sub is a macvlan or ipvlan link made in the container on a host parent.
type Sub struct {
	Kind    string `json:"kind"` // "macvlan" or "ipvlan"
	Parent  string `json:"parent"`
	Name    string `json:"name"`
	AltName string `json:"alt_name,omitempty"`
	MAC     string `json:"mac,omitempty"`
}

// DefaultPeer is the container side of the veth, the name systemd-networkd's
// 80-container-host0.network matches.
const DefaultPeer = "host0"

func invalid(format string, a ...any) error {
	return fmt.Errorf("%w: %s", ErrInvalid, fmt.Sprintf(format, a...))
}

// Compile checks c for the container name and decides every name,
// address and route. It reads nothing of the host: Check does.
func Compile(name string, c Config) (*Plan, error) {
	p := &Plan{Container: name}
	hasAddr := c.HostAddress != "" || c.LocalAddress != "" || c.HostAddress6 != "" || c.LocalAddress6 != "" || len(c.Gateways) > 0
	if !c.Veth && (c.Bridge != "" || c.VethName != "" || hasAddr) {
		return nil, invalid("addresses, a bridge, a gateway and a veth name need a veth")
	}
	if c.Veth {
		v, err := compileVeth(name, c)
		if err != nil {
			return nil, err
		}
		p.Veths = append(p.Veths, v)
	}
	if err := p.compileLinks(name, c); err != nil {
		return nil, err
	}
	if err := p.compilePorts(name, c.Ports); err != nil {
		return nil, err
	}
	return p, p.checkNames()
}

func compileVeth(name string, c Config) (Veth, error) {
	prefix := prefixVeth
	if c.Bridge != "" {
		prefix = prefixBridged
		if err := checkLinkName(c.Bridge); err != nil {
			return Veth{}, invalid("bridge %s", err)
		}
	}
	host, alt := LinkName(prefix, name)
	v := Veth{Host: host, AltName: alt, Peer: c.VethName, Bridge: c.Bridge,
		HostMAC: MAC(name, prefix).String(), PeerMAC: MAC(name, DefaultPeer).String()}
	if v.Peer == "" {
		v.Peer = DefaultPeer
	}
	if err := checkLinkName(v.Peer); err != nil {
		return Veth{}, invalid("veth name %s", err)
	}
	gw4, gw6, err := parseGateways(c.Gateways)
	if err != nil {
		return Veth{}, err
	}
	if err := v.addFamily(c.HostAddress, c.LocalAddress, gw4, false); err != nil {
		return Veth{}, err
	}
	if err := v.addFamily(c.HostAddress6, c.LocalAddress6, gw6, true); err != nil {
		return Veth{}, err
	}
	return v, nil
}

func parseGateways(gws []string) (gw4, gw6 netip.Addr, err error) {
	for _, g := range gws {
		a, err := netip.ParseAddr(g)
		if err != nil || a.Zone() != "" {
			return gw4, gw6, invalid("gateway %q: not an IP address", g)
		}
		gw := &gw4
		if a.Is6() {
			gw = &gw6
		}
		if gw.IsValid() {
			return gw4, gw6, invalid("gateway %s: a second gateway for IPv%d", g, map[bool]int{false: 4, true: 6}[a.Is6()])
		}
		*gw = a
	}
	return gw4, gw6, nil
}

// parseAddr reads ADDRESS or ADDRESS/PREFIX of one IP version; an address
// without a prefix is a single one (/32, /128), a point-to-point end.
func parseAddr(what, s string, v6 bool) (netip.Prefix, error) {
	if s == "" {
		return netip.Prefix{}, nil
	}
	var p netip.Prefix
	var err error
	if strings.Contains(s, "/") {
		p, err = netip.ParsePrefix(s)
	} else {
		var a netip.Addr
		if a, err = netip.ParseAddr(s); err == nil {
			p = netip.PrefixFrom(a, a.BitLen())
		}
	}
	a := p.Addr()
	switch {
	case err != nil:
		return p, invalid("%s %q: not an address or CIDR", what, s)
	case a.Is6() != v6 || a.Is4In6():
		return p, invalid("%s %s: not an IPv%d address", what, s, map[bool]int{false: 4, true: 6}[v6])
	case a.IsUnspecified() || a.IsMulticast() || a.IsLoopback() || a.Zone() != "":
		return p, invalid("%s %s: not a unicast address for a link", what, s)
	case p.Bits() == 0:
		return p, invalid("%s %s: a /0 prefix", what, s)
	case !single(p) && p.Bits() < a.BitLen()-1 && a == p.Masked().Addr():
		// /31 and /32 (/127, /128) have no such address to avoid.
		return p, invalid("%s %s: the subnet's own address, not a host's", what, s)
	case a.Is4() && p.Bits() < 31 && a == lastAddr(p):
		return p, invalid("%s %s: the subnet's broadcast address, not a host's", what, s)
	}
	return p, nil
}

// lastAddr is the last address of the IPv4 prefix p (its broadcast).
func lastAddr(p netip.Prefix) netip.Addr {
	b := p.Masked().Addr().As4()
	host := uint32(1)<<(32-p.Bits()) - 1
	v := uint32(b[0])<<24 | uint32(b[1])<<16 | uint32(b[2])<<8 | uint32(b[3]) | host
	return netip.AddrFrom4([4]byte{byte(v >> 24), byte(v >> 16), byte(v >> 8), byte(v)})
}

// addFamily adds one IP version's addresses and routes. Two prefixes must
// be one subnet; with a point-to-point end, each side gets a route to the
// other's address.
func (v *Veth) addFamily(hostS, localS string, gw netip.Addr, v6 bool) error {
	suffix := map[bool]string{false: "", true: "6"}[v6]
	host, err := parseAddr("host address"+suffix, hostS, v6)
	if err != nil {
		return err
	}
	local, err := parseAddr("local address"+suffix, localS, v6)
	if err != nil {
		return err
	}
	if gw.IsValid() && gw.Is6() != v6 {
		gw = netip.Addr{}
	}
	if host.IsValid() && local.IsValid() {
		if host.Addr() == local.Addr() {
			return invalid("host address%s and local address%s are both %s", suffix, suffix, host.Addr())
		}
		if !single(host) && !single(local) && host.Masked() != local.Masked() {
			return invalid("host address%s %s and local address%s %s are in different subnets", suffix, host, suffix, local)
		}
	}
	if host.IsValid() && v.Bridge == "" {
		v.HostAddrs = append(v.HostAddrs, host)
	}
	if local.IsValid() && v.Bridge == "" && (!host.IsValid() || !host.Contains(local.Addr())) {
		v.HostRoutes = append(v.HostRoutes, netip.PrefixFrom(local.Addr(), local.Addr().BitLen()))
	}
	if !local.IsValid() {
		if gw.IsValid() {
			return invalid("gateway %s: no local address%s for the route", gw, suffix)
		}
		return nil
	}
	v.LocalAddrs = append(v.LocalAddrs, local)
	if !gw.IsValid() && host.IsValid() {
		gw = host.Addr()
	}
	if !gw.IsValid() {
		return nil
	}
	if gw == local.Addr() {
		return invalid("gateway %s is the local address", gw)
	}
	if !local.Contains(gw) {
		v.LocalRoutes = append(v.LocalRoutes, netip.PrefixFrom(gw, gw.BitLen()))
	}
	v.Gateways = append(v.Gateways, gw)
	return nil
}

func single(p netip.Prefix) bool { return p.Bits() == p.Addr().BitLen() }

// compileLinks adds the moved interfaces, the macvlan and ipvlan links and
// the extra veths.
func (p *Plan) compileLinks(name string, c Config) error {
	for _, ifs := range [][]string{c.Interfaces, c.MACVLANs, c.IPVLANs} {
		for _, i := range ifs {
			if err := checkLinkName(i); err != nil {
				return invalid("interface %s", err)
			}
		}
	}
	p.Moves = c.Interfaces
	for _, s := range []struct {
		kind, prefix string
		parents      []string
	}{{"macvlan", prefixMACVLAN, c.MACVLANs}, {"ipvlan", prefixIPVLAN, c.IPVLANs}} {
		for _, parent := range s.parents {
			if slices.Contains(c.Interfaces, parent) {
				return invalid("interface %s: moved into the container and the parent of a %s link", parent, s.kind)
			}
			short, alt := LinkName(s.prefix, parent)
			sub := Sub{Kind: s.kind, Parent: parent, Name: short, AltName: alt}
			if s.kind == "macvlan" {
				// An ipvlan shares its parent's MAC.
				sub.MAC = MAC(name, s.prefix+parent).String()
			}
			p.Subs = append(p.Subs, sub)
		}
	}
	for _, e := range c.ExtraVeths {
		host, peer, _ := strings.Cut(e, ":")
		if peer == "" {
			peer = host
		}
		for _, n := range []string{host, peer} {
			if err := checkLinkName(n); err != nil {
				return invalid("extra veth %q: %s", e, err)
			}
		}
		p.Veths = append(p.Veths, Veth{Host: host, Peer: peer,
			HostMAC: MAC(name, "extra:"+host).String(), PeerMAC: MAC(name, "extra-peer:"+peer).String()})
	}
	return nil
}

// checkNames refuses two links of one name, on the host side or in the
// container.
func (p *Plan) checkNames() error {
	host := map[string]bool{}
	inside := map[string]bool{"lo": true}
	taken := func(m map[string]bool, n, where string) error {
		if m[n] {
			return invalid("link %s given twice %s", n, where)
		}
		m[n] = true
		return nil
	}
	for _, v := range p.Veths {
		if err := firstError(taken(host, v.Host, "on the host"), taken(inside, v.Peer, "in the container")); err != nil {
			return err
		}
	}
	for _, m := range p.Moves {
		if err := firstError(taken(host, m, "on the host"), taken(inside, m, "in the container")); err != nil {
			return err
		}
	}
	for _, s := range p.Subs {
		if err := taken(inside, s.Name, "in the container"); err != nil {
			return err
		}
	}
	return nil
}

// firstError returns the first error that is not nil.
func firstError(errs ...error) error {
	for _, err := range errs {
		if err != nil {
			return err
		}
	}
	return nil
}

// checkLinkName is the kernel's dev_valid_name.
func checkLinkName(n string) error {
	switch {
	case n == "" || n == "." || n == "..":
		return fmt.Errorf("%q: not a link name", n)
	case len(n) > MaxLinkName:
		return fmt.Errorf("%s: longer than %d characters", n, MaxLinkName)
	case strings.ContainsAny(n, "/: \t\n\r\v\f"):
		return fmt.Errorf("%q: no '/', ':' or white space in a link name", n)
	}
	return nil
}
