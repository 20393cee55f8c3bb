package report

import (
	"bytes"
	"html"
	"regexp"
	"strings"
	"testing"

	"github.com/yuin/goldmark"
	"github.com/yuin/goldmark/extension"
	ghtml "github.com/yuin/goldmark/renderer/html"
)

// hostileText is text a pull request or a cache could put in front of the
// renderer: Markdown links, images, emphasis, HTML, entities, mentions,
// references, autolinks, emoji, math, table cells and block starts.
var hostileText = []string{
	"evil 1.0@octocat [pwn](https:evil.example) **bold**",
	"![img](https://evil.example/x.png) <img src=x onerror=alert(1)> <script>pwn</script>",
	"_em_ *em* ~~del~~ `code` ``x`` $x^2$ $$y$$",
	"&#64;octocat &lt;b&gt; &amp; @octocat user@evil.example",
	"see #123 and org/repo#45 www.evil.example https://evil.example/p http://evil.example",
	":smile: :+1: | cell | injection |",
	"- list", "1. ordered", "1) ordered", "# heading", "> quote", "=== setext", "+ plus",
	"<details open>", "[ref]: https://evil.example", "<https://evil.example>",
	"line\nbreak\r\n## heading\n- item\n```\ncode", "back\\slash \\*",
}

// renderGFM renders Markdown as GitHub does, near enough: CommonMark with
// the GFM extensions (tables, strikethrough, autolinks, task lists) and raw
// HTML passed through, so that any HTML the text could inject shows.
func renderGFM(t *testing.T, md string) string {
	t.Helper()
	var out bytes.Buffer
	gm := goldmark.New(goldmark.WithExtensions(extension.GFM), goldmark.WithRendererOptions(ghtml.WithUnsafe()))
	if err := gm.Convert([]byte(md), &out); err != nil {
		t.Fatal(err)
	}
	return out.String()
}

var (
	tagRE  = regexp.MustCompile(`<(/?)([a-zA-Z][a-zA-Z0-9]*)[^>]*>`)
	codeRE = regexp.MustCompile(`(?s)<code>.*?</code>`)
	// What GitHub turns into a link or a notification after Markdown.
	liveRE = regexp.MustCompile(`(?i)@[a-z0-9]|(^|[^\w])#[0-9]|www\.|[a-z]:[a-z/]|:[a-z0-9+]+:`)
)

// checkInert fails when the rendered HTML of md has an element the tool's
// own Markdown does not make (allowed), markup whose content holds one of
// the hostile texts' markers, or text that GitHub would link.
func checkInert(t *testing.T, what, md string, allowed ...string) {
	t.Helper()
	out := renderGFM(t, md)
	ok := map[string]bool{"p": true, "code": true}
	for _, a := range allowed {
		ok[a] = true
	}
	for _, m := range tagRE.FindAllStringSubmatch(out, -1) {
		if !ok[strings.ToLower(m[2])] {
			t.Errorf("%s: rendered HTML has <%s>:\n%s\nfrom:\n%s", what, m[2], out, md)
			return
		}
	}
	for _, el := range []string{"strong", "em"} {
		re := regexp.MustCompile(`(?s)<` + el + `>(.*?)</` + el + `>`)
		for _, m := range re.FindAllStringSubmatch(out, -1) {
			if m[1] == "em" || m[1] == "bold" || m[1] == "l" { // the hostile texts' own emphasis
				t.Errorf("%s: hostile text became <%s>%s</%s>", what, el, m[1], el)
			}
		}
	}
	text := html.UnescapeString(tagRE.ReplaceAllString(codeRE.ReplaceAllString(out, " "), " "))
	if m := liveRE.FindString(text); m != "" {
		t.Errorf("%s: GitHub would link %q in the rendered text:\n%s", what, m, text)
	}
}

// TestInertRendersAsText puts each hostile text where the summary and the
// PR comment put outside text: a paragraph start, a table cell, a list
// item, a quote, a heading. Each renders as its own text (less line breaks
// and zero-width spaces) and as nothing else.
func TestInertRendersAsText(t *testing.T) {
	for _, s := range hostileText {
		contexts := map[string]string{
			"paragraph": Inert(s) + "\n",
			"table":     "| a | b |\n|--|--|\n| " + Inert(s) + " | x |\n",
			"list":      "- " + Inert(s) + "\n",
			"quote":     "> " + Inert(s) + "\n",
			"heading":   "#### " + Inert(s) + "\n",
			"code":      "| a |\n|--|\n| `" + InertCode(s) + "` |\n",
		}
		allowed := map[string][]string{
			"table": {"table", "thead", "tbody", "tr", "th", "td"}, "code": {"table", "thead", "tbody", "tr", "th", "td"},
			"list": {"ul", "li"}, "quote": {"blockquote"}, "heading": {"h4"},
		}
		for where, md := range contexts {
			checkInert(t, where+" "+s, md, allowed[where]...)
			if where == "code" || where == "table" {
				continue
			}
			want := strings.Join(strings.Fields(s), " ")
			got := strings.Join(strings.Fields(html.UnescapeString(tagRE.ReplaceAllString(strings.ReplaceAll(renderGFM(t, md), zwsp, ""), " "))), " ")
			if got != want {
				t.Errorf("%s: %q renders as %q", where, s, got)
			}
		}
	}
}

