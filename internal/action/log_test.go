package action

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"

	"github.com/org/nix-layer-action/internal/plan"
	"github.com/org/nix-layer-action/internal/report"
	"github.com/org/nix-layer-action/internal/testutil/actionrunner"
)

// hostileLines are lines that text from Nix, a plan or a registry could
// hold: every command the runner knows, at the start of a line, after
// blanks (ASCII and Unicode), in upper case, in the legacy "##[" form in
// the middle of a line, and after a bare "\r".
func hostileLines() []string {
	var out []string
	for _, c := range actionrunner.RunnerCommands {
		out = append(out,
			"::"+c+" name=digest,file=pwn::pwn-"+c,
			"   ::"+c+"::pwn-"+c,
			"\t \t::"+c+"::pwn-"+c,
			"\u00a0\u2003::"+c+"::pwn-"+c,
			"::"+strings.ToUpper(c)+"::pwn-"+c,
			"trace: ##["+c+" name=digest;]pwn-"+c,
			"progress 50%\r::"+c+"::pwn-"+c,
		)
	}
	return out
}

// obeyedInjection returns the commands the runner would obey in stdout
// that carry the "pwn" marker anywhere but in the message of one of the
// action's own annotations.
func obeyedInjection(stdout string, ownAnnotations ...string) []actionrunner.Command {
	var bad []actionrunner.Command
	for _, c := range actionrunner.Commands(stdout) {
		own := false
		for _, a := range ownAnnotations {
			if (c.Name == "error" || c.Name == "warning") && c.Data == a {
				own = true
			}
		}
		if !own && strings.Contains(strings.ToLower(c.Line), "pwn") {
			bad = append(bad, c)
		}
	}
	return bad
}

// TestRunLogCannotIssueCommands writes every runner command, in every form
// the runner accepts, through the build's log (as Nix's relayed stderr,
// progress lines and the pipeline's messages are), whole, a byte at a
// time, from several goroutines, and between phases (so the action's own
// group commands interleave). The runner must obey none of them, and still
// obey the action's own commands.
func TestRunLogCannotIssueCommands(t *testing.T) {
	_, srv := newFakeGitHub(t, "Octo-Org", "Hello-World", canary)
	e := newEnv(t, srv.URL)
	lines := hostileLines()
	stdout, err := e.run(t, srv.Client(), func(ctx context.Context, req Request) (*report.Report, error) {
		req.Phase("resolve")
		for _, l := range lines {
			fmt.Fprintln(req.Log, l)
		}
		req.Phase("build")
		for _, l := range lines {
			for i := range len(l) {
				req.Log.Write([]byte{l[i]})
			}
			req.Log.Write([]byte("\n"))
			req.Phase("build") // a command between two partial lines
		}
		var wg sync.WaitGroup
		for g := range 4 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for i, l := range lines {
					if i%4 == g {
						fmt.Fprintln(req.Log, l)
					}
				}
			}()
		}
		for range 20 {
			req.Phase("upload")
		}
		wg.Wait()
		fmt.Fprint(req.Log, "   ::set-output name=digest::pwn-unterminated")
		return cannedReport(req), nil
	})
	if err != nil {
		t.Fatalf("Run: %v", err)
	}
	if bad := obeyedInjection(stdout); len(bad) > 0 {
		t.Errorf("the runner would obey %d injected commands, e.g. %q", len(bad), bad[0].Line)
	}
	if outs := readOutputs(t, e.output); outs["digest"] != digest('d') {
		t.Errorf("digest output = %q", outs["digest"])
	}
	// The action's own commands still act.
	var masks, groups int
	for _, c := range actionrunner.Commands(stdout) {
		switch {
		case c.Name == "add-mask" && c.Data == canary:
			masks++
		case c.Name == "group" && (c.Data == "build" || c.Data == "Outputs"):
			groups++
		}
	}
	if masks != 1 || groups < 2 {
		t.Errorf("own commands: %d masks of the token, %d groups; want 1 and >= 2", masks, groups)
	}
	// And the text is all there, as text.
	for _, l := range lines[:3] {
		if !strings.Contains(stdout, l) {
			t.Errorf("log lacks %q", l)
		}
	}
	// A later step's commands still act: the runner is left processing.
	if cs := actionrunner.Commands(stdout + "::notice::next step\n"); len(cs) == 0 || cs[len(cs)-1].Data != "next step" {
		t.Errorf("the runner is left with commands stopped; log ends %q", stdout[max(0, len(stdout)-200):])
	}
}

