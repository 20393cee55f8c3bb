package e2e

// Hostile registries and foreign images (issue 9): a previous image the
// tool did not write is never trusted, a registry that stalls never hangs
// the run, one that echoes credentials never gets them printed, and a tag
// holding something unreadable is repaired by a full rebuild.

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/org/nix-layer-action/internal/testutil"
	"github.com/org/nix-layer-action/internal/testutil/hostile"
	"github.com/org/nix-layer-action/internal/testutil/nixfix"
	"github.com/org/nix-layer-action/internal/testutil/registry"
)

// hostilePlan is a three-layer synthetic plan (no Nix) and its layers as
// the plan command reports them.
func hostilePlan(t *testing.T) (string, []hostile.LayerSpec) {
	t.Helper()
	planFile := synthPlan(t, t.TempDir(), stackPkgs(7, 96<<10), "")
	var specs []hostile.LayerSpec
	for _, l := range planCLI(t, planFile).Layers {
		if !l.Empty {
			specs = append(specs, hostile.LayerSpec{Name: l.Name, Key: l.Key, Paths: hostile.PathsOf(l.Paths...)})
		}
	}
	if len(specs) != 3 {
		t.Fatalf("want 3 layers, got %+v", specs)
	}
	return planFile, specs
}

// TestReliabilityForeignPreviousImages: a previous image at the tag whose
// layers carry our keys but do not prove they are ours, in every shape, is
// not reused for those layers: they are rebuilt (with a log line saying
// why), the image pushed is the honest one, and it pulls and re-hashes.
func TestReliabilityForeignPreviousImages(t *testing.T) {
	testutil.Short(t)
	testutil.RequireTool(t, "skopeo")
	reg := registry.Start(t, registry.Options{})
	planFile, specs := hostilePlan(t)
	_, _, honest := expectedImage(t, planFile)
	const forged = 2 // the "app" layer
	for _, f := range append([]hostile.Forgery{hostile.Faithful}, hostile.Forgeries()...) {
		t.Run(string(f), func(t *testing.T) {
			repo := "foreign/" + string(f)
			fi := hostile.PushForeign(t, hostile.ForeignSpec{Registry: reg.URL(), Repo: repo, Tag: "latest", Layers: specs, Forgery: f, Forge: []int{forged}})
			r, stderr, err := buildReport(t, nil, planFile, "--image", reg.Ref(repo+":latest"))
			if err != nil {
				t.Fatalf("build over a foreign previous image: %v\n%s", err, stderr)
			}
			for _, l := range fi.Layers {
				reuse := f == hostile.Faithful || f == hostile.LyingBlob || !l.Forged && f != hostile.HistoryCount && f != hostile.DiffIDCount
				got := r.Layers[r.layer(t, l.Name)]
				if reuse != (got.Status == "cached") {
					t.Errorf("layer %s (forged %v): status %q, want reused %v\n%s", l.Name, l.Forged, got.Status, reuse, stderr)
				}
				// A rebuilt layer is the honest one; a reused one is the
				// previous image's blob, described by its verified values.
				want := honest.Layers[honest.layer(t, l.Name)].Digest
				if reuse {
					want = l.Digest
				}
				if got.Digest != want {
					t.Errorf("layer %s: %s, want %s", l.Name, got.Digest, want)
				}
				if !reuse && l.Forged && !strings.Contains(stderr, "not reusing layer "+l.Name) && !strings.Contains(stderr, "is not reused") {
					t.Errorf("layer %s rebuilt without a line saying why:\n%s", l.Name, stderr)
				}
			}
			if got := pullVerify(t, reg, repo+":latest"); got != r.Digest {
				t.Errorf("the tag holds %s, the report says %s", got, r.Digest)
			}
		})
	}
}

