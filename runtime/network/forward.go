package network

import "net/netip"

// The chains of a container's forwards table: prerouting for what comes
// from elsewhere, output for what the host itself sends to one of its
// addresses.
const (
	chainPrerouting = "prerouting"
	chainOutput     = "output"
)

// forward is one DNAT rule: in Chain, traffic of Proto to Port on one of
// the host's own addresses (never a loopback one: a reply to 127.0.0.1
// could not come back over the veth) goes to To.
type forward struct {
	Chain string
	Proto string
	Port  uint16
	To    netip.AddrPort
}

// forwards are the rules of p's table: each port to each target address,
// in both chains.
func (p *Plan) forwards() []forward {
	var out []forward
	for _, chain := range []string{chainPrerouting, chainOutput} {
		for _, port := range p.Ports {
			for _, t := range p.Targets {
				out = append(out, forward{Chain: chain, Proto: port.Proto, Port: port.Host, To: netip.AddrPortFrom(t, port.Container)})
			}
		}
	}
	return out
}
