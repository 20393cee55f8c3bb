package rootfs

import (
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/org/nix-layer-action/internal/layer"
)

const (
	envA = "/nix/store/0c6kzph7l0dcbfmjap64f0czdafn3b7x-env-a"
	envB = "/nix/store/1p4xwchsizxh2rncg9yrxjb8j3fh2lga-env-b"
)

// tree creates files under storeRoot+storePath. Entries: "dir/" = directory,
// "name -> target" = symlink, otherwise a regular file with the given content.
func tree(t *testing.T, storeRoot, storePath string, entries map[string]string) {
	t.Helper()
	base := filepath.Join(storeRoot, storePath)
	if err := os.MkdirAll(base, 0o755); err != nil {
		t.Fatal(err)
	}
	for name, content := range entries {
		rel, target, isLink := strings.Cut(name, " -> ")
		p := filepath.Join(base, strings.TrimSuffix(rel, "/"))
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		switch {
		case strings.HasSuffix(name, "/"):
			if err := os.MkdirAll(p, 0o755); err != nil {
				t.Fatal(err)
			}
		case isLink:
			if err := os.Symlink(target, p); err != nil {
				t.Fatal(err)
			}
		default:
			mode := fs.FileMode(0o444)
			if strings.HasPrefix(name, "bin/") {
				mode = 0o555
			}
			if err := os.WriteFile(p, []byte(content), mode); err != nil {
				t.Fatal(err)
			}
		}
	}
}

func byPath(files []layer.File) map[string]layer.File {
	m := map[string]layer.File{}
	for _, f := range files {
		m[f.Path] = f
	}
	return m
}

func TestCollectCopiesContentsAndKeepsSymlinks(t *testing.T) {
	root := t.TempDir()
	tree(t, root, envA, map[string]string{
		"bin/busybox":                 "BUSYBOX",
		"bin/sh -> busybox":           "",
		"usr/bin/env -> /bin/busybox": "",
		"etc/":                        "",
	})
	files, err := Collect([]Source{{Label: ".#env", StorePath: envA}}, root, "")
	if err != nil {
		t.Fatal(err)
	}
	var paths []string
	for _, f := range files {
		paths = append(paths, f.Path)
	}
	want := "/bin /bin/busybox /bin/sh /etc /usr /usr/bin /usr/bin/env"
	if got := strings.Join(paths, " "); got != want {
		t.Fatalf("paths = %q, want %q", got, want)
	}
	m := byPath(files)
	bb := m["/bin/busybox"]
	if !bb.Mode.IsRegular() || bb.Mode.Perm() != 0o555 || bb.Source != filepath.Join(root, envA, "bin/busybox") {
		t.Errorf("/bin/busybox = %+v", bb)
	}
	if sh := m["/bin/sh"]; sh.Mode&fs.ModeSymlink == 0 || sh.Linkname != "busybox" {
		t.Errorf("/bin/sh = %+v, want symlink to busybox", sh)
	}
	if env := m["/usr/bin/env"]; env.Mode&fs.ModeSymlink == 0 || env.Linkname != "/bin/busybox" {
		t.Errorf("/usr/bin/env = %+v, want symlink to /bin/busybox", env)
	}
	if d := m["/etc"]; !d.Mode.IsDir() || d.UID != 0 {
		t.Errorf("/etc = %+v", d)
	}
}

func TestCollectConflictNamesBothSources(t *testing.T) {
	root := t.TempDir()
	tree(t, root, envA, map[string]string{"bin/sh -> busybox": ""})
	tree(t, root, envB, map[string]string{"bin/sh -> bash": ""})
	_, err := Collect([]Source{{Label: "pkgs#a", StorePath: envA}, {Label: "pkgs#b", StorePath: envB}}, root, "")
	var ce *ConflictError
	if !errors.As(err, &ce) {
		t.Fatalf("err = %v, want *ConflictError", err)
	}
	if ce.Path != "/bin/sh" {
		t.Errorf("conflict path = %q", ce.Path)
	}
	for _, s := range []string{"/bin/sh", "pkgs#a (" + envA + ")", "pkgs#b (" + envB + ")", `"busybox"`, `"bash"`} {
		if !strings.Contains(err.Error(), s) {
			t.Errorf("error %q does not mention %q", err, s)
		}
	}
}

func TestCollectConflictContentAndType(t *testing.T) {
	root := t.TempDir()
	tree(t, root, envA, map[string]string{"etc/motd": "hello", "lib/x": "x"})
	tree(t, root, envB, map[string]string{"etc/motd": "HELLO", "lib -> /usr/lib": ""})
	_, err := Collect([]Source{{StorePath: envA}, {StorePath: envB}}, root, "")
	var ce *ConflictError
	if !errors.As(err, &ce) {
		t.Fatalf("err = %v, want *ConflictError", err)
	}
	// Walk order is source by source, lexical: /etc/motd is met first.
	if ce.Path != "/etc/motd" || ce.Reason != "files with different contents" || ce.First != envA || ce.Second != envB {
		t.Errorf("conflict = %+v", ce)
	}

	tree(t, root, envB, map[string]string{"etc/motd": "hello"}) // now identical
	_, err = Collect([]Source{{StorePath: envA}, {StorePath: envB}}, root, "")
	if !errors.As(err, &ce) || ce.Path != "/lib" || ce.Reason != "a directory and a symlink" {
		t.Fatalf("err = %v, want directory/symlink conflict at /lib", err)
	}
}

