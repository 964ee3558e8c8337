package nsenter

import (
	"encoding/binary"
	"errors"
	"reflect"
	"testing"
)

func TestInstructionsRoundTrip(t *testing.T) {
	bset := uint64(1<<0 | 1<<21 | 1<<40)
	tests := []Instructions{
		{PidFD: 4, NSFlags: 0x20020000, Cwd: "/", Args: []string{"true"}},
		{
			PidFD: 4, NSFlags: 0x7e020000, UID: 65534, GID: 65534, Groups: []uint32{10, 20},
			Cwd: "/tmp", Args: []string{"sh", "-c", "exit 7", ""}, Env: []string{"PATH=/bin", "K=V=W"},
			Bounding: &bset, NoNewPrivs: true, PTY: true, Detach: true,
			Seccomp: &Seccomp{Flags: 2, Program: []Filter{{Code: 0x20, K: 4}, {Code: 0x15, Jt: 1, Jf: 2, K: 0xc000003e}, {Code: 0x6, K: 0x7fff0000}}},
		},
		{
			PidFD: 5, NSFlags: 0x20020000, Cwd: "/", Args: []string{"id"},
			Caps:    &CapSets{Effective: 1 << 10, Permitted: 1<<10 | 1<<5, Inheritable: 1 << 10, Ambient: 1<<10 | 1<<40},
			Rlimits: []Rlimit{{Resource: 7, Soft: 64, Hard: 128}, {Resource: 4, Soft: ^uint64(0), Hard: ^uint64(0)}},
			Umask:   ptr(uint32(0o027)), OOMScoreAdj: ptr(int32(-17)),
		},
	}
	for _, in := range tests {
		b, err := in.MarshalBinary()
		if err != nil {
			t.Fatalf("MarshalBinary(%+v): %v", in, err)
		}
		var got Instructions
		if err := got.UnmarshalBinary(b); err != nil {
			t.Fatalf("UnmarshalBinary(MarshalBinary(%+v)): %v", in, err)
		}
		if !reflect.DeepEqual(got, in) {
			t.Errorf("UnmarshalBinary(MarshalBinary(x)) = %+v, want %+v", got, in)
		}
	}
}

// TestInstructionsLayout pins the bytes the C helper reads.
func TestInstructionsLayout(t *testing.T) {
	in := Instructions{PidFD: 4, NSFlags: 1, Cwd: "/", Args: []string{"id"}, Seccomp: &Seccomp{Flags: 2, Program: []Filter{{Code: 0x6, Jt: 1, Jf: 2, K: 0x7fff0000}}}}
	b, err := in.MarshalBinary()
	if err != nil {
		t.Fatal(err)
	}
	if string(b[:8]) != Magic {
		t.Fatalf("MarshalBinary(x)[:8] = %q, want %q", b[:8], Magic)
	}
	if n := binary.NativeEndian.Uint32(b[8:]); int(n) != len(b)-12 {
		t.Errorf("length field = %d, want %d", n, len(b)-12)
	}
	body := b[12:]
	u32 := func(off int) uint32 { return binary.NativeEndian.Uint32(body[off:]) }
	if u32(0) != TagPidFD || u32(4) != 4 || u32(8) != 4 {
		t.Errorf("first record = tag %d len %d value %d, want tag %d len 4 value 4", u32(0), u32(4), u32(8), TagPidFD)
	}
	// The seccomp record is last: tag, length 4+8, flags, then one
	// struct sock_filter {u16 code; u8 jt; u8 jf; u32 k}.
	sc := body[len(body)-20:]
	want := []byte{TagSeccomp, 0, 0, 0, 12, 0, 0, 0, 2, 0, 0, 0, 6, 0, 1, 2, 0, 0, 0xff, 0x7f}
	if binary.NativeEndian.Uint16([]byte{1, 0}) == 1 && !reflect.DeepEqual(sc, want) {
		t.Errorf("seccomp record = % x, want % x", sc, want)
	}
}

