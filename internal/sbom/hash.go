package sbom

import (
	"encoding/hex"
	"fmt"

	"github.com/nix-community/go-nix/pkg/nixhash"
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
// SRI "sha256-<base64>" (Nix ≥ 2.4 JSON), "sha256:<base16>", or a bare
// base16/nix-base32 digest. Any other algorithm is refused: Nix always
// hashes NARs with SHA-256.
func NarHashHex(s string) (string, error) {
	algo := nixhash.SHA256
	h, err := nixhash.ParseAny(s, &algo)
	if err != nil {
		return "", &NarHashError{NarHash: s, Err: err}
	}
	return hex.EncodeToString(h.Digest()), nil
}