// TestSummaryAndCommentInert renders the job summary and the PR comment of
// a report whose layer names, store paths (names and versions), warnings,
// notes and platform hold hostile text: nothing in them may link, mention,
// emphasise, embed or inject HTML.
func TestSummaryAndCommentInert(t *testing.T) {
	const h = "/nix/store/0c2ljyg2j3hbb4xmz3ln8c7fdvhbk4xd-"
	evilPath := h + "evil-1.0@octocat [pwn](https:evil.example) **bold**"
	evilName := h + "**bold**[x](https://evil.example)@octocat_<b>-2.0"
	prev := []LayerPaths{{Name: "ml", Key: "k1", Paths: []PathSize{{Path: h + "evil-0.9", NarSize: 1}, {Path: h + "gone-1.0 @octocat #12", NarSize: 1}}}}
	next := []LayerPaths{{Name: "ml", Key: "k2", Paths: []PathSize{{Path: evilPath, NarSize: 2}, {Path: evilName, NarSize: 3}}},
		{Name: "[x](https://evil.example) @octocat **l**", Key: "k3", Paths: []PathSize{{Path: h + "www.evil.example-1.0", NarSize: 1}}}}
	rep := &Report{
		Image: "ghcr.io/o/app:pr-1", Platform: "linux/amd64 @octocat [x](https://evil.example)", Digest: "sha256:" + strings.Repeat("a", 64),
		PreviousDigest: "sha256:" + strings.Repeat("b", 64) + " @octocat",
		Layers: []Layer{
			{Name: "ml", Status: StatusPushed, Paths: []string{evilPath, evilName}},
			{Name: "[x](https://evil.example) @octocat **l** <img src=x>", Status: StatusPushed, Paths: []string{h + "www.evil.example-1.0"}},
		},
		Warnings: hostileText,
		Diff:     ComputeDiff(prev, next),
	}
	var sum bytes.Buffer
	if err := rep.Markdown(&sum); err != nil {
		t.Fatal(err)
	}
	checkInert(t, "summary", sum.String(), "h3", "table", "thead", "tbody", "tr", "th", "td", "strong", "em", "ul", "li", "details", "summary")
	var com bytes.Buffer
	if err := PRComment(&com, rep.Diff, PRCommentOptions{Image: rep.Image, Platform: rep.Platform, PreviousDigest: rep.PreviousDigest, Notes: hostileText}); err != nil {
		t.Fatal(err)
	}
	checkInert(t, "PR comment", strings.TrimPrefix(com.String(), PRCommentMarkerFor(rep.Platform)+"\n"),
		"h3", "h4", "table", "thead", "tbody", "tr", "th", "td", "strong", "em", "ul", "li", "blockquote")
	if !strings.Contains(strings.ReplaceAll(renderGFM(t, com.String()), zwsp, ""), "1.0@octocat [pwn](https:evil.example) **bold**") {
		t.Errorf("the version is not shown as written:\n%s", com.String())
	}
}

// FuzzInert: whatever the text, Inert gives one line that renders (GFM)
// as a paragraph of exactly that text and nothing else, and in which
// GitHub would link nothing.
func FuzzInert(f *testing.F) {
	for _, s := range hostileText {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		md := Inert(s)
		if strings.ContainsAny(md, "\r\n") {
			t.Fatalf("Inert(%q) = %q has a line break", s, md)
		}
		out := renderGFM(t, md+"\n")
		for _, m := range tagRE.FindAllStringSubmatch(out, -1) {
			if m[2] != "p" {
				t.Fatalf("Inert(%q) renders with <%s>: %s", s, m[2], out)
			}
		}
		text := html.UnescapeString(tagRE.ReplaceAllString(out, ""))
		if m := liveRE.FindString(text); m != "" {
			t.Fatalf("Inert(%q): GitHub would link %q in %q", s, m, text)
		}
		want := strings.Join(strings.Fields(strings.ToValidUTF8(controlsToSpace(s), "\ufffd")), " ")
		if got := strings.Join(strings.Fields(strings.ReplaceAll(text, zwsp, "")), " "); got != want {
			t.Fatalf("Inert(%q) renders as %q, want %q", s, got, want)
		}
	})
}

func controlsToSpace(s string) string {
	return strings.Map(func(r rune) rune {
		if r < 0x20 || r == 0x7f || r == '\u2028' || r == '\u2029' || r == '\u0085' {
			return ' '
		}
		return r
	}, s)
}
