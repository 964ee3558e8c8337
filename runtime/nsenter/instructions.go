package nsenter

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"strconv"
	"strings"
)

// Magic opens every instruction block; a helper of another version refuses
// what it cannot read.
const Magic = "CTLNSX01"

// maxBody is the largest instruction block the helper accepts.
const maxBody = 16 << 20

// The record tags (see the package documentation).
const (
	TagPidFD = iota + 1
	TagNSFlags
	TagUID
	TagGID
	TagGroups
	TagCwd
	TagArg
	TagEnv
	TagCapBSet
	TagNoNewPrivs
	TagSeccomp
	TagPTY
	TagDetach
	TagCaps
	TagRlimit
	TagUmask
	TagOOMScoreAdj
)

// ErrInvalid is instructions that cannot be encoded or decoded.
var ErrInvalid = errors.New("invalid nsenter instructions")

// Filter is one struct sock_filter of a compiled seccomp program.
type Filter struct {
	Code   uint16
	Jt, Jf uint8
	K      uint32
}

// Seccomp is a compiled filter and its seccomp(2) flags.
type Seccomp struct {
	Flags   uint32
	Program []Filter
}

// Instructions are what the helper executes.
type Instructions struct {
	PidFD    int    // the init's pidfd, as the helper's fd number
	NSFlags  uint32 // CLONE_NEW* of the namespaces to join
	UID, GID uint32
	Groups   []uint32
	Cwd      string
	Args     []string
	Env      []string
	// Bounding is the bounding set's mask; nil leaves it as it is.
	Bounding   *uint64
	NoNewPrivs bool
	Seccomp    *Seccomp // nil: no filter
	PTY        bool
	// Detach: the process outlives the caller (no parent-death signal),
	// for an OCI exec --detach, whose caller's subreaper inherits it.
	Detach bool
	// Caps are the sets the command execs with; nil leaves permitted and
	// effective as the bounding set, and none inheritable or ambient.
	Caps        *CapSets
	Rlimits     []Rlimit
	Umask       *uint32
	OOMScoreAdj *int32
}

// CapSets are capability masks (bit N is capability N).
type CapSets struct {
	Effective, Permitted, Inheritable, Ambient uint64
}

// Rlimit is one resource limit, by Linux resource number.
type Rlimit struct {
	Resource   uint32
	Soft, Hard uint64
}

