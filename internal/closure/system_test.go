package closure_test

import (
	"context"
	"os/exec"
	"strings"
	"testing"

	"github.com/org/nix-layer-action/internal/closure"
	"github.com/org/nix-layer-action/internal/testutil"
	"github.com/org/nix-layer-action/internal/testutil/nixfix"
)

func TestCurrentSystem(t *testing.T) {
	nixBin := testutil.RequireTool(t, "nix")
	n := &closure.Nix{Bin: nixBin, Env: nixfix.Env()}
	got, err := n.CurrentSystem(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	// Independently: the classic evaluator's answer.
	out, err := exec.Command(testutil.RequireTool(t, "nix-instantiate"), "--eval", "--expr", "builtins.currentSystem").Output()
	if err != nil {
		t.Fatal(err)
	}
	if want := strings.Trim(strings.TrimSpace(string(out)), `"`); got != want {
		t.Errorf("CurrentSystem = %q, nix-instantiate says %q", got, want)
	}

	bad := &closure.Nix{Bin: "false"}
	if _, err := bad.CurrentSystem(context.Background()); err == nil {
		t.Error("a failing nix gave a system")
	}
}