// TestReliabilityEchoedCredentials: registries that answer 401/403 with
// the Authorization header (raw and decoded) in the body, on the read
// path (a --cache-from image, the target, diff), never get the Docker
// config password or its base64 into any output.
func TestReliabilityEchoedCredentials(t *testing.T) {
	testutil.Short(t)
	reg := registry.Start(t, registry.Options{})
	planFile, _ := hostilePlan(t)
	const user, password = "robot", "canary-Pa55word-7f3e"
	// The 401 on the ping makes the client send the Docker config's
	// credentials; the manifest request carrying them is answered with
	// them echoed back.
	echo401 := hostile.Start(t, hostile.Options{Rules: []*hostile.Rule{
		{Method: "GET", Path: regexp.MustCompile(`^/v2/$`), Behaviour: hostile.EchoAuth401, Times: -1},
		{Path: regexp.MustCompile(`/manifests/`), Behaviour: hostile.EchoAuth401, Times: -1},
	}})
	echo403 := hostile.Start(t, hostile.Options{Rules: []*hostile.Rule{
		{Method: "GET", Path: regexp.MustCompile(`^/v2/$`), Behaviour: hostile.EchoAuth401, Times: -1},
		{Path: regexp.MustCompile(`/manifests/`), Behaviour: hostile.EchoAuth403, Times: -1},
	}})
	t.Setenv("DOCKER_CONFIG", hostile.DockerConfigDir(t, user, password, echo401.Host, echo403.Host))
	leaks := []string{password, hostile.BasicAuthorization(user, password), strings.TrimPrefix(hostile.BasicAuthorization(user, password), "Basic ")}
	check := func(t *testing.T, where, s string) {
		t.Helper()
		for _, l := range leaks {
			if strings.Contains(s, l) {
				t.Errorf("%s contains the credential %q:\n%s", where, l, s)
			}
		}
	}
	for _, h := range []*hostile.Server{echo401, echo403} {
		t.Run("cache-from "+h.Host, func(t *testing.T) {
			rep := filepath.Join(t.TempDir(), "r.json")
			stdout, stderr, err := runCLI(t, nil, "build", "--plan", planFile, "--image", reg.Ref("echo/app:latest"),
				"--cache-from", h.Ref("x/y:z"), "--report", rep, "--debug")
			if err != nil {
				t.Fatalf("a refusing --cache-from must not fail the build: %v\n%s", err, stderr)
			}
			if !strings.Contains(stderr, "warning: previous image "+h.Ref("x/y:z")) {
				t.Errorf("no warning naming the refused cache image:\n%s", stderr)
			}
			b, _ := os.ReadFile(rep)
			check(t, "stdout", stdout)
			check(t, "stderr", stderr)
			check(t, "report", string(b))
		})
	}
	t.Run("target", func(t *testing.T) {
		stdout, stderr, err := runCLI(t, nil, "build", "--plan", planFile, "--image", echo403.Ref("x/y:z"), "--temp-dir", t.TempDir())
		if err == nil {
			t.Fatal("a push to a registry that denies everything succeeded")
		}
		check(t, "stdout", stdout)
		check(t, "stderr", stderr)
		check(t, "error", err.Error())
		if !strings.Contains(stderr, "DENIED") || !strings.Contains(err.Error(), echo403.Host) {
			t.Errorf("the output does not carry the registry's answers: %v\n%s", err, stderr)
		}
	})
	t.Run("diff", func(t *testing.T) {
		stdout, stderr, err := runCLI(t, nil, "diff", "--plan", planFile, "--against", echo403.Ref("x/y:z"))
		if err == nil {
			t.Fatal("diff against a denying registry succeeded")
		}
		check(t, "stdout", stdout)
		check(t, "stderr", stderr)
		check(t, "error", err.Error())
	})
}

