package network

import (
	"crypto/sha256"
	"encoding/hex"
	"strings"
	"testing"
)

func TestLinkName(t *testing.T) {
	long := strings.Repeat("x", 40)
	for _, tt := range []struct {
		prefix, name, short, alt string
	}{
		{"ve-", "foo", "ve-foo", ""},
		{"ve-", "twelve-chars", "ve-twelve-chars", ""},
		{"vb-", "twelve-chars", "vb-twelve-chars", ""},
		{"ve-", "thirteen-char", "ve-thir" + hash8("ve-thirteen-char"), "ve-thirteen-char"},
		{"ve-", long, "ve-xxxx" + hash8("ve-"+long), "ve-" + long},
	} {
		short, alt := LinkName(tt.prefix, tt.name)
		if short != tt.short || alt != tt.alt {
			t.Errorf("LinkName(%q, %q) = %q, %q, want %q, %q", tt.prefix, tt.name, short, alt, tt.short, tt.alt)
		}
		if len(short) > MaxLinkName {
			t.Errorf("LinkName(%q, %q) = %q: longer than %d", tt.prefix, tt.name, short, MaxLinkName)
		}
	}
}

// Names that share their first 15 characters get different links.
func TestLinkNameUnique(t *testing.T) {
	a, _ := LinkName("ve-", "webserver-production-1")
	b, _ := LinkName("ve-", "webserver-production-2")
	if a == b {
		t.Errorf("LinkName(ve-, webserver-production-1) = LinkName(ve-, webserver-production-2) = %q, want different names", a)
	}
}

// hash8 is the first 8 hex digits of s's SHA-256, recomputed here so that
// the test checks the formula.
func hash8(s string) string {
	sum := sha256.Sum256([]byte(s))
	return hex.EncodeToString(sum[:])[:8]
}

func TestMAC(t *testing.T) {
	a, b := MAC("foo", "host0"), MAC("foo", "ve-")
	if a.String() == b.String() {
		t.Errorf("MAC(foo, host0) = MAC(foo, ve-) = %v, want different addresses", a)
	}
	if got := MAC("foo", "host0").String(); got != a.String() {
		t.Errorf("MAC(foo, host0) = %v, then %v: want stable", a, got)
	}
	for _, m := range [][]byte{a, b, MAC("bar", "host0")} {
		if m[0]&1 != 0 || m[0]&2 == 0 {
			t.Errorf("MAC = %x, want a locally administered unicast address", m)
		}
	}
}
