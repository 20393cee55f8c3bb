package plan

import (
	"errors"
	"path/filepath"
	"strings"
	"testing"
)

const plansDir = "testdata/plans"

// TestBadPlans checks that every bad fixture fails with exactly one
// *Error at the expected line and field, with a message that explains it.
func TestBadPlans(t *testing.T) {
	tests := []struct {
		file  string
		line  int
		field string
		msg   string // substring of Msg
	}{
		{"bad-unknown-key.yaml", 5, "layers[0].maxsize", `unknown key "maxsize"`},
		{"bad-deps-string.yaml", 4, "layers[0].deps", "must be a list, got a string"},
		{"bad-version.yaml", 1, "version", `unsupported version "2"`},
		{"bad-no-version.yaml", 2, "version", "missing"},
		{"bad-no-layers.yaml", 1, "layers", "missing; a plan needs at least one layer"},
		{"bad-empty-layers.yaml", 2, "layers", "must list at least one layer"},
		{"bad-dup-name.yaml", 7, "layers[2].name", `duplicate layer name "cuda" (first at line 3)`},
		{"bad-name-chars.yaml", 3, "layers[0].name", `layer name "Base Layer" may only contain`},
		{"bad-reserved-root.yaml", 5, "layers[1].name", "reserved"},
		{"bad-no-name.yaml", 3, "layers[0].name", "missing"},
		{"bad-empty-deps.yaml", 4, "layers[0].deps", "must list at least one dep"},
		{"bad-missing-deps.yaml", 3, "layers[0].deps", "missing"},
		{"bad-dep.yaml", 6, "layers[0].deps[1]", `dep "/tmp/foo" is neither a store path`},
		{"bad-dep-relative.yaml", 5, "layers[0].deps[0]", `dep "./result" is neither a store path`},
		{"bad-dep-outside.yaml", 5, "layers[0].deps[0]", "allow-outside-workspace: true"},
		{"bad-auto-not-last.yaml", 4, "layers[0].auto", "only the last layer entry may use auto"},
		{"bad-auto-deps.yaml", 8, "layers[1].deps", "auto entry must not have deps"},
		{"bad-auto-max.yaml", 5, "layers[0].auto.max-layers", "128 is out of range (1..127)"},
		{"bad-too-many-layers.yaml", 7, "layers[1].auto.max-layers", "up to 128 layers"},
		{"bad-closure-graph-installable.yaml", 7, "layers[0].deps[1]", "closure-graph is set"},
		{"bad-size.yaml", 5, "layers[0].max-size", "must not be negative"},
		{"bad-user-dup.yaml", 6, "users[1].name", `duplicate user name "app" (first at line 3)`},
		{"bad-user-home.yaml", 5, "users[0].home", "must be an absolute path"},
		{"bad-user-uid.yaml", 4, "users[0].uid", "-1 is out of range"},
		{"bad-config-user.yaml", 6, "config.user", `"nobody" is not defined in users`},
		{"bad-store-dir.yaml", 2, "store-dir", "must not end with a slash"},
		{"bad-system.yaml", 2, "system", `must be a Linux Nix system like "x86_64-linux" or "aarch64-linux", got "aarch64-darwin"`},
		{"bad-port.yaml", 8, "config.exposed-ports[1]", "1..65535"},
		{"bad-port-proto.yaml", 6, "config.exposed-ports[0]", "tcp, udp or sctp"},
		{"bad-env.yaml", 8, "config.env[1]", `"JUSTANAME" must look like NAME=value`},
		{"bad-regexp.yaml", 6, "layers[0].perms[0].path", "bad regexp"},
		{"bad-mode.yaml", 4, "perms[0].mode", "octal"},
		{"bad-dup-key.yaml", 5, "version", `duplicate key "version" (first at line 1)`},
		{"bad-first-in-file-order.yaml", 5, "layers[1].name", "duplicate layer name"},
		{"bad-syntax.yaml", 4, "", "syntax error"}, // line of the unclosed "["
		{"bad-json.json", 5, "layers[1].deps[0]", `dep "/tmp/foo" is neither`},
	}
	for _, tt := range tests {
		t.Run(tt.file, func(t *testing.T) {
			path := filepath.Join(plansDir, tt.file)
			pl, err := Load(path)
			if err == nil {
				t.Fatalf("Load succeeded, want error; plan: %+v", pl)
			}
			var pe *Error
			if !errors.As(err, &pe) {
				t.Fatalf("error %v (%T) is not a *plan.Error", err, err)
			}
			if pe.File != path || pe.Line != tt.line || pe.Field != tt.field || !strings.Contains(pe.Msg, tt.msg) {
				t.Errorf("got  %s\nwant %s:%d: %s: …%s…", err, path, tt.line, tt.field, tt.msg)
			}
			prefix := path + ":" + itoa(tt.line) + ": "
			if tt.field != "" {
				prefix += tt.field + ": "
			}
			if !strings.HasPrefix(err.Error(), prefix) {
				t.Errorf("Error() = %q, want prefix %q", err.Error(), prefix)
			}
		})
	}
}
