package report

import (
	"bytes"
	"encoding/json"
	"strings"
	"testing"
)

func TestJSONShape(t *testing.T) {
	var buf bytes.Buffer
	if err := sampleReport().JSON(&buf); err != nil {
		t.Fatal(err)
	}
	var m map[string]any
	if err := json.Unmarshal(buf.Bytes(), &m); err != nil {
		t.Fatalf("invalid JSON: %v\n%s", err, buf.String())
	}
	for _, k := range []string{"image", "digest", "changed", "bytesPushed", "layers", "peakTempBytes"} {
		if _, ok := m[k]; !ok {
			t.Errorf("top-level key %q missing", k)
		}
	}
	if m["digest"] != fakeDigest("image") || m["changed"] != true || m["bytesPushed"] != float64(300<<20) {
		t.Errorf("wrong values: digest=%v changed=%v bytesPushed=%v", m["digest"], m["changed"], m["bytesPushed"])
	}
	layers := m["layers"].([]any)
	if len(layers) != 4 {
		t.Fatalf("got %d layers, want 4", len(layers))
	}
	want := []string{"name", "digest", "diffID", "size", "uncompressedSize", "paths", "key", "status"}
	for i, l := range layers {
		lm := l.(map[string]any)
		for _, k := range want {
			if _, ok := lm[k]; !ok {
				t.Errorf("layer %d: key %q missing", i, k)
			}
		}
		if _, ok := lm["paths"].([]any); !ok {
			t.Errorf("layer %d: paths is %T, want array (never null)", i, lm["paths"])
		}
		if _, ok := lm["PathSizes"]; ok {
			t.Errorf("layer %d: PathSizes must not be in JSON", i)
		}
	}
	statuses := []string{}
	for _, l := range layers {
		statuses = append(statuses, l.(map[string]any)["status"].(string))
	}
	if got := strings.Join(statuses, ","); got != "cached,pushed,pushed,empty" {
		t.Errorf("statuses = %s", got)
	}
	if m["imageSize"] != float64(1000<<20) {
		t.Errorf("imageSize = %v, want sum of compressed sizes %d", m["imageSize"], 1000<<20)
	}
	// Deterministic.
	var again bytes.Buffer
	_ = sampleReport().JSON(&again)
	if !bytes.Equal(buf.Bytes(), again.Bytes()) {
		t.Error("JSON output not deterministic")
	}
}

func TestTable(t *testing.T) {
	var buf bytes.Buffer
	if err := sampleReport().Table(&buf); err != nil {
		t.Fatal(err)
	}
	out := buf.String()
	lines := strings.Split(strings.TrimSpace(out), "\n")
	if !strings.HasPrefix(lines[len(lines)-1], "digest: sha256:") || !strings.HasSuffix(lines[len(lines)-1], fakeDigest("image")) {
		t.Errorf("last line should be the digest, got %q", lines[len(lines)-1])
	}
	for _, want := range []string{"NAME", "base", "python", "700.0 MiB", "2.0 GiB", "cached", "empty", "1000.0 MiB in 3 layers (pushed 2, cached 1)"} {
		if !strings.Contains(out, want) {
			t.Errorf("table lacks %q:\n%s", want, out)
		}
	}
	// The python row: 2 paths, 900 MiB uncompressed, 250 MiB compressed, pushed.
	var row string
	for _, l := range lines {
		if strings.Contains(l, " python ") {
			row = l
		}
	}
	if f := strings.Fields(row); len(f) < 9 || f[2] != "2" || f[3] != "-" || f[4]+f[5] != "900.0MiB" || f[6]+f[7] != "250.0MiB" || f[8] != "pushed" {
		t.Errorf("python row wrong: %q", row)
	}
	if !strings.Contains(lines[0], "NAR SIZE") || !strings.Contains(lines[0], "TAR SIZE") {
		t.Errorf("header %q lacks NAR SIZE (what plan prints) or TAR SIZE", lines[0])
	}
}

