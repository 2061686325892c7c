package web

import (
	"context"
	"encoding/json"
	"log/slog"
	"reflect"
	"slices"
	"time"

	"github.com/devloop-dev/devloop/engine"
)

// Websocket tuning, after gorilla/websocket's chat example.
const (
	// writeWait bounds one write; a dashboard that cannot take a message in
	// 10 s is gone or hopelessly slow, and is dropped.
	writeWait = 10 * time.Second
	// pongWait is how long a silent connection lives; pings every
	// pingPeriod (90 % of it) keep a healthy one alive through proxies.
	pongWait   = 60 * time.Second
	pingPeriod = pongWait * 9 / 10
	// maxClientMessage bounds what a dashboard may send: it only answers pings.
	maxClientMessage = 512
	// sendBuffer is how many messages may wait for a client. At one message
	// per coalescing interval that is 1.6 s of backlog; a client further
	// behind is dropped rather than buffered without bound, and reconnects.
	sendBuffer = 16
	// maxLogsPerMessage bounds one message (about 500 KB of log text, a
	// few milliseconds of JSON parsing in a browser); a client further
	// behind catches up over the following intervals, so a flood streams at
	// up to 50,000 lines per second per dashboard, and a dashboard opened on
	// 100k retained lines has them in two seconds.
	maxLogsPerMessage = 5000
)

// Message is one websocket message from the server. The first message on a
// connection has Type "snapshot" and a full View; every later one has Type
// "delta" and only what changed. See docs/api.md.
type Message struct {
	Type string `json:"type"` // "snapshot" or "delta"
	// Seq and LogSeq are the engine's View.Seq and View.LogSeq.
	Seq    uint64 `json:"seq"`
	LogSeq uint64 `json:"log_seq"`
	// View is the full view (snapshot only).
	View *engine.View `json:"view,omitempty"`
	// Resources are the resources whose Version changed (delta only).
	Resources []engine.ResourceView `json:"resources,omitempty"`
	// Names is the full list of resource names in order, sent when a
	// resource was added, removed or reordered (delta only).
	Names []string `json:"names,omitempty"`
	// Devfile is the Devfile status when it changed (delta only).
	Devfile *engine.DevfileStatus `json:"devfile,omitempty"`
	// Cluster is the cluster's status when it changed (delta only): an
	// empty Error means it answers again.
	Cluster *engine.ClusterStatus `json:"cluster,omitempty"`
	// Kube is where Kubernetes resources deploy, when it changed (delta
	// only).
	Kube *engine.KubeTarget `json:"kube,omitempty"`
	// Logs are log lines after the client's cursor, oldest first.
	Logs []engine.LogLine `json:"logs,omitempty"`
	// LogCursor is the Seq to pass as log_after when reconnecting.
	LogCursor uint64 `json:"log_cursor"`
	// LogReset says the requested log cursor was ahead of the engine's (a
	// restarted devloop): the client must drop the lines it holds.
	LogReset bool `json:"log_reset,omitempty"`
}

// client is one websocket connection as the hub sees it. The hub goroutine
// alone touches the fields below send.
type client struct {
	send chan []byte
	// logAfter is the cursor the client asked to resume from.
	logAfter uint64

	versions map[string]uint64
	names    []string
	devfile  engine.DevfileStatus
	cluster  engine.ClusterStatus
	kube     engine.KubeTarget
	cursor   uint64
}

// hub owns the engine subscription and every client's delta state. It
// gathers engine views for one coalescing interval, then sends each client
// what changed since its last message.
type hub struct {
	eng        Viewer
	interval   time.Duration
	log        *slog.Logger
	register   chan *client
	unregister chan *client
	done       chan struct{}
}

func newHub(eng Viewer, interval time.Duration, log *slog.Logger) *hub {
	return &hub{
		eng:        eng,
		interval:   interval,
		log:        log,
		register:   make(chan *client),
		unregister: make(chan *client),
		done:       make(chan struct{}),
	}
}

