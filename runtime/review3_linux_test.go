package runtime

import (
	"os"
	"testing"
)

// TestLetOthersSearch: private users let the range's root search the
// state directory by adding the search bits only: a shared state directory
// (1777, as /tmp) was set to 0711, taking every user's write and the
// sticky bit.
func TestLetOthersSearch(t *testing.T) {
	tests := []struct {
		mode, want os.FileMode
	}{
		{0o700, 0o711},
		{0o755, 0o755},
		{0o777 | os.ModeSticky, 0o777 | os.ModeSticky},
		{0o750 | os.ModeSetgid, 0o751 | os.ModeSetgid},
	}
	for _, tt := range tests {
		dir := t.TempDir()
		if err := os.Chmod(dir, tt.mode); err != nil {
			t.Fatal(err)
		}
		if err := letOthersSearch(dir); err != nil {
			t.Fatalf("letOthersSearch(%v) = %v", tt.mode, err)
		}
		fi, err := os.Stat(dir)
		if err != nil {
			t.Fatal(err)
		}
		if got := fi.Mode() & (os.ModePerm | os.ModeSticky | os.ModeSetgid); got != tt.want {
			t.Errorf("letOthersSearch(%v) = mode %v, want %v", tt.mode, got, tt.want)
		}
	}
}
