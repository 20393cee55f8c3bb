package action

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"time"
)

// The OCI pre-defined annotation keys the action fills from the GitHub
// context (image-spec annotations.md). Each is set both as a manifest
// annotation and as a config label.
const (
	AnnotationSource      = "org.opencontainers.image.source"
	AnnotationRevision    = "org.opencontainers.image.revision"
	AnnotationCreated     = "org.opencontainers.image.created"
	AnnotationTitle       = "org.opencontainers.image.title"
	AnnotationDescription = "org.opencontainers.image.description"
	AnnotationLicenses    = "org.opencontainers.image.licenses"
	AnnotationVersion     = "org.opencontainers.image.version"
)

// DefaultSBOMPath is where the action writes the SBOM, relative to the
// workspace.
const DefaultSBOMPath = "nix-layer-action.cdx.json"

// githubContext is what the image metadata is derived from.
type githubContext struct {
	ServerURL   string // GITHUB_SERVER_URL
	Repository  string // GITHUB_REPOSITORY, owner/name
	SHA         string // GITHUB_SHA
	RefType     string // GITHUB_REF_TYPE: branch or tag
	RefName     string // GITHUB_REF_NAME
	Description string // the event payload's repository.description
	License     string // the event payload's repository.license.spdx_id
	// Created is the image's creation time: SOURCE_DATE_EPOCH, else the
	// commit's time (zero when neither is known).
	Created time.Time
}

// imageMetadata maps the GitHub context to OCI annotations; a field that
// is missing leaves its key out.
//
//   - source: GITHUB_SERVER_URL/GITHUB_REPOSITORY (what links a GHCR
//     package to its repository);
//   - revision: GITHUB_SHA;
//   - created: Created, RFC 3339 in UTC;
//   - title: the repository's name;
//   - description, licenses: from the event payload's repository
//     (GitHub's "NOASSERTION" license is not an SPDX expression: left out);
//   - version: the tag name on a tag push, else nothing (the revision
//     already names the commit).
func imageMetadata(c githubContext) map[string]string {
	m := map[string]string{}
	set := func(k, v string) {
		if v = strings.TrimSpace(v); v != "" {
			m[k] = v
		}
	}
	if owner, name, ok := strings.Cut(c.Repository, "/"); ok && owner != "" && name != "" {
		server := strings.TrimSuffix(c.ServerURL, "/")
		if server == "" {
			server = "https://github.com"
		}
		set(AnnotationSource, server+"/"+c.Repository)
		set(AnnotationTitle, name)
	}
	set(AnnotationRevision, c.SHA)
	if !c.Created.IsZero() {
		set(AnnotationCreated, c.Created.UTC().Format(time.RFC3339))
	}
	set(AnnotationDescription, strings.Join(strings.Fields(c.Description), " "))
	if c.License != "NOASSERTION" {
		set(AnnotationLicenses, c.License)
	}
	if c.RefType == "tag" {
		set(AnnotationVersion, c.RefName)
	}
	if len(m) == 0 {
		return nil
	}
	return m
}

// repoEvent is the part of an event payload the metadata uses.
type repoEvent struct {
	Repository *struct {
		Description *string `json:"description"`
		License     *struct {
			SPDXID string `json:"spdx_id"`
		} `json:"license"`
	} `json:"repository"`
	HeadCommit *struct {
		ID        string `json:"id"`
		Timestamp string `json:"timestamp"`
	} `json:"head_commit"`
}

// readRepoEvent reads the event payload; a missing or unreadable one is
// an empty event.
func readRepoEvent(path string) (repoEvent, error) {
	var ev repoEvent
	if path == "" {
		return ev, nil
	}
	data, err := os.ReadFile(path)
	if err != nil {
		return ev, fmt.Errorf("reading event payload: %w", err)
	}
	if err := json.Unmarshal(data, &ev); err != nil {
		return repoEvent{}, fmt.Errorf("parsing event payload %s: %w", path, err)
	}
	return ev, nil
}

var shaRE = regexp.MustCompile(`^[0-9a-f]{40}([0-9a-f]{24})?$`)

// gitCommitTime is the committer time of sha in the git checkout at dir.
// The workspace belongs to the runner's user while the container runs as
// root, hence safe.directory.
func gitCommitTime(ctx context.Context, dir, sha string) (time.Time, error) {
	if !shaRE.MatchString(sha) {
		return time.Time{}, fmt.Errorf("GITHUB_SHA %q is not a commit id", sha)
	}
	ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, "git", "-c", "safe.directory=*", "-C", dir, "log", "-1", "--format=%ct", sha, "--")
	var stderr strings.Builder
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		return time.Time{}, fmt.Errorf("git log %s: %v: %s", sha, err, strings.TrimSpace(stderr.String()))
	}
	n, err := strconv.ParseInt(strings.TrimSpace(string(out)), 10, 64)
	if err != nil {
		return time.Time{}, fmt.Errorf("git log %s printed %q", sha, out)
	}
	return time.Unix(n, 0).UTC(), nil
}

