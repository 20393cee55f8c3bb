// Package ocischema validates OCI image manifests and configs against the
// image-spec's own JSON schemas, vendored in testdata (see SOURCE.md
// there), fetching nothing. It is for tests that check an image the
// program wrote.
package ocischema

import (
	"bytes"
	"fmt"
	"os"
	"path"
	"path/filepath"
	"runtime"
	"sync"
	"testing"

	"github.com/santhosh-tekuri/jsonschema/v6"
)

// Manifest and Config name the schemas Validate checks against.
const (
	Manifest = "image-manifest-schema.json"
	Config   = "config-schema.json"
)

var (
	once    sync.Once
	schemas map[string]*jsonschema.Schema
	errC    error
)

// dir is the directory of the vendored schemas.
func dir() string {
	_, file, _, _ := runtime.Caller(0)
	return filepath.Join(filepath.Dir(file), "testdata")
}

// loader serves every schema URL from the vendored file of the same base
// name, as the image-spec's own validator does with its embedded files.
type loader struct{}

func (loader) Load(url string) (any, error) {
	f, err := os.Open(filepath.Join(dir(), path.Base(url)))
	if err != nil {
		return nil, err
	}
	defer f.Close()
	return jsonschema.UnmarshalJSON(f)
}

func compile() (map[string]*jsonschema.Schema, error) {
	c := jsonschema.NewCompiler()
	c.UseLoader(loader{})
	c.DefaultDraft(jsonschema.Draft4)
	out := map[string]*jsonschema.Schema{}
	for _, name := range []string{Manifest, Config} {
		s, err := c.Compile("file:///oci/" + name)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", name, err)
		}
		out[name] = s
	}
	return out, nil
}

// Validate reports whether data is a document the named schema (Manifest
// or Config) accepts; a schema that does not load fails the test.
func Validate(t testing.TB, schema string, data []byte) error {
	t.Helper()
	once.Do(func() { schemas, errC = compile() })
	if errC != nil {
		t.Fatalf("OCI schema: %v", errC)
	}
	s, ok := schemas[schema]
	if !ok {
		t.Fatalf("no OCI schema %q", schema)
	}
	inst, err := jsonschema.UnmarshalJSON(bytes.NewReader(data))
	if err != nil {
		return fmt.Errorf("not JSON: %w", err)
	}
	return s.Validate(inst)
}
