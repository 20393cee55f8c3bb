// Package cdxschema validates CycloneDX 1.6 JSON against the official
// schema vendored in internal/sbom/testdata/schema (see SOURCE.md there),
// with format assertions on, fetching nothing. It is for tests outside
// internal/sbom that check an SBOM the program wrote.
package cdxschema

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"sync"
	"testing"

	"github.com/santhosh-tekuri/jsonschema/v6"
)

// files are the vendored schemas and the $id each is registered under.
var files = map[string]string{
	"bom-1.6.schema.json":  "http://cyclonedx.org/schema/bom-1.6.schema.json",
	"spdx.schema.json":     "http://cyclonedx.org/schema/spdx.schema.json",
	"jsf-0.82.schema.json": "http://cyclonedx.org/schema/jsf-0.82.schema.json",
}

var (
	once   sync.Once
	schema *jsonschema.Schema
	errC   error
)

// Dir is the directory of the vendored schemas.
func Dir() string {
	_, file, _, _ := runtime.Caller(0)
	return filepath.Join(filepath.Dir(file), "..", "..", "sbom", "testdata", "schema")
}

func compile() (*jsonschema.Schema, error) {
	c := jsonschema.NewCompiler()
	c.AssertFormat()
	for file, id := range files {
		f, err := os.Open(filepath.Join(Dir(), file))
		if err != nil {
			return nil, err
		}
		doc, err := jsonschema.UnmarshalJSON(f)
		f.Close()
		if err != nil {
			return nil, fmt.Errorf("%s: %w", file, err)
		}
		if err := c.AddResource(id, doc); err != nil {
			return nil, fmt.Errorf("%s: %w", file, err)
		}
	}
	return c.Compile(files["bom-1.6.schema.json"])
}

// Validate reports whether data is a CycloneDX 1.6 JSON document the
// schema accepts; a schema that does not load fails the test.
func Validate(t testing.TB, data []byte) error {
	t.Helper()
	once.Do(func() { schema, errC = compile() })
	if errC != nil {
		t.Fatalf("CycloneDX schema: %v", errC)
	}
	inst, err := jsonschema.UnmarshalJSON(bytes.NewReader(data))
	if err != nil {
		return fmt.Errorf("not JSON: %w", err)
	}
	return schema.Validate(inst)
}
