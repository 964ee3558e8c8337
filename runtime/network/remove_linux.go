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
		err := moveAllBack(keep, moved, links)
		if failed(err) {
			// Kept bound, with what is in it, for the next try.
			return err
		}
		errs = append(errs, err) // losses (ErrGone) alone
		if err := unix.Unmount(keep, unix.MNT_DETACH); err != nil {
			return fmt.Errorf("unbind the network namespace at %s: %w", keep, err)
		}
	}
	if err := os.Remove(keep); err != nil && !errors.Is(err, os.ErrNotExist) {
		errs = append(errs, err)
	}
	return errors.Join(errs...)
}

// failed says whether err holds more than losses (ErrGone).
func failed(err error) bool {
	if j, ok := err.(interface{ Unwrap() []error }); ok {
		for _, e := range j.Unwrap() {
			if failed(e) {
				return true
			}
		}
		return false
	}
	return err != nil && !errors.Is(err, ErrGone)
}

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
		if err := moveBack(in, m, links[m], host); !errors.Is(err, ErrGone) || links[m].Index > 0 {
			// One already back (a supervisor that moved it out
			// before it died) is not an error here.
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}
