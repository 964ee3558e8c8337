//go:build linux

package main

import (
	"fmt"
	"image/color"

	"math"
	"os"
	"path/filepath"
	"slices"
	"strings"

	"gonum.org/v1/plot"
	"gonum.org/v1/plot/font"
	"gonum.org/v1/plot/plotter"
	"gonum.org/v1/plot/plotutil"
	"gonum.org/v1/plot/vg"
	"gonum.org/v1/plot/vg/draw"
	"gonum.org/v1/plot/vg/vgimg"
	"gonum.org/v1/plot/vg/vgsvg"
)

// plot draws the start-to-exit medians by tool as bars on a log scale, the
// OCI section's end-to-end medians likewise and, when the scale section
// ran, the start cost and the supervisor memory per container against N. It
// writes SVG or PNG by path's extension; false when there is nothing to
// draw.
func (rep *report) plot(path string) (bool, error) {
	var plots []*plot.Plot
	for _, p := range []*plot.Plot{rep.startPlot(), rep.ociPlot()} {
		if p != nil {
			plots = append(plots, p)
		}
	}
	for _, f := range []func() (*plot.Plot, error){rep.scalePlot, rep.memoryPlot} {
		if p, err := f(); err != nil {
			return false, err
		} else if p != nil {
			plots = append(plots, p)
		}
	}
	if len(plots) == 0 {
		return false, nil
	}
	w, h := vg.Length(len(plots))*14*vg.Centimeter, 10*vg.Centimeter
	var c vg.CanvasWriterTo
	switch filepath.Ext(path) {
	case ".svg":
		c = vgsvg.New(w, h)
	case ".png":
		c = vgimg.PngCanvas{Canvas: vgimg.NewWith(vgimg.UseWH(w, h), vgimg.UseDPI(144))}
	default:
		return false, fmt.Errorf("unknown chart format %s", path)
	}
	dc := draw.New(c)
	tiles := draw.Tiles{Rows: 1, Cols: len(plots), PadX: vg.Centimeter, PadTop: 2 * vg.Millimeter, PadBottom: 2 * vg.Millimeter, PadLeft: 2 * vg.Millimeter, PadRight: 4 * vg.Millimeter}
	canvases := plot.Align([][]*plot.Plot{plots}, tiles, dc)
	for i, p := range plots {
		p.Draw(canvases[0][i])
	}
	f, err := os.Create(path)
	if err != nil {
		return false, err
	}
	if _, err := c.WriteTo(f); err != nil {
		f.Close()
		return false, err
	}
	return true, f.Close()
}

func (rep *report) startPlot() *plot.Plot {
	return rep.barPlot("Start-to-exit of /bin/true (median; whisker: min to p90)",
		func(r *result) bool { return r.Section == "start" && r.Metric == "start-to-exit" }, func(r *result) string { return r.Tool })
}

// ociPlot draws the OCI section's end-to-end figures: a create, start and
// delete cycle, and ctr run --rm.
func (rep *report) ociPlot() *plot.Plot {
	return rep.barPlot("OCI path: /bin/true end to end (median; whisker: min to p90)",
		func(r *result) bool { return r.Section == "oci" && (r.Metric == ociCycle || r.Metric == ctrMetric) },
		func(r *result) string {
			name := r.Tool
			if name == "containerctl" {
				name = "containerctl-oci"
			}
			if r.Metric == ctrMetric {
				return "ctr, " + name
			}
			return name
		})
}

// barPlot draws the medians of the rows that keep selects, fastest first,
// named by name, as bars on a log scale.
func (rep *report) barPlot(title string, keep func(*result) bool, name func(*result) string) *plot.Plot {
	var bars logBars
	for _, r := range rep.Results {
		if keep(r) && len(r.Samples) > 0 {
			bars = append(bars, r)
		}
	}
	if len(bars) == 0 {
		return nil
	}
	slices.SortStableFunc(bars, func(a, b *result) int {
		switch ma, mb := a.median(), b.median(); {
		case ma < mb:
			return -1
		case ma > mb:
			return 1
		}
		return 0
	})
	p := plot.New()
	p.Title.Text = title
	p.Y.Label.Text = "ms (log scale)"
	p.Y.Scale = plot.LogScale{}
	p.Y.Tick.Marker = plot.LogTicks{Prec: -1}
	p.Add(bars, plotter.NewGrid())
	var names []string
	for _, b := range bars {
		names = append(names, name(b))
	}
	p.NominalX(names...)
	return p
}

// logBars is a bar chart that works on a log scale: each bar rises from
// the axis' minimum, not from 0.
type logBars []*result

