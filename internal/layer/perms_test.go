package layer

import (
	"archive/tar"
	"io/fs"
	"regexp"
	"slices"
	"testing"
)

func TestMatchingPerms(t *testing.T) {
	app := storePath('a', "app-1.0")
	lib := storePath('b', "lib-1.0")
	perm := func(re string) Perm { return Perm{Regexp: regexp.MustCompile(re), UID: ptr(1)} }
	appBin := perm(`^/nix/store/[^/]+-app-[^/]+/bin/app$`)
	store := perm(`^/nix/store$`)
	etc := perm(`^/etc/passwd$`)
	home := perm(`^/home$`)
	unanchored := perm(`libx\.so$`)
	appDir := perm(`^/nix/store/[^/]+-app-1\.0$`) // the store path itself
	libPrefix := perm(`^/nix/store/[a-z0-9]{32}-lib-`)
	wordB := perm(`^/nix/store/[^/]+-app-1\.0/\bbin`)
	alt := perm(`^(/etc/shadow|/nix/store/[^/]+-lib-1\.0/lib/.*)$`)
	never := perm(`^/opt/`)
	all := []Perm{appBin, store, etc, home, unanchored, appDir, libPrefix, wordB, alt, never}
	name := map[*regexp.Regexp]string{}
	for _, p := range all {
		name[p.Regexp] = p.Regexp.String()
	}
	names := func(ps []Perm) []string {
		var out []string
		for _, p := range ps {
			out = append(out, name[p.Regexp])
		}
		return out
	}
	for _, tc := range []struct {
		name string
		spec Spec
		want []Perm
	}{
		{"app layer", Spec{Paths: sp(app)}, []Perm{appBin, store, unanchored, appDir, wordB}},
		{"lib layer", Spec{Paths: sp(lib)}, []Perm{store, unanchored, libPrefix, alt}},
		// A files-only layer holds /nix/store (Build always writes it), the
		// files and their parents; no store path, so no unanchored match.
		{"files only", Spec{Files: []File{
			{Path: "/etc/passwd", Mode: 0o644},
			{Path: "/home/app", Mode: fs.ModeDir | 0o755},
		}}, []Perm{store, etc, home}},
		{"other store dir", Spec{StoreDir: "/gnu/store"}, nil},
	} {
		got, want := names(MatchingPerms(tc.spec, all)), names(tc.want)
		if !slices.Equal(got, want) {
			t.Errorf("%s: %q, want %q", tc.name, got, want)
		}
	}
}

// The analysis is sound: a perm MatchingPerms drops matches no entry of
// the built layer (checked against every entry of a real build).
func TestMatchingPermsSound(t *testing.T) {
	root, a, b, c := makeStore(t)
	spec := Spec{Paths: sp(a, b, c), Files: []File{{Path: "/etc/passwd", Mode: 0o644}}}
	es := readLayer(t, build(t, spec, root, Options{TempDir: t.TempDir()}))
	exprs := []string{
		`^/nix/store/[^/]+-a/bin/hello$`, `^/nix/store/[^/]+-b\.txt$`, `^/nix/store/0+-a/share/.*`,
		`^/nix/store/1+-b`, `^/nix/store/[^/]+-zzz`, `hello$`, `^/nix$`, `^/etc`, `^/etc/group$`,
		`^/nix/store/[^/]+-a/a-c$`, `^/nix/store/[^/]+-c$`, `^/nix/store/2+-c/x`, `^/tmp`,
	}
	for _, e := range exprs {
		p := Perm{Regexp: regexp.MustCompile(e), UID: ptr(1)}
		kept := len(MatchingPerms(spec, []Perm{p})) == 1
		matches := false
		for _, en := range es {
			n := "/" + en.hdr.Name
			if en.hdr.Typeflag == tar.TypeDir {
				n = n[:len(n)-1]
			}
			if p.Regexp.MatchString(n) {
				matches = true
			}
		}
		if matches && !kept {
			t.Errorf("%s matches an entry but was dropped", e)
		}
		if !matches && kept && e != `hello$` && e != `^/nix/store/2+-c/x` && e != `^/nix/store/0+-a/share/.*` {
			t.Errorf("%s matches nothing but was kept", e)
		}
	}
}

// FuzzMatchingPermsSound: whenever a regexp matches a path inside a store
// path (or the store path itself), MatchingPerms keeps it for a layer
// holding that store path.
func FuzzMatchingPermsSound(f *testing.F) {
	for _, seed := range [][2]string{
		{`^/nix/store/[^/]+-app-[^/]+/bin/app$`, "/bin/app"},
		{`libx\.so$`, "/lib/libx.so"},
		{`^/nix/store/a+-x\b`, ""},
		{`(?m)^bin$`, "/a\nbin"},
		{`\Bz`, "/az"},
		{`^/nix/store/a+-x/\w+$`, "/abc"},
	} {
		f.Add(seed[0], seed[1])
	}
	p := storePath('a', "x")
	f.Fuzz(func(t *testing.T, expr, suffix string) {
		re, err := regexp.Compile(expr)
		if err != nil || len(expr) > 200 {
			return
		}
		if suffix != "" && suffix[0] != '/' {
			suffix = "/" + suffix
		}
		if !re.MatchString(p + suffix) {
			return
		}
		if len(MatchingPerms(Spec{Paths: sp(p)}, []Perm{{Regexp: re}})) != 1 {
			t.Fatalf("%q matches %q but was dropped", expr, p+suffix)
		}
	})
}
