package report

import (
	"crypto/sha256"
	"fmt"
)

// fakeDigest returns a deterministic sha256 digest string for a label.
func fakeDigest(label string) string {
	return fmt.Sprintf("sha256:%x", sha256.Sum256([]byte(label)))
}

func storePath(hashSeed, name string) string {
	h := fmt.Sprintf("%x", sha256.Sum256([]byte(hashSeed)))
	// 32 chars from the nix base32 alphabet-ish (hex is a subset of [0-9a-z]).
	return "/nix/store/" + h[:32] + "-" + name
}

// sampleReport is a realistic report: a base layer reused from the previous
// image, a changed python layer, a new app layer and an empty one.
func sampleReport() *Report {
	return &Report{
		Image:          "ghcr.io/octo/app:main",
		Digest:         fakeDigest("image"),
		Changed:        true,
		BytesPushed:    300 << 20,
		Plan:           "nix-layers.yaml",
		Tags:           []string{"main", "sha-abc"},
		Push:           true,
		CumulativeSize: 6 << 30,
		DedupSize:      3 << 30,
		PreviousDigest: fakeDigest("previous"),
		PreviousSize:   1 << 30,
		PackageURL:     "https://github.com/octo/app/pkgs/container/app",
		PeakTempBytes:  250 << 20,
		Warnings:       []string{"layer \"tools\" is empty: all its paths are in earlier layers"},
		Layers: []Layer{
			{
				Name: "base", Digest: fakeDigest("l1"), DiffID: fakeDigest("d1"),
				Size: 700 << 20, UncompressedSize: 2 << 30, Key: fakeDigest("k1"), Status: StatusCached,
				Paths:    []string{storePath("1", "glibc-2.39-52"), storePath("2", "bash-5.2p26")},
				Previous: &PrevLayer{Digest: fakeDigest("l1"), Key: fakeDigest("k1"), Size: 700 << 20},
			},
			{
				Name: "python", Digest: fakeDigest("l2"), DiffID: fakeDigest("d2"),
				Size: 250 << 20, UncompressedSize: 900 << 20, Key: fakeDigest("k2"), Status: StatusPushed,
				Paths:    []string{storePath("3", "python3-3.11.9"), storePath("4", "python3.11-numpy-1.26.4")},
				Previous: &PrevLayer{Digest: fakeDigest("l2old"), Key: fakeDigest("k2old"), Size: 240 << 20},
			},
			{
				Name: "app", Digest: fakeDigest("l3"), DiffID: fakeDigest("d3"),
				Size: 50 << 20, UncompressedSize: 120 << 20, Key: fakeDigest("k3"), Status: StatusPushed,
				Paths: []string{storePath("5", "app-1.0")},
			},
			{Name: "tools", Empty: true, Key: fakeDigest("k4")},
		},
	}
}
