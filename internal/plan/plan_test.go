package plan

import (
	"path/filepath"
	"reflect"
	"testing"
)

func ptr[T any](v T) *T { return &v }

func absPlansDir(t *testing.T) string {
	t.Helper()
	d, err := filepath.Abs(plansDir)
	if err != nil {
		t.Fatal(err)
	}
	return d
}

// stripRegexps strips the compiled regexps (checked separately) so plans
// can be compared with reflect.DeepEqual.
func stripRegexps(t *testing.T, perms []Perm) []Perm {
	t.Helper()
	out := make([]Perm, len(perms))
	for i, p := range perms {
		if p.Regexp == nil || p.Regexp.String() != p.Path {
			t.Errorf("perm %d: regexp %v does not match path %q", i, p.Regexp, p.Path)
		}
		p.Regexp = nil
		out[i] = p
	}
	return out
}

func TestLoadValidYAML(t *testing.T) {
	dir := absPlansDir(t)
	file := filepath.Join(plansDir, "valid.yaml")
	pl, err := Load(file)
	if err != nil {
		t.Fatal(err)
	}
	want := &Plan{
		File:         file,
		Dir:          dir,
		Version:      1,
		StoreDir:     "/nix/store",
		MaxLayerSize: 5_000_000_000,
		System:       "aarch64-linux",
		From:         "docker.io/library/debian:12",
		Tmp:          true,
		Root: []Dep{{
			Raw:   "/nix/store/0c0gqpcrhl3lfqqfbgwwlfiq4r8bbxsz-etc-files/etc",
			Kind:  StorePath,
			Value: "/nix/store/0c0gqpcrhl3lfqqfbgwwlfiq4r8bbxsz-etc-files",
			Sub:   "/etc",
			Line:  9,
		}},
		Users: []User{
			{Name: "app", UID: 1000, GID: 100, Home: "/home/app", Line: 11},
			{Name: "svc", UID: 1001, GID: 1001, Home: "/var/empty", Line: 15},
		},
		Perms: []Perm{{Path: `^/nix/store/[^/]+-app/bin/.*$`, Mode: ptr(uint32(0o755)), UID: ptr(1000), Line: 19}},
		Layers: []Layer{
			{Name: "base", Line: 23, Deps: []Dep{
				{Raw: "/nix/store/ffffffffffffffffffffffffffffffff-glibc-2.39", Kind: StorePath,
					Value: "/nix/store/ffffffffffffffffffffffffffffffff-glibc-2.39", Line: 25},
				{Raw: "nixpkgs#bash", Kind: Installable, Value: "nixpkgs#bash", Line: 26},
			}},
			{Name: "cuda", Line: 27, MaxSize: 512 << 20,
				Deps: []Dep{
					{Raw: ".#cuda", Kind: Installable, Value: dir + "#cuda", Line: 30},
					{Raw: "path:./sub#lib", Kind: Installable, Value: "path:" + dir + "/sub#lib", Line: 31},
				},
				Perms: []Perm{{Path: "^/data", Mode: ptr(uint32(0o1777)), GID: ptr(100), Line: 33}},
			},
			{Name: "rest", Line: 36, Auto: &Auto{MaxLayers: 20, Line: 38}},
		},
		Config: Config{
			Entrypoint: []string{"/nix/store/ffffffffffffffffffffffffffffffff-app-1.0/bin/app"},
			Cmd:        []string{"--port", "8188"},
			Env: []string{
				"PATH=/nix/store/ffffffffffffffffffffffffffffffff-app-1.0/bin:/nix/store/00000000000000000000000000000000-coreutils-9.4/bin",
				"LANG=C.UTF-8",
			},
			WorkingDir:   "/srv",
			User:         "app",
			ExposedPorts: []string{"8188/tcp", "53/udp", "80"},
			Labels: map[string]string{
				"org.opencontainers.image.source": "https://github.com/org/repo",
				"version":                         "1.0",
			},
			Line:  39,
			Check: CheckWarn,
			lines: map[string]int{"entrypoint[0]": 40, "cmd[0]": 41, "cmd[1]": 41, "env[0]": 43, "env[1]": 44},
		},
	}
	pl.Perms = stripRegexps(t, pl.Perms)
	for i := range pl.Layers {
		if pl.Layers[i].Perms != nil {
			pl.Layers[i].Perms = stripRegexps(t, pl.Layers[i].Perms)
		}
	}
	if !reflect.DeepEqual(pl, want) {
		t.Errorf("got\n%#v\nwant\n%#v", pl, want)
	}
	if !pl.HasRootLayer() {
		t.Error("HasRootLayer() = false, want true (root, tmp and users are set)")
	}
	if got := pl.LayerCount(); got != 2+20+1 {
		t.Errorf("LayerCount() = %d, want 23", got)
	}
}

