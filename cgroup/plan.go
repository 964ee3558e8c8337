package cgroup

import (
	"fmt"
	"slices"
	"sort"
	"strconv"
	"strings"

	specs "github.com/opencontainers/runtime-spec/specs-go"
)

// write is one limit: a value for a file of a hierarchy's cgroup.
type write struct {
	hierarchy string // a Hierarchy.Key
	file      string
	value     string
}

// cpuPeriod is the CFS period of a CPU quota given without one, as
// systemd's default CPUQuotaPeriodSec=100ms.
const cpuPeriod = 100000

// v2Max formats a limit for cgroup v2, where -1 (infinity) is "max".
func v2Max(v int64) string {
	if v < 0 {
		return "max"
	}
	return strconv.FormatInt(v, 10)
}

type writes []write

// v2Controllers are the cgroup2 controllers the writes need enabled.
func (ws writes) v2Controllers() []string {
	var ctrls []string
	for _, w := range ws {
		if w.hierarchy != UnifiedKey {
			continue
		}
		c, _, _ := strings.Cut(w.file, ".")
		if !slices.Contains(ctrls, c) {
			ctrls = append(ctrls, c)
		}
	}
	return ctrls
}

// planResources decides where each limit goes on this host: the cgroup2
// file when the unified hierarchy has the controller, else the v1 one. A
// limit that neither can enforce is an error, before anything is created.
func planResources(l Layout, r *specs.LinuxResources) (writes, error) {
	if r == nil {
		return nil, nil
	}
	var ws writes
	need := func(ctrl, what string) (string, error) {
		if l.hasUnified() && slices.Contains(l.Controllers, ctrl) {
			return UnifiedKey, nil
		}
		v1 := ctrl
		if ctrl == "io" {
			v1 = "blkio" // cgroup v2's io is v1's blkio
		}
		if h, ok := l.v1(v1); ok {
			return h.Key, nil
		}
		return "", &UnsupportedError{Limit: what, Reason: "this host has no " + ctrl + " controller"}
	}
	if r.Memory != nil && r.Memory.Limit != nil {
		h, err := need("memory", "memory limit (MemoryMax)")
		if err != nil {
			return nil, err
		}
		if h == UnifiedKey {
			ws = append(ws, write{h, "memory.max", v2Max(*r.Memory.Limit)})
		} else {
			ws = append(ws, write{h, "memory.limit_in_bytes", strconv.FormatInt(*r.Memory.Limit, 10)})
		}
	}
	cw, err := cpuWrites(r.CPU, need)
	if err != nil {
		return nil, err
	}
	ws = append(ws, cw...)
	if r.Pids != nil && r.Pids.Limit != nil {
		h, err := need("pids", "task limit (TasksMax)")
		if err != nil {
			return nil, err
		}
		// 0 is no limit, as crun and runc (since 1.2) take it and CRI-O
		// means it ("unset"): a pids.max of 0 would leave the init no
		// task to start.
		v := *r.Pids.Limit
		if v == 0 {
			v = -1
		}
		ws = append(ws, write{h, "pids.max", v2Max(v)})
	}
	if len(r.Devices) > 0 {
		dw, err := deviceWrites(l, r.Devices)
		if err != nil {
			return nil, err
		}
		ws = append(ws, dw...)
	}
	uw, err := planUnified(l, r.Unified, need)
	if err != nil {
		return nil, err
	}
	return append(ws, uw...), nil
}

// planUnified places the spec's cgroup v2 settings (memory.high and the
// weights): as they are where the unified hierarchy has the controller,
// else translated for v1.
func planUnified(l Layout, unified map[string]string, need func(ctrl, what string) (string, error)) (writes, error) {
	var ws writes
	keys := make([]string, 0, len(unified))
	for k := range unified {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		v := unified[k]
		ctrl, _, _ := strings.Cut(k, ".")
		h, err := need(ctrl, k)
		if err != nil {
			return nil, err
		}
		if h == UnifiedKey {
			ws = append(ws, write{h, k, v})
			continue
		}
		w, err := v1Equivalent(l, h, k, v)
		if err != nil {
			return nil, err
		}
		ws = append(ws, w)
	}
	return ws, nil
}

