package integration

import (
	"bufio"
	"fmt"
	"io"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// TestSupervisorHandsOffToMonitor: once the container runs, its
// supervisor is the small C monitor (the same process, one thread, a few
// dozen KiB of memory of its own where the Go supervisor has some 2.5 MiB),
// and the container is still watched as before: the console's output is
// relayed, and a stop, a SIGTERM to the supervisor, and the init's own
// exit each end it with the init's status and nothing left behind (the
// fixture's cleanup checks processes, cgroups and the record).
func TestSupervisorHandsOffToMonitor(t *testing.T) {
	requireRoot(t)
	requireBusybox(t)
	// The init halts on SIGRTMIN+3 (37) with status 7, after it has
	// printed a line that only the monitor can have relayed.
	script := `trap "echo halted; exit 7" 37; echo TESTINIT-READY; sleep 1; echo after-handoff; while :; do sleep 0.1; done`
	tests := []struct {
		name string
		end  func(t *testing.T, c *container)
		want int
	}{
		{"stop", func(t *testing.T, c *container) {
			r := ctl(t, "stop", c.name)
			if r.code != 0 || !strings.Contains(r.stdout, "halted cleanly") || !strings.Contains(r.stdout, "exit status 7") {
				t.Errorf("stop: exit %d, stdout %q, stderr %q; want a clean halt with status 7", r.code, r.stdout, r.stderr)
			}
		}, 7},
		{"sigterm", func(t *testing.T, c *container) {
			if err := c.cmd.Process.Signal(syscall.SIGTERM); err != nil {
				t.Fatal(err)
			}
		}, 7},
		{"exit", nil, 3},
		// A client that connects and writes nothing makes the monitor
		// exec containerctl, which must not wait for it: a SIGTERM
		// meanwhile halts the container.
		{"silent-client", func(t *testing.T, c *container) {
			conn, err := net.Dial("unix", filepath.Join(stateDir, c.name, "control"))
			if err != nil {
				t.Fatal(err)
			}
			defer conn.Close()
			time.Sleep(300 * time.Millisecond)
			if err := c.cmd.Process.Signal(syscall.SIGTERM); err != nil {
				t.Fatal(err)
			}
			c.waitLine("halted", startTimeout)
		}, 7},
		// A request the supervisor refuses halts nothing, though the
		// monitor looks at what comes first to halt a stop at once.
		{"refused-request", func(t *testing.T, c *container) {
			for _, req := range []string{`{"op":"restart"}`, `{"op":"stop","timeout":"1s"}`} {
				conn, err := net.Dial("unix", filepath.Join(stateDir, c.name, "control"))
				if err != nil {
					t.Fatal(err)
				}
				_, _ = conn.Write([]byte(req + "\n"))
				b, _ := io.ReadAll(conn)
				conn.Close()
				if !strings.Contains(string(b), "error") {
					t.Errorf("request %s: answer %q; want it refused", req, b)
				}
			}
			time.Sleep(500 * time.Millisecond)
			if c.stdout.has(func(l string) bool { return l == "halted" }) || c.exited() {
				t.Fatalf("a refused request halted the container\nstderr:\n%s", c.stderr.String())
			}
			if r := ctl(t, "stop", c.name); r.code != 0 {
				t.Errorf("stop: exit %d: %s", r.code, r.stderr)
			}
		}, 7},
		// Two halt signals back to back: the second is pending when
		// the monitor execs containerctl for the first, and goes with
		// it, rather than end the containerctl that starts.
		{"sighup-sigterm", func(t *testing.T, c *container) {
			for _, sig := range []syscall.Signal{syscall.SIGHUP, syscall.SIGTERM} {
				if err := c.cmd.Process.Signal(sig); err != nil {
					t.Fatal(err)
				}
			}
		}, 7},
		// The second a few milliseconds later, when containerctl would
		// be starting again had the monitor exec'd it for the first:
		// the monitor halts the guest itself and takes it along. The
		// guest takes a moment to halt (slowHalt), as a booted one does:
		// one that exits at once can have its exit seen before the
		// second signal, which then reaches containerctl as it starts,
		// in the window resumeSigs (monitor_linux.go) leaves, and ends
		// it (a CI run hit that, 1 in 7).
		{"sighup-then-sigterm", func(t *testing.T, c *container) {
			for _, sig := range []syscall.Signal{syscall.SIGHUP, syscall.SIGTERM} {
				if err := c.cmd.Process.Signal(sig); err != nil {
					t.Fatal(err)
				}
				time.Sleep(3 * time.Millisecond)
			}
		}, 7},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			fx := newFixture(t)
			cmd := script
			if tt.name == "sighup-then-sigterm" { // slowHalt
				cmd = strings.Replace(cmd, `trap "echo halted;`, `trap "sleep 0.05; echo halted;`, 1)
			}
			if tt.end == nil {
				cmd = `echo TESTINIT-READY; sleep 1; echo after-handoff; sleep 0.3; exit 3`
			}
			c := fx.start(t, runOpts{flags: []string{"--console=read-only"}, command: []string{"/bin/sh", "-c", cmd}})
			c.ready()
			pid := c.cmd.Process.Pid
			c.waitMonitor()
			status, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
			if err != nil {
				t.Fatal(err)
			}
			if n := procStatus(t, string(status), "Threads")["Threads"]; n != "1" {
				t.Errorf("monitor %d has %s threads; want 1", pid, n)
			}
			if anon := rollup(t, pid, "Anonymous"); anon > 256 {
				t.Errorf("monitor %d has %d KiB of anonymous memory; want at most 256 (a Go supervisor has some 2500)", pid, anon)
			} else {
				t.Logf("monitor %d: %d KiB anonymous", pid, anon)
			}
			if st := ctl(t, "status", c.name); st.code != 0 || !strings.Contains(st.stdout, fmt.Sprintf("supervisor pid: %d", pid)) {
				t.Errorf("status: exit %d, stdout %q; want it running under supervisor %d", st.code, st.stdout, pid)
			}
			c.waitLine("after-handoff", startTimeout)
			// What stays for the container's life maps only the code
			// it runs: the monitor its loop, which has relayed a line
			// by now, and the reaper the end of its wait. Without
			// dropcode the kernel keeps most of each 0.7 to 0.8 MiB
			// binary mapped.
			for _, p := range []struct {
				what string
				pid  int
			}{{"monitor", pid}, {"reaper", c.waitReaper(startTimeout)}} {
				if code := rollup(t, p.pid, "Rss") - rollup(t, p.pid, "Anonymous"); code > 384 {
					t.Errorf("%s %d has %d KiB of its binary resident; want at most 384", p.what, p.pid, code)
				} else {
					t.Logf("%s %d: %d KiB of its binary resident", p.what, p.pid, code)
				}
			}
			if tt.end != nil {
				tt.end(t, c)
				c.waitLine("halted", startTimeout)
			}
			if got := c.wait(startTimeout); got != tt.want {
				t.Errorf("supervisor exited %d; want the init's %d\nstderr:\n%s", got, tt.want, c.stderr.String())
			}
		})
	}
}

