package main

import (
	"bufio"
	"encoding/json"
	"fmt"
	"io"
	"log"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"time"
)

// fixture is `nix eval --json` of the fixture's plans.
type fixture struct {
	PlanA []planLayer `json:"planA"`
	PlanB []planLayer `json:"planB"`
	App   string      `json:"app"`
	App2  string      `json:"app2"`
	Big   string      `json:"big"`
}

type planLayer struct {
	Name string   `json:"name"`
	Deps []string `json:"deps"`
}

// nlaReport is the part of the CLI's JSON report the bench reads.
type nlaReport struct {
	Digest      string `json:"digest"`
	Changed     bool   `json:"changed"`
	BytesPushed int64  `json:"bytesPushed"`
	PeakTemp    int64  `json:"peakTempBytes"`
	Layers      []struct {
		Name             string   `json:"name"`
		Digest           string   `json:"digest"`
		Size             int64    `json:"size"`
		UncompressedSize int64    `json:"uncompressedSize"`
		Status           string   `json:"status"`
		Source           string   `json:"source"`
		Paths            []string `json:"paths"`
	} `json:"layers"`
	Fetch *struct {
		NarinfoRequests int64 `json:"narinfoRequests"`
		NarinfoBytes    int64 `json:"narinfoBytes"`
		NARRequests     int64 `json:"narRequests"`
		NARWireBytes    int64 `json:"narWireBytes"`
		NARBytes        int64 `json:"narBytes"`
		ClosureNARBytes int64 `json:"closureNarBytes"`
	} `json:"fetch"`
}

// narinfo is what a cache says of one store path.
type narinfo struct {
	URL      string
	FileSize int64
	NarSize  int64
}

type bench struct {
	c            *config
	seq          int
	samples      []sample
	commands     map[string]string
	commandOrder []string
	reg, ngx     *accessLog
	fx           fixture
	planA        string
	planB        string
	planBig      string
	closureA     []string // every store path of plan A's closure
	closureB     []string
	narSize      map[string]int64
	r            results
	mainRef      string // plan A's image, pushed cold (default flags)
}

// atFatal holds what fatalf must undo before exiting (the seed section's
// network namespace and registry), last first.
var atFatal []func()

func fatalf(format string, args ...any) {
	for i := len(atFatal) - 1; i >= 0; i-- {
		atFatal[i]()
	}
	log.Fatalf(format, args...)
}

func runAll(c *config) error {
	b := &bench{c: c, commands: map[string]string{}, narSize: map[string]int64{}}
	for _, d := range []string{"time", "logs", "tmp", "home", "reports", "fresh"} {
		if err := os.MkdirAll(filepath.Join(c.Work, d), 0o755); err != nil {
			return err
		}
	}
	b.reg = newRegistryLog(c.RegLog, c.Reg)
	b.ngx = newNginxLog(c.NginxLog, c.Nginx)
	data, err := os.ReadFile(c.Fixture)
	if err != nil {
		return err
	}
	if err := json.Unmarshal(data, &b.fx); err != nil {
		return fmt.Errorf("%s: %w", c.Fixture, err)
	}
	b.planA = b.writePlan("planA.json", b.fx.PlanA, b.fx.App)
	b.planB = b.writePlan("planB.json", b.fx.PlanB, b.fx.App2)
	b.planBig = b.writePlan("planBig.json", []planLayer{{Name: "big", Deps: []string{b.fx.Big}}}, "")
	b.closureA = b.closure(deps(b.fx.PlanA))
	b.closureB = b.closure(deps(b.fx.PlanB))
	b.machine()
	F := &b.r.Fresh
	F.ClosureFileXZ = b.fileBytes("xz", b.closureA)
	F.ClosureFileZstd = b.fileBytes("zstd", b.closureA)
	F.AppFileXZ = b.fileBytes("xz", []string{b.fx.App2})
	F.AppNar = b.narSizeOf(b.fx.App2)
	b.r.Started = time.Now().UTC().Format(time.RFC3339)

	only := map[string]bool{}
	for _, s := range strings.Split(c.Only, ",") {
		if s != "" {
			only[s] = true
		}
	}
	want := func(s string) bool { return len(only) == 0 || only[s] }
	if want("cold") || want("rerun") || want("fresh") {
		b.cold(want("cold"))
	}
	if want("rerun") {
		b.rerun()
	}
	if want("fresh") {
		b.fresh()
	}
	if want("rss") {
		b.bigLocal()
	}
	if want("bigfresh") {
		b.bigFresh()
	}
	b.r.Finished = time.Now().UTC().Format(time.RFC3339)
	b.r.LoadAfter = loadavg()
	b.r.Commands = map[string]string{}
	for _, k := range b.commandOrder {
		b.r.Commands[k] = b.commands[k]
		b.r.CommandOrder = append(b.r.CommandOrder, k)
	}
	b.r.Samples = b.samples
	return b.write()
}

