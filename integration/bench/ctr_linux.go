//go:build linux

package main

import (
	"archive/tar"
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	"github.com/sirupsen/logrus"
)

const (
	ctrNamespace = "bench"
	ctrImage     = "localhost/containerctl-bench:latest"
	ctrMetric    = "ctr run --rm"
)

// containerd is a containerd of the harness's own: its root, state and
// socket below dir, the CRI plugin disabled.
type containerd struct {
	dir  string
	sock string
	cmd  *exec.Cmd
	// cgroups are the namespace's cgroup directories (cgroupsPath
	// /NAMESPACE/ID) that were not there before: runc and containerctl-oci
	// remove the container's own, not its parent.
	cgroups []string
	// runDir is set when /run/containerd, where the shims keep their
	// runtime's state whatever containerd's state directory, was not there.
	runDir bool
	before []string // the namespace's cgroup directories at the start
}

// benchCtr measures ctr run --rm of /bin/true end to end with
// containerctl-oci, then runc, as containerd's runc binary, interleaved.
func benchCtr(ctx context.Context, cfg *config, tmp string) ([]*result, error) {
	cc := &result{Section: "oci", Metric: ctrMetric, Tool: "containerctl", Unit: "ms", Note: "containerctl-oci as containerd's runc"}
	runc := &result{Section: "oci", Metric: ctrMetric, Tool: "runc", Unit: "ms", Note: "containerd's shim",
		Target: &target{Text: "< 1.0", Max: 1.0, Strict: true}}
	out := []*result{cc, runc}
	runcBin, err := exec.LookPath("runc")
	if err != nil {
		return out, fmt.Errorf("runc: %w", err)
	}
	c, err := startContainerd(ctx, filepath.Join(tmp, "containerd"))
	if err != nil {
		return out, err
	}
	defer c.stop()
	image, err := ociImage(filepath.Join(tmp, "image.tar"))
	if err != nil {
		return out, fmt.Errorf("oci image: %w", err)
	}
	if b, err := c.ctr("image", "import", image).CombinedOutput(); err != nil {
		return out, fmt.Errorf("ctr image import: %w: %s", err, oneLine(string(b)))
	}
	errf, err := os.CreateTemp("", "bench-stderr-")
	if err != nil {
		return out, err
	}
	defer os.Remove(errf.Name())
	defer errf.Close()
	pid := os.Getpid()
	run := func(r *result, bin string, i, round int, paired *result) {
		if r.Failures >= 3 && len(r.Samples) == 0 {
			return
		}
		id := fmt.Sprintf("bench-ctr-%s-%d-%d", r.Tool, pid, i)
		argv := append([]string{"ctr"}, c.args("run", "--rm", "--runc-binary", bin, ctrImage, id, "/bin/true")...)
		d, err := timedRun(nil, argv, nil, errf)
		c.noteCgroups()
		switch {
		case err != nil:
			r.fail(err)
			c.removeAll()
		case round >= startWarmup:
			r.Samples = append(r.Samples, ms(d))
			if paired != nil {
				paired.Paired = append(paired.Paired, ms(d))
			}
		}
	}
	for round := 0; round < startWarmup+cfg.runs && ctx.Err() == nil; round++ {
		run(cc, cfg.ociBin, 2*round, round, runc)
		run(runc, runcBin, 2*round+1, round, nil)
		logrus.Debugf("ctr: round %d done", round)
	}
	return out, ctx.Err()
}

func startContainerd(ctx context.Context, dir string) (*containerd, error) {
	bin, err := exec.LookPath("containerd")
	if err != nil {
		return nil, fmt.Errorf("containerd: %w (package containerd)", err)
	}
	if _, err := exec.LookPath("ctr"); err != nil {
		return nil, fmt.Errorf("ctr: %w (package containerd)", err)
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, err
	}
	c := &containerd{dir: dir, sock: filepath.Join(dir, "containerd.sock")}
	c.before, _ = filepath.Glob("/sys/fs/cgroup/*/" + ctrNamespace)
	if _, err := os.Lstat("/run/containerd"); os.IsNotExist(err) {
		c.runDir = true
	}
	conf := "version = 2\nroot = \"" + dir + "/root\"\nstate = \"" + dir + "/state\"\n" +
		"disabled_plugins = [\"io.containerd.grpc.v1.cri\"]\n[grpc]\n  address = \"" + c.sock + "\"\n" +
		"[plugins.\"io.containerd.internal.v1.opt\"]\n  path = \"" + dir + "/opt\"\n"
	if err := os.WriteFile(filepath.Join(dir, "config.toml"), []byte(conf), 0o644); err != nil {
		return nil, err
	}
	log, err := os.Create(filepath.Join(dir, "containerd.log"))
	if err != nil {
		return nil, err
	}
	defer log.Close()
	c.cmd = exec.Command(bin, "-c", filepath.Join(dir, "config.toml"))
	c.cmd.Stdout, c.cmd.Stderr = log, log
	c.cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
	if err := c.cmd.Start(); err != nil {
		return nil, fmt.Errorf("containerd: %w", err)
	}
	for deadline := time.Now().Add(15 * time.Second); ; {
		if _, err := os.Stat(c.sock); err == nil {
			return c, nil
		}
		if time.Now().After(deadline) || sleepCtx(ctx, 50*time.Millisecond) != nil {
			b, _ := os.ReadFile(log.Name())
			c.stop()
			return nil, fmt.Errorf("containerd: no socket %s within 15s: %s", c.sock, lastLines(b, 3))
		}
	}
}

func (c *containerd) args(args ...string) []string {
	return append([]string{"-a", c.sock, "-n", ctrNamespace}, args...)
}

func (c *containerd) ctr(args ...string) *exec.Cmd { return exec.Command("ctr", c.args(args...)...) }

