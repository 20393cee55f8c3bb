package substituter

import (
	"errors"
	"os"
	"reflect"
	"strings"
	"testing"
	"time"
)

const (
	nixosKey = "cache.nixos.org-1:6NCHdD59X431o0gWypbMrAURkbJ16ZPMQFGspcDShjY="
	otherKey = "other-1:R4H6l6hFVVmA0/lJL1B96ZOynJjld678kcZXlPFIXlc="
)

func readTestdata(t *testing.T, name string) []byte {
	t.Helper()
	b, err := os.ReadFile("testdata/" + name)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// TestParseNixConfigShowConfig28 reads what Nix 2.8's `nix show-config
// --json` printed (testdata, recorded with every setting changed from its
// default through NIX_CONFIG, descriptions shortened).
func TestParseNixConfigShowConfig28(t *testing.T) {
	cfg, err := ParseNixConfig(readTestdata(t, "show-config-2.8.json"))
	if err != nil {
		t.Fatal(err)
	}
	want := &Config{
		Substituters:      []string{"http://127.0.0.1:1/cache", "file:///tmp/c?trusted=1"}, // Nix lists the duplicate twice
		TrustedPublicKeys: []string{otherKey},
		RequireSigs:       false,
		NetrcFile:         "/run/secrets/netrc",
		ConnectTimeout:    7 * time.Second,
		StalledTimeout:    42 * time.Second,
		DownloadAttempts:  2,
		AccessTokens:      []string{"ghp_TESTTOKEN"},
	}
	if !reflect.DeepEqual(cfg, want) {
		t.Errorf("got  %+v\nwant %+v", cfg, want)
	}
}

// TestParseNixConfigConfigShow reads what Nix 2.26's `nix config show
// --json` printed (testdata, recorded with extra-substituters and
// extra-trusted-public-keys in NIX_CONFIG and NIX_CONF_DIR=/nonexistent;
// every entry also has "experimentalFeature").
func TestParseNixConfigConfigShow(t *testing.T) {
	cfg, err := ParseNixConfig(readTestdata(t, "config-show-2.26.json"))
	if err != nil {
		t.Fatal(err)
	}
	want := &Config{
		Substituters:      []string{"https://cache.nixos.org/", "https://cache.example.org/"},
		TrustedPublicKeys: []string{nixosKey, otherKey},
		RequireSigs:       true,
		NetrcFile:         "/nonexistent/netrc",
		netrcIsDefault:    true, // Nix's default: a missing file is not worth a note
	}
	if !reflect.DeepEqual(cfg, want) {
		t.Errorf("got  %+v\nwant %+v", cfg, want)
	}
}

// TestParseNixConfigShapes: bare values (Nix 2.3's shape), no substituters
// at all, and settings Nix did not print.
func TestParseNixConfigShapes(t *testing.T) {
	for _, tc := range []struct {
		name, json string
		want       *Config
	}{
		{"bare values", `{"substituters": ["http://a"], "trusted-public-keys": ["` + otherKey + `"], "require-sigs": false, "netrc-file": "/n"}`,
			&Config{Substituters: []string{"http://a"}, TrustedPublicKeys: []string{otherKey}, NetrcFile: "/n"}},
		{"substituters =", `{"substituters": {"value": [], "defaultValue": ["https://cache.nixos.org/"]}}`,
			&Config{RequireSigs: true}},
		{"nothing printed", `{}`, &Config{RequireSigs: true}},
		{"null value", `{"substituters": {"value": null}}`, &Config{RequireSigs: true}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cfg, err := ParseNixConfig([]byte(tc.json))
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(cfg, tc.want) {
				t.Errorf("got  %+v\nwant %+v", cfg, tc.want)
			}
		})
	}
}

// TestParseNixConfigErrors: each error is a *ConfigError naming the
// setting, and never quotes a token.
func TestParseNixConfigErrors(t *testing.T) {
	for _, tc := range []struct{ json, setting string }{
		{`not json`, ""},
		{`[]`, ""},
		{`null`, ""},
		{`{"substituters": {"value": "http://a"}}`, "substituters"},
		{`{"trusted-public-keys": {"value": ["bad"]}}`, "trusted-public-keys"},
		{`{"require-sigs": {"value": "yes"}}`, "require-sigs"},
		{`{"connect-timeout": {"value": -1}}`, "connect-timeout"},
		{`{"substituters": {"value": ["http://u:pw@[::1"]}}`, "substituters"},
		{`{"access-tokens": {"value": ["github.com=SECRET"]}}`, "access-tokens"},
	} {
		_, err := ParseNixConfig([]byte(tc.json))
		var ce *ConfigError
		if !errors.As(err, &ce) {
			t.Errorf("%s: error %v, want a *ConfigError", tc.json, err)
			continue
		}
		if ce.Setting != tc.setting {
			t.Errorf("%s: error names setting %q, want %q", tc.json, ce.Setting, tc.setting)
		}
		if strings.Contains(err.Error(), "SECRET") || strings.Contains(err.Error(), "pw") {
			t.Errorf("%s: error quotes a secret: %v", tc.json, err)
		}
	}
}

// TestConfigAppliesNixTimeouts: Nix's connect and stall timeouts and its
// download attempts become the client's; options given to New still win.
func TestConfigAppliesNixTimeouts(t *testing.T) {
	cfg := &Config{ConnectTimeout: 7 * time.Second, StalledTimeout: 42 * time.Second, DownloadAttempts: 2}
	c, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	if c.o.connectTimeout != 7*time.Second || c.o.idleTimeout != 42*time.Second || c.o.retries != 1 {
		t.Errorf("connect %s, idle %s, retries %d; want 7s, 42s, 1", c.o.connectTimeout, c.o.idleTimeout, c.o.retries)
	}
	c, err = New(cfg, WithIdleTimeout(time.Second))
	if err != nil {
		t.Fatal(err)
	}
	if c.o.idleTimeout != time.Second {
		t.Errorf("WithIdleTimeout lost to Nix's setting: %s", c.o.idleTimeout)
	}
}
