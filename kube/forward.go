package kube

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/util/httpstream"
	"k8s.io/client-go/tools/portforward"
	"k8s.io/client-go/transport/spdy"
)

// ForwardSpec is one port-forward: LocalHost:LocalPort on this machine to
// ContainerPort in the resource's pod.
type ForwardSpec struct {
	// LocalHost is the address to listen on; empty means 127.0.0.1.
	LocalHost     string
	LocalPort     int
	ContainerPort int
}

// ForwardEvent tells the caller what a Forward does.
type ForwardEvent struct {
	// Addr is the listening address, set on the first event.
	Addr string
	// Pod is the pod connections now go to; zero while there is none.
	Pod PodRef
	// Err is a failed connection (the forward itself goes on).
	Err error
}

// podWait bounds how long a new connection waits for a pod when the
// resource has none running (during a rollout): about the time a small pod
// takes to be replaced, after which the client gets a closed connection
// rather than a hang.
const podWait = 30 * time.Second

// Forward listens on spec's local address and forwards every connection to
// spec.ContainerPort of t's newest ready pod (else its newest running pod),
// through the portforward subresource (WebSocket, falling back to SPDY).
// The listener stays open across pod replacements: when the pod is
// replaced, new connections go to the new pod by themselves. A local port in
// use is an error at once. Forward blocks until ctx ends and then returns
// ctx.Err(); events (may be nil) hears about listening, pod changes and
// failed connections, one call at a time.
func (c *Client) Forward(ctx context.Context, t Target, spec ForwardSpec, events func(ForwardEvent)) error {
	if events == nil {
		events = func(ForwardEvent) {}
	}
	var evMu sync.Mutex
	report := events
	events = func(e ForwardEvent) {
		evMu.Lock()
		defer evMu.Unlock()
		report(e)
	}
	host := spec.LocalHost
	if host == "" {
		host = "127.0.0.1"
	}
	addr := net.JoinHostPort(host, strconv.Itoa(spec.LocalPort))
	var lc net.ListenConfig
	l, err := lc.Listen(ctx, "tcp", addr)
	if err != nil {
		return fmt.Errorf("port-forward %s → container port %d: local port %d is in use or not available (%w): "+
			"stop what uses it or change port_forwards in the Devfile", addr, spec.ContainerPort, spec.LocalPort, err)
	}
	f := &forwarder{c: c, port: spec.ContainerPort, events: events, changed: make(chan struct{}), conns: map[string]httpstream.Connection{}}
	events(ForwardEvent{Addr: l.Addr().String()})

	var wg sync.WaitGroup
	ctx, cancel := context.WithCancel(ctx)
	defer func() {
		cancel()
		l.Close()
		wg.Wait()
		f.closeAll()
	}()
	wg.Add(2)
	go func() {
		defer wg.Done()
		_ = c.track(ctx, t, func(_ Status, pods []*corev1.Pod) { f.setPod(pickPod(pods, t)) })
	}()
	go func() {
		defer wg.Done()
		<-ctx.Done()
		l.Close()
	}()
	for {
		conn, err := l.Accept()
		if err != nil {
			if ctx.Err() != nil {
				return ctx.Err()
			}
			return fmt.Errorf("port-forward %s: %w", addr, err)
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			defer conn.Close()
			if err := f.handle(ctx, conn); err != nil && ctx.Err() == nil {
				events(ForwardEvent{Pod: f.current(), Err: err})
			}
		}()
	}
}

// pickPod chooses the pod to forward to, newest first: a ready pod of the
// current rollout, else a running one of it, else (t is from an earlier
// deploy and the pods carry a newer template) any ready, then any running
// pod that is not being deleted.
func pickPod(pods []*corev1.Pod, t Target) PodRef {
	hashes := map[string]bool{}
	for _, a := range t.Applied {
		for _, h := range a.TemplateHashes {
			hashes[h] = true
		}
	}
	// rank orders the candidates; 0 means not a candidate.
	rank := func(p *corev1.Pod) int {
		if p.DeletionTimestamp != nil || p.Status.Phase != corev1.PodRunning {
			return 0
		}
		r := 1
		if podReady(p) {
			r++
		}
		if isCurrent(p, hashes) {
			r += 2
		}
		return r
	}
	var best *corev1.Pod
	for _, p := range pods {
		r := rank(p)
		if r == 0 {
			continue
		}
		if best == nil || r > rank(best) || (r == rank(best) && p.CreationTimestamp.After(best.CreationTimestamp.Time)) {
			best = p
		}
	}
	if best == nil {
		return PodRef{}
	}
	return PodRef{Namespace: best.Namespace, Name: best.Name}
}

type forwarder struct {
	c       *Client
	port    int
	events  func(ForwardEvent)
	reqID   atomic.Int64
	mu      sync.Mutex
	pod     PodRef
	changed chan struct{} // closed and replaced when pod changes
	conns   map[string]httpstream.Connection
}

func (f *forwarder) setPod(p PodRef) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if p == f.pod {
		return
	}
	f.pod = p
	close(f.changed)
	f.changed = make(chan struct{})
	f.events(ForwardEvent{Pod: p})
}

