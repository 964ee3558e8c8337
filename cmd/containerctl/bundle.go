package main

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"

	specs "github.com/opencontainers/runtime-spec/specs-go"
	"github.com/spf13/pflag"
)

// runtimeFlags are the flags of run that say how to run a container, not
// what it is: with --oci-bundle, the bundle's config.json says the rest.
var runtimeFlags = map[string]bool{
	"oci-bundle": true, "console": true, "notify-ready": true, "kill-signal": true, "stop-timeout": true,
	"preserve-fds": true, "allow-unrestricted-devices": true,
}

// loadBundle reads an OCI bundle's config.json, as nspawn --oci-bundle does,
// with the root made absolute against the bundle. A flag that would build
// the spec is refused: the bundle's spec is run as it is written.
func loadBundle(fs *pflag.FlagSet, dir string) (*specs.Spec, error) {
	var conflict error
	fs.VisitAll(func(f *pflag.Flag) {
		if f.Changed && !runtimeFlags[f.Name] && conflict == nil {
			conflict = fmt.Errorf("--oci-bundle: --%s builds a spec; the bundle's config.json is run as it is written", f.Name)
		}
	})
	if conflict != nil {
		return nil, conflict
	}
	dir, err := filepath.Abs(dir)
	if err != nil {
		return nil, err
	}
	b, err := os.ReadFile(filepath.Join(dir, "config.json"))
	if err != nil {
		return nil, fmt.Errorf("--oci-bundle: %w", err)
	}
	var spec specs.Spec
	if err := json.Unmarshal(b, &spec); err != nil {
		return nil, fmt.Errorf("--oci-bundle: %s: %w", filepath.Join(dir, "config.json"), err)
	}
	if spec.Root == nil || spec.Process == nil {
		return nil, fmt.Errorf("--oci-bundle: %s: needs root and process", filepath.Join(dir, "config.json"))
	}
	if !filepath.IsAbs(spec.Root.Path) {
		spec.Root.Path = filepath.Join(dir, spec.Root.Path)
	}
	return &spec, nil
}
