package e2e

// Interruption, resumption, temp files, full disk and concurrency (issue 5),
// with the built binary as users run it.

import (
	"errors"
	"math/rand"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/org/nix-layer-action/internal/testutil"
	"github.com/org/nix-layer-action/internal/testutil/faultproxy"
	"github.com/org/nix-layer-action/internal/testutil/registry"
)

// TestReliabilitySIGKILL kills a push of a changing image at random points;
// after each kill the tag points at a complete image (old or new), and the
// next run finishes, uploading only the blobs that are still missing.
func TestReliabilitySIGKILL(t *testing.T) {
	testutil.Short(t)
	testutil.RequireTool(t, "skopeo")
	bin := buildBinary(t)
	reg := registry.Start(t, registry.Options{})
	const repo = "rel/kill"
	ref := reg.Ref(repo + ":latest")
	n := pick(8, 30)
	rng := rand.New(rand.NewSource(11))

	first := synthPlan(t, t.TempDir(), stackPkgs(0, 2<<20), "")
	start := time.Now()
	if out, err := exec.Command(bin, "build", "--plan", first, "--image", ref, "--temp-dir", t.TempDir()).CombinedOutput(); err != nil {
		t.Fatalf("first push: %v\n%s", err, out)
	}
	full := time.Since(start) // a whole run: kills land anywhere in 0..1.2× this
	cur := tagDigest(t, reg, repo, "latest")
	var killedOld, killedNew, finished int
	var resumedBytes, missingBytes int64
	for i := 1; i <= n; i++ {
		planFile := synthPlan(t, t.TempDir(), stackPkgs(int64(i), 2<<20), "")
		want, blobs, _ := expectedImage(t, planFile)
		cmd := exec.Command(bin, "build", "--plan", planFile, "--image", ref, "--temp-dir", t.TempDir())
		var out strings.Builder
		cmd.Stdout, cmd.Stderr = &out, &out
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		delay := time.Duration(rng.Int63n(int64(full) * 6 / 5))
		done := make(chan error, 1)
		go func() { done <- cmd.Wait() }()
		select {
		case err := <-done:
			if err != nil {
				t.Fatalf("run %d failed before the kill: %v\n%s", i, err, out.String())
			}
			finished++
		case <-time.After(delay):
			_ = cmd.Process.Kill()
			<-done
		}

		// The tag is on a complete image: the old one or the new one. The
		// registry may still finish a manifest PUT the killed process had
		// sent, so wait until the tag is stable before reading it.
		got := settledTag(t, reg, repo, "latest")
		switch got {
		case cur:
			killedOld++
		case want:
			killedNew++
		default:
			t.Fatalf("kill %d after %s: tag on %s, neither the old %s nor the new %s", i, delay, got, cur, want)
		}
		if pulled := pullVerify(t, reg, repo+":latest"); pulled != got {
			t.Fatalf("kill %d: pulled %s, tag says %s", i, pulled, got)
		}

		// The next run finishes and uploads at most what is missing.
		var missing int64
		present := map[string]bool{}
		for d, size := range blobs {
			if headBlob(t, reg, repo, d) {
				present[d.String()] = true
			} else {
				missing += size
			}
		}
		rep := filepath.Join(t.TempDir(), "r.json")
		if _, stderr, err := runCLI(t, nil, "build", "--plan", planFile, "--image", ref, "--temp-dir", t.TempDir(), "--report", rep); err != nil {
			t.Fatalf("resume %d: %v\n%s", i, err, stderr)
		}
		r := readReport(t, rep)
		if r.Digest != want {
			t.Fatalf("resume %d: digest %s, want %s", i, r.Digest, want)
		}
		if r.BytesPushed > missing {
			t.Errorf("resume %d: pushed %d bytes, but only %d bytes of blobs were missing", i, r.BytesPushed, missing)
		}
		for _, l := range r.Layers {
			if l.Status == "empty" {
				continue
			}
			if present[l.Digest] && l.Status == "pushed" {
				t.Errorf("resume %d: layer %s was already in the registry but was pushed again", i, l.Name)
			}
			if !present[l.Digest] && l.Status != "pushed" {
				t.Errorf("resume %d: layer %s was missing but has status %q", i, l.Name, l.Status)
			}
		}
		resumedBytes += r.BytesPushed
		missingBytes += missing
		cur = want
	}
	t.Logf("FIGURE sigkill: kills=%d tag-old=%d tag-new=%d finished-before-kill=%d resumed-bytes=%d missing-bytes=%d run=%s",
		n, killedOld, killedNew, finished, resumedBytes, missingBytes, full.Round(time.Millisecond))
	if killedOld == 0 {
		t.Errorf("no kill landed before the tag was written (%d kills): the test does not exercise interruption", n)
	}
}

