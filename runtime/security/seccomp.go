package security

import (
	"encoding/binary"
	"encoding/json"
	"fmt"
	goruntime "runtime"

	specs "github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/net/bpf"
)

// Seccomp is a compiled filter: plain data, so that it travels to the init
// child as JSON, which installs it just before the exec.
type Seccomp struct {
	// Program is the classic BPF program (struct sock_filter).
	Program Program `json:"program"`
	// Flags are seccomp(2)'s SECCOMP_FILTER_FLAG_* bits.
	Flags uint32 `json:"flags,omitempty"`
}

// Program is a classic BPF program. In JSON it is one base64 string of the
// instructions, 8 bytes each as struct sock_filter lays them out (code, jt,
// jf, k; little-endian): a filter of some 400 instructions, which the init
// child's config and every record carry, is then a fraction of the text of
// an array of objects to encode at each start and decode in the child. An
// array of instructions, as records written before this form hold, is read
// as well.
type Program []Instruction

// MarshalJSON encodes p as base64.
func (p Program) MarshalJSON() ([]byte, error) {
	b := make([]byte, 0, 8*len(p))
	for _, in := range p {
		b = binary.LittleEndian.AppendUint16(b, in.Code)
		b = append(b, in.Jt, in.Jf)
		b = binary.LittleEndian.AppendUint32(b, in.K)
	}
	return json.Marshal(b)
}

// UnmarshalJSON decodes base64, or an array of instructions.
func (p *Program) UnmarshalJSON(data []byte) error {
	if len(data) > 0 && data[0] == '[' {
		return json.Unmarshal(data, (*[]Instruction)(p))
	}
	var b []byte
	if err := json.Unmarshal(data, &b); err != nil {
		return fmt.Errorf("seccomp program: %w", err)
	}
	if len(b)%8 != 0 {
		return fmt.Errorf("seccomp program: %d bytes, not a whole number of instructions", len(b))
	}
	prog := make(Program, len(b)/8)
	for i := range prog {
		in := b[8*i:]
		prog[i] = Instruction{Code: binary.LittleEndian.Uint16(in), Jt: in[2], Jf: in[3], K: binary.LittleEndian.Uint32(in[4:])}
	}
	*p = prog
	return nil
}

// Instruction is one struct sock_filter.
type Instruction struct {
	Code uint16 `json:"code"`
	Jt   uint8  `json:"jt"`
	Jf   uint8  `json:"jf"`
	K    uint32 `json:"k"`
}

// Return values and flags of linux/seccomp.h.
const (
	retKillProcess = 0x80000000
	retKillThread  = 0x00000000
	retTrap        = 0x00030000
	retErrno       = 0x00050000
	retLog         = 0x7ffc0000
	retAllow       = 0x7fff0000

	flagLog       = 1 << 1
	flagSpecAllow = 1 << 2

	eperm    = 1
	enosys   = 38
	maxErrno = 4095 // the kernel's MAX_ERRNO
	maxInsns = 4096 // BPF_MAXINSNS
)

// A policy is a checked seccomp section.
type policy struct {
	defaultRet uint32
	rules      []rule
	arches     map[specs.Arch]bool // nil: every ABI of the family
	flags      uint32
}

// A rule returns ret for its names when one of its condition sets holds
// (all its conditions); with no sets, always.
type rule struct {
	names []string
	ret   uint32
	sets  [][]specs.LinuxSeccompArg
}

// CompileSeccomp checks an OCI seccomp section and compiles it for the
// running architecture and the companion ABIs its kernel serves. A section
// it cannot execute exactly is refused with an error naming the field.
func CompileSeccomp(s *specs.LinuxSeccomp) (*Seccomp, error) {
	return compileSeccomp(s, goruntime.GOARCH)
}

