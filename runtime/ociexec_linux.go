package runtime

import (
	"errors"
	"fmt"
	"os"
	"time"

	specs "github.com/opencontainers/runtime-spec/specs-go"
	"github.com/sirupsen/logrus"
	"golang.org/x/sys/unix"

	"github.com/containerctl/containerctl/cgroup"
	"github.com/containerctl/containerctl/runtime/nsenter"
)

// OCIExec starts a process in a running OCI container. Detached, as runc
// exec --detach, it returns the process's PID on the host once it has
// exec'd, without waiting for it: the caller's subreaper (containerd's
// shim, conmon) inherits it when the caller exits; with TTY, the
// terminal's master goes to consoleSocket. Otherwise it waits, as exec
// does, and returns the process's exit status.
func OCIExec(stateDir, id string, o ExecOptions, consoleSocket string, detach bool) (pid int, retErr error) {
	defer func() {
		if retErr != nil {
			retErr = fmt.Errorf("%s: %w", DisplayName(id), retErr)
		}
	}()
	if err := ValidateName(id); err != nil {
		return -1, err
	}
	if err := checkExecOptions(o); err != nil {
		return -1, err
	}
	if o.Log == nil {
		o.Log = logrus.StandardLogger()
	}
	if detach && o.TTY != (consoleSocket != "") {
		return -1, fmt.Errorf("a detached terminal needs --console-socket, and --console-socket a terminal")
	}
	rec, st, err := loadOCI(stateDir, id)
	if err != nil {
		return -1, err
	}
	rec.abandon()
	// start does not wait for the init's exec; until it has, the init
	// runs containerctl's own binary, which nothing may enter.
	if ociStatus(rec.dir, st) != specs.StateRunning || !st.InitExecd && !awaitExec(st.PID, startWait) {
		return -1, errors.New("container not running")
	}
	st, pidfd, helper, in, err := prepareExec(stateDir, st, o)
	if err != nil {
		return -1, err
	}
	defer pidfd.Close()
	if !detach {
		return runExec(st, pidfd, helper, in, o, o.Log.WithField("container", id))
	}
	in.Detach = true
	stdin, stdout, stderr := o.Stdin, o.Stdout, o.Stderr
	var sock *os.File
	if o.TTY {
		// The process's stdio is the terminal; it gets none of ours.
		null, err := os.OpenFile(os.DevNull, os.O_RDWR, 0)
		if err != nil {
			return -1, err
		}
		defer null.Close()
		stdin, stdout, stderr = null, null, null
		if sock, err = dialConsole(consoleSocket); err != nil {
			return -1, err
		}
		defer sock.Close()
	}
	return startDetached(st, pidfd, helper, in, stdin, stdout, stderr, sock)
}

// startDetached starts the detached process in a cgroup leaf of its own and
// sends its terminal's master, if it has one, to sock.
func startDetached(st State, pidfd *os.File, helper string, in nsenter.Instructions, stdin, stdout, stderr, sock *os.File) (int, error) {
	rid, err := randomID()
	if err != nil {
		return -1, err
	}
	// The leaf stays while the process runs: nothing waits for it here.
	// The next exec removes the empty ones, and delete whatever is left
	// with the container's cgroups.
	cgroup.SweepLeaves(st.Cgroup, execLeafPrefix)
	leaf, err := cgroup.CreateLeaf(st.Cgroup, execLeafPrefix+rid[:12])
	if err != nil {
		return -1, fmt.Errorf("cgroup: %w", err)
	}
	child, err := nsenter.Start(nsenter.Config{
		Helper: helper, PidFD: pidfd, CgroupFD: leaf.FD(), Join: leaf.Add,
		Stdin: stdin, Stdout: stdout, Stderr: stderr, Instructions: in,
	})
	if err != nil {
		_ = leaf.Remove()
		_, err = execStatus(err)
		return -1, err
	}
	if child.PTY != nil {
		err := unix.Sendmsg(int(sock.Fd()), []byte(child.PTY.Name()), unix.UnixRights(int(child.PTY.Fd())), nil, 0)
		child.PTY.Close()
		if err != nil {
			_ = child.Signal(unix.SIGKILL)
			return -1, fmt.Errorf("send terminal to %s: %w", sock.Name(), err)
		}
	}
	if err := child.Detach(10 * time.Second); err != nil {
		_ = leaf.Remove() // kept while in use
		_, err = execStatus(err)
		return -1, err
	}
	return child.Pid, nil
}
