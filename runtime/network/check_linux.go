package network

import (
	"errors"
	"fmt"

	"github.com/vishvananda/netlink"
)

// Check looks at the host (the caller's network namespace) for what p
// needs, creating nothing: the bridge and the interfaces exist, and the
// host-side names are free, or held by links that a dead supervisor of the
// same container left, which Setup removes.
func Check(p *Plan) error {
	h, err := netlink.NewHandle()
	if err != nil {
		return fmt.Errorf("netlink: %w", err)
	}
	defer h.Close()
	for _, v := range p.Veths {
		if v.Bridge != "" {
			if err := checkKind(h, v.Bridge, "bridge"); err != nil {
				return err
			}
		}
		for _, n := range []string{v.Host, v.AltName} {
			if err := checkFree(h, p.Container, n); err != nil {
				return err
			}
		}
	}
	for _, m := range p.Moves {
		if err := checkKind(h, m, ""); err != nil {
			return err
		}
	}
	for _, s := range p.Subs {
		if err := checkKind(h, s.Parent, ""); err != nil {
			return fmt.Errorf("%s parent: %w", s.Kind, err)
		}
	}
	return nil
}

// checkKind checks that the link name exists on the host, and is of kind
// ("" for any).
func checkKind(h *netlink.Handle, name, kind string) error {
	l, err := h.LinkByName(name)
	if isNotFound(err) {
		what := "interface"
		if kind != "" {
			what = kind
		}
		return fmt.Errorf("%w: %s %s: no such link", ErrHost, what, name)
	}
	if err != nil {
		return fmt.Errorf("link %s: %w", name, err)
	}
	if kind != "" && l.Type() != kind {
		return fmt.Errorf("%w: %s is a %s link, not a %s", ErrHost, name, l.Type(), kind)
	}
	return nil
}

// checkFree refuses a name another link holds (by name or altname),
// unless that link carries the container's marker: a dead supervisor's.
func checkFree(h *netlink.Handle, container, name string) error {
	if name == "" {
		return nil
	}
	l, err := h.LinkByName(name)
	if isNotFound(err) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("link %s: %w", name, err)
	}
	if l.Attrs().Alias == Marker(container) {
		return nil
	}
	return fmt.Errorf("%w: link %s exists on the host and is not this container's", ErrHost, name)
}

func isNotFound(err error) bool {
	var nf netlink.LinkNotFoundError
	return errors.As(err, &nf)
}
