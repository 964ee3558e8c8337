package security

import (
	"fmt"

	specs "github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/net/bpf"
)

// Offsets in struct seccomp_data (linux/seccomp.h). Every ABI here is
// little-endian: an argument's low half comes first.
const (
	offNr   = 0
	offArch = 4
	offArgs = 16
)

// maxRun is the most syscall numbers compared before one shared return, so
// that each conditional jump's 8-bit offset fits.
const maxRun = 200

func load(off uint32) bpf.Instruction { return bpf.LoadAbsolute{Off: off, Size: 4} }

// assemble lays out the program: dispatch on the audit architecture to one
// entry each, which loads the syscall number and, on x86-64, sends the
// numbers with the x32 bit to the x32 ABI's body. A body runs the rules in
// order (the first that matches returns) and then returns the default. An
// ABI of the family that the spec's architectures leave out returns ENOSYS
// for every call, as does an architecture of no ABI here.
func assemble(p *policy, abis []*abi) ([]bpf.Instruction, error) {
	var audits []uint32
	entries := map[uint32][]bpf.Instruction{}
	for _, a := range abis {
		if a.nrBit != 0 {
			continue // laid out with the ABI it shares its audit arch with
		}
		main, err := body(p, a, abis)
		if err != nil {
			return nil, err
		}
		entry := []bpf.Instruction{load(offNr)}
		if x := bitABI(a.audit, abis); x != nil {
			xbody, err := body(p, x, abis)
			if err != nil {
				return nil, err
			}
			entry = append(entry,
				bpf.JumpIf{Cond: bpf.JumpGreaterOrEqual, Val: x.nrBit, SkipFalse: 1},
				bpf.Jump{Skip: uint32(len(main))})
			entry = append(append(entry, main...), xbody...)
		} else {
			entry = append(entry, main...)
		}
		audits = append(audits, a.audit)
		entries[a.audit] = entry
	}
	prog := []bpf.Instruction{load(offArch)}
	skip := 0 // the entries before this one
	for i, audit := range audits {
		rest := 2*(len(audits)-1-i) + 1 // header after this jump
		prog = append(prog,
			bpf.JumpIf{Cond: bpf.JumpEqual, Val: audit, SkipFalse: 1},
			bpf.Jump{Skip: uint32(rest + skip)})
		skip += len(entries[audit])
	}
	prog = append(prog, bpf.RetConstant{Val: retErrno | enosys})
	for _, audit := range audits {
		prog = append(prog, entries[audit]...)
	}
	return prog, nil
}

// bitABI is the ABI that shares audit with another and marks its numbers
// with a bit (x32 beside x86-64).
func bitABI(audit uint32, abis []*abi) *abi {
	for _, a := range abis {
		if a.audit == audit && a.nrBit != 0 {
			return a
		}
	}
	return nil
}

// body compiles the rules for one ABI; the accumulator holds the syscall
// number on entry and after every rule.
func body(p *policy, a *abi, family []*abi) ([]bpf.Instruction, error) {
	if p.arches != nil && a != family[0] && !p.arches[a.name] {
		return []bpf.Instruction{bpf.RetConstant{Val: retErrno | enosys}}, nil
	}
	var out []bpf.Instruction
	for i, r := range p.rules {
		var nrs []uint32
		for _, n := range r.names {
			for _, e := range a.numbers(n) {
				nrs = append(nrs, e.nr|a.nrBit)
			}
		}
		if len(r.sets) == 0 {
			out = append(out, matchAny(nrs, r.ret)...)
			continue
		}
		for _, nr := range nrs {
			block, err := conditional(nr, r, a.is32)
			if err != nil {
				return nil, fmt.Errorf("linux.seccomp.syscalls[%d]: %w", i, err)
			}
			out = append(out, block...)
		}
	}
	return append(out, bpf.RetConstant{Val: p.defaultRet}), nil
}

// matchAny returns ret when the number is one of nrs: runs of compares,
// each ending in its own return.
func matchAny(nrs []uint32, ret uint32) []bpf.Instruction {
	var out []bpf.Instruction
	for len(nrs) > 0 {
		run := nrs[:min(len(nrs), maxRun)]
		nrs = nrs[len(run):]
		for i, nr := range run {
			if i < len(run)-1 {
				out = append(out, bpf.JumpIf{Cond: bpf.JumpEqual, Val: nr, SkipTrue: uint8(len(run) - 1 - i)})
			} else {
				out = append(out, bpf.JumpIf{Cond: bpf.JumpEqual, Val: nr, SkipFalse: 1})
			}
		}
		out = append(out, bpf.RetConstant{Val: ret})
	}
	return out
}

