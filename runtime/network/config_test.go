package network

import (
	"errors"
	"net/netip"
	"reflect"
	"strings"
	"testing"
)

func prefixes(ss ...string) []netip.Prefix {
	var out []netip.Prefix
	for _, s := range ss {
		out = append(out, netip.MustParsePrefix(s))
	}
	return out
}

func addrs(ss ...string) []netip.Addr {
	var out []netip.Addr
	for _, s := range ss {
		out = append(out, netip.MustParseAddr(s))
	}
	return out
}

func TestCompileVeth(t *testing.T) {
	for _, tt := range []struct {
		name string
		c    Config
		want Veth // only the address and route fields, Bridge and Peer
	}{
		{"subnet", Config{Veth: true, HostAddress: "10.233.1.1/24", LocalAddress: "10.233.1.2/24"},
			Veth{Peer: "host0", HostAddrs: prefixes("10.233.1.1/24"), LocalAddrs: prefixes("10.233.1.2/24"), Gateways: addrs("10.233.1.1")}},
		{"point to point, as NixOS", Config{Veth: true, HostAddress: "10.233.1.1", LocalAddress: "10.233.1.2"},
			Veth{Peer: "host0", HostAddrs: prefixes("10.233.1.1/32"), HostRoutes: prefixes("10.233.1.2/32"),
				LocalAddrs: prefixes("10.233.1.2/32"), LocalRoutes: prefixes("10.233.1.1/32"), Gateways: addrs("10.233.1.1")}},
		{"v6", Config{Veth: true, HostAddress6: "fc00::1/64", LocalAddress6: "fc00::2/64", VethName: "eth0"},
			Veth{Peer: "eth0", HostAddrs: prefixes("fc00::1/64"), LocalAddrs: prefixes("fc00::2/64"), Gateways: addrs("fc00::1")}},
		{"bridge and gateway", Config{Veth: true, Bridge: "br0", LocalAddress: "10.233.2.5/24", Gateways: []string{"10.233.2.1"}},
			Veth{Peer: "host0", Bridge: "br0", LocalAddrs: prefixes("10.233.2.5/24"), Gateways: addrs("10.233.2.1")}},
		{"bridge, host address is the gateway", Config{Veth: true, Bridge: "br0", HostAddress: "10.233.2.1", LocalAddress: "10.233.2.5/24"},
			Veth{Peer: "host0", Bridge: "br0", LocalAddrs: prefixes("10.233.2.5/24"), Gateways: addrs("10.233.2.1")}},
		{"local only", Config{Veth: true, LocalAddress: "10.233.3.2/24"},
			Veth{Peer: "host0", HostRoutes: prefixes("10.233.3.2/32"), LocalAddrs: prefixes("10.233.3.2/24")}},
	} {
		p, err := Compile("foo", tt.c)
		if err != nil {
			t.Errorf("Compile(%s) = %v, want no error", tt.name, err)
			continue
		}
		got := p.Veths[0]
		got.Host, got.AltName, got.HostMAC, got.PeerMAC = "", "", "", ""
		if !reflect.DeepEqual(got, tt.want) {
			t.Errorf("Compile(%s).Veths[0] = %+v, want %+v", tt.name, got, tt.want)
		}
	}
}

func TestCompileNames(t *testing.T) {
	p, err := Compile("foo", Config{Veth: true, Bridge: "br0", MACVLANs: []string{"eth2"}, IPVLANs: []string{"eth3"},
		Interfaces: []string{"eth1"}, ExtraVeths: []string{"ve-extra:inner", "other"}})
	if err != nil {
		t.Fatalf("Compile = %v", err)
	}
	var got []string
	for _, v := range p.Veths {
		got = append(got, v.Host+">"+v.Peer)
	}
	for _, s := range p.Subs {
		got = append(got, s.Kind+":"+s.Parent+">"+s.Name)
	}
	want := []string{"vb-foo>host0", "ve-extra>inner", "other>other", "macvlan:eth2>mv-eth2", "ipvlan:eth3>iv-eth3"}
	if !reflect.DeepEqual(got, want) || !reflect.DeepEqual(p.Moves, []string{"eth1"}) {
		t.Errorf("Compile links = %v, moves %v, want %v, [eth1]", got, p.Moves, want)
	}
	r := p.Record()
	if !reflect.DeepEqual(r.Links, []string{"vb-foo", "ve-extra", "other"}) || !reflect.DeepEqual(r.Moved, []string{"eth1"}) {
		t.Errorf("Record = %+v, want links vb-foo ve-extra other, moved eth1", r)
	}
}

