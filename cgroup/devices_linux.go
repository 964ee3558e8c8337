package cgroup

import (
	"errors"
	"fmt"
	"os"

	"github.com/cilium/ebpf"
	"github.com/cilium/ebpf/link"
	specs "github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/sys/unix"
)

// deviceFilter is the device program's load, begun in the background
// (loadDeviceFilter) while the cgroups are made: the kernel's verifier
// takes about 0.3 ms of a start here.
type deviceFilter struct {
	done chan struct{}
	prog *ebpf.Program
	err  error
}

// loadDeviceFilter begins loading the device program for rules. Without
// the RLIMIT_MEMLOCK fallback: that changes the whole process's limit,
// which a fork meanwhile would inherit; attach makes it, if it must, in
// the foreground.
func loadDeviceFilter(rules []specs.LinuxDeviceCgroup) *deviceFilter {
	d := &deviceFilter{done: make(chan struct{})}
	go func() {
		defer close(d.done)
		d.prog, d.err = newDeviceProgram(rules, false)
	}()
	return d
}

func newDeviceProgram(rules []specs.LinuxDeviceCgroup, raiseMemlock bool) (*ebpf.Program, error) {
	insns, err := deviceProgram(rules)
	if err != nil {
		return nil, err
	}
	spec := &ebpf.ProgramSpec{Type: ebpf.CGroupDevice, License: "Apache-2.0", Instructions: insns}
	prog, err := ebpf.NewProgram(spec)
	if errors.Is(err, unix.EPERM) && raiseMemlock {
		// Before Linux 5.11 the program counts against RLIMIT_MEMLOCK
		// (not the memory cgroup). Raised only for the load: the
		// container, started later, must not inherit a raised limit.
		err = withMemlock(unix.Rlimit{Cur: unix.RLIM_INFINITY, Max: unix.RLIM_INFINITY}, func() error {
			var lerr error
			prog, lerr = ebpf.NewProgram(spec)
			return lerr
		})
	}
	if err != nil {
		return nil, fmt.Errorf("load device filter: %w", err)
	}
	return prog, nil
}

// close waits for the load and drops the program: the cgroup it was
// attached to keeps its own reference.
func (d *deviceFilter) close() {
	if d == nil {
		return
	}
	<-d.done
	if d.prog != nil {
		d.prog.Close()
		d.prog = nil
	}
}

// attach attaches the loaded program to the cgroup2 directory dir, where
// it stays until the cgroup is removed (BPF_PROG_ATTACH, not a link that
// would end with the supervisor). With BPF_F_ALLOW_MULTI a guest's own
// programs below add to it, never undo it.
func (d *deviceFilter) attach(dir string, rules []specs.LinuxDeviceCgroup) error {
	<-d.done
	if errors.Is(d.err, unix.EPERM) {
		d.prog, d.err = newDeviceProgram(rules, true)
	}
	if d.err != nil {
		return d.err
	}
	f, err := os.OpenFile(dir, unix.O_RDONLY|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
	if err != nil {
		return err
	}
	defer f.Close()
	if err := link.RawAttachProgram(link.RawAttachProgramOptions{
		Target:  int(f.Fd()),
		Program: d.prog,
		Attach:  ebpf.AttachCGroupDevice,
		Flags:   unix.BPF_F_ALLOW_MULTI,
	}); err != nil {
		return fmt.Errorf("attach device filter to %s: %w", dir, err)
	}
	return nil
}

// withMemlock runs f with RLIMIT_MEMLOCK set to lim and puts the old limit
// back after, whatever f returns.
func withMemlock(lim unix.Rlimit, f func() error) error {
	var old unix.Rlimit
	if err := unix.Getrlimit(unix.RLIMIT_MEMLOCK, &old); err != nil {
		return fmt.Errorf("get RLIMIT_MEMLOCK: %w", err)
	}
	if err := unix.Setrlimit(unix.RLIMIT_MEMLOCK, &lim); err != nil {
		return fmt.Errorf("raise RLIMIT_MEMLOCK: %w", err)
	}
	ferr := f()
	if err := unix.Setrlimit(unix.RLIMIT_MEMLOCK, &old); err != nil {
		return errors.Join(ferr, fmt.Errorf("restore RLIMIT_MEMLOCK: %w", err))
	}
	return ferr
}
