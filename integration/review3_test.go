package integration

import (
	"strings"
	"testing"
)

// TestInitDropsCallersGroups: the guest's root gets no supplementary
// groups of the process that started containerctl. It kept them (disk,
// docker, ... from a shell or a unit with SupplementaryGroups=) when the
// spec's user was 0:0 with no additional gids, since the groups were set
// only for a user change; runc always sets them.
func TestInitDropsCallersGroups(t *testing.T) {
	fx := newFixture(t)
	for _, tt := range []struct {
		name  string
		flags []string
	}{
		{"host users", nil},
		{"private users", []string{"--private-users=pick"}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			c := fx.start(t, runOpts{
				flags:   append([]string{"--console=pipe"}, tt.flags...),
				command: []string{"/bin/cat", "/proc/self/status"},
				wrap:    []string{"setpriv", "--groups", "6,27,42"},
			})
			line := c.waitLine("Groups:", startTimeout)
			if got := strings.TrimSpace(strings.TrimPrefix(line, "Groups:")); got != "" {
				t.Errorf("the guest's init has supplementary groups %q, want none", got)
			}
			if code := c.wait(startTimeout); code != 0 {
				t.Errorf("supervisor exit %d, want 0\nstderr:\n%s", code, c.stderr.String())
			}
		})
	}
}
