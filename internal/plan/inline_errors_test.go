package plan

import (
	"errors"
	"strings"
	"testing"
)

// TestInlineErrors covers error classes without a fixture file. The plans
// are small so the expected lines can be checked by eye.
func TestInlineErrors(t *testing.T) {
	const l = "layers: [{name: a, deps: [nixpkgs#a]}]\n"
	tests := []struct {
		name, in string
		line     int
		field    string
		msg      string
	}{
		{"empty file", "", 0, "", "plan is empty"},
		{"comments only", "# nothing\n", 0, "", "plan is empty"},
		// reported at the "---" that starts the second document
		{"two documents", "version: 1\n" + l + "---\nversion: 1\n", 3, "", "exactly one YAML document"},
		{"top level list", "- version: 1\n", 1, "", "must be a mapping, got a list"},
		{"version string", "version: \"1\"\n" + l, 1, "version", "must be the number 1, got a string"},
		{"version float", "version: 1.0\n" + l, 1, "version", "must be the number 1, got a number"},
		{"tmp not bool", "version: 1\ntmp: yes\n" + l, 2, "tmp", "must be true or false, got a string"},
		{"nix-db list", "version: 1\nnix-db: []\n" + l, 2, "nix-db", "must be true or false, got a list"},
		{"layer not mapping", "version: 1\nlayers: [a]\n", 2, "layers[0]", "must be a mapping, got a string"},
		{"layer name list", "version: 1\nlayers: [{name: [a], deps: [x#a]}]\n", 2, "layers[0].name", "must be a string, got a list"},
		{"layer name null", "version: 1\nlayers:\n- name:\n  deps: [x#a]\n", 3, "layers[0].name", "must be a string, got nothing"},
		{"deps null", "version: 1\nlayers:\n- name: a\n  deps:\n", 4, "layers[0].deps", "must list at least one dep"},
		{"dep not string", "version: 1\nlayers:\n- name: a\n  deps:\n  - {x: 1}\n", 5, "layers[0].deps[0]", "must be a string, got a mapping"},
		{"max-size garbage", "version: 1\nlayers:\n- name: a\n  max-size: lots\n  deps: [x#a]\n", 4, "layers[0].max-size", "invalid size \"lots\""},
		{"max-size zero", "version: 1\nlayers:\n- name: a\n  max-size: 0\n  deps: [x#a]\n", 4, "layers[0].max-size", "must be positive"},
		{"max-layer-size overflow", "version: 1\nmax-layer-size: 99999999999999999999\n" + l, 2, "max-layer-size", "too large"},
		{"auto without max-layers", "version: 1\nlayers:\n- name: a\n  auto: {}\n", 4, "layers[0].auto.max-layers", "missing"},
		{"auto max-layers zero", "version: 1\nlayers:\n- name: a\n  auto: {max-layers: 0}\n", 4, "layers[0].auto.max-layers", "out of range (1..127)"},
		{"auto unknown key", "version: 1\nlayers:\n- name: a\n  auto: {max: 3}\n", 4, "layers[0].auto.max", "unknown key \"max\""},
		{"user without name", "version: 1\nusers:\n- uid: 1\n  home: /h\n" + l, 3, "users[0].name", "missing"},
		{"user without home", "version: 1\nusers:\n- name: u\n  uid: 1\n" + l, 3, "users[0].home", "missing"},
		{"user without uid", "version: 1\nusers:\n- name: u\n  home: /h\n" + l, 3, "users[0].uid", "missing"},
		{"user gid negative", "version: 1\nusers:\n- name: u\n  uid: 1\n  gid: -3\n  home: /h\n" + l, 5, "users[0].gid", "out of range"},
		{"user name colon", "version: 1\nusers:\n- name: \"a:b\"\n  uid: 1\n  home: /h\n" + l, 3, "users[0].name", "may only contain"},
		{"users not list", "version: 1\nusers: {name: a}\n" + l, 2, "users", "must be a list, got a mapping"},
		{"perm nothing set", "version: 1\nperms:\n- path: ^/x\n" + l, 3, "perms[0]", "at least one of mode, uid, gid"},
		{"perm no path", "version: 1\nperms:\n- mode: \"0755\"\n" + l, 3, "perms[0].path", "missing"},
		{"perm mode too big", "version: 1\nperms:\n- {path: x, mode: \"17777\"}\n" + l, 3, "perms[0].mode", "larger than 07777"},
		{"perm mode decimal", "version: 1\nperms:\n- {path: x, mode: 493}\n" + l, 3, "perms[0].mode", "octal"},
		{"perm uid string", "version: 1\nperms:\n- {path: x, uid: root}\n" + l, 3, "perms[0].uid", "must be an integer, got a string"},
		{"perm unknown key", "version: 1\nperms:\n- {path: x, owner: 1}\n" + l, 3, "perms[0].owner", "unknown key"},
		{"config unknown key", "version: 1\nconfig:\n  Entrypoint: [a]\n" + l, 3, "config.Entrypoint", "unknown key \"Entrypoint\""},
		{"config cmd string", "version: 1\nconfig:\n  cmd: hello\n" + l, 3, "config.cmd", "must be a list, got a string"},
		{"working-dir relative", "version: 1\nconfig:\n  working-dir: srv\n" + l, 3, "config.working-dir", "absolute"},
		{"labels list", "version: 1\nconfig:\n  labels: [a]\n" + l, 3, "config.labels", "must be a mapping"},
		{"label value list", "version: 1\nconfig:\n  labels:\n    a: [b]\n" + l, 4, "config.labels.a", "must be a string, got a list"},
		{"env empty name", "version: 1\nconfig:\n  env: [\"=x\"]\n" + l, 3, "config.env[0]", "NAME=value"},
		{"port zero", "version: 1\nconfig:\n  exposed-ports: [\"0/tcp\"]\n" + l, 3, "config.exposed-ports[0]", "1..65535"},
		{"port garbage", "version: 1\nconfig:\n  exposed-ports: [\"http\"]\n" + l, 3, "config.exposed-ports[0]", "1..65535"},
		{"config user group name", "version: 1\nconfig:\n  user: \"1000:staff\"\n" + l, 3, "config.user", "\"staff\" is not defined"},
		{"config user uid range", "version: 1\nconfig:\n  user: \"99999999999\"\n" + l, 3, "config.user", "out of range"},
		{"store-dir relative", "version: 1\nstore-dir: nix/store\n" + l, 2, "store-dir", "absolute"},
		{"store-dir unclean", "version: 1\nstore-dir: /nix//store\n" + l, 2, "store-dir", "not a clean path"},
		{"dep uses custom store dir", "version: 1\nstore-dir: /gnu/store\nlayers: [{name: a, deps: [/nix/store/" + h + "-a]}]\n", 3, "layers[0].deps[0]", "neither a store path nor an installable"},
		{"closure-graph empty", "version: 1\nclosure-graph: \"\"\n" + l, 2, "closure-graph", "must not be empty"},
		{"root installable with closure-graph", "version: 1\nclosure-graph: g.json\nroot: [\".#etc\"]\nlayers: [{name: a, deps: [/nix/store/" + h + "-a]}]\n", 3, "root[0]", "closure-graph is set"},
		{"from empty", "version: 1\nfrom: \"\"\n" + l, 2, "from", "image reference"},
		{"allow-outside not bool", "version: 1\nallow-outside-workspace: \"true\"\n" + l, 2, "allow-outside-workspace", "true or false"},
		{"non-string key", "version: 1\n[a]: 1\n" + l, 2, "", "keys must be strings"},
		{"merge key is unknown", "version: 1\n<<: {tmp: true}\n" + l, 2, "<<", "unknown key"},
		{"typo of required key wins over missing", "version: 1\nlayers:\n- nmae: a\n  deps: [x#a]\n", 3, "layers[0].nmae", "unknown key"},
		{"auto layers plus root layer over limit", "version: 1\ntmp: true\nlayers:\n- name: a\n  auto:\n    max-layers: 127\n", 6, "layers[0].auto.max-layers", "up to 128 layers"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			pl, err := Parse("dir/p.yaml", []byte(tt.in))
			var pe *Error
			if !errors.As(err, &pe) {
				t.Fatalf("got plan %+v, err %v; want *Error", pl, err)
			}
			if pe.File != "dir/p.yaml" || pe.Line != tt.line || pe.Field != tt.field || !strings.Contains(pe.Msg, tt.msg) {
				t.Errorf("got  %v\nwant dir/p.yaml:%d: %s: …%s…", err, tt.line, tt.field, tt.msg)
			}
		})
	}
}

func TestErrorString(t *testing.T) {
	tests := []struct {
		e    Error
		want string
	}{
		{Error{File: "nix-layers.yaml", Line: 7, Field: "layers[1].name", Msg: `duplicate layer name "cuda" (first at line 3)`},
			`nix-layers.yaml:7: layers[1].name: duplicate layer name "cuda" (first at line 3)`},
		{Error{File: "p.yaml", Msg: "plan is empty"}, "p.yaml: plan is empty"},
		{Error{File: "p.yaml", Line: 2, Msg: "syntax error: x"}, "p.yaml:2: syntax error: x"},
		{Error{Line: 2, Field: "version", Msg: "m"}, "<plan>:2: version: m"},
	}
	for _, tt := range tests {
		if got := tt.e.Error(); got != tt.want {
			t.Errorf("Error() = %q, want %q", got, tt.want)
		}
	}
}
