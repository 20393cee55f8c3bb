package nixdb

import (
	"bytes"
	"context"
	"database/sql"
	"io/fs"
	"os"
	"path/filepath"
	"reflect"
	"strconv"
	"strings"
	"testing"

	"github.com/org/nix-layer-action/internal/closure"
	"github.com/org/nix-layer-action/internal/layer"
)

const (
	pA = "/nix/store/0c6kzph7l0dcbfmjap64f0czdafn3b7x-a-1.0"
	pB = "/nix/store/1p4xwchsizxh2rncg9yrxjb8j3fh2lga-b-1.0"
	pC = "/nix/store/9haby19h04xfsdqjxrvmcga26q1f7yaj-c-1.0"
	// sha256("hello") in its three spellings.
	helloSRI   = "sha256-LPJNul+wow4m6DsqxbninhsWHlwfp0JecwQzYpOLmCQ="
	helloNix32 = "sha256:094qif9n4cq4fdg459qzbhg1c6wywawwaaivx0k0x8xhbyx4vwic"
	emptyHex   = "sha256:e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
	emptyNix32 = "sha256:0mdqa9w1p6cmli6976v4wi0sw9r4p5prkj7lzfd1877wk11c9c73"
)

// sample is deliberately unsorted, with a self-reference and duplicate refs.
func sample() []closure.PathInfo {
	return []closure.PathInfo{
		{Path: pC, NarHash: helloSRI, NarSize: 300, References: []string{pA, pB, pA}},
		{Path: pA, NarHash: emptyHex, NarSize: 100, References: []string{pA}},
		{Path: pB, NarHash: helloNix32, NarSize: 200, References: nil},
	}
}

