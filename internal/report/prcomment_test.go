package report

import (
	"bytes"
	"fmt"
	"strings"
	"testing"
	"unicode/utf8"
)

func sampleDiff() *Diff {
	prev := []LayerPaths{
		{Name: "base", Key: "a", Paths: []PathSize{sp(h1, "glibc-2.39-52", 30<<20)}},
		{Name: "ml", Key: "b", Paths: []PathSize{sp(h1, "torch-2.9.0", 1<<30), sp(h1, "oldlib-1.0", 1<<20)}},
	}
	next := []LayerPaths{
		{Name: "base", Key: "a", Paths: prev[0].Paths},
		{Name: "ml", Key: "c", Paths: []PathSize{sp(h2, "torch-2.10.0", 1<<30+100<<20), sp(h2, "newlib-2.0", 2<<20)}},
	}
	return ComputeDiff(prev, next)
}

func TestPRComment(t *testing.T) {
	var buf bytes.Buffer
	err := PRComment(&buf, sampleDiff(), PRCommentOptions{
		Image: "ghcr.io/octo/app:main", PreviousDigest: fakeDigest("prev"),
		Notes: []string{"max-growth: image grew by +100 MiB"},
	})
	if err != nil {
		t.Fatal(err)
	}
	out := buf.String()
	if !strings.HasPrefix(out, PRCommentMarker+"\n") {
		t.Errorf("comment must start with the marker:\n%s", out)
	}
	for _, want := range []string{
		"**1 of 2 layers** would be rebuilt",
		"`" + ShortDigest(fakeDigest("prev")) + "`",
		"> max-growth: image grew by +100 MiB",
		"⬆️ `torch` 2.9.0 → 2.10.0 (+100.0 MiB)",
		"➕ `newlib` 2.0 (2.0 MiB)",
		"➖ `oldlib` 1.0 (1.0 MiB)",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("comment lacks %q:\n%s", want, out)
		}
	}
	tables := gfmTables(t, out)
	if len(tables) != 1 || len(tables[0]) != 3 {
		t.Fatalf("want one table with 2 layer rows, got %v", tables)
	}
	if row := tables[0][2]; row[0] != "`ml`" || row[1] != "rebuilt" || row[2] != "1" || row[3] != "1" || row[4] != "1" {
		t.Errorf("ml row = %q", row)
	}
	if strings.Contains(out, "#### `base`") {
		t.Error("unchanged layer should have no details section")
	}
}

func TestPRCommentNoPrevious(t *testing.T) {
	var buf bytes.Buffer
	d := ComputeDiff(nil, []LayerPaths{{Name: "a", Paths: []PathSize{sp(h1, "a-1", 1)}}})
	if err := PRComment(&buf, d, PRCommentOptions{Image: "r.example/x:nope"}); err != nil {
		t.Fatal(err)
	}
	// One line says so; no table listing every layer as new.
	if want := "No image is published at `r.example/x:nope` (no such tag or repository), so there is nothing to compare with: every layer of the plan (1) would be new.\n"; !strings.HasSuffix(buf.String(), "\n\n"+want) || strings.Contains(buf.String(), "| `a` |") {
		t.Errorf("got:\n%s\nwant it to end in the one line\n%s", buf.String(), want)
	}
}

// A published image in another compression than the plan: every key
// differs, and the comment says that is why, in the summary and the table.
func TestPRCommentCompressionChange(t *testing.T) {
	paths := []PathSize{sp(h1, "a-1", 1)}
	d := ComputeDiff(
		[]LayerPaths{{Name: "a", Key: "k1", Paths: paths, Compression: "zstd"}, {Name: "b", Key: "k3", Paths: paths, Compression: "zstd"}},
		[]LayerPaths{{Name: "a", Key: "k2", Paths: paths, Compression: "gzip"}, {Name: "b", Key: "k4", Paths: []PathSize{sp(h2, "a-2", 1)}, Compression: "gzip"}})
	if d.Compression == nil || *d.Compression != (CompressionChange{From: "zstd", To: "gzip", Layers: 1}) {
		t.Fatalf("compression change = %+v, want zstd → gzip for 1 layer", d.Compression)
	}
	var buf bytes.Buffer
	if err := PRComment(&buf, d, PRCommentOptions{}); err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{
		"**2 of 2 layers** would be rebuilt",
		"**The published image's layers are zstd and the plan's gzip**, and the compression is part of every layer key, so 1 layer with no package changed would be rebuilt. Build in zstd to reuse them.",
		"| `a` | rebuilt (compression zstd → gzip) | 0 | 0 | 0 |",
		"| `b` | rebuilt (compression zstd → gzip) | 0 | 0 | 1 |",
	} {
		if !strings.Contains(buf.String(), want) {
			t.Errorf("PR comment lacks %q:\n%s", want, buf.String())
		}
	}
	// Same compression: no note.
	d = ComputeDiff([]LayerPaths{{Name: "a", Key: "k1", Paths: paths, Compression: "gzip"}}, []LayerPaths{{Name: "a", Key: "k2", Paths: paths, Compression: "gzip"}})
	if d.Compression != nil || d.Layers[0].Reason != "" {
		t.Errorf("same compression: %+v, %q", d.Compression, d.Layers[0].Reason)
	}
}

func TestPRCommentLimit(t *testing.T) {
	var prev, next []LayerPaths
	for i := 0; i < 300; i++ {
		p := LayerPaths{Name: fmt.Sprintf("layer-%03d", i), Key: "old"}
		n := LayerPaths{Name: p.Name, Key: "new"}
		for j := 0; j < 200; j++ {
			p.Paths = append(p.Paths, sp(h1, fmt.Sprintf("package-number-%d-%d-1.0", i, j), 1000))
			n.Paths = append(n.Paths, sp(h2, fmt.Sprintf("package-number-%d-%d-1.1", i, j), 1100))
		}
		prev, next = append(prev, p), append(next, n)
	}
	d := ComputeDiff(prev, next)
	var buf bytes.Buffer
	if err := PRComment(&buf, d, PRCommentOptions{MaxItems: 1000}); err != nil {
		t.Fatal(err)
	}
	out := buf.String()
	if len(out) >= PRCommentLimit || utf8.RuneCountInString(out) >= PRCommentLimit {
		t.Errorf("comment is %d bytes", len(out))
	}
	if !strings.Contains(out, "… and ") || !strings.HasPrefix(out, PRCommentMarker) {
		t.Error("missing truncation note or marker")
	}
	if !strings.Contains(out, "**300 of 300 layers** would be rebuilt") {
		t.Error("summary line must survive truncation")
	}
	gfmTables(t, out)

	// Per-layer item limit.
	buf.Reset()
	_ = PRComment(&buf, ComputeDiff(prev[:1], next[:1]), PRCommentOptions{MaxItems: 5})
	if got := strings.Count(buf.String(), "⬆️"); got != 5 || !strings.Contains(buf.String(), "- … and 195 more") {
		t.Errorf("MaxItems 5: %d items\n%s", got, buf.String())
	}
}
