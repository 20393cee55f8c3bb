package substituter

import (
	"bufio"
	"compress/bzip2"
	"compress/gzip"
	"errors"
	"fmt"
	"io"
	"os/exec"
	"strings"
	"sync"

	"github.com/andybalholm/brotli"
	"github.com/klauspost/compress/zstd"
	"github.com/ulikunitz/xz"
)

// errClosedEarly marks the xz process being stopped by Close.
var errClosedEarly = errors.New("xz: closed before the end of the stream")

// supportedCompression reports the narinfo Compression values OpenNAR
// reads: every method Nix 2.8's `nix copy --to ...?compression=` writes
// (none, xz, bzip2, gzip, zstd, br). An absent Compression means bzip2, as
// in Nix (go-nix's parser fills that in).
func supportedCompression(c string) bool {
	switch c {
	case "none", "xz", "bzip2", "gzip", "zstd", "br":
		return true
	}
	return false
}

// decompressor wraps r to decompress method. xzCommand, when set, is an xz
// binary to pipe xz streams through.
func decompressor(method string, r io.Reader, xzCommand string) (io.ReadCloser, error) {
	br := bufio.NewReaderSize(r, 64<<10)
	switch method {
	case "none", "":
		return io.NopCloser(br), nil
	case "xz":
		if xzCommand != "" {
			return newXZProcess(xzCommand, br)
		}
		x, err := xz.NewReader(br)
		if err != nil {
			return nil, fmt.Errorf("xz: %w", err)
		}
		return io.NopCloser(x), nil
	case "bzip2":
		return io.NopCloser(bzip2.NewReader(br)), nil
	case "gzip":
		g, err := gzip.NewReader(br)
		if err != nil {
			return nil, fmt.Errorf("gzip: %w", err)
		}
		return g, nil
	case "zstd":
		d, err := zstd.NewReader(br, zstd.WithDecoderConcurrency(1), zstd.WithDecoderMaxWindow(1<<30))
		if err != nil {
			return nil, fmt.Errorf("zstd: %w", err)
		}
		return d.IOReadCloser(), nil
	case "br":
		return io.NopCloser(brotli.NewReader(br)), nil
	}
	return nil, fmt.Errorf("unsupported compression %q", method)
}

// decodeContentEncoding undoes an HTTP Content-Encoding other than gzip
// (which net/http removes itself), as Nix's downloader does for caches
// that store narinfos compressed (S3's narinfo-compression).
func decodeContentEncoding(enc string, body io.ReadCloser, xzCommand string) (io.ReadCloser, error) {
	enc = strings.ToLower(strings.TrimSpace(enc))
	switch enc {
	case "", "identity":
		return body, nil
	case "x-gzip":
		enc = "gzip"
	case "bzip2", "xz", "zstd", "br", "gzip":
	default:
		return nil, fmt.Errorf("unsupported Content-Encoding %q", enc)
	}
	d, err := decompressor(enc, body, xzCommand)
	if err != nil {
		return nil, err
	}
	return &stackedCloser{Reader: d, closers: []io.Closer{d, body}}, nil
}

// stackedCloser closes several layers in order.
type stackedCloser struct {
	io.Reader
	closers []io.Closer
}

func (s *stackedCloser) Close() error {
	var first error
	for _, c := range s.closers {
		if err := c.Close(); err != nil && first == nil {
			first = err
		}
	}
	return first
}

// xzProcess decompresses by piping through "xz -d". Its own goroutine
// feeds stdin, so a read error of the source (a stalled cache) is reported
// rather than xz's "unexpected end of input".
type xzProcess struct {
	cmd      *exec.Cmd
	stdout   io.ReadCloser
	stderr   *strings.Builder
	feedDone chan struct{}
	feedErr  error
	waitOnce sync.Once
	waitErr  error
	closed   bool
}

func newXZProcess(bin string, src io.Reader) (*xzProcess, error) {
	cmd := exec.Command(bin, "-d", "-c", "-q")
	stdin, err := cmd.StdinPipe()
	if err != nil {
		return nil, err
	}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		return nil, err
	}
	p := &xzProcess{cmd: cmd, stdout: stdout, stderr: &strings.Builder{}, feedDone: make(chan struct{})}
	cmd.Stderr = &limitedWriter{w: p.stderr, n: 4096}
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("xz: %w", err)
	}
	go func() {
		defer close(p.feedDone)
		_, err := io.Copy(stdin, src)
		if cerr := stdin.Close(); err == nil {
			err = cerr
		}
		p.feedErr = err
	}()
	return p, nil
}

func (p *xzProcess) Read(b []byte) (int, error) {
	n, err := p.stdout.Read(b)
	if err == io.EOF {
		if werr := p.wait(); werr != nil {
			return n, werr
		}
	}
	return n, err
}

// wait reaps the process once and reports the first real failure: the
// source's read error, else xz's own.
func (p *xzProcess) wait() error {
	p.waitOnce.Do(func() {
		err := p.cmd.Wait()
		<-p.feedDone
		switch {
		case p.closed:
			p.waitErr = errClosedEarly
		case p.feedErr != nil && !errors.Is(p.feedErr, io.ErrClosedPipe) && !isBrokenPipe(p.feedErr):
			p.waitErr = p.feedErr
		case err != nil:
			p.waitErr = fmt.Errorf("xz -d: %v: %s", err, strings.TrimSpace(p.stderr.String()))
		}
	})
	return p.waitErr
}

// Close stops xz if it is still running and reaps it. The source must be
// closed first so the feeding goroutine cannot block on it.
func (p *xzProcess) Close() error {
	if !p.closed {
		p.closed = true
		if p.cmd.ProcessState == nil {
			_ = p.cmd.Process.Kill()
		}
	}
	err := p.wait()
	if errors.Is(err, errClosedEarly) {
		return nil
	}
	return err
}

func isBrokenPipe(err error) bool {
	return err != nil && strings.Contains(err.Error(), "broken pipe")
}

// limitedWriter keeps the first n bytes written (xz's stderr).
type limitedWriter struct {
	w io.Writer
	n int
}

func (l *limitedWriter) Write(b []byte) (int, error) {
	if l.n > 0 {
		k := min(len(b), l.n)
		l.w.Write(b[:k])
		l.n -= k
	}
	return len(b), nil
}
