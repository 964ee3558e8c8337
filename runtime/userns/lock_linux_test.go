package userns

import (
	"errors"
	"os"
	"path/filepath"
	"testing"
)

func TestReservePick(t *testing.T) {
	dir := t.TempDir()
	u := &Users{Mode: Pick, Ownership: Map}
	a, err := Reserve(dir, "foo", u, "/nonexistent")
	if err != nil {
		t.Fatal(err)
	}
	b, err := Reserve(dir, "foo", u, "/nonexistent")
	if err != nil {
		t.Fatal(err)
	}
	if a.Range.Overlaps(b.Range) {
		t.Errorf("Reserve(foo) twice = %v and %v; want disjoint ranges while both are held", a.Range, b.Range)
	}
	first := a.Range
	a.Release()
	b.Release()
	if entries, _ := os.ReadDir(dir); len(entries) != 0 {
		t.Errorf("after Release the state directory holds %d files, want none", len(entries))
	}
	again, err := Reserve(dir, "foo", u, "/nonexistent")
	if err != nil {
		t.Fatal(err)
	}
	defer again.Release()
	if again.Range != first {
		t.Errorf("Reserve(foo) after a release = %v, want %v again", again.Range, first)
	}
}

func TestReserveFixed(t *testing.T) {
	dir := t.TempDir()
	held, err := Reserve(dir, "a", &Users{Mode: Fixed, Range: Range{524288, Size}}, "/")
	if err != nil {
		t.Fatal(err)
	}
	defer held.Release()
	if l, err := Reserve(dir, "b", &Users{Mode: Fixed, Range: Range{524288 + 1000, 10}}, "/"); !errors.Is(err, ErrRangeTaken) {
		l.Release()
		t.Errorf("Reserve of a range inside a held one = %v, want %v", err, ErrRangeTaken)
	}
	// A lock file a killed supervisor left behind is no lock.
	stale := filepath.Join(dir, "userns-655360.lock")
	if err := os.WriteFile(stale, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	l, err := Reserve(dir, "c", &Users{Mode: Fixed, Range: Range{655360, Size}}, "/")
	if err != nil {
		t.Fatalf("Reserve over a stale lock file = %v, want it taken over", err)
	}
	l.Release()
}