// commitTime finds the commit's time: from git in the workspace, else from
// the payload's head_commit when it is the commit built. It says where the
// time came from, or why there is none.
func commitTime(ctx context.Context, env func(string) string, ev repoEvent) (time.Time, string) {
	sha, ws := env("GITHUB_SHA"), env("GITHUB_WORKSPACE")
	if sha == "" {
		return time.Time{}, "GITHUB_SHA is not set"
	}
	var why []string
	if ws != "" {
		t, err := gitCommitTime(ctx, ws, sha)
		if err == nil {
			return t, "the commit's time (git)"
		}
		why = append(why, err.Error())
	}
	if hc := ev.HeadCommit; hc != nil && hc.ID == sha && hc.Timestamp != "" {
		t, err := time.Parse(time.RFC3339, hc.Timestamp)
		if err == nil {
			return t.UTC(), "the commit's time (event payload head_commit)"
		}
		why = append(why, fmt.Sprintf("head_commit.timestamp %q: %v", hc.Timestamp, err))
	}
	why = append(why, "no head_commit for it in the event payload")
	return time.Time{}, "commit time unknown: " + strings.Join(why, "; ")
}

// sourceDateEpoch is SOURCE_DATE_EPOCH as a time; ok is false when it is
// unset or not a number of seconds (the build reports that).
func sourceDateEpoch(v string) (time.Time, bool) {
	n, err := strconv.ParseInt(v, 10, 64)
	if v == "" || err != nil || n < 0 {
		return time.Time{}, false
	}
	return time.Unix(n, 0).UTC(), true
}

// githubMetadata fills the request's metadata defaults (annotations and
// labels; the labels and annotations inputs and the plan's labels override
// them, see pipeline.Options.Metadata) and, without SOURCE_DATE_EPOCH, the
// image's created time from the commit.
func (r *runner) githubMetadata(ctx context.Context, s *settings) {
	ev, err := readRepoEvent(r.env("GITHUB_EVENT_PATH"))
	if err != nil {
		r.gha.Warningf("image metadata: %s", r.red.String(err.Error()))
	}
	c := githubContext{
		ServerURL: r.env("GITHUB_SERVER_URL"), Repository: r.env("GITHUB_REPOSITORY"), SHA: r.env("GITHUB_SHA"),
		RefType: r.env("GITHUB_REF_TYPE"), RefName: r.env("GITHUB_REF_NAME"),
	}
	if repo := ev.Repository; repo != nil {
		if repo.Description != nil {
			c.Description = *repo.Description
		}
		if repo.License != nil {
			c.License = repo.License.SPDXID
		}
	}
	from := "SOURCE_DATE_EPOCH"
	if t, ok := sourceDateEpoch(r.env("SOURCE_DATE_EPOCH")); ok {
		c.Created = t
	} else if r.env("SOURCE_DATE_EPOCH") == "" {
		c.Created, from = commitTime(ctx, r.env, ev)
		s.req.Created = c.Created
	}
	s.req.Metadata = imageMetadata(c)
	if c.Created.IsZero() {
		r.infof("image metadata: no created time (%s); the image's created time is 1970-01-01T00:00:01Z", from)
	} else {
		r.infof("image metadata: created %s from %s", c.Created.Format(time.RFC3339), from)
	}
	keys := make([]string, 0, len(s.req.Metadata))
	for k := range s.req.Metadata {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		r.infof("  %s=%s", k, r.red.String(s.req.Metadata[k]))
	}
}

// parseSBOMPath reads the sbom-path input: where the SBOM is written in
// the container (under the workspace, which the runner mounts) and the
// path the sbom output gives, relative to the workspace so that it is
// valid on the runner's host too (a later step's working directory is the
// workspace).
func parseSBOMPath(get func(string) string, s *settings) error {
	p := strings.TrimSpace(get("sbom-path"))
	if p == "" {
		p = DefaultSBOMPath
	}
	if filepath.IsAbs(p) {
		s.req.SBOMPath, s.sbomOutput = p, p
		if s.workspace != "" {
			if rel, err := filepath.Rel(s.workspace, p); err == nil && filepath.IsLocal(rel) {
				s.sbomOutput = rel
			}
		}
		return nil
	}
	if !filepath.IsLocal(p) {
		return &InputError{Input: "sbom-path", Msg: fmt.Sprintf("%q leaves the workspace: the runner would not see the file", p)}
	}
	s.req.SBOMPath, s.sbomOutput = filepath.Join(s.workspace, p), filepath.Clean(p)
	return nil
}
