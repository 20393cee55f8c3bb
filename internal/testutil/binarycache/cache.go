package binarycache

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/org/nix-layer-action/internal/testutil"
)

// Cache is a binary cache directory written by `nix copy --to file://…`.
type Cache struct {
	Dir         string
	Compression string // as given to nix copy: xz, zstd, none, bzip2, gzip, br
	Key         Key    // the signing key (Key.Public for trusted-public-keys)
	Paths       []string
}

// CacheOptions configure NewCache.
type CacheOptions struct {
	// Compression of the NARs (default "xz", as Nix's default). Nix 2.8
	// also writes zstd, none, bzip2, gzip and br.
	Compression string
	// Key signs the narinfos (default: a fresh key "test-cache-1").
	Key *Key
}

// NewCache copies the closure of paths (valid in the host store) into a new
// file:// binary cache, signing every narinfo with the key through the
// store URL's secret-key= setting.
func NewCache(t testing.TB, paths []string, opts CacheOptions) *Cache {
	t.Helper()
	if opts.Compression == "" {
		opts.Compression = "xz"
	}
	key := opts.Key
	if key == nil {
		k := GenerateKey(t, "test-cache-1")
		key = &k
	}
	c := &Cache{Dir: t.TempDir(), Compression: opts.Compression, Key: *key, Paths: append([]string(nil), paths...)}
	to := c.FileURL() + "?compression=" + opts.Compression + "&secret-key=" + key.SecretFile
	nix := testutil.RequireTool(t, "nix")
	mustRun(t, "", nixEnv(t), append([]string{nix, "copy", "--to", to}, paths...)...)
	return c
}

// FileURL is the cache as a file:// substituter URL.
func (c *Cache) FileURL() string { return "file://" + c.Dir }

// NarinfoFile returns the narinfo file name of a store path.
func (c *Cache) NarinfoFile(storePath string) string {
	return filepath.Join(c.Dir, hashPart(storePath)+".narinfo")
}

// Narinfo returns the narinfo text of a store path.
func (c *Cache) Narinfo(t testing.TB, storePath string) string {
	t.Helper()
	data, err := os.ReadFile(c.NarinfoFile(storePath))
	if err != nil {
		t.Fatalf("binarycache: %v", err)
	}
	return string(data)
}

// Field returns the value of a narinfo field ("" when absent).
func (c *Cache) Field(t testing.TB, storePath, key string) string {
	t.Helper()
	for _, l := range strings.Split(c.Narinfo(t, storePath), "\n") {
		if v, ok := strings.CutPrefix(l, key+": "); ok {
			return v
		}
	}
	return ""
}

// NARFile returns the file name of a store path's (compressed) NAR, from
// its narinfo URL.
func (c *Cache) NARFile(t testing.TB, storePath string) string {
	t.Helper()
	u := c.Field(t, storePath, "URL")
	if u == "" {
		t.Fatalf("binarycache: narinfo of %s has no URL", storePath)
	}
	return filepath.Join(c.Dir, filepath.FromSlash(u))
}

// CorruptNAR flips one byte in the middle of a store path's NAR file.
func (c *Cache) CorruptNAR(t testing.TB, storePath string) {
	t.Helper()
	name := c.NARFile(t, storePath)
	data, err := os.ReadFile(name)
	if err != nil {
		t.Fatal(err)
	}
	data[len(data)/2] ^= 0xff
	if err := os.WriteFile(name, data, 0o644); err != nil {
		t.Fatal(err)
	}
}

// DeleteNarinfo removes a store path's narinfo, so the cache no longer
// "has" the path (its NAR stays).
func (c *Cache) DeleteNarinfo(t testing.TB, storePath string) {
	t.Helper()
	if err := os.Remove(c.NarinfoFile(storePath)); err != nil {
		t.Fatal(err)
	}
}

// StripSignatures removes the Sig lines of a store path's narinfo.
func (c *Cache) StripSignatures(t testing.TB, storePath string) {
	t.Helper()
	var kept []string
	for _, l := range strings.SplitAfter(c.Narinfo(t, storePath), "\n") {
		if !strings.HasPrefix(l, "Sig: ") {
			kept = append(kept, l)
		}
	}
	if err := os.WriteFile(c.NarinfoFile(storePath), []byte(strings.Join(kept, "")), 0o644); err != nil {
		t.Fatal(err)
	}
}

// hashPart returns the 32-character hash of a store path.
func hashPart(storePath string) string {
	base := filepath.Base(storePath)
	if len(base) < 32 {
		return base
	}
	return base[:32]
}
