package plan

import (
	"os"
	"regexp"
	"strings"
	"testing"
)

// yamlBlock finds the ```yaml blocks of a Markdown file.
var yamlBlock = regexp.MustCompile("(?s)```yaml\n(.*?)```")

// Every complete plan the migration guide shows (a YAML block starting
// with "version:") parses, so the guide cannot drift from the schema.
func TestMigrationGuidePlansParse(t *testing.T) {
	data, err := os.ReadFile("../../docs/migrating.md")
	if err != nil {
		t.Fatal(err)
	}
	n := 0
	for _, m := range yamlBlock.FindAllStringSubmatch(string(data), -1) {
		if !strings.HasPrefix(m[1], "version:") {
			continue
		}
		n++
		if _, err := Parse("docs/migrating.md", []byte(m[1])); err != nil {
			t.Errorf("plan %d of the migration guide: %v\n%s", n, err, m[1])
		}
	}
	if n == 0 {
		t.Fatal("the migration guide shows no YAML plan")
	}
}
