//go:build linux

package integration

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"sync"
	"syscall"
	"testing"
)

const stateDir = "/run/containerctl"

var (
	// ctlBin and initBin are the binaries under test, built by TestMain.
	ctlBin string
	// ociBin is containerctl-oci, a link to ctlBin.
	ociBin  string
	initBin string

	// tracked records every directory and testinit copy the tests made, so
	// that the suite can find any process left running from them.
	tracked struct {
		sync.Mutex
		dirs   []string
		inodes map[fileID]string
	}
)

type fileID struct{ dev, ino uint64 }

func integrationMode() bool { return os.Getenv("CONTAINERCTL_INTEGRATION") == "1" }

func TestMain(m *testing.M) { os.Exit(testMain(m)) }

func testMain(m *testing.M) int {
	if os.Geteuid() != 0 {
		// Every test calls requireRoot, which skips, or fails under
		// CONTAINERCTL_INTEGRATION=1.
		return m.Run()
	}
	tmp, err := os.MkdirTemp("", "containerctl-it-")
	if err != nil {
		fmt.Fprintf(os.Stderr, "integration: %v\n", err)
		return 1
	}
	defer os.RemoveAll(tmp)
	trackDir(tmp)
	if err := buildBinaries(tmp); err != nil {
		fmt.Fprintf(os.Stderr, "integration: %v\n", err)
		return 1
	}

	before, err := snapshotHost()
	if err != nil {
		fmt.Fprintf(os.Stderr, "integration: snapshot host: %v\n", err)
		return 1
	}
	code := m.Run()

	if left := leftoverProcs(); len(left) > 0 {
		fmt.Fprintf(os.Stderr, "integration: processes left running after the suite:\n")
		for _, p := range left {
			fmt.Fprintf(os.Stderr, "  pid %d exe %s pidns %s\n", p.pid, p.exe, p.pidNS)
			// Tidy up what the tests started, by pid.
			syscall.Kill(p.pid, syscall.SIGKILL)
		}
		code = 1
	}
	after, err := snapshotHost()
	if err != nil {
		fmt.Fprintf(os.Stderr, "integration: snapshot host: %v\n", err)
		return 1
	}
	if diff := before.diff(after); diff != "" {
		fmt.Fprintf(os.Stderr, "integration: the host changed during the suite:\n%s", diff)
		code = 1
	}
	return code
}

// buildBinaries builds containerctl (unless CONTAINERCTL_BIN names one) and
// testinit into dir, static, from the module root.
func buildBinaries(dir string) error {
	goBin, err := exec.LookPath("go")
	if err != nil {
		goBin = "/usr/local/go/bin/go"
	}
	out, err := exec.Command(goBin, "env", "GOMOD").Output()
	if err != nil {
		return fmt.Errorf("go env GOMOD: %w", err)
	}
	gomod := strings.TrimSpace(string(out))
	if gomod == "" || gomod == os.DevNull {
		return fmt.Errorf("go env GOMOD: not in a module")
	}
	modRoot := filepath.Dir(gomod)

	build := func(out, pkg string) error {
		cmd := exec.Command(goBin, "build", "-o", out, pkg)
		cmd.Dir = modRoot
		cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
		if b, err := cmd.CombinedOutput(); err != nil {
			return fmt.Errorf("go build %s: %w\n%s", pkg, err, b)
		}
		return nil
	}
	initBin = filepath.Join(dir, "testinit")
	if err := build(initBin, "./integration/testinit"); err != nil {
		return err
	}
	if bin := os.Getenv("CONTAINERCTL_BIN"); bin != "" {
		abs, err := filepath.Abs(bin)
		if err != nil {
			return fmt.Errorf("CONTAINERCTL_BIN: %w", err)
		}
		ctlBin = abs
		return linkOCI()
	}
	ctlBin = filepath.Join(dir, "containerctl")
	if err := build(ctlBin, "./cmd/containerctl"); err != nil {
		return err
	}
	if err := buildHelper(modRoot, dir); err != nil {
		return err
	}
	return linkOCI()
}

// linkOCI makes containerctl-oci, the link to containerctl that answers
// runc's command line (as make build does), beside the binary under test.
func linkOCI() error {
	ociBin = filepath.Join(filepath.Dir(ctlBin), "containerctl-oci")
	if _, err := os.Lstat(ociBin); err == nil {
		return nil
	}
	return os.Symlink(filepath.Base(ctlBin), ociBin)
}

