package action

import (
	"bytes"
	"crypto/rand"
	"encoding/hex"
	"io"
	"sync"
)

// commandLog is the action's stdout, the one place where text becomes a
// workflow command or stays text. The runner obeys a command on any line
// that starts with "::<command>" after leading white space, and on any line
// holding "##[<command>" anywhere; text from Nix (builtins.trace, a
// multi-line throw, builder logs), plans, closure graphs, caches and
// registries could hold either. So every write of text is preceded, when
// needed, by "::stop-commands::<token>" with a fresh unguessable token: the
// runner then obeys nothing but "::<token>::", which only Command writes,
// just before the action's own command (a group, an annotation, a mask).
//
// The runner splits its input at "\n", "\r" and "\r\n"; commandLog tracks
// whether the last byte written ended a line, so that a command always
// starts a line of its own. A commandLog is safe for concurrent use.
type commandLog struct {
	w        io.Writer
	newToken func() string

	mu      sync.Mutex
	stopped bool   // the runner processes no command but "::<token>::"
	token   string // the token that resumes command processing
	midLine bool   // the last byte written did not end a line
}

// newCommandLog returns a commandLog writing to w. The runner processes
// commands until the first text is written.
func newCommandLog(w io.Writer) *commandLog {
	return &commandLog{w: w, newToken: randomToken}
}

// randomToken returns 128 random bits in hex: a stop-commands token no
// text written before or after it can guess.
func randomToken() string {
	b := make([]byte, 16)
	if _, err := rand.Read(b); err != nil {
		panic("action: no randomness for the stop-commands token: " + err.Error())
	}
	return hex.EncodeToString(b)
}

// Write writes text that must not act: command processing is stopped
// first. Writes never fail (log output is best effort).
func (l *commandLog) Write(p []byte) (int, error) {
	if len(p) == 0 {
		return 0, nil
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	if !l.stopped {
		l.token = l.newToken()
		l.endLineLocked()
		l.emitLocked([]byte("::stop-commands::" + l.token + "\n"))
		l.stopped = true
	}
	l.emitLocked(p)
	return len(p), nil
}

// Commands returns the writer of the action's own workflow commands (the
// go-githubactions writer): every line written to it that starts with "::"
// is issued as a command, anything else is written as text.
func (l *commandLog) Commands() io.Writer { return commandWriter{l} }

type commandWriter struct{ l *commandLog }

func (c commandWriter) Write(p []byte) (int, error) {
	for rest := p; len(rest) > 0; {
		line := rest
		if i := bytes.IndexAny(rest, "\r\n"); i >= 0 {
			line = rest[:i+1]
		}
		rest = rest[len(line):]
		if bytes.HasPrefix(line, []byte("::")) {
			c.l.command(line)
		} else {
			c.l.Write(line)
		}
	}
	return len(p), nil
}

// command issues one command line (ending in a line break, or given one).
func (l *commandLog) command(line []byte) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.endLineLocked()
	if l.stopped {
		l.emitLocked([]byte("::" + l.token + "::\n"))
		l.stopped = false
	}
	l.emitLocked(line)
	l.endLineLocked()
}

// Close resumes command processing if it is stopped, so that the runner is
// left as the action found it.
func (l *commandLog) Close() error {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.stopped {
		l.endLineLocked()
		l.emitLocked([]byte("::" + l.token + "::\n"))
		l.stopped = false
	}
	return nil
}

// endLineLocked ends the current line if text left it open.
func (l *commandLog) endLineLocked() {
	if l.midLine {
		l.emitLocked([]byte("\n"))
	}
}

func (l *commandLog) emitLocked(p []byte) {
	_, _ = l.w.Write(p)
	last := p[len(p)-1]
	l.midLine = last != '\n' && last != '\r'
}