func deps(ls []planLayer) []string {
	var out []string
	for _, l := range ls {
		out = append(out, l.Deps...)
	}
	return out
}

// writePlan writes a JSON plan (JSON is YAML) with one layer per group.
func (b *bench) writePlan(name string, layers []planLayer, entry string) string {
	p := map[string]any{"version": 1, "layers": layers}
	if entry != "" {
		p["config"] = map[string]any{"entrypoint": []string{entry + "/bin/app"}}
	}
	data, _ := json.MarshalIndent(p, "", "  ")
	f := filepath.Join(b.c.Work, name)
	if err := os.WriteFile(f, data, 0o644); err != nil {
		fatalf("%v", err)
	}
	return f
}

// closure asks the host store for the closure of roots (and NAR sizes).
func (b *bench) closure(roots []string) []string {
	cmd := exec.Command("nix", append([]string{"path-info", "--json", "-r"}, roots...)...)
	cmd.Env = b.hostEnv()
	out, err := cmd.Output()
	if err != nil {
		fatalf("nix path-info: %v", err)
	}
	var infos []struct {
		Path    string `json:"path"`
		NarSize int64  `json:"narSize"`
	}
	if err := json.Unmarshal(out, &infos); err != nil {
		fatalf("nix path-info output: %v", err)
	}
	var paths []string
	for _, in := range infos {
		paths = append(paths, in.Path)
		b.narSize[in.Path] = in.NarSize
	}
	sort.Strings(paths)
	return paths
}

func (b *bench) hostEnv() []string {
	return []string{
		"PATH=/usr/local/bin:/usr/bin:/bin:/usr/sbin:/sbin",
		"HOME=" + filepath.Join(b.c.Work, "home"),
		"XDG_CACHE_HOME=" + filepath.Join(b.c.Work, "home", "cache"),
		"TMPDIR=" + filepath.Join(b.c.Work, "tmp"),
		"NIX_CONFIG=" + b.c.NixConfig,
	}
}

// freshEnv trusts one of the caches nginx serves, with a private HOME
// (no narinfo disk cache carried between runs).
func (b *bench) freshEnv(cache, home string) []string {
	return []string{
		"PATH=/usr/local/bin:/usr/bin:/bin:/usr/sbin:/sbin",
		"HOME=" + home,
		"XDG_CACHE_HOME=" + filepath.Join(home, "cache"),
		"TMPDIR=" + filepath.Join(b.c.Work, "tmp"),
		"NIX_CONFIG=" + b.c.NixConfig + "\nsubstituters = " + b.cacheURL(cache) + "\ntrusted-public-keys = " + b.c.KeyPub,
	}
}

func (b *bench) cacheURL(cache string) string { return b.c.Nginx + "/" + cache }

func (b *bench) ref(repo string) string {
	return b.c.Reg + "/bench/" + strings.ToLower(repo) + ":latest"
}

// nlaBuild is the job of one `nla build`; the report goes to reports/.
func (b *bench) nlaBuild(label, plan string, extra ...string) (job, string) {
	rep := filepath.Join(b.c.Work, "reports", sanitize(label)+".json")
	argv := append([]string{b.c.NLA, "build", "--plan", plan, "--report", rep, "--temp-dir", filepath.Join(b.c.Work, "tmp")}, extra...)
	return job{label: label, argv: argv, env: b.hostEnv()}, rep
}

func readReport(file string) *nlaReport {
	data, err := os.ReadFile(file)
	if err != nil {
		fatalf("report: %v", err)
	}
	var r nlaReport
	if err := json.Unmarshal(data, &r); err != nil {
		fatalf("report %s: %v", file, err)
	}
	return &r
}

