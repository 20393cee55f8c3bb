package nixfix

import (
	"crypto/sha256"
	"encoding/base64"
	"io"

	"github.com/nix-community/go-nix/pkg/nar"

	"github.com/org/nix-layer-action/internal/nixpath"
)

// NarInfo is the NAR serialisation hash and size of a file tree.
type NarInfo struct {
	Base32 string // "sha256:<nix base32>" (exportReferencesGraph form)
	SRI    string // "sha256-<base64>" (nix path-info form)
	Size   int64
}

// Nar serialises the tree at path as a Nix archive (go-nix's nar.DumpPath)
// and returns its hash and size, as Nix would for a store path with that
// content. Only the x bit of regular files matters, so the result survives a
// git checkout.
func Nar(path string) (NarInfo, error) {
	h := sha256.New()
	c := &countWriter{w: h}
	if err := nar.DumpPath(c, path); err != nil {
		return NarInfo{}, err
	}
	sum := h.Sum(nil)
	return NarInfo{
		Base32: nixpath.FormatSHA256(sum),
		SRI:    "sha256-" + base64.StdEncoding.EncodeToString(sum),
		Size:   c.n,
	}, nil
}

type countWriter struct {
	w io.Writer
	n int64
}

func (c *countWriter) Write(b []byte) (int, error) {
	n, err := c.w.Write(b)
	c.n += int64(n)
	return n, err
}
