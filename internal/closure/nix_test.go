package closure

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
)

// fakeNix emulates `nix build --json` of Nix 2.8: real builds print results
// in an order unrelated to the arguments (here: reversed), --dry-run in
// argument order. Installables "x#bad*" fail evaluation. Every invocation is
// logged to $FAKE_NIX_LOG.
const fakeNix = `#!/bin/sh
echo "$*" >> "$FAKE_NIX_LOG"
sub=$1; shift
dry=0; items=""
while [ $# -gt 0 ]; do
  case "$1" in
    --dry-run) dry=1 ;;
    --extra-experimental-features|--store) shift ;;
    -*) ;;
    *) items="$items $1" ;;
  esac
  shift
done
if [ $dry = 0 ]; then
  for i in $items; do
    case "$i" in
      *#fail*) n=${i#*#}
               echo "error: builder for '/nix/store/d-$n.drv' failed with exit code 1;" >&2
               echo "       last 1 log lines:" >&2
               echo "       > fails on purpose" >&2
               failed=1 ;;
    esac
  done
  [ -n "$failed" ] && exit 1
fi
for i in $items; do
  case "$i" in
    *#bad*) echo "building '/nix/store/x.drv'..." >&2
            echo "warning: Git tree is dirty" >&2
            echo "error: flake 'path:/x' does not provide attribute '${i#*#}'" >&2
            echo "       (use '--show-trace' to show detailed location information)" >&2
            exit 1 ;;
  esac
done
out=""
for i in $items; do
  case "$i" in
    /nix/store/*) e="{\"path\":\"$(echo "$i" | cut -d/ -f1-4)\"}" ;;
    *) n=${i#*#}; e="{\"drvPath\":\"/nix/store/d-$n.drv\",\"outputs\":{\"out\":\"/nix/store/o-$n\",\"dev\":\"/nix/store/o-$n-dev\"}}" ;;
  esac
  if [ $dry = 1 ]; then out="$out,$e"; else out="$e,$out"; fi
done
out=${out#,}; out=${out%,}
echo "[$out]"
`

func newFake(t *testing.T) (*Nix, func() []string) {
	t.Helper()
	if _, err := os.Stat("/bin/sh"); err != nil {
		t.Skip("no /bin/sh")
	}
	dir := t.TempDir()
	bin := filepath.Join(dir, "nix")
	if err := os.WriteFile(bin, []byte(fakeNix), 0o755); err != nil {
		t.Fatal(err)
	}
	log := filepath.Join(dir, "log")
	n := &Nix{Bin: bin, Dir: dir, Store: "/chroot", Env: []string{"FAKE_NIX_LOG=" + log}}
	return n, func() []string {
		b, _ := os.ReadFile(log)
		return strings.Split(strings.TrimSpace(string(b)), "\n")
	}
}

func TestBuildAttributesOutOfOrderResults(t *testing.T) {
	n, calls := newFake(t)
	got, err := n.Build(context.Background(), []string{"x#a", "/nix/store/p-1/bin/sh", "x#b", "x#a", "x#c"})
	if err != nil {
		t.Fatal(err)
	}
	want := map[string][]string{
		"x#a":                   {"/nix/store/o-a-dev", "/nix/store/o-a"}, // sorted by output name: dev, out
		"x#b":                   {"/nix/store/o-b-dev", "/nix/store/o-b"},
		"x#c":                   {"/nix/store/o-c-dev", "/nix/store/o-c"},
		"/nix/store/p-1/bin/sh": {"/nix/store/p-1"},
	}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("Build = %v\nwant %v", got, want)
	}
	c := calls()
	if len(c) != 2 || !strings.Contains(c[0], "--store /chroot") || !strings.Contains(c[0], "--no-link --json x#a /nix/store/p-1/bin/sh x#b x#c") {
		t.Fatalf("calls = %q", c)
	}
	if !strings.Contains(c[1], "--dry-run") || !strings.HasSuffix(c[1], "x#a x#b x#c") {
		t.Fatalf("attribution call = %q", c[1])
	}
}

func TestBuildSingleFlakeInstallableOneCall(t *testing.T) {
	n, calls := newFake(t)
	got, err := n.Build(context.Background(), []string{"/nix/store/p-1", "x#a"})
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(got["x#a"], []string{"/nix/store/o-a-dev", "/nix/store/o-a"}) || !reflect.DeepEqual(got["/nix/store/p-1"], []string{"/nix/store/p-1"}) {
		t.Fatalf("Build = %v", got)
	}
	if c := calls(); len(c) != 1 {
		t.Fatalf("want exactly one nix call, got %q", c)
	}
}