func (h *hub) run(ctx context.Context) {
	defer close(h.done)
	sub := h.eng.Subscribe(ctx)
	latest := h.eng.Snapshot()
	clients := make(map[*client]bool)
	drop := func(c *client) {
		if clients[c] {
			delete(clients, c)
			close(c.send)
		}
	}
	defer func() {
		for c := range clients {
			drop(c)
		}
	}()
	var tick <-chan time.Time
	arm := func() {
		if tick == nil {
			tick = time.After(h.interval)
		}
	}
	for {
		select {
		case <-ctx.Done():
			return
		case v, ok := <-sub:
			if !ok {
				sub = nil // the engine stopped: keep serving its last view
				continue
			}
			latest = v
			arm()
		case c := <-h.register:
			clients[c] = true
			m, more := h.snapshot(c, latest)
			more, ok := h.deliver(c, m, more)
			if !ok {
				h.log.Debug("web: dropping slow dashboard")
				drop(c)
			} else if more {
				arm()
			}
		case c := <-h.unregister:
			drop(c)
		case <-tick:
			tick = nil
			for c := range clients {
				m, more := h.delta(c, latest)
				more, ok := h.deliver(c, m, more)
				if !ok {
					h.log.Debug("web: dropping slow dashboard")
					drop(c)
				} else if more {
					arm()
				}
			}
		}
	}
}

// deliver queues m for c without blocking; ok is false when c's queue is
// full. more says log lines are still waiting for c.
func (h *hub) deliver(c *client, m *Message, more bool) (bool, bool) {
	if m == nil {
		return more, true
	}
	b, err := json.Marshal(m)
	if err != nil {
		h.log.Error("web: encoding a websocket message", "err", err)
		return more, true
	}
	select {
	case c.send <- b:
		return more, true
	default:
		return false, false
	}
}

func (h *hub) snapshot(c *client, v engine.View) (*Message, bool) {
	m := &Message{Type: "snapshot", Seq: v.Seq, LogSeq: v.LogSeq, View: &v}
	c.versions = make(map[string]uint64, len(v.Resources))
	c.names = c.names[:0]
	for _, r := range v.Resources {
		c.versions[r.Name] = r.Version
		c.names = append(c.names, r.Name)
	}
	c.devfile = v.Devfile
	c.cluster = clusterOf(v)
	c.kube = kubeOf(v)
	c.cursor = c.logAfter
	if c.cursor > v.LogSeq {
		c.cursor = 0
		m.LogReset = true
	}
	more := h.logs(c, v, m)
	return m, more
}

func (h *hub) delta(c *client, v engine.View) (*Message, bool) {
	m := &Message{Type: "delta", Seq: v.Seq, LogSeq: v.LogSeq}
	names := make([]string, 0, len(v.Resources))
	seen := make(map[string]bool, len(v.Resources))
	for _, r := range v.Resources {
		names = append(names, r.Name)
		seen[r.Name] = true
		if ver, ok := c.versions[r.Name]; !ok || ver != r.Version {
			m.Resources = append(m.Resources, r)
			c.versions[r.Name] = r.Version
		}
	}
	if !slices.Equal(names, c.names) {
		m.Names = names
		c.names = names
		for n := range c.versions {
			if !seen[n] {
				delete(c.versions, n)
			}
		}
	}
	if !reflect.DeepEqual(v.Devfile, c.devfile) {
		d := v.Devfile
		m.Devfile = &d
		c.devfile = d
	}
	if cl := clusterOf(v); cl != c.cluster {
		m.Cluster = &cl
		c.cluster = cl
	}
	if k := kubeOf(v); k != c.kube {
		m.Kube = &k
		c.kube = k
	}
	more := h.logs(c, v, m)
	if m.Resources == nil && m.Names == nil && m.Devfile == nil && m.Cluster == nil && m.Kube == nil && m.Logs == nil {
		return nil, more
	}
	return m, more
}

// kubeOf is v's kube target, the zero value before there is one.
func kubeOf(v engine.View) engine.KubeTarget {
	if v.Kube == nil {
		return engine.KubeTarget{}
	}
	return *v.Kube
}

// clusterOf is v's cluster status, the zero value when it answers.
func clusterOf(v engine.View) engine.ClusterStatus {
	if v.Cluster == nil {
		return engine.ClusterStatus{}
	}
	return *v.Cluster
}

// logs adds the lines after c's cursor to m and advances the cursor.
func (h *hub) logs(c *client, v engine.View, m *Message) (more bool) {
	if c.cursor < v.LogSeq {
		m.Logs = h.eng.Logs("", c.cursor, maxLogsPerMessage)
		if n := len(m.Logs); n > 0 {
			c.cursor = m.Logs[n-1].Seq
		} else {
			m.Logs = nil
		}
		more = len(m.Logs) == maxLogsPerMessage
		if !more && c.cursor < v.LogSeq {
			c.cursor = v.LogSeq // lines the store already dropped
		}
	}
	m.LogCursor = c.cursor
	return more
}
