package runtime

import (
	"bytes"
	"io"
	"testing"
)

func TestConsoleLines(t *testing.T) {
	tests := []struct {
		name    string
		writes  []string // "c:" console, "l:" log
		newline string
		want    string
	}{
		{"prompt then log", []string{"c:vm login: ", "l:halting\n"}, "\n", "vm login: \nhalting\n"},
		{"whole lines", []string{"c:booted\n", "l:halting\n", "c:bye\n"}, "\n", "booted\nhalting\nbye\n"},
		{"raw terminal", []string{"c:login: ", "l:halting\n"}, "\r\n", "login: \r\nhalting\n"},
		{"log first", []string{"l:starting\n", "c:login: "}, "\n", "starting\nlogin: "},
		{"two logs after a prompt", []string{"c:$ ", "l:a\n", "l:b\n"}, "\n", "$ \na\nb\n"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var b bytes.Buffer
			c := newConsoleLines(&b, tt.newline)
			for _, w := range tt.writes {
				to := c.console()
				if w[:2] == "l:" {
					to = c.log()
				}
				if _, err := io.WriteString(to, w[2:]); err != nil {
					t.Fatal(err)
				}
			}
			if got := b.String(); got != tt.want {
				t.Errorf("after %q: stream = %q, want %q", tt.writes, got, tt.want)
			}
		})
	}
}
