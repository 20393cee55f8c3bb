package closure

import (
	"errors"
	"reflect"
	"strings"
	"testing"
)

const sd = "/nix/store/"

func pi(name string, size int64, refs ...string) PathInfo {
	full := make([]string, len(refs))
	for i, r := range refs {
		full[i] = sd + r
	}
	return PathInfo{Path: sd + name, NarHash: "sha256-" + name, NarSize: size, References: full}
}

func sample(t *testing.T) *Graph {
	t.Helper()
	g, err := NewGraph([]PathInfo{
		pi("app", 1, "pak", "busybox", "app"), // self reference
		pi("pak", 2, "torch", "libshared"),
		pi("torch", 3, "cuda", "libshared", "cuda"), // duplicate reference
		pi("cuda", 4, "libshared"),
		pi("libshared", 5),
		pi("busybox", 6),
		pi("unrelated", 7, "libshared"),
	})
	if err != nil {
		t.Fatal(err)
	}
	return g
}

func full(names ...string) []string {
	out := make([]string, len(names))
	for i, n := range names {
		out[i] = sd + n
	}
	return out
}

func TestGraphPathsAndInfo(t *testing.T) {
	g := sample(t)
	want := full("app", "busybox", "cuda", "libshared", "pak", "torch", "unrelated")
	if got := g.Paths(); !reflect.DeepEqual(got, want) {
		t.Fatalf("Paths() = %v, want %v", got, want)
	}
	if g.Len() != 7 {
		t.Fatalf("Len() = %d", g.Len())
	}
	in, ok := g.Info(sd + "torch")
	if !ok || in.NarSize != 3 || in.NarHash != "sha256-torch" {
		t.Fatalf("Info(torch) = %+v, %v", in, ok)
	}
	if want := full("cuda", "libshared"); !reflect.DeepEqual(in.References, want) {
		t.Fatalf("torch references = %v, want deduplicated sorted %v", in.References, want)
	}
	in.References[0] = "mutated"
	if again, _ := g.Info(sd + "torch"); again.References[0] != sd+"cuda" {
		t.Fatal("Info returned a slice aliasing the graph")
	}
	if _, ok := g.Info(sd + "nope"); ok {
		t.Fatal("Info of unknown path reported ok")
	}
}

func TestGraphClosure(t *testing.T) {
	g := sample(t)
	got, err := g.Closure(sd + "pak")
	if err != nil {
		t.Fatal(err)
	}
	if want := full("cuda", "libshared", "pak", "torch"); !reflect.DeepEqual(got, want) {
		t.Fatalf("Closure(pak) = %v, want %v", got, want)
	}
	got, err = g.Closure(sd+"busybox", sd+"app", sd+"busybox")
	if err != nil {
		t.Fatal(err)
	}
	if want := full("app", "busybox", "cuda", "libshared", "pak", "torch"); !reflect.DeepEqual(got, want) {
		t.Fatalf("Closure(busybox, app) = %v, want %v", got, want)
	}
	got, err = g.Closure()
	if err != nil || len(got) != 0 {
		t.Fatalf("Closure() = %v, %v", got, err)
	}
	_, err = g.Closure(sd+"app", sd+"missing-1.0")
	var unk *UnknownPathError
	if !errors.As(err, &unk) || unk.Path != sd+"missing-1.0" || !strings.Contains(err.Error(), "missing-1.0") {
		t.Fatalf("Closure(unknown) error = %v", err)
	}
}

func TestGraphReferrers(t *testing.T) {
	g := sample(t)
	if got, want := g.Referrers(sd+"libshared"), full("cuda", "pak", "torch", "unrelated"); !reflect.DeepEqual(got, want) {
		t.Fatalf("Referrers(libshared) = %v, want %v", got, want)
	}
	if got, want := g.Referrers(sd+"cuda"), full("torch"); !reflect.DeepEqual(got, want) {
		t.Fatalf("Referrers(cuda) = %v, want %v", got, want)
	}
	if got := g.Referrers(sd + "app"); len(got) != 0 {
		t.Fatalf("Referrers(app) = %v, want none (self reference ignored)", got)
	}
}

func TestNewGraphErrors(t *testing.T) {
	tests := []struct {
		name  string
		infos []PathInfo
		want  string
	}{
		{"duplicate", []PathInfo{pi("a", 1), pi("b", 1), pi("a", 2)}, "duplicate entry for /nix/store/a"},
		{"dangling", []PathInfo{pi("a", 1, "c"), pi("c", 1, "gone")}, "/nix/store/c references /nix/store/gone"},
		{"empty path", []PathInfo{{NarHash: "x"}}, "empty path"},
		{"negative size", []PathInfo{pi("a", -1)}, "negative narSize"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := NewGraph(tc.infos)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("NewGraph error = %v, want containing %q", err, tc.want)
			}
		})
	}
	_, err := NewGraph([]PathInfo{pi("x", 1, "y")})
	var d *DanglingReferenceError
	if !errors.As(err, &d) || d.Path != sd+"x" || d.Reference != sd+"y" {
		t.Fatalf("dangling error = %#v", err)
	}
}
