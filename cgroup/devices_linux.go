package cgroup

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	goruntime "runtime"
	"strings"
	"unsafe"

	specs "github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/sys/unix"
)

// deviceFilter is the device program's load, begun in the background
// (loadDeviceFilter) while the cgroups are made.
type deviceFilter struct {
	rules []specs.LinuxDeviceCgroup
	done  chan struct{}
	fd    int // -1 until loaded
	err   error
}

// loadDeviceFilter begins loading the device program for rules. Without
// the RLIMIT_MEMLOCK fallback: that changes the whole process's limit,
// which a fork meanwhile would inherit; attach makes it, if it must, in
// the foreground.
func loadDeviceFilter(rules []specs.LinuxDeviceCgroup) *deviceFilter {
	d := &deviceFilter{rules: rules, done: make(chan struct{}), fd: -1}
	go func() {
		defer close(d.done)
		d.fd, d.err = newDeviceProgram(rules, false)
	}()
	return d
}

// The program is loaded and attached with bpf(2) directly: cilium/ebpf's
// NewProgram probes the kernel's features first (two maps and a program
// made and dropped), 0.45 to 0.55 ms of every start in a fresh process,
// where the load itself takes 0.17 to 0.25.

// progLoadAttr is union bpf_attr for BPF_PROG_LOAD (linux/bpf.h) as far
// as prog_name; the kernel takes the fields after it as zero.
type progLoadAttr struct {
	progType    uint32
	insnCnt     uint32
	insns       uint64
	license     uint64
	logLevel    uint32
	logSize     uint32
	logBuf      uint64
	kernVersion uint32
	progFlags   uint32
	progName    [16]byte
}

// progAttachAttr is union bpf_attr for BPF_PROG_ATTACH, as far as
// replace_bpf_fd.
type progAttachAttr struct {
	targetFD     uint32
	attachBPFFD  uint32
	attachType   uint32
	attachFlags  uint32
	replaceBPFFD uint32
}

// bpf makes one bpf(2) call, again when interrupted (a few times: a load
// the verifier keeps answering EAGAIN is an error).
func bpf(cmd int, attr unsafe.Pointer, size uintptr) (int, error) {
	var errno unix.Errno
	for try := 0; try < 5; try++ {
		var r uintptr
		r, _, errno = unix.Syscall(unix.SYS_BPF, uintptr(cmd), uintptr(attr), size)
		if errno == 0 {
			return int(r), nil
		}
		if errno != unix.EINTR && errno != unix.EAGAIN {
			break
		}
	}
	return -1, errno
}

func newDeviceProgram(rules []specs.LinuxDeviceCgroup, raiseMemlock bool) (int, error) {
	insns, err := deviceProgram(rules)
	if err != nil {
		return -1, err
	}
	b := marshalProgram(insns)
	license := []byte("Apache-2.0\x00")
	load := func(log []byte) (int, error) {
		attr := progLoadAttr{
			progType: unix.BPF_PROG_TYPE_CGROUP_DEVICE,
			insnCnt:  uint32(len(insns)),
			insns:    uint64(uintptr(unsafe.Pointer(&b[0]))),
			license:  uint64(uintptr(unsafe.Pointer(&license[0]))),
		}
		if log != nil {
			attr.logLevel, attr.logSize, attr.logBuf = 1, uint32(len(log)), uint64(uintptr(unsafe.Pointer(&log[0])))
		}
		fd, err := bpf(unix.BPF_PROG_LOAD, unsafe.Pointer(&attr), unsafe.Sizeof(attr))
		goruntime.KeepAlive(b)
		goruntime.KeepAlive(license)
		goruntime.KeepAlive(log)
		return fd, err
	}
	fd, err := load(nil)
	if errors.Is(err, unix.EPERM) && raiseMemlock {
		// Before Linux 5.11 the program counts against RLIMIT_MEMLOCK
		// (not the memory cgroup). Raised only for the load: the
		// container, started later, must not inherit a raised limit.
		err = withMemlock(unix.Rlimit{Cur: unix.RLIM_INFINITY, Max: unix.RLIM_INFINITY}, func() error {
			var lerr error
			fd, lerr = load(nil)
			return lerr
		})
	}
	if errors.Is(err, unix.EACCES) || errors.Is(err, unix.EINVAL) {
		// The verifier refused it: load again for its reasons.
		log := make([]byte, 64<<10)
		lfd, lerr := load(log)
		if lerr == nil {
			fd, err = lfd, nil
		} else {
			n := bytes.IndexByte(log, 0)
			if n < 0 {
				n = len(log)
			}
			if msg := strings.TrimSpace(string(log[:n])); msg != "" {
				err = fmt.Errorf("%w: %s", err, msg)
			}
		}
	}
	if err != nil {
		return -1, fmt.Errorf("load device filter: %w", err)
	}
	// Close-on-exec already: the kernel sets it on every BPF fd.
	return fd, nil
}

// close waits for the load and drops the program: the cgroup it was
// attached to keeps its own reference.
func (d *deviceFilter) close() {
	if d == nil {
		return
	}
	<-d.done
	if d.fd >= 0 {
		unix.Close(d.fd)
		d.fd = -1
	}
}

// attach attaches the loaded program to the cgroup2 directory dir, where
// it stays until the cgroup is removed (BPF_PROG_ATTACH, not a link that
// would end with the supervisor). With BPF_F_ALLOW_MULTI a guest's own
// programs below add to it, never undo it.
func (d *deviceFilter) attach(dir string) error {
	<-d.done
	if errors.Is(d.err, unix.EPERM) {
		d.fd, d.err = newDeviceProgram(d.rules, true)
	}
	if d.err != nil {
		return d.err
	}
	f, err := os.OpenFile(dir, unix.O_RDONLY|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
	if err != nil {
		return err
	}
	defer f.Close()
	attr := progAttachAttr{
		targetFD:    uint32(f.Fd()),
		attachBPFFD: uint32(d.fd),
		attachType:  unix.BPF_CGROUP_DEVICE,
		attachFlags: unix.BPF_F_ALLOW_MULTI,
	}
	if _, err := bpf(unix.BPF_PROG_ATTACH, unsafe.Pointer(&attr), unsafe.Sizeof(attr)); err != nil {
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
