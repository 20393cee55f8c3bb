package substituter

import (
	"errors"
	"strings"
	"testing"

	"github.com/nix-community/go-nix/pkg/narinfo/signature"
	"github.com/org/nix-layer-action/internal/nixpath"
)

// FuzzParseNixConfig: any bytes either parse into a config whose keys and
// URLs are valid, or fail with a *ConfigError.
func FuzzParseNixConfig(f *testing.F) {
	for _, s := range []string{
		`{"substituters": {"value": ["https://a", "https://a"]}, "require-sigs": {"value": false}}`,
		`{"trusted-public-keys": ["k:AAAA"]}`, `{"connect-timeout": {"value": 5, "defaultValue": 0}}`,
		`{"access-tokens": {"value": {"github.com": "x"}}}`, `{"netrc-file": "/a b"}`, `[]`, `{"substituters": 1}`,
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		cfg, err := ParseNixConfig(data)
		if err != nil {
			var ce *ConfigError
			if !errors.As(err, &ce) {
				t.Fatalf("error %v is not a *ConfigError", err)
			}
			return
		}
		for _, k := range cfg.TrustedPublicKeys {
			if _, err := signature.ParsePublicKey(k); err != nil {
				t.Fatalf("accepted key %q: %v", k, err)
			}
		}
		seen := map[string]bool{}
		for _, s := range cfg.Substituters {
			if seen[s] {
				t.Fatalf("duplicate substituter %q", s)
			}
			seen[s] = true
		}
		if cfg.ConnectTimeout < 0 || cfg.StalledTimeout < 0 {
			t.Fatalf("negative timeout: %+v", cfg)
		}
	})
}

// FuzzParseNarinfo: narinfo text never panics the parser or the signature
// check; accepted narinfos have a canonical NarHash and absolute, sorted,
// valid references.
func FuzzParseNarinfo(f *testing.F) {
	const want = "/nix/store/7nzcjpi37hlayaa1fy09jad758p1pvp4-exp-app-1"
	f.Add(`StorePath: /nix/store/7nzcjpi37hlayaa1fy09jad758p1pvp4-exp-app-1
URL: nar/0v20y8dixvnmrfd77n9i2i4x8mdy71jqbycpl381n3a4ymp9cdav.nar.xz
Compression: xz
FileHash: sha256:0v20y8dixvnmrfd77n9i2i4x8mdy71jqbycpl381n3a4ymp9cdav
FileSize: 256
NarHash: sha256:1l6rwgn8qg509rbcb50v7qlzbr638lasvzgbb4ki0ynms9dl83qz
NarSize: 752
References: lrq5h86za6j52ip33jgrk06a8lncc0xq-exp-lib-1
Deriver: pbjih1vdpdbn6n0xrs5ahzx6iiqnh5l6-exp-app-1.drv
Sig: test-1:r0EGA9eskryyW2hST1l0qm4/LHf5yEmSTB/hKhg3t0Kg0wGVIY5DZfSHe2Rjg25OK/ml1MZPNd24jq1H02hZCQ==
`)
	f.Add("StorePath: " + want + "\nURL: x\nNarHash: sha256-Hw9EW9LVehAnWev9rRVFw+T1KT4blMVWTqA8jOzj2dA=\nNarSize: 1\nReferences:\nSig: bad\n")
	f.Add("StorePath: " + want + "\nURL: x\nNarHash: sha256:" + strings.Repeat("ab", 32) + "\nNarSize: 1\nCA: fixed:r:sha256:x\nFuture: 1\n")
	f.Add("garbage")
	f.Add("StorePath: " + want + "\nNarHash: md5:00000000000000000000000000000000\n")
	keys := testKeys(f)
	f.Fuzz(func(t *testing.T, text string) {
		p, err := parseNarinfo([]byte(text), want, "/nix/store")
		if err != nil {
			return
		}
		if n, err := nixpath.NormalizeHash(p.narHash); err != nil || n != p.narHash {
			t.Fatalf("NarHash %q not canonical", p.narHash)
		}
		if len(p.digest) != 32 {
			t.Fatalf("digest of %d bytes", len(p.digest))
		}
		for i, r := range p.refs {
			if _, err := splitStorePath(r, "/nix/store"); err != nil {
				t.Fatalf("reference %q: %v", r, err)
			}
			if i > 0 && p.refs[i-1] >= r {
				t.Fatalf("references not sorted and unique: %q", p.refs)
			}
		}
		_ = p.verify(keys)
		_ = p.pathInfo()
	})
}

// FuzzParseNetrc: never panics, and errors never quote the file.
func FuzzParseNetrc(f *testing.F) {
	f.Add("machine a login b password secretpw\ndefault login c password d")
	f.Add("macdef x\n a b\n\nmachine")
	f.Fuzz(func(t *testing.T, text string) {
		n, err := parseNetrc(text)
		if err != nil {
			if strings.Contains(err.Error(), "secretpw") {
				t.Fatalf("error quotes the password: %v", err)
			}
			return
		}
		n.lookup("a")
	})
}

func testKeys(t testing.TB) []signature.PublicKey {
	t.Helper()
	_, pk, err := signature.GenerateKeypair("test-1", nil)
	if err != nil {
		t.Fatal(err)
	}
	return []signature.PublicKey{pk}
}
