package cli

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"github.com/google/go-containerregistry/pkg/name"

	"github.com/org/nix-layer-action/internal/pipeline"
	"github.com/org/nix-layer-action/internal/progress"
	"github.com/org/nix-layer-action/internal/publish"
	"github.com/org/nix-layer-action/internal/regclient"
	"github.com/org/nix-layer-action/internal/request"
	"github.com/org/nix-layer-action/internal/resolve"
)

// door names a request's fields in the words of the door it came in by:
// the command's flags ("build: --image") or the action's inputs ("input
// image").
type door struct {
	cmd    string // the command, for flags; "" for the action
	action bool
}

// cliDoor and actionDoor are the two doors.
func cliDoor(cmd string) door { return door{cmd: cmd} }

var actionDoor = door{action: true}

// name is how an error names a field: flag for the command line, input
// for the action.
func (d door) name(flag, input string) string {
	if d.action {
		return "input " + input
	}
	return d.cmd + ": --" + flag
}

// prepared is a request made ready to build: the pipeline's options and
// the publisher (nil when nothing is published).
type prepared struct {
	opts pipeline.Options
	pub  publish.Publisher
}

// prepare is the one step from a request to a build, for build and the
// action alike: it checks the SBOM file, parses the image references,
// chooses the publisher and reads Nix's binary caches. Every error names
// the flag or input (d) and comes before any build or upload.
func prepare(ctx context.Context, req *request.Request, d door, client *regclient.Client) (*prepared, error) {
	if req.SBOMPath != "" {
		if err := checkOutputFile(req.SBOMPath); err != nil {
			return nil, fmt.Errorf("%s: %w", d.name("sbom", "sbom-path"), err)
		}
	}
	o := pipeline.Options{
		PlanFile: req.PlanFile, Tags: req.Tags,
		Nix:     nixOptions(req),
		TempDir: req.TempDir, Created: req.SourceDateEpoch, Jobs: req.Jobs, UploadJobs: req.UploadJobs,
		Log: req.Log, Registry: client,
		Labels: req.Labels, Annotations: req.Annotations, Metadata: req.Metadata,
		Progress: progress.New(req.Log, progress.TTY(req.Terminal)),
		Format:   req.Format, Shard: req.Shard, StreamLayers: !req.LayerFiles,
	}
	if o.Created.IsZero() {
		o.Created = req.Created // the commit's time
	}
	if req.Phase != nil {
		o.Phase = func(p pipeline.Phase) { req.Phase(string(p)) }
	}
	var err error
	if req.Image != "" {
		if o.Target, err = regclient.ParseReference(req.Image); err != nil {
			return nil, fmt.Errorf("%s: %w", d.name("image", "image"), err)
		}
	}
	if o.Target != nil && isRegistry(req.Output) {
		o.Previous = append(o.Previous, o.Target)
	}
	for _, cf := range req.CacheFrom {
		r, err := regclient.ParseReference(cf)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", d.name("cache-from", "cache-from"), err)
		}
		o.Previous = append(o.Previous, r)
	}
	pub, err := publisher(req, d, client, o.Target)
	if err != nil {
		return nil, err
	}
	logf := func(f string, a ...any) { fmt.Fprintf(req.Log, f+"\n", a...) }
	if o.Substituter, err = substituterFor(ctx, o.Nix, req.Secrets, logf); err != nil {
		return nil, err
	}
	return &prepared{opts: o, pub: pub}, nil
}

// nixOptions is how the request runs Nix (build, plan, diff).
func nixOptions(req *request.Request) resolve.NixOptions {
	return resolve.NixOptions{Bin: req.NixBin, Env: req.NixEnv, Stderr: req.Log, System: req.System, NoBuild: req.NoBuild}
}

// isRegistry reports whether out is a registry (the zero Output is).
func isRegistry(out publish.Output) bool {
	return out.Kind == "" || out.Kind == publish.KindRegistry
}

// publisher chooses the destination; nil when nothing is pushed.
func publisher(req *request.Request, d door, client *regclient.Client, target name.Reference) (publish.Publisher, error) {
	if !req.Push {
		return nil, nil
	}
	switch req.Output.Kind {
	case publish.KindOCI:
		return ociLayout(req.Output, req.Image), nil
	case publish.KindDockerArchive:
		if target == nil {
			target, _ = name.ParseReference("nix-layer-action:latest")
		}
		return &publish.DockerArchive{File: req.Output.Path, Ref: target}, nil
	}
	if req.PushByDigest {
		return publish.NewRegistryByDigest(client, target), nil
	}
	p, err := publish.NewRegistry(client, target, req.Tags)
	var te *publish.TagError
	switch {
	case err == nil:
		return p, nil
	case d.action:
		return nil, fmt.Errorf("input tags: %w", err)
	case errors.As(err, &te):
		return nil, fmt.Errorf("%s: --tag %q: %w", d.cmd, te.Tag, te.Err)
	}
	return nil, err
}

// actionNixEnv is the action's Nix environment: NIX_CONFIG with the
// nix-conf input appended.
func actionNixEnv(getenv func(string) string, nixConf string) []string {
	conf := getenv("NIX_CONFIG")
	if strings.TrimSpace(nixConf) != "" {
		conf = strings.TrimRight(conf, "\n") + "\n" + nixConf
	}
	if conf == "" {
		return nil
	}
	return []string{"NIX_CONFIG=" + conf}
}