func TestCompilePorts(t *testing.T) {
	p, err := Compile("foo", Config{Veth: true, HostAddress: "10.0.0.1/24", LocalAddress: "10.0.0.2/24",
		HostAddress6: "fc00::1/64", LocalAddress6: "fc00::2/64", Ports: []string{"tcp:8080:80", "udp:5353:53", "443"}})
	if err != nil {
		t.Fatalf("Compile = %v", err)
	}
	want := []Port{{"tcp", 8080, 80}, {"udp", 5353, 53}, {"tcp", 443, 443}}
	if !reflect.DeepEqual(p.Ports, want) || p.Table != "containerctl-foo" || !reflect.DeepEqual(p.Targets, addrs("10.0.0.2", "fc00::2")) {
		t.Errorf("Compile ports = %v, table %q, targets %v; want %v, containerctl-foo, [10.0.0.2 fc00::2]", p.Ports, p.Table, p.Targets, want)
	}
}

func TestCompileRefuses(t *testing.T) {
	veth := func(c Config) Config { c.Veth = true; return c }
	for _, tt := range []struct {
		name string
		c    Config
		want string
	}{
		{"bad CIDR", veth(Config{HostAddress: "10.0.0.1/33"}), "not an address or CIDR"},
		{"not an address", veth(Config{LocalAddress: "ten"}), "not an address or CIDR"},
		{"v6 as v4", veth(Config{HostAddress: "fc00::1/64"}), "not an IPv4 address"},
		{"v4 as v6", veth(Config{LocalAddress6: "10.0.0.2/24"}), "not an IPv6 address"},
		{"different subnets", veth(Config{HostAddress: "10.0.0.1/24", LocalAddress: "10.0.1.2/24"}), "different subnets"},
		{"same address", veth(Config{HostAddress: "10.0.0.1/24", LocalAddress: "10.0.0.1/24"}), "are both"},
		{"loopback", veth(Config{LocalAddress: "127.0.0.2/8"}), "not a unicast address"},
		{"network address", veth(Config{HostAddress: "10.0.0.1/24", LocalAddress: "10.0.0.0/24"}), "the subnet's own address"},
		{"broadcast address", veth(Config{HostAddress: "10.0.0.1/24", LocalAddress: "10.0.0.255/24"}), "the subnet's broadcast address"},
		{"v6 subnet-router address", veth(Config{HostAddress6: "fd00::1/64", LocalAddress6: "fd00::/64"}), "the subnet's own address"},
		{"two gateways", veth(Config{LocalAddress: "10.0.0.2/24", Gateways: []string{"10.0.0.1", "10.0.0.3"}}), "a second gateway"},
		{"gateway without address", veth(Config{Gateways: []string{"10.0.0.1"}}), "no local address"},
		{"address without veth", Config{HostAddress: "10.0.0.1/24"}, "need a veth"},
		{"port out of range", veth(Config{LocalAddress: "10.0.0.2/24", Ports: []string{"tcp:70000:80"}}), "not a port number"},
		{"port zero", veth(Config{LocalAddress: "10.0.0.2/24", Ports: []string{"0"}}), "not a port number"},
		{"port protocol", veth(Config{LocalAddress: "10.0.0.2/24", Ports: []string{"sctp:80:80"}}), "want tcp or udp"},
		{"port twice", veth(Config{LocalAddress: "10.0.0.2/24", Ports: []string{"tcp:80:80", "80:81"}}), "forwarded by"},
		{"port without address", veth(Config{Ports: []string{"80"}}), "need a veth with a local address"},
		{"port without veth", Config{Ports: []string{"80"}}, "need a veth with a local address"},
		{"long veth name", veth(Config{VethName: "a-very-long-interface"}), "longer than 15"},
		{"veth name with slash", veth(Config{VethName: "a/b"}), "no '/'"},
		{"veth name lo", veth(Config{VethName: "lo"}), "given twice in the container"},
		{"moved twice", Config{Interfaces: []string{"eth1", "eth1"}}, "given twice"},
		{"moved and parent", Config{Interfaces: []string{"eth1"}, MACVLANs: []string{"eth1"}}, "moved into the container and the parent"},
	} {
		_, err := Compile("foo", tt.c)
		if err == nil || !errors.Is(err, ErrInvalid) || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("Compile(%s) = %v, want an ErrInvalid containing %q", tt.name, err, tt.want)
		}
	}
}

func TestParsePort(t *testing.T) {
	for _, tt := range []struct {
		in   string
		want Port
	}{
		{"tcp:8080:80", Port{"tcp", 8080, 80}},
		{"udp:5353:53", Port{"udp", 5353, 53}},
		{"8080:80", Port{"tcp", 8080, 80}},
		{"22", Port{"tcp", 22, 22}},
		{"udp:65535", Port{"udp", 65535, 65535}},
	} {
		if got, err := ParsePort(tt.in); err != nil || got != tt.want {
			t.Errorf("ParsePort(%q) = %v, %v, want %v", tt.in, got, err, tt.want)
		}
	}
}
