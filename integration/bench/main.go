//go:build linux

// Command bench measures containerctl against its peers on this machine and
// writes the figures behind the README's table: start-to-exit of /bin/true
// (crun, runc, systemd-nspawn, bwrap, unshare), the OCI path (create, start
// and delete as containerctl-oci, crun and runc; ctr run --rm through
// containerd with containerctl-oci and runc as its runc binary), boot and halt of a Debian
// systemd root and the supervisor's memory (systemd-nspawn), many
// containers at once (systemd-nspawn), and a container with a veth and
// addresses ready (systemd-nspawn --network-veth).
//
// Each peer and containerctl are measured interleaved in one run (A B A B
// ...) so that the machine's drift cancels out of their ratio. Raw samples go
// to OUT/bench-DATE.json, the table to OUT/bench-DATE.md and stdout, a chart
// to OUT/bench-DATE.svg and .png. No figure fails anything: the targets are
// reported as met or not met.
//
// It is its own module, so that its plotting libraries stay out of the
// product's go.mod. Run it as root with make bench from the repository's top
// directory, or from this directory (the defaults are relative to it):
//
//	go run . -bin ../../bin/containerctl -out ../../results
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"path/filepath"
	"runtime"
	"strings"
	"syscall"
	"time"

	"github.com/sirupsen/logrus"
	"golang.org/x/sys/unix"
)

func init() {
	// Keep the main goroutine on the main thread, so that no other goroutine
	// runs there: the mount-namespace workers (nsthread_linux.go) unshare the
	// thread they run on, and /proc/self/mountinfo, which the host check
	// reads, is the main thread's.
	runtime.LockOSThread()
}

// sections in the order they run.
var allSections = []string{"start", "start-v2", "oci", "boot", "memory", "scale", "network"}

type config struct {
	bin          string // containerctl, absolute
	ociBin       string // containerctl-oci, absolute
	out          string
	runs         int // start-to-exit samples per tool
	bootRuns     int // boots per tool
	memRuns      int
	scaleRuns    int // repetitions of each busybox scale point
	debScaleRuns int // repetitions of each Debian scale point
	netRuns      int // containers with a veth per tool
	scaleN       []int
	debScaleN    []int
	only         map[string]bool
	cacheDir     string // busybox root, bundles, scale roots
	debianRoot   string
	debianFix    string // the fixture script that builds debianRoot
	install      bool
}

func main() {
	if err := run(os.Args[1:]); err != nil {
		fmt.Fprintf(os.Stderr, "bench: error: %v\n", err)
		os.Exit(1)
	}
}

