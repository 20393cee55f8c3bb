package actionrunner_test

import (
	"testing"

	"github.com/org/nix-layer-action/internal/testutil/actionrunner"
)

// TestCommandsModel checks the runner model on the forms the runner's own
// parser accepts (leading blanks, any case, the legacy ##[ form anywhere in
// a line, "\r" as a line break) and on stop-commands.
func TestCommandsModel(t *testing.T) {
	out := "plain\n" +
		"  \t::set-output name=digest::sha256:evil\n" +
		"\u00a0::WARNING file=a%3Ab,line=1::x%0Ay\r" +
		"text ##[set-env name=X;]v%3B\n" +
		"::unknown::x\n" +
		"::stop-commands::tok123\n" +
		"::error::hidden\n" +
		"::TOK123::\n" +
		"::endgroup::\n"
	got := actionrunner.Commands(out)
	want := []struct{ name, data string }{{"set-output", "sha256:evil"}, {"warning", "x\ny"}, {"set-env", "v;"}, {"endgroup", ""}}
	if len(got) != len(want) {
		t.Fatalf("Commands = %+v", got)
	}
	for i, w := range want {
		if got[i].Name != w.name || got[i].Data != w.data {
			t.Errorf("command %d = %+v, want %s %q", i, got[i], w.name, w.data)
		}
	}
	if got[0].Properties["name"] != "digest" || got[1].Properties["file"] != "a:b" || got[2].Properties["name"] != "X" {
		t.Errorf("properties: %+v", got)
	}
}
