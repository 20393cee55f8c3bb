package rootfs

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io/fs"
	"slices"
	"strings"

	"github.com/org/nix-layer-action/internal/fsmode"
	"github.com/org/nix-layer-action/internal/layer"
)

// Digest returns "sha256:<hex>" over every entry's path, mode, owner,
// symlink target and content hash, in path order. It is meant as layer key
// material (layering.Spec.Extra): any change to what the entries would put
// into a layer changes it. Regular files with a Source are read.
func Digest(files []layer.File) (string, error) {
	sorted := slices.Clone(files)
	slices.SortStableFunc(sorted, func(a, b layer.File) int { return strings.Compare(a.Path, b.Path) })
	h := sha256.New()
	fmt.Fprintf(h, "rootfs-digest-v1\n")
	for _, f := range sorted {
		content := "-"
		if f.Mode.IsRegular() {
			sum, err := contentSHA256(f)
			if err != nil {
				return "", fmt.Errorf("digest of %s: %w", f.Path, err)
			}
			content = hex.EncodeToString(sum)
		}
		fmt.Fprintf(h, "%q %s %d %d %q %s\n", f.Path, modeString(f.Mode), f.UID, f.GID, f.Linkname, content)
	}
	return "sha256:" + hex.EncodeToString(h.Sum(nil)), nil
}

// modeString renders type and permission bits stably (fs.FileMode's String
// is stable too, but spelling it out keeps the key format independent of
// the Go library).
func modeString(m fs.FileMode) string {
	t := "f"
	switch {
	case m.IsDir():
		t = "d"
	case m&fs.ModeSymlink != 0:
		t = "l"
	case !m.IsRegular():
		t = "?" + fmt.Sprint(uint32(m.Type()))
	}
	perm := fsmode.ToUnix(m)
	return fmt.Sprintf("%s%04o", t, perm)
}