func TestCollectIdenticalContentMerges(t *testing.T) {
	root := t.TempDir()
	tree(t, root, envA, map[string]string{"bin/sh -> busybox": "", "etc/motd": "same", "share/a/x": "1"})
	tree(t, root, envB, map[string]string{"bin/sh -> busybox": "", "etc/motd": "same", "share/b/y": "2"})
	files, err := Collect([]Source{{StorePath: envA}, {StorePath: envB}, {StorePath: envA}}, root, "")
	if err != nil {
		t.Fatal(err)
	}
	m := byPath(files)
	for _, p := range []string{"/bin/sh", "/etc/motd", "/share", "/share/a/x", "/share/b/y"} {
		if _, ok := m[p]; !ok {
			t.Errorf("missing %s in merged result", p)
		}
	}
	if len(files) != len(m) {
		t.Errorf("duplicate paths in result: %d entries, %d distinct", len(files), len(m))
	}
}

func TestCollectRejectsNonDirectory(t *testing.T) {
	root := t.TempDir()
	p := filepath.Join(root, envA)
	os.MkdirAll(filepath.Dir(p), 0o755)
	os.WriteFile(p, []byte("x"), 0o444)
	_, err := Collect([]Source{{Label: "file-dep", StorePath: envA}}, root, "")
	if err == nil || !strings.Contains(err.Error(), "file-dep") || !strings.Contains(err.Error(), "not a directory") {
		t.Fatalf("err = %v", err)
	}
	_, err = Collect([]Source{{Label: "missing", StorePath: envB}}, root, "")
	if !errors.Is(err, fs.ErrNotExist) {
		t.Fatalf("err = %v, want ErrNotExist", err)
	}
}

// Root contents inside the store would replace a store path's files:
// refused, naming the root dep and the path; the store directory itself
// (a directory) is fine.
func TestCollectRejectsStoreOverlap(t *testing.T) {
	root := t.TempDir()
	tree(t, root, envA, map[string]string{"nix/store/": "", "bin/sh": "sh"})
	if _, err := Collect([]Source{{Label: "env", StorePath: envA}}, root, ""); err != nil {
		t.Fatalf("an empty nix/store directory is harmless: %v", err)
	}
	over := "nix/store/1p4xwchsizxh2rncg9yrxjb8j3fh2lga-env-b/bin/sh"
	tree(t, root, envA, map[string]string{over: "evil"})
	_, err := Collect([]Source{{Label: "plan.yaml:3: root: .#evil", StorePath: envA}}, root, "")
	var oe *StoreOverlapError
	if !errors.As(err, &oe) || oe.Source == "" || !strings.Contains(err.Error(), ".#evil") || !strings.Contains(err.Error(), envB) {
		t.Fatalf("err = %v, want a StoreOverlapError naming the dep and %s", err, envB)
	}
	// Another store directory is judged by its own name.
	if _, err := Collect([]Source{{Label: "env", StorePath: envA}}, root, "/gnu/store"); err != nil {
		t.Errorf("with store dir /gnu/store: %v", err)
	}
}

func TestMergeGeneratedSetsAndConflicts(t *testing.T) {
	root := t.TempDir()
	tree(t, root, envA, map[string]string{"etc/passwd": "root:x:0:0::/:/bin/sh\n", "tmp/": ""})
	rootFiles, err := Collect([]Source{{Label: "env", StorePath: envA}}, root, "")
	if err != nil {
		t.Fatal(err)
	}
	users, err := Users([]User{{Name: "app", UID: 1000, GID: 1000, Home: "/home/app"}})
	if err != nil {
		t.Fatal(err)
	}
	_, err = Merge(Set{"env", rootFiles}, Set{"users", users})
	var ce *ConflictError
	if !errors.As(err, &ce) || ce.Path != "/etc/passwd" || ce.First != "env" || ce.Second != "users" {
		t.Fatalf("err = %v, want /etc/passwd conflict between env and users", err)
	}

	os.Remove(filepath.Join(root, envA, "etc/passwd"))
	rootFiles, err = Collect([]Source{{Label: "env", StorePath: envA}}, root, "")
	if err != nil {
		t.Fatal(err)
	}
	merged, err := Merge(Set{"env", rootFiles}, Set{"tmp", Tmp()}, Set{"users", users})
	if err != nil {
		t.Fatal(err)
	}
	m := byPath(merged)
	if tmp := m["/tmp"]; tmp.Mode != fs.ModeDir|fs.ModeSticky|0o777 {
		t.Errorf("/tmp mode = %v, want the later set's 1777", tmp.Mode)
	}
	if etc := m["/etc"]; etc.Mode != fs.ModeDir|0o755 {
		t.Errorf("/etc mode = %v", etc.Mode)
	}
	for i := 1; i < len(merged); i++ {
		if merged[i-1].Path >= merged[i].Path {
			t.Fatalf("not sorted/unique: %s before %s", merged[i-1].Path, merged[i].Path)
		}
	}
}
