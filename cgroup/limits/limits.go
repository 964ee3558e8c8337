// Package limits reads resource limits written as systemd writes them
// (systemd.resource-control(5): MemoryMax=, CPUQuota=, ...) into the OCI
// spec's resources.
package limits

import (
	"math"
	"strconv"
	"strings"

	specs "github.com/opencontainers/runtime-spec/specs-go"
)

// DefaultTasksMax is the task limit a container gets unless told otherwise,
// as systemd-nspawn@.service's TasksMax=16384.
const DefaultTasksMax = 16384

// Limits are the user's resource limits in systemd's terms (systemd.resource-
// control(5)); zero values mean "not set".
type Limits struct {
	MemoryMax  string // MemoryMax=: bytes with K, M, G, T suffix (base 1024), or "infinity"
	MemoryHigh string
	CPUWeight  string // CPUWeight=: 1..10000
	CPUQuota   string // CPUQuota=: "150%"
	TasksMax   string // TasksMax=: a count or "infinity"
	IOWeight   string // IOWeight=: 1..10000
}

// CPUPeriod is the CFS period that CPUQuota= is expressed in, as systemd's
// default CPUQuotaPeriodSec=100ms.
const CPUPeriod = 100000

// Resources turns limits into the spec's resources. ncpu bounds CPUQuota:
// more than 100% per CPU of the host cannot be used and is refused.
// Values in the spec follow the runtime-spec's (cgroup v1) units, except
// memory.high and the weights, which go in Unified with their cgroup v2
// names so that no precision is lost to a conversion.
func (l Limits) Resources(ncpu int) (*specs.LinuxResources, error) {
	r := &specs.LinuxResources{}
	if l.MemoryMax != "" {
		v, err := ParseSize(l.MemoryMax)
		if err != nil {
			return nil, named("MemoryMax", err)
		}
		r.Memory = &specs.LinuxMemory{Limit: &v}
	}
	if l.MemoryHigh != "" {
		v, err := ParseSize(l.MemoryHigh)
		if err != nil {
			return nil, named("MemoryHigh", err)
		}
		setUnified(r, "memory.high", v2Max(v))
	}
	if l.CPUWeight != "" {
		w, err := parseWeight(l.CPUWeight)
		if err != nil {
			return nil, named("CPUWeight", err)
		}
		setUnified(r, "cpu.weight", strconv.FormatUint(w, 10))
	}
	if l.CPUQuota != "" {
		q, err := parseQuota(l.CPUQuota, ncpu)
		if err != nil {
			return nil, named("CPUQuota", err)
		}
		period := uint64(CPUPeriod)
		r.CPU = &specs.LinuxCPU{Quota: &q, Period: &period}
	}
	tasks := int64(DefaultTasksMax)
	if l.TasksMax != "" {
		v, err := parseCount(l.TasksMax)
		if err != nil {
			return nil, named("TasksMax", err)
		}
		tasks = v
	}
	r.Pids = &specs.LinuxPids{Limit: &tasks}
	if l.IOWeight != "" {
		w, err := parseWeight(l.IOWeight)
		if err != nil {
			return nil, named("IOWeight", err)
		}
		setUnified(r, "io.weight", strconv.FormatUint(w, 10))
	}
	return r, nil
}

func setUnified(r *specs.LinuxResources, key, value string) {
	if r.Unified == nil {
		r.Unified = map[string]string{}
	}
	r.Unified[key] = value
}

// v2Max formats a limit for cgroup v2, where -1 (infinity) is "max".
func v2Max(v int64) string {
	if v < 0 {
		return "max"
	}
	return strconv.FormatInt(v, 10)
}

// ParseSize reads a size the way systemd does: a number of bytes with an
// optional K, M, G, T, P or E suffix (powers of 1024), or "infinity", which
// is -1.
func ParseSize(s string) (int64, error) {
	if s == "infinity" {
		return -1, nil
	}
	i := strings.IndexFunc(s, func(r rune) bool { return (r < '0' || r > '9') && r != '.' && r != '-' })
	if i < 0 {
		i = len(s)
	}
	num := s[:i]
	suffix := strings.ToUpper(strings.TrimSuffix(strings.TrimSuffix(s[i:], "B"), "b"))
	var shift uint
	switch suffix {
	case "":
	case "K":
		shift = 10
	case "M":
		shift = 20
	case "G":
		shift = 30
	case "T":
		shift = 40
	case "P":
		shift = 50
	case "E":
		shift = 60
	default:
		return 0, bad(s, "unknown unit %q (K, M, G, T, P, E)", s[len(num):])
	}
	f, err := strconv.ParseFloat(num, 64)
	if err != nil {
		return 0, bad(s, "not a size")
	}
	if f < 0 {
		return 0, bad(s, "negative")
	}
	v := f * float64(uint64(1)<<shift)
	if v >= math.MaxInt64 {
		return 0, bad(s, "too large")
	}
	if v < 1 {
		return 0, bad(s, "must be at least one byte")
	}
	return int64(v), nil
}

// parseWeight reads a CPUWeight= or IOWeight= value: 1 to 10000.
func parseWeight(s string) (uint64, error) {
	w, err := strconv.ParseUint(s, 10, 64)
	if err != nil || w < 1 || w > 10000 {
		return 0, bad(s, "want a weight from 1 to 10000")
	}
	return w, nil
}

// parseQuota reads CPUQuota=, a percentage of one CPU, as a CFS quota in
// microseconds per CPUPeriod.
func parseQuota(s string, ncpu int) (int64, error) {
	num, ok := strings.CutSuffix(s, "%")
	if !ok {
		return 0, bad(s, "want a percentage such as 150%%")
	}
	p, err := strconv.ParseFloat(num, 64)
	if err != nil || p <= 0 || math.IsInf(p, 0) || math.IsNaN(p) {
		return 0, bad(s, "want a positive percentage")
	}
	if p > float64(100*ncpu) {
		return 0, bad(s, "the host has %d CPUs, so at most %d%%", ncpu, 100*ncpu)
	}
	q := int64(p * CPUPeriod / 100)
	if q < 1000 {
		// The kernel's minimum quota is 1ms.
		return 0, bad(s, "below the kernel's minimum of 1%%")
	}
	return q, nil
}

// parseCount reads TasksMax=: a positive count or "infinity" (-1).
func parseCount(s string) (int64, error) {
	if s == "infinity" {
		return -1, nil
	}
	v, err := strconv.ParseInt(s, 10, 64)
	if err != nil || v < 1 {
		return 0, bad(s, "want a positive count or infinity")
	}
	return v, nil
}
