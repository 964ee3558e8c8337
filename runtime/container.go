// Package runtime runs a container from an OCI runtime spec: the supervisor
// that starts, watches and halts it, the init child that sets up its
// namespaces and filesystem before exec'ing its init as PID 1, and the
// records of running containers.
package runtime

import (
	"errors"
	"fmt"
	"os"
	"path"
	"path/filepath"
	"strings"
	"time"

	specs "github.com/opencontainers/runtime-spec/specs-go"

	"github.com/containerctl/containerctl/runtime/security"
)

// DefaultStateDir holds a directory for each running container.
const DefaultStateDir = "/run/containerctl"

// DefaultStopTimeout is how long a halt may take before the container is
// killed, as in NixOS's container unit and systemd's default for machines.
const DefaultStopTimeout = 180 * time.Second

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

// Validate checks what can be checked before anything is created: the name,
// the spec's shape, that the root's parent exists (or may be created), that
// the sources of bind mounts exist, and that the init exists and is
// executable as the container will see it. makeParents allows the root's
// parents to be missing.
func (c *Container) Validate(makeParents bool) error {
	if err := ValidateName(c.Name); err != nil {
		return err
	}
	s := c.Spec
	if s == nil || s.Root == nil || s.Process == nil || len(s.Process.Args) == 0 {
		return fmt.Errorf("%w: needs a root and process args", ErrInvalidSpec)
	}
	root := s.Root.Path
	if !filepath.IsAbs(root) {
		return fmt.Errorf("%w: root %q is not an absolute path", ErrInvalidSpec, root)
	}
	if fi, err := os.Stat(root); err == nil && !fi.IsDir() {
		return fmt.Errorf("root %s: not a directory", root)
	} else if err != nil && !errors.Is(err, os.ErrNotExist) {
		return fmt.Errorf("root %s: %w", root, err)
	} else if err != nil && !makeParents {
		parent := filepath.Dir(root)
		if fi, err := os.Stat(parent); err != nil {
			return fmt.Errorf("root %s: parent directory: %w", root, err)
		} else if !fi.IsDir() {
			return fmt.Errorf("root %s: parent %s is not a directory", root, parent)
		}
	}
	if s.Linux != nil {
		if _, err := security.CompileSeccomp(s.Linux.Seccomp); err != nil {
			return fmt.Errorf("%w: %w", ErrInvalidSpec, err)
		}
	}
	if _, err := security.CompileCapabilities(s.Process.Capabilities); err != nil {
		return fmt.Errorf("%w: %w", ErrInvalidSpec, err)
	}
	for _, m := range s.Mounts {
		if !isBind(m) {
			continue
		}
		if _, err := os.Stat(m.Source); err != nil {
			return fmt.Errorf("bind source for %s: %w", m.Destination, err)
		}
	}
	return c.checkInit()
}

// checkInit finds the init the way the container will (through the spec's
// binds and PATH) and checks that it is an executable file. Where it lies on
// a mount whose contents do not exist before the start (a tmpfs), the init
// child checks it instead, after the mounts.
func (c *Container) checkInit() error {
	name := c.Spec.Process.Args[0]
	v := newView(c.Spec)
	candidates := []string{name}
	if !strings.Contains(name, "/") {
		candidates = nil
		for _, dir := range filepath.SplitList(getenv(c.Spec.Process.Env, "PATH")) {
			if path.IsAbs(dir) {
				candidates = append(candidates, path.Join(dir, name))
			}
		}
	} else if !path.IsAbs(name) {
		candidates = []string{path.Join(c.Spec.Process.Cwd, name)}
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

// newNamespace reports whether the spec asks for a new namespace of type t
// (one without a path to join).
func newNamespace(spec *specs.Spec, t specs.LinuxNamespaceType) bool {
	if spec.Linux == nil {
		return false
	}
	for _, ns := range spec.Linux.Namespaces {
		if ns.Type == t && ns.Path == "" {
			return true
		}
	}
	return false
}
