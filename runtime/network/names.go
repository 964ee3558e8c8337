package network

import (
	"crypto/sha256"
	"encoding/hex"
	"net"
)

// MaxLinkName is the longest link name the kernel takes (IFNAMSIZ-1).
const MaxLinkName = 15

// Prefixes of the host-side link names, systemd-nspawn's: the names
// systemd-networkd's 80-container-ve.network and 80-container-vb.network
// match, and NixOS's firewall rules (ve-+).
const (
	prefixVeth    = "ve-"
	prefixBridged = "vb-"
	prefixMACVLAN = "mv-"
	prefixIPVLAN  = "iv-"
)

// LinkName returns the link name for prefix+name: that name when it fits in
// MaxLinkName characters; otherwise a short name made of the start of name
// and a hash of all of it, stable across runs and unique for names that
// share their first characters, and the full name to give the link as an
// altname (alt is "" when the name fits). nspawn cuts the name, so that
// two long names that share their start collide (nixpkgs #38509).
func LinkName(prefix, name string) (short, alt string) {
	full := prefix + name
	if len(full) <= MaxLinkName {
		return full, ""
	}
	sum := sha256.Sum256([]byte(full))
	hash := hex.EncodeToString(sum[:])[:8]
	keep := MaxLinkName - len(prefix) - len(hash)
	return prefix + name[:keep] + hash, full
}

// MAC derives a stable, locally administered unicast MAC address from a
// container name and what the link is to it (its role: "host0", "ve-", an
// extra veth's name), so that the guest's DHCP leases and neighbours stay
// the same across restarts, as nspawn's do.
func MAC(name, role string) net.HardwareAddr {
	sum := sha256.Sum256([]byte("containerctl\x00" + name + "\x00" + role))
	mac := net.HardwareAddr(sum[:6])
	mac[0] = mac[0]&^0x01 | 0x02 // unicast, locally administered
	return mac
}

// Marker is the alias (IFLA_IFALIAS) the host-side links of container name
// carry: it tells a link a dead supervisor left, which the next start of
// the same name removes, from one that belongs to someone else, which is
// never touched.
func Marker(name string) string { return "containerctl:" + name }
