package network

import (
	"errors"
	"fmt"
	"os"

	"github.com/vishvananda/netlink"
	"github.com/vishvananda/netns"
	"golang.org/x/sys/unix"
)

// Remove takes away from the caller's network namespace what r names: the
// interfaces moved in go back from the namespace bound at r.NetNS (while
// it is there), the host-side links that carry the container's marker are
// deleted (a veth's other end goes with it), and the forwards' table. What
// is already gone is skipped; a link of the name without the marker is
// someone else's and left alone.
func Remove(r *Record) error {
	if r == nil {
		return nil
	}
	h, err := netlink.NewHandle()
	if err != nil {
		return fmt.Errorf("netlink: %w", err)
	}
	defer h.Close()
	var errs []error
	if r.NetNS != "" {
		errs = append(errs, releaseNamespace(r.NetNS, r.Moved, r.MovedLinks))
	}
	for _, name := range r.Links {
		l, err := h.LinkByName(name)
		if isNotFound(err) {
			continue
		}
		if err != nil {
			errs = append(errs, fmt.Errorf("link %s: %w", name, err))
			continue
		}
		if l.Attrs().Alias != Marker(r.Container) {
			continue
		}
		if err := h.LinkDel(l); err != nil {
			errs = append(errs, fmt.Errorf("remove link %s: %w", name, err))
		}
	}
	if r.Table != "" {
		errs = append(errs, removeTable(r.Table))
	}
	return errors.Join(errs...)
}

// bindNamespace binds the namespace ns on the file keep, as ip netns add
// does, so that it outlives the container's processes until Remove has
// moved its interfaces back.
func bindNamespace(ns netns.NsHandle, keep string) error {
	f, err := os.OpenFile(keep, os.O_CREATE|os.O_EXCL|os.O_RDONLY|unix.O_CLOEXEC, 0o400)
	if err != nil {
		return fmt.Errorf("keep the network namespace: %w", err)
	}
	f.Close()
	src := fmt.Sprintf("/proc/self/fd/%d", int(ns))
	if err := unix.Mount(src, keep, "", unix.MS_BIND, ""); err != nil {
		os.Remove(keep)
		return fmt.Errorf("keep the network namespace: bind on %s: %w", keep, err)
	}
	return nil
}

// releaseNamespace moves the interfaces back from the namespace bound at
// keep, then unbinds it.
func releaseNamespace(keep string, moved []string, links map[string]MovedLink) error {
	var st unix.Statfs_t
	if err := unix.Statfs(keep, &st); errors.Is(err, os.ErrNotExist) {
		return nil
	} else if err != nil {
		return fmt.Errorf("network namespace at %s: %w", keep, err)
	}
	var errs []error
	if st.Type == unix.NSFS_MAGIC {
		// One try, then the namespace goes whatever it gave: a physical
		// device left in it returns to the host's initial namespace (the
		// kernel's doing), a virtual one goes with it.
		errs = append(errs, asLoss(moveAllBack(keep, moved, links)))
		if err := unix.Unmount(keep, unix.MNT_DETACH); err != nil {
			return fmt.Errorf("unbind the network namespace at %s: %w", keep, err)
		}
	}
	if err := os.Remove(keep); err != nil && !errors.Is(err, os.ErrNotExist) {
		errs = append(errs, err)
	}
	return errors.Join(errs...)
}

// asLoss makes every error err holds a loss (ErrGone): an interface that
// could not be moved back on the one try there is does not come back.
func asLoss(err error) error {
	var out []error
	for _, e := range joined(err) {
		if !errors.Is(e, ErrGone) {
			e = lost{e}
		}
		out = append(out, e)
	}
	return errors.Join(out...)
}

// SplitLost sorts the errors err holds (errors.Join's, at any depth) into
// losses (ErrGone: interfaces that did not come back, to report) and the
// rest (failures of the cleanup).
func SplitLost(err error) (lost, rest []error) {
	for _, e := range joined(err) {
		if errors.Is(e, ErrGone) {
			lost = append(lost, e)
		} else {
			rest = append(rest, e)
		}
	}
	return lost, rest
}

// joined lists the errors an errors.Join holds, at any depth.
func joined(err error) []error {
	if j, ok := err.(interface{ Unwrap() []error }); ok {
		var out []error
		for _, e := range j.Unwrap() {
			out = append(out, joined(e)...)
		}
		return out
	}
	if err == nil {
		return nil
	}
	return []error{err}
}

// lost is an interface that could not be moved back: a loss, as ErrGone.
type lost struct{ err error }

func (l lost) Error() string        { return l.err.Error() + "; it does not come back" }
func (l lost) Unwrap() error        { return l.err }
func (l lost) Is(target error) bool { return target == ErrGone }

func moveAllBack(keep string, moved []string, links map[string]MovedLink) error {
	ns, err := netns.GetFromPath(keep)
	if err != nil {
		return fmt.Errorf("network namespace at %s: %w", keep, err)
	}
	defer ns.Close()
	in, err := netlink.NewHandleAt(ns)
	if err != nil {
		return fmt.Errorf("netlink in the container: %w", err)
	}
	defer in.Close()
	host, err := netns.Get()
	if err != nil {
		return err
	}
	defer host.Close()
	var errs []error
	for _, m := range moved {
		// Without who it was (an older record), one that is not there
		// was moved back already, by a supervisor that then died.
		if err := moveBack(in, m, links[m], host, false); !errors.Is(err, ErrGone) || links[m].Index > 0 {
			// One already back (a supervisor that moved it out
			// before it died) is not an error here.
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}
