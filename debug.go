package main

import (
	"io"
	"log"
	"strings"
	"sync"

	"github.com/google/go-containerregistry/pkg/logs"
)

// enableDebug turns on go-containerregistry's HTTP debug log (requests and
// responses, with Authorization headers and token bodies already redacted by
// the library) and its warnings, written to w with every known secret
// replaced as well. The library's loggers are process-wide; only main sets
// them.
func enableDebug(w io.Writer, secrets []string) {
	rw := &redactingWriter{w: w, secrets: secrets}
	logs.Debug = log.New(rw, "debug: ", log.Lmicroseconds)
	logs.Warn = log.New(rw, "warning: ", 0)
}

// redactingWriter replaces secrets in whatever passes through. log.Logger
// writes one whole line per call, so a secret is never split across writes.
type redactingWriter struct {
	mu      sync.Mutex
	w       io.Writer
	secrets []string
}

func (r *redactingWriter) Write(p []byte) (int, error) {
	s := string(p)
	for _, sec := range r.secrets {
		if len(sec) >= 4 {
			s = strings.ReplaceAll(s, sec, "***")
		}
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	if _, err := io.WriteString(r.w, s); err != nil {
		return 0, err
	}
	return len(p), nil
}