// TestRunErrorCannotIssueCommands: a build error holding Nix's multi-line
// output (a throw, a trace) is one ::error:: annotation whose message is
// the whole text, and nothing in it acts.
func TestRunErrorCannotIssueCommands(t *testing.T) {
	e := newEnv(t, "http://127.0.0.1:1")
	msg := "nix build failed for .#app:\n" + strings.Join(hostileLines(), "\n") + "\n100% done"
	stdout, err := e.run(t, nil, func(ctx context.Context, req Request) (*report.Report, error) {
		return nil, errors.New(msg)
	})
	if err == nil {
		t.Fatal("Run succeeded")
	}
	if bad := obeyedInjection(stdout, msg); len(bad) > 0 {
		t.Errorf("the runner would obey %d injected commands, e.g. %q", len(bad), bad[0].Line)
	}
	found := false
	for _, c := range actionrunner.Commands(stdout) {
		found = found || c.Name == "error" && c.Data == msg
	}
	if !found {
		t.Errorf("no ::error:: annotation with the whole message:\n%s", stdout)
	}
}

// TestRunPlanErrorCannotIssueCommands: a plan error's field, message and
// file are escaped in its file annotation.
func TestRunPlanErrorCannotIssueCommands(t *testing.T) {
	e := newEnv(t, "http://127.0.0.1:1")
	pmsg := "bad value 100%\r::set-output name=digest::pwn\n##[add-path]pwn"
	stdout, _ := e.run(t, nil, func(ctx context.Context, req Request) (*report.Report, error) {
		return nil, &plan.Error{File: req.PlanFile, Line: 3, Field: "layers[0].name", Msg: pmsg}
	})
	want := "layers[0].name: " + pmsg
	if bad := obeyedInjection(stdout, want); len(bad) > 0 {
		t.Errorf("the runner would obey %d injected commands, e.g. %q", len(bad), bad[0].Line)
	}
	found := false
	for _, c := range actionrunner.Commands(stdout) {
		found = found || c.Name == "error" && c.Data == want && c.Properties["file"] == "nix-layers.yaml" && c.Properties["line"] == "3"
	}
	if !found {
		t.Errorf("no file annotation with the whole message:\n%s", stdout)
	}
}

// TestCommandLogLineStart: a command after text left without a line end
// still starts its own line, and text never runs while commands are on.
func TestCommandLogLineStart(t *testing.T) {
	var buf bytes.Buffer
	l := newCommandLog(&buf)
	n := 0
	l.newToken = func() string { n++; return fmt.Sprintf("tok%d", n) }
	l.command([]byte("::add-mask::s3cret\n"))
	l.Write([]byte("  ::warning::pwn"))
	l.Commands().Write([]byte("::group::build\n"))
	l.Write([]byte("##[set-output name=digest;]pwn\n"))
	l.Close()
	want := "::add-mask::s3cret\n::stop-commands::tok1\n  ::warning::pwn\n::tok1::\n::group::build\n" +
		"::stop-commands::tok2\n##[set-output name=digest;]pwn\n::tok2::\n"
	if buf.String() != want {
		t.Errorf("log = %q\nwant  %q", buf.String(), want)
	}
}

// FuzzCommandLog: whatever text is written, cut anywhere, with the
// action's own commands between the pieces, the runner obeys exactly the
// action's commands, in order, and is left processing commands.
func FuzzCommandLog(f *testing.F) {
	for _, l := range hostileLines() {
		f.Add(l+"\n"+l, []byte{3, 0, 7})
	}
	f.Add("::stop-commands::x\n::x::\n", []byte{1})
	f.Fuzz(func(t *testing.T, text string, cuts []byte) {
		var buf bytes.Buffer
		l := newCommandLog(&buf)
		var want []string
		for i := 0; len(text) > 0; i++ {
			n := len(text)
			if i < len(cuts) {
				n = min(n, int(cuts[i]))
			}
			l.Write([]byte(text[:n]))
			text = text[n:]
			g := fmt.Sprintf("g%d", i)
			l.Commands().Write([]byte("::group::" + g + "\n"))
			want = append(want, g)
		}
		l.Close()
		var got []string
		for _, c := range actionrunner.Commands(buf.String() + "::notice::after\n") {
			if c.Name != "group" || !strings.HasPrefix(c.Data, "g") {
				if c.Name == "notice" && c.Data == "after" {
					continue
				}
				t.Fatalf("obeyed %s %q from text; log %q", c.Name, c.Line, buf.String())
			}
			got = append(got, c.Data)
		}
		if strings.Join(got, ",") != strings.Join(want, ",") {
			t.Fatalf("obeyed groups %v, want %v; log %q", got, want, buf.String())
		}
		if cs := actionrunner.Commands(buf.String() + "::notice::after\n"); len(cs) == 0 || cs[len(cs)-1].Data != "after" {
			t.Fatalf("runner left stopped; log %q", buf.String())
		}
	})
}
