package main

import (
	"fmt"
	"slices"
	"strings"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"
)

// confKeyOf is the settings file's own key for a run flag, where NixOS has
// one; every other flag goes into EXTRA_FLAGS.
var confKeyOf = map[string]string{"path": "SYSTEM_PATH", "root": "ROOT", "private-network": "PRIVATE_NETWORK", "private-users": "PRIVATE_USERS"}

// confText is NAME.conf for the run flags set in fs (skip names flags that
// are not run's), in NixOS's keys. It is read back, as run will read it,
// and refused unless it gives the same flags: a value the file cannot hold
// (one with white space among EXTRA_FLAGS) is an error, never a setting
// quietly lost.
func confText(fs *pflag.FlagSet, header string, skip ...string) (string, error) {
	var keys, extra []string
	values := map[string]string{}
	for _, arg := range changedFlags(fs, skip...) {
		name, value, _ := strings.Cut(strings.TrimPrefix(arg, "--"), "=")
		if strings.ContainsAny(value, "\n\"'") {
			return "", fmt.Errorf("%s: a value with a quote or a newline cannot be written to a settings file", arg)
		}
		key, ok := confKeyOf[name]
		switch {
		case ok && name == "private-network":
			if value == "true" {
				keys, values[key] = append(keys, key), "1"
			}
		case ok:
			keys, values[key] = append(keys, key), value
		case strings.ContainsAny(value, " \t"):
			return "", fmt.Errorf("%s: a value with white space cannot be written to EXTRA_FLAGS", arg)
		default:
			extra = append(extra, arg)
		}
	}
	var b strings.Builder
	b.WriteString(header)
	for _, k := range keys {
		fmt.Fprintf(&b, "%s=%s\n", k, confQuote(values[k]))
	}
	if len(extra) > 0 {
		fmt.Fprintf(&b, "EXTRA_FLAGS=%s\n", confQuote(strings.Join(extra, " ")))
	}
	if err := checkConfText(b.String(), effectiveFlags(fs, skip...)); err != nil {
		return "", err
	}
	return b.String(), nil
}

func confQuote(v string) string {
	if v == "" || strings.ContainsAny(v, " \t#") {
		return `"` + v + `"`
	}
	return v
}

// checkConfText reads text as run reads a settings file and checks that it
// sets exactly the flags want.
func checkConfText(text string, want []string) error {
	var f specFlags
	cmd := &cobra.Command{Use: "run"}
	f.register(cmd)
	if err := applyConfFrom(cmd.Flags(), strings.NewReader(text), "the settings"); err != nil {
		return err
	}
	if got := effectiveFlags(cmd.Flags()); !slices.Equal(got, want) {
		return fmt.Errorf("the settings file would give %q, not %q", got, want)
	}
	return nil
}

// effectiveFlags are the flags whose values differ from their defaults, as
// sorted --name=value strings.
func effectiveFlags(fs *pflag.FlagSet, skip ...string) []string {
	var out []string
	fs.VisitAll(func(f *pflag.Flag) {
		if slices.Contains(skip, f.Name) || f.Value.String() == f.DefValue {
			return
		}
		out = append(out, "--"+f.Name+"="+f.Value.String())
	})
	slices.Sort(out)
	return out
}
