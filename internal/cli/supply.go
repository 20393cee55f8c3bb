package cli

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"

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
		if err := checkOutputFile(f.sbom); err != nil {
			return fmt.Errorf("build: --sbom: %w", err)
		}
	}
	return nil
}

// checkOutputFile fails early, before any build or push, when file could
// not be written the way writeFileAtomic writes it: its directory must
// exist and take a new file (one is created and removed), and file itself
// must not be a directory.
func checkOutputFile(file string) error {
	dir := filepath.Dir(file)
	info, err := os.Stat(dir)
	if err != nil {
		return err
	}
	if !info.IsDir() {
		return fmt.Errorf("%s is not a directory", dir)
	}
	if info, err := os.Stat(file); err == nil && info.IsDir() {
		return fmt.Errorf("%s is a directory", file)
	}
	f, err := os.CreateTemp(dir, ".tmp-*")
	if err != nil {
		return fmt.Errorf("cannot write into %s: %w", dir, err)
	}
	f.Close()
	return os.Remove(f.Name())
}

// writeSBOM writes the build's SBOM to file, atomically.
func writeSBOM(file string, res *pipeline.Result) error {
	if res == nil {
		return errors.New("no build result")
	}
	bom, err := res.SBOM(Version())
	if err != nil {
		return err
	}
	return writeFileAtomic(file, func(w io.Writer) error { return sbom.Write(w, bom) })
}
