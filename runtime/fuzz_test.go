package runtime

import (
	"strings"
	"testing"
)

// oneLine fails when a rejection is not one clear line.
func oneLine(t *testing.T, what string, err error) {
	t.Helper()
	if err == nil {
		return
	}
	if msg := err.Error(); msg == "" || strings.ContainsAny(msg, "\n\r") {
		t.Fatalf("%s: error %q is not one line", what, msg)
	}
}

func FuzzValidateName(f *testing.F) {
	for _, s := range []string{"foo", "web-1.example_2", "", "../x", "a/b", "-x", ".x", "a\nb", strings.Repeat("a", 65)} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, name string) {
		err := ValidateName(name)
		// The error names the container, quoted: one line whatever the
		// name holds.
		oneLine(t, "ValidateName", err)
		if err == nil && (strings.ContainsAny(name, "/\n\x00") || name == "." || name == "..") {
			t.Fatalf("ValidateName(%q) = nil, want an error: the name is a path component", name)
		}
		if d := DisplayName(name); strings.ContainsAny(d, "\n\r") {
			t.Fatalf("DisplayName(%q) = %q, more than one line", name, d)
		}
	})
}

func FuzzValidateHostname(f *testing.F) {
	for _, s := range []string{"foo", "a.b.c", "bad host", "a/b", "-x", "x-", "a..b", strings.Repeat("h", 65), "ünï"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, h string) {
		err := ValidateHostname(h)
		oneLine(t, "ValidateHostname", err)
		if err == nil && (len(h) > 64 || strings.ContainsAny(h, " /\n\x00")) {
			t.Fatalf("ValidateHostname(%q) = nil, want an error", h)
		}
	})
}
