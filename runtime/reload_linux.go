package runtime

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"path"
	"path/filepath"
	"strconv"
	"time"

	"golang.org/x/sys/unix"
)

// ReloadOptions say what `containerctl reload` activates.
type ReloadOptions struct {
	// Path is the system profile to switch to; "" reloads the one the
	// container runs (its profile link, which nix-env --set may have
	// moved).
	Path string
	// RestartIfNeeded halts the container and starts it again from Path
	// when the profile cannot be switched to in place.
	RestartIfNeeded bool
	// Exec carries the output and the log of the switch (its Args, User
	// and TTY are set by Reload).
	Exec ExecOptions
}

// ErrNotSwitchable is a profile that cannot be activated in the running
// container (see switchable).
var ErrNotSwitchable = errors.New("cannot be switched to in place")

// Reload activates a system profile in the running container without a
// reboot, as NixOS's container@.service ExecReload does: it runs
// PROFILE/bin/switch-to-configuration test inside, as root, with a login
// environment, in every namespace of the container, and returns its exit
// status. The profile is then recorded as the container's (status shows
// it, the next reload uses it). A switch that fails leaves the record as
// it was.
func Reload(stateDir, name string, o ReloadOptions) (status int, restarted bool, retErr error) {
	defer func() {
		if retErr != nil {
			retErr = fmt.Errorf("%s: %w", DisplayName(name), retErr)
		}
	}()
	st, err := awaitRecord(filepath.Join(stateDir, name), func(s State) bool { return s.InitExecd }, startWait)
	if err != nil {
		return -1, false, err
	}
	p, err := LoadPlan(stateDir, name)
	if err != nil {
		return -1, false, err
	}
	profile := o.Path
	if profile == "" {
		profile = st.Profile
	}
	if profile == "" || !path.IsAbs(profile) {
		return -1, false, errors.New("reload: the container was not started from a system profile (--path, or the default profile), and no absolute --path was given")
	}
	if why := switchable(st.PID, profile, p.InitInterpreter); why != "" {
		if !o.RestartIfNeeded {
			return -1, false, fmt.Errorf("profile %s %w: %s; --restart-if-needed halts the container and starts it from it", profile, ErrNotSwitchable, why)
		}
		// A profile the start would refuse is refused before the halt:
		// a typo must not take a running container down.
		if err := checkProfileInit(st.PID, profile); err != nil {
			return -1, false, fmt.Errorf("%w; the container runs on", err)
		}
		if _, err := request(stateDir, name, controlRequest{Op: "restart", Profile: profile}); err != nil {
			return -1, false, err
		}
		return 0, true, awaitRestart(filepath.Join(stateDir, name), profile, st.SupervisorPID)
	}
	e := o.Exec
	e.Args, e.User, e.TTY, e.Workdir = []string{path.Join(profile, "bin", "switch-to-configuration"), "test"}, "root", false, ""
	status, err = Exec(stateDir, name, e)
	if err != nil {
		return status, false, err
	}
	if status != 0 {
		return status, false, fmt.Errorf("switch-to-configuration test of %s exited with status %d; the container runs on, and its profile stays %s", profile, status, st.Profile)
	}
	if _, err := request(stateDir, name, controlRequest{Op: "profile", Profile: profile}); err != nil {
		return 0, false, fmt.Errorf("switched to %s, but could not record it: %w", profile, err)
	}
	return 0, false, nil
}

// switchable says why profile cannot be activated in place in the
// container whose init is pid ("" when it can): the switch runs its
// bin/switch-to-configuration, which must be there; and the running init
// (NixOS's stage 2, which execs systemd) came from an init of the same #!
// interpreter, since a profile whose init starts another way (another
// shell, or a binary) is a different kind of system that only a boot
// brings up. Looked up as the container sees it, links resolved inside its
// root.
func switchable(pid int, profile, interp string) string {
	root, err := os.OpenFile(filepath.Join("/proc", strconv.Itoa(pid), "root"), unix.O_PATH|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
	if err != nil {
		return "the container's root: " + err.Error()
	}
	defer root.Close()
	if !executableInRoot(root, path.Join(profile, "bin", "switch-to-configuration")) {
		return "it has no bin/switch-to-configuration"
	}
	init, err := readInRoot(root, path.Join(profile, "init"))
	if err != nil || init == nil {
		return "it has no init"
	}
	if got := interpreter(bytes.NewReader(init)); got != interp {
		return fmt.Sprintf("its init starts with %q, the running one with %q", got, interp)
	}
	return ""
}

// awaitRestart waits until the supervisor has started the container again
// from profile. Between the old record's removal and the new one's there
// is no record to watch, so that gap is looked at again every 20 ms.
// The supervisor restarts in its own process: once that has exited, the
// start failed, and its log says why.
func awaitRestart(dir, profile string, supervisor int) error {
	deadline := time.Now().Add(startWait)
	for {
		_, err := awaitRecord(dir, func(s State) bool { return s.InitExecd && s.Profile == profile }, min(time.Until(deadline), 100*time.Millisecond))
		if err == nil || !errors.Is(err, ErrNotRunning) {
			return err
		}
		if supervisor > 0 && !alive(supervisor) {
			return fmt.Errorf("halted to start again from %s, which failed: its supervisor (pid %d) has exited; its log says why", profile, supervisor)
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("%w: not started again from %s within %v", ErrNotRunning, profile, startWait)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// checkProfileInit refuses a profile whose init the container's start
// could not exec: profile/init, as the container (whose init is pid) sees
// it, an executable file.
func checkProfileInit(pid int, profile string) error {
	root, err := os.OpenFile(filepath.Join("/proc", strconv.Itoa(pid), "root"), unix.O_PATH|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
	if err != nil {
		return fmt.Errorf("the container's root: %w", err)
	}
	defer root.Close()
	if !executableInRoot(root, path.Join(profile, "init")) {
		return fmt.Errorf("profile %s: %s is not an executable file in the container", profile, path.Join(profile, "init"))
	}
	return nil
}
