package e2e

// The same flake gives the same layer keys and image digest, bit for bit,
// whatever the Nix version: the golden figures in testdata/golden.json are
// checked here under the host's Nix (2.8) and, by scripts/test.sh, under
// Nix 2.26 (trixie) and 2.34 (sid) through scripts/nix-versions.sh. The
// flake's outputs hold only text and symlinks written by its builders, so
// the figures depend on nothing but the derivations and our formats (the
// busybox the builders run is not copied in; its path is the same on every
// machine with busybox-static).
//
// After a deliberate format change, regenerate with
// NLA_UPDATE_GOLDEN=1 go test -run TestE2EGoldenAcrossNixVersions ./e2e/

import (
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/org/nix-layer-action/internal/testutil"
	"github.com/org/nix-layer-action/internal/testutil/nixfix"
)

const goldenFile = "testdata/golden.json"

// goldenFlake is three text packages with references between them.
func goldenFlake(busybox string) string {
	return fmt.Sprintf(`{
  outputs = { self }:
    let
      system = "x86_64-linux";
      mk = name: script: builtins.derivation {
        inherit name system;
        builder = "/bin/sh";
        args = [ "-c" ("B=%s\n" + script) ];
      };
    in {
      packages.${system} = rec {
        lib = mk "golden-lib-1.0" ''
          $B mkdir -p $out/lib $out/share/doc
          $B printf 'lib 1.0\n' > $out/lib/libgolden.so.1
          $B ln -s libgolden.so.1 $out/lib/libgolden.so
          $B printf 'readme\n' > $out/share/doc/README
        '';
        tool = mk "golden-tool-2.3" ''
          $B mkdir -p $out/bin
          $B printf '#!/bin/sh\necho ${lib}/lib/libgolden.so.1\n' > $out/bin/tool
          $B chmod 0555 $out/bin/tool
        '';
        app = mk "golden-app-0.9" ''
          $B mkdir -p $out/bin $out/etc
          $B printf '#!/bin/sh\nexec ${tool}/bin/tool\n' > $out/bin/app
          $B chmod 0555 $out/bin/app
          $B printf 'x=1\n' > $out/etc/app.conf
        '';
      };
    };
}
`, busybox)
}

// golden is what testdata/golden.json records.
type golden struct {
	Digest string            `json:"digest"`
	Keys   map[string]string `json:"keys"`
	Paths  map[string]int    `json:"paths"` // layer → number of store paths
}

func TestE2EGoldenAcrossNixVersions(t *testing.T) {
	testutil.Short(t)
	nix := testutil.RequireTool(t, "nix")
	busybox := testutil.RequireTool(t, "busybox")
	t.Setenv("NIX_CONFIG", nixfix.NixConfig)
	version, _ := exec.Command(nix, "--version").Output()
	t.Logf("%s", strings.TrimSpace(string(version)))

	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "flake.nix"), []byte(goldenFlake(busybox)), 0o644); err != nil {
		t.Fatal(err)
	}
	plan := writePlan(t, "nix-layers.yaml", fmt.Sprintf(`version: 1
layers:
  - name: lib
    deps: [%q]
  - name: app
    deps: [%q]
config:
  cmd: ["/bin/app"]
`, dir+"#lib", dir+"#app"))
	env := map[string]string{"NIX_CONFIG": nixfix.NixConfig, "SOURCE_DATE_EPOCH": "1700000000"}
	rep := filepath.Join(t.TempDir(), "report.json")
	layout := filepath.Join(t.TempDir(), "oci")
	if _, stderr, err := runCLI(t, env, "build", "--plan", plan, "--output", "oci:"+layout, "--report", rep); err != nil {
		t.Fatalf("build: %v\n%s", err, stderr)
	}
	r := readReport(t, rep)
	got := golden{Digest: r.Digest, Keys: map[string]string{}, Paths: map[string]int{}}
	for _, l := range r.Layers {
		got.Keys[l.Name] = l.Key
		got.Paths[l.Name] = len(l.Paths)
	}
	if os.Getenv("NLA_UPDATE_GOLDEN") == "1" {
		data, _ := json.MarshalIndent(got, "", "  ")
		if err := os.WriteFile(goldenFile, append(data, '\n'), 0o644); err != nil {
			t.Fatal(err)
		}
		t.Logf("wrote %s", goldenFile)
		return
	}
	data, err := os.ReadFile(goldenFile)
	if err != nil {
		t.Fatal(err)
	}
	var want golden
	if err := json.Unmarshal(data, &want); err != nil {
		t.Fatal(err)
	}
	for name, k := range want.Keys {
		if got.Keys[name] != k || got.Paths[name] != want.Paths[name] {
			t.Errorf("layer %s: key %s with %d paths, want %s with %d (%s)", name, got.Keys[name], got.Paths[name], k, want.Paths[name], version)
		}
	}
	if len(got.Keys) != len(want.Keys) || got.Digest != want.Digest {
		t.Errorf("image %s with layers %v, want %s with %v (%s)", got.Digest, got.Keys, want.Digest, want.Keys, version)
	}
}
