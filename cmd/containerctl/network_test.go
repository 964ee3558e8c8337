package main

import (
	"testing"

	"github.com/spf13/cobra"
)

// TestImpliedNetwork: as with nspawn, the network flags imply a private
// network, and the veth's settings a veth.
func TestImpliedNetwork(t *testing.T) {
	for _, tt := range []struct {
		args          []string
		veth, private bool
	}{
		{nil, false, false},
		{[]string{"--private-network"}, false, true},
		{[]string{"--local-address", "10.0.0.2/24"}, true, true},
		{[]string{"--network-bridge", "br0"}, true, true},
		{[]string{"-n"}, true, true},
		{[]string{"--network-interface", "eth1"}, false, true},
		{[]string{"--port", "80"}, false, true},
		{[]string{"--network-namespace-path", "/run/netns/blue"}, false, false},
	} {
		var f specFlags
		cmd := &cobra.Command{Use: "run"}
		f.register(cmd)
		if err := cmd.ParseFlags(tt.args); err != nil {
			t.Fatal(err)
		}
		f.impliedNetwork()
		if f.net.Veth != tt.veth || f.o.privateNetwork != tt.private {
			t.Errorf("impliedNetwork(%q) = veth %v, private network %v; want %v, %v", tt.args, f.net.Veth, f.o.privateNetwork, tt.veth, tt.private)
		}
	}
}
