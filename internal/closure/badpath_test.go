package closure

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// badStoreNames are store path base names Nix would never accept, each
// with the hash part of a valid one where the name is the problem.
var badStoreNames = map[string]string{
	"markdown":      "0c2ljyg2j3hbb4xmz3ln8c7fdvhbk4xd-evil 1.0@octocat [pwn](https:evil.example) **bold**",
	"mention":       "0c2ljyg2j3hbb4xmz3ln8c7fdvhbk4xd-evil@octocat",
	"html":          "0c2ljyg2j3hbb4xmz3ln8c7fdvhbk4xd-<img>",
	"command":       "0c2ljyg2j3hbb4xmz3ln8c7fdvhbk4xd-::warning::pwn",
	"newline":       "0c2ljyg2j3hbb4xmz3ln8c7fdvhbk4xd-a\n::set-output name=digest::pwn",
	"non-ascii":     "0c2ljyg2j3hbb4xmz3ln8c7fdvhbk4xd-caf\u00e9",
	"dot component": "0c2ljyg2j3hbb4xmz3ln8c7fdvhbk4xd-..-1.0",
	"too long":      "0c2ljyg2j3hbb4xmz3ln8c7fdvhbk4xd-" + strings.Repeat("a", 212),
	"hash letter e": "ec2ljyg2j3hbb4xmz3ln8c7fdvhbk4xd-hello",
	"short hash":    "0c2ljyg2j3hbb4xmz3ln8c7fdvhbk4x-hello",
	"no name":       "0c2ljyg2j3hbb4xmz3ln8c7fdvhbk4xd-",
}

const goodPath = "/nix/store/1c2ljyg2j3hbb4xmz3ln8c7fdvhbk4xd-app-1.0"

// TestLoadGraphFileRefusesBadNames: a closure graph (a file a pull request
// can edit) naming a store path Nix would never accept, as an entry's path
// or as a reference, is refused as a whole with the file, the line of the
// value and the field.
func TestLoadGraphFileRefusesBadNames(t *testing.T) {
	for what, base := range badStoreNames {
		bad := "/nix/store/" + base
		for _, asRef := range []bool{false, true} {
			t.Run(fmt.Sprintf("%s ref=%v", what, asRef), func(t *testing.T) {
				entries := fmt.Sprintf("[\n  {\"path\": %q, \"narHash\": \"sha256:1b8m03r63zqhnjf7l5wnldhh7c134ap5vpj0850ymkq1iyzicy5s\", \"narSize\": 8,\n   \"references\": [%q]},\n", goodPath, bad)
				field, line := "[0].references[0]", 3
				if !asRef {
					entries = fmt.Sprintf("[\n  {\"path\": %q, \"narHash\": \"sha256:1b8m03r63zqhnjf7l5wnldhh7c134ap5vpj0850ymkq1iyzicy5s\", \"narSize\": 8,\n   \"references\": []},\n", goodPath)
					field, line = "[1].path", 4
				}
				data := entries + fmt.Sprintf("  {\"path\": %q, \"narHash\": \"sha256:1b8m03r63zqhnjf7l5wnldhh7c134ap5vpj0850ymkq1iyzicy5s\", \"narSize\": 8, \"references\": []}\n]\n", bad)
				file := filepath.Join(t.TempDir(), "closure.json")
				if err := os.WriteFile(file, []byte(data), 0o644); err != nil {
					t.Fatal(err)
				}
				g, err := LoadGraphFile(file)
				var ge *GraphFileError
				if !errors.As(err, &ge) {
					t.Fatalf("LoadGraphFile = %v, %v; want a GraphFileError", g, err)
				}
				if ge.File != file || ge.Line != line || ge.Field != field {
					t.Errorf("error at %s:%d %s, want %s:%d %s (%v)", ge.File, ge.Line, ge.Field, file, line, field, err)
				}
				if !strings.HasPrefix(err.Error(), fmt.Sprintf("%s:%d: %s: ", file, line, field)) {
					t.Errorf("message %q does not start file:line: field:", err)
				}
			})
		}
	}
}

// TestParsePathInfoRefusesBadNames: the same names from Nix's own answer
// shapes (keyed by path, --json-format 2 base names) are refused too.
func TestParsePathInfoRefusesBadNames(t *testing.T) {
	for what, base := range badStoreNames {
		for _, data := range []string{
			fmt.Sprintf(`{%q: {"narHash": "sha256-A", "narSize": 1, "references": []}}`, "/nix/store/"+base),
			fmt.Sprintf(`{%q: {"narHash": "sha256-A", "narSize": 1, "references": [%q]}}`, goodPath, base),
			fmt.Sprintf(`{"info": {%q: {"narHash": "sha256-A", "narSize": 1, "references": []}}, "storeDir": "/nix/store", "version": 2}`, base),
		} {
			var bad *BadPathError
			if _, err := ParsePathInfo([]byte(data)); !errors.As(err, &bad) {
				t.Errorf("%s: ParsePathInfo(%.80q) = %v, want a BadPathError", what, data, err)
			}
		}
	}
}
