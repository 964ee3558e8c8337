package security

import (
	"fmt"

	"github.com/moby/sys/capability"
)

// ApplyBounding limits the bounding set to c.Bounding (up to the kernel's
// cap_last_cap), while the init is still root with every capability; the
// other sets are ApplySets', once the init has its user. A nil c changes
// nothing.
func (c *Capabilities) ApplyBounding() error {
	if c == nil {
		return nil
	}
	caps, err := loadCaps()
	if err != nil {
		return err
	}
	// Without CAP_SETPCAP the library would leave the bounding set as it
	// is, without an error.
	if !caps.Get(capability.EFFECTIVE, capability.CAP_SETPCAP) {
		return fmt.Errorf("drop capabilities from the bounding set: CAP_SETPCAP is not effective")
	}
	caps.Clear(capability.BOUNDING)
	for _, n := range c.Bounding {
		caps.Set(capability.BOUNDING, capability.Cap(n))
	}
	if err := caps.Apply(capability.BOUNDS); err != nil {
		return fmt.Errorf("apply capabilities (bounding %v): %w", c.Bounding, err)
	}
	return nil
}

// ApplySets sets the effective, permitted and inheritable sets and then
// raises the ambient set, on the calling thread, which execs the init. A
// nil c changes nothing.
func (c *Capabilities) ApplySets() error {
	if c == nil {
		return nil
	}
	caps, err := loadCaps()
	if err != nil {
		return err
	}
	// A capability outside the bounding set (the host's own lacks some
	// where containerctl itself runs confined) cannot be gained: the sets
	// get what the bounding set allows, as a root init's exec would give.
	bounding := func(n int) bool { return caps.Get(capability.BOUNDING, capability.Cap(n)) }
	caps.Clear(capability.CAPS | capability.AMBIENT)
	for _, s := range []struct {
		which capability.CapType
		set   []int
	}{
		{capability.EFFECTIVE, c.Effective}, {capability.PERMITTED, c.Permitted},
		{capability.INHERITABLE, c.Inheritable}, {capability.AMBIENT, c.Ambient},
	} {
		for _, n := range s.set {
			if bounding(n) {
				caps.Set(s.which, capability.Cap(n))
			}
		}
	}
	if err := caps.Apply(capability.CAPS); err != nil {
		return fmt.Errorf("apply capabilities (effective %v, permitted %v, inheritable %v): %w", c.Effective, c.Permitted, c.Inheritable, err)
	}
	if err := caps.Apply(capability.AMBS); err != nil {
		return fmt.Errorf("raise ambient capabilities %v: %w", c.Ambient, err)
	}
	return nil
}

func loadCaps() (capability.Capabilities, error) {
	caps, err := capability.NewPid2(0)
	if err == nil {
		err = caps.Load()
	}
	if err != nil {
		return nil, fmt.Errorf("read capabilities: %w", err)
	}
	return caps, nil
}