// rotate returns xs rotated left by k (the order of one repetition).
func rotate[T any](xs []T, k int) []T {
	k %= len(xs)
	return append(append([]T(nil), xs[k:]...), xs[:k]...)
}

// ---- cold build + push to an empty repository -----------------------------

// pushCfg is one set of flags of the cold-push matrix; MemLimit, when
// set, is a GOMEMLIMIT what-if (not a flag of the CLI).
type pushCfg struct {
	Jobs, Uploads int
	MemLimit      string
}

func (p pushCfg) String() string {
	s := fmt.Sprintf("--jobs %d --upload-jobs %d", p.Jobs, p.Uploads)
	if p.MemLimit != "" {
		s = "GOMEMLIMIT=" + p.MemLimit + " " + s
	}
	return s
}

func (p pushCfg) key() string {
	k := fmt.Sprintf("j%du%d", p.Jobs, p.Uploads)
	if p.MemLimit != "" {
		k += "-gomemlimit" + p.MemLimit
	}
	return k
}

// defaultCfg is the CLI's default on this 2-CPU machine (jobs = CPUs,
// upload-jobs 4); it is also passed explicitly.
var defaultCfg = pushCfg{2, 4, ""}

func (b *bench) cold(measure bool) {
	R := &b.r.Cold
	// Warm-up: fills the page cache and the registry's blob store, gives
	// the OCI layout skopeo copies, the tar size and pigz's output size.
	warmOCI := filepath.Join(b.c.Work, "oci-warm")
	j, rep := b.nlaBuild("warmup-oci", b.planA, "--output", "oci:"+warmOCI)
	b.run(j)
	warm := readReport(rep)
	for _, l := range warm.Layers {
		R.TarBytesNLA += l.UncompressedSize
		R.ImageBytes += l.Size
		if l.Size > 0 {
			R.Layers++
		}
	}
	b.mainRef = b.ref("cold-" + defaultCfg.key() + "-r1")
	rel := make([]string, len(b.closureA))
	for i, p := range b.closureA {
		rel[i] = strings.TrimPrefix(p, "/")
	}
	R.Paths = len(rel)
	R.TarBytes = countBytes(append([]string{"tar", "-C", "/", "-cf", "-"}, rel...))
	R.PigzBytes = countBytes([]string{"sh", "-c", `tar -C / -cf - "$@" | pigz -6`, "sh"}, rel...)
	for _, p := range b.closureA {
		R.NarBytes += b.narSize[p]
	}
	if !measure {
		j, _ := b.nlaBuild("cold-main", b.planA, "--image", b.mainRef)
		b.run(j)
		return
	}
	b.reg.mark()
	j, _ = b.nlaBuild("warmup-push", b.planA, "--image", b.ref("warm"))
	b.run(j)
	b.run(b.skopeo("warmup-skopeo", warmOCI, b.ref("skopeo-warm")))
	b.reg.mark()

	cfgs := []pushCfg{defaultCfg, {1, 1, ""}, {1, 2, ""}, {1, 4, ""}, {2, 1, ""}, {2, 2, ""}, {2, 4, "48MiB"}}
	type item struct {
		name string
		do   func(r int)
	}
	var items []item
	for _, cfg := range cfgs {
		cfg := cfg
		items = append(items, item{"nla " + cfg.key(), func(r int) {
			ref := b.ref(fmt.Sprintf("cold-%s-r%d", cfg.key(), r))
			j, rep := b.nlaBuild(fmt.Sprintf("cold-%s#%d", cfg.key(), r), b.planA, "--image", ref,
				"--jobs", strconv.Itoa(cfg.Jobs), "--upload-jobs", strconv.Itoa(cfg.Uploads))
			if cfg.MemLimit != "" {
				j.env = append(j.env, "GOMEMLIMIT="+cfg.MemLimit)
				j.show = "GOMEMLIMIT=" + cfg.MemLimit + " " + b.display(j)
			}
			b.reg.mark()
			s := b.run(j)
			reqs := b.reg.mark()
			rp := readReport(rep)
			for _, l := range rp.Layers {
				if l.Size > 0 && l.Status != "pushed" {
					R.Anomalies = append(R.Anomalies, fmt.Sprintf("%s: layer %s status %s on an empty repository", j.label, l.Name, l.Status))
				}
			}
			if R.ByCfg == nil {
				R.ByCfg = map[string][]sample{}
				R.Requests = map[string]map[string]int{}
			}
			R.ByCfg[cfg.key()] = append(R.ByCfg[cfg.key()], s)
			if r == 1 {
				R.Requests["nla "+cfg.key()] = requestKinds(reqs)
			}
		}})
	}
	items = append(items,
		item{"oci", func(r int) {
			dir := filepath.Join(b.c.Work, fmt.Sprintf("oci-r%d", r))
			j, _ := b.nlaBuild(fmt.Sprintf("build-oci#%d", r), b.planA, "--output", "oci:"+dir)
			R.OCI = append(R.OCI, b.run(j))
			os.RemoveAll(dir)
		}},
		item{"skopeo", func(r int) {
			b.reg.mark()
			s := b.run(b.skopeo(fmt.Sprintf("skopeo-copy#%d", r), warmOCI, b.ref(fmt.Sprintf("skopeo-r%d", r))))
			reqs := b.reg.mark()
			R.Skopeo = append(R.Skopeo, s)
			if r == 1 {
				R.Requests["skopeo"] = requestKinds(reqs)
			}
		}},
		item{"pigz", func(r int) {
			R.Pigz = append(R.Pigz, b.run(job{label: fmt.Sprintf("tar-pigz#%d", r), env: b.hostEnv(),
				argv: append([]string{"sh", "-c", `tar -C / -cf - "$@" | pigz -6 >/dev/null`, "sh"}, rel...)}))
		}},
	)
	for r := 1; r <= b.c.Reps; r++ {
		for _, it := range rotate(items, r-1) {
			log.Printf("cold r%d: %s", r, it.name)
			it.do(r)
		}
	}
}

