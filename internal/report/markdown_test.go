package report

import (
	"bytes"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
)

var update = flag.Bool("update", false, "rewrite golden files")

var digestRE = regexp.MustCompile(`sha256:[0-9a-f]{12,64}`)

// normalise replaces digests by stable placeholders (in order of appearance).
func normalise(s string) string {
	seen := map[string]string{}
	return digestRE.ReplaceAllStringFunc(s, func(d string) string {
		if r, ok := seen[d]; ok {
			return r
		}
		r := fmt.Sprintf("sha256:<digest-%d>", len(seen)+1)
		seen[d] = r
		return r
	})
}

func golden(t *testing.T, name, got string) {
	t.Helper()
	p := filepath.Join("testdata", name)
	if *update {
		if err := os.WriteFile(p, []byte(got), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(p)
	if err != nil {
		t.Fatalf("reading golden file (run go test -update to create): %v", err)
	}
	if string(want) != got {
		t.Errorf("output differs from %s (run go test -update after checking):\n--- got ---\n%s\n--- want ---\n%s", p, got, want)
	}
}

// gfmTables finds GFM tables in s and checks their structure: a header row,
// a delimiter row with the same number of cells, and body rows with that
// number of cells. It returns the tables as rows of trimmed cells.
func gfmTables(t *testing.T, s string) [][][]string {
	t.Helper()
	delim := regexp.MustCompile(`^\s*:?-+:?\s*$`)
	lines := strings.Split(s, "\n")
	var tables [][][]string
	for i := 0; i+1 < len(lines); i++ {
		if !strings.HasPrefix(lines[i], "|") || !strings.HasPrefix(lines[i+1], "|") {
			continue
		}
		sep := splitRow(lines[i+1])
		isDelim := len(sep) > 0
		for _, c := range sep {
			if !delim.MatchString(c) {
				isDelim = false
			}
		}
		if !isDelim {
			continue
		}
		header := splitRow(lines[i])
		if len(header) != len(sep) {
			t.Fatalf("table at line %d: header has %d cells, delimiter row %d", i+1, len(header), len(sep))
		}
		if i > 0 && strings.TrimSpace(lines[i-1]) != "" {
			t.Fatalf("table at line %d is not preceded by a blank line: %q", i+1, lines[i-1])
		}
		table := [][]string{header}
		j := i + 2
		for ; j < len(lines) && strings.HasPrefix(lines[j], "|"); j++ {
			row := splitRow(lines[j])
			if len(row) != len(header) {
				t.Fatalf("table row at line %d has %d cells, header %d: %q", j+1, len(row), len(header), lines[j])
			}
			table = append(table, row)
		}
		tables = append(tables, table)
		i = j
	}
	return tables
}

// splitRow splits a GFM table row at unescaped pipes (pipes inside code
// spans must be escaped in GFM too).
func splitRow(line string) []string {
	line = strings.TrimSpace(line)
	if !strings.HasPrefix(line, "|") || !strings.HasSuffix(line, "|") || len(line) < 2 {
		return nil
	}
	line = line[1 : len(line)-1]
	var cells []string
	var cur strings.Builder
	for i := 0; i < len(line); i++ {
		if line[i] == '\\' && i+1 < len(line) {
			cur.WriteByte(line[i])
			cur.WriteByte(line[i+1])
			i++
			continue
		}
		if line[i] == '|' {
			cells = append(cells, strings.TrimSpace(cur.String()))
			cur.Reset()
			continue
		}
		cur.WriteByte(line[i])
	}
	return append(cells, strings.TrimSpace(cur.String()))
}

func TestMarkdownGolden(t *testing.T) {
	var buf bytes.Buffer
	if err := sampleReport().Markdown(&buf); err != nil {
		t.Fatal(err)
	}
	golden(t, "summary.golden.md", normalise(buf.String()))
}

func TestMarkdownIsGFMTable(t *testing.T) {
	r := sampleReport()
	r.Layers[0].Name = "we|ird" // must not break the table
	var buf bytes.Buffer
	if err := r.Markdown(&buf); err != nil {
		t.Fatal(err)
	}
	tables := gfmTables(t, buf.String())
	if len(tables) != 2 {
		t.Fatalf("want 2 tables (layers, totals), got %d:\n%s", len(tables), buf.String())
	}
	layers := tables[0]
	wantHeader := []string{"#", "Layer", "Store paths", "Uncompressed", "Compressed", "Δ vs previous", "Status"}
	if strings.Join(layers[0], ",") != strings.Join(wantHeader, ",") {
		t.Errorf("header = %q", layers[0])
	}
	if len(layers) != 1+len(r.Layers) {
		t.Fatalf("want %d layer rows, got %d", len(r.Layers), len(layers)-1)
	}
	// Row contents, column by column.
	py := layers[2]
	if py[0] != "2" || py[1] != "`python`" || py[2] != "2" || py[3] != "900.0 MiB" || py[4] != "250.0 MiB" || py[5] != "+10.0 MiB" || py[6] != "pushed" {
		t.Errorf("python row = %q", py)
	}
	if app := layers[3]; app[5] != "new" {
		t.Errorf("app layer has no previous: delta = %q, want new", app[5])
	}
	if base := layers[1]; base[5] != "±0" || base[6] != "cached" || base[1] != "`we\\|ird`" {
		t.Errorf("base row = %q", base)
	}
	if tools := layers[4]; tools[6] != "empty" || tools[4] != "–" {
		t.Errorf("empty row = %q", tools)
	}
	totals := map[string]string{}
	for _, row := range tables[1][1:] {
		totals[row[0]] = row[1]
	}
	checks := map[string]string{
		"Image size":             "1000.0 MiB in 3 layers",
		"Uploaded":               "300.0 MiB (2 of 3 layers pushed)",
		"Cache hit rate":         "33% (1 of 3 layers reused, not rebuilt)",
		"Cumulative-layer build": "6.0 GiB uncompressed; this image holds 3.0 GiB (50% less)",
	}
	for k, want := range checks {
		if totals[k] != want {
			t.Errorf("totals[%q] = %q, want %q", k, totals[k], want)
		}
	}
	if !strings.Contains(buf.String(), "**Digest:** `"+fakeDigest("image")+"`") {
		t.Error("full digest missing")
	}
	if !strings.Contains(buf.String(), "[Package](https://github.com/octo/app/pkgs/container/app)") {
		t.Error("package link missing")
	}
}

func TestMarkdownSizeLimit(t *testing.T) {
	r := sampleReport()
	r.Layers = nil
	for i := 0; i < 1000; i++ {
		l := Layer{Name: fmt.Sprintf("layer-%04d", i), Size: 1 << 20, UncompressedSize: 2 << 20, Status: StatusPushed}
		for j := 0; j < 200; j++ {
			l.Paths = append(l.Paths, storePath(fmt.Sprint(i, j), fmt.Sprintf("pkg%d-1.%d", j, i)))
		}
		r.Layers = append(r.Layers, l)
	}
	for _, limit := range []int{0, 64 << 10, 4 << 10} {
		var buf bytes.Buffer
		if err := r.Markdown(&buf, MarkdownOptions{MaxBytes: limit}); err != nil {
			t.Fatal(err)
		}
		out := buf.String()
		max := limit
		if max == 0 {
			max = SummaryLimit
		}
		if len(out) > max {
			t.Errorf("limit %d: output is %d bytes", limit, len(out))
		}
		for _, must := range []string{"| Image size | 1000.0 MiB in 1000 layers |", "| Uploaded |", "**Digest:**", "[Package]("} {
			if !strings.Contains(out, must) {
				t.Errorf("limit %d: totals truncated, missing %q", limit, must)
			}
		}
		if !strings.Contains(out, "more") {
			t.Errorf("limit %d: no truncation note", limit)
		}
		gfmTables(t, out) // still well-formed
	}
}

// A matrix job's summary names its platform in the title, so the jobs'
// summaries of one run tell apart.
func TestMarkdownTitleNamesThePlatform(t *testing.T) {
	r := sampleReport()
	r.Platform = "linux/arm64"
	var buf bytes.Buffer
	if err := r.Markdown(&buf); err != nil {
		t.Fatal(err)
	}
	first, _, _ := strings.Cut(buf.String(), "\n")
	if !strings.HasPrefix(first, "### nix-layer-action: `") || !strings.HasSuffix(first, "` (linux/arm64)") {
		t.Errorf("title %q does not end with the platform", first)
	}
	r.Platform = ""
	buf.Reset()
	if err := r.Markdown(&buf); err != nil {
		t.Fatal(err)
	}
	if first, _, _ := strings.Cut(buf.String(), "\n"); strings.Contains(first, "(") {
		t.Errorf("title without a platform %q", first)
	}
}

// A fresh run's summary says how much of the closure it downloaded.
func TestMarkdownDownloadedOfClosure(t *testing.T) {
	r := sampleReport()
	var buf bytes.Buffer
	if err := r.Markdown(&buf); err != nil {
		t.Fatal(err)
	}
	if strings.Contains(buf.String(), "Downloaded") {
		t.Errorf("a run that asked no cache shows a download row:\n%s", buf.String())
	}
	r.Fetch = &Fetch{NarinfoRequests: 33, NarinfoBytes: 19550, NARRequests: 1, NARWireBytes: 4869696, NARBytes: 20715424, ClosureNARBytes: 379488728}
	buf.Reset()
	if err := r.Markdown(&buf); err != nil {
		t.Fatal(err)
	}
	want := "| Downloaded from binary caches | 19.8 MiB of 361.9 MiB closure (4.6 MiB of NAR as sent, 33 narinfo requests) |"
	if !strings.Contains(buf.String(), want) {
		t.Errorf("summary lacks %q:\n%s", want, buf.String())
	}
}

// A part of a sharded build says so in its summary's title and its table.
func TestShardNamedInSummaryAndTable(t *testing.T) {
	r := sampleReport()
	r.Platform, r.Shard = "linux/amd64", "2/4"
	var md, table bytes.Buffer
	if err := r.Markdown(&md); err != nil {
		t.Fatal(err)
	}
	if first, _, _ := strings.Cut(md.String(), "\n"); !strings.HasSuffix(first, "` (linux/amd64), shard 2/4") {
		t.Errorf("title %q does not name the shard", first)
	}
	if err := r.Table(&table); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(table.String(), "\nshard: 2/4 of the layers") {
		t.Errorf("table does not name the shard:\n%s", table.String())
	}
}
