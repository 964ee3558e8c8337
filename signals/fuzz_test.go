package signals

import (
	"strings"
	"testing"
)

func FuzzParse(f *testing.F) {
	for _, s := range []string{"SIGRTMIN+3", "rtmin+3", "TERM", "15", "0", "RTMIN+40", "SIGRTMIN+-1", ""} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		sig, err := Parse(s)
		if err != nil {
			if msg := err.Error(); strings.ContainsAny(msg, "\n\r") {
				t.Fatalf("Parse(%q): error %q is not one line", s, msg)
			}
			return
		}
		if sig < 1 || sig > 64 {
			t.Fatalf("Parse(%q) = %d, want a signal from 1 to 64", s, sig)
		}
		// A parsed signal's name parses back to it (signals without a
		// name, glibc's reserved 32 and 33, print as a number).
		name := Name(sig)
		if strings.HasPrefix(name, "signal ") {
			return
		}
		if back, err := Parse(name); err != nil || back != sig {
			t.Fatalf("Parse(Name(%d) = %q) = %d, %v", sig, Name(sig), back, err)
		}
	})
}
