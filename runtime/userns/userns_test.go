package userns

import (
	"errors"
	"slices"
	"testing"

	"github.com/containerctl/containerctl/mount"
)

func TestParse(t *testing.T) {
	for _, tt := range []struct {
		in   string
		want *Users
	}{
		{"no", nil},
		{"", nil},
		{"identity", &Users{Mode: Identity, Range: Range{0, Size}, Ownership: Map}},
		{"pick", &Users{Mode: Pick, Ownership: Map}},
		{"yes", &Users{Mode: Pick, Ownership: Map}},
		{"524288:65536", &Users{Mode: Fixed, Range: Range{524288, 65536}, Ownership: Map}},
		{"524288", &Users{Mode: Fixed, Range: Range{524288, Size}, Ownership: Map}},
		{"100000:1000", &Users{Mode: Fixed, Range: Range{100000, 1000}, Ownership: Map}},
	} {
		got, err := Parse(tt.in)
		if err != nil || (got == nil) != (tt.want == nil) || got != nil && *got != *tt.want {
			t.Errorf("Parse(%q) = %+v, %v; want %+v", tt.in, got, err, tt.want)
		}
	}
	for _, in := range []string{"maybe", "0:65536", "1:0", "-5", "4294967295", "4294901760:65536", "524288:x", "524288:"} {
		if got, err := Parse(in); !errors.Is(err, ErrInvalid) {
			t.Errorf("Parse(%q) = %+v, %v; want %v", in, got, err, ErrInvalid)
		}
	}
}

func TestParseOwnership(t *testing.T) {
	for in, want := range map[string]Ownership{"": Map, "map": Map, "chown": Chown, "auto": Chown} {
		if got, err := ParseOwnership(in); err != nil || got != want {
			t.Errorf("ParseOwnership(%q) = %q, %v; want %q", in, got, err, want)
		}
	}
	if got, err := ParseOwnership("off"); !errors.Is(err, ErrInvalid) {
		t.Errorf("ParseOwnership(off) = %q, %v; want %v", got, err, ErrInvalid)
	}
}

func TestCandidates(t *testing.T) {
	a, b := Candidates("foo", 8), Candidates("foo", 8)
	if !slices.Equal(a, b) {
		t.Errorf("Candidates(foo) = %v, then %v; want the same each time", a, b)
	}
	if c := Candidates("bar", 1); c[0] == a[0] {
		t.Errorf("Candidates(bar)[0] = Candidates(foo)[0] = %d; want different names to start apart", c[0])
	}
	seen := map[uint32]bool{}
	for _, base := range Candidates("foo", pickSlots+5) {
		if base%Size != 0 || base < pickFirst || uint64(base)+Size > pickLast {
			t.Errorf("Candidates(foo) has %#x; want 64K-aligned in [%#x, %#x)", base, pickFirst, pickLast)
		}
		if seen[base] {
			t.Fatalf("Candidates(foo) has %#x twice", base)
		}
		seen[base] = true
	}
	if len(seen) != pickSlots {
		t.Errorf("Candidates(foo, all) = %d bases, want %d", len(seen), pickSlots)
	}
}

func TestHostIDs(t *testing.T) {
	passwd := "root:x:0:0:root:/root:/bin/sh\n# comment\nbad line\nsvc:x:524300:524300::/:/bin/false\n"
	if got, want := HostIDs([]byte(passwd)), []uint32{0, 524300}; !slices.Equal(got, want) {
		t.Errorf("HostIDs = %v, want %v", got, want)
	}
	r := Range{524288, Size}
	if id, ok := Holds(r, []uint32{0, 524300}); !ok || id != 524300 {
		t.Errorf("Holds(%v, [0 524300]) = %d, %v; want 524300, true", r, id, ok)
	}
	if _, ok := Holds(r, []uint32{0, 589824}); ok {
		t.Errorf("Holds(%v, [0 589824]) = true, want false: 589824 is the first ID after it", r)
	}
}