// v1Equivalent translates a cgroup2 setting for a controller this host has
// only on v1, in hierarchy h, with systemd's conversions (src/core/cgroup.c).
func v1Equivalent(l Layout, h, key, value string) (write, error) {
	switch key {
	case "cpu.weight":
		w, err := strconv.ParseUint(value, 10, 64)
		if err != nil {
			return write{}, fmt.Errorf("cpu.weight %q: %w", value, err)
		}
		// CPUShares = CPUWeight * 1024 / 100; the kernel's minimum is 2.
		return write{h, "cpu.shares", strconv.FormatUint(max(w*1024/100, 2), 10)}, nil
	case "io.weight":
		w, err := strconv.ParseUint(value, 10, 64)
		if err != nil {
			return write{}, fmt.Errorf("io.weight %q: %w", value, err)
		}
		if l.BlkioWeight == "" {
			return write{}, &UnsupportedError{Limit: "IO weight (IOWeight)", Reason: "this host's v1 blkio controller has no weight (no blkio.weight: the block devices' I/O scheduler does not support one); it needs io.weight on cgroup v2"}
		}
		// BlockIOWeight = IOWeight * 500 / 100, within 10..1000.
		return write{h, l.BlkioWeight, strconv.FormatUint(min(max(w*5, 10), 1000), 10)}, nil
	case "memory.high":
		return write{}, &UnsupportedError{Limit: "memory.high (MemoryHigh)", Reason: "needs the memory controller on cgroup v2; this host has it on v1 only"}
	}
	return write{}, &UnsupportedError{Limit: key, Reason: "a cgroup v2 setting with no v1 equivalent, and this host has the controller on v1 only"}
}

// deviceWrites turns the spec's device rules into v1 devices.deny and
// devices.allow writes, in order. On cgroup v2 an eBPF program does the
// same (deviceFilter); a hybrid host gets both.
func deviceWrites(l Layout, rules []specs.LinuxDeviceCgroup) (writes, error) {
	h, ok := l.v1("devices")
	if !ok {
		return nil, nil
	}
	var ws writes
	for _, d := range rules {
		file := "devices.deny"
		if d.Allow {
			file = "devices.allow"
		}
		typ := d.Type
		if typ == "" {
			typ = "a"
		}
		if typ != "a" && typ != "c" && typ != "b" {
			return nil, fmt.Errorf("device rule type %q: want a, c or b", typ)
		}
		num := func(n *int64) string {
			if n == nil || *n < 0 {
				return "*"
			}
			return strconv.FormatInt(*n, 10)
		}
		access := d.Access
		if access == "" {
			access = "rwm"
		}
		if strings.Trim(access, "rwm") != "" {
			return nil, fmt.Errorf("device rule access %q: want some of r, w, m", access)
		}
		v := typ
		if typ != "a" {
			v = fmt.Sprintf("%s %s:%s %s", typ, num(d.Major), num(d.Minor), access)
		}
		ws = append(ws, write{h.Key, file, v})
	}
	return ws, nil
}

// cpuWrites places the CPU quota and shares.
func cpuWrites(c *specs.LinuxCPU, need func(ctrl, what string) (string, error)) (writes, error) {
	var ws writes
	if c == nil {
		return nil, nil
	}
	if c.Quota != nil {
		h, err := need("cpu", "CPU quota (CPUQuota)")
		if err != nil {
			return nil, err
		}
		period := uint64(cpuPeriod)
		if c.Period != nil {
			period = *c.Period
		}
		if h == UnifiedKey {
			ws = append(ws, write{h, "cpu.max", fmt.Sprintf("%s %d", v2Max(*c.Quota), period)})
		} else {
			ws = append(ws,
				write{h, "cpu.cfs_period_us", strconv.FormatUint(period, 10)},
				write{h, "cpu.cfs_quota_us", strconv.FormatInt(*c.Quota, 10)})
		}
	}
	if c.Shares != nil {
		h, err := need("cpu", "CPU shares")
		if err != nil {
			return nil, err
		}
		if h == UnifiedKey {
			ws = append(ws, write{h, "cpu.weight", strconv.FormatUint(SharesToWeight(*c.Shares), 10)})
		} else {
			ws = append(ws, write{h, "cpu.shares", strconv.FormatUint(*c.Shares, 10)})
		}
	}
	return ws, nil
}

// SharesToWeight maps v1's cpu.shares (2..262144) onto cgroup v2's
// cpu.weight (1..10000), as runc and crun do: 1024 becomes 39.
func SharesToWeight(shares uint64) uint64 {
	switch {
	case shares == 0:
		return 100
	case shares < 2:
		shares = 2
	case shares > 262144:
		shares = 262144
	}
	return 1 + ((shares-2)*9999)/262142
}
