package network

import (
	"bytes"
	"net/netip"
	"testing"

	"github.com/google/nftables/expr"
	"golang.org/x/sys/unix"
)

// TestRuleExprs: each forward matches its IP version, protocol and port on
// a local, non-loopback address, and DNATs to the container's address and
// port.
func TestRuleExprs(t *testing.T) {
	for _, tt := range []struct {
		f        forward
		nfproto  byte
		proto    byte
		loopback []byte
	}{
		{forward{chainOutput, "tcp", 8080, netip.MustParseAddrPort("10.0.0.2:80")}, unix.NFPROTO_IPV4, unix.IPPROTO_TCP, []byte{127, 0, 0, 0}},
		{forward{chainPrerouting, "udp", 5353, netip.MustParseAddrPort("[fc00::2]:53")}, unix.NFPROTO_IPV6, unix.IPPROTO_UDP, netip.IPv6Loopback().AsSlice()},
	} {
		e := ruleExprs(tt.f)
		cmp := func(i int) []byte { return e[i].(*expr.Cmp).Data }
		if !bytes.Equal(cmp(1), []byte{tt.nfproto}) || !bytes.Equal(cmp(3), []byte{tt.proto}) ||
			!bytes.Equal(cmp(5), []byte{byte(tt.f.Port >> 8), byte(tt.f.Port)}) {
			t.Errorf("ruleExprs(%v) matches nfproto %v, l4proto %v, port %v; want %d, %d, %d", tt.f, cmp(1), cmp(3), cmp(5), tt.nfproto, tt.proto, tt.f.Port)
		}
		if c := e[len(e)-4].(*expr.Cmp); c.Op != expr.CmpOpNeq || !bytes.Equal(c.Data, tt.loopback) {
			t.Errorf("ruleExprs(%v) last match = %v %v, want != %v (loopback)", tt.f, c.Op, c.Data, tt.loopback)
		}
		addr, port := e[len(e)-3].(*expr.Immediate), e[len(e)-2].(*expr.Immediate)
		nat := e[len(e)-1].(*expr.NAT)
		if !bytes.Equal(addr.Data, tt.f.To.Addr().AsSlice()) || !bytes.Equal(port.Data, []byte{byte(tt.f.To.Port() >> 8), byte(tt.f.To.Port())}) ||
			nat.Type != expr.NATTypeDestNAT || nat.Family != uint32(tt.nfproto) || !nat.Specified {
			t.Errorf("ruleExprs(%v) = dnat to %v port %v (%+v), want %v", tt.f, addr.Data, port.Data, nat, tt.f.To)
		}
	}
}