// TestReliabilityStalls: a registry that accepts the connection and then
// stops — no headers, or a body stopping midway, reading or writing —
// never hangs the run: a stalled --cache-from elsewhere is given up and its
// layers rebuilt, a stall reading the previous image on the registry
// pushed to ends the run before any build, a stalled upload fails the run
// naming the registry and the request, and the tag is untouched.
func TestReliabilityStalls(t *testing.T) {
	testutil.Short(t)
	reg := registry.Start(t, registry.Options{})
	planFile, _ := hostilePlan(t)
	const timeout = "1s"
	bound := 90 * time.Second

	t.Run("cache-from stalls headers", func(t *testing.T) {
		h := hostile.Start(t, hostile.Options{Backend: reg.URL(), Rules: []*hostile.Rule{
			{Method: "GET", Path: regexp.MustCompile(`/manifests/`), Behaviour: hostile.StallHeaders, Times: -1},
		}})
		start := time.Now()
		r, stderr, err := buildReport(t, nil, planFile, "--image", reg.Ref("stall/a:latest"), "--cache-from", h.Ref("stall/a:latest"), "--registry-timeout", timeout)
		if err != nil {
			t.Fatalf("a stalled --cache-from must not fail the build: %v\n%s", err, stderr)
		}
		if d := time.Since(start); d > bound {
			t.Errorf("took %s", d)
		}
		if !strings.Contains(stderr, "registry "+h.Host) || !strings.Contains(stderr, "waiting for the response headers") {
			t.Errorf("the warning does not name the registry and the stalled request:\n%s", stderr)
		}
		if got := pullVerify(t, reg, "stall/a:latest"); got != r.Digest {
			t.Errorf("tag %s, report %s", got, r.Digest)
		}
	})

	t.Run("target manifest body stalls", func(t *testing.T) {
		h := hostile.Start(t, hostile.Options{Backend: reg.URL()})
		seedTag(t, h, planFile, "stall/b:latest")
		h.AddRule(&hostile.Rule{Method: "GET", Path: regexp.MustCompile(`/manifests/`), Behaviour: hostile.StallBody, Times: -1})
		before := tagDigest(t, reg, "stall/b", "latest")
		_, stderr, err := buildReport(t, nil, planFile, "--image", h.Ref("stall/b:latest"), "--registry-timeout", timeout)
		// The registry pushed to stalls: the push would too, so the run
		// ends before building anything (issue 17, item 8).
		if err == nil {
			t.Fatalf("a registry that stalls reading the previous image did not fail the run:\n%s", stderr)
		}
		if msg := err.Error(); !strings.Contains(msg, "cannot reach registry "+h.Host) || !strings.Contains(msg, "reading the response body") {
			t.Errorf("the error does not name the registry and the stalled body: %v", err)
		}
		if strings.Contains(stderr, "building layer") {
			t.Errorf("layers built before giving up:\n%s", stderr)
		}
		if got := tagDigest(t, reg, "stall/b", "latest"); got != before {
			t.Errorf("tag moved from %s to %s", before, got)
		}
	})

	t.Run("upload stalls", func(t *testing.T) {
		h := hostile.Start(t, hostile.Options{Backend: reg.URL(), Rules: []*hostile.Rule{
			{Method: "PATCH", Path: regexp.MustCompile(`/blobs/uploads/`), Behaviour: hostile.StallUpload, Times: -1},
			{Method: "PUT", Path: regexp.MustCompile(`/blobs/uploads/`), Behaviour: hostile.StallUpload, Times: -1},
		}})
		start := time.Now()
		_, stderr, err := buildReport(t, nil, planFile, "--image", h.Ref("stall/c:latest"), "--registry-timeout", timeout)
		if err == nil {
			t.Fatal("a push to a registry that stops reading uploads succeeded")
		}
		if d := time.Since(start); d > bound {
			t.Errorf("took %s to give up", d)
		}
		// Small bodies fit the socket buffers: the stall is then seen while
		// waiting for the answer rather than while sending.
		if msg := err.Error(); !strings.Contains(msg, "registry "+h.Host) || !strings.Contains(msg, "/blobs/uploads/") || !strings.Contains(msg, "no progress for 1s") {
			t.Errorf("the error does not name the registry and the stalled upload: %v\n%s", err, stderr)
		}
		if d := tagDigest(t, reg, "stall/c", "latest"); d != "" {
			t.Errorf("tag written by a failed push: %s", d)
		}
	})
}

