package plan

import (
	"errors"
	"path/filepath"
	"strings"
	"testing"
)

func TestConfigInstallableArgs(t *testing.T) {
	dir := t.TempDir()
	file := filepath.Join(dir, "nix-layers.yaml")
	pl, err := Parse(file, []byte(`version: 1
layers:
  - name: app
    deps: [".#app"]
config:
  entrypoint:
    - {installable: ".#app", path: /bin/app}
    - --port
  cmd: [{installable: "nixpkgs#hello"}]
  env: ["PATH=/bin"]
  check: strict
`))
	if err != nil {
		t.Fatal(err)
	}
	c := &pl.Config
	if c.Check != CheckStrict {
		t.Errorf("check = %q, want strict", c.Check)
	}
	if len(c.Args) != 2 || c.Args[0].Field != "entrypoint[0]" || c.Args[0].Dep.Value != dir+"#app" || c.Args[0].Path != "/bin/app" ||
		c.Args[1].Field != "cmd[0]" || c.Args[1].Dep.Value != "nixpkgs#hello" || c.Args[1].Path != "" {
		t.Fatalf("args = %+v", c.Args)
	}
	if got := c.FieldLine("entrypoint[1]"); got != 8 {
		t.Errorf("entrypoint[1] at line %d, want 8", got)
	}
	if got := c.FieldLine("env[0]"); got != 10 {
		t.Errorf("env[0] at line %d, want 10", got)
	}
	if len(pl.ConfigStorePaths()) != 0 {
		t.Errorf("unresolved args already name store paths: %v", pl.ConfigStorePaths())
	}
	app := "/nix/store/aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa-app-1.0"
	hello := "/nix/store/bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb-hello-2.12"
	if err := c.ResolveArgs(pl.File, pl.Attr, map[string][]string{dir + "#app": {app}, "nixpkgs#hello": {hello}}); err != nil {
		t.Fatal(err)
	}
	if strings.Join(c.Entrypoint, " ") != app+"/bin/app --port" || strings.Join(c.Cmd, " ") != hello {
		t.Errorf("resolved entrypoint %q cmd %q", c.Entrypoint, c.Cmd)
	}
	if got := pl.ConfigStorePaths(); len(got) != 2 || got[0] != app || got[1] != hello {
		t.Errorf("config store paths %v, want the app and hello", got)
	}

	// Two outputs: the user must name one.
	err = c.ResolveArgs(pl.File, pl.Attr, map[string][]string{dir + "#app": {app, app + "-bin"}, "nixpkgs#hello": {hello}})
	var pe *Error
	if !errors.As(err, &pe) || pe.Line != 7 || pe.Field != "config.entrypoint[0].installable" || !strings.Contains(pe.Msg, `".#app.out"`) {
		t.Errorf("two outputs: %v", err)
	}
}

func TestConfigCheckDefaultsToWarn(t *testing.T) {
	pl, err := Parse("p.yaml", []byte("version: 1\nlayers: [{name: a, deps: [\".#a\"]}]\nconfig: {cmd: [/bin/sh]}\n"))
	if err != nil {
		t.Fatal(err)
	}
	if pl.Config.Check != CheckWarn {
		t.Errorf("check = %q, want warn", pl.Config.Check)
	}
}

func TestBadConfigArgs(t *testing.T) {
	head := "version: 1\nlayers: [{name: a, deps: [\".#a\"]}]\nconfig:\n"
	tests := []struct {
		config, field, msg string
	}{
		{"  entrypoint: [{path: /bin/app}]\n", "config.entrypoint[0].installable", "missing; write {installable:"},
		{"  entrypoint: [{installable: \".#app\", bin: x}]\n", "config.entrypoint[0].bin", `unknown key "bin"`},
		{"  cmd: [x, {installable: \"app\"}]\n", "config.cmd[1].installable", `installable "app" is neither a store path nor an installable`},
		{"  cmd: [{installable: \"/nix/store/aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa-app\"}]\n", "config.cmd[0].installable", "write it as a plain string"},
		{"  entrypoint: [{installable: \".#app\", path: bin/app}]\n", "config.entrypoint[0].path", "must be absolute inside the package"},
		{"  entrypoint: [{installable: \".#app\", path: /../etc/passwd}]\n", "config.entrypoint[0].path", "without '..'"},
		{"  check: loud\n", "config.check", `check "loud" must be warn`},
	}
	for _, tt := range tests {
		_, err := Parse("p.yaml", []byte(head+tt.config))
		var pe *Error
		if !errors.As(err, &pe) || pe.Line != 4 || pe.Field != tt.field || !strings.Contains(pe.Msg, tt.msg) {
			t.Errorf("%q: got %v, want p.yaml:4: %s: …%s…", tt.config, err, tt.field, tt.msg)
		}
	}
}