var _ plot.Plotter = logBars(nil)
var _ plot.DataRanger = logBars(nil)

func (b logBars) DataRange() (xmin, xmax, ymin, ymax float64) {
	ymin, ymax = math.Inf(1), math.Inf(-1)
	for _, r := range b {
		lo, hi := minMax(r.Samples)
		ymin, ymax = math.Min(ymin, lo), math.Max(ymax, hi)
	}
	return -0.5, float64(len(b)) - 0.5, ymin / 2, ymax * 2
}

func (b logBars) Plot(c draw.Canvas, plt *plot.Plot) {
	trX, trY := plt.Transforms(&c)
	w := c.Size().X / vg.Length(len(b)+1) * 0.6
	label := draw.TextStyle{
		Color:   color.Black,
		Font:    font.From(plot.DefaultFont, 9),
		Handler: plot.DefaultTextHandler,
		XAlign:  draw.XCenter,
		YAlign:  draw.YBottom,
	}
	whisker := draw.LineStyle{Color: color.Black, Width: vg.Points(1)}
	for i, r := range b {
		x := trX(float64(i))
		y0, y1 := trY(plt.Y.Min), trY(r.median())
		fill := color.RGBA{R: 0x88, G: 0x99, B: 0xbb, A: 0xff}
		if r.Tool == "containerctl" {
			fill = color.RGBA{R: 0x2a, G: 0x7a, B: 0x3a, A: 0xff}
		}
		c.FillPolygon(fill, c.ClipPolygonY([]vg.Point{{X: x - w/2, Y: y0}, {X: x - w/2, Y: y1}, {X: x + w/2, Y: y1}, {X: x + w/2, Y: y0}}))
		lo := trY(minOf(r.Samples))
		hi := trY(quantile(r.Samples, 0.9))
		c.StrokeLine2(whisker, x, lo, x, hi)
		c.StrokeLine2(whisker, x-w/6, hi, x+w/6, hi)
		c.FillText(label, vg.Point{X: x, Y: hi + vg.Points(2)}, num(r.median()))
	}
}

func minOf(xs []float64) float64 { lo, _ := minMax(xs); return lo }

// scalePlot draws, per tool and kind of root, the median start cost per
// container (time until all are ready, over N) against N: flat is the
// target.
func (rep *report) scalePlot() (*plot.Plot, error) {
	return rep.linePlot("N at once: time to all ready / N", "ms per container (log scale)",
		func(r *result) (float64, bool) {
			return r.median() * 1000 / float64(r.Scale.N), r.Unit == "s"
		})
}

// memoryPlot draws, per tool and kind of root, the median supervisor PSS
// per container against N.
func (rep *report) memoryPlot() (*plot.Plot, error) {
	return rep.linePlot("N at once: supervisor PSS per container", "MiB per container (log scale)",
		func(r *result) (float64, bool) {
			return r.median(), strings.HasSuffix(r.Metric, "supervisor PSS per container")
		})
}

// linePlot draws the scale rows that y keeps, one line per tool and kind
// of root, against N.
func (rep *report) linePlot(title, yLabel string, y func(*result) (float64, bool)) (*plot.Plot, error) {
	type series struct {
		name string
		xys  plotter.XYs
	}
	var ss []*series
	find := func(name string) *series {
		for _, s := range ss {
			if s.name == name {
				return s
			}
		}
		s := &series{name: name}
		ss = append(ss, s)
		return s
	}
	for _, r := range rep.Results {
		if r.Section != "scale" || r.Scale == nil || len(r.Samples) == 0 {
			continue
		}
		v, ok := y(r)
		if !ok {
			continue
		}
		s := find(r.Tool + ", " + r.Scale.Kind)
		s.xys = append(s.xys, plotter.XY{X: float64(r.Scale.N), Y: v})
	}
	if len(ss) == 0 {
		return nil, nil
	}
	p := plot.New()
	p.Title.Text = title
	p.X.Label.Text = "N"
	p.Y.Label.Text = yLabel
	p.Y.Scale = plot.LogScale{}
	p.Y.Tick.Marker = plot.LogTicks{Prec: -1}
	p.Legend.Top = true
	var vs []any
	for _, s := range ss {
		slices.SortFunc(s.xys, func(a, b plotter.XY) int { return int(a.X - b.X) })
		vs = append(vs, s.name, s.xys)
	}
	if err := plotutil.AddLinePoints(p, vs...); err != nil {
		return nil, err
	}
	p.Add(plotter.NewGrid())
	p.Y.Max *= 8 // room for the legend above the lines
	return p, nil
}