// seedTag pushes the plan through h to ref (a previous image to read).
func seedTag(t *testing.T, h *hostile.Server, planFile, ref string) {
	t.Helper()
	if _, stderr, err := buildReport(t, nil, planFile, "--image", h.Ref(ref)); err != nil {
		t.Fatalf("seeding %s: %v\n%s", ref, err, stderr)
	}
}

// TestReliabilityUnreadableTarget: the tag holds something that cannot be
// read as a previous image; the build warns (naming the reference and the
// reason), rebuilds every layer and repairs the tag. A huge config is not
// downloaded.
func TestReliabilityUnreadableTarget(t *testing.T) {
	testutil.Short(t)
	testutil.RequireTool(t, "skopeo")
	reg := registry.Start(t, registry.Options{})
	planFile, _ := hostilePlan(t)
	honest, _, _ := expectedImage(t, planFile)
	for _, kind := range []hostile.ShapeKind{hostile.Schema1, hostile.IndexWithoutAMD64, hostile.EmptyIndex, hostile.ConfigNotJSON, hostile.HugeConfig} {
		t.Run(string(kind), func(t *testing.T) {
			h := hostile.Start(t, hostile.Options{Backend: reg.URL()})
			repo := "unreadable/" + strings.ToLower(string(kind))
			served := h.Serve(t, repo, "latest", hostile.Shape{Kind: kind})
			r, stderr, err := buildReport(t, nil, planFile, "--image", h.Ref(repo+":latest"))
			if err != nil {
				t.Fatalf("an unreadable tag must not fail the build: %v\n%s", err, stderr)
			}
			if !strings.Contains(stderr, "previous image "+h.Ref(repo+":latest")) || !strings.Contains(stderr, "not reused") {
				t.Errorf("no warning naming the tag:\n%s", stderr)
			}
			if r.Digest != honest {
				t.Errorf("pushed %s, want %s", r.Digest, honest)
			}
			// The shape still shadows the tag on h; the registry behind it
			// holds what was pushed.
			if got := pullVerify(t, reg, repo+":latest"); got != honest {
				t.Errorf("registry tag %s, want %s", got, honest)
			}
			if kind == hostile.HugeConfig {
				for _, req := range h.Settled(t).Where("GET", `/blobs/`+served.ConfigDigest) {
					t.Errorf("the huge config was downloaded: %s", req.Call())
				}
			}
		})
	}
}

// TestReliabilityRedirectedUploads: a registry that sends blob uploads to
// another host (as S3-backed registries do) gets them counted.
func TestReliabilityRedirectedUploads(t *testing.T) {
	testutil.Short(t)
	reg := registry.Start(t, registry.Options{})
	planFile, _ := hostilePlan(t)
	h := hostile.Start(t, hostile.Options{Backend: reg.URL(), Redirect: hostile.RedirectUploadStart})
	r, stderr, err := buildReport(t, nil, planFile, "--image", h.Ref("redirect/app:latest"))
	if err != nil {
		t.Fatalf("build: %v\n%s", err, stderr)
	}
	alt := h.BytesReceived(hostile.Alt)
	if alt == 0 || r.BytesPushed != alt {
		t.Errorf("bytesPushed %d, the upload host received %d", r.BytesPushed, alt)
	}
	var pushed []string
	for _, l := range r.Layers {
		if l.Status == "pushed" {
			pushed = append(pushed, l.Name)
		}
	}
	if len(pushed) != 3 {
		t.Errorf("pushed layers %v, want all three", pushed)
	}
	if !slices.Contains(pushed, "app") {
		t.Errorf("statuses: %+v", r.Layers)
	}
	_ = fmt.Sprint()
}

