package main

import (
	"fmt"
	"maps"
	"slices"
	"strings"

	"github.com/spf13/pflag"

	"github.com/containerctl/containerctl/runtime/network"
)

// registerNetwork adds the private network's flags, with systemd-nspawn's
// names; each but --network-namespace-path implies --private-network.
func (f *specFlags) registerNetwork(fl *pflag.FlagSet) {
	n := &f.net
	fl.BoolVarP(&n.Veth, "network-veth", "n", false, "a veth pair: ve-NAME on the host, host0 in the container (implies --private-network)")
	fl.StringVar(&n.VethName, "network-veth-name", "", "the container side's name (default host0)")
	fl.StringVar(&n.Bridge, "network-bridge", "", "a veth whose host side, vb-NAME, is enslaved to this bridge")
	fl.StringVar(&n.HostAddress, "host-address", "", "the veth's host-side IPv4 address, ADDRESS[/PREFIX] (the container's default route; on a bridge, only that)")
	fl.StringVar(&n.LocalAddress, "local-address", "", "the container's IPv4 address on the veth, ADDRESS[/PREFIX]")
	fl.StringVar(&n.HostAddress6, "host-address6", "", "the veth's host-side IPv6 address, ADDRESS[/PREFIX]")
	fl.StringVar(&n.LocalAddress6, "local-address6", "", "the container's IPv6 address on the veth, ADDRESS[/PREFIX]")
	fl.StringArrayVar(&n.Gateways, "gateway", nil, "the container's default route instead of the host address (repeatable: one IPv4, one IPv6)")
	fl.StringArrayVarP(&n.Ports, "port", "p", nil, "forward a host port to the container: [tcp:|udp:]HOSTPORT[:CONTAINERPORT] (repeatable)")
	fl.StringArrayVar(&n.Interfaces, "network-interface", nil, "move a host interface into the container, and back when it stops (repeatable)")
	fl.StringArrayVar(&n.MACVLANs, "network-macvlan", nil, "a macvlan link mv-IF on host interface IF, in the container (repeatable)")
	fl.StringArrayVar(&n.IPVLANs, "network-ipvlan", nil, "an ipvlan link iv-IF on host interface IF, in the container (repeatable)")
	fl.StringArrayVar(&n.ExtraVeths, "network-veth-extra", nil, "another veth pair, HOSTNAME[:CONTAINERNAME], without addresses (repeatable)")
	fl.StringVar(&f.o.netnsPath, "network-namespace-path", "", "join this network namespace (a file such as /run/netns/NAME) instead of a new one")
}

// impliedNetwork applies what the network flags imply: a veth for a
// bridge, addresses or a veth name, and a private network for any of them.
func (f *specFlags) impliedNetwork() {
	n := &f.net
	if n.Bridge != "" || n.VethName != "" || n.HostAddress != "" || n.LocalAddress != "" ||
		n.HostAddress6 != "" || n.LocalAddress6 != "" || len(n.Gateways) > 0 {
		n.Veth = true
	}
	if !n.Empty() {
		f.o.privateNetwork = true
	}
}

// printNetwork adds a container's network to status: the host's links
// and tables it made, the interfaces moved in, the container's addresses.
func printNetwork(r *network.Record) {
	if r == nil {
		return
	}
	if len(r.Links) > 0 {
		fmt.Printf("  host links:     %s\n", strings.Join(r.Links, " "))
	}
	if len(r.Moved) > 0 {
		fmt.Printf("  moved in:       %s\n", strings.Join(r.Moved, " "))
	}
	for _, link := range slices.Sorted(maps.Keys(r.Addresses)) {
		fmt.Printf("  address:        %s on %s\n", strings.Join(r.Addresses[link], " "), link)
	}
	if r.Table != "" {
		fmt.Printf("  port forwards:  nftables table inet %s\n", r.Table)
	}
}
