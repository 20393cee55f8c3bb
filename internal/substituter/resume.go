package substituter

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"regexp"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// resumingBody is the body of a NAR download that survives a transfer cut
// short: when a read fails transiently (the connection reset or closed
// before Content-Length bytes, a stalled body) it asks the cache again for
// the rest — with a Range request (and If-Range, so a changed file is sent
// whole) when the first answer offered byte ranges, else for the whole file,
// skipping what was already read — and carries on, so the decompressor and
// the NAR hash above it see one continuous stream. It never vouches for the
// bytes: a cache that serves other bytes the second time fails the NAR's
// size and hash check. At most the client's retries resumes per download,
// each after the usual backoff.
type resumingBody struct {
	c         *Client
	ctx       context.Context
	ch        *cache
	loc       string
	rc        io.ReadCloser
	ranges    bool   // the cache answered Accept-Ranges: bytes
	validator string // a strong ETag, else Last-Modified, for If-Range
	size      int64  // the whole file's length; -1 when not known
	got       int64  // bytes delivered so far
	resumes   int
}

// resuming wraps the first (200, identity-encoded) answer for a NAR.
func (c *Client) resuming(ctx context.Context, ch *cache, loc string, resp *http.Response) *resumingBody {
	b := &resumingBody{c: c, ctx: ctx, ch: ch, loc: loc, rc: resp.Body, size: resp.ContentLength,
		ranges: strings.EqualFold(strings.TrimSpace(resp.Header.Get("Accept-Ranges")), "bytes")}
	if et := resp.Header.Get("ETag"); et != "" && !strings.HasPrefix(et, "W/") {
		b.validator = et
	} else {
		b.validator = resp.Header.Get("Last-Modified")
	}
	return b
}

func (b *resumingBody) Read(p []byte) (int, error) {
	for {
		n, err := b.rc.Read(p)
		b.got += int64(n)
		if err == nil || err == io.EOF {
			return n, err
		}
		for b.resumable(err) {
			if err = b.resume(err); err == nil {
				break
			}
		}
		if err != nil {
			return n, b.exhausted(err)
		}
		if n > 0 {
			return n, nil
		}
	}
}

// Close releases the current connection.
func (b *resumingBody) Close() error { return b.rc.Close() }

// resumable reports whether a failed read is worth resuming: the transfer
// was cut or stalled (not the caller's cancellation), and resumes are left.
func (b *resumingBody) resumable(err error) bool {
	if b.ctx.Err() != nil || b.resumes >= b.c.o.retries {
		return false
	}
	var (
		te   *TimeoutError
		nerr net.Error
		re   *RequestError
	)
	switch {
	case errors.As(err, &re):
		return false // the resume's own request, retried already
	case errors.As(err, &te), errors.As(err, &nerr):
		return true
	}
	return errors.Is(err, io.ErrUnexpectedEOF) || errors.Is(err, syscall.ECONNRESET) || errors.Is(err, syscall.EPIPE)
}

// exhausted says how often the transfer was cut when it fails for good.
func (b *resumingBody) exhausted(err error) error {
	var te *TimeoutError
	if b.resumes == 0 || errors.As(err, &te) {
		return err
	}
	return &resumeError{err: err, resumes: b.resumes, at: b.got}
}

// resume closes the cut connection and asks for the rest of the file.
func (b *resumingBody) resume(cause error) error {
	b.resumes++
	b.rc.Close()
	hdr := http.Header{}
	how := "asking for the whole file again (the cache offers no byte ranges)"
	if b.ranges {
		hdr.Set("Range", "bytes="+strconv.FormatInt(b.got, 10)+"-")
		if b.validator != "" {
			hdr.Set("If-Range", b.validator)
		}
		how = "resuming with a Range request"
	}
	wait := b.c.backoff(b.resumes, 0)
	b.c.o.logf("substituter: GET %s (cache %s): %s after %d bytes; %s (%d/%d) in %s",
		redactURLText(b.loc), b.ch.display, b.c.redact.String(urlErrorPrefix.ReplaceAllString(cause.Error(), "")),
		b.got, how, b.resumes, b.c.o.retries, wait.Round(time.Millisecond))
	select {
	case <-b.ctx.Done():
		return b.ctx.Err()
	case <-b.c.o.sleep(wait):
	}
	resp, attempts, err := b.c.get(b.ctx, b.ch, b.loc, hdr)
	if err != nil {
		return err
	}
	b.ch.stats.narRequests.Add(1)
	if !identity(resp.Header.Get("Content-Encoding")) {
		resp.Body.Close()
		return fmt.Errorf("resuming at byte %d: the cache answered with Content-Encoding %q", b.got, resp.Header.Get("Content-Encoding"))
	}
	switch resp.StatusCode {
	case http.StatusPartialContent:
		cr := resp.Header.Get("Content-Range")
		if start, total, ok := parseContentRange(cr); !ok || start != b.got || b.size >= 0 && total >= 0 && total != b.size {
			resp.Body.Close()
			return fmt.Errorf("resuming at byte %d: the cache answered Content-Range %q", b.got, cr)
		}
	case http.StatusOK:
		// The whole file (no ranges, or If-Range saw a change): skip what
		// was delivered; the hash check catches a file that changed.
		if _, err := io.CopyN(io.Discard, resp.Body, b.got); err != nil {
			resp.Body.Close()
			return err
		}
	default:
		resp.Body.Close()
		return b.c.requestError(b.ch, b.loc, resp.StatusCode, attempts, nil)
	}
	b.rc = resp.Body
	return nil
}

// resumeError is a NAR transfer that failed again after being resumed.
type resumeError struct {
	err     error
	resumes int
	at      int64
}

func (e *resumeError) Error() string {
	return fmt.Sprintf("%v (at byte %d of the file, after %d resumes)", e.err, e.at, e.resumes)
}

func (e *resumeError) Unwrap() error { return e.err }

// identity reports whether a Content-Encoding leaves the bytes as stored.
func identity(enc string) bool {
	enc = strings.ToLower(strings.TrimSpace(enc))
	return enc == "" || enc == "identity"
}

var contentRangeRE = regexp.MustCompile(`^bytes (\d+)-(\d+)/(\d+|\*)$`)

// parseContentRange reads "bytes START-END/TOTAL" (total -1 for "*").
func parseContentRange(v string) (start, total int64, ok bool) {
	m := contentRangeRE.FindStringSubmatch(strings.TrimSpace(v))
	if m == nil {
		return 0, 0, false
	}
	start, err := strconv.ParseInt(m[1], 10, 64)
	if err != nil {
		return 0, 0, false
	}
	total = -1
	if m[3] != "*" {
		if total, err = strconv.ParseInt(m[3], 10, 64); err != nil {
			return 0, 0, false
		}
	}
	return start, total, true
}
