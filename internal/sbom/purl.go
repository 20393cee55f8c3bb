package sbom

import (
	"strings"

	"github.com/org/nix-layer-action/internal/nixpath"
	packageurl "github.com/package-url/packageurl-go"
)

// nixPURL is the package URL of a store path: pkg:nix/<name>@<version>,
// with an "output" qualifier for a multi-output suffix.
//
// The nix purl type is only proposed (package-url/purl-spec PR #877, which
// adds a "nixpkgs" namespace and output/system qualifiers). We cannot know
// whether a store path came from nixpkgs or its attribute name, so like
// Syft, sbomnix and bombon we leave the namespace out and name the package
// as its store path does; the output qualifier matches both the proposal
// and Syft. The store path itself is the component's bom-ref.
func nixPURL(p nixpath.Package) string {
	var q packageurl.Qualifiers
	if p.Output != "" {
		q = packageurl.Qualifiers{{Key: "output", Value: p.Output}}
	}
	return packageurl.NewPackageURL(packageurl.TypeNix, "", p.Name, p.Version, q, "").ToString()
}

// ociPURL is the standard pkg:oci package URL of the image: the last
// repository segment as name, the manifest digest as version, and the
// full repository (lower-cased, as the oci type requires) plus tag and
// architecture as qualifiers.
func ociPURL(repository, digest, tag, arch string) string {
	repo := strings.ToLower(repository)
	name := repo
	if i := strings.LastIndexByte(repo, '/'); i >= 0 {
		name = repo[i+1:]
	}
	q := packageurl.Qualifiers{{Key: "repository_url", Value: repo}}
	if tag != "" {
		q = append(q, packageurl.Qualifier{Key: "tag", Value: tag})
	}
	if arch != "" {
		q = append(q, packageurl.Qualifier{Key: "arch", Value: arch})
	}
	return packageurl.NewPackageURL(packageurl.TypeOCI, "", name, digest, q, "").ToString()
}
