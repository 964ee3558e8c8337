package network

import (
	"fmt"
	"strconv"
	"strings"
)

// Port is one forward from the host's Host port to the container's
// Container port, of protocol Proto ("tcp" or "udp").
type Port struct {
	Proto     string `json:"proto"`
	Host      uint16 `json:"host"`
	Container uint16 `json:"container"`
}

func (p Port) String() string { return fmt.Sprintf("%s:%d:%d", p.Proto, p.Host, p.Container) }

// ParsePort reads a forward as nspawn's --port does:
// [PROTO:]HOSTPORT[:CONTAINERPORT], PROTO tcp (the default) or udp, and the
// container's port the host's when not given.
func ParsePort(s string) (Port, error) {
	parts := strings.Split(s, ":")
	p := Port{Proto: "tcp"}
	if len(parts) > 0 && (parts[0] == "tcp" || parts[0] == "udp") {
		p.Proto, parts = parts[0], parts[1:]
	} else if len(parts) == 3 {
		return Port{}, invalid("port %q: protocol %q: want tcp or udp", s, parts[0])
	}
	if len(parts) < 1 || len(parts) > 2 {
		return Port{}, invalid("port %q: want [tcp:|udp:]HOSTPORT[:CONTAINERPORT]", s)
	}
	var err error
	if p.Host, err = parsePortNumber(parts[0]); err != nil {
		return Port{}, invalid("port %q: %s", s, err)
	}
	p.Container = p.Host
	if len(parts) == 2 {
		if p.Container, err = parsePortNumber(parts[1]); err != nil {
			return Port{}, invalid("port %q: %s", s, err)
		}
	}
	return p, nil
}

func parsePortNumber(s string) (uint16, error) {
	n, err := strconv.ParseUint(s, 10, 16)
	if err != nil || n == 0 {
		return 0, fmt.Errorf("%q is not a port number from 1 to 65535", s)
	}
	return uint16(n), nil
}

// TablePrefix starts the name of each container's nftables table,
// "containerctl-NAME" in the inet family: a table of each container's own
// is removed in one step and never races another container's start.
const TablePrefix = "containerctl-"

// compilePorts forwards each port to the container's local addresses, of
// both IP versions when it has both.
func (p *Plan) compilePorts(name string, ports []string) error {
	if len(ports) == 0 {
		return nil
	}
	if len(p.Veths) == 0 || len(p.Veths[0].LocalAddrs) == 0 {
		return invalid("port forwards need a veth with a local address to forward to")
	}
	seen := map[string]string{}
	for _, s := range ports {
		port, err := ParsePort(s)
		if err != nil {
			return err
		}
		key := fmt.Sprintf("%s:%d", port.Proto, port.Host)
		if prev, ok := seen[key]; ok {
			return invalid("port %q: host port %s is forwarded by %q already", s, key, prev)
		}
		seen[key] = s
		p.Ports = append(p.Ports, port)
	}
	for _, a := range p.Veths[0].LocalAddrs {
		p.Targets = append(p.Targets, a.Addr())
	}
	p.Table = TablePrefix + name
	return nil
}

// Record is what a container's network made on the host, kept in its
// state record so that whoever cleans up after a supervisor that died
// (the reaper, the next start of the name) removes it.
type Record struct {
	Container string `json:"container"`
	// Links are the host-side links made, each with the alias
	// Marker(Container); one without it is never removed.
	Links []string `json:"links,omitempty"`
	Table string   `json:"table,omitempty"`
	// Moved are the host interfaces moved into the container, to move
	// back; NetNS, when set, is a bind of the container's network
	// namespace that keeps them alive until they are.
	Moved []string `json:"moved,omitempty"`
	NetNS string   `json:"netns,omitempty"`
	// MovedLinks say who each interface moved in is in the container's
	// namespace (MovedLink), by its host name, once moved: to find it
	// again however the guest renamed it, and to know it from a link the
	// guest made in its place.
	MovedLinks map[string]MovedLink `json:"moved_links,omitempty"`
	// Addresses are the container's addresses, by link, for status.
	Addresses map[string][]string `json:"addresses,omitempty"`
}

// Record returns what p makes on the host, written before it is made.
func (p *Plan) Record() *Record {
	r := &Record{Container: p.Container, Table: p.Table, Moved: p.Moves}
	for _, v := range p.Veths {
		r.Links = append(r.Links, v.Host)
		if v.AltName != "" {
			// A leftover may hold the altname alone.
			r.Links = append(r.Links, v.AltName)
		}
		for _, a := range v.LocalAddrs {
			if r.Addresses == nil {
				r.Addresses = map[string][]string{}
			}
			r.Addresses[v.Peer] = append(r.Addresses[v.Peer], a.String())
		}
	}
	return r
}