// skopeo copies an OCI layout to a registry with a private, empty
// blob-info cache (a tmpfs over /var/lib/containers/cache in a mount
// namespace): otherwise skopeo remembers where it pushed each blob before
// and cross-repo mounts it instead of uploading.
func (b *bench) skopeo(label, layout, ref string) job {
	return job{label: label, env: b.hostEnv(),
		argv: []string{"unshare", "-m", "--propagation", "private", "--", "/bin/sh", "-c",
			`set -e; mkdir -p /var/lib/containers/cache; mount -t tmpfs tmpfs /var/lib/containers/cache; exec "$@"`, "sh",
			"skopeo", "copy", "--quiet", "--dest-tls-verify=false", "oci:" + layout, "docker://" + ref}}
}

// countBytes runs argv and counts its stdout.
func countBytes(argv []string, extra ...string) int64 {
	cmd := exec.Command(argv[0], append(argv[1:], extra...)...)
	out, err := cmd.StdoutPipe()
	if err != nil {
		fatalf("%v", err)
	}
	if err := cmd.Start(); err != nil {
		fatalf("%v", err)
	}
	n, _ := io.Copy(io.Discard, out)
	if err := cmd.Wait(); err != nil {
		fatalf("%s: %v", argv[0], err)
	}
	return n
}

// requestKinds counts registry requests by method and kind of path.
func requestKinds(reqs []req) map[string]int {
	out := map[string]int{}
	for _, r := range reqs {
		out[r.Method+" "+pathKind(r.Path)]++
	}
	return out
}

func pathKind(p string) string {
	p, _, _ = strings.Cut(p, "?")
	switch {
	case p == "/v2/" || p == "/v2":
		return "/v2/"
	case strings.Contains(p, "/blobs/uploads/"):
		return "blobs/uploads"
	case strings.Contains(p, "/blobs/"):
		return "blobs/<digest>"
	case strings.Contains(p, "/manifests/"):
		return "manifests/<ref>"
	}
	return p
}

// ---- no-change rerun: requests and time ------------------------------------