func TestInstructionsRefused(t *testing.T) {
	ok := Instructions{PidFD: 4, Cwd: "/", Args: []string{"id"}}
	tests := map[string]func(*Instructions){
		"no command":       func(in *Instructions) { in.Args = nil },
		"relative cwd":     func(in *Instructions) { in.Cwd = "tmp" },
		"no pidfd":         func(in *Instructions) { in.PidFD = -1 },
		"NUL in argument":  func(in *Instructions) { in.Args = []string{"a\x00b"} },
		"NUL in env":       func(in *Instructions) { in.Env = []string{"A=\x00"} },
		"empty seccomp":    func(in *Instructions) { in.Seccomp = &Seccomp{} },
		"NUL in directory": func(in *Instructions) { in.Cwd = "/a\x00" },
	}
	for name, change := range tests {
		in := ok
		change(&in)
		if _, err := in.MarshalBinary(); !errors.Is(err, ErrInvalid) {
			t.Errorf("%s: MarshalBinary(%+v) = %v, want ErrInvalid", name, in, err)
		}
	}
}

func TestUnmarshalRefused(t *testing.T) {
	good, err := (&Instructions{PidFD: 4, Cwd: "/", Args: []string{"id"}}).MarshalBinary()
	if err != nil {
		t.Fatal(err)
	}
	tests := map[string][]byte{
		"empty":          nil,
		"wrong magic":    append([]byte("CTLNSX02"), good[8:]...),
		"short body":     good[:len(good)-1],
		"unknown tag":    append(append([]byte(Magic), 8, 0, 0, 0), 99, 0, 0, 0, 0, 0, 0, 0),
		"truncated tlv":  append(append([]byte(Magic), 4, 0, 0, 0), 1, 0, 0, 0),
		"long tlv":       append(append([]byte(Magic), 8, 0, 0, 0), 6, 0, 0, 0, 9, 0, 0, 0),
		"bad u32 record": append(append([]byte(Magic), 10, 0, 0, 0), 3, 0, 0, 0, 2, 0, 0, 0, 1, 2),
	}
	for name, b := range tests {
		var in Instructions
		if err := in.UnmarshalBinary(b); !errors.Is(err, ErrInvalid) {
			t.Errorf("%s: UnmarshalBinary(% x) = %v, want ErrInvalid", name, b, err)
		}
	}
}

func TestBoundingMask(t *testing.T) {
	tests := []struct {
		caps []int
		want uint64
		err  bool
	}{
		{nil, 0, false},
		{[]int{0, 1, 21}, 1<<0 | 1<<1 | 1<<21, false},
		{[]int{40, 40}, 1 << 40, false},
		{[]int{64}, 0, true},
		{[]int{-1}, 0, true},
	}
	for _, tt := range tests {
		got, err := BoundingMask(tt.caps)
		if got != tt.want || (err != nil) != tt.err {
			t.Errorf("BoundingMask(%v) = %#x, %v; want %#x, error %v", tt.caps, got, err, tt.want, tt.err)
		}
	}
}

func TestParseStartTime(t *testing.T) {
	tests := []struct {
		stat string
		want uint64
		err  bool
	}{
		{"1 (systemd) S 0 1 1 0 -1 4194560 47 0 0 0 1 2 0 0 20 0 1 0 37 1000 2 18446744073709551615", 37, false},
		{"42 (a) b) c) R 1 42 42 0 -1 0 0 0 0 0 0 0 0 0 20 0 1 0 123456 1 1 1", 123456, false},
		{"42 (sh) S 1 2 3", 0, true},
		{"no name here", 0, true},
		{"1 (x) S 0 1 1 0 -1 4194560 47 0 0 0 1 2 0 0 20 0 1 0 nope 1", 0, true},
	}
	for _, tt := range tests {
		got, err := ParseStartTime(tt.stat)
		if got != tt.want || (err != nil) != tt.err {
			t.Errorf("ParseStartTime(%q) = %d, %v; want %d, error %v", tt.stat, got, err, tt.want, tt.err)
		}
	}
}

func TestParseReply(t *testing.T) {
	tests := []struct{ line, kind, rest string }{
		{"pid 1234", "pid", "1234"},
		{"pty", "pty", ""},
		{"error: chdir /x: No such file or directory", "error", "chdir /x: No such file or directory"},
		{"hello", "", ""},
	}
	for _, tt := range tests {
		kind, rest, err := ParseReply(tt.line)
		if kind != tt.kind || rest != tt.rest || (err != nil) != (tt.kind == "") {
			t.Errorf("ParseReply(%q) = %q, %q, %v; want %q, %q", tt.line, kind, rest, err, tt.kind, tt.rest)
		}
	}
}

func ptr[T any](v T) *T { return &v }