// MarshalBinary encodes the instructions for the helper.
func (in *Instructions) MarshalBinary() ([]byte, error) {
	if len(in.Args) == 0 {
		return nil, fmt.Errorf("%w: no command", ErrInvalid)
	}
	if !strings.HasPrefix(in.Cwd, "/") {
		return nil, fmt.Errorf("%w: working directory %q is not absolute", ErrInvalid, in.Cwd)
	}
	if in.PidFD < 0 {
		return nil, fmt.Errorf("%w: no pidfd", ErrInvalid)
	}
	var body bytes.Buffer
	rec := func(tag uint32, v []byte) {
		body.Write(binary.NativeEndian.AppendUint32(nil, tag))
		body.Write(binary.NativeEndian.AppendUint32(nil, uint32(len(v))))
		body.Write(v)
	}
	u32 := func(v uint32) []byte { return binary.NativeEndian.AppendUint32(nil, v) }
	rec(TagPidFD, u32(uint32(in.PidFD)))
	rec(TagNSFlags, u32(in.NSFlags))
	rec(TagUID, u32(in.UID))
	rec(TagGID, u32(in.GID))
	var groups []byte
	for _, g := range in.Groups {
		groups = binary.NativeEndian.AppendUint32(groups, g)
	}
	rec(TagGroups, groups)
	strs := []struct {
		tag  uint32
		what string
		vals []string
	}{{TagCwd, "working directory", []string{in.Cwd}}, {TagArg, "argument", in.Args}, {TagEnv, "environment variable", in.Env}}
	for _, s := range strs {
		for _, v := range s.vals {
			if strings.IndexByte(v, 0) >= 0 {
				return nil, fmt.Errorf("%w: %s %s contains a NUL byte", ErrInvalid, s.what, strconv.Quote(v))
			}
			rec(s.tag, []byte(v))
		}
	}
	if in.Bounding != nil {
		rec(TagCapBSet, binary.NativeEndian.AppendUint64(nil, *in.Bounding))
	}
	if in.NoNewPrivs {
		rec(TagNoNewPrivs, nil)
	}
	if in.Seccomp != nil {
		if len(in.Seccomp.Program) == 0 || len(in.Seccomp.Program) > 0xffff {
			return nil, fmt.Errorf("%w: seccomp program of %d instructions", ErrInvalid, len(in.Seccomp.Program))
		}
		v := u32(in.Seccomp.Flags)
		for _, f := range in.Seccomp.Program {
			v = binary.NativeEndian.AppendUint16(v, f.Code)
			v = append(v, f.Jt, f.Jf)
			v = binary.NativeEndian.AppendUint32(v, f.K)
		}
		rec(TagSeccomp, v)
	}
	if in.PTY {
		rec(TagPTY, nil)
	}
	if in.Detach {
		rec(TagDetach, nil)
	}
	if c := in.Caps; c != nil {
		var v []byte
		for _, m := range []uint64{c.Effective, c.Permitted, c.Inheritable, c.Ambient} {
			v = binary.NativeEndian.AppendUint64(v, m)
		}
		rec(TagCaps, v)
	}
	for _, r := range in.Rlimits {
		v := binary.NativeEndian.AppendUint64(binary.NativeEndian.AppendUint64(u32(r.Resource), r.Soft), r.Hard)
		rec(TagRlimit, v)
	}
	if in.Umask != nil {
		rec(TagUmask, u32(*in.Umask))
	}
	if in.OOMScoreAdj != nil {
		rec(TagOOMScoreAdj, u32(uint32(*in.OOMScoreAdj)))
	}
	if body.Len() > maxBody {
		return nil, fmt.Errorf("%w: %d bytes, more than %d", ErrInvalid, body.Len(), maxBody)
	}
	out := append([]byte(Magic), binary.NativeEndian.AppendUint32(nil, uint32(body.Len()))...)
	return append(out, body.Bytes()...), nil
}

// UnmarshalBinary decodes instructions as the helper reads them; the tests
// check the encoding against it.
func (in *Instructions) UnmarshalBinary(b []byte) error {
	*in = Instructions{PidFD: -1}
	if len(b) < len(Magic)+4 || string(b[:len(Magic)]) != Magic {
		return fmt.Errorf("%w: no %s header", ErrInvalid, Magic)
	}
	n := binary.NativeEndian.Uint32(b[len(Magic):])
	body := b[len(Magic)+4:]
	if uint32(len(body)) != n {
		return fmt.Errorf("%w: body of %d bytes, header says %d", ErrInvalid, len(body), n)
	}
	for len(body) > 0 {
		if len(body) < 8 {
			return fmt.Errorf("%w: truncated record", ErrInvalid)
		}
		tag, l := binary.NativeEndian.Uint32(body), binary.NativeEndian.Uint32(body[4:])
		if uint64(l) > uint64(len(body)-8) {
			return fmt.Errorf("%w: truncated record %d", ErrInvalid, tag)
		}
		if err := in.record(tag, body[8:8+l]); err != nil {
			return err
		}
		body = body[8+l:]
	}
	return nil
}

