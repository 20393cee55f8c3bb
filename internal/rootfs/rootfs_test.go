package rootfs

import (
	"context"
	"errors"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/nix-community/go-nix/pkg/nar"

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
	files, err := Collect(context.Background(), []Source{{Label: ".#env", StorePath: envA}}, root, "")
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
	_, err := Collect(context.Background(), []Source{{Label: "pkgs#a", StorePath: envA}, {Label: "pkgs#b", StorePath: envB}}, root, "")
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
	_, err := Collect(context.Background(), []Source{{StorePath: envA}, {StorePath: envB}}, root, "")
	var ce *ConflictError
	if !errors.As(err, &ce) {
		t.Fatalf("err = %v, want *ConflictError", err)
	}
	// Walk order is source by source, lexical: /etc/motd is met first.
	if ce.Path != "/etc/motd" || ce.Reason != "files with different contents" || ce.First != envA || ce.Second != envB {
		t.Errorf("conflict = %+v", ce)
	}

	tree(t, root, envB, map[string]string{"etc/motd": "hello"}) // now identical
	_, err = Collect(context.Background(), []Source{{StorePath: envA}, {StorePath: envB}}, root, "")
	if !errors.As(err, &ce) || ce.Path != "/lib" || ce.Reason != "a directory and a symlink" {
		t.Fatalf("err = %v, want directory/symlink conflict at /lib", err)
	}
}

func TestCollectIdenticalContentMerges(t *testing.T) {
	root := t.TempDir()
	tree(t, root, envA, map[string]string{"bin/sh -> busybox": "", "etc/motd": "same", "share/a/x": "1"})
	tree(t, root, envB, map[string]string{"bin/sh -> busybox": "", "etc/motd": "same", "share/b/y": "2"})
	files, err := Collect(context.Background(), []Source{{StorePath: envA}, {StorePath: envB}, {StorePath: envA}}, root, "")
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
	_, err := Collect(context.Background(), []Source{{Label: "file-dep", StorePath: envA}}, root, "")
	if err == nil || !strings.Contains(err.Error(), "file-dep") || !strings.Contains(err.Error(), "not a directory") {
		t.Fatalf("err = %v", err)
	}
	_, err = Collect(context.Background(), []Source{{Label: "missing", StorePath: envB}}, root, "")
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
	if _, err := Collect(context.Background(), []Source{{Label: "env", StorePath: envA}}, root, ""); err != nil {
		t.Fatalf("an empty nix/store directory is harmless: %v", err)
	}
	over := "nix/store/1p4xwchsizxh2rncg9yrxjb8j3fh2lga-env-b/bin/sh"
	tree(t, root, envA, map[string]string{over: "evil"})
	_, err := Collect(context.Background(), []Source{{Label: "plan.yaml:3: root: .#evil", StorePath: envA}}, root, "")
	var oe *StoreOverlapError
	if !errors.As(err, &oe) || oe.Source == "" || !strings.Contains(err.Error(), ".#evil") || !strings.Contains(err.Error(), envB) {
		t.Fatalf("err = %v, want a StoreOverlapError naming the dep and %s", err, envB)
	}
	// Another store directory is judged by its own name.
	if _, err := Collect(context.Background(), []Source{{Label: "env", StorePath: envA}}, root, "/gnu/store"); err != nil {
		t.Errorf("with store dir /gnu/store: %v", err)
	}
}

func TestMergeGeneratedSetsAndConflicts(t *testing.T) {
	root := t.TempDir()
	tree(t, root, envA, map[string]string{"etc/passwd": "root:x:0:0::/:/bin/sh\n", "tmp/": ""})
	rootFiles, err := Collect(context.Background(), []Source{{Label: "env", StorePath: envA}}, root, "")
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
	rootFiles, err = Collect(context.Background(), []Source{{Label: "env", StorePath: envA}}, root, "")
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

// narOf serves store paths' NARs dumped from the host tree under root, as
// a substituter would, counting the NARs opened.
func narOf(root string, opened *int) layer.Source {
	return layer.NARSource{Open: func(ctx context.Context, p string) (io.ReadCloser, error) {
		*opened++
		pr, pw := io.Pipe()
		go func() { pw.CloseWithError(nar.DumpPath(pw, root+p)) }()
		return pr, nil
	}}
}

// storeModes makes directories 0555, as in a Nix store (files already are).
func storeModes(t *testing.T, dir string) {
	t.Helper()
	var dirs []string
	filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err == nil && d.IsDir() {
			dirs = append(dirs, p)
		}
		return err
	})
	for i := len(dirs) - 1; i >= 0; i-- {
		if err := os.Chmod(dirs[i], 0o555); err != nil {
			t.Fatal(err)
		}
	}
	t.Cleanup(func() {
		for _, d := range dirs {
			os.Chmod(d, 0o755)
		}
	})
}

