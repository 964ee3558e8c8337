package integration

import (
	"archive/tar"
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"
)

// testImage is the name of the image ociImage makes.
const testImage = "localhost/containerctl-test:latest"

// ociImage writes an OCI image layout, as a tar that ctr image import and
// podman load take, of a busybox root: there is no registry here.
func ociImage(t *testing.T) string {
	t.Helper()
	requireBusybox(t)
	bb, err := os.ReadFile(busybox)
	if err != nil {
		t.Fatal(err)
	}
	var layer bytes.Buffer
	tw := tar.NewWriter(&layer)
	hdr := func(h *tar.Header) {
		if err := tw.WriteHeader(h); err != nil {
			t.Fatal(err)
		}
	}
	for _, d := range []string{"bin/", "etc/", "proc/", "sys/", "dev/", "tmp/", "run/"} {
		hdr(&tar.Header{Name: d, Mode: 0o755, Typeflag: tar.TypeDir})
	}
	hdr(&tar.Header{Name: "bin/busybox", Mode: 0o755, Size: int64(len(bb)), Typeflag: tar.TypeReg})
	if _, err := tw.Write(bb); err != nil {
		t.Fatal(err)
	}
	for _, a := range []string{"sh", "echo", "cat", "sleep", "ls", "id", "hostname", "ps", "tty", "readlink", "true", "grep"} {
		hdr(&tar.Header{Name: "bin/" + a, Linkname: "busybox", Mode: 0o777, Typeflag: tar.TypeSymlink})
	}
	if err := tw.Close(); err != nil {
		t.Fatal(err)
	}
	l := layer.Bytes()
	cfg := mustJSON(t, map[string]any{
		"architecture": "amd64", "os": "linux",
		"config": map[string]any{"Cmd": []string{"/bin/sh"}, "Env": []string{"PATH=/bin"}},
		"rootfs": map[string]any{"type": "layers", "diff_ids": []string{digest(l)}},
	})
	man := mustJSON(t, map[string]any{
		"schemaVersion": 2, "mediaType": "application/vnd.oci.image.manifest.v1+json",
		"config": map[string]any{"mediaType": "application/vnd.oci.image.config.v1+json", "digest": digest(cfg), "size": len(cfg)},
		"layers": []any{map[string]any{"mediaType": "application/vnd.oci.image.layer.v1.tar", "digest": digest(l), "size": len(l)}},
	})
	idx := mustJSON(t, map[string]any{
		"schemaVersion": 2, "mediaType": "application/vnd.oci.image.index.v1+json",
		"manifests": []any{map[string]any{"mediaType": "application/vnd.oci.image.manifest.v1+json", "digest": digest(man), "size": len(man),
			"annotations": map[string]string{"org.opencontainers.image.ref.name": testImage, "io.containerd.image.name": testImage}}},
	})
	var out bytes.Buffer
	ow := tar.NewWriter(&out)
	add := func(name string, b []byte) {
		if err := ow.WriteHeader(&tar.Header{Name: name, Mode: 0o644, Size: int64(len(b)), Typeflag: tar.TypeReg}); err != nil {
			t.Fatal(err)
		}
		if _, err := ow.Write(b); err != nil {
			t.Fatal(err)
		}
	}
	add("oci-layout", []byte(`{"imageLayoutVersion":"1.0.0"}`))
	add("index.json", idx)
	for _, b := range [][]byte{l, cfg, man} {
		add("blobs/sha256/"+digest(b)[len("sha256:"):], b)
	}
	if err := ow.Close(); err != nil {
		t.Fatal(err)
	}
	file := filepath.Join(t.TempDir(), "image.tar")
	if err := os.WriteFile(file, out.Bytes(), 0o644); err != nil {
		t.Fatal(err)
	}
	return file
}

func digest(b []byte) string {
	h := sha256.Sum256(b)
	return "sha256:" + hex.EncodeToString(h[:])
}

