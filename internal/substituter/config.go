package substituter

import (
	"errors"
	"fmt"
	"net/url"
	"strings"

	"github.com/nix-community/go-nix/pkg/narinfo/signature"
)

// Nix's built-in defaults for the settings this package reads. They apply
// until a ConfigSource sets the value (an "extra-" setting appends to them,
// as in Nix).
const (
	DefaultSubstituter = "https://cache.nixos.org/"
	DefaultTrustedKey  = "cache.nixos.org-1:6NCHdD59X431o0gWypbMrAURkbJ16ZPMQFGspcDShjY="
	DefaultNetrcFile   = "/etc/nix/netrc" // Nix's default netrc-file; not applied unless a source names it
)

// ConfigSource is one nix.conf-format text, such as the contents of
// /etc/nix/nix.conf, of NIX_CONFIG or of the action's nix-conf input.
// Label names it in errors ("NIX_CONFIG:3: ...").
type ConfigSource struct {
	Label string
	Text  string
}

// Config is the substituter-related part of a Nix configuration.
type Config struct {
	// Substituters are the cache URLs in configured order, without
	// duplicates (Nix keeps the first occurrence of an exact URL).
	Substituters []string
	// TrustedPublicKeys are "name:base64" ed25519 keys, validated.
	TrustedPublicKeys []string
	// RequireSigs is require-sigs (default true).
	RequireSigs bool
	// NetrcFile is netrc-file, or "" when no source set it. Nix's own
	// default (/etc/nix/netrc) is deliberately not applied: this package
	// reads no file the configuration does not name.
	NetrcFile string
	// Notes lists lines that were accepted but not acted on, such as
	// include directives, as "label:line: text".
	Notes []string
}

// ConfigError reports a malformed line of a ConfigSource.
type ConfigError struct {
	Label string // the ConfigSource's label
	Line  int    // 1-based line number
	Msg   string
}

// Error describes the failure.
func (e *ConfigError) Error() string {
	return fmt.Sprintf("nix config %s:%d: %s", e.Label, e.Line, e.Msg)
}

// canonicalSetting maps the settings this package reads, and the
// deprecated aliases Nix 2.8 still accepts, to canonical names ("" for any
// other setting).
func canonicalSetting(name string) string {
	switch name {
	case "substituters", "binary-caches":
		return "substituters"
	case "trusted-public-keys", "binary-cache-public-keys":
		return "trusted-public-keys"
	case "require-sigs", "netrc-file":
		return name
	}
	return ""
}

// isListSetting reports whether an "extra-" prefix may append to name.
func isListSetting(name string) bool {
	return name == "substituters" || name == "trusted-public-keys"
}

// configState accumulates settings while sources are applied in order.
type configState struct {
	substituters, keys []origValue
	requireSigs        bool
	netrcFile          string
	notes              []string
}

// origValue is one list item with where it was set, for error messages.
type origValue struct {
	value  string
	origin ConfigError
}

// ParseConfig applies the sources in order, as Nix applies nix.conf and
// then NIX_CONFIG: a later setting overrides an earlier one, an "extra-"
// setting appends to the current value. Lines are "name = value" with
// whitespace around "=" (Nix rejects "name=value"); "#" starts a comment.
// Unknown settings are ignored; include and !include are recorded in
// Config.Notes but not followed. Errors are *ConfigError values naming the
// source's label and line.
func ParseConfig(sources ...ConfigSource) (*Config, error) {
	st := &configState{
		substituters: []origValue{{value: DefaultSubstituter, origin: ConfigError{Label: "default"}}},
		keys:         []origValue{{value: DefaultTrustedKey, origin: ConfigError{Label: "default"}}},
		requireSigs:  true,
	}
	for _, src := range sources {
		if err := st.apply(src); err != nil {
			return nil, err
		}
	}
	return st.finish()
}

func (st *configState) apply(src ConfigSource) error {
	for i, line := range strings.Split(src.Text, "\n") {
		if err := st.applyLine(src.Label, i+1, line); err != nil {
			return err
		}
	}
	return nil
}

func (st *configState) applyLine(label string, n int, line string) error {
	raw := line
	if h := strings.IndexByte(line, '#'); h >= 0 {
		line = line[:h]
	}
	tokens := strings.Fields(line)
	if len(tokens) == 0 {
		return nil
	}
	where := ConfigError{Label: label, Line: n}
	bad := func(format string, args ...any) error {
		e := where
		e.Msg = fmt.Sprintf(format, args...)
		return &e
	}
	if tokens[0] == "include" || tokens[0] == "!include" {
		if len(tokens) != 2 {
			return bad("illegal configuration line %q", strings.TrimSpace(raw))
		}
		st.notes = append(st.notes, fmt.Sprintf("%s:%d: %s not followed", label, n, strings.Join(tokens, " ")))
		return nil
	}
	if len(tokens) < 2 || tokens[1] != "=" {
		return bad("illegal configuration line %q (want \"name = value\")", strings.TrimSpace(raw))
	}
	return st.set(tokens[0], tokens[2:], where, bad)
}

func (st *configState) set(name string, values []string, where ConfigError, bad func(string, ...any) error) error {
	rest, appendTo := strings.CutPrefix(name, "extra-")
	name = canonicalSetting(rest)
	if name == "" || (appendTo && !isListSetting(name)) {
		return nil // Nix: "unknown setting" warning, value ignored
	}
	items := make([]origValue, len(values))
	for i, v := range values {
		items[i] = origValue{value: v, origin: where}
	}
	switch name {
	case "substituters":
		st.substituters = setList(st.substituters, items, appendTo)
	case "trusted-public-keys":
		st.keys = setList(st.keys, items, appendTo)
	case "require-sigs":
		b, ok := parseNixBool(strings.Join(values, " "))
		if !ok {
			return bad("boolean setting 'require-sigs' has invalid value %q", strings.Join(values, " "))
		}
		st.requireSigs = b
	case "netrc-file":
		st.netrcFile = strings.Join(values, " ")
	}
	return nil
}

func setList(cur, items []origValue, appendTo bool) []origValue {
	if appendTo {
		return append(cur, items...)
	}
	return items
}

// parseNixBool accepts the spellings Nix 2.8 does.
func parseNixBool(s string) (value, ok bool) {
	switch s {
	case "true", "yes", "1":
		return true, true
	case "false", "no", "0":
		return false, true
	}
	return false, false
}

func (st *configState) finish() (*Config, error) {
	cfg := &Config{RequireSigs: st.requireSigs, NetrcFile: st.netrcFile, Notes: st.notes}
	seen := make(map[string]bool)
	for _, s := range st.substituters {
		if seen[s.value] {
			continue
		}
		seen[s.value] = true
		if _, err := url.Parse(s.value); err != nil {
			e := s.origin
			e.Msg = fmt.Sprintf("substituter %q: %v", redactURLText(s.value), urlErrorReason(err))
			return nil, &e
		}
		cfg.Substituters = append(cfg.Substituters, s.value)
	}
	for _, k := range st.keys {
		if _, err := signature.ParsePublicKey(k.value); err != nil {
			e := k.origin
			e.Msg = fmt.Sprintf("trusted public key %q: %v", k.value, err)
			return nil, &e
		}
		cfg.TrustedPublicKeys = append(cfg.TrustedPublicKeys, k.value)
	}
	return cfg, nil
}

// urlErrorReason is url.Parse's complaint without the URL it quotes (which
// may hold credentials).
func urlErrorReason(err error) error {
	var ue *url.Error
	if errors.As(err, &ue) {
		return ue.Err
	}
	return err
}
