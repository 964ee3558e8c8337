package main

import (
	"io"
	"strings"
	"testing"
	"time"

	"github.com/coreos/go-systemd/v22/unit"
)

func TestUnitOptions(t *testing.T) {
	opts := unitOptions(unitConfig{
		name: "web", bin: "/usr/bin/containerctl", runArgs: []string{"--memory-max=512M", "--bind=/srv/a b:/data"},
		root: "/var/lib/containers/web", stopTimeout: 180 * time.Second, autoStart: true,
	})
	back, err := unit.Deserialize(unit.Serialize(opts))
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]string{}
	for _, o := range back {
		got[o.Section+"."+o.Name] = o.Value
	}
	for k, want := range map[string]string{
		"Service.Type":                   "notify",
		"Service.ExecStart":              `/usr/bin/containerctl run web --notify-ready --memory-max=512M "--bind=/srv/a b:/data"`,
		"Service.ExecReload":             "/usr/bin/containerctl reload web",
		"Service.KillMode":               "mixed",
		"Service.KillSignal":             "SIGTERM",
		"Service.TimeoutStopSec":         "195s", // above the 180 s halt
		"Service.Delegate":               "yes",
		"Service.Slice":                  "machine.slice",
		"Service.Restart":                "on-failure",
		"Service.RestartForceExitStatus": "133",
		"Service.SuccessExitStatus":      "133",
		"Unit.RequiresMountsFor":         "/var/lib/containers/web",
		"Install.WantedBy":               "machines.target",
	} {
		if got[k] != want {
			t.Errorf("unit %s = %q, want %q", k, got[k], want)
		}
	}
	if opts := unitOptions(unitConfig{name: "web", bin: "/c", root: "/r"}); strings.Contains(unitText(opts), "WantedBy") {
		t.Errorf("a unit without --auto-start is wanted by something:\n%s", unitText(opts))
	}
}

func unitText(opts []*unit.UnitOption) string {
	b, _ := io.ReadAll(unit.Serialize(opts))
	return string(b)
}

func TestExecLine(t *testing.T) {
	for _, tt := range []struct {
		args []string
		want string
	}{
		{[]string{"/bin/c", "run", "foo"}, "/bin/c run foo"},
		{[]string{"--setenv=A=50%"}, "--setenv=A=50%%"},
		{[]string{"--setenv=HOME=$HOME"}, "--setenv=HOME=$$HOME"},
		{[]string{"a b", `q"t`, "", `back\slash`}, `"a b" "q\"t" "" "back\\slash"`},
	} {
		if got := execLine(tt.args); got != tt.want {
			t.Errorf("execLine(%q) = %s, want %s", tt.args, got, tt.want)
		}
	}
}

func TestTemplateUnit(t *testing.T) {
	got := unitText(unitOptions(unitConfig{bin: "/usr/bin/containerctl", template: true}))
	for _, want := range []string{
		"ExecStart=/usr/bin/containerctl run %i --notify-ready\n",
		"ExecReload=/usr/bin/containerctl reload %i\n",
		"RequiresMountsFor=/var/lib/containers/%i\n",
	} {
		if !strings.Contains(got, want) {
			t.Errorf("the template unit lacks %q:\n%s", want, got)
		}
	}
}
