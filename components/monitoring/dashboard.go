package monitoring

import (
	"encoding/json"
	"fmt"
)

// Dashboard is the part of the Cloud Monitoring dashboard schema
// (google/monitoring/dashboard/v1) the stack writes. Defaults the API
// fills in itself (timeshiftDuration, the y axis, the chart mode) are
// written out, so a deployed dashboard reads back as it was sent.
type Dashboard struct {
	DisplayName  string       `json:"displayName"`
	MosaicLayout MosaicLayout `json:"mosaicLayout"`
}

// MosaicLayout places tiles on a grid of Columns columns.
type MosaicLayout struct {
	Columns int    `json:"columns"`
	Tiles   []Tile `json:"tiles"`
}

// Tile is one widget and where it sits.
type Tile struct {
	XPos   int    `json:"xPos,omitempty"`
	YPos   int    `json:"yPos,omitempty"`
	Width  int    `json:"width"`
	Height int    `json:"height"`
	Widget Widget `json:"widget"`
}

// Widget is a chart or a text block.
type Widget struct {
	Title   string   `json:"title,omitempty"`
	XYChart *XYChart `json:"xyChart,omitempty"`
	Text    *Text    `json:"text,omitempty"`
}

// Text is a markdown block.
type Text struct {
	Content string `json:"content"`
	Format  string `json:"format"`
}

// XYChart plots time series.
type XYChart struct {
	DataSets          []DataSet    `json:"dataSets"`
	Thresholds        []Threshold  `json:"thresholds,omitempty"`
	TimeshiftDuration string       `json:"timeshiftDuration"`
	YAxis             Axis         `json:"yAxis"`
	ChartOptions      ChartOptions `json:"chartOptions"`
}

// DataSet is one query of a chart.
type DataSet struct {
	TimeSeriesQuery    TimeSeriesQuery `json:"timeSeriesQuery"`
	PlotType           string          `json:"plotType"`
	LegendTemplate     string          `json:"legendTemplate,omitempty"`
	MinAlignmentPeriod string          `json:"minAlignmentPeriod"`
	TargetAxis         string          `json:"targetAxis"`
}

// TimeSeriesQuery selects time series with a filter.
type TimeSeriesQuery struct {
	TimeSeriesFilter TimeSeriesFilter `json:"timeSeriesFilter"`
}

// TimeSeriesFilter is a Monitoring filter and its aggregation.
type TimeSeriesFilter struct {
	Filter      string          `json:"filter"`
	Aggregation AggregationJSON `json:"aggregation"`
}

// AggregationJSON is an Aggregation as the dashboard schema writes it.
type AggregationJSON struct {
	AlignmentPeriod    string   `json:"alignmentPeriod"`
	PerSeriesAligner   string   `json:"perSeriesAligner"`
	CrossSeriesReducer string   `json:"crossSeriesReducer,omitempty"`
	GroupByFields      []string `json:"groupByFields,omitempty"`
}

// Threshold is a horizontal line: where an alert fires.
type Threshold struct {
	Label      string  `json:"label"`
	Value      float64 `json:"value"`
	TargetAxis string  `json:"targetAxis"`
}

// Axis is a chart axis.
type Axis struct {
	Label string `json:"label"`
	Scale string `json:"scale"`
}

// ChartOptions sets how a chart is drawn.
type ChartOptions struct {
	Mode string `json:"mode"`
}

// Layout of the dashboard: two charts side by side, section headings
// across the whole width.
const (
	dashboardColumns = 48
	chartWidth       = 24
	chartHeight      = 16
	headingHeight    = 4
)

// chartAlignment is the resolution the charts plot at.
const chartAlignment = Granularity

func (a Aggregation) json() AggregationJSON {
	return AggregationJSON{
		AlignmentPeriod:    seconds(a.Alignment),
		PerSeriesAligner:   a.Aligner,
		CrossSeriesReducer: a.Reducer,
		GroupByFields:      a.GroupBy,
	}
}

