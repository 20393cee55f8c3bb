package sbom

import (
	"bytes"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"os"
	"path/filepath"
	"testing"
	"time"

	cdx "github.com/CycloneDX/cyclonedx-go"
	"github.com/nix-community/go-nix/pkg/nixbase32"
	"github.com/santhosh-tekuri/jsonschema/v6"

	"github.com/org/nix-layer-action/internal/closure"
)

// sp returns a syntactically valid store path for name, its hash derived
// from name so fixtures are stable.
func sp(name string) string {
	sum := sha256.Sum256([]byte("store path " + name))
	return "/nix/store/" + nixbase32.EncodeToString(sum[:20]) + "-" + name
}

// narDigest is a fake NAR digest for a path.
func narDigest(path string) []byte {
	sum := sha256.Sum256([]byte("nar " + path))
	return sum[:]
}

// narHashIn spells a path's fake NAR digest in one of the forms Nix prints.
func narHashIn(form int, path string) string {
	d := narDigest(path)
	switch form % 3 {
	case 0:
		return "sha256:" + nixbase32.EncodeToString(d)
	case 1:
		return "sha256-" + base64.StdEncoding.EncodeToString(d)
	default:
		return "sha256:" + hex.EncodeToString(d)
	}
}

// fixture is a small closure: app → python-numpy, glibc-bin (multi
// output), openssl-dev; glibc references itself; "unrelated" is in the
// graph but outside the closure of app.
type fixture struct {
	g     *closure.Graph
	app   string
	infos []closure.PathInfo
}

func newFixture(t testing.TB) fixture {
	t.Helper()
	app := sp("my-app-1.0")
	numpy := sp("python3.11-numpy-1.26.4")
	glibc := sp("glibc-2.39-52")
	glibcBin := sp("glibc-2.39-52-bin")
	ssl := sp("openssl-3.0.13-dev")
	hello := sp("hello")
	unrelated := sp("unrelated-9")
	refs := map[string][]string{
		app:       {numpy, glibcBin, ssl, hello, app},
		numpy:     {glibc},
		glibc:     {glibc},
		glibcBin:  {glibc},
		ssl:       {glibc},
		hello:     nil,
		unrelated: {glibc},
	}
	var infos []closure.PathInfo
	i := 0
	for _, p := range []string{app, numpy, glibc, glibcBin, ssl, hello, unrelated} {
		infos = append(infos, closure.PathInfo{Path: p, NarHash: narHashIn(i, p), NarSize: int64(1000 + i), References: refs[p]})
		i++
	}
	g, err := closure.NewGraph(infos)
	if err != nil {
		t.Fatal(err)
	}
	return fixture{g: g, app: app, infos: infos}
}

func testOptions() Options {
	return Options{
		ImageName:    "ghcr.io/org/app",
		ImageVersion: "v1.2.3",
		ImageDigest:  "sha256:" + hex.EncodeToString(narDigest("image")),
		Architecture: "amd64",
		Timestamp:    time.Date(2024, 5, 6, 7, 8, 9, 0, time.UTC),
		ToolVersion:  "0.9.0",
	}
}

func encode(t testing.TB, bom *cdx.BOM) []byte {
	t.Helper()
	var b bytes.Buffer
	if err := Write(&b, bom); err != nil {
		t.Fatal(err)
	}
	return b.Bytes()
}

// schemaFiles are the vendored CycloneDX schemas (see testdata/schema/SOURCE.md)
// and the $id each is registered under, so nothing is fetched.
var schemaFiles = map[string]string{
	"bom-1.6.schema.json":  "http://cyclonedx.org/schema/bom-1.6.schema.json",
	"spdx.schema.json":     "http://cyclonedx.org/schema/spdx.schema.json",
	"jsf-0.82.schema.json": "http://cyclonedx.org/schema/jsf-0.82.schema.json",
}

// cdxSchema compiles the official CycloneDX 1.6 JSON schema, with format
// assertions on (date-time, iri-reference, …).
func cdxSchema(t testing.TB) *jsonschema.Schema {
	t.Helper()
	c := jsonschema.NewCompiler()
	c.AssertFormat()
	for file, id := range schemaFiles {
		f, err := os.Open(filepath.Join("testdata", "schema", file))
		if err != nil {
			t.Fatal(err)
		}
		doc, err := jsonschema.UnmarshalJSON(f)
		f.Close()
		if err != nil {
			t.Fatalf("%s: %v", file, err)
		}
		if err := c.AddResource(id, doc); err != nil {
			t.Fatalf("%s: %v", file, err)
		}
	}
	sch, err := c.Compile(schemaFiles["bom-1.6.schema.json"])
	if err != nil {
		t.Fatalf("compile CycloneDX schema: %v", err)
	}
	return sch
}

func validate(t testing.TB, sch *jsonschema.Schema, data []byte) error {
	t.Helper()
	inst, err := jsonschema.UnmarshalJSON(bytes.NewReader(data))
	if err != nil {
		t.Fatalf("output is not JSON: %v", err)
	}
	return sch.Validate(inst)
}

// decoded is the part of the JSON output the tests look at, read back
// with plain encoding/json rather than cyclonedx-go.
type decoded struct {
	SpecVersion string `json:"specVersion"`
	Metadata    struct {
		Timestamp string `json:"timestamp"`
		Component struct {
			BOMRef string `json:"bom-ref"`
			Type   string `json:"type"`
			Name   string `json:"name"`
			PURL   string `json:"purl"`
		} `json:"component"`
		Tools struct {
			Components []struct {
				Name    string `json:"name"`
				Version string `json:"version"`
			} `json:"components"`
		} `json:"tools"`
	} `json:"metadata"`
	Components []struct {
		BOMRef  string `json:"bom-ref"`
		Name    string `json:"name"`
		Version string `json:"version"`
		PURL    string `json:"purl"`
		Hashes  []struct {
			Alg     string `json:"alg"`
			Content string `json:"content"`
		} `json:"hashes"`
		Properties []struct {
			Name  string `json:"name"`
			Value string `json:"value"`
		} `json:"properties"`
	} `json:"components"`
	Dependencies []struct {
		Ref       string   `json:"ref"`
		DependsOn []string `json:"dependsOn"`
	} `json:"dependencies"`
}

func decode(t testing.TB, data []byte) decoded {
	t.Helper()
	var d decoded
	if err := json.Unmarshal(data, &d); err != nil {
		t.Fatal(err)
	}
	return d
}
