package substituter

import (
	"bytes"
	"errors"
	"fmt"
	"slices"
	"sort"
	"strconv"
	"strings"

	"github.com/nix-community/go-nix/pkg/narinfo"
	"github.com/nix-community/go-nix/pkg/narinfo/signature"
	"github.com/nix-community/go-nix/pkg/nixbase32"
	"github.com/nix-community/go-nix/pkg/nixhash"

	"github.com/org/nix-layer-action/internal/closure"
	"github.com/org/nix-layer-action/internal/nixpath"
)

// parsedNarinfo is a validated narinfo.
type parsedNarinfo struct {
	ni      *narinfo.NarInfo
	narHash string // "sha256:<nix32>"
	digest  []byte // sha256 of the NAR
	refs    []string
}

// knownNarinfoKey reports the keys go-nix's parser accepts. Nix ignores
// unknown keys; go-nix rejects them, so they are dropped before parsing.
func knownNarinfoKey(k string) bool {
	switch k {
	case "StorePath", "URL", "Compression", "FileHash", "FileSize", "NarHash", "NarSize",
		"References", "Deriver", "System", "Sig", "CA":
		return true
	}
	return false
}

// parseNarinfo parses and validates narinfo text for the store path want
// in storeDir: StorePath must equal want, NarHash must be SHA-256 (any
// spelling Nix accepts; normalised to sha256:<nix32>), NarSize positive,
// URL present, references valid store path names. Lines Nix would ignore
// (unknown keys) are ignored.
func parseNarinfo(data []byte, want, storeDir string) (*parsedNarinfo, error) {
	kept, err := nixCompatibleLines(data)
	if err != nil {
		return nil, err
	}
	ni, err := narinfo.Parse(kept)
	if err != nil {
		return nil, err
	}
	if ni.StorePath != want {
		return nil, fmt.Errorf("StorePath is %q, want %q", ni.StorePath, want)
	}
	if ni.URL == "" {
		return nil, errors.New("no URL")
	}
	if ni.NarHash == nil {
		return nil, errors.New("no NarHash")
	}
	if ni.NarHash.Algo() != nixhash.SHA256 {
		return nil, fmt.Errorf("NarHash %q is not SHA-256", ni.NarHash.String())
	}
	if ni.NarSize == 0 || ni.NarSize > 1<<62 {
		return nil, fmt.Errorf("NarSize %d out of range", ni.NarSize)
	}
	if len(ni.NarHash.Digest()) != 32 {
		return nil, fmt.Errorf("NarHash %q does not decode to 32 bytes", ni.NarHash.String())
	}
	p := &parsedNarinfo{ni: ni, digest: ni.NarHash.Digest()}
	p.narHash = "sha256:" + nixbase32.EncodeToString(p.digest)
	for _, r := range ni.References {
		if r == "" {
			continue // doubled spaces; Nix tokenises the line
		}
		if err := checkBaseName(r); err != nil {
			return nil, fmt.Errorf("reference %q: %v", r, err)
		}
		p.refs = append(p.refs, storeDir+"/"+r)
	}
	sort.Strings(p.refs)
	p.refs = slices.Compact(p.refs)
	return p, nil
}

// nixCompatibleLines prepares narinfo text for go-nix's strict parser the
// way Nix's own parser reads it: unknown keys and signatures that cannot
// even be decoded are dropped (Nix ignores the former, and the latter can
// never verify), "Key:" without a value gets its space back, and a line
// without a "key: value" separator is an error.
func nixCompatibleLines(data []byte) (*bytes.Buffer, error) {
	kept := &bytes.Buffer{}
	for line := range strings.SplitSeq(string(data), "\n") {
		line = strings.TrimSuffix(line, "\r")
		if strings.HasSuffix(line, ":") && !strings.Contains(line, ": ") {
			line += " " // "References:" with the trailing space stripped
		}
		k, v, ok := strings.Cut(line, ": ")
		if !ok && line != "" {
			return nil, fmt.Errorf("malformed line %q", truncate(line, 80))
		}
		if k == "Sig" {
			if _, err := signature.ParseSignature(v); err != nil {
				continue // Nix keeps it but it can never verify; go-nix would reject the narinfo
			}
		}
		if ok && knownNarinfoKey(k) {
			kept.WriteString(line)
			kept.WriteByte('\n')
		}
	}
	return kept, nil
}

// fingerprint is the text Nix signs: "1;<path>;sha256:<nix32>;<narSize>;"
// followed by the comma-separated sorted absolute references. It equals
// go-nix's NarInfo.Fingerprint for /nix/store and sorted references, but
// works for any store directory and sorts as Nix (a std::set) does.
func (p *parsedNarinfo) fingerprint() string {
	return "1;" + p.ni.StorePath + ";" + p.narHash + ";" + strconv.FormatUint(p.ni.NarSize, 10) + ";" + strings.Join(p.refs, ",")
}

// verify returns "" when a signature by one of keys verifies, else the
// reason for rejecting the narinfo.
func (p *parsedNarinfo) verify(keys []signature.PublicKey) string {
	if len(p.ni.Signatures) == 0 {
		return "unsigned (require-sigs is on)"
	}
	fp := p.fingerprint()
	var names []string
	for _, sig := range p.ni.Signatures {
		names = append(names, sig.Name)
		for _, k := range keys {
			if k.Name == sig.Name && k.Verify(fp, sig) {
				return ""
			}
		}
	}
	for _, sig := range p.ni.Signatures {
		for _, k := range keys {
			if k.Name == sig.Name {
				return fmt.Sprintf("signature by trusted key %q does not verify", k.Name)
			}
		}
	}
	return fmt.Sprintf("no signature by a trusted key (signed by %s)", strings.Join(names, ", "))
}

// pathInfo converts to the closure package's form.
func (p *parsedNarinfo) pathInfo() closure.PathInfo {
	return closure.PathInfo{
		Path:       p.ni.StorePath,
		NarHash:    p.narHash,
		NarSize:    int64(p.ni.NarSize),
		References: append([]string{}, p.refs...),
	}
}

// splitStorePath checks that p is "<storeDir>/<32 nix32 chars>-<name>"
// and returns the hash part.
func splitStorePath(p, storeDir string) (string, error) {
	base, ok := strings.CutPrefix(p, storeDir+"/")
	if !ok {
		return "", &InvalidPathError{Path: p, Reason: "not in " + storeDir}
	}
	if err := checkBaseName(base); err != nil {
		return "", &InvalidPathError{Path: p, Reason: err.Error()}
	}
	return base[:32], nil
}

// checkBaseName validates "<hash>-<name>" by Nix's rules (nixpath, the
// one home for them).
func checkBaseName(base string) error { return nixpath.CheckBase(base) }

func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n] + "…"
}