func TestLoadValidJSON(t *testing.T) {
	dir := absPlansDir(t)
	file := filepath.Join(plansDir, "valid.json")
	pl, err := Load(file)
	if err != nil {
		t.Fatal(err)
	}
	want := &Plan{
		File:         file,
		Dir:          dir,
		Version:      1,
		StoreDir:     "/nix/store",
		MaxLayerSize: DefaultMaxLayerSize,
		ClosureGraph: filepath.Join(dir, "graph.json"),
		StoreRoot:    "/tmp/chroot",
		Layers: []Layer{
			{Name: "base", Line: 6, Deps: []Dep{{
				Raw: "/nix/store/ffffffffffffffffffffffffffffffff-glibc-2.39", Kind: StorePath,
				Value: "/nix/store/ffffffffffffffffffffffffffffffff-glibc-2.39", Line: 8,
			}}},
			{Name: "app", Line: 10, MaxSize: 1_000_000, Deps: []Dep{{
				Raw: "/nix/store/ffffffffffffffffffffffffffffffff-app-1.0/bin/app", Kind: StorePath,
				Value: "/nix/store/ffffffffffffffffffffffffffffffff-app-1.0", Sub: "/bin/app", Line: 13,
			}}},
		},
		Config: Config{
			Cmd:   []string{"/nix/store/ffffffffffffffffffffffffffffffff-app-1.0/bin/app"},
			User:  "1000:1000",
			Line:  16,
			Check: CheckWarn,
			lines: map[string]int{"cmd[0]": 17},
		},
	}
	if !reflect.DeepEqual(pl, want) {
		t.Errorf("got\n%#v\nwant\n%#v", pl, want)
	}
	if pl.HasRootLayer() {
		t.Error("HasRootLayer() = true, want false")
	}
}

// TestParseDefaultsAndOptions covers keys and defaults not in the fixtures.
func TestParseOptions(t *testing.T) {
	tests := []struct {
		name  string
		in    string
		check func(t *testing.T, p *Plan)
	}{
		{"defaults", "version: 1\nlayers: [{name: a, deps: [nixpkgs#a]}]\n", func(t *testing.T, p *Plan) {
			if p.StoreDir != "/nix/store" || p.MaxLayerSize != 10_000_000_000 || p.ClosureGraph != "" || p.Tmp || p.NixDB {
				t.Errorf("defaults wrong: %+v", p)
			}
		}},
		{"custom store dir", "version: 1\nstore-dir: /gnu/store\nlayers: [{name: a, deps: [/gnu/store/ffffffffffffffffffffffffffffffff-a]}]\n", func(t *testing.T, p *Plan) {
			if p.StoreDir != "/gnu/store" || p.Layers[0].Deps[0].Kind != StorePath {
				t.Errorf("got %+v", p)
			}
		}},
		{"nix-db and allow-outside", "version: 1\nnix-db: true\nallow-outside-workspace: true\nlayers: [{name: a, deps: [\"../x#a\"]}]\n", func(t *testing.T, p *Plan) {
			if !p.NixDB || !p.AllowOutsideWorkspace || p.Layers[0].Deps[0].Value != "/proj/x#a" {
				t.Errorf("got %+v", p)
			}
		}},
		{"config user with base image", "version: 1\nfrom: debian\nconfig: {user: \"www-data:www-data\"}\nlayers: [{name: a, deps: [nixpkgs#a]}]\n", func(t *testing.T, p *Plan) {
			if p.Config.User != "www-data:www-data" {
				t.Errorf("got %q", p.Config.User)
			}
		}},
		{"config user numeric", "version: 1\nconfig: {user: 65534}\nlayers: [{name: a, deps: [nixpkgs#a]}]\n", func(t *testing.T, p *Plan) {
			if p.Config.User != "65534" {
				t.Errorf("got %q", p.Config.User)
			}
		}},
		{"modes", "version: 1\nperms: [{path: a, mode: 755}, {path: b, mode: 0o644}, {path: c, mode: \"600\"}]\nlayers: [{name: a, deps: [nixpkgs#a]}]\n", func(t *testing.T, p *Plan) {
			want := []uint32{0o755, 0o644, 0o600}
			for i, w := range want {
				if p.Perms[i].Mode == nil || *p.Perms[i].Mode != w {
					t.Errorf("perm %d mode = %v, want %o", i, p.Perms[i].Mode, w)
				}
			}
		}},
		{"yaml anchors", "version: 1\nlayers:\n- name: a\n  deps: &d [nixpkgs#a]\n- name: b\n  deps: *d\n", func(t *testing.T, p *Plan) {
			if len(p.Layers) != 2 || len(p.Layers[1].Deps) != 1 || p.Layers[1].Deps[0].Value != "nixpkgs#a" {
				t.Errorf("got %+v", p.Layers)
			}
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p, err := Parse("/proj/sub/nix-layers.yaml", []byte(tt.in))
			if err != nil {
				t.Fatal(err)
			}
			if p.Dir != "/proj/sub" {
				t.Fatalf("Dir = %q", p.Dir)
			}
			tt.check(t, p)
		})
	}
}
