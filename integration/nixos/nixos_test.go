// Package nixos checks the NixOS module's files where Nix is but nixpkgs is
// not: every .nix file parses, and the module's pure part (unit.nix) gives
// the unit that `containerctl unit` prints for the same options, and a
// NAME.conf that containerctl reads as the same container. The nixosTest
// (test.nix) runs where nixpkgs is: see README.md.
//
// It needs nix-instantiate (Debian's nix-bin), not root; without it the
// tests skip, except under CONTAINERCTL_INTEGRATION=1, where they fail.
package nixos

import (
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"regexp"
	"strings"
	"sync"
	"testing"

	"github.com/coreos/go-systemd/v22/unit"
)

// dummyStore is a Nix store that holds nothing and needs no daemon: what
// these tests evaluate never builds or copies to the store, and so they
// run as any user, whether or not /nix is set up (as root, Nix would open
// the local store; as another user, the daemon's socket).
const dummyStore = "dummy://"

func integrationMode() bool { return os.Getenv("CONTAINERCTL_INTEGRATION") == "1" }

// requireTool finds a program, skipping the test without it, or failing
// it under CONTAINERCTL_INTEGRATION=1.
func requireTool(t *testing.T, name, pkg string) string {
	t.Helper()
	p, err := exec.LookPath(name)
	if err == nil {
		return p
	}
	msg := name + " is missing: install " + pkg + " (make deps)"
	if integrationMode() {
		t.Fatal(msg + "; CONTAINERCTL_INTEGRATION=1, so this is a failure")
	}
	t.Skip(msg)
	return ""
}

func goTool() string {
	if p, err := exec.LookPath("go"); err == nil {
		return p
	}
	return "/usr/local/go/bin/go"
}

var built struct {
	once sync.Once
	bin  string
	err  error
}

// containerctl is the binary under test: $CONTAINERCTL_BIN, or one built
// once from this tree.
func containerctl(t *testing.T) string {
	t.Helper()
	built.once.Do(func() {
		if b := os.Getenv("CONTAINERCTL_BIN"); b != "" {
			built.bin, built.err = filepath.Abs(b)
			return
		}
		dir, err := os.MkdirTemp("", "containerctl-nixos-")
		if err != nil {
			built.err = err
			return
		}
		built.bin = filepath.Join(dir, "containerctl")
		cmd := exec.Command(goTool(), "build", "-o", built.bin, "../../cmd/containerctl")
		cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
		if out, err := cmd.CombinedOutput(); err != nil {
			built.err = fmt.Errorf("go build ./cmd/containerctl: %w\n%s", err, out)
		}
	})
	if built.err != nil {
		t.Fatal(built.err)
	}
	return built.bin
}

func TestMain(m *testing.M) {
	code := m.Run()
	if built.bin != "" && os.Getenv("CONTAINERCTL_BIN") == "" {
		os.RemoveAll(filepath.Dir(built.bin))
	}
	os.Exit(code)
}

// run runs a command, failing the test with its output when it fails.
func run(t *testing.T, name string, args ...string) string {
	t.Helper()
	var stdout, stderr bytes.Buffer
	cmd := exec.Command(name, args...)
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		t.Fatalf("%s %s: %v\nstdout:\n%s\nstderr:\n%s", name, strings.Join(args, " "), err, stdout.String(), stderr.String())
	}
	return stdout.String()
}

// nixEval evaluates expr (with unit.nix in scope as u) strictly to JSON.
func nixEval(t *testing.T, expr string, v any) {
	t.Helper()
	nix := requireTool(t, "nix-instantiate", "nix-bin")
	out := run(t, nix, "--store", dummyStore, "--eval", "--strict", "--json", "--expr", "let u = import ./unit.nix; in "+expr)
	if err := json.Unmarshal([]byte(out), v); err != nil {
		t.Fatalf("nix-instantiate --eval %s: %v\n%s", expr, err, out)
	}
}