// TestMonitorTooOld: a monitor older than containerctl, which does not
// know an argument it is given, hands the container back, and the
// supervisor watches it itself, rather than the container being killed.
func TestMonitorTooOld(t *testing.T) {
	requireRoot(t)
	requireBusybox(t)
	fx := newFixture(t)
	bin, wrap := ctlCopy(t)
	dir := filepath.Dir(bin)
	real := filepath.Join(filepath.Dir(ctlBin), "containerctl-monitor")
	if err := os.WriteFile(filepath.Join(dir, "containerctl-monitor"), []byte("#!/bin/sh\nexec "+real+" --from-the-future \"$@\"\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	c := fx.start(t, runOpts{flags: []string{"--console=pipe"}, command: []string{"/bin/sh", "-c", `trap "echo halted; exit 7" 37; echo TESTINIT-READY; while :; do sleep 0.1; done`},
		wrap: wrap})
	c.ready()
	time.Sleep(time.Second)
	if exe, _ := os.Readlink(fmt.Sprintf("/proc/%d/exe", c.cmd.Process.Pid)); exe != bin {
		t.Errorf("supervisor runs %s; want %s, watching the container itself", exe, bin)
	}
	if !strings.Contains(c.stderr.String(), "does not know --from-the-future; the supervisor stays whole") {
		t.Errorf("no warning that the monitor is too old\nstderr:\n%s", c.stderr.String())
	}
	if r := ctl(t, "stop", c.name); r.code != 0 || !strings.Contains(r.stdout, "exit status 7") {
		t.Errorf("stop: exit %d, stdout %q, stderr %q; want a halt with status 7", r.code, r.stdout, r.stderr)
	}
	if got := c.wait(startTimeout); got != 7 {
		t.Errorf("supervisor exited %d; want 7", got)
	}
}