func compileSeccomp(s *specs.LinuxSeccomp, goarch string) (*Seccomp, error) {
	if s == nil {
		return nil, nil
	}
	p, err := check(s)
	if err != nil {
		return nil, err
	}
	abis, err := family(goarch)
	if err != nil {
		return nil, err
	}
	prog, err := assemble(p, abis)
	if err != nil {
		return nil, err
	}
	if len(prog) > maxInsns {
		return nil, fmt.Errorf("linux.seccomp: the filter has %d instructions, more than the kernel's %d: %w", len(prog), maxInsns, ErrUnsupported)
	}
	raw, err := bpf.Assemble(prog)
	if err != nil {
		return nil, fmt.Errorf("linux.seccomp: assemble: %w", err)
	}
	out := &Seccomp{Flags: p.flags}
	for _, r := range raw {
		out.Program = append(out.Program, Instruction{Code: r.Op, Jt: r.Jt, Jf: r.Jf, K: r.K})
	}
	return out, nil
}

// check turns the section into a policy, refusing what it cannot execute.
func check(s *specs.LinuxSeccomp) (*policy, error) {
	if s.ListenerPath != "" {
		return nil, fmt.Errorf("linux.seccomp.listenerPath: %w", ErrUnsupported)
	}
	if s.ListenerMetadata != "" {
		return nil, fmt.Errorf("linux.seccomp.listenerMetadata: %w", ErrUnsupported)
	}
	if s.DefaultErrnoRet != nil && s.DefaultAction != specs.ActErrno {
		return nil, fmt.Errorf("linux.seccomp.defaultErrnoRet with defaultAction %q: %w", s.DefaultAction, ErrUnsupported)
	}
	p := &policy{}
	var err error
	if p.defaultRet, err = ret(s.DefaultAction, s.DefaultErrnoRet, "linux.seccomp.defaultAction"); err != nil {
		return nil, err
	}
	for _, f := range s.Flags {
		switch f {
		case specs.LinuxSeccompFlagLog:
			p.flags |= flagLog
		case specs.LinuxSeccompFlagSpecAllow:
			p.flags |= flagSpecAllow
		default:
			return nil, fmt.Errorf("linux.seccomp.flags %q: %w", f, ErrUnsupported)
		}
	}
	for _, a := range s.Architectures {
		if !specArches[a] {
			return nil, fmt.Errorf("linux.seccomp.architectures %q: %w", a, ErrUnknownName)
		}
		if p.arches == nil {
			p.arches = map[specs.Arch]bool{}
		}
		p.arches[a] = true
	}
	actions := map[string][]seen{} // the earlier rules of each name
	for i, sc := range s.Syscalls {
		r, err := checkRule(i, sc, p.defaultRet, actions)
		if err != nil {
			return nil, err
		}
		p.rules = append(p.rules, r)
	}
	return p, nil
}

// seen is an earlier rule of a name: its action and its conditions.
type seen struct {
	ret  uint32
	args []specs.LinuxSeccompArg
}

// reachable says whether a rule with action ret and conditions args for a
// name is ever reached after the name's earlier rules, and refuses it where
// which of two actions applies would depend on the order: an earlier rule
// with another action whose conditions could match the same call.
// Conditions that cannot both hold (arg 2 == 9 and arg 2 != 9, as
// podman's socket rules) are disjoint, and the order does not matter.
func reachable(earlier []seen, ret uint32, args []specs.LinuxSeccompArg) (bool, error) {
	for _, e := range earlier {
		switch {
		case len(e.args) == 0 && e.ret != ret:
			return false, nil
		case len(e.args) == 0:
			return false, nil // the same action, for every call already
		case e.ret != ret && !disjoint(e.args, args):
			return false, fmt.Errorf("an earlier rule with another action may match the same calls: %w", ErrUnsupported)
		}
	}
	return true, nil
}

// disjoint says whether no call can meet both sets of conditions: one
// argument compared for equality with a value in one, and for equality
// with another value or for inequality with that one in the other.
func disjoint(a, b []specs.LinuxSeccompArg) bool {
	for _, x := range a {
		for _, y := range b {
			if x.Index != y.Index {
				continue
			}
			switch {
			case x.Op == specs.OpEqualTo && y.Op == specs.OpEqualTo && x.Value != y.Value,
				x.Op == specs.OpEqualTo && y.Op == specs.OpNotEqual && x.Value == y.Value,
				x.Op == specs.OpNotEqual && y.Op == specs.OpEqualTo && x.Value == y.Value:
				return true
			}
		}
	}
	return false
}

