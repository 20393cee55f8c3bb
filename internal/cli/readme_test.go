package cli

import (
	"bytes"
	"os"
	"regexp"
	"testing"
)

// Every flag of every command is in the README.
func TestEveryFlagIsInTheReadme(t *testing.T) {
	readme, err := os.ReadFile("../../README.md")
	if err != nil {
		t.Fatal(err)
	}
	e := Env{Getenv: func(string) string { return "" }, Stdout: &bytes.Buffer{}, Stderr: &bytes.Buffer{}}
	for _, c := range commands(e) {
		out, _, _ := runArgs(c.Name(), "--help")
		for _, m := range regexp.MustCompile(`(?m)^  (--[a-z-]+)`).FindAllStringSubmatch(out, -1) {
			if !bytes.Contains(readme, []byte("`"+m[1])) {
				t.Errorf("README.md does not document %s %s", c.Name(), m[1])
			}
		}
	}
}

// Every flag that takes a value names it (FILE, REF, KEY=VALUE, …), as
// the README's table does, rather than a bare VALUE.
func TestEveryFlagNamesItsValue(t *testing.T) {
	e := Env{Getenv: func(string) string { return "" }, Stdout: &bytes.Buffer{}, Stderr: &bytes.Buffer{}}
	for _, c := range commands(e) {
		out, _, _ := runArgs(c.Name(), "--help")
		for _, m := range regexp.MustCompile(`(?m)^  (--[a-z-]+) VALUE$`).FindAllStringSubmatch(out, -1) {
			t.Errorf("%s --help shows %s VALUE: name the value (metavars)", c.Name(), m[1])
		}
	}
}
