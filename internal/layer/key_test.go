package layer

import (
	"bytes"
	"encoding/base64"
	"encoding/hex"
	"flag"
	"io/fs"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/nix-community/go-nix/pkg/nixbase32"
)

var update = flag.Bool("update", false, "rewrite testdata/keys.golden")

// hashes returns the canonical, base16 and SRI spellings of one digest.
func hashes(seed byte) (nix32, base16, sri string) {
	d := bytes.Repeat([]byte{seed}, 32)
	return "sha256:" + nixbase32.EncodeToString(d), "sha256:" + hex.EncodeToString(d), "sha256-" + base64.StdEncoding.EncodeToString(d)
}

func mustKey(t *testing.T, s Spec) string {
	t.Helper()
	k, err := Key(s)
	if err != nil {
		t.Fatalf("Key: %v", err)
	}
	return k
}

func keySpec() Spec {
	ha, _, _ := hashes(1)
	hb, _, _ := hashes(2)
	return Spec{
		Name: "base",
		Paths: []StorePath{
			{Path: storePath('a', "a"), NarHash: ha, NarSize: 1},
			{Path: storePath('b', "b"), NarHash: hb, NarSize: 2},
		},
		Files: []File{{Path: "/etc/passwd", Mode: 0o644, Data: []byte("root:x:0:0::/:/bin/sh\n")}},
		Perms: []Perm{{Regexp: regexp.MustCompile(`^/nix/store/[^/]+-a/bin/x$`), Mode: ptr(fs.FileMode(0o4755))}},
	}
}

// Everything that shapes the bytes changes the key.
func TestKeySensitivity(t *testing.T) {
	k0 := mustKey(t, keySpec())
	if !regexp.MustCompile(`^sha256:[0-9a-f]{64}$`).MatchString(k0) {
		t.Fatalf("key %q is not sha256:<hex>", k0)
	}
	hc, _, _ := hashes(3)
	variants := map[string]func(*Spec){
		"format level":    func(s *Spec) { s.Format = DefaultFormat; s.Format.Level = 9 },
		"format block":    func(s *Spec) { s.Format = DefaultFormat; s.Format.BlockSize = 2 << 20 },
		"store dir":       func(s *Spec) { s.StoreDir = "/gnu/store"; s.Paths = nil },
		"narHash changed": func(s *Spec) { s.Paths[1].NarHash = hc },
		"path renamed":    func(s *Spec) { s.Paths[0].Path = storePath('c', "a") },
		"path added":      func(s *Spec) { s.Paths = append(s.Paths, StorePath{Path: storePath('d', "d"), NarHash: hc}) },
		"path removed":    func(s *Spec) { s.Paths = s.Paths[:1] },
		"hashes swapped":  func(s *Spec) { s.Paths[0].NarHash, s.Paths[1].NarHash = s.Paths[1].NarHash, s.Paths[0].NarHash },
		"perm mode":       func(s *Spec) { s.Perms[0].Mode = ptr(fs.FileMode(0o4711)) },
		"perm regexp":     func(s *Spec) { s.Perms[0].Regexp = regexp.MustCompile(`^/nix/store/[^/]+-a/bin/y$`) },
		"perm uid":        func(s *Spec) { s.Perms[0].UID = ptr(0) },
		"perm gid":        func(s *Spec) { s.Perms[0].GID = ptr(0) },
		"perm added":      func(s *Spec) { s.Perms = append(s.Perms, Perm{Regexp: regexp.MustCompile(`x`), UID: ptr(1)}) },
		"perm order": func(s *Spec) {
			s.Perms = []Perm{{Regexp: regexp.MustCompile(`b`), UID: ptr(1)}, s.Perms[0]}
		},
		"perms removed": func(s *Spec) { s.Perms = nil },
		"file content":  func(s *Spec) { s.Files[0].Data = []byte("root:x:0:0::/:/bin/bash\n") },
		"file mode":     func(s *Spec) { s.Files[0].Mode = 0o600 },
		"file owner":    func(s *Spec) { s.Files[0].UID = 1 },
		"file group":    func(s *Spec) { s.Files[0].GID = 1 },
		"file path":     func(s *Spec) { s.Files[0].Path = "/etc/group" },
		"file type":     func(s *Spec) { s.Files[0] = File{Path: "/etc/passwd", Mode: fs.ModeDir | 0o644} },
		"file symlink": func(s *Spec) {
			s.Files[0] = File{Path: "/etc/passwd", Mode: fs.ModeSymlink | 0o777, Linkname: "x"}
		},
		"files removed": func(s *Spec) { s.Files = nil },
	}
	seen := map[string]string{k0: "base"}
	for name, edit := range variants {
		s := keySpec()
		edit(&s)
		k := mustKey(t, s)
		if other, dup := seen[k]; dup {
			t.Errorf("%s: key equals that of %s (%s)", name, other, k)
		}
		seen[k] = name
	}
}

