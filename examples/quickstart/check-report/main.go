// Command check-report checks the claims scripts/example.sh makes, against
// the JSON reports of its builds (nix-layer-action build --report), and
// exits non-zero, saying which claim failed, when one does not hold:
//
//	check-report first  FIRST.json          every layer was pushed
//	check-report rerun  FIRST.json RERUN.json   0 bytes pushed, same digest, every layer cached
//	check-report change BEFORE.json AFTER.json LAYER
//	                                        exactly LAYER was uploaded, every other layer cached
package main

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"slices"
	"strings"

	"github.com/org/nix-layer-action/internal/bytesize"
	"github.com/org/nix-layer-action/internal/report"
)

func main() {
	line, err := check(os.Args[1:])
	var u usageError
	switch {
	case errors.As(err, &u):
		fmt.Fprintln(os.Stderr, "check-report:", err)
		os.Exit(2)
	case err != nil:
		fmt.Fprintln(os.Stderr, "check-report: CLAIM FAILED:", err)
		os.Exit(1)
	}
	fmt.Println("ok  " + line)
}

// check runs one subcommand and returns the line that states what held.
func check(args []string) (string, error) {
	usage := usageError{args}
	if len(args) < 2 {
		return "", usage
	}
	switch {
	case args[0] == "first" && len(args) == 2:
		r, err := loadAll(args[1])
		if err != nil {
			return "", err
		}
		return first(r[0])
	case args[0] == "rerun" && len(args) == 3:
		r, err := loadAll(args[1], args[2])
		if err != nil {
			return "", err
		}
		return rerun(r[0], r[1])
	case args[0] == "change" && len(args) == 4:
		r, err := loadAll(args[1], args[2])
		if err != nil {
			return "", err
		}
		return change(r[0], r[1], args[3])
	}
	return "", usage
}

// usageError is a command line check-report does not understand.
type usageError struct{ args []string }

func (u usageError) Error() string {
	return fmt.Sprintf("usage: check-report first FIRST.json | rerun FIRST.json RERUN.json | change BEFORE.json AFTER.json LAYER (got %q)", u.args)
}

func loadAll(paths ...string) ([]*report.Report, error) {
	out := make([]*report.Report, 0, len(paths))
	for _, p := range paths {
		r, err := load(p)
		if err != nil {
			return nil, err
		}
		out = append(out, r)
	}
	return out, nil
}

func load(path string) (*report.Report, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	var r report.Report
	if err := json.Unmarshal(b, &r); err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	if r.Digest == "" || len(r.Layers) == 0 {
		return nil, fmt.Errorf("%s: no digest or no layers: not a build report", path)
	}
	return &r, nil
}

// layers returns the image's layers (not the empty planned ones).
func layers(r *report.Report) []report.Layer {
	var out []report.Layer
	for _, l := range r.Layers {
		if !l.Empty && l.Status != report.StatusEmpty {
			out = append(out, l)
		}
	}
	return out
}

func first(r *report.Report) (string, error) {
	var names []string
	for _, l := range layers(r) {
		if l.Status != report.StatusPushed {
			return "", fmt.Errorf("first push: layer %s is %q, want pushed (was the registry not empty?)", l.Name, l.Status)
		}
		names = append(names, l.Name)
	}
	if r.BytesPushed <= 0 {
		return "", fmt.Errorf("first push uploaded %d bytes", r.BytesPushed)
	}
	return fmt.Sprintf("first push: %d layers uploaded (%s), %s, digest %s",
		len(names), strings.Join(names, ", "), bytesize.Format(r.BytesPushed), r.Digest), nil
}

func rerun(before, after *report.Report) (string, error) {
	if after.BytesPushed != 0 {
		return "", fmt.Errorf("rerun with nothing changed uploaded %d bytes, want 0", after.BytesPushed)
	}
	if after.Digest != before.Digest {
		return "", fmt.Errorf("rerun with nothing changed gave digest %s, want the same %s", after.Digest, before.Digest)
	}
	for _, l := range layers(after) {
		if l.Status != report.StatusCached {
			return "", fmt.Errorf("rerun: layer %s is %q, want cached (reused by key, not rebuilt)", l.Name, l.Status)
		}
	}
	return fmt.Sprintf("rerun:      0 bytes uploaded, %d layers cached, same digest %s", len(layers(after)), after.Digest), nil
}

func change(before, after *report.Report, want string) (string, error) {
	var uploaded, cached []string
	for _, l := range layers(after) {
		switch l.Status {
		case report.StatusPushed:
			uploaded = append(uploaded, l.Name)
		case report.StatusCached:
			cached = append(cached, l.Name)
			if i := slices.IndexFunc(before.Layers, func(b report.Layer) bool { return b.Name == l.Name }); i < 0 || before.Layers[i].Digest != l.Digest {
				return "", fmt.Errorf("change: cached layer %s has a digest the previous image does not have there", l.Name)
			}
		default:
			return "", fmt.Errorf("change: layer %s is %q, want pushed or cached", l.Name, l.Status)
		}
	}
	if !slices.Equal(uploaded, []string{want}) {
		return "", fmt.Errorf("change of one package uploaded layers %v, want exactly [%s] (cached: %v)", uploaded, want, cached)
	}
	if after.Digest == before.Digest {
		return "", fmt.Errorf("change: digest %s did not change", after.Digest)
	}
	var size int64
	for _, l := range after.Layers {
		if l.Name == want {
			size = l.Size
		}
	}
	if after.BytesPushed < size {
		return "", fmt.Errorf("change: uploaded %d bytes, less than the %s layer's %d", after.BytesPushed, want, size)
	}
	return fmt.Sprintf("change:     1 layer uploaded (%s, %s), %d cached (%s), %s in all with the config, new digest %s",
		want, bytesize.Format(size), len(cached), strings.Join(cached, ", "), bytesize.Format(after.BytesPushed), after.Digest), nil
}
