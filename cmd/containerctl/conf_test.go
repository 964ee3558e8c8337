package main

import (
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/spf13/cobra"
)

func confCommand(t *testing.T, conf string, args ...string) (*specFlags, error) {
	t.Helper()
	dir := t.TempDir()
	if conf != "" {
		if err := os.WriteFile(filepath.Join(dir, "foo.conf"), []byte(conf), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	var f specFlags
	cmd := &cobra.Command{Use: "run"}
	f.register(cmd)
	if err := cmd.ParseFlags(args); err != nil {
		t.Fatal(err)
	}
	return &f, applyConf(cmd.Flags(), dir, "foo")
}

func TestApplyConf(t *testing.T) {
	conf := "# NixOS's container settings\nSYSTEM_PATH=/nix/store/abc-nixos-system-foo\nPRIVATE_NETWORK=1\nHOST_ADDRESS=\n" +
		"EXTRA_FLAGS=\"--bind=/srv:/srv --bind /data:/data --memory-max 512M --boot\"\n"
	f, err := confCommand(t, conf, "--memory-max", "1G")
	if err != nil {
		t.Fatal(err)
	}
	if f.o.profile != "/nix/store/abc-nixos-system-foo" || !f.o.privateNetwork || !f.o.boot {
		t.Errorf("applyConf: path %q, private network %v, boot %v; want the file's", f.o.profile, f.o.privateNetwork, f.o.boot)
	}
	if !slices.Equal(f.o.binds, []string{"/srv:/srv", "/data:/data"}) {
		t.Errorf("applyConf: binds %q, want both of EXTRA_FLAGS", f.o.binds)
	}
	if f.o.limits.MemoryMax != "1G" {
		t.Errorf("applyConf: --memory-max %q, want the command line's 1G over the file's", f.o.limits.MemoryMax)
	}
	if f, err := confCommand(t, ""); err != nil || f.o.profile != "" {
		t.Errorf("applyConf without a file = %v, path %q; want nothing set", err, f.o.profile)
	}
}

// TestApplyConfNetwork: NixOS's network keys set run's flags as its
// container@ script sets nspawn's, and the guest's side of the veth is
// eth0, as NixOS's guests expect.
func TestApplyConfNetwork(t *testing.T) {
	conf := "PRIVATE_NETWORK=1\nHOST_ADDRESS=10.233.1.1\nLOCAL_ADDRESS=10.233.1.2\nHOST_ADDRESS6=fc00::1\nLOCAL_ADDRESS6=fc00::2\n" +
		"HOST_BRIDGE=\nHOST_PORT=tcp:8080:80,udp:5353:53\nINTERFACES=eth1 eth2\nMACVLANS=eth3\n"
	f, err := confCommand(t, conf)
	if err != nil {
		t.Fatal(err)
	}
	n := f.net
	if n.HostAddress != "10.233.1.1" || n.LocalAddress != "10.233.1.2" || n.HostAddress6 != "fc00::1" || n.LocalAddress6 != "fc00::2" ||
		n.Bridge != "" || n.VethName != "eth0" {
		t.Errorf("applyConf network = %+v, want the file's addresses, no bridge, veth name eth0", n)
	}
	if !slices.Equal(n.Ports, []string{"tcp:8080:80", "udp:5353:53"}) || !slices.Equal(n.Interfaces, []string{"eth1", "eth2"}) || !slices.Equal(n.MACVLANs, []string{"eth3"}) {
		t.Errorf("applyConf network: ports %q, interfaces %q, macvlans %q; want the file's lists", n.Ports, n.Interfaces, n.MACVLANs)
	}
	f, err = confCommand(t, "HOST_BRIDGE=br0\nLOCAL_ADDRESS=10.0.0.5/24\n", "--network-veth-name", "host0", "--port", "80")
	if err != nil || f.net.Bridge != "br0" || f.net.VethName != "host0" || !slices.Equal(f.net.Ports, []string{"80"}) {
		t.Errorf("applyConf with flags = %v, %+v; want the bridge from the file and the command line's veth name and ports", err, f.net)
	}
}

func TestApplyConfErrors(t *testing.T) {
	for _, tt := range []struct{ conf, want string }{
		{"BOGUS=1\n", "foo.conf:1: BOGUS: unknown key"},
		{"\n\nnot a line\n", "foo.conf:3: want KEY=value"},
		{"PRIVATE_NETWORK=maybe\n", `foo.conf:1: PRIVATE_NETWORK: "maybe": want 0 or 1`},
		{"EXTRA_FLAGS=--no-such-flag\n", "not a flag of run"},
		{"EXTRA_FLAGS=--memory-max\n", "no value"},
	} {
		_, err := confCommand(t, tt.conf)
		if err == nil || !strings.Contains(err.Error(), tt.want) || strings.Contains(err.Error(), "\n") {
			t.Errorf("applyConf(%q) = %v, want one line containing %q", tt.conf, err, tt.want)
		}
	}
}

func TestApplyConfPrivateUsers(t *testing.T) {
	for _, tt := range []struct {
		conf string
		args []string
		want string
	}{
		{"PRIVATE_USERS=pick\n", nil, "pick"},
		{"PRIVATE_USERS=524288:65536\n", nil, "524288:65536"},
		{"PRIVATE_USERS=\n", nil, "no"},
		{"PRIVATE_USERS=pick\n", []string{"--private-users=no"}, "no"},
	} {
		f, err := confCommand(t, tt.conf, tt.args...)
		if err != nil || f.o.privateUsers != tt.want {
			t.Errorf("applyConf(%q, %q) = %v, --private-users %q; want %q", tt.conf, tt.args, err, f.o.privateUsers, tt.want)
		}
	}
}

func TestApplyConfPodmanNames(t *testing.T) {
	var f specFlags
	cmd := &cobra.Command{Use: "run"}
	f.register(cmd)
	for _, name := range podmanConfs {
		err := applyConf(cmd.Flags(), defaultConfigDir, name)
		if err == nil || !strings.Contains(err.Error(), "podman's configuration") {
			t.Errorf("applyConf(%s, %s) = %v, want a refusal naming podman's file", defaultConfigDir, name, err)
		}
	}
	if err := applyConf(cmd.Flags(), t.TempDir(), "registries"); err != nil {
		t.Errorf("applyConf(another dir, registries) = %v, want nil", err)
	}
}

func TestConfFileRefusesPodmanNames(t *testing.T) {
	if _, err := confFile(defaultConfigDir, "storage"); err == nil {
		t.Errorf("confFile(%s, storage) = nil error, want podman's file refused", defaultConfigDir)
	}
	if got, err := confFile(defaultConfigDir, "web"); err != nil || got != defaultConfigDir+"/web.conf" {
		t.Errorf("confFile(%s, web) = %q, %v; want %s/web.conf", defaultConfigDir, got, err, defaultConfigDir)
	}
}