// ctlCopy copies containerctl alone into a directory of its own, where it
// finds none of its helpers, and returns it with the runOpts.wrap that runs
// it (the wrapper is given containerctl's own path first, and drops it).
func ctlCopy(t *testing.T) (bin string, wrap []string) {
	t.Helper()
	bin = filepath.Join(t.TempDir(), "containerctl")
	mustCopy(t, ctlBin, bin, 0o755)
	return bin, []string{"/bin/sh", "-c", `shift; exec "$0" "$@"`, bin}
}

// TestMonitorAcceptFails: a monitor that cannot accept a control
// connection (out of fds here) hands the container back to containerctl,
// which answers the stop, rather than the container being killed.
func TestMonitorAcceptFails(t *testing.T) {
	requireRoot(t)
	requireBusybox(t)
	fx := newFixture(t)
	c := fx.start(t, runOpts{flags: []string{"--console=pipe"}, command: []string{"/bin/sh", "-c", `trap "echo halted; exit 7" 37; echo TESTINIT-READY; while :; do sleep 0.1; done`}})
	c.ready()
	c.waitMonitor()
	pid := c.cmd.Process.Pid
	// Below the fds it holds: the next accept fails with EMFILE.
	lim := unix.Rlimit{Cur: 6, Max: 4096}
	if err := unix.Prlimit(pid, unix.RLIMIT_NOFILE, &lim, nil); err != nil {
		t.Fatal(err)
	}
	r := ctl(t, "stop", c.name)
	if r.code != 0 || !strings.Contains(r.stdout, "exit status 7") {
		t.Errorf("stop: exit %d, stdout %q, stderr %q; want a halt with status 7", r.code, r.stdout, r.stderr)
	}
	if got := c.wait(startTimeout); got != 7 {
		t.Errorf("supervisor exited %d; want 7\nstderr:\n%s", got, c.stderr.String())
	}
	if !strings.Contains(c.stderr.String(), "accept on the control socket") || !strings.Contains(c.stderr.String(), "the supervisor stays whole") {
		t.Errorf("no warning that the monitor handed the container back\nstderr:\n%s", c.stderr.String())
	}
}

// TestMonitorInitExitsDuringHandoff: an init that exits as the supervisor
// hands off (a quarter of a second after it runs) is not reaped by the Go
// side meanwhile: the monitor sees a zombie, and the resumed supervisor
// reports its status. Sixteen inits end around that moment, in parallel.
func TestMonitorInitExitsDuringHandoff(t *testing.T) {
	requireRoot(t)
	requireBusybox(t)
	for i := 0; i < 16; i++ {
		d := fmt.Sprintf("0.%03d", 230+3*i)
		t.Run(d, func(t *testing.T) {
			t.Parallel()
			fx := newFixture(t)
			r := ctl(t, "run", fx.name, "--root", fx.root, "--store", fx.store, "--console=pipe", "--", "/bin/sh", "-c", "sleep "+d+"; exit 7")
			if r.code != 7 {
				t.Errorf("run: exit %d, stderr %q; want the init's 7", r.code, r.stderr)
			}
		})
	}
}

