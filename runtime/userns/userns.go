// Package userns gives a container a user namespace of its own: the ID
// range it maps (an explicit one, the host's own, or one picked for the
// container's name and locked for its life), and the idmapped mounts that
// keep the files on disk as they are while the guest sees them owned by
// its own root.
package userns

import (
	"bufio"
	"bytes"
	"crypto/sha256"
	"encoding/binary"
	"fmt"
	"strconv"
	"strings"
)

// Mode is how the container's IDs map to the host's.
type Mode string

const (
	// No gives the container the host's users: its root is the host's.
	No Mode = "no"
	// Identity maps 0-65535 to themselves: a user namespace, with the
	// host's IDs.
	Identity Mode = "identity"
	// Pick maps 0-65535 to a free range of the host's, stable for the
	// container's name.
	Pick Mode = "pick"
	// Fixed maps 0-Count-1 to an explicit range.
	Fixed Mode = "fixed"
)

// Ownership is how the root's files come to be owned by the range.
type Ownership string

const (
	// Map idmaps the root and every bind, so that the files on disk keep
	// their IDs; a filesystem that cannot be idmapped refuses the start.
	Map Ownership = "map"
	// Chown shifts the root's owners into the range once (recorded in the
	// root directory's owner, as systemd-nspawn does) where the root
	// cannot be idmapped; binds that cannot be idmapped are bound as they
	// are, their files owned by nobody inside.
	Chown Ownership = "chown"
)

// Size is the range a container gets by default: 16-bit IDs, as
// systemd-nspawn and systemd's own containers expect.
const Size = 0x10000

// Range is Count host IDs from Base, which the container sees from 0.
type Range struct {
	Base  uint32 `json:"base"`
	Count uint32 `json:"count"`
}

func (r Range) String() string { return fmt.Sprintf("%d:%d", r.Base, r.Count) }

// End is the first host ID after the range.
func (r Range) End() uint64 { return uint64(r.Base) + uint64(r.Count) }

// Overlaps reports whether the two ranges share an ID.
func (r Range) Overlaps(o Range) bool {
	return uint64(r.Base) < o.End() && uint64(o.Base) < r.End()
}

// Users is a container's user namespace as the plan carries it. Range is
// set at compile time for Identity and Fixed, and by the start for Pick.
type Users struct {
	Mode      Mode      `json:"mode"`
	Range     Range     `json:"range"`
	Ownership Ownership `json:"ownership"`
}

// Parse reads a --private-users value: no, identity, pick or BASE:COUNT
// (BASE alone means a 65536-ID range). It returns nil for no.
func Parse(s string) (*Users, error) {
	u := &Users{Ownership: Map}
	switch s {
	case "", "no", "false", "0":
		return nil, nil
	case "identity":
		u.Mode, u.Range = Identity, Range{0, Size}
		return u, nil
	case "pick", "yes", "true", "1":
		u.Mode = Pick
		return u, nil
	}
	base, count, hasCount := strings.Cut(s, ":")
	b, err := strconv.ParseUint(base, 10, 32)
	if err != nil {
		return nil, fmt.Errorf("%w: %q: want no, identity, pick or BASE[:COUNT]", ErrInvalid, s)
	}
	c := uint64(Size)
	if hasCount {
		if c, err = strconv.ParseUint(count, 10, 32); err != nil || c == 0 {
			return nil, fmt.Errorf("%w: %q: COUNT must be a positive number", ErrInvalid, s)
		}
	}
	r := Range{uint32(b), uint32(c)}
	switch {
	case r.End() > 1<<32-1:
		// (uid_t)-1 is no ID.
		return nil, fmt.Errorf("%w: %q: the range goes past 4294967294", ErrInvalid, s)
	case r.Base == 0:
		return nil, fmt.Errorf("%w: %q: a range from 0 maps the host's root; say identity for that", ErrInvalid, s)
	}
	u.Mode, u.Range = Fixed, r
	return u, nil
}

// ParseOwnership reads a --private-users-ownership value: map (idmapped
// mounts, the default) or chown.
func ParseOwnership(s string) (Ownership, error) {
	switch Ownership(s) {
	case "", Map:
		return Map, nil
	case Chown, "auto":
		// nspawn's auto is what Chown does: idmap first.
		return Chown, nil
	}
	return "", fmt.Errorf("%w: ownership %q: want map or chown", ErrInvalid, s)
}

// Picking ranges from pickFirst to pickLast (exclusive), 64K-aligned, as
// systemd-nspawn does: clear of the IDs a host's own users take and of
// the 16-bit ones, below the 32-bit ones systemd keeps for itself.
const (
	pickFirst = 0x00080000
	pickLast  = 0x6FFF0000
	pickSlots = (pickLast - pickFirst) / Size
)

// Candidates are the bases a container named name tries, in order: the
// first is a hash of the name, the rest follow it, so that a name gets
// the same range each time it is free.
func Candidates(name string, n int) []uint32 {
	sum := sha256.Sum256([]byte("containerctl-userns:" + name))
	h := binary.BigEndian.Uint64(sum[:8]) % pickSlots
	out := make([]uint32, 0, n)
	for i := 0; i < n && i < pickSlots; i++ {
		out = append(out, uint32(pickFirst+((h+uint64(i))%pickSlots)*Size))
	}
	return out
}

// HostIDs are the numeric IDs (third field) of an /etc/passwd or
// /etc/group file.
func HostIDs(file []byte) []uint32 {
	var ids []uint32
	sc := bufio.NewScanner(bytes.NewReader(file))
	for sc.Scan() {
		f := strings.Split(sc.Text(), ":")
		if len(f) < 3 {
			continue
		}
		if id, err := strconv.ParseUint(f[2], 10, 32); err == nil {
			ids = append(ids, uint32(id))
		}
	}
	return ids
}

// Holds reports an ID of ids that lies in r.
func Holds(r Range, ids []uint32) (uint32, bool) {
	for _, id := range ids {
		if uint64(id) >= uint64(r.Base) && uint64(id) < r.End() {
			return id, true
		}
	}
	return 0, false
}

// Blocks are the 64K-aligned blocks a range touches, each of which a
// running container locks: ranges that overlap share a block (and two in
// one block are kept apart even where they do not overlap).
func Blocks(r Range) []uint32 {
	var out []uint32
	for b := uint64(r.Base) &^ (Size - 1); b < r.End(); b += Size {
		out = append(out, uint32(b))
	}
	return out
}
