package runtime

import (
	"errors"
	"fmt"
	"io"
	"os"
	"path"
	"path/filepath"
	"strings"

	specs "github.com/opencontainers/runtime-spec/specs-go"
)

// Console says how the container's /dev/console and the init's standard
// input and output are connected, with systemd-nspawn's names.
type Console string

const (
	// ConsoleInteractive gives the container a pseudo-terminal as
	// /dev/console and relays the supervisor's terminal to it.
	ConsoleInteractive Console = "interactive"
	// ConsoleReadOnly gives the container a pseudo-terminal whose output
	// is copied to the supervisor's stdout; input is not relayed.
	ConsoleReadOnly Console = "read-only"
	// ConsolePassive gives the container a pseudo-terminal whose output is
	// read and dropped.
	ConsolePassive Console = "passive"
	// ConsolePipe passes the supervisor's stdin, stdout and stderr to the
	// init, with no /dev/console.
	ConsolePipe Console = "pipe"
)

// ParseConsole checks a console mode given by the user.
func ParseConsole(s string) (Console, error) {
	switch c := Console(s); c {
	case ConsoleInteractive, ConsoleReadOnly, ConsolePassive, ConsolePipe:
		return c, nil
	}
	return "", fmt.Errorf("unknown console mode %q (interactive, read-only, passive, pipe)", s)
}

// Container is what the runtime runs: a name and a spec.
type Container struct {
	Name string
	Spec *specs.Spec
	// StateDir holds the records of running containers; DefaultStateDir
	// when empty.
	StateDir string
}

func (c *Container) stateDir() string {
	if c.StateDir == "" {
		return DefaultStateDir
	}
	return c.StateDir
}

// checkInit finds the init the way the container will (through the spec's
// binds and PATH) and checks that it is an executable file. Where it lies on
// a mount whose contents do not exist before the start (a tmpfs), the init
// child checks it instead, after the mounts.
func checkInit(spec *specs.Spec) error {
	name := spec.Process.Args[0]
	v := newView(spec)
	candidates := []string{name}
	if !strings.Contains(name, "/") {
		candidates = nil
		for _, dir := range filepath.SplitList(getenv(spec.Process.Env, "PATH")) {
			if path.IsAbs(dir) {
				candidates = append(candidates, path.Join(dir, name))
			}
		}
	} else if !path.IsAbs(name) {
		candidates = []string{path.Join(spec.Process.Cwd, name)}
	}
	var firstErr error
	for _, p := range candidates {
		h, err := v.resolve(p)
		if errors.Is(err, errNotOnHost) {
			return nil
		}
		if err == nil {
			err = checkExecutable(h)
		}
		// Name the path as the container sees it, not the host's.
		var pe *os.PathError
		if errors.As(err, &pe) {
			err = pe.Err
		}
		if err == nil {
			return nil
		}
		if firstErr == nil || !errors.Is(err, os.ErrNotExist) {
			firstErr = err
		}
	}
	if len(candidates) == 0 {
		firstErr = os.ErrNotExist
	}
	return &InitNotFoundError{Path: name, Err: firstErr}
}

// InitNotFoundError is an init that does not exist or cannot be executed.
type InitNotFoundError struct {
	Path string
	Err  error
}

func (e *InitNotFoundError) Error() string {
	return fmt.Sprintf("init %s: %v", e.Path, e.Err)
}

func (e *InitNotFoundError) Unwrap() error { return e.Err }

// Is matches ErrInitNotFound.
func (e *InitNotFoundError) Is(target error) bool { return target == ErrInitNotFound }

var errNotExecutable = errors.New("not executable")

// checkExecutable is the check exec(2) makes first: a regular file with an
// execute bit (root may run a file with any x bit).
func checkExecutable(p string) error {
	fi, err := os.Stat(p)
	if err != nil {
		return errors.Unwrap(err)
	}
	if !fi.Mode().IsRegular() {
		return fmt.Errorf("%w: not a regular file", errNotExecutable)
	}
	if fi.Mode().Perm()&0o111 == 0 {
		return fmt.Errorf("%w: no execute permission (mode %v)", errNotExecutable, fi.Mode().Perm())
	}
	return nil
}

func getenv(env []string, key string) string {
	for i := len(env) - 1; i >= 0; i-- {
		if k, v, ok := strings.Cut(env[i], "="); ok && k == key {
			return v
		}
	}
	return ""
}

// initInterpreter is the #! interpreter of the init (NixOS's stage-2 init
// is a script), as the container will see it; "" for a binary, or where it
// cannot be read before the start.
func initInterpreter(spec *specs.Spec) string {
	h, err := newView(spec).resolve(spec.Process.Args[0])
	if err != nil {
		return ""
	}
	f, err := os.Open(h)
	if err != nil {
		return ""
	}
	defer f.Close()
	return interpreter(f)
}

// interpreter reads the #! line at the start of r: its interpreter's path.
func interpreter(r io.Reader) string {
	buf := make([]byte, 256)
	n, _ := io.ReadFull(r, buf)
	line, _, _ := strings.Cut(string(buf[:n]), "\n")
	rest, ok := strings.CutPrefix(line, "#!")
	if !ok {
		return ""
	}
	if f := strings.Fields(rest); len(f) > 0 {
		return f[0]
	}
	return ""
}
