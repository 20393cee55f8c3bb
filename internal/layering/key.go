package layering

import (
	"crypto/sha256"
	"encoding/hex"
	"slices"
	"strconv"
	"strings"

	"github.com/org/nix-layer-action/internal/closure"
)

// KeyFormat names the version of the key encoding itself. It is hashed into
// every key, so changing the encoding (and bumping this) changes all keys.
const KeyFormat = "nix-layer-action/layer-key/v1"

// Key returns "sha256:<hex>" over a canonical encoding of
//
//	KeyFormat, params, the sorted extra strings, and the (path, narHash)
//	pairs sorted by path.
//
// Every field is written as a netstring ("<len>:<bytes>,"), and the extra
// and path lists are preceded by their counts, so the encoding is
// unambiguous: no choice of strings can make two different inputs encode
// the same. Order of extra and paths does not matter; NarSize and
// References do not enter the key (the NAR hash already fixes the content).
// A caller for whom the order of Extra matters must encode it in the strings.
// The inputs are not modified.
func Key(params string, extra []string, paths []closure.PathInfo) string {
	ex := slices.Clone(extra)
	slices.Sort(ex)
	ps := slices.Clone(paths)
	slices.SortFunc(ps, func(a, b closure.PathInfo) int {
		if c := strings.Compare(a.Path, b.Path); c != 0 {
			return c
		}
		return strings.Compare(a.NarHash, b.NarHash)
	})

	h := sha256.New()
	buf := make([]byte, 0, 256)
	field := func(s string) {
		buf = strconv.AppendInt(buf[:0], int64(len(s)), 10)
		buf = append(buf, ':')
		buf = append(buf, s...)
		buf = append(buf, ',')
		h.Write(buf)
	}
	count := func(n int) { field(strconv.Itoa(n)) }

	field(KeyFormat)
	field("params")
	field(params)
	field("extra")
	count(len(ex))
	for _, e := range ex {
		field(e)
	}
	field("paths")
	count(len(ps))
	for _, p := range ps {
		field(p.Path)
		field(p.NarHash)
	}
	return "sha256:" + hex.EncodeToString(h.Sum(nil))
}
