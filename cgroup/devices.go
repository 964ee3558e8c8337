package cgroup

import (
	"encoding/binary"
	"errors"
	"fmt"

	specs "github.com/opencontainers/runtime-spec/specs-go"
)

// Device types and accesses in the program's context, struct
// bpf_cgroup_dev_ctx (linux/bpf.h): access_type is access << 16 | type.
const (
	devBlock = 1
	devChar  = 2

	accMknod = 1
	accRead  = 2
	accWrite = 4
)

// insn is one eBPF instruction, struct bpf_insn (linux/bpf.h). The device
// program needs seven opcodes, written here rather than with cilium/ebpf's
// assembler: that package brings debug/elf, go/format and a dozen more
// packages into the binary, whose initialisation cost every containerctl
// process 0.25 ms before main, four of them in an OCI create/start/delete.
type insn struct {
	op       uint8
	dst, src uint8
	off      int16
	imm      int32
}

// The opcodes used (linux/bpf_common.h, linux/bpf.h): class | op | source.
const (
	opLoadWord = 0x61 // BPF_LDX | BPF_MEM | BPF_W: dst = *(u32 *)(src + off)
	opMov32Reg = 0xbc // BPF_ALU | BPF_MOV | BPF_X: dst = (u32)src
	opAnd32Imm = 0x54 // BPF_ALU | BPF_AND | BPF_K: dst &= imm
	opRsh32Imm = 0x74 // BPF_ALU | BPF_RSH | BPF_K: dst >>= imm
	opMovImm   = 0xb7 // BPF_ALU64 | BPF_MOV | BPF_K: dst = imm
	opJneImm   = 0x55 // BPF_JMP | BPF_JNE | BPF_K: if dst != imm, skip off
	opExit     = 0x95 // BPF_JMP | BPF_EXIT: return r0
)

// insnSize is the size of one instruction.
const insnSize = 8

// The registers: r1 holds the context on entry, r0 the verdict on exit.
const (
	r0 = iota
	r1
	r2
	r3
	r4
	r5
	r6
	r7
)

// deviceProgram compiles device rules of the one shape containerctl makes,
// deny everything then allow a list, into a BPF_PROG_TYPE_CGROUP_DEVICE
// program: cgroup v2's device controller (runc's devicefilter makes the
// same program). Each rule is a block whose misses jump to the one after
// it; a match returns 1 (allow), the end returns 0 (deny).
func deviceProgram(rules []specs.LinuxDeviceCgroup) ([]insn, error) {
	if len(rules) == 0 || rules[0].Allow || (rules[0].Type != "" && rules[0].Type != "a") || rules[0].Major != nil || rules[0].Minor != nil {
		return nil, errors.New("device rules: the cgroup v2 filter needs a first rule that denies everything")
	}
	insns := []insn{
		{op: opLoadWord, dst: r2, src: r1, off: 0}, // access_type
		{op: opMov32Reg, dst: r3, src: r2},
		{op: opAnd32Imm, dst: r3, imm: 0xffff}, // type
		{op: opMov32Reg, dst: r4, src: r2},
		{op: opRsh32Imm, dst: r4, imm: 16},         // access
		{op: opLoadWord, dst: r5, src: r1, off: 4}, // major
		{op: opLoadWord, dst: r6, src: r1, off: 8}, // minor
	}
	for i, r := range rules[1:] {
		if !r.Allow {
			return nil, fmt.Errorf("device rules: rule %d denies; the cgroup v2 filter takes only allows after the first", i+1)
		}
		// The rule's jumps get their off once the block is complete.
		var rule []insn
		switch r.Type {
		case "c":
			rule = append(rule, insn{op: opJneImm, dst: r3, imm: devChar})
		case "b":
			rule = append(rule, insn{op: opJneImm, dst: r3, imm: devBlock})
		case "", "a":
		default:
			return nil, fmt.Errorf("device rule type %q: want a, c or b", r.Type)
		}
		if r.Major != nil && *r.Major >= 0 {
			rule = append(rule, insn{op: opJneImm, dst: r5, imm: int32(*r.Major)})
		}
		if r.Minor != nil && *r.Minor >= 0 {
			rule = append(rule, insn{op: opJneImm, dst: r6, imm: int32(*r.Minor)})
		}
		var acc int32
		access := r.Access
		if access == "" {
			access = "rwm"
		}
		for _, c := range access {
			switch c {
			case 'r':
				acc |= accRead
			case 'w':
				acc |= accWrite
			case 'm':
				acc |= accMknod
			default:
				return nil, fmt.Errorf("device rule access %q: want some of r, w, m", access)
			}
		}
		// Allowed when the access asked for is within the rule's.
		rule = append(rule,
			insn{op: opMov32Reg, dst: r7, src: r4},
			insn{op: opAnd32Imm, dst: r7, imm: ^acc & 7},
			insn{op: opJneImm, dst: r7, imm: 0},
			insn{op: opMovImm, dst: r0, imm: 1},
			insn{op: opExit},
		)
		// Every jump of the block goes to the instruction after it.
		for j := range rule {
			if rule[j].op == opJneImm {
				rule[j].off = int16(len(rule) - j - 1)
			}
		}
		insns = append(insns, rule...)
		insns = append(insns, insn{op: opMovImm, dst: r0, imm: 0})
	}
	return append(insns, insn{op: opMovImm, dst: r0, imm: 0}, insn{op: opExit}), nil
}

// marshalProgram encodes insns in the host's byte order, as bpf(2) takes
// them. The two registers share a byte, dst in the bitfield declared
// first: the low nibble on a little-endian host, the high one otherwise.
func marshalProgram(insns []insn) []byte {
	b := make([]byte, 0, len(insns)*insnSize)
	little := binary.NativeEndian.Uint16([]byte{1, 0}) == 1
	for _, in := range insns {
		regs := in.src<<4 | in.dst&0xf
		if !little {
			regs = in.dst<<4 | in.src&0xf
		}
		b = append(b, in.op, regs)
		b = binary.NativeEndian.AppendUint16(b, uint16(in.off))
		b = binary.NativeEndian.AppendUint32(b, uint32(in.imm))
	}
	return b
}
