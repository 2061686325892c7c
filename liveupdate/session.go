package liveupdate

import (
	"bufio"
	"bytes"
	"context"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"strconv"
	"strings"
	stdsync "sync"
	"time"

	"github.com/devloop-dev/devloop/kube"
)

// A session is one long-running `sh` in a container, through which live
// updates send their files (a tar, base64 in a here-document) without a new
// exec each. An exec costs a connection, an API server and kubelet round
// trip and a runtime exec, about 100 ms; a few lines on an open stream cost
// a few milliseconds. A session is only a fast path: when it cannot start
// (no sh, base64 or tar in the image), breaks, or a command in it fails,
// the update goes through its own execs, which say exactly what failed.

// sessionMaxBytes bounds the tar a session carries: base64 adds a third, and
// the archive is built in memory first. Larger updates (a checkout, a
// dependency tree) stream through their own exec.
const sessionMaxBytes = 4 << 20

// sessionTimeout bounds one command's answer. Writing a few MiB and
// extracting them takes well under a second; no answer by then means the
// stream is stuck, and the update takes the exec path instead.
const sessionTimeout = 15 * time.Second

// sessionCheck makes sure the image has what a session's commands use.
// What it prints goes to the session's stdout, where only markers count (no
// /dev/null needed).
const sessionCheck = "command -v base64 && command -v tar && command -v rm"

// sessionMaxLine and sessionLineTail bound one line of a session's output:
// a longer line (a minified JSON dump, a progress bar without newlines)
// keeps its first sessionMaxLine bytes and its last sessionLineTail and says
// how many bytes were cut between. 64 KiB is more than any line a person
// reads in a log; the tail keeps the marker that ends a command's output,
// which follows output without a final newline on the same line.
const (
	sessionMaxLine  = 64 << 10
	sessionLineTail = 1 << 10
)

// errNoSession means the session cannot carry this update: use execs.
var errNoSession = errors.New("no session")

type session struct {
	mu     stdsync.Mutex
	in     *io.PipeWriter
	lines  chan string
	done   chan struct{}
	cancel context.CancelFunc
	n      int
	stderr lockedTail
	// readErr is why the output ended; set before lines is closed.
	readErr error
}

// sessions holds an Updater's sessions by container ID.
type sessions struct {
	mu     stdsync.Mutex
	byID   map[string]*session
	failed map[string]bool // containers whose image cannot run one
	wg     stdsync.WaitGroup
	closed bool
}

// viaSession applies p's deletes and copies to c through c's session.
// errNoSession (or any error) means nothing is known to be written: the
// caller applies them through execs.
func (u *Updater) viaSession(ctx context.Context, p Plan, c Container) error {
	var tarball bytes.Buffer
	if len(p.Copy) > 0 {
		if err := writeTar(&limitWriter{w: &tarball, n: sessionMaxBytes}, p.Copy); err != nil {
			return errNoSession
		}
	}
	s, err := u.session(c)
	if err != nil {
		return err
	}
	var script strings.Builder
	script.WriteString("s=0\n")
	if len(p.Delete) > 0 {
		script.WriteString("rm -rf --")
		for _, d := range p.Delete {
			script.WriteString(" " + shellSingleQuote(d))
		}
		script.WriteString("; s=$?\n")
	}
	if tarball.Len() > 0 {
		script.WriteString("if [ $s -eq 0 ]; then base64 -d <<'__DEVLOOP_EOF__' | tar -C / -x -f -\n")
		enc := base64.StdEncoding.EncodeToString(tarball.Bytes())
		for len(enc) > 76 {
			script.WriteString(enc[:76] + "\n")
			enc = enc[76:]
		}
		script.WriteString(enc + "\n__DEVLOOP_EOF__\ns=$?; fi\n")
	}
	code, _, err := s.do(ctx, script.String(), "$s", sessionTimeout, nil)
	if err != nil {
		u.sess.drop(c.ID, s)
		return err
	}
	if code != 0 {
		return fmt.Errorf("%w: exit %d", errNoSession, code)
	}
	return nil
}

