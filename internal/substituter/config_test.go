package substituter

import (
	"errors"
	"reflect"
	"strings"
	"testing"
)

const otherKey = "other-1:R4H6l6hFVVmA0/lJL1B96ZOynJjld678kcZXlPFIXlc="

func TestParseConfigDefaults(t *testing.T) {
	cfg, err := ParseConfig()
	if err != nil {
		t.Fatal(err)
	}
	want := &Config{Substituters: []string{DefaultSubstituter}, TrustedPublicKeys: []string{DefaultTrustedKey}, RequireSigs: true}
	if !reflect.DeepEqual(cfg, want) {
		t.Fatalf("ParseConfig() = %+v, want %+v", cfg, want)
	}
}

// TestParseConfigSemantics checks each rule against what Nix 2.8's
// `nix show-config` printed for the same text (recorded by hand).
func TestParseConfigSemantics(t *testing.T) {
	cases := []struct {
		name    string
		sources []ConfigSource
		subs    []string
		keys    []string
		sigs    bool
		netrc   string
	}{
		{name: "extra appends to default",
			sources: []ConfigSource{{"a", "extra-substituters = http://x"}},
			subs:    []string{DefaultSubstituter, "http://x"}, keys: []string{DefaultTrustedKey}, sigs: true},
		{name: "later overrides earlier, extra after override appends",
			sources: []ConfigSource{{"a", "extra-substituters = http://a http://b\nsubstituters = http://c\nextra-substituters = http://d"}},
			subs:    []string{"http://c", "http://d"}, keys: []string{DefaultTrustedKey}, sigs: true},
		{name: "override across sources",
			sources: []ConfigSource{{"nix.conf", "substituters = http://a\ntrusted-public-keys = " + otherKey}, {"NIX_CONFIG", "substituters = http://b"}},
			subs:    []string{"http://b"}, keys: []string{otherKey}, sigs: true},
		{name: "comments, tabs, empty value",
			sources: []ConfigSource{{"a", "substituters = http://a # comment\n\n   # only a comment\nextra-substituters = http://b\thttp://c\r\nrequire-sigs = false"}},
			subs:    []string{"http://a", "http://b", "http://c"}, keys: []string{DefaultTrustedKey}, sigs: false},
		{name: "empty substituters",
			sources: []ConfigSource{{"a", "substituters =\nrequire-sigs = 0"}},
			subs:    nil, keys: []string{DefaultTrustedKey}, sigs: false},
		{name: "deprecated aliases",
			sources: []ConfigSource{{"a", "binary-caches = http://a\nextra-binary-caches = http://b\nbinary-cache-public-keys = " + otherKey}},
			subs:    []string{"http://a", "http://b"}, keys: []string{otherKey}, sigs: true},
		{name: "duplicates dropped, first kept",
			sources: []ConfigSource{{"a", "substituters = http://a http://b http://a"}},
			subs:    []string{"http://a", "http://b"}, keys: []string{DefaultTrustedKey}, sigs: true},
		{name: "unknown and extra- of non-list ignored",
			sources: []ConfigSource{{"a", "sandbox = false\nbogus = 1\nextra-require-sigs = false\nextra-netrc-file = /x\nrequire-sigs = yes"}},
			subs:    []string{DefaultSubstituter}, keys: []string{DefaultTrustedKey}, sigs: true},
		{name: "netrc-file tokens joined by one space",
			sources: []ConfigSource{{"a", "netrc-file = /x   y"}},
			subs:    []string{DefaultSubstituter}, keys: []string{DefaultTrustedKey}, sigs: true, netrc: "/x y"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			cfg, err := ParseConfig(tc.sources...)
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(cfg.Substituters, tc.subs) || !reflect.DeepEqual(cfg.TrustedPublicKeys, tc.keys) ||
				cfg.RequireSigs != tc.sigs || cfg.NetrcFile != tc.netrc {
				t.Errorf("got subs=%q keys=%q sigs=%v netrc=%q\nwant subs=%q keys=%q sigs=%v netrc=%q",
					cfg.Substituters, cfg.TrustedPublicKeys, cfg.RequireSigs, cfg.NetrcFile, tc.subs, tc.keys, tc.sigs, tc.netrc)
			}
		})
	}
}

