// Package action runs nix-layer-action as a GitHub Action: it reads the
// inputs, calls the build, sets outputs, writes the job summary, maintains a
// sticky pull-request comment with the package diff and applies the policy
// gates. It is the only package that talks to GitHub (go-githubactions,
// go-github). The environment is read only through Options.Getenv.
package action

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/google/go-containerregistry/pkg/name"
	"github.com/sethvargo/go-githubactions"

	"github.com/org/nix-layer-action/internal/bytesize"
	"github.com/org/nix-layer-action/internal/layer"
	"github.com/org/nix-layer-action/internal/layering"
	"github.com/org/nix-layer-action/internal/plan"
	"github.com/org/nix-layer-action/internal/publish"
	"github.com/org/nix-layer-action/internal/report"
	"github.com/org/nix-layer-action/internal/secrets"
)

// Request is what the build needs, taken from the action inputs.
type Request struct {
	PlanFile    string // absolute when GITHUB_WORKSPACE is set
	Image       string
	Tags        []string
	Push        bool
	CacheFrom   []string
	GitHubToken string
	NixConf     string
	Labels      map[string]string
	Annotations map[string]string
	TempDir     string // RUNNER_TEMP when it exists in the container, else ""
	// System is the Nix system to build for ("" = the plan's, else Nix's).
	System string
	// PushByDigest pushes the image by digest without moving any tag.
	PushByDigest bool
	// LayerFiles writes each built layer to a temp file before its upload
	// (input layer-files, default true); false writes it straight into
	// its upload.
	LayerFiles bool
	// Shard, when split, builds and pushes by digest only part I of N of
	// the layers (input shard: "I/N"); PushByDigest is then set too.
	Shard layering.Shard
	// Format is how new layers are compressed (input compression: gzip,
	// the default, or zstd).
	Format layer.Format
	// Metadata are OCI annotations from the GitHub context (source,
	// revision, created, …), defaults for both the manifest's annotations
	// and the config's labels.
	Metadata map[string]string
	// Created is the commit's time, for the image's created time when
	// SOURCE_DATE_EPOCH is unset (zero when unknown).
	Created time.Time
	// SBOMPath is where the builder writes the CycloneDX SBOM after a
	// successful build ("" = none).
	SBOMPath string
	// Phase is set by Run: the builder calls it as each phase starts, and
	// it opens a log group for the phase.
	Phase func(name string)
	// Debug is set when the runner's debug logging is on (RUNNER_DEBUG=1).
	Debug bool
	// Log is the run's log: redacting, inside the phase's log group. The
	// builder writes every progress line here.
	Log io.Writer
	// Secrets are the run's secrets (the token and nix-conf access tokens
	// already in it); the builder adds what it learns (registry
	// credentials) so the summary and comment are redacted of it too.
	Secrets *secrets.Set
}

// Builder builds (and, with Push, publishes) the image. main wires the
// pipeline into it.
type Builder func(ctx context.Context, req Request) (*report.Report, error)

// MergeRequest is a merge job's: the per-platform digests to put in one
// index at Image's tag (and Tags). The other fields are Request's.
type MergeRequest struct {
	Request
	Digests []string
}

// Merged is one platform of a merged index.
type Merged struct {
	Platform string // "linux/arm64"
	Digest   string
}

// MergeResult is what a merge did.
type MergeResult struct {
	Digest   string // the index's
	Children []Merged
	Changed  bool // the tag held something else before
}

// Merger merges per-platform images into an index. main wires
// internal/multiarch into it.
type Merger func(ctx context.Context, req MergeRequest) (*MergeResult, error)

// Options configure Run.
type Options struct {
	Getenv     func(string) string // required: the only source of environment
	Stdout     io.Writer           // workflow commands and log; nil = os.Stdout
	HTTPClient *http.Client        // for the GitHub API; nil = http.DefaultClient
	Build      Builder             // required
	Merge      Merger              // required for the merge input
	Secrets    *secrets.Set        // the run's secrets; nil = a new set
	UserAgent  string              // of GitHub API requests; "" = "nix-layer-action"
}

// PolicyFailure is returned by Run when a policy gate failed.
type PolicyFailure struct{ Err error }

func (e *PolicyFailure) Error() string { return "policy check failed: " + e.Err.Error() }
func (e *PolicyFailure) Unwrap() error { return e.Err }

type runner struct {
	o     Options
	env   func(string) string
	out   *commandLog // stdout: text cannot act, only gha's commands do
	red   *secrets.Set
	log   *secrets.Writer // text: redacted, never a workflow command
	gha   *githubactions.Action
	token string
	sbom  string // the sbom output
}

