package cgroup

import (
	"errors"
	"fmt"

	"github.com/cilium/ebpf/asm"
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

// deviceProgram compiles device rules of the one shape containerctl makes,
// deny everything then allow a list, into a BPF_PROG_TYPE_CGROUP_DEVICE
// program: cgroup v2's device controller (runc's devicefilter does the same
// with the same library).
func deviceProgram(rules []specs.LinuxDeviceCgroup) (asm.Instructions, error) {
	if len(rules) == 0 || rules[0].Allow || (rules[0].Type != "" && rules[0].Type != "a") || rules[0].Major != nil || rules[0].Minor != nil {
		return nil, errors.New("device rules: the cgroup v2 filter needs a first rule that denies everything")
	}
	insns := asm.Instructions{
		asm.LoadMem(asm.R2, asm.R1, 0, asm.Word), // access_type
		asm.Mov.Reg32(asm.R3, asm.R2),
		asm.And.Imm32(asm.R3, 0xffff), // type
		asm.Mov.Reg32(asm.R4, asm.R2),
		asm.RSh.Imm32(asm.R4, 16),                // access
		asm.LoadMem(asm.R5, asm.R1, 4, asm.Word), // major
		asm.LoadMem(asm.R6, asm.R1, 8, asm.Word), // minor
	}
	for i, r := range rules[1:] {
		if !r.Allow {
			return nil, fmt.Errorf("device rules: rule %d denies; the cgroup v2 filter takes only allows after the first", i+1)
		}
		next := fmt.Sprintf("rule%d", i+1)
		var rule asm.Instructions
		switch r.Type {
		case "c":
			rule = append(rule, asm.JNE.Imm(asm.R3, devChar, next))
		case "b":
			rule = append(rule, asm.JNE.Imm(asm.R3, devBlock, next))
		case "", "a":
		default:
			return nil, fmt.Errorf("device rule type %q: want a, c or b", r.Type)
		}
		if r.Major != nil && *r.Major >= 0 {
			rule = append(rule, asm.JNE.Imm(asm.R5, int32(*r.Major), next))
		}
		if r.Minor != nil && *r.Minor >= 0 {
			rule = append(rule, asm.JNE.Imm(asm.R6, int32(*r.Minor), next))
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
			asm.Mov.Reg32(asm.R7, asm.R4),
			asm.And.Imm32(asm.R7, ^acc&7),
			asm.JNE.Imm(asm.R7, 0, next),
			asm.Mov.Imm(asm.R0, 1),
			asm.Return(),
		)
		insns = append(insns, rule...)
		// The next rule starts at the label this one's misses jump to.
		insns = append(insns, asm.Mov.Imm(asm.R0, 0).WithSymbol(next))
	}
	return append(insns, asm.Mov.Imm(asm.R0, 0), asm.Return()), nil
}