func TestBuildFailureNamesFailingDep(t *testing.T) {
	n, calls := newFake(t)
	_, err := n.Build(context.Background(), []string{"x#a", "x#bad1", "x#c"})
	var ne *NixError
	if !errors.As(err, &ne) {
		t.Fatalf("error = %v, want *NixError", err)
	}
	if !reflect.DeepEqual(ne.Deps, []string{"x#bad1"}) {
		t.Fatalf("Deps = %v", ne.Deps)
	}
	wantMsg := "error: flake 'path:/x' does not provide attribute 'bad1'\n       (use '--show-trace' to show detailed location information)"
	if ne.Stderr != wantMsg {
		t.Fatalf("Stderr = %q", ne.Stderr)
	}
	if !strings.Contains(err.Error(), "nix build failed for x#bad1: error: flake") {
		t.Fatalf("Error() = %q", err)
	}
	// Attributed from the one run's message: nothing is built again.
	if c := calls(); len(c) != 1 {
		t.Fatalf("want exactly one nix call, got %q", c)
	}
}

// A failing builder is attributed through one evaluation-only call that
// maps derivations to installables; nothing is built twice.
func TestBuildFailureAttributesFailedDerivation(t *testing.T) {
	n, calls := newFake(t)
	_, err := n.Build(context.Background(), []string{"x#a", "x#fail1", "x#c"})
	var ne *NixError
	if !errors.As(err, &ne) || !reflect.DeepEqual(ne.Deps, []string{"x#fail1"}) {
		t.Fatalf("error = %v, want *NixError for x#fail1", err)
	}
	if !strings.Contains(ne.Stderr, "fails on purpose") || strings.Count(err.Error(), "fails on purpose") != 1 {
		t.Errorf("Error() = %q", err)
	}
	c := calls()
	if len(c) != 2 || strings.Contains(c[0], "--dry-run") || !strings.Contains(c[1], "--dry-run") {
		t.Fatalf("want the build and one --dry-run evaluation, got %q", c)
	}
}

func TestRunnerMissingBinary(t *testing.T) {
	n := &Nix{Bin: filepath.Join(t.TempDir(), "no-nix")}
	_, err := n.PathInfo(context.Background(), []string{"/nix/store/a"})
	var ne *NixError
	if !errors.As(err, &ne) || ne.Err == nil || !strings.Contains(err.Error(), "nix path-info failed") {
		t.Fatalf("error = %v", err)
	}
	g, err := n.PathInfo(context.Background(), nil)
	if err != nil || g.Len() != 0 {
		t.Fatalf("empty PathInfo = %v, %v", g, err)
	}
}

func TestTrimNixStderr(t *testing.T) {
	in := "building '/nix/store/b-broken-1.0.drv'...\n" +
		"\x1b[31;1merror:\x1b[0m builder for '/nix/store/b-broken-1.0.drv' failed with exit code 1;\n" +
		"       last 1 log lines:\n" +
		"       > fixture: fails\n" +
		"       For full logs, run 'nix log /nix/store/b-broken-1.0.drv'.\n" +
		"warning: something\n" +
		"error: 1 dependencies of derivation '/nix/store/c-app.drv' failed to build\n"
	want := "error: builder for '/nix/store/b-broken-1.0.drv' failed with exit code 1;\n" +
		"       last 1 log lines:\n" +
		"       > fixture: fails\n" +
		"       For full logs, run 'nix log /nix/store/b-broken-1.0.drv'.\n" +
		"error: 1 dependencies of derivation '/nix/store/c-app.drv' failed to build"
	if got := TrimNixStderr(in); got != want {
		t.Fatalf("got %q\nwant %q", got, want)
	}
	if got := TrimNixStderr("a\n\nb\nc\nd\ne\nf\n"); got != "b\nc\nd\ne\nf" {
		t.Fatalf("fallback = %q", got)
	}
}

func TestProgressOnlyDropsErrorBlocks(t *testing.T) {
	var out strings.Builder
	p := &progressOnly{w: &out}
	for _, chunk := range []string{"building '/nix/store/a.drv'...\nerr", "or: builder for x failed\n       > log line\n", "warning: dirty\nlast"} {
		p.Write([]byte(chunk))
	}
	p.flush()
	if got := out.String(); got != "building '/nix/store/a.drv'...\nwarning: dirty\nlast" {
		t.Errorf("passed through %q", got)
	}
}