// TestConsoleStdoutStalls: a stdout that stops taking the console's output
// (a reader that never reads, a stuck journal) while the guest floods its
// console keeps neither the Go supervisor nor the monitor from a stop; and
// a stdout that goes away (its reader exited) drops the output, not the
// container.
func TestConsoleStdoutStalls(t *testing.T) {
	requireRoot(t)
	requireBusybox(t)
	flood := `trap "exit 7" 37; while :; do echo floodfloodfloodfloodfloodfloodfloodfloodfloodflood; done`
	for _, tt := range []struct{ name, script string }{
		{"from-start", flood},                  // stalls the Go supervisor's copier
		{"after-handoff", "sleep 1; " + flood}, // stalls the monitor's relay
	} {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			fx := newFixture(t)
			fifo := filepath.Join(t.TempDir(), "stdout")
			if err := unix.Mkfifo(fifo, 0o600); err != nil {
				t.Fatal(err)
			}
			// Held open for reading, never read.
			r, err := os.OpenFile(fifo, os.O_RDWR, 0)
			if err != nil {
				t.Fatal(err)
			}
			defer r.Close()
			c := fx.start(t, runOpts{flags: []string{"--console=read-only"}, command: []string{"/bin/sh", "-c", tt.script},
				wrap: []string{"/bin/sh", "-c", `exec "$@" >` + fifo, "sh"}})
			time.Sleep(2 * time.Second)
			// A connection that asks nothing: the monitor (when it
			// relays) execs containerctl, which gets the output it
			// read and could not write, cannot write it either, and
			// must not try to hand off again until it has.
			if conn, err := net.Dial("unix", filepath.Join(stateDir, c.name, "control")); err == nil {
				conn.Close()
			}
			time.Sleep(500 * time.Millisecond)
			start := time.Now()
			st := ctl(t, "stop", c.name, "--timeout", "1s")
			// The guest is stuck writing to its full console: the
			// halt signal may end that write and its trap run, or the
			// stop's timeout kills it. Either way the stop returns.
			halted := strings.Contains(st.stdout, "halted cleanly") && strings.Contains(st.stdout, "exit status 7")
			killed := strings.Contains(st.stdout, "did not halt within 1s, killed")
			if st.code != 0 || !halted && !killed || time.Since(start) > 10*time.Second {
				t.Errorf("stop with a stalled stdout: exit %d after %v, stdout %q, stderr %q; want it halted, or killed at its 1s timeout, within 10s",
					st.code, time.Since(start).Round(time.Millisecond), st.stdout, st.stderr)
			}
			c.wait(startTimeout)
		})
	}
	for _, tt := range []struct{ name, reader string }{
		{"closed-before-handoff", `head -n 1 >/dev/null`},      // the Go supervisor's write fails
		{"closed-after-handoff", `{ read -r line; sleep 1; }`}, // the monitor's write fails
	} {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			fx := newFixture(t)
			c := fx.start(t, runOpts{flags: []string{"--console=read-only"},
				command: []string{"/bin/sh", "-c", `trap "exit 7" 37; while :; do echo line; sleep 0.1; done`},
				wrap:    []string{"/bin/bash", "-c", `set -o pipefail; "$@" | ` + tt.reader, "bash"}})
			time.Sleep(2 * time.Second)
			if c.exited() {
				t.Fatalf("the container ended when its stdout's reader did: exit %d\nstderr:\n%s", c.exit, c.stderr.String())
			}
			st := ctl(t, "stop", c.name)
			if st.code != 0 || !strings.Contains(st.stdout, "exit status 7") {
				t.Errorf("stop: exit %d, stdout %q, stderr %q; want a halt with status 7", st.code, st.stdout, st.stderr)
			}
			if got := c.wait(startTimeout); got != 7 {
				t.Errorf("supervisor exited %d; want 7\nstderr:\n%s", got, c.stderr.String())
			}
			if !strings.Contains(c.stderr.String(), "console output: dropping the rest") {
				t.Errorf("no warning that the console's output is dropped\nstderr:\n%s", c.stderr.String())
			}
		})
	}
}

