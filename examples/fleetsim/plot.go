package main

import (
	"fmt"

	"gonum.org/v1/plot"
	"gonum.org/v1/plot/plotter"
	"gonum.org/v1/plot/plotutil"
	"gonum.org/v1/plot/vg"
)

// writePlot draws nodes converged against seconds since each phase began,
// one line per phase, to path (PNG, by its extension).
func writePlot(path string, nodes int, rs []*result) error {
	p := plot.New()
	p.Title.Text = fmt.Sprintf("p2kit fleetsim: %d nodes", nodes)
	p.X.Label.Text = "seconds since the phase began"
	p.Y.Label.Text = "nodes converged"
	p.Y.Min = 0
	p.Legend.Top = true
	p.Legend.Left = false
	var lines []any
	for _, r := range rs {
		xys := make(plotter.XYs, 0, len(r.series)+1)
		xys = append(xys, plotter.XY{X: 0, Y: 0})
		for _, pt := range r.series {
			xys = append(xys, plotter.XY{X: pt.t, Y: float64(pt.n)})
		}
		lines = append(lines, fmt.Sprintf("%s (%d)", r.phase, r.nodes), xys)
	}
	if err := plotutil.AddLines(p, lines...); err != nil {
		return err
	}
	p.Add(plotter.NewGrid())
	return p.Save(8*vg.Inch, 5*vg.Inch, path)
}
