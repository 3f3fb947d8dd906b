package web

import (
	"math"
	"strconv"
	"testing"
	"time"
)

// TestLineChart: values hold until the next (a step line), a value from
// before the window starts the line at the window's edge, the last value
// runs to the end, and markers outside the window are left out.
func TestLineChart(t *testing.T) {
	from := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	to := from.Add(10 * 24 * time.Hour)
	label := func(f float64) string { return strconv.FormatFloat(f, 'f', 0, 64) }
	s := seriesInput{Name: "composite", Class: "s-composite",
		Times:  []time.Time{from.Add(-time.Hour), from.Add(5 * 24 * time.Hour)},
		Values: []float64{500, 1000}}
	c := lineChart("t", from, to, 0, 1000, []float64{0, 1000}, label, []seriesInput{s},
		[]markerInput{{from.Add(24 * time.Hour), "model 2"}, {from.Add(-24 * time.Hour), "too early"}})
	// x runs from 48 to 744 over ten days; y from 212 (0) up to 14 (1000).
	want := "48.0,113.0 396.0,113.0 396.0,14.0 744.0,14.0"
	if c.Empty || len(c.Series) != 1 || c.Series[0].Points != want || c.Series[0].Last != "1000" {
		t.Fatalf("series: got %+v, want points %q", c.Series, want)
	}
	if len(c.Markers) != 1 || c.Markers[0].Label != "model 2" || math.Abs(c.Markers[0].X-117.6) > 1e-9 {
		t.Errorf("markers: got %+v, want model 2 at x 117.6", c.Markers)
	}
	if len(c.YTicks) != 2 || c.YTicks[1].Y != 14 || len(c.XTicks) == 0 {
		t.Errorf("ticks: y %+v, x %d", c.YTicks, len(c.XTicks))
	}
	if e := lineChart("t", from, to, 0, 1, nil, label, []seriesInput{{Name: "none"}}, nil); !e.Empty || len(e.Series) != 0 {
		t.Errorf("a series without points: %+v", e)
	}
}