// nixString is s as a Nix string literal.
func nixString(s string) string {
	return `"` + strings.NewReplacer(`\`, `\\`, `"`, `\"`, "\n", `\n`, "${", `\${`).Replace(s) + `"`
}

// sections is a unit as section -> key -> values, in the order given.
type sections map[string]map[string][]string

func deserialize(t *testing.T, text string) sections {
	t.Helper()
	opts, err := unit.Deserialize(strings.NewReader(text))
	if err != nil {
		t.Fatalf("unit.Deserialize: %v\n%s", err, text)
	}
	s := sections{}
	for _, o := range opts {
		if s[o.Section] == nil {
			s[o.Section] = map[string][]string{}
		}
		s[o.Section][o.Name] = append(s[o.Section][o.Name], o.Value)
	}
	return s
}

type nixContainer struct {
	Flags []string `json:"flags"`
	Unit  sections `json:"unit"`
	Extra sections `json:"extra"`
	Conf  []string `json:"conf"`
}

// unitCase is a container's options for unit.nix and the same as
// containerctl's flags, each written by hand. @DIR@ is a fresh directory.
type unitCase struct {
	name      string
	container string
	options   string
	flags     []string
	extra     sections
}

var unitCases = []unitCase{
	{
		name: "profile", container: "web",
		// privateUsers is left to its default, pick (run's is no, so the
		// conf file must say it).
		// A writable bind under private users is idmapped, as nixpkgs'.
		options: `{ path = "/nix/var/nix/profiles/containers/web";
			bindMounts."/data" = { hostPath = "/srv/data"; mountPoint = "/data"; isReadOnly = false; }; }`,
		// unit.nix always gives --stop-timeout, so that its TimeoutStopSec
		// never rests on containerctl's default.
		flags: []string{"--path=/nix/var/nix/profiles/containers/web", "--stop-timeout=180s", "--private-users=pick", "--bind=/srv/data:/data:idmap"},
		extra: sections{"Unit": {"RequiresMountsFor": {"/srv/data"}}, "Service": {"TimeoutStartSec": {"1min"}}},
	},
	{
		name: "root, binds, auto-start, stop timeout", container: "db",
		options: `{
			root = "@DIR@/my root $HOME 100%"; autoStart = true; stopTimeout = 90; privateUsers = "no";
			timeoutStartSec = "5min";
			bindMounts."/data" = { hostPath = "@DIR@/data"; mountPoint = "/data"; isReadOnly = false; };
			bindMounts."/etc/ssl" = { hostPath = null; mountPoint = "/etc/ssl"; isReadOnly = true; };
		}`,
		flags: []string{"--root=@DIR@/my root $HOME 100%", "--auto-start", "--stop-timeout=90s", "--bind=@DIR@/data:/data", "--bind-ro=/etc/ssl", "--private-users=no"},
		extra: sections{
			"Unit":    {"RequiresMountsFor": {"@DIR@/data", "/etc/ssl"}, "Wants": {"network.target"}, "After": {"network.target"}},
			"Service": {"TimeoutStartSec": {"5min"}},
		},
	},
	{
		name: "limits and a private network", container: "lim",
		options: `{
			privateNetwork = true; privateUsers = "no"; stopTimeout = 0;
			memoryMax = "512M"; memoryHigh = "400M"; cpuQuota = "50%"; cpuWeight = 200;
			tasksMax = 512; ioWeight = 300;
		}`,
		flags: []string{"--private-network", "--memory-max=512M", "--memory-high=400M", "--cpu-quota=50%",
			"--cpu-weight=200", "--tasks-max=512", "--io-weight=300", "--stop-timeout=0s", "--private-users=no"},
		extra: sections{"Unit": {"RequiresMountsFor": nil}, "Service": {"TimeoutStartSec": {"1min"}}},
	},
	{
		// extraFlags after bindMounts: the order the binds are made in.
		name: "extra flags", container: "x",
		options: `{
			privateUsers = "no"; stopTimeout = 3661;
			bindMounts."/a".hostPath = "/srv/a"; bindMounts."/a".mountPoint = "/a";
			extraFlags = [ "--bind-ro=/srv/b:/b" "--hostname=web" "--capability=CAP_NET_ADMIN" "--setenv=A=1" ];
		}`,
		flags: []string{"--bind-ro=/srv/a:/a", "--bind-ro=/srv/b:/b", "--hostname=web",
			"--capability=CAP_NET_ADMIN", "--setenv=A=1", "--stop-timeout=1h1m1s", "--private-users=no"},
		extra: sections{"Unit": {"RequiresMountsFor": {"/srv/a"}}, "Service": {"TimeoutStartSec": {"1min"}}},
	},
}

func (c unitCase) expand(dir string) (options string, flags []string, extra sections) {
	options = strings.ReplaceAll(c.options, "@DIR@", dir)
	for _, f := range c.flags {
		flags = append(flags, strings.ReplaceAll(f, "@DIR@", dir))
	}
	extra = sections{}
	for sec, keys := range c.extra {
		extra[sec] = map[string][]string{}
		for k, vs := range keys {
			var out []string
			for _, v := range vs {
				out = append(out, strings.ReplaceAll(v, "@DIR@", dir))
			}
			extra[sec][k] = out
		}
	}
	return options, flags, extra
}

func evalContainer(t *testing.T, bin, name, options string) nixContainer {
	t.Helper()
	var got nixContainer
	nixEval(t, fmt.Sprintf("u.container %s %s (%s)", nixString(bin), nixString(name), options), &got)
	return got
}

// TestUnitMatchesContainerctl: unit.nix gives, section by section, the unit
// `containerctl unit NAME FLAGS` prints for the same options, and the
// additions the module makes to it.
func TestUnitMatchesContainerctl(t *testing.T) {
	requireTool(t, "nix-instantiate", "nix-bin")
	bin := containerctl(t)
	for _, c := range unitCases {
		t.Run(c.name, func(t *testing.T) {
			dir := t.TempDir()
			options, flags, wantExtra := c.expand(dir)
			got := evalContainer(t, bin, c.container, options)
			want := deserialize(t, run(t, bin, append([]string{"unit", c.container}, flags...)...))
			if !reflect.DeepEqual(got.Unit, want) {
				t.Errorf("unit.nix container %s %s:\n unit = %v\n want %v (containerctl unit %s %s)",
					c.container, options, got.Unit, want, c.container, strings.Join(flags, " "))
			}
			// RequiresMountsFor is absent from the JSON when empty.
			if len(got.Extra["Unit"]["RequiresMountsFor"]) == 0 {
				delete(got.Extra["Unit"], "RequiresMountsFor")
			}
			if len(wantExtra["Unit"]["RequiresMountsFor"]) == 0 {
				delete(wantExtra["Unit"], "RequiresMountsFor")
			}
			if !reflect.DeepEqual(got.Extra, wantExtra) {
				t.Errorf("unit.nix container %s: extra = %v, want %v", c.container, got.Extra, wantExtra)
			}
			for sec, keys := range got.Extra {
				for k := range keys {
					if _, clash := want[sec][k]; clash && k != "RequiresMountsFor" {
						t.Errorf("unit.nix container %s: extra sets %s.%s, which containerctl's unit sets", c.container, sec, k)
					}
				}
			}
		})
	}
}

// TestConfMatchesFlags: the NAME.conf unit.nix writes is, to containerctl,
// the same container as its flags: `containerctl spec NAME` reading the
// file prints the spec that the flags give. (The stop timeout is no part
// of a spec; EXTRA_FLAGS carries it, and run refuses a flag it lacks.)
func TestConfMatchesFlags(t *testing.T) {
	requireTool(t, "nix-instantiate", "nix-bin")
	bin := containerctl(t)
	for _, c := range unitCases {
		t.Run(c.name, func(t *testing.T) {
			dir := t.TempDir()
			options, flags, _ := c.expand(dir)
			got := evalContainer(t, bin, c.container, options)
			confDir, empty := filepath.Join(dir, "conf"), filepath.Join(dir, "empty")
			for _, d := range []string{confDir, empty} {
				if err := os.Mkdir(d, 0o755); err != nil {
					t.Fatal(err)
				}
			}
			conf := strings.Join(got.Conf, "\n") + "\n"
			if err := os.WriteFile(filepath.Join(confDir, c.container+".conf"), []byte(conf), 0o644); err != nil {
				t.Fatal(err)
			}
			var specFlags []string
			for _, f := range flags {
				if f != "--auto-start" { // unit's, not run's
					specFlags = append(specFlags, f)
				}
			}
			fromConf := run(t, bin, "--config-dir", confDir, "spec", c.container, "--console=pipe")
			fromFlags := run(t, bin, append([]string{"--config-dir", empty, "spec", c.container, "--console=pipe"}, specFlags...)...)
			if fromConf != fromFlags {
				t.Errorf("containerctl spec %s with unit.nix's %s.conf:\n%s\nis not the spec of its flags %v:\n%s\n(the file:\n%s)",
					c.container, c.container, fromConf, specFlags, fromFlags, conf)
			}
		})
	}
}

// TestTemplateMatchesContainerctl: unit.nix's template is what
// `containerctl unit --template` prints.
func TestTemplateMatchesContainerctl(t *testing.T) {
	requireTool(t, "nix-instantiate", "nix-bin")
	bin := containerctl(t)
	var got struct {
		Unit sections `json:"unit"`
	}
	nixEval(t, "u.template "+nixString(bin), &got)
	want := deserialize(t, run(t, bin, "unit", "--template"))
	if !reflect.DeepEqual(got.Unit, want) {
		t.Errorf("unit.nix template = %v\nwant %v (containerctl unit --template)", got.Unit, want)
	}
}

// TestUnitRefuses: what containerctl could not run as written is an
// evaluation error that says why, never a unit that quietly differs.
func TestUnitRefuses(t *testing.T) {
	nix := requireTool(t, "nix-instantiate", "nix-bin")
	tests := []struct{ options, want string }{
		{`{ extraFlags = [ "--bind" "/srv" ]; }`, "want --flag=value"},
		{`{ memoryMax = "1G"; extraFlags = [ "--memory-max=2G" ]; }`, "--memory-max is set twice"},
		{`{ extraFlags = [ "--hostname=a b" ]; }`, "split at spaces"},
		{`{ stopTimeout = "3min"; }`, "want a whole number of seconds"},
	}
	for _, tt := range tests {
		expr := fmt.Sprintf(`let u = import ./unit.nix; in u.container "/bin/containerctl" "foo" (%s)`, tt.options)
		out, err := exec.Command(nix, "--store", dummyStore, "--eval", "--strict", "--json", "--expr", expr).CombinedOutput()
		if err == nil || !strings.Contains(string(out), tt.want) {
			t.Errorf("unit.nix container foo %s = %v, %s; want an error saying %q", tt.options, err, out, tt.want)
		}
	}
}

// TestNixFilesParse: every .nix file here parses.
func TestNixFilesParse(t *testing.T) {
	nix := requireTool(t, "nix-instantiate", "nix-bin")
	files, err := filepath.Glob("*.nix")
	if err != nil {
		t.Fatal(err)
	}
	if len(files) < 4 {
		t.Fatalf("*.nix = %v, want module.nix, unit.nix, package.nix and test.nix at least", files)
	}
	for _, f := range files {
		run(t, nix, "--store", dummyStore, "--parse", f)
	}
}

// TestVendorHash: package.nix's vendorHash is the hash of what go mod
// vendor makes of go.mod and go.sum now, as buildGoModule will compute it.
func TestVendorHash(t *testing.T) {
	nix := requireTool(t, "nix", "nix-bin")
	src, err := os.ReadFile("package.nix")
	if err != nil {
		t.Fatal(err)
	}
	m := regexp.MustCompile(`vendorHash = "([^"]+)"`).FindSubmatch(src)
	if m == nil {
		t.Fatal(`package.nix: no vendorHash = "..."`)
	}
	vendor := filepath.Join(t.TempDir(), "vendor")
	cmd := exec.Command(goTool(), "mod", "vendor", "-o", vendor)
	cmd.Dir = "../.."
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("go mod vendor: %v\n%s", err, out)
	}
	got := strings.TrimSpace(run(t, nix, "--extra-experimental-features", "nix-command", "--store", dummyStore, "hash", "path", vendor))
	if got != string(m[1]) {
		t.Errorf("nix hash path of go mod vendor = %s, but package.nix has vendorHash = %q: update it", got, m[1])
	}
}
