package main

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"strconv"
	"strings"
)

// systemdUnitDir is where create installs container@.service when the host
// has none.
const systemdUnitDir = "/etc/systemd/system"

// systemdRunning says whether systemd is the host's init, as sd_booted(3)
// tells it.
func systemdRunning() bool {
	fi, err := os.Stat("/run/systemd/system")
	return err == nil && fi.IsDir()
}

// systemctl runs systemctl with args; its error is its own last line.
func systemctl(args ...string) (string, error) {
	var out, errOut bytes.Buffer
	cmd := exec.Command("systemctl", args...)
	cmd.Stdout, cmd.Stderr = &out, &errOut
	if err := cmd.Run(); err != nil {
		msg := strings.TrimSpace(errOut.String())
		if i := strings.LastIndexByte(msg, '\n'); i >= 0 {
			msg = msg[i+1:]
		}
		if msg == "" {
			msg = err.Error()
		}
		return "", fmt.Errorf("systemctl %s: %s", strings.Join(args, " "), msg)
	}
	return strings.TrimSpace(out.String()), nil
}

// containerUnits are the units that may run container NAME: its own unit
// (containerctl unit NAME) first, then the template's instance.
func containerUnits(name string) []string {
	return []string{"container-" + name + ".service", "container@" + name + ".service"}
}

// loadedUnit is the unit that would run NAME, "" when systemd knows none.
// The template's instance counts only when NAME has a settings file, which
// the template needs.
func loadedUnit(name string) (string, error) {
	for i, u := range containerUnits(name) {
		state, err := systemctl("show", "--property=LoadState", "--value", u)
		if err != nil {
			return "", err
		}
		if state != "loaded" {
			continue
		}
		if i == 1 {
			file, err := confFile(configDir, name)
			if err != nil {
				return "", err
			}
			if _, err := os.Stat(file); err != nil {
				continue
			}
		}
		return u, nil
	}
	return "", nil
}

// runningUnit is the unit whose cgroup holds pid when it is one of NAME's
// units, else "": a supervisor that a unit started is stopped through it,
// so that systemd neither restarts it nor marks the unit failed.
func runningUnit(name string, pid int) string {
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/cgroup")
	if err != nil {
		return ""
	}
	return unitInCgroup(string(b), name)
}

// unitInCgroup finds, in /proc/PID/cgroup's text, the unit of NAME that the
// process belongs to: a path component named as one of containerUnits.
func unitInCgroup(procCgroup, name string) string {
	for _, line := range strings.Split(procCgroup, "\n") {
		parts := strings.SplitN(line, ":", 3)
		if len(parts) != 3 || parts[1] != "" && parts[1] != "name=systemd" {
			continue
		}
		for _, comp := range strings.Split(parts[2], "/") {
			for _, u := range containerUnits(name) {
				if comp == u {
					return u
				}
			}
		}
	}
	return ""
}

var errNoSystemd = errors.New("systemd is not running on this host")
