// Package network gives a container a network of its own, from the
// supervisor, before the container's init runs: a veth pair (host side
// ve-NAME, or vb-NAME on a bridge; container side host0), addresses and
// routes on both sides, macvlan and ipvlan links, interfaces moved in, and
// port forwards in an nftables table of containerctl's own.
//
// Everything is done through netlink (vishvananda/netlink for links,
// addresses and routes; google/nftables for the forwards), never by
// running ip, iptables or nft.
//
// Compile checks a Config and turns it into a Plan without touching the
// host (config.go, names.go, ports.go); Check looks at the host, Setup
// executes the plan into the container's namespace and Remove takes away
// what a Record names (*_linux.go).
package network