// A root dep read from its NAR (the local store lacks it) gives the same
// files, contents and layer key as the same path read from the store.
func TestCollectFromNARMatchesTheStore(t *testing.T) {
	root := t.TempDir()
	tree(t, root, envA, map[string]string{
		"bin/busybox":                 "BUSYBOX",
		"bin/sh -> busybox":           "",
		"usr/bin/env -> /bin/busybox": "",
		"etc/os-release":              "ID=nix\n",
		"etc/empty/":                  "",
	})
	storeModes(t, filepath.Join(root, "nix"))
	ctx := context.Background()
	host, err := Collect(ctx, []Source{{Label: ".#env", StorePath: envA}}, root, "")
	if err != nil {
		t.Fatal(err)
	}
	opened := 0
	fromNAR, err := Collect(ctx, []Source{{Label: ".#env", StorePath: envA, From: narOf(root, &opened)}}, "/nonexistent", "")
	if err != nil {
		t.Fatal(err)
	}
	if opened != 1 || len(host) != len(fromNAR) || len(host) != 9 {
		t.Fatalf("%d NARs opened; %d files from the store, %d from the NAR", opened, len(host), len(fromNAR))
	}
	for i, h := range host {
		n := fromNAR[i]
		want := ""
		if h.Source != "" {
			data, _ := os.ReadFile(h.Source)
			want = string(data)
		}
		if h.Path != n.Path || h.Mode != n.Mode || h.Linkname != n.Linkname || string(n.Data) != want || n.Source != "" {
			t.Errorf("store %+v, NAR %+v (data %q)", h, n, n.Data)
		}
	}
	kh, err := layer.Key(layer.Spec{Name: "root", Files: host})
	if err != nil {
		t.Fatal(err)
	}
	if kn, _ := layer.Key(layer.Spec{Name: "root", Files: fromNAR}); kn != kh {
		t.Errorf("key from the NAR %s, from the store %s", kn, kh)
	}
}

// Conflicts and store overlaps are found between a source on disk and one
// from a NAR too, and a NAR of a file is not a directory.
func TestCollectFromNARErrors(t *testing.T) {
	root := t.TempDir()
	tree(t, root, envA, map[string]string{"bin/sh -> busybox": ""})
	tree(t, root, envB, map[string]string{"nix/store/x": "X"})
	ctx := context.Background()
	opened := 0
	_, err := Collect(ctx, []Source{{Label: "a", StorePath: envA}, {Label: "b", StorePath: envB, From: narOf(root, &opened)}}, root, "")
	var oe *StoreOverlapError
	if !errors.As(err, &oe) || oe.Source != "b ("+envB+")" || oe.Path != "/nix/store/x" {
		t.Fatalf("overlap: %v", err)
	}
	var ce *ConflictError
	tree(t, root, "/nix/store/2p4xwchsizxh2rncg9yrxjb8j3fh2lgb-env-c", map[string]string{"bin/sh -> dash": ""})
	_, err = Collect(ctx, []Source{{Label: "a", StorePath: envA}, {Label: "c", StorePath: "/nix/store/2p4xwchsizxh2rncg9yrxjb8j3fh2lgb-env-c", From: narOf(root, &opened)}}, root, "")
	if !errors.As(err, &ce) || !strings.HasPrefix(ce.First, "a (") || !strings.HasPrefix(ce.Second, "c (") || ce.Path != "/bin/sh" {
		t.Errorf("conflict: %v", err)
	}
	file := "/nix/store/3p4xwchsizxh2rncg9yrxjb8j3fh2lgc-file"
	if err := os.WriteFile(root+file, []byte("x"), 0o444); err != nil {
		t.Fatal(err)
	}
	_, err = Collect(ctx, []Source{{Label: "f", StorePath: file, From: narOf(root, &opened)}}, root, "")
	if err == nil || !strings.Contains(err.Error(), "not a directory") {
		t.Errorf("file NAR: %v", err)
	}
}
