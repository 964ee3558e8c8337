package runtime

import (
	"errors"
	"strings"
	"testing"
)

func TestValidateName(t *testing.T) {
	for _, tt := range []struct {
		name string
		ok   bool
	}{
		{"foo", true},
		{"web-1.example_2", true},
		{"A", true},
		{strings.Repeat("a", 64), true},
		{strings.Repeat("a", 65), false},
		{"", false},
		{"../x", false},
		{"a/b", false},
		{".hidden", false},
		{"-flag", false},
		{"..", false},
		{"sp ace", false},
		{"new\nline", false},
		{"caf\u00e9", false},
	} {
		err := ValidateName(tt.name)
		if (err == nil) != tt.ok {
			t.Errorf("ValidateName(%q) = %v, want ok=%v", tt.name, err, tt.ok)
		}
		if err != nil && !errors.Is(err, ErrInvalidName) {
			t.Errorf("ValidateName(%q) = %v, want it to match ErrInvalidName", tt.name, err)
		}
	}
}