// What does not shape the bytes does not change the key: the name, NAR
// sizes, the order of paths and files, the NAR hash's spelling, a zero
// Format for DefaultFormat, and where a Source file lives.
func TestKeyInsensitivity(t *testing.T) {
	k0 := mustKey(t, keySpec())
	src := filepath.Join(t.TempDir(), "passwd")
	if err := os.WriteFile(src, keySpec().Files[0].Data, 0o600); err != nil {
		t.Fatal(err)
	}
	_, b16, sri := hashes(1)
	_, _, sriB := hashes(2)
	variants := map[string]func(*Spec){
		"name":            func(s *Spec) { s.Name = "other" },
		"nar size":        func(s *Spec) { s.Paths[0].NarSize = 99 },
		"path order":      func(s *Spec) { s.Paths[0], s.Paths[1] = s.Paths[1], s.Paths[0] },
		"duplicate path":  func(s *Spec) { s.Paths = append(s.Paths, s.Paths[0]) },
		"base16 hash":     func(s *Spec) { s.Paths[0].NarHash = b16 },
		"SRI hashes":      func(s *Spec) { s.Paths[0].NarHash, s.Paths[1].NarHash = sri, sriB },
		"explicit format": func(s *Spec) { s.Format = DefaultFormat },
		"source file":     func(s *Spec) { s.Files[0].Data, s.Files[0].Source = nil, src },
		"file order": func(s *Spec) {
			s.Files = append([]File{{Path: "/tmp", Mode: fs.ModeDir | 0o777}}, s.Files...)
		},
	}
	withTmp := keySpec()
	withTmp.Files = append(withTmp.Files, File{Path: "/tmp", Mode: fs.ModeDir | 0o777})
	kTmp := mustKey(t, withTmp)
	for name, edit := range variants {
		s := keySpec()
		edit(&s)
		want := k0
		if name == "file order" {
			want = kTmp
		}
		if k := mustKey(t, s); k != want {
			t.Errorf("%s changed the key: %s vs %s", name, k, want)
		}
	}
}

// Field boundaries are not ambiguous: moving bytes between fields or
// lists changes the key.
func TestKeyUnambiguous(t *testing.T) {
	h, _, _ := hashes(4)
	pairs := [][2]Spec{
		{{Files: []File{{Path: "/a", Mode: 0o644, Data: []byte("b")}}}, {Files: []File{{Path: "/ab", Mode: 0o644}}}},
		{{Files: []File{{Path: "/x", Mode: fs.ModeSymlink | 0o777, Linkname: "y,1:z"}}}, {Files: []File{{Path: "/x", Mode: fs.ModeSymlink | 0o777, Linkname: "y"}}}},
		{{Paths: []StorePath{{Path: storePath('a', "a"), NarHash: h}}}, {}},
		{{Perms: []Perm{{Regexp: regexp.MustCompile("a"), UID: ptr(1)}}}, {Perms: []Perm{{Regexp: regexp.MustCompile("a1")}}}},
	}
	for i, pr := range pairs {
		if mustKey(t, pr[0]) == mustKey(t, pr[1]) {
			t.Errorf("pair %d: distinct specs share a key", i)
		}
	}
}

func TestKeyRejects(t *testing.T) {
	for name, s := range map[string]Spec{
		"bad hash":       {Paths: []StorePath{{Path: storePath('a', "a"), NarHash: "md5:00"}}},
		"not in store":   {Paths: []StorePath{{Path: "/gnu/store/" + strings.Repeat("a", 32) + "-a", NarHash: "sha256:x"}}},
		"file in store":  {Files: []File{{Path: storePath('a', "a") + "/x", Mode: 0o644}}},
		"missing source": {Files: []File{{Path: "/x", Mode: 0o644, Source: "/does/not/exist"}}},
		"bad format":     {Format: Format{Compression: "zip"}},
	} {
		if k, err := Key(s); err == nil {
			t.Errorf("%s: Key = %s, want an error", name, k)
		}
	}
}

// TestKeyGolden pins the key encoding: an accidental change shows up here.
// Regenerate deliberately with -update (and bump KeyFormat).
func TestKeyGolden(t *testing.T) {
	var b strings.Builder
	for _, s := range []Spec{{}, keySpec(), {StoreDir: "/gnu/store"}} {
		b.WriteString(mustKey(t, s) + "\n")
	}
	const file = "testdata/keys.golden"
	if *update {
		if err := os.MkdirAll("testdata", 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(file, []byte(b.String()), 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(file)
	if err != nil {
		t.Fatalf("%v (run with -update to create it)", err)
	}
	if b.String() != string(want) {
		t.Errorf("keys differ from %s; if intended, bump KeyFormat and run with -update:\n%s", file, b.String())
	}
}
