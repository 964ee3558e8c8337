package security

import (
	"fmt"

	"github.com/moby/sys/capability"
)

// Apply limits the bounding set to c.Bounding (up to the kernel's
// cap_last_cap) and empties the inheritable and ambient sets: a capability
// in the inheritable set would survive exec for root even outside the
// bounding set. The permitted and effective sets are left for the exec,
// which makes them the bounding set. A nil c changes nothing.
func (c *Capabilities) Apply() error {
	if c == nil {
		return nil
	}
	caps, err := capability.NewPid2(0)
	if err != nil {
		return fmt.Errorf("read capabilities: %w", err)
	}
	if err := caps.Load(); err != nil {
		return fmt.Errorf("read capabilities: %w", err)
	}
	// Without CAP_SETPCAP the library would leave the bounding set as it
	// is, without an error.
	if !caps.Get(capability.EFFECTIVE, capability.CAP_SETPCAP) {
		return fmt.Errorf("drop capabilities from the bounding set: CAP_SETPCAP is not effective")
	}
	caps.Clear(capability.BOUNDING | capability.INHERITABLE | capability.AMBIENT)
	for _, n := range c.Bounding {
		caps.Set(capability.BOUNDING, capability.Cap(n))
	}
	if err := caps.Apply(capability.BOUNDS | capability.CAPS | capability.AMBS); err != nil {
		return fmt.Errorf("apply capabilities (bounding %v): %w", c.Bounding, err)
	}
	return nil
}
