package cdxschema

import (
	"strings"
	"testing"
)

const minimal = `{"bomFormat":"CycloneDX","specVersion":"1.6","version":1,
 "metadata":{"timestamp":"2024-05-06T07:08:09Z"},
 "components":[{"type":"library","name":"hello","version":"2.12","bom-ref":"/nix/store/x-hello-2.12",
   "hashes":[{"alg":"SHA-256","content":"` + hex64 + `"}]}]}`

const hex64 = "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"

func TestValidateAcceptsAndRefuses(t *testing.T) {
	if err := Validate(t, []byte(minimal)); err != nil {
		t.Fatalf("minimal BOM refused: %v", err)
	}
	for name, bad := range map[string]string{
		"hash alg":  strings.Replace(minimal, `"SHA-256"`, `"SHA256"`, 1),
		"timestamp": strings.Replace(minimal, `"2024-05-06T07:08:09Z"`, `"yesterday"`, 1),
		"spec":      strings.Replace(minimal, `"CycloneDX"`, `"SPDX"`, 1),
		"not JSON":  minimal[:20],
	} {
		if err := Validate(t, []byte(bad)); err == nil {
			t.Errorf("%s: accepted", name)
		}
	}
}
