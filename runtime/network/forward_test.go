package network

import (
	"net/netip"
	"reflect"
	"testing"
)

func TestForwards(t *testing.T) {
	p := &Plan{Ports: []Port{{"tcp", 8080, 80}, {"udp", 5353, 53}}, Targets: addrs("10.0.0.2", "fc00::2")}
	ap := netip.MustParseAddrPort
	want := []forward{
		{chainPrerouting, "tcp", 8080, ap("10.0.0.2:80")},
		{chainPrerouting, "tcp", 8080, ap("[fc00::2]:80")},
		{chainPrerouting, "udp", 5353, ap("10.0.0.2:53")},
		{chainPrerouting, "udp", 5353, ap("[fc00::2]:53")},
		{chainOutput, "tcp", 8080, ap("10.0.0.2:80")},
		{chainOutput, "tcp", 8080, ap("[fc00::2]:80")},
		{chainOutput, "udp", 5353, ap("10.0.0.2:53")},
		{chainOutput, "udp", 5353, ap("[fc00::2]:53")},
	}
	if got := p.forwards(); !reflect.DeepEqual(got, want) {
		t.Errorf("forwards() = %v, want %v", got, want)
	}
}
