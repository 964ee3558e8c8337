package network

import (
	"errors"
	"fmt"
	"net"

	"github.com/google/nftables"
	"github.com/google/nftables/binaryutil"
	"github.com/google/nftables/expr"
	"golang.org/x/sys/unix"
)

// Port forwards are nftables rules, sent through netlink with
// google/nftables, a pure-Go library that the Kubernetes and Tailscale
// ecosystems maintain: nothing runs nft or iptables, and the rules go in
// in one transaction. Each container has a table of its own in the inet
// family (both IP versions), containerctl-NAME, so that removing its
// forwards is one step that cannot touch another container's or the
// host's rules. No sysctl is changed: forwards from the host itself need
// none, and forwards from elsewhere need the host's own forwarding policy
// (net.ipv4.ip_forward), which stays the administrator's.

// addForwards adds p's table with its two chains and their rules.
func addForwards(p *Plan) error {
	if p.Table == "" {
		return nil
	}
	c, err := nftables.New()
	if err != nil {
		return err
	}
	t := c.AddTable(&nftables.Table{Family: nftables.TableFamilyINet, Name: p.Table})
	chains := map[string]*nftables.Chain{}
	for name, hook := range map[string]*nftables.ChainHook{chainPrerouting: nftables.ChainHookPrerouting, chainOutput: nftables.ChainHookOutput} {
		chains[name] = c.AddChain(&nftables.Chain{
			Name: name, Table: t, Type: nftables.ChainTypeNAT,
			Hooknum: hook, Priority: nftables.ChainPriorityNATDest,
		})
	}
	for _, f := range p.forwards() {
		c.AddRule(&nftables.Rule{Table: t, Chain: chains[f.Chain], Exprs: ruleExprs(f)})
	}
	if err := c.Flush(); err != nil {
		return fmt.Errorf("nftables table inet %s: %w", p.Table, err)
	}
	return nil
}

// ruleExprs is f as nft would write it, for IPv4:
//
//	meta nfproto ipv4 meta l4proto tcp th dport 8080 fib daddr type local
//	ip daddr & 255.0.0.0 != 127.0.0.0 dnat ip to 10.0.0.2:80
func ruleExprs(f forward) []expr.Any {
	v4 := f.To.Addr().Is4()
	nfproto, proto := byte(unix.NFPROTO_IPV6), byte(unix.IPPROTO_TCP)
	if v4 {
		nfproto = unix.NFPROTO_IPV4
	}
	if f.Proto == "udp" {
		proto = unix.IPPROTO_UDP
	}
	e := []expr.Any{
		&expr.Meta{Key: expr.MetaKeyNFPROTO, Register: 1},
		&expr.Cmp{Op: expr.CmpOpEq, Register: 1, Data: []byte{nfproto}},
		&expr.Meta{Key: expr.MetaKeyL4PROTO, Register: 1},
		&expr.Cmp{Op: expr.CmpOpEq, Register: 1, Data: []byte{proto}},
		&expr.Payload{DestRegister: 1, Base: expr.PayloadBaseTransportHeader, Offset: 2, Len: 2},
		&expr.Cmp{Op: expr.CmpOpEq, Register: 1, Data: binaryutil.BigEndian.PutUint16(f.Port)},
		&expr.Fib{Register: 1, FlagDADDR: true, ResultADDRTYPE: true},
		&expr.Cmp{Op: expr.CmpOpEq, Register: 1, Data: binaryutil.NativeEndian.PutUint32(unix.RTN_LOCAL)},
	}
	if v4 {
		e = append(e,
			&expr.Payload{DestRegister: 1, Base: expr.PayloadBaseNetworkHeader, Offset: 16, Len: 4},
			&expr.Bitwise{SourceRegister: 1, DestRegister: 1, Len: 4, Mask: []byte{255, 0, 0, 0}, Xor: []byte{0, 0, 0, 0}},
			&expr.Cmp{Op: expr.CmpOpNeq, Register: 1, Data: []byte{127, 0, 0, 0}})
	} else {
		e = append(e,
			&expr.Payload{DestRegister: 1, Base: expr.PayloadBaseNetworkHeader, Offset: 24, Len: 16},
			&expr.Cmp{Op: expr.CmpOpNeq, Register: 1, Data: net.IPv6loopback})
	}
	return append(e,
		&expr.Immediate{Register: 1, Data: f.To.Addr().AsSlice()},
		&expr.Immediate{Register: 2, Data: binaryutil.BigEndian.PutUint16(f.To.Port())},
		&expr.NAT{Type: expr.NATTypeDestNAT, Family: uint32(nfproto), RegAddrMin: 1, RegProtoMin: 2, Specified: true})
}

// removeTable deletes the table name of the inet family, if it is there.
func removeTable(name string) error {
	c, err := nftables.New()
	if err != nil {
		return err
	}
	if _, err := c.ListTableOfFamily(name, nftables.TableFamilyINet); err != nil {
		if errors.Is(err, unix.ENOENT) {
			return nil
		}
		return fmt.Errorf("nftables table inet %s: %w", name, err)
	}
	c.DelTable(&nftables.Table{Family: nftables.TableFamilyINet, Name: name})
	if err := c.Flush(); err != nil && !errors.Is(err, unix.ENOENT) {
		return fmt.Errorf("remove nftables table inet %s: %w", name, err)
	}
	return nil
}
