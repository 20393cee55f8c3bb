package nixdb_test

import (
	"bytes"
	"context"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/org/nix-layer-action/internal/closure"
	"github.com/org/nix-layer-action/internal/layer"
	"github.com/org/nix-layer-action/internal/nixdb"
	"github.com/org/nix-layer-action/internal/nixpath"
	"github.com/org/nix-layer-action/internal/rootfs"
	"github.com/org/nix-layer-action/internal/testutil"
	"github.com/org/nix-layer-action/internal/testutil/nixfix"
)

// TestNixVerifiesGeneratedDB builds the fixture app with real nix, copies
// its closure into a chroot store together with the generated database and
// lets nix itself check it: `nix-store --verify --check-contents` must pass,
// references must come back as registered, and a modified file must be
// detected (so the check can fail).
func TestNixVerifiesGeneratedDB(t *testing.T) {
	testutil.Short(t)
	nixStore := testutil.RequireTool(t, "nix-store")
	fx := nixfix.Flake(t, t.TempDir(), nixfix.Options{Packages: 1, CudaSize: 4096})
	app := fx.Build(t, "app")["app"]
	g, err := nixfix.Runner(t, fx.Dir).PathInfo(context.Background(), []string{app})
	if err != nil {
		t.Fatal(err)
	}
	paths, err := g.Closure(app)
	if err != nil {
		t.Fatal(err)
	}
	var infos []closure.PathInfo
	for _, p := range paths {
		info, _ := g.Info(p)
		infos = append(infos, info)
	}
	if len(infos) < 3 {
		t.Fatalf("closure of app too small to be a meaningful test: %v", paths)
	}

	files, err := nixdb.Files(infos, nixdb.Options{TempDir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	root := chrootStore(t, paths, files)

	run := func(args ...string) (string, error) {
		cmd := exec.Command(nixStore, append([]string{"--store", root}, args...)...)
		cmd.Env = append(os.Environ(), nixfix.Env()...)
		var out, errb bytes.Buffer
		cmd.Stdout, cmd.Stderr = &out, &errb
		err := cmd.Run()
		return out.String() + errb.String(), err
	}

	out, err := run("--verify", "--check-contents")
	if err != nil || strings.Contains(out, "modified") || strings.Contains(out, "error") {
		t.Fatalf("nix-store --verify --check-contents on the generated db: %v\n%s", err, out)
	}
	for _, info := range infos {
		out, err := run("-q", "--references", info.Path)
		if err != nil {
			t.Fatalf("nix-store -q --references %s: %v\n%s", info.Path, err, out)
		}
		got := strings.Fields(out)
		want := slices.Clone(info.References)
		slices.Sort(got)
		slices.Sort(want)
		if !slices.Equal(got, want) {
			t.Errorf("references of %s = %v, want %v", info.Path, got, want)
		}
		out, err = run("-q", "--hash", info.Path)
		if norm, _ := nixpath.NormalizeHash(info.NarHash); err != nil || strings.TrimSpace(out) != norm {
			t.Errorf("nix-store -q --hash %s = %q (%v), want %s", info.Path, out, err, norm)
		}
	}
	out, err = run("-qR", app)
	if got := strings.Fields(out); err != nil || !slices.Equal(sorted(got), paths) {
		t.Errorf("nix-store -qR %s = %v (%v), want %v", app, got, err, paths)
	}

	// Tamper with a file in the chroot copy: the same verification must fail.
	victim := filepath.Join(root, app, "bin", "app")
	if err := os.Chmod(victim, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(victim, []byte("#!/bin/sh\necho tampered\n"), 0o555); err != nil {
		t.Fatal(err)
	}
	out, err = run("--verify", "--check-contents")
	if err == nil || !strings.Contains(out, app) {
		t.Fatalf("verification of a tampered store passed (err %v):\n%s", err, out)
	}
}

// chrootStore lays out <root>/nix/store/<paths> (copied from the host
// store) plus the generated entries, as the image would contain them.
func chrootStore(t *testing.T, paths []string, files []layer.File) string {
	t.Helper()
	root := t.TempDir()
	t.Cleanup(func() { makeWritable(root) }) // store copies are read-only
	if err := os.MkdirAll(filepath.Join(root, "nix", "store"), 0o755); err != nil {
		t.Fatal(err)
	}
	for _, p := range paths {
		if out, err := exec.Command("cp", "-a", p, filepath.Join(root, p)).CombinedOutput(); err != nil {
			t.Fatalf("cp -a %s: %v\n%s", p, err, out)
		}
	}
	for _, f := range files {
		dst := filepath.Join(root, f.Path)
		switch {
		case f.Mode.IsDir():
			if err := os.MkdirAll(dst, f.Mode.Perm()); err != nil {
				t.Fatal(err)
			}
		case f.Mode.IsRegular():
			if err := os.MkdirAll(filepath.Dir(dst), 0o755); err != nil {
				t.Fatal(err)
			}
			if err := os.WriteFile(dst, f.Data, f.Mode.Perm()); err != nil {
				t.Fatal(err)
			}
		default:
			t.Fatalf("unexpected entry %s (%v)", f.Path, f.Mode)
		}
	}
	return root
}

func makeWritable(root string) {
	filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
		if err == nil && d.IsDir() {
			os.Chmod(p, 0o755)
		}
		return nil
	})
}

func sorted(s []string) []string { slices.Sort(s); return s }

// TestImageContentsThroughLayer builds one real layer from the app closure
// plus every generated entry (root-fs contents of busybox, users, /tmp,
// nix db), unpacks it with tar as a container runtime would, and checks the
// result with nix and by inspection.
func TestImageContentsThroughLayer(t *testing.T) {
	testutil.Short(t)
	nixStore := testutil.RequireTool(t, "nix-store")
	tarBin := testutil.RequireTool(t, "tar")
	fx := nixfix.Flake(t, t.TempDir(), nixfix.Options{Packages: 1, CudaSize: 4096})
	built := fx.Build(t, "app", "busybox")
	app, busybox := built["app"], built["busybox"]
	g, err := nixfix.Runner(t, fx.Dir).PathInfo(context.Background(), []string{app, busybox})
	if err != nil {
		t.Fatal(err)
	}
	paths, err := g.Closure(app, busybox)
	if err != nil {
		t.Fatal(err)
	}
	var infos []closure.PathInfo
	for _, p := range paths {
		info, _ := g.Info(p)
		infos = append(infos, info)
	}

	rootFiles, err := rootfs.Collect(context.Background(), []rootfs.Source{{Label: ".#busybox", StorePath: busybox}}, "", "")
	if err != nil {
		t.Fatal(err)
	}
	users, err := rootfs.Users([]rootfs.User{{Name: "app", UID: 1000, GID: 1000, Home: "/home/app"}})
	if err != nil {
		t.Fatal(err)
	}
	dbFiles, err := nixdb.Files(infos, nixdb.Options{UID: 1000, GID: 1000, TempDir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	files, err := rootfs.Merge(
		rootfs.Set{Label: "root", Files: rootFiles},
		rootfs.Set{Label: "tmp", Files: rootfs.Tmp()},
		rootfs.Set{Label: "users", Files: users},
		rootfs.Set{Label: "nix-db", Files: dbFiles},
	)
	if err != nil {
		t.Fatal(err)
	}
	var sps []layer.StorePath
	for _, in := range infos {
		sps = append(sps, layer.StorePath{Path: in.Path, NarHash: in.NarHash, NarSize: in.NarSize})
	}
	l, err := layer.Build(context.Background(), layer.Spec{Name: "root", Paths: sps, Files: files}, layer.DirSource{}, layer.Options{TempDir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()

	root := t.TempDir()
	t.Cleanup(func() { makeWritable(root) })
	if out, err := exec.Command(tarBin, "-xzf", l.Path(), "-C", root, "--numeric-owner", "--same-owner", "--same-permissions").CombinedOutput(); err != nil {
		t.Fatalf("tar -x: %v\n%s", err, out)
	}

	if target, err := os.Readlink(filepath.Join(root, "bin/sh")); err != nil || target != "busybox" {
		t.Errorf("/bin/sh → %q (%v), want symlink to busybox", target, err)
	}
	if b, err := os.ReadFile(filepath.Join(root, "etc/passwd")); err != nil || !strings.Contains(string(b), "app:x:1000:1000:app:/home/app:/bin/sh\n") {
		t.Errorf("/etc/passwd = %q (%v)", b, err)
	}
	for p, want := range map[string]struct {
		mode     fs.FileMode
		uid, gid uint32
	}{
		"tmp":            {fs.ModeDir | fs.ModeSticky | 0o777, 0, 0},
		"home/app":       {fs.ModeDir | 0o755, 1000, 1000},
		"nix/var/nix/db": {fs.ModeDir | 0o755, 1000, 1000},
		"nix/store":      {fs.ModeDir | 0o755, 1000, 1000},
		"bin/busybox":    {0o555, 0, 0},
	} {
		info, err := os.Lstat(filepath.Join(root, p))
		if err != nil {
			t.Errorf("%s: %v", p, err)
			continue
		}
		uid, gid := owner(info)
		if info.Mode() != want.mode || uid != want.uid || gid != want.gid {
			t.Errorf("/%s = %v %d:%d, want %v %d:%d", p, info.Mode(), uid, gid, want.mode, want.uid, want.gid)
		}
	}
	// Last: opening the store makes nix chmod/chown /nix/store.
	// As the image user (uid 1000), like `podman run --user app`:
	t.Run("as-user", func(t *testing.T) {
		if os.Geteuid() != 0 {
			t.Skip("switching to uid 1000 needs root")
		}
		setpriv := testutil.RequireTool(t, "setpriv")
		// t.TempDir's parents are 0700: let uid 1000 traverse them (only
		// the test's own directories below os.TempDir()).
		for d := filepath.Dir(root); strings.HasPrefix(d, filepath.Clean(os.TempDir())+"/"); d = filepath.Dir(d) {
			if info, err := os.Stat(d); err == nil {
				os.Chmod(d, info.Mode().Perm()|0o011)
			}
		}
		cmd := exec.Command(setpriv, "--reuid=1000", "--regid=1000", "--clear-groups",
			nixStore, "--store", root, "--verify", "--check-contents")
		cmd.Env = append(os.Environ(), nixfix.Env()...)
		cmd.Env = append(cmd.Env, "HOME="+filepath.Join(root, "home/app"))
		if out, err := cmd.CombinedOutput(); err != nil || strings.Contains(string(out), "modified") {
			t.Fatalf("nix-store --verify --check-contents as uid 1000: %v\n%s", err, out)
		}
	})
	cmd := exec.Command(nixStore, "--store", root, "--verify", "--check-contents")
	cmd.Env = append(os.Environ(), nixfix.Env()...)
	if out, err := cmd.CombinedOutput(); err != nil || strings.Contains(string(out), "modified") {
		t.Fatalf("nix-store --verify --check-contents on the unpacked layer: %v\n%s", err, out)
	}
}
