package secrets

import (
	"bytes"
	"encoding/base64"
	"errors"
	"fmt"
	"io/fs"
	"net/url"
	"strings"
	"sync"
	"testing"
)

func TestStringForms(t *testing.T) {
	s := New("topsecret", "x", "  ")
	in := "a=topsecret b=" + base64.StdEncoding.EncodeToString([]byte("topsecret")) + " c=x d=" + url.QueryEscape("topsecret")
	if got := s.String(in); got != "a=*** b=*** c=x d=***" {
		t.Fatalf("String = %q", got)
	}
	pw := "p@ss/w+rd"
	s.Add(pw)
	for _, form := range []string{pw, url.QueryEscape(pw), url.PathEscape(pw), base64.StdEncoding.EncodeToString([]byte(pw))} {
		if got := s.String("<" + form + ">"); got != "<***>" {
			t.Errorf("form %q: %q", form, got)
		}
	}
	var nilSet *Set
	if nilSet.String("topsecret") != "topsecret" || nilSet.Error(nil) != nil {
		t.Error("a nil Set must redact nothing")
	}
	nilSet.Add("ignored") // must not panic
}

func TestBasicAndAuthHeaders(t *testing.T) {
	s := New()
	basic := base64.StdEncoding.EncodeToString([]byte("alice:hunter22"))
	s.AddAuthHeader("Basic " + basic)
	s.AddAuthHeader("Bearer eyJhbGciOiJIUzI1NiJ9.payload.sig")
	text := fmt.Sprintf("user=alice header=%q cred=%s pw=hunter22 bearer=eyJhbGciOiJIUzI1NiJ9.payload.sig", "Basic "+basic, basic)
	got := s.String(text)
	for _, leak := range []string{"hunter22", basic, "eyJhbGciOiJIUzI1NiJ9"} {
		if strings.Contains(got, leak) {
			t.Errorf("%q survives: %q", leak, got)
		}
	}
	if !strings.Contains(got, "alice") {
		t.Errorf("a user name is not a secret: %q", got)
	}
	s2 := New()
	s2.AddBasic("bob", "sw0rdfish")
	if got := s2.String(base64.StdEncoding.EncodeToString([]byte("bob:sw0rdfish")) + " sw0rdfish"); got != "*** ***" {
		t.Errorf("AddBasic: %q", got)
	}
}

func TestNixConf(t *testing.T) {
	s := New()
	s.AddNixConf("substituters = https://c\naccess-tokens = github.com=ghp_aaaa1111 gitlab.com=glpat-bbbb\n extra-access-tokens = x.org=tok_cccc\nnetrc-file = /n")
	got := s.String("ghp_aaaa1111 glpat-bbbb tok_cccc https://c /n")
	if got != "*** *** *** https://c /n" {
		t.Errorf("AddNixConf: %q", got)
	}
}

func TestErrorKeepsChain(t *testing.T) {
	s := New("s3cr3t-value")
	base := fmt.Errorf("push: %w (token s3cr3t-value)", fs.ErrPermission)
	err := s.Error(base)
	if strings.Contains(err.Error(), "s3cr3t") || !errors.Is(err, fs.ErrPermission) {
		t.Errorf("Error: %q, Is=%v", err, errors.Is(err, fs.ErrPermission))
	}
	clean := errors.New("nothing secret")
	if s.Error(clean) != clean {
		t.Error("an error without secrets is returned as is")
	}
}

func TestWriterSplitWritesAndLateSecrets(t *testing.T) {
	var out bytes.Buffer
	s := New("abcd1234")
	w := s.Writer(&out)
	// A secret split across two writes is still redacted.
	fmt.Fprint(w, "token abcd")
	fmt.Fprint(w, "1234 ok\n")
	// A secret added later is redacted from what is written after.
	s.Add("late-secret")
	fmt.Fprint(w, "then late-secret\nunterminated late-secret")
	if strings.Contains(out.String(), "unterminated") {
		t.Errorf("unterminated tail passed on before Flush: %q", out.String())
	}
	if err := w.Flush(); err != nil {
		t.Fatal(err)
	}
	if got, want := out.String(), "token *** ok\nthen ***\nunterminated ***"; got != want {
		t.Errorf("got %q, want %q", got, want)
	}
	// A carriage return ends a line too (progress lines on a terminal).
	out.Reset()
	fmt.Fprint(w, "progress abcd1234\r")
	if out.String() != "progress ***\r" {
		t.Errorf("\\r line: %q", out.String())
	}
}

func TestWriterLongLineAndErrors(t *testing.T) {
	var out bytes.Buffer
	w := New("zzzz").Writer(&out)
	long := strings.Repeat("a", maxPending+10)
	fmt.Fprint(w, long)
	if out.Len() == 0 {
		t.Error("a line longer than the hold-back limit is never passed on")
	}
	fw := New().Writer(failWriter{})
	if n, err := fw.Write([]byte("x\n")); n != 2 || err != nil {
		t.Errorf("Write = %d, %v; log writes never fail", n, err)
	}
	if fw.Err() == nil {
		t.Error("the underlying error is not kept")
	}
}

type failWriter struct{}

func (failWriter) Write([]byte) (int, error) { return 0, errors.New("broken pipe") }

func TestConcurrentUse(t *testing.T) {
	var out bytes.Buffer
	s := New()
	w := s.Writer(&lockedBuffer{b: &out})
	var wg sync.WaitGroup
	for i := range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			sec := fmt.Sprintf("secret-%d-value", i)
			s.Add(sec)
			for range 50 {
				fmt.Fprintf(w, "line %s\n", sec)
			}
		}()
	}
	wg.Wait()
	w.Flush()
	if strings.Contains(out.String(), "secret-") {
		t.Errorf("a secret survived concurrent writes")
	}
	if got := strings.Count(out.String(), "line ***\n"); got != 400 {
		t.Errorf("%d whole lines, want 400", got)
	}
}

type lockedBuffer struct {
	mu sync.Mutex
	b  *bytes.Buffer
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

// FuzzString: a secret (no '*', at least MinLen bytes after trimming)
// never survives redaction, whatever the text around it, alone or with
// another.
func FuzzString(f *testing.F) {
	f.Add("token abcd1234 in Basic YWJjZDEyMzQ=", "abcd1234", "zzzz")
	f.Add("abababab", "abab", "baba")
	f.Add("x%2Fy a/b+c", "a/b+c", "")
	f.Fuzz(func(t *testing.T, text, s1, s2 string) {
		out := New(s1, s2).String(text)
		for _, s := range []string{s1, s2} {
			s = strings.TrimSpace(s)
			if len(s) >= MinLen && !strings.Contains(s, "*") && strings.Contains(out, s) {
				t.Fatalf("String(%q) with %q, %q = %q still holds %q", text, s1, s2, out, s)
			}
		}
	})
}
