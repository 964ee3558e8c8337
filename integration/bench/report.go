//go:build linux

package main

import (
	"encoding/json"
	"fmt"
	"io"
	"math"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strings"
	"time"
)

// result is one row of the tables: one tool's samples of one metric.
type result struct {
	Section string    `json:"section"`
	Metric  string    `json:"metric"`
	Tool    string    `json:"tool"`
	Unit    string    `json:"unit"`
	Samples []float64 `json:"samples"`
	// Paired holds the containerctl samples taken interleaved with this
	// peer's (A B A B ...); the ratio is computed from them, so that drift
	// of the machine during the run cancels out.
	Paired []float64 `json:"paired_containerctl,omitempty"`
	// Error is why the tool failed, on every attempt (no samples) or on
	// some (Failures of them).
	Error    string  `json:"error,omitempty"`
	Failures int     `json:"failures,omitempty"`
	Note     string  `json:"note,omitempty"`
	Target   *target `json:"target,omitempty"`
	// Scale is set on the rows of the scale section's "all ready" times
	// and supervisor memory, which the plot draws against N.
	Scale *scalePoint `json:"scale,omitempty"`
	// NoRatio marks a row whose ratio to containerctl means nothing (the
	// figure is itself a ratio).
	NoRatio bool `json:"-"`
}

type scalePoint struct {
	Kind string `json:"kind"` // busybox or Debian
	N    int    `json:"n"`
}

// target is an acceptance criterion of the issue, reported, never enforced.
type target struct {
	Text string `json:"text"`
	// Max is the largest value that meets the target: of the ratio
	// containerctl / this peer, or with Own of the row's own median (a
	// containerctl row whose figure is itself a ratio).
	Max    float64 `json:"max"`
	Strict bool    `json:"strict,omitempty"` // < Max rather than <= Max
	Own    bool    `json:"own,omitempty"`
}

type report struct {
	Date      time.Time         `json:"date"`
	Host      map[string]string `json:"host"`
	Config    map[string]any    `json:"config"`
	Results   []*result         `json:"results"`
	Notes     []string          `json:"notes,omitempty"`
	HostCheck []string          `json:"host_check"` // what the run left behind; empty when clean
}

var sectionTitles = map[string]string{
	"start":    "Start-to-exit of /bin/true in a fresh container (busybox root)",
	"start-v2": "Start-to-exit of /bin/true with only cgroup2 at /sys/fs/cgroup (a mount namespace of the bench's own; see README)",
	"oci":      "The OCI path: create, start, exit and delete of /bin/true (busybox bundle), and ctr run --rm through containerd",
	"boot":     "Boot of the Debian systemd root to running, and halt (SIGRTMIN+3 to PID 1, or containerctl stop) to exit",
	"memory":   "Supervisor memory while a container runs",
	"scale":    "Scale: N containers started at once until all are ready",
}

func (r *result) fail(err error) {
	if r.Error == "" {
		r.Error = oneLine(err.Error())
	}
	r.Failures++
}

func (r *result) median() float64 { return quantile(r.Samples, 0.5) }

// ratio is containerctl's median over this peer's, from the paired samples
// when there are some, else from containerctl's row of the same metric.
func (r *result) ratio(all []*result) (float64, bool) {
	if r.Tool == "containerctl" || r.NoRatio || len(r.Samples) == 0 {
		return 0, false
	}
	c := r.Paired
	if len(c) == 0 {
		for _, o := range all {
			if o.Tool == "containerctl" && o.Section == r.Section && o.Metric == r.Metric {
				c = o.Samples
			}
		}
	}
	if len(c) == 0 || r.median() == 0 {
		return 0, false
	}
	return quantile(c, 0.5) / r.median(), true
}

func (r *result) targetStatus(all []*result) string {
	t := r.Target
	if t == nil {
		return ""
	}
	var v float64
	var ok bool
	if t.Own {
		v, ok = r.median(), len(r.Samples) > 0
	} else {
		v, ok = r.ratio(all)
	}
	if !ok {
		return t.Text + ": unknown (no figure)"
	}
	met := v <= t.Max
	if t.Strict {
		met = v < t.Max
	}
	if met {
		return t.Text + ": met"
	}
	return t.Text + ": **not met**"
}

// quantile is the nearest-rank quantile q of xs; NaN for none.
func quantile(xs []float64, q float64) float64 {
	if len(xs) == 0 {
		return math.NaN()
	}
	s := append([]float64(nil), xs...)
	sort.Float64s(s)
	if q == 0.5 && len(s)%2 == 0 {
		return (s[len(s)/2-1] + s[len(s)/2]) / 2
	}
	i := int(math.Ceil(q*float64(len(s)))) - 1
	return s[max(0, min(i, len(s)-1))]
}

func minMax(xs []float64) (float64, float64) {
	lo, hi := math.Inf(1), math.Inf(-1)
	for _, x := range xs {
		lo, hi = math.Min(lo, x), math.Max(hi, x)
	}
	return lo, hi
}

func num(v float64) string {
	switch a := math.Abs(v); {
	case math.IsNaN(v):
		return "—"
	case a >= 100:
		return fmt.Sprintf("%.0f", v)
	case a >= 10:
		return fmt.Sprintf("%.1f", v)
	default:
		return fmt.Sprintf("%.2f", v)
	}
}