func TestProgressOnlyDropsWhatADryRunWouldDo(t *testing.T) {
	in := "warning: Git tree '/w' is dirty\n" +
		"these 2 derivations will be built:\n  /nix/store/a.drv\n  /nix/store/b.drv\n" +
		"don't know how to build these paths:\n  /nix/store/c-app\n" +
		"this path will be fetched (0.01 MiB download, 0.02 MiB unpacked):\n  /nix/store/d-lib\n" +
		"warning: last\n"
	// Dropped from every call, dry or not: `nix path-info` prints "don't
	// know how to build" for any path the store lacks, and before a build
	// the pipeline says what will be built in its own words.
	var out strings.Builder
	p := &progressOnly{w: &out}
	p.Write([]byte(in))
	p.flush()
	if got, want := out.String(), "warning: Git tree '/w' is dirty\nwarning: last\n"; got != want {
		t.Errorf("passed through %q, want %q", got, want)
	}
}

// ParseDryRun reads every spelling Nix has used for what it would do.
func TestParseDryRunEverySpelling(t *testing.T) {
	for _, tc := range []struct {
		name, stderr string
		want         DryRun
	}{
		{"2.8", "these 2 derivations will be built:\n  /nix/store/a-x-1.0.drv\n  /nix/store/b-y-2.1.drv\n", DryRun{Build: []string{"/nix/store/a-x-1.0.drv", "/nix/store/b-y-2.1.drv"}}},
		{"one", "this derivation will be built:\n  /nix/store/a-x-1.0.drv\nthis path will be fetched (0.01 MiB download, 0.02 MiB unpacked):\n  /nix/store/d-lib\n", DryRun{Build: []string{"/nix/store/a-x-1.0.drv"}, Fetch: []string{"/nix/store/d-lib"}}},
		{"old", "these derivations will be built:\n  /nix/store/a-x-1.0.drv\nthese paths will be fetched (1.00 MiB download, 2.00 MiB unpacked):\n  /nix/store/d-lib\n  /nix/store/e-lib\n", DryRun{Build: []string{"/nix/store/a-x-1.0.drv"}, Fetch: []string{"/nix/store/d-lib", "/nix/store/e-lib"}}},
		{"new", "\x1b[1mthese 3 paths will be fetched (1.0 MiB download, 2.0 MiB unpacked):\x1b[0m\n  /nix/store/d-lib\n  /nix/store/e-lib\n  /nix/store/f-lib\nwarning: x\n", DryRun{Fetch: []string{"/nix/store/d-lib", "/nix/store/e-lib", "/nix/store/f-lib"}}},
		{"unknown", "don't know how to build these paths:\n  /nix/store/c-app\nerror: boom\n  /nix/store/not-listed\n", DryRun{Unknown: []string{"/nix/store/c-app"}}},
	} {
		if got := ParseDryRun(tc.stderr); !reflect.DeepEqual(got, tc.want) {
			t.Errorf("%s: %+v, want %+v", tc.name, got, tc.want)
		}
	}
}

// TestFailedDrvsEveryNixSpelling: each Nix release names a failed
// derivation its own way; all of them attribute the failure.
func TestFailedDrvsEveryNixSpelling(t *testing.T) {
	for _, tc := range []struct{ nix, stderr string }{
		{"2.8", "error: builder for '/nix/store/b-broken-1.0.drv' failed with exit code 1;\n"},
		{"2.8 dep", "error: 1 dependencies of derivation '/nix/store/b-broken-1.0.drv' failed to build\n"},
		{"2.2x", "error: build of '/nix/store/b-broken-1.0.drv' failed\n"},
		{"2.34", "error: Cannot build '/nix/store/b-broken-1.0.drv'.\n       Reason: builder failed with exit code 1.\n"},
	} {
		got := failedDrvs(tc.stderr)
		if !reflect.DeepEqual(got, map[string]bool{"/nix/store/b-broken-1.0.drv": true}) {
			t.Errorf("Nix %s: failedDrvs = %v", tc.nix, got)
		}
	}
	if got := failedDrvs("error: flake 'path:/x' does not provide attribute 'y'\n"); len(got) != 0 {
		t.Errorf("evaluation error: failedDrvs = %v, want none", got)
	}
}
