package e2e

// Plans written in Nix (issue 12): `--plan DIR#imagePlan` evaluates a flake
// output to the plan schema; the derivations it names are built, pushed,
// and the image runs. Errors name the attribute path.

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/org/nix-layer-action/internal/testutil"
	"github.com/org/nix-layer-action/internal/testutil/nixfix"
	"github.com/org/nix-layer-action/internal/testutil/registry"
)

func nixPlanFlake(busybox string) string {
	return fmt.Sprintf(`{
  outputs = { self }:
    let
      system = "x86_64-linux";
      mk = name: script: builtins.derivation {
        inherit name system;
        builder = "/bin/sh";
        args = [ "-c" ("B=%s\n" + script) ];
      };
      pkgs = self.packages.${system};
    in {
      packages.${system} = {
        busybox = mk "busybox-1.36" ''
          $B mkdir -p $out/bin
          $B cp $B $out/bin/busybox
          $B ln -s busybox $out/bin/sh
          $B ln -s busybox $out/bin/echo
        '';
        app = mk "app-1.0" ''
          $B mkdir -p $out/bin
          $B printf '#!${self.packages.${system}.busybox}/bin/sh\necho "hello from a Nix plan"\n' > $out/bin/app
          $B chmod 0555 $out/bin/app
        '';
      };
      imagePlan = {
        version = 1;
        layers = [
          { name = "base"; deps = [ pkgs.busybox ]; }
          { name = "app"; deps = [ pkgs.app ]; }
        ];
        config.entrypoint = [ "${pkgs.app}/bin/app" ];
      };
      badPlan = {
        version = 1;
        layers = [ { name = "app"; deps = [ pkgs.app 42 ]; } ];
      };
    };
}
`, busybox)
}

func TestE2ENixPlanBuildPushRun(t *testing.T) {
	testutil.Short(t)
	testutil.RequireTool(t, "nix")
	busybox := testutil.RequireTool(t, "busybox")
	t.Setenv("NIX_CONFIG", nixfix.NixConfig)
	env := map[string]string{"NIX_CONFIG": nixfix.NixConfig}
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "flake.nix"), []byte(nixPlanFlake(busybox)), 0o644); err != nil {
		t.Fatal(err)
	}
	reg := registry.Start(t, registry.Options{})
	ref := reg.Ref("nixplan/app:latest")

	build := func() *cliReport {
		t.Helper()
		rep := filepath.Join(t.TempDir(), "report.json")
		if _, stderr, err := runCLI(t, env, "build", "--plan", dir+"#imagePlan", "--image", ref, "--report", rep); err != nil {
			t.Fatalf("build --plan %s#imagePlan: %v\n%s", dir, err, stderr)
		}
		return readReport(t, rep)
	}
	first := build()
	if len(first.Layers) < 2 || first.Layers[0].Name != "base" || first.Layers[1].Name != "app" || first.BytesPushed == 0 {
		t.Fatalf("first build: %+v", first)
	}
	for _, p := range first.Layers[1].Paths {
		if !strings.HasSuffix(p, "-app-1.0") {
			t.Errorf("app layer holds %s", p)
		}
	}
	podman := testutil.RequireTool(t, "podman")
	if got := run(t, podman, "run", "--rm", "--runtime", "runc", "--tls-verify=false", "--pull=always", ref); !strings.Contains(got, "hello from a Nix plan") {
		t.Errorf("podman run: %q", got)
	}
	if again := build(); again.Digest != first.Digest || again.BytesPushed != 0 {
		t.Errorf("rerun: digest %s (want %s), %d bytes pushed (want 0)", again.Digest, first.Digest, again.BytesPushed)
	}

	// A bad value names its attribute path, before any build or push.
	_, stderr, err := runCLI(t, env, "build", "--plan", dir+"#badPlan", "--image", reg.Ref("nixplan/bad:latest"))
	if err == nil || !strings.Contains(err.Error(), "badPlan.layers[0].deps[1]") {
		t.Fatalf("bad Nix plan: err=%v\n%s", err, stderr)
	}
	if cat, _ := registryCatalog(reg); strings.Contains(cat, "nixplan/bad") {
		t.Errorf("a bad plan reached the registry: %s", cat)
	}
}
