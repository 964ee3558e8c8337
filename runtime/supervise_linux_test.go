package runtime

import (
	"fmt"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// TestTakesSignal: a process with no handler for a signal does not take
// it; one whose shell traps it does.
func TestTakesSignal(t *testing.T) {
	for _, tt := range []struct {
		name   string
		script string
		comm   string // what runs once the script is set
		want   bool
	}{
		{"default", "exec sleep 100", "sleep", false},
		{"ignored", `trap "" USR1; exec sleep 100`, "sleep", false},
		{"caught", `trap "echo" USR1; while :; do sleep 1; done`, "sh", true},
	} {
		t.Run(tt.name, func(t *testing.T) {
			cmd := exec.Command("/bin/sh", "-c", tt.script)
			if err := cmd.Start(); err != nil {
				t.Fatal(err)
			}
			defer func() { _ = cmd.Process.Kill(); _ = cmd.Wait() }()
			// Until the script has set its trap and exec'd, it is not
			// what is asked about.
			for deadline := time.Now().Add(5 * time.Second); ; time.Sleep(10 * time.Millisecond) {
				b, _ := os.ReadFile(fmt.Sprintf("/proc/%d/comm", cmd.Process.Pid))
				if strings.TrimSpace(string(b)) == tt.comm {
					break
				}
				if time.Now().After(deadline) {
					t.Fatalf("the script did not exec %s", tt.comm)
				}
			}
			got, err := takesSignal(cmd.Process.Pid, unix.SIGUSR1)
			// A shell may not have set its trap yet: wait for it.
			for deadline := time.Now().Add(5 * time.Second); tt.want && err == nil && !got && time.Now().Before(deadline); {
				time.Sleep(10 * time.Millisecond)
				got, err = takesSignal(cmd.Process.Pid, unix.SIGUSR1)
			}
			if err != nil || got != tt.want {
				t.Errorf("takesSignal: %v, %v; want %v", got, err, tt.want)
			}
		})
	}
	if _, err := takesSignal(1<<30, unix.SIGUSR1); err == nil {
		t.Errorf("no such process: no error")
	}
}
