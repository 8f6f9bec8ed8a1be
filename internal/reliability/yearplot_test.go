package reliability_test

import (
	"fmt"
	"os"

	"gonum.org/v1/plot"
	"gonum.org/v1/plot/plotter"
	"gonum.org/v1/plot/plotutil"
	"gonum.org/v1/plot/vg"
	"gonum.org/v1/plot/vg/draw"
	"gonum.org/v1/plot/vg/vgimg"
)

// plotYear draws the soak's key count and backend sizes against rolls
// done, one panel each, to a small PNG at path.
func plotYear(path string, samples []sample, noRetention bool) error {
	title := "p2kit compressed year"
	if noRetention {
		title += " (no retention)"
	}
	keys := plot.New()
	keys.Title.Text = title + ": etcd keys"
	keys.X.Label.Text = "rolls done"
	keys.Y.Label.Text = "keys"
	keys.Y.Min = 0
	size := plot.New()
	size.Title.Text = "etcd backend"
	size.X.Label.Text = "rolls done"
	size.Y.Label.Text = "MiB"
	size.Y.Min = 0
	size.Legend.Top = true
	var k, db, inUse plotter.XYs
	for _, s := range samples {
		x := float64(s.rolls)
		k = append(k, plotter.XY{X: x, Y: float64(s.keys)})
		db = append(db, plotter.XY{X: x, Y: mib(s.dbSize)})
		inUse = append(inUse, plotter.XY{X: x, Y: mib(s.dbInUse)})
	}
	if err := plotutil.AddLines(keys, "keys", k); err != nil {
		return err
	}
	keys.Legend.Top = true
	if err := plotutil.AddLines(size, "size (defragmented every 2 min)", db, "in use", inUse); err != nil {
		return err
	}
	keys.Add(plotter.NewGrid())
	size.Add(plotter.NewGrid())

	img := vgimg.New(7*vg.Inch, 6*vg.Inch)
	dc := draw.New(img)
	tiles := draw.Tiles{Rows: 2, Cols: 1, PadX: vg.Millimeter, PadY: 3 * vg.Millimeter,
		PadTop: 2 * vg.Millimeter, PadBottom: 2 * vg.Millimeter, PadLeft: 2 * vg.Millimeter, PadRight: 2 * vg.Millimeter}
	canvases := plot.Align([][]*plot.Plot{{keys}, {size}}, tiles, dc)
	keys.Draw(canvases[0][0])
	size.Draw(canvases[1][0])
	f, err := createFile(path)
	if err != nil {
		return err
	}
	png := vgimg.PngCanvas{Canvas: img}
	if _, err := png.WriteTo(f); err != nil {
		f.Close()
		return fmt.Errorf("write %s: %w", path, err)
	}
	return f.Close()
}

func createFile(path string) (*os.File, error) { return os.Create(path) }
