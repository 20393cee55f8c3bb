package pipeline

import (
	"io/fs"
	"os"
	"path/filepath"
	"regexp"
	"testing"

	"github.com/org/nix-layer-action/internal/layer"
	"github.com/org/nix-layer-action/internal/plan"
)

func TestPermsMayMatch(t *testing.T) {
	root := t.TempDir()
	app := "/nix/store/aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa-app-1.0"
	lib := "/nix/store/bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb-lib-1.0"
	for _, f := range []string{app + "/bin/app", lib + "/lib/libx.so"} {
		if err := os.MkdirAll(filepath.Dir(root+f), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(root+f, []byte("x"), 0o555); err != nil {
			t.Fatal(err)
		}
	}
	perm := func(re string) plan.Perm {
		return plan.Perm{Path: re, Regexp: regexp.MustCompile(re)}
	}
	appBin := perm(`^/nix/store/[^/]+-app-[^/]+/bin/app$`)
	store := perm(`^/nix/store$`)
	etc := perm(`^/etc/passwd$`)
	home := perm(`^/home$`)
	unanchored := perm(`libx\.so$`)
	all := []plan.Perm{appBin, store, etc, home, unanchored}
	names := func(ps []plan.Perm) []string {
		var out []string
		for _, p := range ps {
			out = append(out, p.Path)
		}
		return out
	}
	for _, tc := range []struct {
		name  string
		root  string
		paths []string
		files []layer.File
		want  []plan.Perm
	}{
		{"app layer", root, []string{app}, nil, []plan.Perm{appBin, store}},
		{"lib layer", root, []string{lib}, nil, []plan.Perm{store, unanchored}},
		// A files-only layer still holds /nix/store (layer.Build adds it),
		// and /home as the parent of a home directory.
		{"files only", root, nil, []layer.File{
			{Path: "/etc/passwd", Mode: 0o644},
			{Path: "/home/app", Mode: fs.ModeDir | 0o755},
		}, []plan.Perm{store, etc, home}},
		// The store is not on disk: every candidate is kept.
		{"no store", filepath.Join(root, "missing"), []string{lib}, nil, []plan.Perm{appBin, store, unanchored}},
	} {
		got := names(permsMayMatch(all, tc.root, "", tc.paths, tc.files))
		want := names(tc.want)
		if len(got) != len(want) {
			t.Errorf("%s: %v, want %v", tc.name, got, want)
			continue
		}
		for i := range got {
			if got[i] != want[i] {
				t.Errorf("%s: %v, want %v", tc.name, got, want)
				break
			}
		}
	}
}
