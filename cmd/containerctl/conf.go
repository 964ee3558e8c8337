package main

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"

	"github.com/spf13/pflag"

	"github.com/containerctl/containerctl/runtime"
)

// defaultConfigDir holds a container's settings file, NAME.conf, as
// NixOS's container@.service reads /etc/containers/NAME.conf.
const defaultConfigDir = "/etc/containers"

// confFlags are the keys of NAME.conf, with NixOS's names, and the run
// flag each sets. Any other key is refused, so that a file written for
// NixOS's nspawn never quietly gets less than it asks for.
var confFlags = map[string]string{
	"SYSTEM_PATH":     "path",
	"ROOT":            "root",
	"PRIVATE_NETWORK": "private-network",
	"PRIVATE_USERS":   "private-users",
	// As NixOS's container@ script passes them to nspawn.
	"HOST_ADDRESS":           "host-address",
	"LOCAL_ADDRESS":          "local-address",
	"HOST_ADDRESS6":          "host-address6",
	"LOCAL_ADDRESS6":         "local-address6",
	"HOST_BRIDGE":            "network-bridge",
	"NETWORK_NAMESPACE_PATH": "network-namespace-path",
}

// confLists are the keys that hold lists, their separator, and the
// repeatable flag each item sets.
var confLists = map[string]struct{ sep, flag string }{
	"HOST_PORT":  {",", "port"},
	"INTERFACES": {" ", "network-interface"},
	"MACVLANS":   {" ", "network-macvlan"},
}

// confVeth are the keys that give a container a veth: NixOS's guest
// expects its side as eth0 (container@'s init renames host0).
var confVeth = []string{"HOST_ADDRESS", "LOCAL_ADDRESS", "HOST_ADDRESS6", "LOCAL_ADDRESS6", "HOST_BRIDGE"}

// podmanConfs are the names of podman's and containers/image's own files in
// /etc/containers (NAME.conf): a container of such a name would read them
// as its settings, which NixOS's module refuses too.
var podmanConfs = []string{"containers", "registries", "storage", "mounts", "libpod"}

// confLine is one KEY=value of a settings file, and where it stood.
type confLine struct {
	key, value string
	line       int
}

// parseConf reads a settings file: KEY=value lines (the value may be
// quoted, as a shell would), blank lines and # comments.
func parseConf(r io.Reader, file string) ([]confLine, error) {
	var out []confLine
	sc := bufio.NewScanner(r)
	for n := 1; sc.Scan(); n++ {
		line := strings.TrimSpace(sc.Text())
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		key, value, ok := strings.Cut(line, "=")
		if !ok || key == "" || strings.ContainsAny(key, " \t") {
			return nil, fmt.Errorf("%s:%d: want KEY=value, got %q", file, n, line)
		}
		if len(value) >= 2 && (value[0] == '"' || value[0] == '\'') && value[len(value)-1] == value[0] {
			value = value[1 : len(value)-1]
		}
		out = append(out, confLine{key: key, value: value, line: n})
	}
	return out, sc.Err()
}

// confFile is NAME.conf in dir: the settings file that run reads and that
// create, update and destroy write and remove. In /etc/containers, a name
// of podman's own files is refused: as a container's settings they would
// be read, written over or removed.
func confFile(dir, name string) (string, error) {
	file := filepath.Join(dir, name+".conf")
	if dir == defaultConfigDir && slices.Contains(podmanConfs, name) {
		return "", fmt.Errorf("%s is podman's configuration, not a container's settings: give the container another name", file)
	}
	return file, nil
}

// applyConf sets, from NAME.conf in dir when there is one, every run flag
// the command line did not set: the command line wins.
func applyConf(fs *pflag.FlagSet, dir, name string) error {
	if runtime.ValidateName(name) != nil {
		return nil // refused with its own message; never a path to read
	}
	file, err := confFile(dir, name)
	if err != nil {
		return err
	}
	f, err := os.Open(file)
	if errors.Is(err, os.ErrNotExist) {
		return nil
	}
	if err != nil {
		return err
	}
	defer f.Close()
	return applyConfFrom(fs, f, file)
}

// applyConfFrom sets the run flags the command line did not set from a
// settings file read from r (file names it in errors).
func applyConfFrom(fs *pflag.FlagSet, r io.Reader, file string) error {
	lines, err := parseConf(r, file)
	if err != nil {
		return err
	}
	// The command line's flags, before the file sets any.
	given := map[string]bool{}
	fs.Visit(func(f *pflag.Flag) { given[f.Name] = true })
	veth := false
	for _, l := range lines {
		if err := applyConfLine(fs, given, l); err != nil {
			return fmt.Errorf("%s:%d: %s: %w", file, l.line, l.key, err)
		}
		veth = veth || l.value != "" && slices.Contains(confVeth, l.key)
	}
	if veth {
		return setUnlessGiven(fs, given, "network-veth-name", "eth0")
	}
	return nil
}

func applyConfLine(fs *pflag.FlagSet, given map[string]bool, l confLine) error {
	switch {
	case l.key == "EXTRA_FLAGS" || l.key == "EXTRA_NSPAWN_FLAGS":
		return applyExtraFlags(fs, given, strings.Fields(l.value))
	}
	if list, ok := confLists[l.key]; ok {
		for _, item := range strings.Split(l.value, list.sep) {
			if item = strings.TrimSpace(item); item != "" {
				if err := setUnlessGiven(fs, given, list.flag, item); err != nil {
					return err
				}
			}
		}
		return nil
	}
	flag, ok := confFlags[l.key]
	if !ok {
		return errors.New("unknown key")
	}
	if l.value == "" && l.key != "PRIVATE_NETWORK" {
		return nil // NixOS writes every key, empty when unset
	}
	if l.key == "PRIVATE_NETWORK" {
		on, err := strconv.ParseBool(strings.TrimSpace(l.value))
		if err != nil && l.value != "" {
			return fmt.Errorf("%q: want 0 or 1", l.value)
		}
		if !on {
			return nil
		}
		l.value = "true"
	}
	return setUnlessGiven(fs, given, flag, l.value)
}

// applyExtraFlags sets run flags given as --flag=value, --flag value or
// --flag (a boolean).
func applyExtraFlags(fs *pflag.FlagSet, given map[string]bool, args []string) error {
	for i := 0; i < len(args); i++ {
		name, value, hasValue := strings.Cut(strings.TrimPrefix(args[i], "--"), "=")
		fl := fs.Lookup(name)
		if !strings.HasPrefix(args[i], "--") || fl == nil {
			return fmt.Errorf("%q: not a flag of run", args[i])
		}
		if !hasValue {
			if fl.NoOptDefVal != "" {
				value = fl.NoOptDefVal
			} else if i+1 < len(args) {
				i++
				value = args[i]
			} else {
				return fmt.Errorf("%s: no value", args[i])
			}
		}
		if err := setUnlessGiven(fs, given, name, value); err != nil {
			return err
		}
	}
	return nil
}

func setUnlessGiven(fs *pflag.FlagSet, given map[string]bool, flag, value string) error {
	if given[flag] {
		return nil
	}
	if err := fs.Set(flag, value); err != nil {
		return fmt.Errorf("--%s=%s: %w", flag, value, err)
	}
	return nil
}
