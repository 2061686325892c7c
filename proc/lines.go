package proc

import "bytes"

// maxLine bounds one captured line; longer output is split. 64 KiB holds any
// human-readable line (stack traces, JSON logs) without letting a binary blob
// on stdout grow the buffer without limit.
const maxLine = 64 << 10

// lineWriter turns a byte stream into lines for emit. os/exec calls Write from
// one goroutine at a time and flush after the stream ended.
type lineWriter struct {
	emit func(string)
	buf  []byte
}

func (w *lineWriter) Write(b []byte) (int, error) {
	n := len(b)
	for len(b) > 0 {
		i := bytes.IndexByte(b, '\n')
		if i < 0 {
			w.buf = append(w.buf, b...)
			for len(w.buf) >= maxLine {
				w.emit(string(w.buf[:maxLine]))
				w.buf = append(w.buf[:0], w.buf[maxLine:]...)
			}
			break
		}
		w.buf = append(w.buf, b[:i]...)
		w.emitBuf()
		b = b[i+1:]
	}
	return n, nil
}

func (w *lineWriter) emitBuf() {
	line := bytes.TrimSuffix(w.buf, []byte("\r"))
	w.emit(string(line))
	w.buf = w.buf[:0]
}

func (w *lineWriter) flush() {
	if len(w.buf) > 0 {
		w.emitBuf()
	}
}