func TestFilesLayout(t *testing.T) {
	files, err := Files(sample(), Options{UID: 1000, GID: 100, TempDir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	m := map[string]layer.File{}
	for i, f := range files {
		m[f.Path] = f
		if i > 0 && files[i-1].Path >= f.Path {
			t.Errorf("not sorted: %s before %s", files[i-1].Path, f.Path)
		}
	}
	if s := m[DBDir+"/schema"]; string(s.Data) != "10" || s.Mode != 0o644 || s.UID != 1000 || s.GID != 100 {
		t.Errorf("schema file = %+v", s)
	}
	db := m[DBDir+"/db.sqlite"]
	if !bytes.HasPrefix(db.Data, []byte("SQLite format 3\x00")) || db.UID != 1000 || db.Source != "" {
		t.Errorf("db.sqlite = mode %v uid %d source %q, %d bytes", db.Mode, db.UID, db.Source, len(db.Data))
	}
	for _, d := range []string{"/nix", "/nix/store", "/nix/var/nix", DBDir, "/nix/var/nix/gcroots", "/nix/var/nix/profiles", "/nix/var/nix/temproots"} {
		if f := m[d]; f.Mode != fs.ModeDir|0o755 || f.UID != 1000 || f.GID != 100 {
			t.Errorf("%s = %+v, want dir 0755 owned 1000:100", d, f)
		}
	}
}

// TestWriteContents reads the database back and checks every row.
func TestWriteContents(t *testing.T) {
	file := filepath.Join(t.TempDir(), "db.sqlite")
	if err := Write(context.Background(), file, sample(), ""); err != nil {
		t.Fatal(err)
	}
	db, err := sql.Open("sqlite", file+"?mode=ro")
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	rows, err := db.Query("select id, path, hash, registrationTime, narSize, deriver is null, ultimate is null, sigs is null, ca is null from ValidPaths order by id")
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for rows.Next() {
		var id, reg, size int64
		var path, hash string
		var n1, n2, n3, n4 bool
		if err := rows.Scan(&id, &path, &hash, &reg, &size, &n1, &n2, &n3, &n4); err != nil {
			t.Fatal(err)
		}
		if !(n1 && n2 && n3 && n4) {
			t.Errorf("%s: deriver/ultimate/sigs/ca not null", path)
		}
		got = append(got, strings.Join([]string{itoa(id), path, hash, itoa(reg), itoa(size)}, " "))
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	want := []string{
		"1 " + pA + " " + emptyNix32 + " 1 100",
		"2 " + pB + " " + helloNix32 + " 1 200",
		"3 " + pC + " " + helloNix32 + " 1 300",
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("ValidPaths =\n%s\nwant\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}

	refs, err := db.Query("select referrer, reference from Refs order by referrer, reference")
	if err != nil {
		t.Fatal(err)
	}
	var gotRefs []string
	for refs.Next() {
		var a, b int64
		if err := refs.Scan(&a, &b); err != nil {
			t.Fatal(err)
		}
		gotRefs = append(gotRefs, itoa(a)+"->"+itoa(b))
	}
	if want := []string{"1->1", "3->1", "3->2"}; !reflect.DeepEqual(gotRefs, want) {
		t.Errorf("Refs = %v, want %v", gotRefs, want)
	}
}

func TestFilesDeterministic(t *testing.T) {
	build := func(infos []closure.PathInfo) []byte {
		files, err := Files(infos, Options{TempDir: t.TempDir()})
		if err != nil {
			t.Fatal(err)
		}
		for _, f := range files {
			if f.Path == DBDir+"/db.sqlite" {
				return f.Data
			}
		}
		t.Fatal("no db.sqlite")
		return nil
	}
	first := build(sample())
	reordered := sample()
	reordered[0], reordered[2] = reordered[2], reordered[0]
	if second := build(reordered); !bytes.Equal(first, second) {
		t.Fatalf("two builds from the same input differ (%d vs %d bytes)", len(first), len(second))
	}
	changed := sample()
	changed[1].NarSize = 101
	if third := build(changed); bytes.Equal(first, third) {
		t.Fatalf("a different NAR size gives the same database")
	}
}

func TestWriteErrors(t *testing.T) {
	for _, tc := range []struct {
		name string
		edit func([]closure.PathInfo) []closure.PathInfo
		msg  string
	}{
		{"dangling", func(s []closure.PathInfo) []closure.PathInfo { return s[:2] }, "references " + pB + ", which is not in the registered closure"},
		{"sub-path", func(s []closure.PathInfo) []closure.PathInfo { s[0].Path = pC + "/bin"; return s }, "not a store path directly under"},
		{"other store", func(s []closure.PathInfo) []closure.PathInfo { s[1].Path = "/gnu/store/x"; return s }, "not a store path"},
		{"bad hash chars", func(s []closure.PathInfo) []closure.PathInfo {
			s[1].Path = "/nix/store/eeeeeeeeeeeeeeeeeeeeeeeeeeeeeeee-a"
			return s
		}, "invalid character"},
		{"duplicate", func(s []closure.PathInfo) []closure.PathInfo { return append(s, s[1]) }, "listed twice"},
		{"nar hash", func(s []closure.PathInfo) []closure.PathInfo { s[2].NarHash = "md5:00"; return s }, "NAR hash"},
		{"nar size", func(s []closure.PathInfo) []closure.PathInfo { s[2].NarSize = 0; return s }, "NAR size"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			file := filepath.Join(t.TempDir(), "db.sqlite")
			err := Write(context.Background(), file, tc.edit(sample()), "/nix/store")
			if err == nil || !strings.Contains(err.Error(), tc.msg) {
				t.Fatalf("err = %v, want it to contain %q", err, tc.msg)
			}
			if _, statErr := os.Stat(file); statErr == nil {
				t.Errorf("database file created despite the error")
			}
		})
	}
}

func TestCustomStoreDir(t *testing.T) {
	infos := []closure.PathInfo{{Path: "/opt/store/0c6kzph7l0dcbfmjap64f0czdafn3b7x-a", NarHash: emptyHex, NarSize: 1}}
	if err := Write(context.Background(), filepath.Join(t.TempDir(), "db"), infos, "/opt/store"); err != nil {
		t.Fatal(err)
	}
	if err := Write(context.Background(), filepath.Join(t.TempDir(), "db"), infos, ""); err == nil {
		t.Fatal("path outside /nix/store accepted with the default store dir")
	}
}

func itoa(i int64) string { return strconv.FormatInt(i, 10) }