// Run executes the action once.
func Run(ctx context.Context, o Options) error {
	if o.Getenv == nil || o.Build == nil {
		return errors.New("action: Options.Getenv and Options.Build are required")
	}
	raw := o.Stdout
	if raw == nil {
		raw = os.Stdout
	}
	red := o.Secrets
	if red == nil {
		red = secrets.New()
	}
	out := newCommandLog(raw)
	r := &runner{o: o, env: o.Getenv, out: out, red: red, log: red.Writer(out)}
	// The action's own commands: redacted, issued between the stops that
	// keep every other line from acting.
	r.gha = githubactions.New(githubactions.WithWriter(red.Writer(out.Commands())), githubactions.WithGetenv(o.Getenv))

	// Mask secrets before anything else is printed.
	r.token = r.gha.GetInput("github-token")
	r.mask(r.token)
	for _, s := range secrets.NixConfTokens(r.gha.GetInput("nix-conf")) {
		r.mask(s)
	}

	err := r.run(ctx)
	r.log.Flush()
	out.Close()
	return red.Error(err)
}

// mask issues ::add-mask:: (unredacted: the runner needs the value) and
// redacts the value from everything else.
func (r *runner) mask(secret string) {
	if strings.TrimSpace(secret) == "" {
		return
	}
	cmd := &githubactions.Command{Name: "add-mask", Message: secret}
	r.out.command([]byte(cmd.String() + "\n"))
	r.red.Add(secret)
}

func (r *runner) run(ctx context.Context) error {
	isPR := isPREvent(r.env("GITHUB_EVENT_NAME"))
	s, err := parseInputs(r.gha.GetInput, r.env, isPR)
	if err != nil {
		r.gha.Errorf("%s", r.red.String(err.Error()))
		return err
	}

	if len(s.merge) > 0 {
		r.gha.Group("Merge " + s.req.Image)
	} else {
		r.gha.Group("Build " + s.req.Image)
	}
	// Each pipeline phase gets its own log group (groups cannot nest).
	s.req.Phase = func(name string) {
		r.gha.EndGroup()
		r.gha.Group(name)
	}
	s.req.Debug = r.env("RUNNER_DEBUG") == "1"
	s.req.Log, s.req.Secrets = r.log, r.red
	if err := r.checkFileCommands(s.summary); err != nil {
		r.gha.EndGroup()
		r.gha.Errorf("%s", r.red.String(err.Error()))
		return err
	}
	if len(s.merge) > 0 {
		return r.merge(ctx, s)
	}
	r.checkTempDir(&s.req)
	r.githubMetadata(ctx, s)
	rep, err := r.o.Build(ctx, s.req)
	r.gha.EndGroup()
	var published *publish.PublishedError // the builder published, then failed (the SBOM)
	if err != nil && (!errors.As(err, &published) || rep == nil) {
		if ctx.Err() == nil { // interrupted: the caller says so, and only that
			r.buildError(s, err)
		}
		return err
	}
	if rep == nil {
		return errors.New("action: build returned no report")
	}
	if s.req.SBOMPath != "" {
		if _, err := os.Stat(s.req.SBOMPath); err != nil {
			r.gha.Warningf("no SBOM: %s", r.red.String(err.Error()))
		} else {
			r.sbom = s.sbomOutput
		}
	}
	if rep.PackageURL == "" {
		rep.PackageURL = packageURL(r.env("GITHUB_SERVER_URL"), r.env("GITHUB_REPOSITORY"), rep.Image)
	}

	r.gha.Group("Outputs")
	outErr := r.setOutputs(rep)
	r.gha.EndGroup()

	r.gha.Group("Policy")
	policyErr := report.CheckPolicy(rep, s.maxLayerSize, s.maxGrowth)
	// Redacted before they are escaped for Markdown, where a secret's
	// characters might no longer match.
	policyMsgs := r.redactAll(policyMessages(policyErr))
	if s.maxGrowth != "" && rep.PreviousSize <= 0 {
		if rep.PreviousDigest != "" {
			r.gha.Warningf("max-growth %s not checked: the previous image's size is unknown", s.maxGrowth)
		} else {
			r.infof("max-growth %s not checked: no previous image", s.maxGrowth)
		}
	}
	if policyErr == nil {
		r.infof("policy: max-layer-size %s, max-growth %s: ok", bytesize.Format(s.maxLayerSize), orNone(s.maxGrowth))
	}
	r.gha.EndGroup()

	var fallback string // PR comment that could not be posted
	if s.prComment && rep.Diff != nil {
		r.gha.Group("Pull request comment")
		platform := ""
		if s.req.System != "" {
			platform = rep.Platform
		}
		fallback = r.prComment(ctx, rep, platform, policyMsgs)
		r.gha.EndGroup()
	}

	var sumErr error
	if s.summary {
		sumErr = r.writeSummary(rep, policyMsgs, fallback)
	}

	postErr := r.afterPublish(s.req.Push, rep.Image, rep.Digest, published, errors.Join(outErr, sumErr))
	if policyErr != nil {
		for _, m := range policyMsgs {
			r.gha.Errorf("%s", r.red.String(m))
		}
		return &PolicyFailure{Err: policyErr}
	}
	return postErr
}