// session returns c's running session, starting one if needed.
func (u *Updater) session(c Container) (*session, error) {
	ss := &u.sess
	ss.mu.Lock()
	if ss.closed || ss.failed[c.ID] || c.ID == "" {
		ss.mu.Unlock()
		return nil, errNoSession
	}
	if s := ss.byID[c.ID]; s != nil {
		select {
		case <-s.done:
			delete(ss.byID, c.ID)
		default:
			ss.mu.Unlock()
			return s, nil
		}
	}
	// Sessions of containers that are gone ended with them.
	for id, s := range ss.byID {
		select {
		case <-s.done:
			delete(ss.byID, id)
		default:
		}
	}
	ctx, cancel := context.WithCancel(context.Background())
	inR, inW := io.Pipe()
	outR, outW := io.Pipe()
	s := &session{in: inW, lines: make(chan string, 16), done: make(chan struct{}), cancel: cancel}
	s.stderr.max = 2048
	ss.wg.Add(2)
	go func() {
		defer ss.wg.Done()
		defer close(s.done)
		err := u.ex.Exec(ctx, c.Pod, c.Name, []string{"sh"}, inR, outW, &s.stderr)
		if err == nil {
			err = io.EOF
		}
		outW.CloseWithError(err)
		inR.CloseWithError(err)
	}()
	go func() {
		defer ss.wg.Done()
		defer close(s.lines)
		s.readErr = readLines(outR, func(line string) bool {
			select {
			case s.lines <- line:
				return true
			case <-ctx.Done():
				return false
			}
		})
	}()
	if ss.byID == nil {
		ss.byID, ss.failed = map[string]*session{}, map[string]bool{}
	}
	ss.byID[c.ID] = s
	ss.mu.Unlock()

	code, _, err := s.do(context.Background(), sessionCheck+"; s=$?\n", "$s", sessionTimeout, nil)
	if err != nil || code != 0 {
		ss.mu.Lock()
		ss.failed[c.ID] = true
		ss.mu.Unlock()
		ss.drop(c.ID, s)
		return nil, errNoSession
	}
	return s, nil
}

// do runs script, which leaves its status in the shell variable named by
// status, and returns that status. Lines the script prints go to onLine
// (nil drops them). timeout 0 means only ctx bounds it. sent reports
// whether the whole script reached the shell: after that, a failure leaves
// unknown how far it ran.
func (s *session) do(ctx context.Context, script, status string, timeout time.Duration, onLine func(string)) (code int, sent bool, err error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.n++
	marker := "__DEVLOOP_DONE_" + strconv.Itoa(s.n) + " "
	if timeout > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, timeout)
		defer cancel()
	}
	written := make(chan error, 1)
	go func() {
		_, err := io.WriteString(s.in, script+"echo "+marker+status+"\n")
		written <- err
	}()
	for {
		select {
		case err := <-written:
			if err != nil {
				return 0, false, fmt.Errorf("%w: writing to the session: %v", errNoSession, err)
			}
			written, sent = nil, true
		case line, ok := <-s.lines:
			if !ok {
				why := s.stderr.String()
				if s.readErr != nil {
					why = strings.TrimSpace(s.readErr.Error() + " " + why)
				}
				return 0, sent, fmt.Errorf("%w: the session ended: %s", errNoSession, why)
			}
			// Output without a final newline runs into the marker's line.
			i := strings.Index(line, marker)
			if i < 0 {
				if onLine != nil {
					onLine(line)
				}
				continue
			}
			if i > 0 && onLine != nil {
				onLine(line[:i])
			}
			code, err := strconv.Atoi(strings.TrimSpace(line[i+len(marker):]))
			if err != nil {
				return 0, true, fmt.Errorf("%w: unexpected answer %q", errNoSession, line)
			}
			return code, true, nil
		case <-ctx.Done():
			return 0, sent, fmt.Errorf("%w: %v", errNoSession, ctx.Err())
		}
	}
}