func line(filter string, agg Aggregation, legend, plot string) DataSet {
	if agg.Alignment == 0 {
		agg.Alignment = chartAlignment
	}
	return DataSet{
		TimeSeriesQuery:    TimeSeriesQuery{TimeSeriesFilter: TimeSeriesFilter{Filter: filter, Aggregation: agg.json()}},
		PlotType:           plot,
		LegendTemplate:     legend,
		MinAlignmentPeriod: seconds(chartAlignment),
		TargetAxis:         "Y1",
	}
}

func chart(title string, thresholds []Threshold, sets ...DataSet) Widget {
	return Widget{Title: title, XYChart: &XYChart{
		DataSets:          sets,
		Thresholds:        thresholds,
		TimeshiftDuration: "0s",
		YAxis:             Axis{Label: "y1Axis", Scale: "LINEAR"},
		ChartOptions:      ChartOptions{Mode: "COLOR"},
	}}
}

func alertLine(label string, v float64) []Threshold {
	return []Threshold{{Label: label, Value: v, TargetAxis: "Y1"}}
}

// BuildDashboard returns the stack's dashboard: the worker's requests,
// latency and instances; backlog, oldest unacked age and dead letters per
// subscription; depth and dispatch rate per queue; runs, failures and
// missed runs per CronJob. Each chart reads the same series as the alert
// on it and draws the alert's threshold.
func BuildDashboard(a Args) Dashboard {
	t := a.Spec.Thresholds
	var tiles []Tile
	y, col := 0, 0
	heading := func(text string) {
		if col != 0 {
			y += chartHeight
			col = 0
		}
		tiles = append(tiles, Tile{YPos: y, Width: dashboardColumns, Height: headingHeight,
			Widget: Widget{Title: "", Text: &Text{Content: text, Format: "MARKDOWN"}}})
		y += headingHeight
	}
	add := func(w Widget) {
		tiles = append(tiles, Tile{XPos: col * chartWidth, YPos: y, Width: chartWidth, Height: chartHeight, Widget: w})
		col++
		if col*chartWidth >= dashboardColumns {
			col = 0
			y += chartHeight
		}
	}

	w := a.Worker
	heading(fmt.Sprintf("## Worker `%s`\nCloud Run, %s. Requests come from the Cloud Tasks queues and push subscriptions.", w.Service, w.Region))
	add(chart(fmt.Sprintf("Worker %s: requests/s by response class", w.Service), alertLine("5xx alert", t.Worker5xxPerSecond),
		line(ServiceFilter(MetricRunRequests, a.Project, w.Region, w.Service),
			Aggregation{Aligner: "ALIGN_RATE", Reducer: "REDUCE_SUM", GroupBy: []string{"metric.label.response_code_class"}},
			"${metric.labels.response_code_class}", "LINE")))
	latency := ServiceFilter(MetricRunLatencies, a.Project, w.Region, w.Service)
	add(chart(fmt.Sprintf("Worker %s: request latency (ms)", w.Service), nil,
		line(latency, Aggregation{Aligner: "ALIGN_DELTA", Reducer: "REDUCE_PERCENTILE_50", GroupBy: []string{"resource.label.service_name"}}, "p50", "LINE"),
		line(latency, Aggregation{Aligner: "ALIGN_DELTA", Reducer: "REDUCE_PERCENTILE_99", GroupBy: []string{"resource.label.service_name"}}, "p99", "LINE")))
	add(chart(fmt.Sprintf("Worker %s: instances", w.Service), nil,
		line(ServiceFilter(MetricRunInstances, a.Project, w.Region, w.Service),
			Aggregation{Aligner: "ALIGN_MAX", Reducer: "REDUCE_SUM", GroupBy: []string{"metric.label.state"}}, "${metric.labels.state}", "STACKED_AREA")))

	if len(a.Subscriptions) > 0 {
		heading("## Subscriptions\nBacklog, oldest unacknowledged message and dead letters of every worker subscription. " +
			"Inspect and replay dead letters with `bin/deadletters`.")
	}
	for _, s := range a.Subscriptions {
		add(chart(fmt.Sprintf("%s: undelivered messages", s.Name), alertLine("alert", float64(t.UndeliveredMessages)),
			line(SubscriptionFilter(MetricUndeliveredMessages, a.Project, s.Name), Aggregation{Aligner: "ALIGN_MEAN"}, s.Name, "LINE")))
		add(chart(fmt.Sprintf("%s: oldest unacked message age (s)", s.Name), alertLine("alert", s.OldestUnackedAge(t).Seconds()),
			line(SubscriptionFilter(MetricOldestUnackedAge, a.Project, s.Name), Aggregation{Aligner: "ALIGN_MAX"}, s.Name, "LINE")))
		if s.DeadLetter != "" {
			add(chart(fmt.Sprintf("%s: dead letters", s.Name), nil,
				line(SubscriptionFilter(MetricDeadLetterMessages, a.Project, s.Name), Aggregation{Aligner: "ALIGN_SUM"}, "dead-lettered", "STACKED_BAR"),
				line(SubscriptionFilter(MetricUndeliveredMessages, a.Project, s.DeadLetter), Aggregation{Aligner: "ALIGN_MAX"}, "waiting on "+s.DeadLetter, "LINE")))
		}
	}

	if len(a.Queues) > 0 {
		heading("## Queues\nTasks waiting and dispatch attempts by response code of every Cloud Tasks queue. Send a test task with `bin/enqueue`.")
	}
	for _, q := range a.Queues {
		add(chart(fmt.Sprintf("%s: queue depth", q.ID), alertLine("alert", float64(t.QueueDepth)),
			line(QueueFilter(MetricQueueDepth, a.Project, q.Location, q.ID), Aggregation{Aligner: "ALIGN_MEAN"}, q.ID, "LINE")))
		add(chart(fmt.Sprintf("%s: dispatch attempts/s by response code", q.ID), nil,
			line(QueueFilter(MetricTaskAttempts, a.Project, q.Location, q.ID),
				Aggregation{Aligner: "ALIGN_RATE", Reducer: "REDUCE_SUM", GroupBy: []string{"metric.label.response_code"}},
				"${metric.labels.response_code}", "STACKED_AREA")))
	}

	if len(a.CronJobs) > 0 {
		heading(fmt.Sprintf("## CronJobs\nRuns completed, failed and missed, counted from the Kubernetes events of cluster `%s`, namespace `%s`.",
			a.Cluster.Name, a.Cluster.Namespace))
	}
	names := a.metricNames()
	for _, c := range a.CronJobs {
		counts := Aggregation{Aligner: "ALIGN_SUM", Reducer: "REDUCE_SUM", GroupBy: []string{"metric.label.cronjob"}}
		add(chart(fmt.Sprintf("CronJob %s: runs", c.Name), nil,
			line(CronJobFilter(MetricCronJobCompleted, a.Cluster, c.Name), counts, "completed", "STACKED_BAR"),
			line(CronJobFilter(names.failed, a.Cluster, c.Name), counts, "failed", "STACKED_BAR"),
			line(CronJobFilter(names.missed, a.Cluster, c.Name), counts, "missed", "STACKED_BAR")))
	}
	return Dashboard{
		DisplayName:  fmt.Sprintf("asyncjobs %s", a.Spec.Names.Stack),
		MosaicLayout: MosaicLayout{Columns: dashboardColumns, Tiles: tiles},
	}
}

// JSON renders the dashboard for the API.
func (d Dashboard) JSON() (string, error) {
	b, err := json.Marshal(d)
	if err != nil {
		return "", err
	}
	return string(b), nil
}
