package action

import (
	"fmt"
	"path/filepath"
	"strings"

	"github.com/org/nix-layer-action/internal/bytesize"
	"github.com/org/nix-layer-action/internal/layer"
	"github.com/org/nix-layer-action/internal/layering"
	"github.com/org/nix-layer-action/internal/plan"
	"github.com/org/nix-layer-action/internal/report"
)

// InputNames lists every input the action reads (kept in sync with action.yml
// by a test).
var InputNames = []string{
	"plan", "image", "tags", "push", "cache-from", "github-token", "nix-conf",
	"summary", "pr-comment", "max-layer-size", "max-growth", "labels", "annotations",
	"system", "push-by-digest", "merge",
	"compression", "sbom-path", "shard", "layer-files",
}

// OutputNames lists every output the action sets (kept in sync with
// action.yml by a test).
var OutputNames = []string{
	"digest", "image", "metadata", "layers-pushed", "layers-cached", "bytes-pushed", "changed",
	"sbom",
}

// DefaultMaxLayerSize is GHCR's per-layer limit.
const DefaultMaxLayerSize = "10GB"

// settings are the parsed inputs.
type settings struct {
	req          Request
	summary      bool
	prComment    bool
	maxLayerSize int64
	maxGrowth    string
	workspace    string
	sbomOutput   string // the sbom output: SBOMPath as the runner's host sees it
	// merge lists the digests to merge into an index at the image's tag
	// (the merge job of a build matrix); nothing is built then.
	merge []string
}

// InputError is an invalid action input.
type InputError struct {
	Input string
	Msg   string
}

func (e *InputError) Error() string { return fmt.Sprintf("input %q: %s", e.Input, e.Msg) }

// parseInputs reads the inputs through get (GetInput) and env (Getenv).
func parseInputs(get func(string) string, env func(string) string, isPR bool) (*settings, error) {
	s := &settings{workspace: env("GITHUB_WORKSPACE")}
	r := &s.req

	r.PlanFile = get("plan")
	if r.PlanFile == "" {
		r.PlanFile = "nix-layers.yaml"
	}
	switch {
	case plan.IsNixPlan(r.PlanFile) && s.workspace != "":
		// A flake output (".#imagePlan"): its ref resolves against the
		// workspace, as a plan file's path does.
		np, err := plan.NewNixPlan(r.PlanFile, s.workspace)
		if err != nil {
			return nil, &InputError{Input: "plan", Msg: err.Error()}
		}
		r.PlanFile = np.FlakeRef + "#" + np.Attr
	case !filepath.IsAbs(r.PlanFile) && s.workspace != "":
		r.PlanFile = filepath.Join(s.workspace, r.PlanFile)
	}

	r.Image = get("image")
	if r.Image == "" {
		repo := env("GITHUB_REPOSITORY")
		if repo == "" || !strings.Contains(repo, "/") {
			return nil, &InputError{Input: "image", Msg: "not set and GITHUB_REPOSITORY is unavailable to derive ghcr.io/<owner>/<repo>"}
		}
		r.Image = "ghcr.io/" + strings.ToLower(repo)
	}
	r.Tags = lines(get("tags"))
	r.CacheFrom = lines(get("cache-from"))
	r.GitHubToken = get("github-token")
	r.NixConf = get("nix-conf")
	r.TempDir = env("RUNNER_TEMP")

	var err error
	if r.Push, err = boolInput(get, "push", true); err != nil {
		return nil, err
	}
	if s.summary, err = boolInput(get, "summary", true); err != nil {
		return nil, err
	}
	if s.prComment, err = boolInput(get, "pr-comment", isPR); err != nil {
		return nil, err
	}
	mls := get("max-layer-size")
	if mls == "" {
		mls = DefaultMaxLayerSize
	}
	if s.maxLayerSize, err = bytesize.Parse(mls); err != nil {
		return nil, &InputError{Input: "max-layer-size", Msg: err.Error()}
	}
	s.maxGrowth = get("max-growth")
	if _, err := report.ParseGrowth(s.maxGrowth); err != nil {
		return nil, &InputError{Input: "max-growth", Msg: err.Error()}
	}
	if r.Labels, err = keyValues(get, "labels"); err != nil {
		return nil, err
	}
	if r.Annotations, err = keyValues(get, "annotations"); err != nil {
		return nil, err
	}
	if err := parseMultiarch(get, s); err != nil {
		return nil, err
	}
	if r.Format, err = layer.FormatFor(strings.TrimSpace(get("compression"))); err != nil {
		return nil, &InputError{Input: "compression", Msg: err.Error()}
	}
	if r.LayerFiles, err = boolInput(get, "layer-files", true); err != nil {
		return nil, err
	}
	if err := parseSBOMPath(get, s); err != nil {
		return nil, err
	}
	return s, nil
}