// afterPublish is what failed after the build — the builder's own
// failure after publishing (the SBOM) and err, a failed step output or
// summary — as one *publish.PublishedError naming the image when it was
// published, with an error annotation saying so: the digest is never lost
// in the failure.
func (r *runner) afterPublish(pushed bool, image, digest string, published *publish.PublishedError, err error) error {
	if published != nil {
		published.Err = errors.Join(published.Err, err)
	} else if err != nil && pushed {
		published = &publish.PublishedError{Ref: DigestRef(image, digest), Err: err}
	}
	if published == nil {
		return err
	}
	r.gha.Errorf("%s", r.red.String(published.Error()))
	return published
}

// checkFileCommands makes sure, before any work, that the runner's files
// for step outputs (GITHUB_OUTPUT) and, when it is written, the job
// summary (GITHUB_STEP_SUMMARY) can be appended to, as go-githubactions
// will: a file that cannot be written is found before anything is built
// or published, not after.
func (r *runner) checkFileCommands(summary bool) error {
	vars := []string{"GITHUB_OUTPUT"}
	if summary {
		vars = append(vars, "GITHUB_STEP_SUMMARY")
	}
	for _, v := range vars {
		p := r.env(v)
		if p == "" {
			continue
		}
		f, err := os.OpenFile(p, os.O_WRONLY|os.O_APPEND|os.O_CREATE, 0o644)
		if err != nil {
			return fmt.Errorf("%s cannot be written, so nothing was built: %w", v, err)
		}
		f.Close()
	}
	return nil
}

// merge runs the merge job: no build, an index of the given digests at the
// image's tag, outputs and a summary of its platforms.
func (r *runner) merge(ctx context.Context, s *settings) error {
	if r.o.Merge == nil {
		return errors.New("action: Options.Merge is required for the merge input")
	}
	res, err := r.o.Merge(ctx, MergeRequest{Request: s.req, Digests: s.merge})
	r.gha.EndGroup()
	if err != nil {
		r.gha.Errorf("%s", r.red.String(err.Error()))
		return err
	}
	ref := DigestRef(s.req.Image, res.Digest)
	outs := map[string]string{"digest": res.Digest, "image": ref, "changed": strconv.FormatBool(res.Changed)}
	var md strings.Builder
	fmt.Fprintf(&md, "### `%s`\n\nImage index `%s` (%d platforms)", report.InertCode(s.req.Image), report.InertCode(res.Digest), len(res.Children))
	if !res.Changed {
		md.WriteString(", already at the tag")
	}
	md.WriteString("\n\n| Platform | Image |\n|---|---|\n")
	for _, c := range res.Children {
		fmt.Fprintf(&md, "| %s | `%s` |\n", report.Inert(c.Platform), report.InertCode(c.Digest))
	}
	var errs []error
	if r.env("GITHUB_OUTPUT") != "" {
		for _, k := range []string{"digest", "image", "changed"} {
			k, v := k, r.red.String(outs[k])
			if err := safe(func() { r.gha.SetOutput(k, v) }); err != nil {
				errs = append(errs, fmt.Errorf("setting output %s: %w", k, err))
				break
			}
		}
	}
	r.infof("image: %s", ref)
	if s.summary && r.env("GITHUB_STEP_SUMMARY") != "" {
		if err := safe(func() { r.gha.AddStepSummary(r.red.String(md.String())) }); err != nil {
			errs = append(errs, fmt.Errorf("writing job summary: %w", err))
		}
	}
	return r.afterPublish(true, s.req.Image, res.Digest, nil, errors.Join(errs...))
}