// conditional returns r.ret for syscall nr when one of r's condition sets
// holds. Checking the arguments overwrites the accumulator, so a block that
// does not return loads the number again before the next rule.
func conditional(nr uint32, r rule, is32 bool) ([]bpf.Instruction, error) {
	var sets []bpf.Instruction
	for _, set := range r.sets {
		code, err := conditionSet(set, r.ret, is32)
		if err != nil {
			return nil, err
		}
		sets = append(sets, code...)
	}
	sets = append(sets, load(offNr))
	head := []bpf.Instruction{
		bpf.JumpIf{Cond: bpf.JumpEqual, Val: nr, SkipTrue: 1},
		bpf.Jump{Skip: uint32(len(sets))},
	}
	return append(head, sets...), nil
}

// failJump marks a jump whose false branch goes to the end of its set.
const failJump = 0xff

// conditionSet returns ret when every condition holds; else it goes on after
// its own code.
func conditionSet(set []specs.LinuxSeccompArg, ret uint32, is32 bool) ([]bpf.Instruction, error) {
	var code []bpf.Instruction
	for _, c := range set {
		code = append(code, condition(c, is32)...)
	}
	code = append(code, bpf.RetConstant{Val: ret})
	for i, in := range code {
		j, ok := in.(bpf.JumpIf)
		if !ok {
			continue
		}
		skip := len(code) - i - 1 // to the instruction after the return
		if skip > 0xfe {
			return nil, fmt.Errorf("args: conditions too long for one jump: %w", ErrUnsupported)
		}
		if j.SkipFalse == failJump {
			j.SkipFalse = uint8(skip)
		}
		if j.SkipTrue == failJump {
			j.SkipTrue = uint8(skip)
		}
		code[i] = j
	}
	return code, nil
}

// condition compiles one comparison, unsigned and on 64 bits as libseccomp
// does, its jumps to failJump taken when it does not hold. A 32-bit ABI's
// arguments are compared on their low halves only: the kernel may leave
// the high halves of a 64-bit process's registers in seccomp_data when it
// makes an i386 call through int 0x80.
func condition(c specs.LinuxSeccompArg, is32 bool) []bpf.Instruction {
	lo, hi := uint32(offArgs+8*c.Index), uint32(offArgs+8*c.Index+4)
	v := c.Value
	var out []bpf.Instruction
	if c.Op == specs.OpMaskedEqual {
		// (arg & Value) == ValueTwo, a half at a time.
		m, d := v, c.ValueTwo
		if !is32 && (m>>32 != 0 || d>>32 != 0) {
			out = append(out, load(hi), bpf.ALUOpConstant{Op: bpf.ALUOpAnd, Val: uint32(m >> 32)},
				bpf.JumpIf{Cond: bpf.JumpEqual, Val: uint32(d >> 32), SkipFalse: failJump})
		}
		out = append(out, load(lo))
		if uint32(m) != 0xffffffff {
			out = append(out, bpf.ALUOpConstant{Op: bpf.ALUOpAnd, Val: uint32(m)})
		}
		return append(out, bpf.JumpIf{Cond: bpf.JumpEqual, Val: uint32(d), SkipFalse: failJump})
	}
	if c.Op == specs.OpNotEqual {
		if !is32 {
			// The high halves differ: it holds, skip the low compare.
			out = append(out, load(hi), bpf.JumpIf{Cond: bpf.JumpEqual, Val: uint32(v >> 32), SkipFalse: 2})
		}
		return append(out, load(lo), bpf.JumpIf{Cond: bpf.JumpEqual, Val: uint32(v), SkipTrue: failJump})
	}
	if c.Op == specs.OpEqualTo {
		if !is32 {
			out = append(out, load(hi), bpf.JumpIf{Cond: bpf.JumpEqual, Val: uint32(v >> 32), SkipFalse: failJump})
		}
		return append(out, load(lo), bpf.JumpIf{Cond: bpf.JumpEqual, Val: uint32(v), SkipFalse: failJump})
	}
	// An ordering: decided by the high halves unless they are equal.
	o := orderings[c.Op]
	if !is32 {
		out = append(out, load(hi),
			bpf.JumpIf{Cond: o.strict, Val: uint32(v >> 32), SkipTrue: 3},
			bpf.JumpIf{Cond: bpf.JumpEqual, Val: uint32(v >> 32), SkipFalse: failJump})
	}
	return append(out, load(lo), bpf.JumpIf{Cond: o.final, Val: uint32(v), SkipFalse: failJump})
}

// orderings are the jumps of an ordering: strict on the high halves (which
// decide unless equal), final on the low halves.
var orderings = map[specs.LinuxSeccompOperator]struct{ strict, final bpf.JumpTest }{
	specs.OpGreaterThan:  {bpf.JumpGreaterThan, bpf.JumpGreaterThan},
	specs.OpGreaterEqual: {bpf.JumpGreaterThan, bpf.JumpGreaterOrEqual},
	specs.OpLessThan:     {bpf.JumpLessThan, bpf.JumpLessThan},
	specs.OpLessEqual:    {bpf.JumpLessThan, bpf.JumpLessOrEqual},
}