// checkRule checks syscalls[i]. A name in no table is left out where that
// filters no less (the rule allows, does what the default does, or fails
// the call with an errno where the default fails it with another, as
// podman's filter has ppc's swapcontext fail with EPERM and the rest with
// ENOSYS); else refused, as the kernel may have the call. A name in two rules with
// different actions is refused: which wins would depend on the runtime;
// unless the earlier rule has no argument conditions, when it takes every
// call of the name and the later one is left out, as runc and libseccomp
// do (the first entry that matches is the one in effect; podman's profile
// allows setns and later fails it for containers without CAP_SYS_ADMIN).
func checkRule(i int, sc specs.LinuxSyscall, defaultRet uint32, actions map[string][]seen) (rule, error) {
	field := fmt.Sprintf("linux.seccomp.syscalls[%d]", i)
	r := rule{}
	var err error
	if r.ret, err = ret(sc.Action, sc.ErrnoRet, field+".action"); err != nil {
		return rule{}, err
	}
	for _, n := range sc.Names {
		if !knownSyscall(n) {
			bothFail := r.ret&0xffff0000 == retErrno && defaultRet&0xffff0000 == retErrno
			if r.ret == retAllow || r.ret == defaultRet || bothFail {
				continue
			}
			return rule{}, fmt.Errorf("%s.names: syscall %q: %w", field, n, ErrUnknownName)
		}
		reached, err := reachable(actions[n], r.ret, sc.Args)
		if err != nil {
			return rule{}, fmt.Errorf("%s.names: syscall %q: %w", field, n, err)
		}
		if !reached {
			continue // never reached: an earlier rule takes every call
		}
		actions[n] = append(actions[n], seen{ret: r.ret, args: sc.Args})
		r.names = append(r.names, n)
	}
	for j, a := range sc.Args {
		if a.Index > 5 {
			return rule{}, fmt.Errorf("%s.args[%d].index %d: %w", field, j, a.Index, ErrUnsupported)
		}
		switch a.Op {
		case specs.OpEqualTo, specs.OpNotEqual, specs.OpLessThan, specs.OpLessEqual,
			specs.OpGreaterThan, specs.OpGreaterEqual, specs.OpMaskedEqual:
		default:
			return rule{}, fmt.Errorf("%s.args[%d].op %q: %w", field, j, a.Op, ErrUnsupported)
		}
	}
	r.sets = argSets(sc.Args)
	return r, nil
}

// argSets groups a rule's conditions: all of them must hold, except that
// several conditions on one same argument are alternatives, each its own
// set, as runc and crun read them (Docker's profiles rely on it).
func argSets(args []specs.LinuxSeccompArg) [][]specs.LinuxSeccompArg {
	if len(args) == 0 {
		return nil
	}
	same := true
	for _, a := range args {
		same = same && a.Index == args[0].Index
	}
	if !same || len(args) == 1 {
		return [][]specs.LinuxSeccompArg{args}
	}
	var sets [][]specs.LinuxSeccompArg
	for _, a := range args {
		sets = append(sets, []specs.LinuxSeccompArg{a})
	}
	return sets
}

// ret is the filter's return value for an action.
func ret(a specs.LinuxSeccompAction, errnoRet *uint, field string) (uint32, error) {
	if errnoRet != nil && a != specs.ActErrno {
		return 0, fmt.Errorf("%s %q: errnoRet with an action other than %s: %w", field, a, specs.ActErrno, ErrUnsupported)
	}
	switch a {
	case specs.ActAllow:
		return retAllow, nil
	case specs.ActErrno:
		e := uint(eperm) // the spec's default
		if errnoRet != nil {
			e = *errnoRet
		}
		if e > maxErrno {
			return 0, fmt.Errorf("%s %q: errno %d: %w", field, a, e, ErrUnsupported)
		}
		return retErrno | uint32(e), nil
	case specs.ActKill, specs.ActKillThread:
		return retKillThread, nil
	case specs.ActKillProcess:
		return retKillProcess, nil
	case specs.ActTrap:
		return retTrap, nil
	case specs.ActLog:
		return retLog, nil
	}
	// SCMP_ACT_NOTIFY needs a listener, SCMP_ACT_TRACE a tracer.
	return 0, fmt.Errorf("%s %q: %w", field, a, ErrUnsupported)
}