func (b *bench) rerun() {
	R := &b.r.Rerun
	R.Ref = strings.TrimPrefix(b.mainRef, b.c.Reg)
	manifest := b.manifest(b.mainRef)
	roots := deps(b.fx.PlanA)
	n := max(2*b.c.Reps, 9)
	for i := 1; i <= n; i++ {
		items := []func(){
			func() {
				j, rep := b.nlaBuild(fmt.Sprintf("rerun#%d", i), b.planA, "--image", b.mainRef)
				b.reg.mark()
				s := b.run(j)
				reqs := b.reg.mark()
				R.NLA = append(R.NLA, s)
				rp := readReport(rep)
				R.BytesPushed = max(R.BytesPushed, rp.BytesPushed)
				if rp.Changed {
					R.Anomalies = append(R.Anomalies, j.label+": report says changed")
				}
				if i == 1 {
					R.Requests = describe(reqs, manifest, rp)
					R.Raw = reqs
				}
				R.RequestCounts = append(R.RequestCounts, len(reqs))
			},
			func() {
				R.PathInfoR = append(R.PathInfoR, b.run(job{label: fmt.Sprintf("nix-path-info-r#%d", i), env: b.hostEnv(),
					argv: append([]string{"nix", "path-info", "--json", "-r"}, roots...)}))
			},
			func() {
				R.PathInfo = append(R.PathInfo, b.run(job{label: fmt.Sprintf("nix-path-info#%d", i), env: b.hostEnv(),
					argv: append([]string{"nix", "path-info", "--json"}, roots...)}))
			},
		}
		for _, f := range rotate(items, i-1) {
			f()
		}
	}
	// Which nix commands a rerun runs, and how long each takes.
	wrapper := filepath.Join(b.c.Work, "nix-logged")
	calls := filepath.Join(b.c.Work, "nix-calls.log")
	script := "#!/bin/bash\ns=$(date +%s%N)\n/usr/bin/nix \"$@\"\nrc=$?\ne=$(date +%s%N)\n" +
		"echo \"$(( (e-s)/1000000 )) ms: nix $(printf '%q ' \"$@\")\" >> " + calls + "\nexit $rc\n"
	if err := os.WriteFile(wrapper, []byte(script), 0o755); err != nil {
		fatalf("%v", err)
	}
	j, _ := b.nlaBuild("rerun-nix-logged", b.planA, "--image", b.mainRef, "--nix", wrapper)
	R.Logged = b.run(j)
	for _, l := range readLines(calls) {
		ms, rest, _ := strings.Cut(l, " ms: ")
		f := strings.Fields(rest)
		var kept []string
		paths := 0
		for _, a := range f {
			if strings.HasPrefix(a, "/nix/store/") {
				paths++
				continue
			}
			kept = append(kept, a)
		}
		line := strings.Join(kept, " ")
		if paths > 0 {
			line += fmt.Sprintf(" <%d store paths>", paths)
		}
		v, _ := strconv.Atoi(ms)
		R.NixCalls = append(R.NixCalls, nixCall{Cmd: line, Ms: v})
	}
}

type nixCall struct {
	Cmd string `json:"cmd"`
	Ms  int    `json:"ms"`
}