// logrusPrefix is what containerctl's text log puts before a message.
var logrusPrefix = regexp.MustCompile(`time="[^"]*" level=(\w+) msg=`)

func oneLine(s string) string {
	s = logrusPrefix.ReplaceAllString(s, "$1: ")
	s = strings.Join(strings.Fields(s), " ")
	if len(s) > 300 {
		s = s[:300] + "…"
	}
	return s
}

// markdown writes the tables, one per section, then the notes and the host
// check.
func (rep *report) markdown(w io.Writer) {
	fmt.Fprintf(w, "# containerctl benchmark, %s\n\n", rep.Date.Format("2006-01-02 15:04 MST"))
	fmt.Fprintf(w, "Host: %s, %s CPUs, kernel %s, cgroups %s.\n\n", rep.Host["cpu"], rep.Host["cpus"], rep.Host["kernel"], rep.Host["cgroups"])
	var versions []string
	for _, k := range []string{"containerctl", "crun", "runc", "containerd", "systemd-nspawn", "bwrap", "unshare"} {
		if v := rep.Host[k]; v != "" {
			versions = append(versions, k+" "+v)
		}
	}
	fmt.Fprintf(w, "Versions: %s.\n\n", strings.Join(versions, ", "))
	fmt.Fprintf(w, "Medians; p90 is the nearest-rank 90th percentile. The ratio is containerctl's median over the peer's, from samples taken interleaved with that peer (A B A B ...); below 1 containerctl is faster or smaller.\n\n")
	for _, s := range allSections {
		var rows []*result
		for _, r := range rep.Results {
			if r.Section == s {
				rows = append(rows, r)
			}
		}
		if len(rows) == 0 {
			continue
		}
		fmt.Fprintf(w, "## %s\n\n", sectionTitles[s])
		fmt.Fprintln(w, "| metric | tool | median | p90 | min – max | n | containerctl / tool | target |")
		fmt.Fprintln(w, "|---|---|---:|---:|---:|---:|---:|---|")
		for _, r := range rows {
			med, p90, rng := "—", "—", "—"
			if len(r.Samples) > 0 {
				lo, hi := minMax(r.Samples)
				med = num(r.median()) + " " + r.Unit
				p90 = num(quantile(r.Samples, 0.9))
				rng = num(lo) + " – " + num(hi)
			}
			ratio := "—"
			if v, ok := r.ratio(rep.Results); ok {
				ratio = fmt.Sprintf("%.2f", v)
			} else if r.Tool != "containerctl" && !r.NoRatio {
				for _, o := range rep.Results {
					if o.Tool == "containerctl" && o.Section == r.Section && o.Metric == r.Metric && len(o.Samples) == 0 {
						ratio = "n/a (containerctl failed)"
					}
				}
			}
			tool := r.Tool
			if r.Note != "" {
				tool += " (" + r.Note + ")"
			}
			n := fmt.Sprint(len(r.Samples))
			if r.Error != "" {
				if len(r.Samples) == 0 {
					med = "**failed**: " + mdEscape(r.Error)
				} else {
					n += fmt.Sprintf(" (%d failed: %s)", r.Failures, mdEscape(r.Error))
				}
			}
			fmt.Fprintf(w, "| %s | %s | %s | %s | %s | %s | %s | %s |\n", r.Metric, tool, med, p90, rng, n, ratio, r.targetStatus(rep.Results))
		}
		fmt.Fprintln(w)
	}
	if len(rep.Notes) > 0 {
		fmt.Fprintln(w, "## Notes")
		fmt.Fprintln(w)
		for _, n := range rep.Notes {
			fmt.Fprintf(w, "- %s\n", mdEscape(n))
		}
		fmt.Fprintln(w)
	}
	fmt.Fprintln(w, "## Host check")
	fmt.Fprintln(w)
	if len(rep.HostCheck) == 0 {
		fmt.Fprintln(w, "Clean: the same mounts, cgroups, /run/containerctl entries and processes as before the run.")
	} else {
		fmt.Fprintln(w, "The run left behind:")
		for _, h := range rep.HostCheck {
			fmt.Fprintf(w, "- %s\n", mdEscape(h))
		}
	}
}

func mdEscape(s string) string { return strings.ReplaceAll(s, "|", `\|`) }

// write saves the JSON, the Markdown and the charts into dir and prints the
// Markdown.
func (rep *report) write(dir string) error {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	base := filepath.Join(dir, "bench-"+rep.Date.Format("2006-01-02-150405"))
	js, err := json.MarshalIndent(rep, "", "  ")
	if err != nil {
		return err
	}
	if err := os.WriteFile(base+".json", append(js, '\n'), 0o644); err != nil {
		return err
	}
	var md strings.Builder
	rep.markdown(&md)
	if err := os.WriteFile(base+".md", []byte(md.String()), 0o644); err != nil {
		return err
	}
	fmt.Print(md.String())
	written := []string{base + ".json", base + ".md"}
	for _, ext := range []string{".svg", ".png"} {
		ok, err := rep.plot(base + ext)
		if err != nil {
			return fmt.Errorf("chart %s: %w", base+ext, err)
		}
		if ok {
			written = append(written, base+ext)
		}
	}
	fmt.Printf("\nWrote %s\n", strings.Join(written, ", "))
	return nil
}
