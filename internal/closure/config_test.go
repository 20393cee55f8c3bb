package closure

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// configNix is a nix that reports version $V and knows `show-config`
// and/or `config show` ($KNOWS), logging each call.
const configNix = `#!/bin/sh
echo "$*" >> "$STATE/log"
case "$1" in
  --version) echo "nix (Nix) $V"; exit 0 ;;
  show-config) case "$KNOWS" in *old*) echo '{"v":"old"}'; exit 0 ;; esac ;;
  config) case "$KNOWS" in *new*) echo '{"v":"new"}'; exit 0 ;; esac ;;
esac
echo "error: '$1' is not a recognised command" >&2
exit 1
`

// TestNixConfigByVersion: Nix's configuration is asked with the command
// its version has (`show-config` before 2.19, `config show` from 2.19),
// falling back to the other one.
func TestNixConfigByVersion(t *testing.T) {
	for _, tc := range []struct{ version, knows, want, firstCall string }{
		{"2.8.0", "old", "old", "show-config"},
		{"2.18.1", "old new", "old", "show-config"},
		{"2.19.0", "old new", "new", "config show"},
		{"2.34.8", "new", "new", "config show"},
		{"2.20.0", "old", "old", "config show"}, // a build without `config show`: the fallback
		{"unknown", "new", "new", "show-config"},
	} {
		t.Run(tc.version+"-"+tc.knows, func(t *testing.T) {
			dir := t.TempDir()
			bin := filepath.Join(dir, "nix")
			if err := os.WriteFile(bin, []byte(configNix), 0o755); err != nil {
				t.Fatal(err)
			}
			n := &Nix{Bin: bin, Env: []string{"STATE=" + dir, "V=" + tc.version, "KNOWS=" + tc.knows}}
			out, err := n.Config(context.Background())
			if err != nil {
				t.Fatal(err)
			}
			if got := strings.TrimSpace(string(out)); got != `{"v":"`+tc.want+`"}` {
				t.Errorf("output %s, want the %s command's", got, tc.want)
			}
			log, _ := os.ReadFile(filepath.Join(dir, "log"))
			calls := strings.Split(strings.TrimSpace(string(log)), "\n")
			if len(calls) < 2 || !strings.HasPrefix(calls[1], tc.firstCall+" --extra-experimental-features nix-command") || !strings.Contains(calls[1], "--json") {
				t.Errorf("calls %q, want %q --json after --version", calls, tc.firstCall)
			}
		})
	}
}

// TestNixConfigErrorHidesOutput: a failure names the command and Nix's
// error, never stdout (which may hold access tokens).
func TestNixConfigErrorHidesOutput(t *testing.T) {
	dir := t.TempDir()
	bin := filepath.Join(dir, "nix")
	script := "#!/bin/sh\n[ \"$1\" = --version ] && { echo 'nix (Nix) 2.8.0'; exit 0; }\necho '{\"access-tokens\":{\"value\":{\"github.com\":\"SECRET\"}}}'\necho 'error: boom' >&2\nexit 1\n"
	if err := os.WriteFile(bin, []byte(script), 0o755); err != nil {
		t.Fatal(err)
	}
	_, err := (&Nix{Bin: bin}).Config(context.Background())
	if err == nil || !strings.Contains(err.Error(), "show-config") || !strings.Contains(err.Error(), "boom") || strings.Contains(err.Error(), "SECRET") {
		t.Errorf("error %v: want the command and Nix's error, without its output", err)
	}
}