// manifest fetches an image manifest (outside any measured window).
func (b *bench) manifest(ref string) map[string]string {
	host, rest, _ := strings.Cut(ref, "/")
	repo, tag, _ := strings.Cut(rest, ":")
	rq, _ := http.NewRequest("GET", "http://"+host+"/v2/"+repo+"/manifests/"+tag, nil)
	rq.Header.Set("Accept", "application/vnd.oci.image.manifest.v1+json, application/vnd.docker.distribution.manifest.v2+json")
	resp, err := http.DefaultClient.Do(rq)
	if err != nil {
		fatalf("manifest %s: %v", ref, err)
	}
	defer resp.Body.Close()
	var m struct {
		Config struct{ Digest string }   `json:"config"`
		Layers []struct{ Digest string } `json:"layers"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&m); err != nil {
		fatalf("manifest %s: %v", ref, err)
	}
	names := map[string]string{m.Config.Digest: "config"}
	for i, l := range m.Layers {
		names[l.Digest] = fmt.Sprintf("layer %d", i+1)
	}
	return names
}

// describe lists requests with digests named (config, layer N).
func describe(reqs []req, names map[string]string, rp *nlaReport) []string {
	for _, l := range rp.Layers {
		if _, ok := names[l.Digest]; ok {
			names[l.Digest] = "layer " + l.Name
		}
	}
	var out []string
	for _, r := range reqs {
		p := r.Path
		for d, n := range names {
			p = strings.ReplaceAll(p, d, "<"+n+">")
		}
		out = append(out, fmt.Sprintf("%s %s → %d (%d B)", r.Method, p, r.Status, r.Bytes))
	}
	return out
}

// ---- peak RSS of a >= 2 GiB layer from the local store ---------------------

func (b *bench) bigLocal() {
	j, rep := b.nlaBuild("big-local", b.planBig, "--image", b.ref("big-local"))
	j.tree = true
	s := b.run(j)
	rp := readReport(rep)
	b.r.Big.Local = s
	for _, l := range rp.Layers {
		b.r.Big.TarBytes = max(b.r.Big.TarBytes, l.UncompressedSize)
		b.r.Big.LayerBytes = max(b.r.Big.LayerBytes, l.Size)
	}
	b.r.Big.NarBytes = b.narSizeOf(b.fx.Big)
}

func (b *bench) narSizeOf(p string) int64 {
	if n, ok := b.narSize[p]; ok {
		return n
	}
	b.closure([]string{p})
	return b.narSize[p]
}

// ---- fresh runners: an empty store, the closure from a binary cache ---------

// newFresh makes an empty store root (store, db) and a private HOME.
func (b *bench) newFresh() (root, home string) {
	b.seq++
	root = filepath.Join(b.c.Work, "fresh", strconv.Itoa(b.seq))
	for _, d := range []string{"store", "var/nix/db", "var/nix/gcroots", "var/nix/profiles", "var/nix/temproots", "var/log/nix"} {
		if err := os.MkdirAll(filepath.Join(root, d), 0o755); err != nil {
			fatalf("%v", err)
		}
	}
	home = root + "-home"
	os.MkdirAll(home, 0o755)
	return root, home
}

func removeFresh(root string) {
	os.RemoveAll(root)
	os.RemoveAll(root + "-home")
}

// storeEntries counts what a fresh store holds (Nix's .links pool and
// lock files aside).
func storeEntries(root string) (all, drv int) {
	ents, _ := os.ReadDir(filepath.Join(root, "store"))
	for _, e := range ents {
		n := e.Name()
		if strings.HasPrefix(n, ".") || strings.HasSuffix(n, ".lock") {
			continue
		}
		all++
		if strings.HasSuffix(n, ".drv") {
			drv++
		}
	}
	return
}

// freshOut is one run in a fresh store.
type freshOut struct {
	Sample   sample  `json:"sample"`
	Traffic  traffic `json:"traffic"`
	Realised int     `json:"realised"` // store paths valid in the fresh store afterwards
	Fetch    *fetchCheck
}

// fetchCheck compares the report's fetch figures with nginx's log.
type fetchCheck struct {
	Label                     string   `json:"label"`
	Report                    [4]int64 `json:"report"` // narinfo requests, narinfo bytes, NAR requests, NAR wire bytes
	Nginx                     [4]int64 `json:"nginx"`
	NARBytes, ClosureNARBytes int64
	OK                        bool `json:"ok"`
}

// freshNLA runs nla build in a new fresh store against cache.
func (b *bench) freshNLA(label, cache, plan string, extra ...string) (freshOut, *nlaReport) {
	root, home := b.newFresh()
	defer removeFresh(root)
	j, rep := b.nlaBuild(label, plan, extra...)
	j.fresh, j.env = root, b.freshEnv(cache, home)
	b.ngx.mark()
	b.reg.mark()
	s := b.run(j)
	t := summarize(b.ngx.mark())
	b.reg.mark()
	all, drv := storeEntries(root)
	rp := readReport(rep)
	out := freshOut{Sample: s, Traffic: t, Realised: all - drv}
	fc := &fetchCheck{Label: label, Nginx: [4]int64{int64(t.NarinfoRequests), t.NarinfoBytes, int64(t.NARRequests), t.NARBytes}}
	if rp.Fetch != nil {
		f := rp.Fetch
		fc.Report = [4]int64{f.NarinfoRequests, f.NarinfoBytes, f.NARRequests, f.NARWireBytes}
		fc.NARBytes, fc.ClosureNARBytes = f.NARBytes, f.ClosureNARBytes
	}
	fc.OK = fc.Report == fc.Nginx
	out.Fetch = fc
	b.r.FetchChecks = append(b.r.FetchChecks, *fc)
	if out.Realised > 0 {
		b.r.Fresh.Anomalies = append(b.r.Fresh.Anomalies, fmt.Sprintf("%s: %d store paths realised into the fresh store", label, out.Realised))
	}
	return out, rp
}

// freshBaseline is the realise-everything path: nix copy --from the cache
// of the plan's deps into a fresh store, then nla build from that store.
func (b *bench) freshBaseline(label, cache, plan string, roots []string, extra ...string) (copy, build freshOut) {
	root, home := b.newFresh()
	defer removeFresh(root)
	env := b.freshEnv(cache, home)
	b.ngx.mark()
	cs := b.run(job{label: label + "-nix-copy", fresh: root, env: env,
		argv: append([]string{"nix", "copy", "--from", b.cacheURL(cache)}, roots...)})
	copy = freshOut{Sample: cs, Traffic: summarize(b.ngx.mark())}
	j, _ := b.nlaBuild(label+"-nla", plan, extra...)
	j.fresh, j.env = root, env
	bs := b.run(j)
	build = freshOut{Sample: bs, Traffic: summarize(b.ngx.mark())}
	all, drv := storeEntries(root)
	copy.Realised = all - drv
	return copy, build
}

// cacheInfo reads the narinfo of p in a cache.
func (b *bench) cacheInfo(cache, p string) narinfo {
	base := filepath.Base(p)
	f, err := os.Open(filepath.Join(b.c.Caches, cache, base[:32]+".narinfo"))
	if err != nil {
		fatalf("narinfo of %s in %s: %v", p, cache, err)
	}
	defer f.Close()
	var n narinfo
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		k, v, _ := strings.Cut(sc.Text(), ": ")
		switch k {
		case "URL":
			n.URL = v
		case "FileSize":
			n.FileSize, _ = strconv.ParseInt(v, 10, 64)
		case "NarSize":
			n.NarSize, _ = strconv.ParseInt(v, 10, 64)
		}
	}
	return n
}

func (b *bench) fileBytes(cache string, paths []string) int64 {
	var n int64
	for _, p := range paths {
		n += b.cacheInfo(cache, p).FileSize
	}
	return n
}

func (b *bench) fresh() {
	F := &b.r.Fresh
	F.ClosureNar = b.r.Cold.NarBytes
	rootsA, rootsB := deps(b.fx.PlanA), deps(b.fx.PlanB)
	for r := 1; r <= b.c.Reps; r++ {
		// 4. no change: the image is in the registry.
		items := []func(){
			func() {
				o, rp := b.freshNLA(fmt.Sprintf("fresh-nochange#%d", r), "xz", b.planA, "--image", b.mainRef)
				F.NoChange = append(F.NoChange, o)
				if rp.BytesPushed != 0 || rp.Changed {
					F.Anomalies = append(F.Anomalies, fmt.Sprintf("fresh-nochange#%d: %d bytes pushed, changed=%v", r, rp.BytesPushed, rp.Changed))
				}
			},
			func() {
				c, bl := b.freshBaseline(fmt.Sprintf("fresh-nochange-baseline#%d", r), "xz", b.planA, rootsA, "--image", b.mainRef)
				F.NoChangeBase = append(F.NoChangeBase, [2]freshOut{c, bl})
			},
		}
		for _, f := range rotate(items, r-1) {
			f()
		}
		// 5. one upper layer changed: the registry holds plan A's image,
		// the plan is B (a new app). Each run gets a repository holding
		// A (seeded by mounting A's layers from the main repository).
		seed := func(repo string) string {
			ref := b.ref(repo)
			j, _ := b.nlaBuild("seed-"+repo, b.planA, "--image", ref, "--cache-from", b.mainRef)
			b.run(j)
			return ref
		}
		items = []func(){
			func() {
				ref := seed(fmt.Sprintf("change-r%d", r))
				o, rp := b.freshNLA(fmt.Sprintf("fresh-change#%d", r), "xz", b.planB, "--image", ref)
				F.Change = append(F.Change, o)
				var rebuilt []string
				for _, l := range rp.Layers {
					if l.Status == "pushed" || l.Status == "exists" {
						rebuilt = append(rebuilt, l.Name)
					}
				}
				if len(rebuilt) != 1 || rebuilt[0] != "app" {
					F.Anomalies = append(F.Anomalies, fmt.Sprintf("fresh-change#%d: rebuilt layers %v, want [app]", r, rebuilt))
				}
			},
			func() {
				ref := seed(fmt.Sprintf("change-base-r%d", r))
				c, bl := b.freshBaseline(fmt.Sprintf("fresh-change-baseline#%d", r), "xz", b.planB, rootsB, "--image", ref)
				F.ChangeBase = append(F.ChangeBase, [2]freshOut{c, bl})
			},
		}
		for _, f := range rotate(items, r-1) {
			f()
		}
		// 6. cold: an empty repository.
		for _, cache := range []string{"xz", "zstd"} {
			items = []func(){
				func() {
					o, _ := b.freshNLA(fmt.Sprintf("fresh-cold-%s#%d", cache, r), cache, b.planA, "--image", b.ref(fmt.Sprintf("fresh-cold-%s-r%d", cache, r)))
					if cache == "xz" {
						F.Cold = append(F.Cold, o)
					} else {
						F.ColdZstd = append(F.ColdZstd, o)
					}
				},
				func() {
					c, bl := b.freshBaseline(fmt.Sprintf("fresh-cold-%s-baseline#%d", cache, r), cache, b.planA, rootsA,
						"--image", b.ref(fmt.Sprintf("fresh-cold-%s-base-r%d", cache, r)))
					if cache == "xz" {
						F.ColdBase = append(F.ColdBase, [2]freshOut{c, bl})
					} else {
						F.ColdZstdBase = append(F.ColdZstdBase, [2]freshOut{c, bl})
					}
				},
			}
			for _, f := range rotate(items, r-1) {
				f()
			}
		}
	}
}

// ---- a >= 2 GiB layer from a NAR stream -------------------------------------

func (b *bench) bigFresh() {
	root, home := b.newFresh()
	defer removeFresh(root)
	j, rep := b.nlaBuild("big-fresh", b.planBig, "--image", b.ref("big-fresh"))
	j.fresh, j.env, j.tree = root, b.freshEnv("big", home), true
	b.ngx.mark()
	s := b.run(j)
	t := summarize(b.ngx.mark())
	rp := readReport(rep)
	b.r.Big.Fresh = s
	b.r.Big.FreshTraffic = t
	b.r.Big.FileBytes = b.fileBytes("big", []string{b.fx.Big})
	b.r.Big.NarBytes = b.narSizeOf(b.fx.Big)
	for _, l := range rp.Layers {
		b.r.Big.TarBytes = max(b.r.Big.TarBytes, l.UncompressedSize)
		if l.Source != "" {
			b.r.Big.FreshSource = l.Source
		}
	}
	all, drv := storeEntries(root)
	b.r.Big.FreshRealised = all - drv
}

// ---- machine ------------------------------------------------------------------

func (b *bench) machine() {
	M := &b.r.Machine
	M.CPUs = cmdOut("nproc")
	M.Kernel = cmdOut("uname", "-r")
	M.Nix = cmdOut("nix", "--version")
	M.Registry = cmdOut("docker-registry", "--version")
	M.Skopeo = cmdOut("skopeo", "--version")
	M.Pigz = cmdOut("pigz", "--version")
	M.Go = cmdOut("go", "version")
	M.XZ = firstLine(cmdOut("xz", "--version"))
	for _, l := range readLines("/proc/cpuinfo") {
		if strings.HasPrefix(l, "model name") {
			_, M.CPUModel, _ = strings.Cut(l, ": ")
			break
		}
	}
	for _, l := range readLines("/proc/meminfo") {
		if strings.HasPrefix(l, "MemTotal:") {
			M.Mem = strings.TrimSpace(strings.TrimPrefix(l, "MemTotal:"))
		}
	}
	M.NLARev = b.c.Rev
	b.r.LoadBefore = loadavg()
}

func cmdOut(argv ...string) string {
	out, err := exec.Command(argv[0], argv[1:]...).CombinedOutput()
	if err != nil {
		return "?"
	}
	return strings.TrimSpace(string(out))
}

func firstLine(s string) string {
	l, _, _ := strings.Cut(s, "\n")
	return l
}

func loadavg() string {
	data, _ := os.ReadFile("/proc/loadavg")
	f := strings.Fields(string(data))
	if len(f) < 3 {
		return "?"
	}
	return strings.Join(f[:3], " ")
}