// TestReliabilityRootOverStore: root: contents that would land inside the
// store (over a store path an earlier layer holds) are refused before
// anything is built, naming both the root dep and the store path's layer.
func TestReliabilityRootOverStore(t *testing.T) {
	testutil.Short(t)
	dir := t.TempDir()
	pkgs := stackPkgs(3, 64<<10)
	planFile := synthPlan(t, dir, pkgs, "")
	base := pkgs[0].storePath()
	evil := synthPkg{Name: "evil-root", Seed: 9, Size: 16}.storePath()
	host := filepath.Join(dir, "store", evil, base, "share")
	mkdir(t, host)
	if err := os.WriteFile(filepath.Join(host, "data"), []byte("replaced"), 0o644); err != nil {
		t.Fatal(err)
	}
	nar, err := nixfix.Nar(filepath.Join(dir, "store", evil))
	if err != nil {
		t.Fatal(err)
	}
	graph := filepath.Join(dir, "closure.json")
	var infos []map[string]any
	readJSON(t, graph, &infos)
	infos = append(infos, map[string]any{"path": evil, "narHash": nar.Base32, "narSize": nar.Size, "references": []string{}})
	writeJSON(t, graph, infos)
	f, err := os.OpenFile(planFile, os.O_APPEND|os.O_WRONLY, 0)
	if err != nil {
		t.Fatal(err)
	}
	fmt.Fprintf(f, "root: [%q]\n", evil)
	f.Close()

	out := filepath.Join(t.TempDir(), "oci")
	_, stderr, err := runCLI(t, nil, "build", "--plan", planFile, "--output", "oci:"+out, "--temp-dir", t.TempDir())
	if err == nil {
		t.Fatal("a root dep writing into the store was accepted")
	}
	msg := err.Error()
	for _, want := range []string{"root: " + evil, base, "layer base", "inside the store"} {
		if !strings.Contains(msg, want) {
			t.Errorf("error lacks %q: %v", want, err)
		}
	}
	if strings.Contains(stderr, "building layer") {
		t.Errorf("layers were built before the refusal:\n%s", stderr)
	}
	if _, err := os.Stat(out); err == nil {
		t.Errorf("output %s was written", out)
	}
}

func readJSON(t *testing.T, file string, v any) {
	t.Helper()
	b, err := os.ReadFile(file)
	if err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(b, v); err != nil {
		t.Fatalf("%s: %v", file, err)
	}
}

func writeJSON(t *testing.T, file string, v any) {
	t.Helper()
	b, err := json.MarshalIndent(v, "", "  ")
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(file, b, 0o644); err != nil {
		t.Fatal(err)
	}
}

// TestNixFailureNamesThePlanDep: a failing build is reported once, as the
// plan's file:line: field of the dep that caused it, from one nix build
// (no rebuild to find the culprit).
func TestNixFailureNamesThePlanDep(t *testing.T) {
	testutil.Short(t)
	fx := nixfix.Flake(t, t.TempDir(), nixfix.Options{Packages: 1, CudaSize: 1024})
	planFile := writePlan(t, "nix-layers.yaml", fmt.Sprintf(`version: 1
layers:
  - name: libs
    deps: [%q]
  - name: app
    deps:
      - %q
      - %q
`, fx.Ref("libshared"), fx.Ref("busybox"), fx.Ref("broken")))
	_, stderr, err := runCLI(t, map[string]string{"NIX_CONFIG": nixfix.NixConfig}, "build", "--plan", planFile, "--output", "oci:"+filepath.Join(t.TempDir(), "o"))
	if err == nil {
		t.Fatal("a plan with a failing build succeeded")
	}
	want := planFile + ":8: layers[1].deps[1]: dep " + fmt.Sprintf("%q", fx.Ref("broken"))
	if !strings.HasPrefix(err.Error(), want) {
		t.Errorf("error %q\ndoes not start with %q", err, want)
	}
	if n := strings.Count(stderr+err.Error(), "fails on purpose"); n != 1 {
		t.Errorf("the builder's error appears %d times, want once:\n%s\n%v", n, stderr, err)
	}
}
