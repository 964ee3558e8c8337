package runtime

import (
	"errors"
	"fmt"
	"path/filepath"

	"github.com/sirupsen/logrus"

	"github.com/containerctl/containerctl/runtime/network"
)

// netnsFile, in a container's record directory, is where its network
// namespace is bound while host interfaces are moved in, so that they
// outlive a supervisor killed with SIGKILL and are moved back by whoever
// cleans up after it.
const netnsFile = "netns"

// setupNetwork gives the container its network from outside, into the
// init child's namespace, before the child is released. What it makes is
// recorded first, so that a supervisor killed halfway leaves the list for
// whoever cleans up after it (the reaper, the next start of the name).
func (s *supervisor) setupNetwork(rec *record) error {
	p := s.p.Network
	if p == nil {
		return nil
	}
	r := p.Record()
	keep := ""
	if len(p.Moves) > 0 {
		keep = rec.path(netnsFile)
		r.NetNS = keep
	}
	s.state.Network = r
	if err := rec.write(s.state); err != nil {
		return err
	}
	n, err := network.Setup(p, s.child.pid(), keep)
	if err != nil {
		return fmt.Errorf("network: %w", err)
	}
	s.net = n
	// Who the interfaces moved in are, for a supervisor resumed from the
	// monitor and for the reaper.
	if len(p.Moves) > 0 {
		s.state.Network = n.Record()
		if err := rec.write(s.state); err != nil {
			_ = n.Close()
			s.net = nil
			return err
		}
	}
	s.onUndo("remove network", func() error {
		if err := s.removeNetwork(); err != nil {
			s.keepRecord = true
			return err
		}
		return nil
	})
	s.log.WithFields(logrus.Fields{"links": r.Links, "table": r.Table, "moved": r.Moved}).Debug("network set up")
	return nil
}

// removeNetwork moves the interfaces back and removes the links and the
// forwards, once.
func (s *supervisor) removeNetwork() error {
	if s.net == nil && s.resumed {
		// What the start made, as the record names it.
		return s.reportLost(removeStaleNetwork(s.rec.dir, s.state.Network))
	}
	if s.net == nil {
		return nil
	}
	n := s.net
	s.net = nil
	return s.reportLost(n.Close())
}

// reportLost logs, as warnings, the interfaces moved in that did not come
// back (network.ErrGone): the guest deleted or replaced them, which no
// cleanup can undo, and which must not keep the record for another try.
// The rest of err is returned.
func (s *supervisor) reportLost(err error) error {
	lost, rest := network.SplitLost(err)
	for _, e := range lost {
		s.log.Warn(e)
	}
	return errors.Join(rest...)
}

// removeStaleNetwork removes what a dead supervisor's network made, after
// checking that the record names its own container's things.
func removeStaleNetwork(dir string, r *network.Record) error {
	if r == nil {
		return nil
	}
	name := filepath.Base(dir)
	if r.Container != name || r.NetNS != "" && r.NetNS != filepath.Join(dir, netnsFile) {
		return fmt.Errorf("record %s: network of %q at %q, not of %q: left alone", dir, r.Container, r.NetNS, name)
	}
	// The losses go on as they are, for a resumed supervisor to tell
	// (reportLost); they are no reason to keep the record.
	errs, rest := network.SplitLost(network.Remove(r))
	for _, e := range rest {
		errs = append(errs, fmt.Errorf("record %s: network: %w", dir, e))
	}
	return errors.Join(errs...)
}