// noteCgroups records the namespace's cgroup directories that appeared.
func (c *containerd) noteCgroups() {
	ms, _ := filepath.Glob("/sys/fs/cgroup/*/" + ctrNamespace)
	for _, m := range ms {
		if !contains(c.cgroups, m) && !contains(c.before, m) {
			c.cgroups = append(c.cgroups, m)
		}
	}
}

// removeAll kills and deletes every task and container of the namespace,
// after a failed run.
func (c *containerd) removeAll() {
	out, _ := c.ctr("task", "ls", "-q").Output()
	for _, id := range strings.Fields(string(out)) {
		_ = c.ctr("task", "kill", "-s", "SIGKILL", id).Run()
		_ = c.ctr("task", "delete", "--force", id).Run()
	}
	out, _ = c.ctr("container", "ls", "-q").Output()
	for _, id := range strings.Fields(string(out)) {
		_ = c.ctr("container", "delete", id).Run()
	}
}

// stop ends containerd after its containers, and removes what it and the
// shims made: its directory, the namespace's cgroups, /run/containerd.
func (c *containerd) stop() {
	c.removeAll()
	_ = c.cmd.Process.Signal(syscall.SIGTERM)
	done := make(chan struct{})
	go func() { _ = c.cmd.Wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(10 * time.Second):
		_ = c.cmd.Process.Kill()
		<-done
	}
	for _, cg := range c.cgroups {
		if err := os.Remove(cg); err != nil && !os.IsNotExist(err) {
			logrus.WithError(err).Warnf("containerd: remove cgroup %s", cg)
		}
	}
	if c.runDir {
		_ = os.RemoveAll("/run/containerd")
	}
	_ = os.RemoveAll(c.dir)
}

// ociImage writes an OCI image layout, as a tar that ctr image import
// takes, of a busybox root (there is no registry), to file.
func ociImage(file string) (string, error) {
	bbPath, err := exec.LookPath("busybox")
	if err != nil {
		return "", err
	}
	bb, err := os.ReadFile(bbPath)
	if err != nil {
		return "", err
	}
	var layer tarBuf
	for _, d := range []string{"bin/", "etc/", "proc/", "sys/", "dev/", "tmp/", "run/"} {
		layer.add(&tar.Header{Name: d, Mode: 0o755, Typeflag: tar.TypeDir}, nil)
	}
	layer.add(&tar.Header{Name: "bin/busybox", Mode: 0o755, Size: int64(len(bb)), Typeflag: tar.TypeReg}, bb)
	for _, a := range []string{"sh", "true", "echo", "sleep", "cat"} {
		layer.add(&tar.Header{Name: "bin/" + a, Linkname: "busybox", Mode: 0o777, Typeflag: tar.TypeSymlink}, nil)
	}
	l, err := layer.bytes()
	if err != nil {
		return "", err
	}
	cfg := mustJSON(map[string]any{
		"architecture": "amd64", "os": "linux",
		"config": map[string]any{"Cmd": []string{"/bin/sh"}, "Env": []string{"PATH=/bin"}},
		"rootfs": map[string]any{"type": "layers", "diff_ids": []string{digest(l)}},
	})
	man := mustJSON(map[string]any{
		"schemaVersion": 2, "mediaType": "application/vnd.oci.image.manifest.v1+json",
		"config": map[string]any{"mediaType": "application/vnd.oci.image.config.v1+json", "digest": digest(cfg), "size": len(cfg)},
		"layers": []any{map[string]any{"mediaType": "application/vnd.oci.image.layer.v1.tar", "digest": digest(l), "size": len(l)}},
	})
	idx := mustJSON(map[string]any{
		"schemaVersion": 2, "mediaType": "application/vnd.oci.image.index.v1+json",
		"manifests": []any{map[string]any{"mediaType": "application/vnd.oci.image.manifest.v1+json", "digest": digest(man), "size": len(man),
			"annotations": map[string]string{"org.opencontainers.image.ref.name": ctrImage, "io.containerd.image.name": ctrImage}}},
	})
	var out tarBuf
	reg := func(name string, b []byte) {
		out.add(&tar.Header{Name: name, Mode: 0o644, Size: int64(len(b)), Typeflag: tar.TypeReg}, b)
	}
	reg("oci-layout", []byte(`{"imageLayoutVersion":"1.0.0"}`))
	reg("index.json", idx)
	for _, b := range [][]byte{l, cfg, man} {
		reg("blobs/sha256/"+strings.TrimPrefix(digest(b), "sha256:"), b)
	}
	data, err := out.bytes()
	if err != nil {
		return "", err
	}
	return file, os.WriteFile(file, data, 0o644)
}

// tarBuf is a tar in memory that keeps its first error.
type tarBuf struct {
	buf bytes.Buffer
	w   *tar.Writer
	err error
}

func (t *tarBuf) add(h *tar.Header, data []byte) {
	if t.w == nil {
		t.w = tar.NewWriter(&t.buf)
	}
	if t.err == nil {
		t.err = t.w.WriteHeader(h)
	}
	if t.err == nil && len(data) > 0 {
		_, t.err = t.w.Write(data)
	}
}

func (t *tarBuf) bytes() ([]byte, error) {
	if t.w == nil {
		t.w = tar.NewWriter(&t.buf)
	}
	if t.err == nil {
		t.err = t.w.Close()
	}
	return t.buf.Bytes(), t.err
}

func digest(b []byte) string {
	h := sha256.Sum256(b)
	return "sha256:" + hex.EncodeToString(h[:])
}

// mustJSON marshals maps of strings, numbers and slices, which cannot fail.
func mustJSON(v any) []byte {
	b, err := json.Marshal(v)
	if err != nil {
		panic(err)
	}
	return b
}
