package runtime

import (
	"bufio"
	"bytes"
	"fmt"
	"math"
	"os"
	"strconv"
	"strings"

	specs "github.com/opencontainers/runtime-spec/specs-go"
	"github.com/sirupsen/logrus"
)

// ExecOptions say what `containerctl exec` runs in a running container.
type ExecOptions struct {
	Args []string
	// User is a name or a number from the container's /etc/passwd (""
	// for root); Workdir an absolute path inside the container ("" for /).
	User    string
	Workdir string
	// GID and Groups, when GID is set, replace the user's group and
	// supplementary groups (an OCI process.user).
	GID    *uint32
	Groups []uint32
	// Env are NAME=VALUE added to the clean environment (see execEnv).
	Env []string
	// TTY gives the command a pseudo-terminal of the container's, relayed
	// to Stdin and Stdout; Term is its TERM (vt220 when empty).
	TTY  bool
	Term string
	// Stdin, Stdout and Stderr are the command's own without TTY.
	Stdin, Stdout, Stderr *os.File
	// Helper is containerctl-nsenter's path ("" finds it: see
	// nsenter.FindHelper).
	Helper string
	Log    *logrus.Logger
	// Process, when set, is an OCI exec's own process (runc exec
	// --process): its capabilities, noNewPrivileges, rlimits, umask and
	// oomScoreAdj replace the container's, checked as a spec's are and
	// never beyond the container's bounding set (no_new_privs only adds).
	// Its other fields are the ones above.
	Process *specs.Process
}

// execUser is who an exec'd command runs as, from the container's own
// /etc/passwd and /etc/group.
type execUser struct {
	Name     string
	UID, GID uint32
	Groups   []uint32 // supplementary groups
	Home     string
	Shell    string // the login shell ("" when the passwd entry has none)
}

// lookupUser finds user (a name, or a number) in the container's passwd and
// group files (nil when missing). root is known without a passwd entry, as
// is a number that has none (with its own number as group and / as home);
// an unknown name is refused.
func lookupUser(passwd, group []byte, user string) (execUser, error) {
	if user == "" {
		user = "root"
	}
	num, numErr := strconv.ParseUint(user, 10, 32)
	var u execUser
	found := false
	for _, f := range colonLines(passwd, 7) {
		uid, err1 := strconv.ParseUint(f[2], 10, 32)
		gid, err2 := strconv.ParseUint(f[3], 10, 32)
		if err1 != nil || err2 != nil {
			continue
		}
		if f[0] == user || numErr == nil && uid == num {
			u = execUser{Name: f[0], UID: uint32(uid), GID: uint32(gid), Home: f[5], Shell: f[6]}
			found = true
			break
		}
	}
	switch {
	case found:
	case user == "root":
		u = execUser{Name: "root", Home: "/root"}
	case numErr == nil && num != math.MaxUint32:
		u = execUser{Name: user, UID: uint32(num), GID: uint32(num), Home: "/"}
	default:
		return execUser{}, fmt.Errorf("user %s: not in the container's /etc/passwd", strconv.Quote(user))
	}
	if u.Home == "" {
		u.Home = "/"
	}
	for _, f := range colonLines(group, 4) {
		gid, err := strconv.ParseUint(f[2], 10, 32)
		if err != nil || uint32(gid) == u.GID {
			continue
		}
		for _, m := range strings.Split(f[3], ",") {
			if m == u.Name {
				u.Groups = append(u.Groups, uint32(gid))
				break
			}
		}
	}
	return u, nil
}

// colonLines splits a passwd or group file into lines of n fields,
// skipping comments and malformed lines.
func colonLines(b []byte, n int) [][]string {
	var out [][]string
	sc := bufio.NewScanner(bytes.NewReader(b))
	for sc.Scan() {
		line := sc.Text()
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		if f := strings.Split(line, ":"); len(f) == n {
			out = append(out, f)
		}
	}
	return out
}

// execEnv is an exec'd command's environment: a clean one, as a login
// would make, with the container's PATH, and then extra (NAME=VALUE, later
// ones winning).
func execEnv(planEnv []string, u execUser, term string, extra []string) []string {
	path := getenv(planEnv, "PATH")
	if path == "" {
		path = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
	}
	env := []string{
		"PATH=" + path,
		"HOME=" + u.Home,
		"USER=" + u.Name,
		"LOGNAME=" + u.Name,
		"TERM=" + term,
		"container=containerctl",
	}
	for _, e := range extra {
		name, _, _ := strings.Cut(e, "=")
		env = removeVar(env, name)
		env = append(env, e)
	}
	return env
}

func removeVar(env []string, name string) []string {
	out := env[:0]
	for _, e := range env {
		if n, _, _ := strings.Cut(e, "="); n != name {
			out = append(out, e)
		}
	}
	return out
}

// checkExecOptions refuses what an exec cannot run, before anything is
// made: a command, an absolute working directory, NAME=VALUE variables.
func checkExecOptions(o ExecOptions) error {
	if len(o.Args) == 0 || o.Args[0] == "" {
		return fmt.Errorf("exec: no command")
	}
	if o.Workdir != "" && !strings.HasPrefix(o.Workdir, "/") {
		return fmt.Errorf("exec: --workdir %s: not an absolute path", strconv.Quote(o.Workdir))
	}
	for _, e := range o.Env {
		if name, _, ok := strings.Cut(e, "="); !ok || name == "" || strings.ContainsAny(e, "\x00") {
			return fmt.Errorf("exec: -E %s: want NAME=VALUE", strconv.Quote(e))
		}
	}
	for _, s := range append([]string{o.Workdir}, o.Args...) {
		if strings.IndexByte(s, 0) >= 0 {
			return fmt.Errorf("exec: %s: contains a NUL byte", strconv.Quote(s))
		}
	}
	return nil
}
