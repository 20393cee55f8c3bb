package sbom

import (
	"encoding/hex"
	"fmt"

	"github.com/org/nix-layer-action/internal/nixpath"
)

// NarHashError reports a NAR hash that is not a SHA-256 in one of the
// spellings Nix prints.
type NarHashError struct {
	Path    string // store path the hash belongs to ("" when unknown)
	NarHash string // the value as given
	Err     error
}

// Error implements error.
func (e *NarHashError) Error() string {
	return fmt.Sprintf("sbom: NAR hash %q of %s: %v", e.NarHash, e.Path, e.Err)
}

// Unwrap returns the parse error.
func (e *NarHashError) Unwrap() error { return e.Err }

// NarHashHex returns the lower-case hex SHA-256 digest of a NAR hash
// written as "sha256:<nix-base32>" (nix path-info, exportReferencesGraph),
// SRI "sha256-<base64>" (Nix ≥ 2.4 JSON) or "sha256:<base16>"
// (nixpath.SHA256Digest). Any other algorithm is refused: Nix always
// hashes NARs with SHA-256.
func NarHashHex(s string) (string, error) {
	digest, err := nixpath.SHA256Digest(s)
	if err != nil {
		return "", &NarHashError{NarHash: s, Err: err}
	}
	return hex.EncodeToString(digest), nil
}