func mustJSON(t *testing.T, v any) []byte {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// requireProgram finds a program .ci/run installs, failing under
// CONTAINERCTL_INTEGRATION=1 and skipping otherwise.
func requireProgram(t *testing.T, name string) string {
	t.Helper()
	p, err := exec.LookPath(name)
	if err == nil {
		return p
	}
	if integrationMode() {
		t.Fatalf("%s is missing (make deps installs it); CONTAINERCTL_INTEGRATION=1, so this is a failure", name)
	}
	t.Skipf("%s is missing (make deps installs it)", name)
	return ""
}

// run runs a program and returns its output, failing the test on an exit
// status other than want.
func runProgram(t *testing.T, want int, name string, args ...string) string {
	t.Helper()
	cmd := exec.Command(name, args...)
	// A file, not a pipe: a container that create starts inherits its
	// stdio, and a pipe would not reach EOF while the container runs.
	out, err := os.CreateTemp(t.TempDir(), "out")
	if err != nil {
		t.Fatal(err)
	}
	defer out.Close()
	cmd.Stdout, cmd.Stderr = out, out
	err = cmd.Run()
	b, _ := os.ReadFile(out.Name())
	code := 0
	if ee, ok := err.(*exec.ExitError); ok {
		code = ee.ExitCode()
	} else if err != nil {
		t.Fatalf("%s %s: %v", name, strings.Join(args, " "), err)
	}
	if code != want {
		t.Fatalf("%s %s: exit %d, want %d:\n%s", name, strings.Join(args, " "), code, want, b)
	}
	return string(b)
}

// containerd is a containerd of the test's own: its root, state and
// socket in a temporary directory, so that the host's is untouched.
type containerd struct {
	t    *testing.T
	sock string
	cmd  *exec.Cmd
}

func startContainerd(t *testing.T) *containerd {
	t.Helper()
	bin := requireProgram(t, "containerd")
	requireProgram(t, "ctr")
	dir := t.TempDir()
	trackDir(dir)
	c := &containerd{t: t, sock: filepath.Join(dir, "containerd.sock")}
	// The shims keep their runtime's state below /run/containerd whatever
	// containerd's own state directory; the host is left as it was found.
	if _, err := os.Lstat("/run/containerd"); os.IsNotExist(err) {
		t.Cleanup(func() { _ = os.RemoveAll("/run/containerd") })
	}
	conf := "version = 2\nroot = \"" + dir + "/root\"\nstate = \"" + dir + "/state\"\n" +
		"disabled_plugins = [\"io.containerd.grpc.v1.cri\"]\n[grpc]\n  address = \"" + c.sock + "\"\n" +
		"[plugins.\"io.containerd.internal.v1.opt\"]\n  path = \"" + dir + "/opt\"\n"
	if err := os.WriteFile(filepath.Join(dir, "config.toml"), []byte(conf), 0o644); err != nil {
		t.Fatal(err)
	}
	log, err := os.Create(filepath.Join(dir, "containerd.log"))
	if err != nil {
		t.Fatal(err)
	}
	c.cmd = exec.Command(bin, "-c", filepath.Join(dir, "config.toml"))
	c.cmd.Stdout, c.cmd.Stderr = log, log
	c.cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := c.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		// A shim outlives containerd: every task and container goes
		// first, and with them their shims.
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
		log.Close()
		if t.Failed() {
			b, _ := os.ReadFile(log.Name())
			t.Logf("containerd's log:\n%s", b)
		}
	})
	for deadline := time.Now().Add(15 * time.Second); ; time.Sleep(50 * time.Millisecond) {
		if _, err := os.Stat(c.sock); err == nil {
			return c
		}
		if time.Now().After(deadline) {
			t.Fatalf("containerd: no socket %s within 15s", c.sock)
		}
	}
}

// removeAll kills and deletes every task and container of the namespace.
func (c *containerd) removeAll() {
	ctr := func(args ...string) string {
		out, _ := exec.Command("ctr", append([]string{"-a", c.sock, "-n", "test"}, args...)...).Output()
		return string(out)
	}
	for _, id := range strings.Fields(ctr("task", "ls", "-q")) {
		ctr("task", "kill", "-s", "SIGKILL", id)
		for i := 0; i < 100 && !strings.Contains(ctr("task", "ls"), "STOPPED"); i++ {
			time.Sleep(20 * time.Millisecond)
		}
		ctr("task", "delete", "--force", id)
	}
	for _, id := range strings.Fields(ctr("container", "ls", "-q")) {
		ctr("container", "delete", id)
	}
}

// ctr runs ctr against the test's containerd, in namespace "test".
func (c *containerd) ctr(want int, args ...string) string {
	c.t.Helper()
	return runProgram(c.t, want, "ctr", append([]string{"-a", c.sock, "-n", "test"}, args...)...)
}

// podman is podman with a storage root and run root of the test's own,
// the cgroupfs manager (no systemd here) and containerctl-oci as runtime.
type podman struct {
	t    *testing.T
	args []string
}

func newPodman(t *testing.T) *podman {
	t.Helper()
	requireProgram(t, "podman")
	requireProgram(t, "conmon")
	dir := t.TempDir()
	trackDir(dir)
	// podman keeps a blob cache in /var/lib/containers/cache whatever its
	// --root; the host is left as it was found.
	if _, err := os.Lstat("/var/lib/containers"); os.IsNotExist(err) {
		t.Cleanup(func() { _ = os.RemoveAll("/var/lib/containers") })
	}
	p := &podman{t: t, args: []string{"--root", dir + "/root", "--runroot", dir + "/run", "--cgroup-manager", "cgroupfs",
		"--events-backend", "file", "--storage-driver", "overlay", "--runtime", ociBin}}
	t.Cleanup(func() {
		// Its containers and images, and so their storage mounts.
		for _, what := range [][]string{{"rm", "--all", "--force"}, {"rmi", "--all", "--force"}} {
			_ = exec.Command("podman", append(slices.Clone(p.args), what...)...).Run()
		}
	})
	return p
}

func (p *podman) run(want int, args ...string) string {
	p.t.Helper()
	return runProgram(p.t, want, "podman", append(slices.Clone(p.args), args...)...)
}