// "exists" is a layer that was rebuilt, found in the registry: not a cache
// hit. One layer is "1 layer".
func TestTableTallyKeepsExistsApartFromCached(t *testing.T) {
	r := &Report{Digest: "sha256:" + strings.Repeat("0", 64), Layers: []Layer{
		{Name: "a", Status: StatusCached, Size: 1, NarSize: 1024},
		{Name: "b", Status: StatusExists, Size: 1},
		{Name: "c", Status: StatusExists, Size: 1},
		{Name: "d", Status: StatusMounted, Size: 1},
		{Name: "root", Empty: true},
	}}
	var buf bytes.Buffer
	if err := r.Table(&buf); err != nil {
		t.Fatal(err)
	}
	if want := "in 4 layers (cached 1, mounted 1, exists 2)"; !strings.Contains(buf.String(), want) {
		t.Errorf("table lacks %q:\n%s", want, buf.String())
	}
	if !strings.Contains(buf.String(), "1.0 KiB") {
		t.Errorf("NAR SIZE missing:\n%s", buf.String())
	}
	var md bytes.Buffer
	if err := r.Markdown(&md); err != nil {
		t.Fatal(err)
	}
	if want := "| Cache hit rate | 50% (2 of 4 layers reused, not rebuilt: cached 1, mounted 1); exists 2 (rebuilt, the registry had the blob) |"; !strings.Contains(md.String(), want) {
		t.Errorf("summary lacks %q:\n%s", want, md.String())
	}
	one := &Report{Digest: r.Digest, Push: true, Layers: []Layer{{Name: "a", Status: StatusPushed, Size: 1}}}
	buf.Reset()
	md.Reset()
	_ = one.Table(&buf)
	_ = one.Markdown(&md)
	for _, out := range []string{buf.String(), md.String()} {
		if strings.Contains(out, "1 layers") || !strings.Contains(out, "1 layer") {
			t.Errorf("one layer is not \"1 layer\":\n%s", out)
		}
	}
}

func TestShortDigest(t *testing.T) {
	if got := ShortDigest("sha256:0123456789abcdef0123"); got != "sha256:0123456789ab" {
		t.Errorf("ShortDigest = %q", got)
	}
	if got := ShortDigest("latest"); got != "latest" {
		t.Errorf("ShortDigest(latest) = %q", got)
	}
}

// A from: row's tar size is unknown, not zero, and the summary counts each
// layer by the status word its row shows (issue 18).
func TestTableFromRowsOneVocabulary(t *testing.T) {
	r := &Report{Digest: "sha256:" + strings.Repeat("0", 64), Push: true, Layers: []Layer{
		{Name: "from-1", Status: StatusMounted, Size: 2048, Paths: []string{"/nix/store/" + strings.Repeat("a", 32) + "-bb"}},
		{Name: "app", Status: StatusPushed, Size: 1024, UncompressedSize: 4096, NarSize: 4000},
	}}
	var buf bytes.Buffer
	if err := r.Table(&buf); err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(buf.String(), "\n")
	if f := strings.Fields(lines[1]); len(f) != 8 || f[1] != "from-1" || f[3] != "-" || f[4] != "-" || f[7] != "mounted" {
		t.Errorf("from: row %q: want NAR SIZE and TAR SIZE -, status mounted", lines[1])
	}
	if want := "in 2 layers (pushed 1, mounted 1)"; !strings.Contains(buf.String(), want) {
		t.Errorf("summary lacks %q:\n%s", want, buf.String())
	}
	var md bytes.Buffer
	if err := r.Markdown(&md); err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"| 1 | `from-1` | 1 | – | 2.0 KiB | – | mounted |", "1 of 2 layers reused, not rebuilt: cached 0, mounted 1"} {
		if !strings.Contains(md.String(), want) {
			t.Errorf("Markdown lacks %q:\n%s", want, md.String())
		}
	}
}