func (in *Instructions) record(tag uint32, v []byte) error {
	u32 := func(dst *uint32) error {
		if len(v) != 4 {
			return fmt.Errorf("%w: record %d of %d bytes, want 4", ErrInvalid, tag, len(v))
		}
		*dst = binary.NativeEndian.Uint32(v)
		return nil
	}
	var x uint32
	switch tag {
	case TagPidFD:
		err := u32(&x)
		in.PidFD = int(x)
		return err
	case TagNSFlags:
		return u32(&in.NSFlags)
	case TagUID:
		return u32(&in.UID)
	case TagGID:
		return u32(&in.GID)
	case TagGroups:
		for i := 0; i+4 <= len(v); i += 4 {
			in.Groups = append(in.Groups, binary.NativeEndian.Uint32(v[i:]))
		}
	case TagCwd:
		in.Cwd = string(v)
	case TagArg:
		in.Args = append(in.Args, string(v))
	case TagEnv:
		in.Env = append(in.Env, string(v))
	case TagCapBSet:
		if len(v) != 8 {
			return fmt.Errorf("%w: capability set of %d bytes", ErrInvalid, len(v))
		}
		m := binary.NativeEndian.Uint64(v)
		in.Bounding = &m
	case TagNoNewPrivs:
		in.NoNewPrivs = true
	case TagSeccomp:
		if len(v) < 4 || (len(v)-4)%8 != 0 {
			return fmt.Errorf("%w: seccomp record of %d bytes", ErrInvalid, len(v))
		}
		s := &Seccomp{Flags: binary.NativeEndian.Uint32(v)}
		for p := v[4:]; len(p) > 0; p = p[8:] {
			s.Program = append(s.Program, Filter{Code: binary.NativeEndian.Uint16(p), Jt: p[2], Jf: p[3], K: binary.NativeEndian.Uint32(p[4:])})
		}
		in.Seccomp = s
	case TagPTY:
		in.PTY = true
	case TagDetach:
		in.Detach = true
	case TagCaps:
		if len(v) != 32 {
			return fmt.Errorf("%w: capability sets of %d bytes", ErrInvalid, len(v))
		}
		in.Caps = &CapSets{binary.NativeEndian.Uint64(v), binary.NativeEndian.Uint64(v[8:]), binary.NativeEndian.Uint64(v[16:]), binary.NativeEndian.Uint64(v[24:])}
	case TagRlimit:
		if len(v) != 20 {
			return fmt.Errorf("%w: rlimit of %d bytes", ErrInvalid, len(v))
		}
		in.Rlimits = append(in.Rlimits, Rlimit{binary.NativeEndian.Uint32(v), binary.NativeEndian.Uint64(v[4:]), binary.NativeEndian.Uint64(v[12:])})
	case TagUmask:
		err := u32(&x)
		in.Umask = &x
		return err
	case TagOOMScoreAdj:
		err := u32(&x)
		adj := int32(x)
		in.OOMScoreAdj = &adj
		return err
	default:
		return fmt.Errorf("%w: unknown record %d", ErrInvalid, tag)
	}
	return nil
}

// BoundingMask is the mask of capability numbers caps (each below 64).
func BoundingMask(caps []int) (uint64, error) {
	var m uint64
	for _, c := range caps {
		if c < 0 || c > 63 {
			return 0, fmt.Errorf("%w: capability number %d", ErrInvalid, c)
		}
		m |= 1 << c
	}
	return m, nil
}

// ParseStartTime reads a process's start time (field 22, in clock ticks
// since boot) from the text of /proc/PID/stat. The command name in field 2
// may hold spaces and parentheses, so fields are counted after its last ')'.
func ParseStartTime(stat string) (uint64, error) {
	i := strings.LastIndexByte(stat, ')')
	if i < 0 {
		return 0, fmt.Errorf("/proc/PID/stat: no command name")
	}
	// Field 3 (the state) is the first after the name.
	f := strings.Fields(stat[i+1:])
	if len(f) < 20 {
		return 0, fmt.Errorf("/proc/PID/stat: %d fields after the name, want 20", len(f))
	}
	t, err := strconv.ParseUint(f[19], 10, 64)
	if err != nil {
		return 0, fmt.Errorf("/proc/PID/stat: start time: %w", err)
	}
	return t, nil
}

// ParseReply reads one line of the helper's answer: its kind ("pid", "pty"
// or "error") and the rest.
func ParseReply(line string) (kind, rest string, err error) {
	switch {
	case strings.HasPrefix(line, "pid "):
		return "pid", strings.TrimPrefix(line, "pid "), nil
	case line == "pty":
		return "pty", "", nil
	case strings.HasPrefix(line, "error: "):
		return "error", strings.TrimPrefix(line, "error: "), nil
	}
	return "", "", fmt.Errorf("unexpected line %q from containerctl-nsenter", line)
}