// buildError turns plan errors into file annotations.
func (r *runner) buildError(s *settings, err error) {
	var pe *plan.Error
	if errors.As(err, &pe) {
		file := pe.File
		if file == "" {
			file = s.req.PlanFile
		}
		if s.workspace != "" {
			if rel, rerr := filepath.Rel(s.workspace, file); rerr == nil && !strings.HasPrefix(rel, "..") {
				file = rel
			}
		}
		if pe.Attr != "" { // a plan written in Nix: no line to point at
			r.gha.WithFieldsMap(map[string]string{"title": "nix-layer-action plan error"}).Errorf("%s", r.red.String(pe.Error()))
			return
		}
		fields := map[string]string{"file": file, "title": "nix-layer-action plan error"}
		if pe.Line > 0 {
			fields["line"] = strconv.Itoa(pe.Line)
		}
		if pe.Column > 0 {
			fields["col"] = strconv.Itoa(pe.Column)
		}
		msg := pe.Msg
		if pe.Field != "" {
			msg = pe.Field + ": " + msg
		}
		r.gha.WithFieldsMap(fields).Errorf("%s", r.red.String(msg))
		return
	}
	r.gha.Errorf("%s", r.red.String(err.Error()))
}

func (r *runner) setOutputs(rep *report.Report) error {
	var meta bytes.Buffer
	if err := rep.JSON(&meta); err != nil {
		return err
	}
	_, pushed, cached := rep.Counts()
	outs := map[string]string{
		"digest":        rep.Digest,
		"image":         DigestRef(rep.Image, rep.Digest),
		"metadata":      strings.TrimSpace(meta.String()),
		"layers-pushed": strconv.Itoa(pushed),
		"layers-cached": strconv.Itoa(cached),
		"bytes-pushed":  strconv.FormatInt(rep.BytesPushed, 10),
		"changed":       strconv.FormatBool(rep.Changed),
		"sbom":          r.sbom,
	}
	if r.env("GITHUB_OUTPUT") == "" {
		r.infof("GITHUB_OUTPUT is not set; outputs:")
		for _, k := range OutputNames {
			r.infof("%s=%s", k, r.red.String(outs[k]))
		}
		return nil
	}
	for _, k := range OutputNames {
		k, v := k, r.red.String(outs[k])
		if err := safe(func() { r.gha.SetOutput(k, v) }); err != nil {
			r.gha.Warningf("setting output %s: %s", k, r.red.String(err.Error()))
			return fmt.Errorf("setting output %s: %w", k, err)
		}
	}
	r.infof("image: %s", DigestRef(rep.Image, rep.Digest))
	return nil
}

// writeSummary writes the job summary; it returns an error only when the
// summary file could not be written.
func (r *runner) writeSummary(rep *report.Report, policyMsgs []string, fallback string) error {
	var head strings.Builder
	if len(policyMsgs) > 0 {
		head.WriteString("> [!CAUTION]\n> **Policy check failed**\n")
		for _, m := range policyMsgs {
			head.WriteString("> - " + report.Inert(m) + "\n")
		}
		head.WriteString("\n")
	}
	tail := ""
	if fallback != "" {
		tail = "\n<details open><summary>Package diff (PR comment could not be posted)</summary>\n\n" + fallback + "\n</details>\n"
	}
	var body bytes.Buffer
	budget := report.SummaryLimit - 16<<10 - head.Len() - len(tail)
	red := *rep // free text redacted before it is escaped for Markdown
	red.Warnings = r.redactAll(rep.Warnings)
	if err := red.Markdown(&body, report.MarkdownOptions{MaxBytes: budget}); err != nil {
		r.gha.Warningf("rendering job summary: %s", r.red.String(err.Error()))
		return nil
	}
	md := r.red.String(head.String() + body.String() + tail)
	if r.env("GITHUB_STEP_SUMMARY") == "" {
		var t bytes.Buffer
		_ = rep.Table(&t)
		r.infof("GITHUB_STEP_SUMMARY is not set; summary:\n%s", r.red.String(t.String()))
		return nil
	}
	if err := safe(func() { r.gha.AddStepSummary(md) }); err != nil {
		return fmt.Errorf("writing job summary: %w", err)
	}
	return nil
}