// parseMultiarch reads system, push-by-digest and merge.
func parseMultiarch(get func(string) string, s *settings) error {
	r := &s.req
	r.System = strings.TrimSpace(get("system"))
	if r.System != "" && !plan.ValidSystem(r.System) {
		return &InputError{Input: "system", Msg: fmt.Sprintf("%q is not a Linux Nix system like x86_64-linux or aarch64-linux", r.System)}
	}
	var err error
	if r.PushByDigest, err = boolInput(get, "push-by-digest", false); err != nil {
		return err
	}
	for _, l := range lines(get("merge")) {
		s.merge = append(s.merge, strings.FieldsFunc(l, func(c rune) bool { return c == ',' || c == ' ' || c == '\t' })...)
	}
	if err := parseShard(get, s); err != nil {
		return err
	}
	switch {
	case r.PushByDigest && !r.Push:
		return &InputError{Input: "push-by-digest", Msg: "cannot be used with push: false"}
	case r.PushByDigest && len(r.Tags) > 0:
		return &InputError{Input: "push-by-digest", Msg: "moves no tag, so tags cannot be used with it; tag the digest in a later job with merge"}
	case len(s.merge) > 0 && r.PushByDigest:
		return &InputError{Input: "merge", Msg: "merges images pushed earlier and builds nothing, so push-by-digest cannot be used with it"}
	}
	return nil
}

// parseShard reads shard: a part of a split build is pushed by digest, so
// shard implies push-by-digest and refuses what contradicts it.
func parseShard(get func(string) string, s *settings) error {
	r := &s.req
	var err error
	if r.Shard, err = layering.ParseShard(strings.TrimSpace(get("shard"))); err != nil {
		return &InputError{Input: "shard", Msg: err.Error()}
	}
	if !r.Shard.Split() {
		return nil
	}
	switch {
	case !r.Push:
		return &InputError{Input: "shard", Msg: "pushes its part by digest, so it cannot be used with push: false"}
	case len(r.Tags) > 0:
		return &InputError{Input: "shard", Msg: "pushes a part of the image by digest, so tags cannot be used with it (the final job, without shard, tags)"}
	case len(s.merge) > 0:
		return &InputError{Input: "shard", Msg: "builds a part of the image; merge builds nothing, so they cannot be used together"}
	}
	r.PushByDigest = true
	return nil
}

// lines splits a newline (or comma-free) list input, trimming blanks.
func lines(s string) []string {
	var out []string
	for _, l := range strings.Split(s, "\n") {
		if l = strings.TrimSpace(l); l != "" {
			out = append(out, l)
		}
	}
	return out
}

// boolInput parses a boolean input the way actions/toolkit's getBooleanInput
// does (YAML 1.2 core schema).
func boolInput(get func(string) string, name string, def bool) (bool, error) {
	switch get(name) {
	case "":
		return def, nil
	case "true", "True", "TRUE":
		return true, nil
	case "false", "False", "FALSE":
		return false, nil
	default:
		return false, &InputError{Input: name, Msg: fmt.Sprintf("%q is not a boolean (use true or false)", get(name))}
	}
}

// keyValues parses "key=value" lines.
func keyValues(get func(string) string, name string) (map[string]string, error) {
	ls := lines(get(name))
	if len(ls) == 0 {
		return nil, nil
	}
	m := make(map[string]string, len(ls))
	for i, l := range ls {
		k, v, ok := strings.Cut(l, "=")
		k = strings.TrimSpace(k)
		if !ok || k == "" {
			return nil, &InputError{Input: name, Msg: fmt.Sprintf("line %d: %q is not key=value", i+1, l)}
		}
		m[k] = strings.TrimSpace(v)
	}
	return m, nil
}
