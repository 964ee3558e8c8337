package runtime

import (
	"testing"

	"golang.org/x/sys/unix"

	"github.com/containerctl/containerctl/runtime/security"
)

// TestExecInstructions: exec executes the recorded plan, not a spec.
func TestExecInstructions(t *testing.T) {
	p := &Plan{
		NewUTS: true, NewIPC: true, NewCgroupNS: true,
		Process:      Process{Env: []string{"PATH=/x/bin"}, NoNewPrivileges: true},
		Capabilities: &security.Capabilities{Bounding: []int{0, 21}},
		Seccomp:      &security.Seccomp{Flags: 2, Program: []security.Instruction{{Code: 6, K: 0x7fff0000}}},
	}
	in, err := execInstructions(p, execUser{Name: "nobody", UID: 65534, GID: 65534, Home: "/"}, ExecOptions{Args: []string{"id"}, TTY: true})
	if err != nil {
		t.Fatal(err)
	}
	wantNS := uint32(unix.CLONE_NEWNS | unix.CLONE_NEWPID | unix.CLONE_NEWUTS | unix.CLONE_NEWIPC | unix.CLONE_NEWCGROUP)
	if in.NSFlags != wantNS {
		t.Errorf("execInstructions(plan).NSFlags = %#x, want %#x (no network namespace)", in.NSFlags, wantNS)
	}
	if in.Bounding == nil || *in.Bounding != 1<<0|1<<21 {
		t.Errorf("execInstructions(plan).Bounding = %v, want %#x", in.Bounding, 1<<0|1<<21)
	}
	if in.Seccomp == nil || in.Seccomp.Flags != 2 || len(in.Seccomp.Program) != 1 || in.Seccomp.Program[0].K != 0x7fff0000 {
		t.Errorf("execInstructions(plan).Seccomp = %+v, want the plan's program", in.Seccomp)
	}
	if !in.NoNewPrivs || !in.PTY || in.Cwd != "/" || in.UID != 65534 {
		t.Errorf("execInstructions(plan) = %+v, want no_new_privs, a pty, cwd / and uid 65534", in)
	}
	if in.Env[0] != "PATH=/x/bin" || getenv(in.Env, "TERM") != "vt220" {
		t.Errorf("execInstructions(plan).Env = %q, want the plan's PATH and TERM=vt220", in.Env)
	}
	p.Capabilities, p.Seccomp = nil, nil
	if in, _ := execInstructions(p, execUser{}, ExecOptions{Args: []string{"id"}}); in.Bounding != nil || in.Seccomp != nil || getenv(in.Env, "TERM") != "dumb" {
		t.Errorf("execInstructions(plan without caps or seccomp) = %+v, want neither, TERM=dumb", in)
	}
}