// prComment posts the sticky comment; it returns the body when it could not
// be posted, for the summary.
//
// In a build matrix (platform set) each platform keeps its own comment.
func (r *runner) prComment(ctx context.Context, rep *report.Report, platform string, notes []string) string {
	var buf bytes.Buffer
	_ = report.PRComment(&buf, rep.Diff, report.PRCommentOptions{
		Image: rep.Image, Platform: platform, PreviousDigest: rep.PreviousDigest, Notes: notes,
	})
	body := r.red.String(buf.String())
	pr, err := readPR(r.env("GITHUB_EVENT_PATH"))
	if err != nil {
		r.gha.Warningf("not commenting on the pull request: %s", r.red.String(err.Error()))
		return body
	}
	if r.token == "" {
		r.gha.Noticef("no github-token: the package diff for PR #%d is in the job summary", pr.Number)
		return body
	}
	c, err := NewCommenter(r.o.HTTPClient, r.env("GITHUB_API_URL"), r.token, r.env("GITHUB_REPOSITORY"), r.o.UserAgent)
	if err != nil {
		r.gha.Warningf("not commenting on the pull request: %s", r.red.String(err.Error()))
		return body
	}
	id, created, err := c.Upsert(ctx, pr.Number, report.PRCommentMarkerFor(platform), body)
	var perm *PermissionError
	switch {
	case errors.As(err, &perm):
		why := ""
		if pr.Fork {
			why = " (pull requests from forks get a read-only token)"
		}
		r.gha.Noticef("cannot comment on PR #%d: HTTP %d%s; the package diff is in the job summary", pr.Number, perm.Status, why)
		return body
	case err != nil:
		r.gha.Warningf("commenting on PR #%d failed: %s; the package diff is in the job summary", pr.Number, r.red.String(err.Error()))
		return body
	case created:
		r.infof("created PR comment %d on #%d", id, pr.Number)
	default:
		r.infof("updated PR comment %d on #%d", id, pr.Number)
	}
	return ""
}

func policyMessages(err error) []string {
	if err == nil {
		return nil
	}
	var msgs []string
	if j, ok := err.(interface{ Unwrap() []error }); ok {
		for _, e := range j.Unwrap() {
			msgs = append(msgs, e.Error())
		}
		return msgs
	}
	return []string{err.Error()}
}

// DigestRef returns "<repository>@<digest>" for an image reference.
func DigestRef(image, digest string) string {
	if digest == "" {
		return ""
	}
	if ref, err := name.ParseReference(image); err == nil {
		return ref.Context().Name() + "@" + digest
	}
	if i := strings.LastIndex(image, "@"); i >= 0 {
		image = image[:i]
	}
	if i := strings.LastIndex(image, ":"); i > strings.LastIndex(image, "/") {
		image = image[:i]
	}
	return image + "@" + digest
}

// checkTempDir falls back to the system temp dir when RUNNER_TEMP is not
// mounted into the container (runners before v2.331 do not mount it).
func (r *runner) checkTempDir(req *Request) {
	if req.TempDir == "" {
		return
	}
	if info, err := os.Stat(req.TempDir); err != nil || !info.IsDir() {
		r.gha.Noticef("RUNNER_TEMP %s is not available in the action's container (runners before v2.331 do not mount it); using the system temp dir %s", req.TempDir, os.TempDir())
		req.TempDir = ""
	}
}

// safe runs a go-githubactions file command, turning its panic into an error.
func safe(fn func()) (err error) {
	defer func() {
		if p := recover(); p != nil {
			if e, ok := p.(error); ok {
				err = e
			} else {
				err = fmt.Errorf("%v", p)
			}
		}
	}()
	fn()
	return nil
}

func orNone(s string) string {
	if s == "" {
		return "none"
	}
	return s
}

// packageURL links a ghcr.io image to its package page on GitHub
// ("https://github.com/<owner>/<repo>/pkgs/container/<name>").
func packageURL(server, repository, image string) string {
	ref, err := name.ParseReference(image)
	if err != nil || ref.Context().RegistryStr() != "ghcr.io" || repository == "" {
		return ""
	}
	if server == "" {
		server = "https://github.com"
	}
	_, pkg, ok := strings.Cut(ref.Context().RepositoryStr(), "/")
	if !ok || pkg == "" {
		return ""
	}
	return strings.TrimSuffix(server, "/") + "/" + repository + "/pkgs/container/" + url.PathEscape(pkg)
}

// infof writes a line of text to the log (redacted; it cannot act as a
// workflow command whatever it holds).
func (r *runner) infof(format string, args ...any) {
	fmt.Fprintf(r.log, format+"\n", args...)
}

// redactAll returns msgs with the run's secrets redacted.
func (r *runner) redactAll(msgs []string) []string {
	if msgs == nil {
		return nil
	}
	out := make([]string, len(msgs))
	for i, m := range msgs {
		out[i] = r.red.String(m)
	}
	return out
}