func TestBlocks(t *testing.T) {
	for _, tt := range []struct {
		r    Range
		want []uint32
	}{
		{Range{524288, Size}, []uint32{524288}},
		{Range{524288 + 100, Size}, []uint32{524288, 589824}},
		{Range{524288, 2 * Size}, []uint32{524288, 589824}},
		{Range{600000, 10}, []uint32{589824}},
	} {
		if got := Blocks(tt.r); !slices.Equal(got, tt.want) {
			t.Errorf("Blocks(%v) = %v, want %v", tt.r, got, tt.want)
		}
	}
	if !(Range{524288, Size}).Overlaps(Range{524288 + Size - 1, 1}) || (Range{524288, Size}).Overlaps(Range{524288 + Size, 1}) {
		t.Errorf("Overlaps: wrong at the range's last ID or the one after it")
	}
}

func TestRewrite(t *testing.T) {
	steps := []mount.Step{
		{Kind: mount.Mount, FSType: "proc", Source: "proc", Target: "/proc"},
		{Kind: mount.Mount, FSType: "sysfs", Source: "sysfs", Target: "/sys", Flags: msRdonly | msNosuid},
		{Kind: mount.Bind, Source: "/proc/self/fd/0", Target: "/dev/console"},
		{Kind: mount.Device, Target: "/dev/null", Mode: 0o20666, Major: 1, Minor: 3},
		{Kind: mount.Bind, Source: "/nix", Target: "/nix", Flags: msRec | msRdonly},
	}
	got, staged := Rewrite(steps, "/var/lib/containers/foo", "/run/c/foo/userns", false, Map)
	want := []mount.Step{
		steps[0],
		{Kind: mount.Bind, Source: "/run/c/foo/userns/sysfs1", Target: "/sys", Flags: msRdonly | msNosuid},
		steps[2],
		{Kind: mount.Bind, Source: "/dev/null", Target: "/dev/null"},
		{Kind: mount.Bind, Source: "/run/c/foo/userns/2", Target: "/nix", Flags: msRec | msRdonly},
	}
	if !slices.Equal(got, want) {
		t.Errorf("Rewrite(steps) = %+v\nwant %+v", got, want)
	}
	wantStaged := []Staged{
		{Kind: StageTree, Name: RootName, Source: "/var/lib/containers/foo", Flags: msRec},
		{Kind: StageSysfs, Name: "sysfs1", Flags: msRdonly | msNosuid},
		{Kind: StageTree, Name: "2", Source: "/nix", Flags: msRec | msRdonly},
	}
	if !slices.Equal(staged, wantStaged) {
		t.Errorf("Rewrite(steps) stages %+v\nwant %+v", staged, wantStaged)
	}
	// With a network namespace of its own, the guest mounts its sysfs.
	if got, _ := Rewrite(steps[1:2], "/r", "/s", true, Chown); !slices.Equal(got, steps[1:2]) {
		t.Errorf("Rewrite(sysfs, own network) = %+v, want it as it is", got)
	}
	if _, staged := Rewrite(steps[4:], "/r", "/s", false, Chown); !staged[0].Optional || !staged[1].Optional {
		t.Errorf("Rewrite(Chown) stages %+v; want every tree optional", staged)
	}
	// A writable bind is idmapped only with the idmap option.
	binds := []mount.Step{
		{Kind: mount.Bind, Source: "/srv/a", Target: "/a"},
		{Kind: mount.Bind, Source: "/srv/b", Target: "/b", Idmap: true},
	}
	if _, staged := Rewrite(binds, "/r", "/s", false, Map); staged[1].Kind != StagePlain || staged[2].Kind != StageTree {
		t.Errorf("Rewrite(writable binds) stages %+v; want the one without idmap plain, the one with it idmapped", staged)
	}
	// The supervisor's own files, beside the stage, are bound as they are.
	own := []mount.Step{{Kind: mount.Bind, Source: "/run/c/foo/notify", Target: "/run/host/notify", Flags: msRdonly}}
	for _, o := range []Ownership{Map, Chown} {
		_, staged := Rewrite(own, "/r", "/run/c/foo/userns", false, o)
		if want := (Staged{Kind: StageOwn, Name: "1", Source: "/run/c/foo/notify", Flags: msRdonly}); staged[1] != want {
			t.Errorf("Rewrite(notify socket, %s) stages %+v, want %+v", o, staged[1], want)
		}
	}
}
