package substituter

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/url"
	"strings"
	"time"

	"github.com/nix-community/go-nix/pkg/narinfo/signature"
)

// Config is the substituter-related part of Nix's effective configuration,
// as the Nix that runs reports it (ParseNixConfig): whatever nix.conf
// files, NIX_CONF_DIR, NIX_USER_CONF_FILES, XDG_CONFIG_DIRS, NIX_CONFIG
// and include lines said, Nix has already resolved, so this client can
// never trust a key, or reach a cache, that Nix would not.
type Config struct {
	// Substituters are the cache URLs in Nix's order, without duplicates
	// (the first occurrence of an exact URL is kept).
	Substituters []string
	// TrustedPublicKeys are "name:base64" ed25519 keys, validated.
	TrustedPublicKeys []string
	// RequireSigs is require-sigs.
	RequireSigs bool
	// NetrcFile is netrc-file ("" = none). A missing file means no
	// credentials, as for Nix.
	NetrcFile string
	// ConnectTimeout is connect-timeout; 0 (Nix's "no limit") keeps the
	// client's own bound.
	ConnectTimeout time.Duration
	// StalledTimeout is stalled-download-timeout when it was changed from
	// Nix's default (0 otherwise: the client keeps its own, shorter bound).
	StalledTimeout time.Duration
	// DownloadAttempts is download-attempts when it was changed from
	// Nix's default (0 otherwise).
	DownloadAttempts int
	// AccessTokens are the tokens of access-tokens: not used here, but
	// secrets the run must redact.
	AccessTokens []string

	netrcIsDefault bool // NetrcFile is Nix's default, not a choice
}

// ConfigError reports a setting of Nix's configuration this package cannot
// use, or output that is not Nix's configuration.
type ConfigError struct {
	Setting string // "" when the output as a whole is wrong
	Msg     string
}

// Error describes the failure.
func (e *ConfigError) Error() string {
	if e.Setting == "" {
		return "nix configuration: " + e.Msg
	}
	return fmt.Sprintf("nix configuration: setting '%s': %s", e.Setting, e.Msg)
}

// nixSetting is one entry of `nix show-config --json` (Nix 2.4–2.18) and
// `nix config show --json` (2.19 on): the effective value and Nix's default.
type nixSetting struct {
	Value        json.RawMessage `json:"value"`
	DefaultValue json.RawMessage `json:"defaultValue"`
}

// ParseNixConfig reads the JSON that `nix show-config --json` or
// `nix config show --json` prints: {"name": {"value": …, "defaultValue":
// …, …}, …}. A setting given as a bare value ({"name": …}, as Nix 2.3
// printed it) is read as its value. Settings Nix does not print keep Nix's
// built-in meaning: no substituters, no keys, signatures required.
// Errors are *ConfigError values naming the setting.
func ParseNixConfig(data []byte) (*Config, error) {
	var raw map[string]json.RawMessage
	if err := json.Unmarshal(data, &raw); err != nil || raw == nil {
		return nil, &ConfigError{Msg: "not the JSON object Nix prints for its configuration"}
	}
	settings := make(map[string]nixSetting, len(raw))
	for name, v := range raw {
		var s nixSetting
		if json.Unmarshal(v, &s) != nil || s.Value == nil {
			s = nixSetting{Value: v}
		}
		settings[name] = s
	}
	return configFrom(settings)
}

// configFrom reads the settings this package uses.
func configFrom(settings map[string]nixSetting) (*Config, error) {
	cfg := &Config{RequireSigs: true}
	var subs []string
	steps := []struct {
		name string
		read func(nixSetting) error
	}{
		{"substituters", func(s nixSetting) error { return decode(s.Value, &subs) }},
		{"trusted-public-keys", func(s nixSetting) error { return decode(s.Value, &cfg.TrustedPublicKeys) }},
		{"require-sigs", func(s nixSetting) error { return decode(s.Value, &cfg.RequireSigs) }},
		{"netrc-file", func(s nixSetting) error {
			cfg.netrcIsDefault = s.DefaultValue != nil && string(s.Value) == string(s.DefaultValue)
			return decode(s.Value, &cfg.NetrcFile)
		}},
		{"connect-timeout", func(s nixSetting) error { return seconds(s, false, &cfg.ConnectTimeout) }},
		{"stalled-download-timeout", func(s nixSetting) error { return seconds(s, true, &cfg.StalledTimeout) }},
		{"download-attempts", func(s nixSetting) error {
			if changed(s) {
				return decode(s.Value, &cfg.DownloadAttempts)
			}
			return nil
		}},
		{"access-tokens", func(s nixSetting) error {
			var tokens map[string]string
			if err := decode(s.Value, &tokens); err != nil {
				return errors.New("not a map of host to token")
			}
			for _, tok := range tokens {
				cfg.AccessTokens = append(cfg.AccessTokens, tok)
			}
			return nil
		}},
	}
	for _, st := range steps {
		s, ok := settings[st.name]
		if !ok || string(s.Value) == "null" {
			continue
		}
		if err := st.read(s); err != nil {
			return nil, &ConfigError{Setting: st.name, Msg: err.Error()}
		}
	}
	if err := cfg.setSubstituters(subs); err != nil {
		return nil, err
	}
	for _, k := range cfg.TrustedPublicKeys {
		if _, err := signature.ParsePublicKey(k); err != nil {
			return nil, &ConfigError{Setting: "trusted-public-keys", Msg: fmt.Sprintf("key %q: %v", k, err)}
		}
	}
	return cfg, nil
}

// setSubstituters keeps the first occurrence of each URL, each a URL.
func (cfg *Config) setSubstituters(subs []string) error {
	seen := make(map[string]bool)
	for _, s := range subs {
		if seen[s] {
			continue
		}
		seen[s] = true
		if _, err := url.Parse(s); err != nil {
			return &ConfigError{Setting: "substituters", Msg: fmt.Sprintf("%q: %v", redactURLText(s), urlErrorReason(err))}
		}
		cfg.Substituters = append(cfg.Substituters, s)
	}
	return nil
}

// decode reads a setting's JSON value into v, naming the JSON type it
// found (never the value: a setting may hold a secret).
func decode(raw json.RawMessage, v any) error {
	if err := json.Unmarshal(raw, v); err != nil {
		var te *json.UnmarshalTypeError
		if errors.As(err, &te) {
			return fmt.Errorf("a JSON %s where Nix prints a %s", te.Value, te.Type)
		}
		return errors.New("not JSON")
	}
	return nil
}

// seconds reads a timeout in whole seconds; onlyChanged skips a value
// equal to Nix's default, and 0 means none.
func seconds(s nixSetting, onlyChanged bool, d *time.Duration) error {
	if onlyChanged && !changed(s) {
		return nil
	}
	var n int64
	if err := decode(s.Value, &n); err != nil {
		return err
	}
	if n < 0 || n > int64(24*time.Hour/time.Second) {
		return fmt.Errorf("%d seconds is not a timeout", n)
	}
	*d = time.Duration(n) * time.Second
	return nil
}

// changed reports whether a setting's value differs from Nix's default
// (true when Nix did not print the default).
func changed(s nixSetting) bool {
	return s.DefaultValue == nil || strings.TrimSpace(string(s.Value)) != strings.TrimSpace(string(s.DefaultValue))
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