// rollup is a field of /proc/PID/smaps_rollup, in KiB.
func rollup(t *testing.T, pid int, key string) int {
	t.Helper()
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/smaps_rollup", pid))
	if err != nil {
		t.Fatal(err)
	}
	for _, line := range strings.Split(string(b), "\n") {
		f := strings.Fields(line)
		if len(f) == 3 && f[0] == key+":" {
			n, err := strconv.Atoi(f[1])
			if err != nil {
				t.Fatalf("smaps_rollup: %q: %v", line, err)
			}
			return n
		}
	}
	t.Fatalf("smaps_rollup of %d: no %s", pid, key)
	return 0
}

// TestSupervisorDropsStartImage: a supervisor that cannot hand off to the
// monitor (here: none installed beside containerctl; in use: a terminal
// relayed both ways) maps again, once the init runs, only the pages of its
// binary that watching the container touches, not the near whole image
// that its start mapped (code and read-only data: what every supervisor
// would otherwise hold in its resident set). Checked from the host in
// /proc/PID/smaps, against the mappings' size.
func TestSupervisorDropsStartImage(t *testing.T) {
	requireRoot(t)
	fx := newFixture(t)
	bin, wrap := ctlCopy(t)
	c := fx.start(t, runOpts{flags: []string{"--console=pipe"}, wrap: wrap})
	c.ready()
	pid := c.cmd.Process.Pid
	var size, rss int
	deadline := time.Now().Add(5 * time.Second)
	for {
		size, rss = imageResidency(t, pid)
		if size == 0 {
			t.Fatalf("supervisor %d: no read-only mapping of its binary in smaps", pid)
		}
		if 2*rss < size || time.Now().After(deadline) {
			break
		}
		time.Sleep(50 * time.Millisecond)
	}
	if exe, _ := os.Readlink(fmt.Sprintf("/proc/%d/exe", pid)); exe != bin {
		t.Fatalf("supervisor %d runs %s; want %s, with no monitor beside it", pid, exe, bin)
	}
	if 2*rss >= size {
		t.Errorf("supervisor %d keeps %d of its binary's %d KiB of code and read-only data resident; want less than half", pid, rss, size)
	}
	t.Logf("supervisor %d: %d of %d KiB of its image resident", pid, rss, size)
}

// imageResidency sums, over the non-writable mappings of pid's executable,
// their size and their resident pages, in KiB.
func imageResidency(t *testing.T, pid int) (size, rss int) {
	t.Helper()
	exe, err := os.Readlink(fmt.Sprintf("/proc/%d/exe", pid))
	if err != nil {
		t.Fatal(err)
	}
	f, err := os.Open(fmt.Sprintf("/proc/%d/smaps", pid))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	mine := false
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		fields := strings.Fields(sc.Text())
		switch {
		case len(fields) >= 6 && strings.Contains(fields[0], "-") && len(fields[1]) == 4:
			mine = fields[5] == exe && fields[1][1] != 'w'
		case mine && len(fields) == 3 && (fields[0] == "Size:" || fields[0] == "Rss:"):
			n, err := strconv.Atoi(fields[1])
			if err != nil {
				t.Fatalf("smaps: %q: %v", sc.Text(), err)
			}
			if fields[0] == "Size:" {
				size += n
			} else {
				rss += n
			}
		}
	}
	if err := sc.Err(); err != nil {
		t.Fatal(err)
	}
	return size, rss
}