func (f *forwarder) current() PodRef {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.pod
}

// waitPod returns the pod to use, waiting up to podWait for one.
func (f *forwarder) waitPod(ctx context.Context) (PodRef, error) {
	timer := time.NewTimer(podWait)
	defer timer.Stop()
	for {
		f.mu.Lock()
		p, changed := f.pod, f.changed
		f.mu.Unlock()
		if p.Name != "" {
			return p, nil
		}
		select {
		case <-ctx.Done():
			return PodRef{}, ctx.Err()
		case <-timer.C:
			return PodRef{}, fmt.Errorf("no running pod to forward to after %s", podWait)
		case <-changed:
		}
	}
}

// connection returns the streaming connection to pod, dialling it when there
// is none or the last one closed (the pod went away).
func (f *forwarder) connection(pod PodRef) (httpstream.Connection, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if conn, ok := f.conns[pod.String()]; ok {
		select {
		case <-conn.CloseChan():
			delete(f.conns, pod.String())
		default:
			return conn, nil
		}
	}
	conn, err := f.c.dialPortForward(pod)
	if err != nil {
		return nil, err
	}
	// Connections to pods that are gone are closed by the server side; drop
	// the ones for pods other than the current one to free them early.
	for k, old := range f.conns {
		if k != f.pod.String() {
			old.Close()
			delete(f.conns, k)
		}
	}
	f.conns[pod.String()] = conn
	return conn, nil
}

func (f *forwarder) drop(pod PodRef, conn httpstream.Connection) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.conns[pod.String()] == conn {
		delete(f.conns, pod.String())
	}
	conn.Close()
}

func (f *forwarder) closeAll() {
	f.mu.Lock()
	defer f.mu.Unlock()
	for k, c := range f.conns {
		c.Close()
		delete(f.conns, k)
	}
}

// handle forwards one local connection through the portforward protocol:
// an error stream and a data stream that share a request ID.
func (f *forwarder) handle(ctx context.Context, local net.Conn) error {
	pod, err := f.waitPod(ctx)
	if err != nil {
		return fmt.Errorf("port-forward to container port %d: %w", f.port, err)
	}
	conn, err := f.connection(pod)
	if err != nil {
		return fmt.Errorf("port-forward to pod %s port %d: %w", pod, f.port, err)
	}
	id := strconv.FormatInt(f.reqID.Add(1), 10)
	h := http.Header{}
	h.Set(corev1.StreamType, corev1.StreamTypeError)
	h.Set(corev1.PortHeader, strconv.Itoa(f.port))
	h.Set(corev1.PortForwardRequestIDHeader, id)
	errStream, err := conn.CreateStream(h)
	if err != nil {
		f.drop(pod, conn)
		return fmt.Errorf("port-forward to pod %s port %d: %w", pod, f.port, err)
	}
	errStream.Close() // nothing to send on it
	defer conn.RemoveStreams(errStream)
	remoteErr := make(chan error, 1)
	go func() {
		msg, err := io.ReadAll(errStream)
		switch {
		case err != nil:
			remoteErr <- err
		case len(msg) > 0:
			remoteErr <- errors.New(string(msg))
		default:
			remoteErr <- nil
		}
	}()
	h.Set(corev1.StreamType, corev1.StreamTypeData)
	data, err := conn.CreateStream(h)
	if err != nil {
		f.drop(pod, conn)
		return fmt.Errorf("port-forward to pod %s port %d: %w", pod, f.port, err)
	}
	defer conn.RemoveStreams(data)
	fromPod := make(chan struct{})
	go func() {
		_, _ = io.Copy(local, data)
		close(fromPod)
	}()
	toPod := make(chan struct{})
	go func() {
		_, _ = io.Copy(data, local)
		data.Close() // half-close: the pod sees EOF
		close(toPod)
	}()
	select {
	case <-fromPod:
	case <-ctx.Done():
	}
	_ = data.Reset()
	local.Close()
	<-toPod
	<-fromPod
	if err := <-remoteErr; err != nil {
		return fmt.Errorf("port-forward to pod %s port %d: %w", pod, f.port, err)
	}
	return nil
}

// dialPortForward opens a streaming connection to pod's portforward
// subresource: WebSocket (tunnelling SPDY) first, SPDY for API servers
// before 1.30 and proxies that refuse the upgrade.
func (c *Client) dialPortForward(pod PodRef) (httpstream.Connection, error) {
	u := c.cs.CoreV1().RESTClient().Post().Resource("pods").Namespace(pod.Namespace).Name(pod.Name).SubResource("portforward").URL()
	transport, upgrader, err := spdy.RoundTripperFor(c.rest)
	if err != nil {
		return nil, err
	}
	spdyDialer := spdy.NewDialer(upgrader, &http.Client{Transport: transport}, http.MethodPost, u)
	wsDialer, err := portforward.NewSPDYOverWebsocketDialer(u, c.rest)
	if err != nil {
		return nil, err
	}
	conn, _, err := portforward.NewFallbackDialer(wsDialer, spdyDialer, shouldFallback).Dial(portforward.PortForwardProtocolV1Name)
	return conn, err
}
