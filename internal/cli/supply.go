package cli

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"runtime/debug"

	"github.com/org/nix-layer-action/internal/pipeline"
	"github.com/org/nix-layer-action/internal/sbom"
)

// supplyFlags are build's supply-chain flags: image metadata and the SBOM.
// The command line adds no GitHub-context defaults (the action does, see
// internal/action); pass them with --annotation and --label.
type supplyFlags struct {
	annotations listFlag
	labels      listFlag
	sbom        string
}

func (f *supplyFlags) add(fs *flag.FlagSet) {
	fs.Var(&f.annotations, "annotation", "manifest annotation KEY=VALUE, e.g. org.opencontainers.image.source=https://github.com/o/r (repeatable)")
	fs.Var(&f.labels, "label", "image config label KEY=VALUE; the plan's config labels win (repeatable)")
	fs.StringVar(&f.sbom, "sbom", "", "write a CycloneDX 1.6 JSON SBOM of the image's Nix closure to this file, after a successful build")
}

// apply checks the flags and puts the metadata into o.
func (f *supplyFlags) apply(o *pipeline.Options) error {
	var err error
	if len(f.annotations) > 0 {
		if o.Annotations, err = keyValues("build: --annotation", f.annotations); err != nil {
			return err
		}
	}
	if len(f.labels) > 0 {
		if o.Labels, err = keyValues("build: --label", f.labels); err != nil {
			return err
		}
	}
	if f.sbom != "" {
		if err := checkOutputDir(f.sbom); err != nil {
			return fmt.Errorf("build: --sbom: %w", err)
		}
	}
	return nil
}

// checkOutputDir fails early, before any build or push, when file's
// directory does not exist.
func checkOutputDir(file string) error {
	dir := filepath.Dir(file)
	info, err := os.Stat(dir)
	if err != nil {
		return err
	}
	if !info.IsDir() {
		return fmt.Errorf("%s is not a directory", dir)
	}
	return nil
}

// writeSBOM writes the build's SBOM to file, atomically.
func writeSBOM(file string, res *pipeline.Result) error {
	if res == nil {
		return errors.New("no build result")
	}
	bom, err := res.SBOM(toolVersion())
	if err != nil {
		return err
	}
	return writeFileReadable(file, func(w io.Writer) error { return sbom.Write(w, bom) })
}

// writeFileReadable is writeFileAtomic for a file other users read: mode
// 0644 (a temp file is 0600) and, when we run as root, owned like its
// directory. In the action the SBOM is written by the container's root
// user into the workspace, which the runner's user owns and reads on the
// host.
func writeFileReadable(path string, write func(io.Writer) error) error {
	return writeFileAtomic(path, func(w io.Writer) error {
		if f, ok := w.(*os.File); ok {
			if err := f.Chmod(0o644); err != nil {
				return err
			}
			if err := chownToDir(f, filepath.Dir(path)); err != nil {
				return err
			}
		}
		return write(w)
	})
}

// toolVersion is the module version the binary was built at ("" for a
// development build).
func toolVersion() string {
	if bi, ok := debug.ReadBuildInfo(); ok && bi.Main.Version != "(devel)" {
		return bi.Main.Version
	}
	return ""
}
