package web

import (
	"fmt"
	"math"
	"strings"
	"time"
)

// Charts are small SVG line charts drawn here, on the server: a handful of
// step lines over time with labelled axes and vertical markers. No charting
// library does this without a JavaScript runtime or a dependency larger
// than the drawing, so it is written by hand. The template turns a chart
// into SVG elements; colours come from the stylesheet, by class.

// chart is an SVG chart in a viewBox of Width by Height.
type chart struct {
	Width, Height          float64
	Left, Right, Top, Base float64 // the plot area: x from Left to Right, y from Top down to Base
	Series                 []chartSeries
	XTicks, YTicks         []chartTick
	Markers                []chartMarker
	Empty                  bool // no series has a point
	Title                  string
}

// chartSeries is one line: Points is the polyline's points attribute.
type chartSeries struct {
	Name   string
	Class  string
	Points string
	Last   string  // the last value, formatted
	X, Y   float64 // where the last value is drawn
}

// chartTick is one axis label at X (x axis) or Y (y axis).
type chartTick struct {
	X, Y  float64
	Label string
}

// chartMarker is a vertical line at X with a label: a model change.
type chartMarker struct {
	X      float64
	Label  string
	LabelY float64
}

// seriesInput is one line's data: values at times, each holding until the
// next (a step line), the last until the chart's end.
type seriesInput struct {
	Name, Class string
	Times       []time.Time
	Values      []float64
}

// markerInput is a labelled instant.
type markerInput struct {
	Time  time.Time
	Label string
}

// lineChart lays out series over [from, to] and [yMin, yMax] with y ticks
// at yTicks, labelled by yLabel.
func lineChart(title string, from, to time.Time, yMin, yMax float64, yTicks []float64, yLabel func(float64) string,
	series []seriesInput, markers []markerInput) chart {
	c := chart{Width: 760, Height: 240, Left: 48, Right: 744, Top: 14, Base: 212, Empty: true, Title: title}
	span := to.Sub(from)
	if span <= 0 {
		span = time.Second
	}
	x := func(t time.Time) float64 {
		f := float64(t.Sub(from)) / float64(span)
		return c.Left + (c.Right-c.Left)*math.Min(1, math.Max(0, f))
	}
	y := func(v float64) float64 {
		f := (v - yMin) / (yMax - yMin)
		return c.Base - (c.Base-c.Top)*math.Min(1, math.Max(0, f))
	}
	for _, s := range series {
		var b strings.Builder
		last := math.NaN()
		n := 0
		for i, t := range s.Times {
			if t.After(to) {
				break
			}
			v := s.Values[i]
			if t.Before(from) {
				last = v // holds into the window
				continue
			}
			if n == 0 && !math.IsNaN(last) {
				fmt.Fprintf(&b, "%.1f,%.1f ", x(from), y(last))
				n++
			}
			if n > 0 {
				fmt.Fprintf(&b, "%.1f,%.1f ", x(t), y(last)) // the step
			}
			fmt.Fprintf(&b, "%.1f,%.1f ", x(t), y(v))
			last = v
			n++
		}
		if n == 0 && !math.IsNaN(last) {
			fmt.Fprintf(&b, "%.1f,%.1f ", x(from), y(last))
			n++
		}
		if n == 0 {
			continue
		}
		fmt.Fprintf(&b, "%.1f,%.1f", x(to), y(last))
		c.Empty = false
		c.Series = append(c.Series, chartSeries{Name: s.Name, Class: s.Class, Points: b.String(), Last: yLabel(last), X: x(to), Y: y(last)})
	}
	for _, v := range yTicks {
		c.YTicks = append(c.YTicks, chartTick{X: c.Left - 6, Y: y(v), Label: yLabel(v)})
	}
	for _, t := range timeTicks(from, to) {
		c.XTicks = append(c.XTicks, chartTick{X: x(t), Y: c.Base + 16, Label: t.UTC().Format("Jan 2")})
	}
	for i, m := range markers {
		if m.Time.Before(from) || m.Time.After(to) {
			continue
		}
		c.Markers = append(c.Markers, chartMarker{X: x(m.Time), Label: m.Label, LabelY: c.Top + 10 + float64(i%3)*12})
	}
	return c
}

// timeTicks returns about six midnights (UTC) between from and to.
func timeTicks(from, to time.Time) []time.Time {
	days := int(to.Sub(from).Hours()/24) + 1
	step := max(1, days/6)
	var out []time.Time
	t := from.UTC().Truncate(24 * time.Hour).Add(24 * time.Hour)
	for ; !t.After(to); t = t.Add(time.Duration(step) * 24 * time.Hour) {
		out = append(out, t)
	}
	return out
}
