package runtime

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	specs "github.com/opencontainers/runtime-spec/specs-go"
	"github.com/sirupsen/logrus"
	"golang.org/x/sys/unix"

	"github.com/containerctl/containerctl/cgroup"
	"github.com/containerctl/containerctl/runtime/nsenter"
)

// loadOCI locks an OCI record and reads its state.
func loadOCI(stateDir, id string) (*record, State, error) {
	if err := ValidateName(id); err != nil {
		return nil, State{}, err
	}
	rec, err := lockOCI(filepath.Join(stateDir, id))
	if err != nil {
		return nil, State{}, err
	}
	st, err := readState(rec.dir)
	if err != nil {
		rec.abandon()
		if errors.Is(err, os.ErrNotExist) {
			return nil, State{}, ErrNotExist
		}
		return nil, State{}, err
	}
	return rec, st, nil
}

func readOCI(dir string) (ociRecord, error) {
	var o ociRecord
	b, err := os.ReadFile(filepath.Join(dir, ociFile))
	if err == nil {
		err = json.Unmarshal(b, &o)
	}
	return o, err
}

// ociStatus is the container's status as the runtime spec names them.
func ociStatus(dir string, st State) specs.ContainerState {
	switch {
	case !initAlive(st):
		return specs.StateStopped
	case st.Cgroup.Frozen():
		// A created container may be paused too (runc pause).
		return statePaused
	case exists(filepath.Join(dir, execFifoFile)):
		return specs.StateCreated
	}
	return specs.StateRunning
}

// statePaused is the runtime spec's status of a frozen container (runc's
// word; the spec's types have no constant for it).
const statePaused specs.ContainerState = "paused"

func exists(p string) bool {
	_, err := os.Lstat(p)
	return err == nil
}

// procState is the state letter of /proc/PID/stat's text.
func procState(stat string) byte {
	i := strings.LastIndexByte(stat, ')')
	if i < 0 || i+2 >= len(stat) {
		return 0
	}
	return stat[i+2]
}

// ociStateOf is the runtime spec's state of the record at dir, and what
// create recorded beside it.
func ociStateOf(dir string, st State) (specs.State, ociRecord, error) {
	o, err := readOCI(dir)
	if err != nil {
		return specs.State{}, o, err
	}
	s := specs.State{
		Version: specs.Version, ID: st.Name, Status: ociStatus(dir, st),
		Bundle: o.Bundle, Annotations: o.Annotations,
	}
	if s.Status != specs.StateStopped {
		s.Pid = st.PID
	}
	return s, o, nil
}

// OCIContainer is one line of containerctl-oci list.
type OCIContainer struct {
	State   specs.State
	Rootfs  string
	Created time.Time
}

// OCIDescribe is what state prints beyond the runtime spec's fields, as
// runc's state does: the root and the creation time.
func OCIDescribe(stateDir, id string) (OCIContainer, error) {
	rec, st, err := loadOCI(stateDir, id)
	if err != nil {
		return OCIContainer{}, fmt.Errorf("%s: %w", DisplayName(id), err)
	}
	defer rec.abandon()
	s, o, err := ociStateOf(rec.dir, st)
	if err != nil {
		return OCIContainer{}, err
	}
	return OCIContainer{State: s, Rootfs: st.Root, Created: o.Created}, nil
}