// settledTag reads the tag until three reads 100ms apart agree.
func settledTag(t *testing.T, reg *registry.Registry, repo, tag string) string {
	t.Helper()
	last, same := tagDigest(t, reg, repo, tag), 0
	for same < 2 {
		time.Sleep(100 * time.Millisecond)
		d := tagDigest(t, reg, repo, tag)
		if d == last {
			same++
		} else {
			last, same = d, 0
		}
	}
	return last
}

// TestReliabilitySignals: SIGINT/SIGTERM during a push stop the run with a
// clear message and a non-zero exit, remove its temp files, and write no tag.
func TestReliabilitySignals(t *testing.T) {
	testutil.Short(t)
	bin := buildBinary(t)
	reg := registry.Start(t, registry.Options{})
	planFile := synthPlan(t, t.TempDir(), stackPkgs(0, 512<<10), "")
	for _, sig := range []syscall.Signal{syscall.SIGINT, syscall.SIGTERM} {
		t.Run(sig.String(), func(t *testing.T) {
			// The first blob upload stalls (bounded at a minute): the
			// process is certainly mid-push, with its layers on disk.
			p := faultproxy.Start(t, faultproxy.Options{Target: reg.URL(), StallFor: time.Minute, Rules: []*faultproxy.Rule{
				{Method: http.MethodPost, Path: regexp.MustCompile(`/blobs/uploads/$`), Kind: faultproxy.Stall},
			}})
			repo := "rel/sig-" + strings.ToLower(strings.ReplaceAll(sig.String(), " ", ""))
			tmp := t.TempDir()
			cmd := exec.Command(bin, "build", "--plan", planFile, "--image", p.Ref(repo+":latest"), "--temp-dir", tmp)
			var stderr strings.Builder
			cmd.Stderr = &stderr
			if err := cmd.Start(); err != nil {
				t.Fatal(err)
			}
			done := make(chan error, 1)
			go func() { done <- cmd.Wait() }()
			deadline := time.After(time.Minute)
			for p.Counts()[faultproxy.Stall] == 0 {
				select {
				case err := <-done:
					t.Fatalf("exited before the stall: %v\n%s", err, stderr.String())
				case <-deadline:
					_ = cmd.Process.Kill()
					t.Fatal("the push never reached the stalled upload")
				case <-time.After(20 * time.Millisecond):
				}
			}
			if ents, _ := os.ReadDir(tmp); len(ents) == 0 {
				t.Fatal("no temp files while pushing: the cleanup check would prove nothing")
			}
			if err := cmd.Process.Signal(sig); err != nil {
				t.Fatal(err)
			}
			var err error
			select {
			case err = <-done:
			case <-time.After(time.Minute):
				_ = cmd.Process.Kill()
				t.Fatalf("did not stop within a minute of %s", sig)
			}
			var ee *exec.ExitError
			if !errors.As(err, &ee) || ee.ExitCode() == 0 {
				t.Fatalf("exit after %s: %v, want a non-zero exit code", sig, err)
			}
			if !strings.Contains(stderr.String(), "interrupted") || !strings.Contains(stderr.String(), "nothing was tagged") {
				t.Errorf("stderr lacks a clear interruption message:\n%s", stderr.String())
			}
			emptyDir(t, tmp)
			if d := tagDigest(t, reg, repo, "latest"); d != "" {
				t.Errorf("tag written after %s: %s", sig, d)
			}
		})
	}
}

