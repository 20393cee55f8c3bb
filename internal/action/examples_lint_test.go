package action

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// publishedAction is how the examples use the action.
const publishedAction = "uses: org/nix-layer-action@v1"

// TestActionlintExamplesAgainstActionYAML lints every example with the
// published action replaced by the local one (uses: ./), so actionlint
// checks the inputs given and the outputs read (steps.image.outputs.sbom,
// …) against action.yml, which it cannot do for a remote action.
func TestActionlintExamplesAgainstActionYAML(t *testing.T) {
	root := repoRoot(t)
	l, p := newLinter(t, root)
	files, _ := filepath.Glob(filepath.Join(root, "examples", "*.yml"))
	uses := 0
	for _, f := range files {
		data, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		n := strings.Count(string(data), publishedAction)
		if n == 0 {
			continue
		}
		uses += n
		local := strings.ReplaceAll(string(data), publishedAction, "uses: ./")
		path := filepath.Join(root, ".github", "workflows", "example-"+filepath.Base(f))
		for _, e := range lint(t, l, p, path, []byte(local)) {
			t.Errorf("%s: %v", filepath.Base(f), e)
		}
	}
	if uses < 4 {
		t.Errorf("only %d uses of %q in examples/*.yml", uses, publishedAction)
	}
	// The check is live: an output action.yml does not declare is caught.
	data, err := os.ReadFile(filepath.Join(root, "examples", "attest.yml"))
	if err != nil {
		t.Fatal(err)
	}
	bad := strings.ReplaceAll(string(data), publishedAction, "uses: ./")
	bad = strings.Replace(bad, "steps.image.outputs.sbom", "steps.image.outputs.sbom-file", 1)
	errs := lint(t, l, p, filepath.Join(root, ".github", "workflows", "example-attest.yml"), []byte(bad))
	if len(errs) == 0 || !strings.Contains(errs[0].Error(), "sbom-file") {
		t.Errorf("an undeclared output was not caught: %v", errs)
	}
}