// OCIList lists the OCI containers, by ID.
func OCIList(stateDir string) ([]OCIContainer, error) {
	entries, err := os.ReadDir(stateDir)
	if errors.Is(err, os.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	var out []OCIContainer
	for _, e := range entries {
		if !e.IsDir() || ValidateName(e.Name()) != nil {
			continue
		}
		c, err := OCIDescribe(stateDir, e.Name())
		if errors.Is(err, ErrNotExist) {
			continue
		}
		if err != nil {
			return nil, err
		}
		out = append(out, c)
	}
	return out, nil
}

// Kill sends sig to the container's init, or with all to every process in
// its cgroup, as runc kill does.
func Kill(stateDir, id string, sig syscall.Signal, all bool) (retErr error) {
	defer func() {
		if retErr != nil {
			retErr = fmt.Errorf("%s: %w", DisplayName(id), retErr)
		}
	}()
	rec, st, err := loadOCI(stateDir, id)
	if err != nil {
		return err
	}
	defer rec.abandon()
	if all {
		return signalCgroup(st.Cgroup, sig)
	}
	if !initAlive(st) {
		return errors.New("container not running")
	}
	fd, err := nsenter.OpenPidFD(st.PID, st.InitStartTime)
	if err != nil {
		return errors.New("container not running")
	}
	defer fd.Close()
	if err := unix.PidfdSendSignal(int(fd.Fd()), sig, nil, 0); err != nil {
		if errors.Is(err, unix.ESRCH) {
			return errors.New("container not running")
		}
		return err
	}
	return nil
}

// signalCgroup signals every process of the container; a frozen container
// is thawed after SIGKILL, which a frozen task does not act on.
func signalCgroup(r cgroup.Record, sig syscall.Signal) error {
	pids, err := r.Procs()
	if err != nil {
		return err
	}
	for _, pid := range pids {
		_ = unix.Kill(pid, sig)
	}
	if sig == unix.SIGKILL && r.Frozen() {
		return r.Freeze(false)
	}
	return nil
}

// Delete removes what Create made: with the container stopped (or only
// created, as runc), or with force after killing it, its cgroups and its
// record; then the poststop hooks run.
func Delete(stateDir, id string, force bool, log logrus.FieldLogger) (retErr error) {
	defer func() {
		if retErr != nil {
			retErr = fmt.Errorf("%s: %w", DisplayName(id), retErr)
		}
	}()
	rec, st, err := loadOCI(stateDir, id)
	if errors.Is(err, ErrNotExist) && force {
		return nil
	}
	if err != nil {
		return err
	}
	defer rec.abandon()
	state, o, err := ociStateOf(rec.dir, st)
	if err != nil {
		return err
	}
	if (state.Status == specs.StateRunning || state.Status == statePaused) && !force {
		return fmt.Errorf("cannot delete container %s that is not stopped: %s", id, state.Status)
	}
	// cgroup.Remove kills what is left (the init of a created
	// container, anything a stopped init left) and waits for it.
	if err := cgroup.Remove(st.Cgroup); err != nil {
		return err
	}
	rec.clear()
	if err := os.RemoveAll(rec.dir); err != nil {
		return err
	}
	state.Status, state.Pid = specs.StateStopped, 0
	if o.Hooks != nil {
		// poststop failures are warnings, as the spec says: the
		// container is gone by now.
		warnHooks("poststop", o.Hooks.Poststop, state, log)
	}
	return nil
}

// Pause freezes every process of the container, Resume thaws them.
func Pause(stateDir, id string, frozen bool) (retErr error) {
	rec, st, err := loadOCI(stateDir, id)
	if err != nil {
		return fmt.Errorf("%s: %w", DisplayName(id), err)
	}
	defer rec.abandon()
	// As runc: a running or created container is paused, a paused one
	// resumed; anything else is refused.
	switch status := ociStatus(rec.dir, st); {
	case status == specs.StateStopped:
		return fmt.Errorf("%s: container not running", DisplayName(id))
	case frozen && status == statePaused:
		return fmt.Errorf("%s: container already paused", DisplayName(id))
	case !frozen && status != statePaused:
		return fmt.Errorf("%s: container not paused", DisplayName(id))
	}
	if err := st.Cgroup.Freeze(frozen); err != nil {
		return fmt.Errorf("%s: %w", DisplayName(id), err)
	}
	return nil
}

// Processes lists the PIDs of the container's processes on the host.
func Processes(stateDir, id string) ([]int, error) {
	rec, st, err := loadOCI(stateDir, id)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", DisplayName(id), err)
	}
	defer rec.abandon()
	return st.Cgroup.Procs()
}

// runHooks runs hooks in order with the state on stdin, as the runtime
// spec's lifecycle says; the first that fails (or outlasts its timeout)
// stops the rest.
func runHooks(kind string, hooks []specs.Hook, state specs.State) error {
	b, err := json.Marshal(state)
	if err != nil {
		return err
	}
	for _, h := range hooks {
		ctx := context.Background()
		if h.Timeout != nil {
			var cancel context.CancelFunc
			ctx, cancel = context.WithTimeout(ctx, time.Duration(*h.Timeout)*time.Second)
			defer cancel()
		}
		args := h.Args
		if len(args) == 0 {
			args = []string{h.Path}
		}
		cmd := exec.CommandContext(ctx, h.Path)
		cmd.Args, cmd.Env, cmd.Stdin = args, h.Env, bytes.NewReader(b)
		var out bytes.Buffer
		cmd.Stdout, cmd.Stderr = &out, &out
		// A hook killed at its timeout may have left a child holding
		// the output pipe: it is not waited for past a second.
		cmd.WaitDelay = time.Second
		if err := cmd.Run(); ctx.Err() == context.DeadlineExceeded {
			return fmt.Errorf("%s hook %s: timed out after %ds: %s", kind, h.Path, *h.Timeout, strings.TrimSpace(out.String()))
		} else if err != nil {
			return fmt.Errorf("%s hook %s: %w: %s", kind, h.Path, err, strings.TrimSpace(out.String()))
		}
	}
	return nil
}

// warnHooks runs hooks whose failures the spec makes warnings (poststart,
// poststop): each one that fails is logged, and the rest still run.
func warnHooks(kind string, hooks []specs.Hook, state specs.State, log logrus.FieldLogger) {
	for _, h := range hooks {
		if err := runHooks(kind, []specs.Hook{h}, state); err != nil {
			log.Warn(err)
		}
	}
}

// Update sets new limits on a running container's cgroups (runc update),
// checked as a spec's are.
func Update(stateDir, id string, res *specs.LinuxResources) (retErr error) {
	defer func() {
		if retErr != nil {
			retErr = fmt.Errorf("%s: %w", DisplayName(id), retErr)
		}
	}()
	rec, st, err := loadOCI(stateDir, id)
	if err != nil {
		return err
	}
	defer rec.abandon()
	if !initAlive(st) {
		return errors.New("container not running")
	}
	if err := checkResources(res); err != nil {
		return err
	}
	return st.Cgroup.Update(res)
}