// An env item {name, installable, path} becomes NAME=<store path><path>,
// and its errors name the item's field.
func TestConfigInstallableEnv(t *testing.T) {
	dir := t.TempDir()
	file := filepath.Join(dir, "nix-layers.yaml")
	pl, err := Parse(file, []byte(`version: 1
layers:
  - name: app
    deps: [".#py"]
config:
  env:
    - PATH=/bin
    - {name: PYTHONPATH, installable: ".#py", path: /lib/python3.11/site-packages}
    - {name: PY_HOME, installable: ".#py"}
`))
	if err != nil {
		t.Fatal(err)
	}
	c := &pl.Config
	if len(c.Args) != 2 || c.Args[0].Field != "env[1]" || c.Args[0].Name != "PYTHONPATH" || c.Args[0].Dep.Value != dir+"#py" || c.Args[1].Field != "env[2]" {
		t.Fatalf("args = %+v", c.Args)
	}
	if got := c.FieldLine("env[1]"); got != 8 {
		t.Errorf("env[1] at line %d, want 8", got)
	}
	py := "/nix/store/cccccccccccccccccccccccccccccccc-python3-3.11"
	if err := c.ResolveArgs(pl.File, pl.Attr, map[string][]string{dir + "#py": {py}}); err != nil {
		t.Fatal(err)
	}
	want := []string{"PATH=/bin", "PYTHONPATH=" + py + "/lib/python3.11/site-packages", "PY_HOME=" + py}
	if strings.Join(c.Env, "\n") != strings.Join(want, "\n") {
		t.Errorf("env = %q, want %q", c.Env, want)
	}
	if got := pl.ConfigStorePaths(); len(got) != 1 || got[0] != py {
		t.Errorf("config store paths %v, want the python", got)
	}
	err = c.ResolveArgs(pl.File, pl.Attr, map[string][]string{dir + "#py": {py, py + "-dev"}})
	var pe *Error
	if !errors.As(err, &pe) || pe.Line != 8 || pe.Field != "config.env[1].installable" {
		t.Errorf("two outputs: %v", err)
	}
}

func TestBadConfigEnvArgs(t *testing.T) {
	head := "version: 1\nlayers: [{name: a, deps: [\".#a\"]}]\nconfig:\n"
	for _, tc := range []struct{ env, field, msg string }{
		{`  env: [{installable: ".#a"}]`, "config.env[0].name", "missing; write {name: APP_HOME"},
		{`  env: [{name: "A=B", installable: ".#a"}]`, "config.env[0].name", `"A=B" must be non-empty, without '='`},
		{`  env: [{name: A}]`, "config.env[0].installable", "missing; write {name: APP_HOME"},
		{`  env: [{name: A, installable: ".#a", path: lib}]`, "config.env[0].path", "must be absolute"},
		{`  env: [{name: A, installable: ".#a", value: x}]`, "config.env[0].value", ""},
		{`  env: ["JUSTANAME"]`, "config.env[0]", "{name: NAME, installable:"},
	} {
		_, err := Parse("p.yaml", []byte(head+tc.env+"\n"))
		var pe *Error
		if !errors.As(err, &pe) || pe.Field != tc.field || !strings.Contains(pe.Msg, tc.msg) || pe.Line != 4 {
			t.Errorf("%s: error %v (%+v), want field %s with %q on line 4", tc.env, err, pe, tc.field, tc.msg)
		}
	}
}
