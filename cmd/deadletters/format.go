package main

import (
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"maps"
	"slices"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"
	"unicode"
	"unicode/utf8"

	"cloud.google.com/go/pubsub/v2/apiv1/pubsubpb"
)

// messageView is how one dead letter is shown, as a table row or a JSON line.
type messageView struct {
	Result          string            `json:"result,omitempty"`
	ID              string            `json:"id"`
	PublishTime     string            `json:"publishTime,omitempty"`
	DeliveryAttempt int32             `json:"deliveryAttempt,omitempty"`
	Size            int               `json:"size"`
	OrderingKey     string            `json:"orderingKey,omitempty"`
	Attributes      map[string]string `json:"attributes,omitempty"`
	Excerpt         string            `json:"excerpt"`
	Data            []byte            `json:"data,omitempty"`
	NewID           string            `json:"newId,omitempty"`
	Detail          string            `json:"detail,omitempty"`
}

func viewOf(m *pubsubpb.ReceivedMessage, excerptLen int) messageView {
	msg := m.GetMessage()
	v := messageView{
		ID:              msg.GetMessageId(),
		DeliveryAttempt: m.GetDeliveryAttempt(),
		Size:            len(msg.GetData()),
		OrderingKey:     msg.GetOrderingKey(),
		Attributes:      msg.GetAttributes(),
		Excerpt:         excerpt(msg.GetData(), excerptLen),
	}
	if msg.GetPublishTime() != nil {
		v.PublishTime = msg.GetPublishTime().AsTime().UTC().Format(time.RFC3339Nano)
	}
	return v
}

// excerpt shows data as text when it is printable UTF-8 (whitespace runs
// folded into one space, cut at limit characters), else as hex of its first
// limit/2 bytes.
func excerpt(data []byte, limit int) string {
	if len(data) == 0 {
		return ""
	}
	if utf8.Valid(data) && printable(string(data)) {
		s := strings.Join(strings.Fields(string(data)), " ")
		if r := []rune(s); len(r) > limit {
			return string(r[:limit]) + "…"
		}
		return s
	}
	n := min(len(data), limit/2)
	out := "hex:" + hex.EncodeToString(data[:n])
	if n < len(data) {
		out += "…"
	}
	return out
}

func printable(s string) bool {
	for _, r := range s {
		if !unicode.IsPrint(r) && !unicode.IsSpace(r) {
			return false
		}
	}
	return true
}

// cell makes s safe for one tab-separated cell.
func cell(s string) string {
	if s == "" {
		return "-"
	}
	if strings.ContainsFunc(s, func(r rune) bool { return !unicode.IsPrint(r) }) {
		return strconv.Quote(s)
	}
	return s
}

func formatAttributes(attrs map[string]string) string {
	keys := slices.Sorted(maps.Keys(attrs))
	parts := make([]string, len(keys))
	for i, k := range keys {
		parts[i] = k + "=" + attrs[k]
	}
	return strings.Join(parts, ",")
}

// column is one table column.
type column struct {
	title string
	value func(v messageView) string
}

var (
	colResult  = column{"RESULT", func(v messageView) string { return v.Result }}
	colID      = column{"ID", func(v messageView) string { return v.ID }}
	colPublish = column{"PUBLISHED", func(v messageView) string { return v.PublishTime }}
	// colAttempt shows the delivery attempt; a dead-letter subscription
	// rarely has one of its own, so it falls back to the count Pub/Sub
	// recorded when it dead-lettered the message.
	colAttempt = column{"ATTEMPT", func(v messageView) string {
		if v.DeliveryAttempt == 0 {
			return v.Attributes[sourceDeliveryCountAttr]
		}
		return strconv.Itoa(int(v.DeliveryAttempt))
	}}
	colSize   = column{"SIZE", func(v messageView) string { return strconv.Itoa(v.Size) }}
	colKey    = column{"ORDERING KEY", func(v messageView) string { return v.OrderingKey }}
	colAttrs  = column{"ATTRIBUTES", func(v messageView) string { return formatAttributes(v.Attributes) }}
	colDetail = column{"DETAIL", func(v messageView) string {
		if v.NewID != "" {
			return "new id " + v.NewID
		}
		return v.Detail
	}}
	colData = column{"DATA", func(v messageView) string { return v.Excerpt }}
)

// viewWriter prints views as an aligned table or as JSON lines.
type viewWriter struct {
	json    bool
	enc     *json.Encoder
	tw      *tabwriter.Writer
	columns []column
	header  bool
}

func newViewWriter(w io.Writer, asJSON bool, columns ...column) *viewWriter {
	return &viewWriter{
		json:    asJSON,
		enc:     json.NewEncoder(w),
		tw:      tabwriter.NewWriter(w, 0, 4, 2, ' ', 0),
		columns: columns,
	}
}

func (vw *viewWriter) write(v messageView) error {
	if vw.json {
		return vw.enc.Encode(v)
	}
	if !vw.header {
		titles := make([]string, len(vw.columns))
		for i, c := range vw.columns {
			titles[i] = c.title
		}
		fmt.Fprintln(vw.tw, strings.Join(titles, "\t"))
		vw.header = true
	}
	cells := make([]string, len(vw.columns))
	for i, c := range vw.columns {
		cells[i] = cell(c.value(v))
	}
	_, err := fmt.Fprintln(vw.tw, strings.Join(cells, "\t"))
	return err
}

// flush writes out the rows so far; columns are aligned per flush.
func (vw *viewWriter) flush() error {
	if vw.json {
		return nil
	}
	return vw.tw.Flush()
}

// progress reports on long runs: every `every` messages and at least every
// interval.
type progress struct {
	w        io.Writer
	every    int
	interval time.Duration
	start    time.Time
	last     time.Time
	lastN    int
}

func newProgress(w io.Writer, every int) *progress {
	now := time.Now()
	return &progress{w: w, every: every, interval: 10 * time.Second, start: now, last: now}
}

// update reports when n messages are done and a report is due.
func (p *progress) update(n int, what string) {
	now := time.Now()
	due := (p.every > 0 && n-p.lastN >= p.every) || now.Sub(p.last) >= p.interval
	if !due || n == p.lastN {
		return
	}
	fmt.Fprintf(p.w, "deadletters: progress: %d messages (%s) in %s\n", n, what, now.Sub(p.start).Round(time.Millisecond))
	p.last, p.lastN = now, n
}
