package cli

import (
	"runtime/debug"
	"strings"
)

// version is the release version, set when building a release:
//
//	go build -ldflags "-X github.com/org/nix-layer-action/internal/cli.version=v1.2.3"
//
// (the Dockerfile passes its VERSION build argument this way). Without it,
// Version falls back to what the Go toolchain recorded.
var version string

// Version is the version of this binary: the -ldflags value, else the
// module version `go install …@v1.2.3` recorded, else the VCS revision a
// build in a checkout recorded ("devel+abc123def456", "-dirty" when
// modified), else "devel".
func Version() string {
	if version != "" {
		return version
	}
	info, ok := debug.ReadBuildInfo()
	if !ok {
		return "devel"
	}
	return versionFrom(info)
}

func versionFrom(info *debug.BuildInfo) string {
	if v := info.Main.Version; v != "" && v != "(devel)" {
		return v
	}
	rev, dirty := "", false
	for _, s := range info.Settings {
		switch s.Key {
		case "vcs.revision":
			rev = s.Value
		case "vcs.modified":
			dirty = s.Value == "true"
		}
	}
	if rev == "" {
		return "devel"
	}
	v := "devel+" + rev[:min(12, len(rev))]
	if dirty {
		v += "-dirty"
	}
	return strings.TrimSpace(v)
}