// TestReliabilityFullDisk: a temp dir on a full file system gives a clear
// error naming the layer and the cause, leaves nothing behind, tags nothing.
func TestReliabilityFullDisk(t *testing.T) {
	testutil.Short(t)
	reg := registry.Start(t, registry.Options{})
	tmp := t.TempDir()
	if out, err := exec.Command("mount", "-t", "tmpfs", "-o", "size=64k", "tmpfs", tmp).CombinedOutput(); err != nil {
		if testutil.InCI() {
			t.Fatalf("mount tmpfs (needed to fill a disk): %v\n%s", err, out)
		}
		t.Skipf("cannot mount a tmpfs here: %v %s", err, out)
	}
	t.Cleanup(func() { _ = exec.Command("umount", tmp).Run() })
	planFile := synthPlan(t, t.TempDir(), stackPkgs(0, 512<<10), "")
	_, stderr, err := runCLI(t, nil, "build", "--plan", planFile, "--image", reg.Ref("rel/full:latest"), "--temp-dir", tmp)
	if err == nil {
		t.Fatal("build on a full disk succeeded")
	}
	msg := err.Error()
	if !strings.Contains(msg, "no space left on device") || !regexp.MustCompile(`layer "?(base|mid|app)`).MatchString(msg) {
		t.Errorf("error does not say the disk is full and which layer: %v\n%s", err, stderr)
	}
	emptyDir(t, tmp)
	if d := tagDigest(t, reg, "rel/full", "latest"); d != "" {
		t.Errorf("tag written by a failed build: %s", d)
	}
}

// TestReliabilityConcurrentPushes: two runs pushing different plans to the
// same tag at once both succeed, the tag ends on one of the two complete
// images and both images are intact; two runs sharing a layer upload it at
// most once each.
func TestReliabilityConcurrentPushes(t *testing.T) {
	testutil.Short(t)
	testutil.RequireTool(t, "skopeo")
	bin := buildBinary(t)
	reg := registry.Start(t, registry.Options{})
	p := faultproxy.Start(t, faultproxy.Options{Target: reg.URL()})
	const repo = "rel/conc"
	planA := synthPlan(t, t.TempDir(), stackPkgs(1, 1<<20), "")
	planB := synthPlan(t, t.TempDir(), stackPkgs(2, 1<<20), "")
	dA, blobsA, rA := expectedImage(t, planA)
	dB, _, _ := expectedImage(t, planB)

	both := func(repo, tagA, tagB string) [2]*cliReport {
		var cmds [2]*exec.Cmd
		var outs [2]strings.Builder
		var reps [2]string
		for i, pl := range []string{planA, planB} {
			reps[i] = filepath.Join(t.TempDir(), "r.json")
			tag := []string{tagA, tagB}[i]
			cmds[i] = exec.Command(bin, "build", "--plan", pl, "--image", p.Ref(repo+":"+tag), "--temp-dir", t.TempDir(), "--report", reps[i])
			cmds[i].Stdout, cmds[i].Stderr = &outs[i], &outs[i]
			if err := cmds[i].Start(); err != nil {
				t.Fatal(err)
			}
		}
		var res [2]*cliReport
		for i, c := range cmds {
			if err := c.Wait(); err != nil {
				t.Fatalf("concurrent run %d: %v\n%s", i, err, outs[i].String())
			}
			res[i] = readReport(t, reps[i])
		}
		return res
	}

	// Same tag, different plans.
	both(repo, "latest", "latest")
	got := tagDigest(t, reg, repo, "latest")
	if got != dA && got != dB {
		t.Fatalf("tag on %s, neither %s nor %s", got, dA, dB)
	}
	if pulled := pullVerify(t, reg, repo+":latest"); pulled != got {
		t.Fatalf("pulled %s, tag says %s", pulled, got)
	}
	for _, d := range []string{dA, dB} {
		pullVerify(t, reg, repo+"@"+d)
	}

	// A fresh repository, different tags, a shared base layer: each run
	// uploads each blob at most once.
	const repo2 = "rel/conc-shared"
	before := p.Uploads()
	reps := both(repo2, "a", "b")
	after := p.Uploads()
	base := rA.Layers[rA.layer(t, "base")].Digest
	if n := after[base] - before[base]; n > 2 {
		t.Errorf("shared base blob uploaded %d times by two runs, want at most once each", n)
	}
	for d, n := range after {
		if n-before[d] > 2 {
			t.Errorf("blob %s uploaded %d times by two runs", d, n-before[d])
		}
	}
	var sizeA int64
	for _, s := range blobsA {
		sizeA += s
	}
	if reps[0].BytesPushed > sizeA {
		t.Errorf("run A pushed %d bytes, more than its whole image (%d)", reps[0].BytesPushed, sizeA)
	}
	for _, tag := range []string{"a", "b"} {
		pullVerify(t, reg, repo2+":"+tag)
	}
	t.Logf("FIGURE concurrency: same-tag winner=%s; shared base uploads=%d; %s", shortDigest(got), after[base]-before[base], p.Summary())
}

func shortDigest(d string) string {
	if len(d) > 19 {
		return d[:19]
	}
	return d
}