// runViaSession runs argv in c's session, with an empty stdin and stderr
// merged into stdout, whose lines go to out. handled is false when the
// session could not take it (nothing ran): run it through an exec.
func (u *Updater) runViaSession(ctx context.Context, c Container, argv []string, out io.Writer) (handled bool, err error) {
	s, err := u.session(c)
	if err != nil {
		return false, nil
	}
	// Its stdin is an empty pipe (": |"), at EOF at once, as an exec's
	// without stdin is: the session's own stdin is the script.
	var script strings.Builder
	script.WriteString(": | (")
	for i, a := range argv {
		if i > 0 {
			script.WriteString(" ")
		}
		script.WriteString(shellSingleQuote(a))
	}
	script.WriteString(") 2>&1; s=$?\n")
	tail := &lockedTail{max: 4096}
	code, sent, err := s.do(ctx, script.String(), "$s", 0, func(line string) {
		_, _ = io.WriteString(out, line+"\n")
		_, _ = io.WriteString(tail, line+"\n")
	})
	switch {
	case err != nil && !sent:
		u.sess.drop(c.ID, s)
		return false, nil
	case err != nil:
		u.sess.drop(c.ID, s)
		if ctx.Err() != nil {
			return true, ctx.Err()
		}
		return true, &FallBackError{Pod: c.Pod, Container: c.Name, Reason: "the live update session ended while a run() step ran", Err: err}
	case code != 0:
		return true, &kube.ExecError{Argv: argv, ExitCode: code, Output: tail.String()}
	}
	return true, nil
}

// readLines sends r's lines, without their line ends, to emit until r ends
// (nil at EOF) or emit returns false. A line over sessionMaxLine is cut as
// sessionMaxLine says, visibly, and memory stays bounded however long it is.
func readLines(r io.Reader, emit func(string) bool) error {
	br := bufio.NewReaderSize(r, sessionMaxLine)
	for {
		chunk, err := br.ReadSlice('\n')
		line := string(chunk)
		if errors.Is(err, bufio.ErrBufferFull) {
			var tail []byte
			cut := 0
			for errors.Is(err, bufio.ErrBufferFull) {
				chunk, err = br.ReadSlice('\n')
				tail = append(tail, bytes.TrimSuffix(bytes.TrimSuffix(chunk, []byte("\n")), []byte("\r"))...)
				if over := len(tail) - sessionLineTail; over > 0 {
					cut += over
					tail = append([]byte(nil), tail[over:]...)
				}
			}
			if cut > 0 {
				line += fmt.Sprintf(" [devloop: %d bytes of this line cut] ", cut)
			}
			line += string(tail)
		}
		line = strings.TrimSuffix(strings.TrimSuffix(line, "\n"), "\r")
		if line != "" || (err == nil && len(chunk) > 0) {
			if !emit(line) {
				return nil
			}
		}
		switch {
		case errors.Is(err, io.EOF):
			return nil
		case err != nil:
			return err
		}
	}
}

// drop ends s, the session of container id, if it still is.
func (ss *sessions) drop(id string, s *session) {
	ss.mu.Lock()
	if ss.byID[id] == s {
		delete(ss.byID, id)
	}
	ss.mu.Unlock()
	s.cancel()
	s.in.CloseWithError(errNoSession)
}

// Close ends every session and waits for their goroutines.
func (u *Updater) Close() {
	ss := &u.sess
	ss.mu.Lock()
	ss.closed = true
	all := ss.byID
	ss.byID = nil
	ss.mu.Unlock()
	for _, s := range all {
		s.cancel()
		s.in.CloseWithError(errNoSession)
	}
	ss.wg.Wait()
}

// shellSingleQuote quotes s for sh.
func shellSingleQuote(s string) string {
	return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'"
}

// limitWriter fails once more than n bytes were written.
type limitWriter struct {
	w io.Writer
	n int
}

var errTooBig = errors.New("too big for a session")

func (l *limitWriter) Write(p []byte) (int, error) {
	if len(p) > l.n {
		return 0, errTooBig
	}
	l.n -= len(p)
	return l.w.Write(p)
}

// lockedTail keeps the last max bytes written to it, for any goroutine.
type lockedTail struct {
	mu  stdsync.Mutex
	max int
	b   []byte
}

func (t *lockedTail) Write(p []byte) (int, error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.b = append(t.b, p...)
	if len(t.b) > t.max {
		t.b = t.b[len(t.b)-t.max:]
	}
	return len(p), nil
}

func (t *lockedTail) String() string {
	t.mu.Lock()
	defer t.mu.Unlock()
	return strings.TrimSpace(string(t.b))
}