func TestParseConfigIncludeNoted(t *testing.T) {
	cfg, err := ParseConfig(ConfigSource{"nix.conf", "substituters = http://a\n!include /etc/nix/extra.conf\ninclude x"})
	if err != nil {
		t.Fatal(err)
	}
	want := []string{"nix.conf:2: !include /etc/nix/extra.conf not followed", "nix.conf:3: include x not followed"}
	if !reflect.DeepEqual(cfg.Notes, want) {
		t.Errorf("Notes = %q, want %q", cfg.Notes, want)
	}
}

func TestParseConfigErrors(t *testing.T) {
	cases := []struct {
		text, label string
		line        int
		msg         string
	}{
		{"substituters=http://a", "NIX_CONFIG", 1, "illegal configuration line"},
		{"# ok\nsubstituters =http://a", "nix.conf", 2, "illegal configuration line"},
		{"\n\nsubstituters", "input", 3, "illegal configuration line"},
		{"require-sigs = maybe", "x", 1, "invalid value \"maybe\""},
		{"require-sigs = true false", "x", 1, "invalid value"},
		{"require-sigs = False", "x", 1, "invalid value"},
		{"a = 1\ntrusted-public-keys = nocolon", "keys", 2, "trusted public key \"nocolon\""},
		{"extra-trusted-public-keys = k:AAAA", "keys", 1, "data is not the right size"},
		{"substituters = http://[::1", "subs", 1, "substituter"},
		{"include a b", "inc", 1, "illegal configuration line"},
	}
	for _, tc := range cases {
		_, err := ParseConfig(ConfigSource{Label: "ok", Text: "substituters = http://ok"}, ConfigSource{Label: tc.label, Text: tc.text})
		var ce *ConfigError
		if !errors.As(err, &ce) {
			t.Errorf("%q: err = %v, want *ConfigError", tc.text, err)
			continue
		}
		if ce.Label != tc.label || ce.Line != tc.line || !strings.Contains(ce.Msg, tc.msg) {
			t.Errorf("%q: got %s:%d %q, want %s:%d containing %q", tc.text, ce.Label, ce.Line, ce.Msg, tc.label, tc.line, tc.msg)
		}
		if want := tc.label + ":"; !strings.Contains(err.Error(), want) {
			t.Errorf("%q: error %q does not name %q", tc.text, err, want)
		}
	}
}

func TestParseConfigRedactsURLCredentials(t *testing.T) {
	_, err := ParseConfig(ConfigSource{"x", "substituters = https://alice:s3cret@[::1"})
	if err == nil {
		t.Fatal("no error")
	}
	if strings.Contains(err.Error(), "s3cret") || strings.Contains(err.Error(), "alice") {
		t.Errorf("error leaks credentials: %v", err)
	}
}

func TestParseCacheURL(t *testing.T) {
	cases := []struct {
		raw, display string
		prio         int
		fixed        bool
		trusted      bool
		skip         bool
	}{
		{raw: "https://cache.example.org/", display: "https://cache.example.org"},
		{raw: "https://u:p@cache.example.org/sub/?priority=7&trusted=1", display: "https://cache.example.org/sub", prio: 7, fixed: true, trusted: true},
		{raw: "file:///srv/cache/?want-mass-query=1", display: "file:///srv/cache"},
		{raw: "s3://bucket", skip: true},
		{raw: "daemon", skip: true},
		{raw: "/nix/store", skip: true},
	}
	for _, tc := range cases {
		c, reason, err := parseCache(tc.raw, 0)
		if err != nil {
			t.Errorf("%s: %v", tc.raw, err)
			continue
		}
		if tc.skip {
			if c != nil || reason == "" {
				t.Errorf("%s: want skipped, got %+v", tc.raw, c)
			}
			continue
		}
		if c.display != tc.display || c.priority != tc.prio || c.priorityFixed != tc.fixed || c.trusted != tc.trusted {
			t.Errorf("%s: got %q prio=%d fixed=%v trusted=%v", tc.raw, c.display, c.priority, c.priorityFixed, c.trusted)
		}
	}
	for _, bad := range []string{"https://x/?priority=high", "https://x/?trusted=maybe", "file://host/x", "file:relative", "http:///nohost"} {
		if _, _, err := parseCache(bad, 0); err == nil {
			t.Errorf("%s: no error", bad)
		}
	}
}
