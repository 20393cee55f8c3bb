package secrets

import (
	"bytes"
	"io"
	"sync"
)

// maxPending bounds how much of an unterminated line a Writer holds back.
const maxPending = 64 << 10

// Writer redacts a Set's secrets from everything written through it. It
// passes text on line by line (a line ends at "\n" or "\r"), so a secret is
// never split across two writes to the underlying writer; an unterminated
// tail is held until the next line end, Flush, or until it exceeds 64 KiB.
// Writes never fail: log output is best effort (go-githubactions panics on
// write errors), and the first error of the underlying writer is kept for
// Err. A Writer is safe for concurrent use; each Write is passed on whole,
// so concurrent log lines do not interleave.
type Writer struct {
	set *Set
	w   io.Writer

	mu      sync.Mutex
	pending []byte
	err     error
}

// Writer returns a redacting writer onto w.
func (s *Set) Writer(w io.Writer) *Writer {
	return &Writer{set: s, w: w}
}

// Write redacts and passes on every complete line of p.
func (w *Writer) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.pending = append(w.pending, p...)
	end := bytes.LastIndexAny(w.pending, "\n\r")
	if end < 0 && len(w.pending) <= maxPending {
		return len(p), nil
	}
	if end < 0 {
		end = len(w.pending) - 1
	}
	w.emit(w.pending[:end+1])
	w.pending = append(w.pending[:0], w.pending[end+1:]...)
	return len(p), nil
}

// Flush passes on whatever unterminated text is held back.
func (w *Writer) Flush() error {
	w.mu.Lock()
	defer w.mu.Unlock()
	if len(w.pending) > 0 {
		w.emit(w.pending)
		w.pending = w.pending[:0]
	}
	return w.err
}

// Err returns the first error of the underlying writer.
func (w *Writer) Err() error {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.err
}

func (w *Writer) emit(b []byte) {
	if _, err := io.WriteString(w.w, w.set.String(string(b))); err != nil && w.err == nil {
		w.err = err
	}
}