// buildHelper builds containerctl's C helpers beside containerctl, where it
// looks for them (as make build does): exec's containerctl-nsenter, the
// supervisors' containerctl-reaper and containerctl-monitor.
func buildHelper(modRoot, dir string) error {
	gcc, err := exec.LookPath("gcc")
	if err != nil {
		return fmt.Errorf("gcc is missing (make deps installs it): it builds containerctl's C helpers: %w", err)
	}
	for name, src := range map[string]string{
		"containerctl-nsenter": "runtime/nsenter/helper/nsenter.c",
		"containerctl-reaper":  "runtime/reaper/reaper.c",
		"containerctl-monitor": "runtime/monitor/monitor.c",
	} {
		cmd := exec.Command(gcc, "-static", "-Os", "-Wall", "-Werror", "-o", filepath.Join(dir, name), src)
		cmd.Dir = modRoot
		if b, err := cmd.CombinedOutput(); err != nil {
			return fmt.Errorf("gcc %s: %w\n%s", name, err, b)
		}
	}
	return nil
}

// hostState is what the suite must leave as it found it.
type hostState struct {
	sets map[string][]string // what -> sorted entries
}

func snapshotHost() (*hostState, error) {
	s := &hostState{sets: map[string][]string{}}
	mi, err := os.ReadFile("/proc/self/mountinfo")
	if err != nil {
		return nil, err
	}
	s.sets["mount"] = sortedLines(string(mi))

	hier, err := filepath.Glob("/sys/fs/cgroup/*")
	if err != nil {
		return nil, err
	}
	for _, h := range hier {
		if fi, err := os.Stat(h); err != nil || !fi.IsDir() {
			continue
		}
		s.sets["cgroup "+h] = dirEntries(h, true)
	}
	s.sets["netlink"] = dirEntries("/sys/class/net", false)
	// A container that failed to get its own UTS namespace would rename
	// the host.
	for _, f := range []string{"/proc/sys/kernel/hostname", "/proc/sys/kernel/domainname"} {
		b, err := os.ReadFile(f)
		if err != nil {
			return nil, err
		}
		s.sets[f] = []string{strings.TrimSpace(string(b))}
	}
	s.sets["state "+stateDir] = dirEntries(stateDir, false)
	return s, nil
}

func (s *hostState) diff(after *hostState) string {
	var keys []string
	for k := range s.sets {
		keys = append(keys, k)
	}
	for k := range after.sets {
		if _, ok := s.sets[k]; !ok {
			keys = append(keys, k)
		}
	}
	sort.Strings(keys)
	var b strings.Builder
	for _, k := range keys {
		added, removed := setDiff(s.sets[k], after.sets[k])
		for _, e := range added {
			fmt.Fprintf(&b, "  %s: added %s\n", k, e)
		}
		for _, e := range removed {
			fmt.Fprintf(&b, "  %s: removed %s\n", k, e)
		}
	}
	return b.String()
}

func setDiff(before, after []string) (added, removed []string) {
	for _, e := range after {
		if !slices.Contains(before, e) {
			added = append(added, e)
		}
	}
	for _, e := range before {
		if !slices.Contains(after, e) {
			removed = append(removed, e)
		}
	}
	return added, removed
}

func sortedLines(s string) []string {
	var lines []string
	for _, l := range strings.Split(s, "\n") {
		if l != "" {
			lines = append(lines, l)
		}
	}
	sort.Strings(lines)
	return lines
}

// dirEntries lists dir's entry names (only directories with dirsOnly); a
// missing dir lists as empty.
func dirEntries(dir string, dirsOnly bool) []string {
	ents, err := os.ReadDir(dir)
	if err != nil {
		return nil
	}
	var names []string
	for _, e := range ents {
		if dirsOnly && !e.IsDir() {
			continue
		}
		names = append(names, e.Name())
	}
	sort.Strings(names)
	return names
}

func trackDir(dir string) {
	tracked.Lock()
	defer tracked.Unlock()
	tracked.dirs = append(tracked.dirs, dir)
}

// trackExe records a binary that processes under test run from. Processes in
// a container see their executable by its path inside, so the suite matches
// them by inode rather than by path.
func trackExe(path string) error {
	var st syscall.Stat_t
	if err := syscall.Stat(path, &st); err != nil {
		return err
	}
	tracked.Lock()
	defer tracked.Unlock()
	if tracked.inodes == nil {
		tracked.inodes = map[fileID]string{}
	}
	tracked.inodes[fileID{st.Dev, st.Ino}] = path
	return nil
}

// leftoverProcs lists processes running a binary the tests made: by inode,
// or by a path under a directory the tests made.
func leftoverProcs() []procInfo {
	tracked.Lock()
	dirs := slices.Clone(tracked.dirs)
	inodes := make(map[fileID]string, len(tracked.inodes))
	for k, v := range tracked.inodes {
		inodes[k] = v
	}
	tracked.Unlock()

	var left []procInfo
	for _, p := range listProcs() {
		if p.pid == os.Getpid() {
			continue
		}
		if _, ok := inodes[p.exeID]; ok && p.exeID != (fileID{}) {
			left = append(left, p)
			continue
		}
		for _, d := range dirs {
			if p.exe != "" && strings.HasPrefix(p.exe, d+"/") {
				left = append(left, p)
				break
			}
		}
	}
	return left
}