func run(args []string) error {
	fs := flag.NewFlagSet("bench", flag.ContinueOnError)
	var (
		cfg   config
		only  string
		scale string
		deb   string
		level string
	)
	fs.StringVar(&cfg.bin, "bin", "../../bin/containerctl", "containerctl binary to measure")
	fs.StringVar(&cfg.ociBin, "oci-bin", "../../bin/containerctl-oci", "containerctl-oci (the link to containerctl) for the oci section")
	fs.StringVar(&cfg.out, "out", "../../results", "directory for bench-DATE.{json,md,svg,png}")
	fs.IntVar(&cfg.runs, "runs", 30, "start-to-exit samples per tool, and OCI cycles and ctr runs per runtime")
	fs.IntVar(&cfg.bootRuns, "boot-runs", 15, "boots of the Debian root per tool (containerctl's halted by signal and by containerctl stop in turn)")
	fs.IntVar(&cfg.memRuns, "memory-runs", 3, "boots per tool for the memory figures")
	fs.IntVar(&cfg.netRuns, "network-runs", 30, "containers with a veth per tool (network section)")
	fs.IntVar(&cfg.scaleRuns, "scale-runs", 3, "repetitions of each busybox scale point per tool")
	fs.IntVar(&cfg.debScaleRuns, "scale-debian-runs", 3, "repetitions of each Debian scale point per tool")
	fs.StringVar(&scale, "scale-n", "10,50,200", "numbers of busybox containers started at once")
	fs.StringVar(&deb, "scale-debian-n", "10,50", "numbers of Debian systems booted at once")
	fs.StringVar(&only, "only", strings.Join(allSections, ","), "comma list of sections to run: "+strings.Join(allSections, ","))
	fs.StringVar(&cfg.cacheDir, "cache", "/var/cache/containerctl-test/bench", "directory for the busybox root and the OCI bundle")
	fs.StringVar(&cfg.debianRoot, "debian-root", "/var/cache/containerctl-test/debian-bookworm", "Debian root (built by -debian-fixture when missing)")
	fs.StringVar(&cfg.debianFix, "debian-fixture", "../fixtures/debian-root.sh", "script that builds the Debian root")
	fs.BoolVar(&cfg.install, "install", true, "install missing peers from Debian's packages")
	fs.StringVar(&level, "log-level", "info", "log level: debug, info, warn, error")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return fmt.Errorf("unexpected arguments %q", fs.Args())
	}
	lvl, err := logrus.ParseLevel(level)
	if err != nil {
		return fmt.Errorf("-log-level: %w", err)
	}
	logrus.SetLevel(lvl)
	logrus.SetOutput(os.Stderr)
	if cfg.runs < 1 || cfg.bootRuns < 1 || cfg.memRuns < 1 || cfg.scaleRuns < 1 || cfg.netRuns < 1 || cfg.debScaleRuns < 1 {
		return errors.New("-runs, -boot-runs, -memory-runs, -scale-runs, -scale-debian-runs and -network-runs must be at least 1")
	}
	if cfg.scaleN, err = parseInts(scale); err != nil {
		return fmt.Errorf("-scale-n: %w", err)
	}
	if cfg.debScaleN, err = parseInts(deb); err != nil {
		return fmt.Errorf("-scale-debian-n: %w", err)
	}
	cfg.only = map[string]bool{}
	for _, s := range strings.Split(only, ",") {
		s = strings.TrimSpace(s)
		if s == "" {
			continue
		}
		if !contains(allSections, s) {
			return fmt.Errorf("-only: unknown section %q (want some of %s)", s, strings.Join(allSections, ","))
		}
		cfg.only[s] = true
	}
	if os.Geteuid() != 0 {
		return errors.New("must run as root: it starts containers")
	}
	if cfg.bin, err = filepath.Abs(cfg.bin); err != nil {
		return err
	}
	if _, err := os.Stat(cfg.bin); err != nil {
		return fmt.Errorf("containerctl binary: %w (make build)", err)
	}
	if cfg.ociBin, err = filepath.Abs(cfg.ociBin); err != nil {
		return err
	}
	if _, err := os.Stat(cfg.ociBin); err != nil && cfg.only["oci"] {
		return fmt.Errorf("containerctl-oci: %w (make build)", err)
	}

	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()

	if cfg.install {
		if err := ensurePackages(); err != nil {
			return err
		}
	}
	// Anything a command leaves running is reparented to the harness, so
	// that the end of the run finds and kills it (leftovers).
	if err := unix.Prctl(unix.PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0); err != nil {
		return fmt.Errorf("prctl PR_SET_CHILD_SUBREAPER: %w", err)
	}
	before, err := snapshotHost()
	if err != nil {
		return fmt.Errorf("host snapshot: %w", err)
	}

	rep := &report{
		Date:    time.Now(),
		Host:    describeHost(cfg.bin),
		Config:  cfg.describe(),
		Results: []*result{},
	}
	bb, err := busyboxRoot(cfg.cacheDir)
	if err != nil {
		return err
	}
	for _, s := range allSections {
		if !cfg.only[s] {
			continue
		}
		if ctx.Err() != nil {
			break
		}
		logrus.Infof("section %s", s)
		t0 := time.Now()
		var rs []*result
		var err error
		switch s {
		case "start":
			rs, err = benchStart(ctx, &cfg, bb)
		case "start-v2":
			rs, err = benchStartV2(ctx, &cfg, bb, rep)
		case "oci":
			rs, err = benchOCI(ctx, &cfg, bb)
		case "boot":
			rs, err = benchBoot(ctx, &cfg, rep)
		case "memory":
			rs, err = benchMemory(ctx, &cfg, bb, rep)
		case "scale":
			rs, err = benchScale(ctx, &cfg, bb, rep)
		case "network":
			rs, err = benchNetwork(ctx, &cfg, bb, rep)
		}
		rep.Results = append(rep.Results, rs...)
		if err != nil {
			// A section that cannot run at all (no Debian root, say) is
			// reported and the others still run.
			rep.Notes = append(rep.Notes, fmt.Sprintf("section %s: %v", s, err))
			logrus.WithError(err).Errorf("section %s", s)
		}
		logrus.Infof("section %s done in %s", s, time.Since(t0).Round(time.Millisecond))
	}

	after, err := snapshotHost()
	if err != nil {
		return fmt.Errorf("host snapshot: %w", err)
	}
	rep.HostCheck = append(before.diff(after), leftovers()...)
	if err := rep.write(cfg.out); err != nil {
		return err
	}
	if ctx.Err() != nil {
		return fmt.Errorf("interrupted: %w", ctx.Err())
	}
	return nil
}

func (c *config) describe() map[string]any {
	var only []string
	for _, s := range allSections {
		if c.only[s] {
			only = append(only, s)
		}
	}
	return map[string]any{
		"bin": c.bin, "oci_bin": c.ociBin, "runs": c.runs, "boot_runs": c.bootRuns, "memory_runs": c.memRuns,
		"scale_runs": c.scaleRuns, "scale_debian_runs": c.debScaleRuns, "network_runs": c.netRuns, "scale_n": c.scaleN, "scale_debian_n": c.debScaleN,
		"sections": only, "debian_root": c.debianRoot,
	}
}

func parseInts(s string) ([]int, error) {
	var ns []int
	for _, f := range strings.Split(s, ",") {
		f = strings.TrimSpace(f)
		if f == "" {
			continue
		}
		var n int
		if _, err := fmt.Sscanf(f, "%d", &n); err != nil || n < 1 {
			return nil, fmt.Errorf("%q is not a positive number", f)
		}
		ns = append(ns, n)
	}
	return ns, nil
}

func contains(ss []string, s string) bool {
	for _, x := range ss {
		if x == s {
			return true
		}
	}
	return false
}
