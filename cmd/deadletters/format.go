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
	"sync"
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
	Topic           string            `json:"topic,omitempty"`
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

// column is one table column of a fixed width; the last column takes the
// rest of the line.
type column struct {
	title string
	width int
	// whole: never cut (IDs); a longer value pushes the row out of line.
	whole bool
	value func(v messageView) string
}

var (
	colResult  = column{title: "RESULT", width: 12, value: func(v messageView) string { return v.Result }}
	colID      = column{title: "ID", width: 18, whole: true, value: func(v messageView) string { return v.ID }}
	colPublish = column{title: "PUBLISHED", width: 20, value: func(v messageView) string {
		t, err := time.Parse(time.RFC3339Nano, v.PublishTime)
		if err != nil {
			return v.PublishTime
		}
		return t.UTC().Format(time.RFC3339)
	}}
	// colAttempt shows the delivery attempt; a dead-letter subscription
	// rarely has one of its own, so it falls back to the count Pub/Sub
	// recorded when it dead-lettered the message.
	colAttempt = column{title: "ATTEMPT", width: 7, value: func(v messageView) string {
		if v.DeliveryAttempt == 0 {
			return v.Attributes[sourceDeliveryCountAttr]
		}
		return strconv.Itoa(int(v.DeliveryAttempt))
	}}
	colSize  = column{title: "SIZE", width: 7, value: func(v messageView) string { return strconv.Itoa(v.Size) }}
	colKey   = column{title: "ORDERING KEY", width: 14, value: func(v messageView) string { return v.OrderingKey }}
	colAttrs = column{title: "ATTRIBUTES", width: 28, value: func(v messageView) string {
		return formatAttributes(ownAttributes(v.Attributes))
	}}
	colDetail = column{title: "DETAIL", value: func(v messageView) string {
		if v.NewID != "" {
			return "new id " + v.NewID
		}
		return v.Detail
	}}
	colData = column{title: "DATA", value: func(v messageView) string { return v.Excerpt }}
)

// ownAttributes leaves out the CloudPubSubDeadLetter* attributes Pub/Sub
// adds (they are in --json).
func ownAttributes(attrs map[string]string) map[string]string {
	out := make(map[string]string, len(attrs))
	for k, v := range attrs {
		if !strings.HasPrefix(k, deadLetterAttrPrefix) {
			out[k] = v
		}
	}
	return out
}

// minLastColumn is the narrowest the last column gets.
const minLastColumn = 16

// viewWriter prints views as a table of fixed column widths, width
// characters wide, or as JSON lines.
type viewWriter struct {
	w       io.Writer
	json    bool
	enc     *json.Encoder
	columns []column
	width   int
	header  bool
	// before is called before a line is written (to clear a status line).
	before func()
}

func newViewWriter(w io.Writer, asJSON bool, width int, columns ...column) *viewWriter {
	return &viewWriter{w: w, json: asJSON, enc: json.NewEncoder(w), columns: columns, width: width}
}

func (vw *viewWriter) write(v messageView) error {
	if vw.before != nil {
		vw.before()
	}
	if vw.json {
		return vw.enc.Encode(v)
	}
	if !vw.header {
		vw.header = true
		if _, err := fmt.Fprintln(vw.w, vw.row(func(c column) string { return c.title })); err != nil {
			return err
		}
	}
	_, err := fmt.Fprintln(vw.w, vw.row(func(c column) string { return cell(c.value(v)) }))
	return err
}

func (vw *viewWriter) row(text func(column) string) string {
	var b strings.Builder
	used := 0
	for i, c := range vw.columns {
		s := text(c)
		if i == len(vw.columns)-1 {
			b.WriteString(cut(s, max(vw.width-used, minLastColumn)))
			break
		}
		if !c.whole {
			s = cut(s, c.width)
		}
		b.WriteString(s)
		n := utf8.RuneCountInString(s)
		pad := max(c.width-n, 0) + 2
		b.WriteString(strings.Repeat(" ", pad))
		used += n + pad
	}
	return strings.TrimRight(b.String(), " ")
}

// cut shortens s to n characters, ending in "…" when it was longer.
func cut(s string, n int) string {
	r := []rune(s)
	if len(r) <= n {
		return s
	}
	if n <= 1 {
		return string(r[:n])
	}
	return string(r[:n-1]) + "…"
}

// flush is kept for callers that end a batch; rows are written at once.
func (vw *viewWriter) flush() error { return nil }

// progress reports on long runs. On a terminal it keeps one status line
// (counts and rate) at the bottom of stderr, redrawn a few times a second;
// otherwise it prints a plain line every `every` messages and at least
// every interval while anything changed. Events (publishing failing or
// recovering) are printed as lines of their own either way.
type progress struct {
	mu       sync.Mutex
	w        io.Writer
	tty      bool
	every    int
	interval time.Duration
	start    time.Time
	last     time.Time
	lastN    int
	n        int
	text     string
	shown    bool // a status line is on the screen
	stop     chan struct{}
	done     chan struct{}
}

func newProgress(w io.Writer, tty bool, every int, interval time.Duration) *progress {
	now := time.Now()
	p := &progress{w: w, tty: tty, every: every, interval: interval, start: now, last: now, stop: make(chan struct{}), done: make(chan struct{})}
	tick := interval
	if tty {
		tick = 250 * time.Millisecond
	}
	go func() {
		defer close(p.done)
		t := time.NewTicker(tick)
		defer t.Stop()
		for {
			select {
			case <-p.stop:
				return
			case <-t.C:
				p.tick()
			}
		}
	}()
	return p
}

// set records that n messages are done, described by text.
func (p *progress) set(n int, text string) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.n, p.text = n, text
	if !p.tty && p.every > 0 && n-p.lastN >= p.every {
		p.printLocked(time.Now())
	}
}

func (p *progress) tick() {
	p.mu.Lock()
	defer p.mu.Unlock()
	now := time.Now()
	if p.tty {
		p.drawLocked(now)
		return
	}
	if now.Sub(p.last) >= p.interval && p.n != p.lastN {
		p.printLocked(now)
	}
}

func (p *progress) rate(now time.Time) string {
	secs := now.Sub(p.start).Seconds()
	if secs <= 0 {
		return "0.0/s"
	}
	return fmt.Sprintf("%.1f/s", float64(p.n)/secs)
}

func (p *progress) printLocked(now time.Time) {
	fmt.Fprintf(p.w, "deadletters: progress: %d messages (%s) in %s, %s\n", p.n, p.text, now.Sub(p.start).Round(time.Second), p.rate(now))
	p.last, p.lastN = now, p.n
}

func (p *progress) drawLocked(now time.Time) {
	fmt.Fprintf(p.w, "\r\x1b[K%d messages: %s  %s  %s", p.n, p.text, p.rate(now), now.Sub(p.start).Round(time.Second))
	p.shown = true
}

func (p *progress) clearLocked() {
	if p.shown {
		fmt.Fprint(p.w, "\r\x1b[K")
		p.shown = false
	}
}

// clear removes the status line before other output is written.
func (p *progress) clear() {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.clearLocked()
}

// event prints msg as a line of its own.
func (p *progress) event(msg string) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.clearLocked()
	fmt.Fprintf(p.w, "deadletters: %s\n", msg)
}

// close stops the status line and removes it.
func (p *progress) close() {
	close(p.stop)
	<-p.done
	p.clear()
}
