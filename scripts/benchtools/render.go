package main

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
)

type results struct {
	Started, Finished     string
	LoadBefore, LoadAfter string
	Machine               machineInfo
	Cold                  coldRes
	Rerun                 rerunRes
	Big                   bigRes
	Fresh                 freshRes
	FetchChecks           []fetchCheck
	Commands              map[string]string
	CommandOrder          []string
	Samples               []sample
}

type machineInfo struct {
	CPUs, CPUModel, Mem, Kernel         string
	Nix, Registry, Skopeo, Pigz, Go, XZ string
	NLARev                              string
}

type coldRes struct {
	Paths, Layers                                          int
	TarBytes, TarBytesNLA, ImageBytes, PigzBytes, NarBytes int64
	ByCfg                                                  map[string][]sample
	OCI, Skopeo, Pigz                                      []sample
	Requests                                               map[string]map[string]int
	Anomalies                                              []string
}

type rerunRes struct {
	Ref                      string
	NLA, PathInfoR, PathInfo []sample
	Logged                   sample
	Requests                 []string
	Raw                      []req
	RequestCounts            []int
	BytesPushed              int64
	NixCalls                 []nixCall
	Anomalies                []string
}

type bigRes struct {
	Local, Fresh                              sample
	FreshTraffic                              traffic
	FileBytes, NarBytes, TarBytes, LayerBytes int64
	FreshSource                               string
	FreshRealised                             int
}

type freshRes struct {
	ClosureFileXZ, ClosureFileZstd, ClosureNar, AppFileXZ, AppNar int64
	NoChange, Change, Cold, ColdZstd                              []freshOut
	NoChangeBase, ChangeBase, ColdBase, ColdZstdBase              [][2]freshOut
	Anomalies                                                     []string
}

// ---- formatting ------------------------------------------------------------

func secs(x float64) string {
	if x < 1 {
		return fmt.Sprintf("%.3f s", x)
	}
	return fmt.Sprintf("%.2f s", x)
}
func mb(n int64) string     { return fmt.Sprintf("%.1f MB", float64(n)/1e6) }
func mibKB(kb int64) string { return fmt.Sprintf("%.1f MiB", float64(kb)/1024) }
func ratio(a, b float64) float64 {
	if b == 0 {
		return 0
	}
	return a / b
}
func x(r float64) string { return fmt.Sprintf("%.2f×", r) }
func yes(ok bool) string {
	if ok {
		return "**yes**"
	}
	return "**NO**"
}

// wc is "median wall (CPU median)" of samples.
func wc(ss []sample) string {
	if len(ss) == 0 {
		return "—"
	}
	return fmt.Sprintf("%s (CPU %s)", secs(median(walls(ss))), secs(median(cpus(ss))))
}

// summed turns [copy, build] pairs into summed samples.
func summed(ps [][2]freshOut) []sample {
	var out []sample
	for _, p := range ps {
		out = append(out, sum(p[0].Sample, p[1].Sample))
	}
	return out
}

func samplesOf(fs []freshOut) []sample {
	var out []sample
	for _, f := range fs {
		out = append(out, f.Sample)
	}
	return out
}

func medianInt(xs []int64) int64 {
	f := make([]float64, len(xs))
	for i, v := range xs {
		f[i] = float64(v)
	}
	return int64(median(f))
}

func narBytes(fs []freshOut) []int64 {
	var out []int64
	for _, f := range fs {
		out = append(out, f.Traffic.NARBytes)
	}
	return out
}

func maxOf(xs []int64) int64 {
	var m int64
	for _, v := range xs {
		m = max(m, v)
	}
	return m
}

func list(xs []int64) string {
	var s []string
	for _, v := range xs {
		s = append(s, fmt.Sprint(v))
	}
	return strings.Join(s, ", ")
}

// ---- results.md --------------------------------------------------------------

// printer writes one line of results.md.
type printer func(format string, args ...any)

func (b *bench) write() error {
	if err := os.MkdirAll(b.c.Out, 0o755); err != nil {
		return err
	}
	data, _ := json.MarshalIndent(b.r, "", "  ")
	if err := os.WriteFile(filepath.Join(b.c.Out, "results.json"), data, 0o644); err != nil {
		return err
	}
	var w strings.Builder
	p := func(format string, args ...any) { fmt.Fprintf(&w, format+"\n", args...) }
	b.renderHeader(p)
	b.renderPushRerunMemory(p)
	b.renderFreshRunners(p)
	b.renderFetchChecks(p)
	b.renderColdDetails(p)
	b.renderRerunDetails(p)
	b.renderFreshDetails(p)
	b.renderTail(p)
	return os.WriteFile(filepath.Join(b.c.Out, "results.md"), []byte(w.String()), 0o644)
}

// renderHeader writes the title, the machine and the fixture.
func (b *bench) renderHeader(p printer) {
	R := &b.r
	M := R.Machine
	C := R.Cold
	p("# nix-layer-action benchmark (`./scripts/bench.sh`)")
	p("")
	p("Run %s → %s; nix-layer-action `%s`. Every compared figure comes from the same run: the compared commands run", R.Started, R.Finished, M.NLARev)
	p("side by side in each of %d repetitions, in rotating order; figures are medians, ratios are ratios of medians.", b.c.Reps)
	p("Wall time is measured around the process; CPU is user+sys of the process and its children (GNU time), so it")
	p("includes xz and nix subprocesses but not the registry or nginx. Peak RSS is GNU time's maximum resident set")
	p("(the largest single process); where sampled, the summed RSS of the whole process tree is given too.")
	p("")
	p("**Machine:** %s CPUs (%s), %s RAM, Linux %s; %s; %s; skopeo %s; %s; %s; %s. Load average before/after: %s / %s (other jobs share the box).",
		M.CPUs, M.CPUModel, M.Mem, M.Kernel, M.Nix, M.Registry, strings.TrimPrefix(M.Skopeo, "skopeo version "), M.Pigz, M.XZ, M.Go, R.LoadBefore, R.LoadAfter)
	p("")
	p("**Fixture:** %d store paths built by real Nix from host files (glibc, gcc libs, gconv, zlib/xz/zstd/bzip2, openssl, gnutls, ICU, perl + modules, Python 3.11 + pip/setuptools/pygments/cryptography, Go tools and sources, x265/aom/svt-av1/dav1d, sanitizers, 8 tool packages, an app); "+
		"NAR %s, GNU tar %s, nix-layer-action's %d layers %s of tar → %s gzip (`pigz -6`: %s). Caches: xz (Nix's default, level 6, parallel-compression) %s, zstd %s for the closure.",
		C.Paths, mb(C.NarBytes), mb(C.TarBytes), C.Layers, mb(C.TarBytesNLA), mb(C.ImageBytes), mb(C.PigzBytes), mb(R.Fresh.ClosureFileXZ), mb(R.Fresh.ClosureFileZstd))
	p("")

}

// renderPushRerunMemory writes the table of the cold push (build and
// upload overlapped), the no-change rerun's requests and peak memory.
func (b *bench) renderPushRerunMemory(p printer) {
	R := &b.r
	M := R.Machine
	C := R.Cold
	def := C.ByCfg[defaultCfg.key()]
	Rr := R.Rerun
	B := R.Big
	p("## Cold push, no-change rerun, memory (issue 14)")
	p("")
	p("| # | measurement | nix-layer-action | baseline | ratio | target | met |")
	p("|---|---|---|---|---|---|---|")
	if len(def) > 0 {
		cw, cc := median(walls(def)), median(cpus(def))
		aw, ac := median(walls(C.OCI)), median(cpus(C.OCI))
		bw, bc := median(walls(C.Skopeo)), median(cpus(C.Skopeo))
		mx := max(aw, bw)
		half := "(a) build alone"
		if bw > aw {
			half = "(b) skopeo copy"
		}
		p("| 1 | cold build+push, empty repo, defaults (`--jobs 2 --upload-jobs 4`), wall | %s | slower half = %s: %s [(a) `--output oci:` %s, (b) skopeo copy %s] | %s | ≤ 1.05× | %s |",
			secs(cw), half, secs(mx), secs(aw), secs(bw), x(ratio(cw, mx)), yes(ratio(cw, mx) <= 1.05))
		p("| 1 | … CPU (user+sys) | %s | (a)+(b): %s [(a) %s, (b) %s] | %s | — (info) | — |", secs(cc), secs(ac+bc), secs(ac), secs(bc), x(ratio(cc, ac+bc)))
		var rc []float64
		for _, s := range def {
			rc = append(rc, s.RegCPU)
		}
		ncpu, _ := strconv.ParseFloat(M.CPUs, 64)
		floor := (cc + median(rc)) / max(ncpu, 1)
		p("| 1 | … vs the CPU floor on this box: (nla CPU + the loopback registry's CPU %s) / %s cores | %s | floor %s | %s | — (info) | — |",
			secs(median(rc)), M.CPUs, secs(cw), secs(floor), x(ratio(cw, floor)))
		pw, pc := median(walls(C.Pigz)), median(cpus(C.Pigz))
		p("| 1 | cold build+push vs `tar -C / -cf - <paths> \\| pigz -6 >/dev/null` (MB/s of GNU tar bytes) | %.0f MB/s (%s) | %.0f MB/s (%s) | %s faster | ≥ 1.5× | %s |",
			float64(C.TarBytes)/1e6/cw, secs(cw), float64(C.TarBytes)/1e6/pw, secs(pw), x(ratio(pw, cw)), yes(ratio(pw, cw) >= 1.5))
		p("| 1 | … CPU | %s | %s | %s | — (info) | — |", secs(cc), secs(pc), x(ratio(cc, pc)))
		best, bestW := b.bestCfg()
		p("| 1 | best `--jobs`/`--upload-jobs` (below) | `%s`: %s | default: %s | %s | — | — |", best.String(), secs(bestW), secs(cw), x(ratio(bestW, cw)))
	}
	if len(Rr.NLA) > 0 {
		rw := median(walls(Rr.NLA))
		pw := median(walls(Rr.PathInfoR))
		p("| 2 | no-change rerun, wall (%d runs) | %s (CPU %s) | `nix path-info --json -r` alone: %s (CPU %s) | %s; overhead %s | ≤ 0.15 s | %s |",
			len(Rr.NLA), secs(rw), secs(median(cpus(Rr.NLA))), secs(pw), secs(median(cpus(Rr.PathInfoR))), x(ratio(rw, pw)), secs(rw-pw), yes(rw <= 0.15))
		ok, nonPing, pings := rerunRequestsOK(Rr)
		p("| 2 | no-change rerun, registry requests (access log) | %d (+%d `/v2/` ping): %s | manifest GET + config GET + tag HEAD = 3 | — | exactly those 3, none per layer | %s |",
			nonPing, pings, strings.Join(shortReqs(Rr.Raw), ", "), yes(ok))
		p("| 2 | no-change rerun, bytes pushed | %d | — | — | 0 | %s |", Rr.BytesPushed, yes(Rr.BytesPushed == 0))
	}
	if len(def) > 0 {
		var all []sample
		for k, ss := range C.ByCfg {
			if cfgOf(k).MemLimit == "" {
				all = append(all, ss...)
			}
		}
		p("| 3 | peak RSS, cold 12-layer build+push (max of %d default runs; max of all %d configs' runs) | %s; %s | (a) build alone %s; skopeo %s | — | ≤ 64 MiB | %s |",
			len(def), len(all), mibKB(maxRSS(def)), mibKB(maxRSS(all)), mibKB(maxRSS(C.OCI)), mibKB(maxRSS(C.Skopeo)), yes(maxRSS(all) <= 64*1024))
	}
	if B.Local.Label != "" {
		p("| 3 | peak RSS, one %.2f GiB layer (tar) built+pushed from the local store, %s (%.0f MB/s) | %s (tree sum %s) | — | — | ≤ 64 MiB | %s |",
			float64(B.TarBytes)/(1<<30), secs(B.Local.Wall), float64(B.TarBytes)/1e6/B.Local.Wall, mibKB(B.Local.MaxRSSKB), mibKB(B.Local.TreePeakKB), yes(B.Local.MaxRSSKB <= 64*1024))
	}
	p("")

}

// renderFreshRunners writes the table of builds on fresh runners (an
// empty store, the closure read from a binary cache).
func (b *bench) renderFreshRunners(p printer) {
	R := &b.r
	F := R.Fresh
	B := R.Big
	if len(F.NoChange) > 0 {
		p("## Fresh runners (issue 10): every run from an empty store, cache on nginx")
		p("")
		p("Baseline (\"realise then build\") = `nix copy --from $NGINX/<cache> <plan deps>` into the empty store, then `nla build` from the realised store, both times summed.")
		p("NAR bytes are nginx's `$body_bytes_sent` of `/nar/` requests during the run (compressed, as sent).")
		p("")
		p("| # | measurement | nix-layer-action (fresh store) | baseline | ratio | target | met |")
		p("|---|---|---|---|---|---|---|")
		nc := narBytes(F.NoChange)
		p("| 4 | no change: NAR bytes downloaded | %s (max %d) | realise: %s | — | 0 | %s |", list(nc), maxOf(nc), mb(medianInt(narBytes(pairFirst(F.NoChangeBase)))), yes(maxOf(nc) == 0))
		p("| 4 | no change: narinfo requests / bytes | %d / %d B | realise: %d / %d B | — | — (info) | — |",
			F.NoChange[0].Traffic.NarinfoRequests, F.NoChange[0].Traffic.NarinfoBytes, F.NoChangeBase[0][0].Traffic.NarinfoRequests, F.NoChangeBase[0][0].Traffic.NarinfoBytes)
		nw, bw := median(walls(samplesOf(F.NoChange))), median(walls(summed(F.NoChangeBase)))
		p("| 4 | no change: wall | %s | %s [copy %s + build %s] | %s (CPU %s) | ≤ 0.3× | %s |",
			wc(samplesOf(F.NoChange)), wc(summed(F.NoChangeBase)), secs(median(walls(pairSamples(F.NoChangeBase, 0)))), secs(median(walls(pairSamples(F.NoChangeBase, 1)))),
			x(ratio(nw, bw)), cpuRatio(samplesOf(F.NoChange), summed(F.NoChangeBase)), yes(ratio(nw, bw) <= 0.3))
		ch := narBytes(F.Change)
		p("| 5 | one upper layer changed (app 1.0 → 1.1): NAR bytes | %s | the app's NAR file in the cache: %d | %s | ≤ 1.02× | %s |",
			list(ch), F.AppFileXZ, x(ratio(float64(maxOf(ch)), float64(F.AppFileXZ))), yes(float64(maxOf(ch)) <= 1.02*float64(F.AppFileXZ)))
		cw, cbw := median(walls(samplesOf(F.Change))), median(walls(summed(F.ChangeBase)))
		p("| 5 | one upper layer changed: wall | %s | %s | %s (CPU %s) | — (info) | — |", wc(samplesOf(F.Change)), wc(summed(F.ChangeBase)), x(ratio(cw, cbw)), cpuRatio(samplesOf(F.Change), summed(F.ChangeBase)))
		co := narBytes(F.Cold)
		p("| 6 | cold (empty registry): NAR bytes | %s | the closure's NAR files: %d | %s | ≤ 1.0× | %s |",
			list(co), F.ClosureFileXZ, x(ratio(float64(maxOf(co)), float64(F.ClosureFileXZ))), yes(maxOf(co) <= F.ClosureFileXZ))
		fw, fbw := median(walls(samplesOf(F.Cold))), median(walls(summed(F.ColdBase)))
		p("| 6 | cold: wall | %s | %s [copy %s + build %s] | %s (CPU %s) | ≤ 0.8× | %s |",
			wc(samplesOf(F.Cold)), wc(summed(F.ColdBase)), secs(median(walls(pairSamples(F.ColdBase, 0)))), secs(median(walls(pairSamples(F.ColdBase, 1)))),
			x(ratio(fw, fbw)), cpuRatio(samplesOf(F.Cold), summed(F.ColdBase)), yes(ratio(fw, fbw) <= 0.8))
		p("| 6 | cold: peak RSS (max; xz / zstd cache) | %s / %s | build from the realised store: %s | — | — (info; 14.3's 64 MiB is for the local store) | — |",
			mibKB(maxRSS(samplesOf(F.Cold))), mibKB(maxRSS(samplesOf(F.ColdZstd))), mibKB(maxRSS(pairSamples(F.ColdBase, 1))))
		if len(F.ColdZstd) > 0 {
			zo := narBytes(F.ColdZstd)
			p("| 6 | cold, zstd cache: NAR bytes | %s | the closure's NAR files: %d | %s | ≤ 1.0× | %s |",
				list(zo), F.ClosureFileZstd, x(ratio(float64(maxOf(zo)), float64(F.ClosureFileZstd))), yes(maxOf(zo) <= F.ClosureFileZstd))
			zw, zbw := median(walls(samplesOf(F.ColdZstd))), median(walls(summed(F.ColdZstdBase)))
			p("| 6 | cold, zstd cache: wall | %s | %s | %s (CPU %s) | ≤ 0.8× | %s |", wc(samplesOf(F.ColdZstd)), wc(summed(F.ColdZstdBase)), x(ratio(zw, zbw)), cpuRatio(samplesOf(F.ColdZstd), summed(F.ColdZstdBase)), yes(ratio(zw, zbw) <= 0.8))
		}
	}
	if B.Fresh.Label != "" {
		if len(F.NoChange) == 0 {
			p("## Fresh runners (issue 10)")
			p("")
			p("| # | measurement | nix-layer-action (fresh store) | baseline | ratio | target | met |")
			p("|---|---|---|---|---|---|---|")
		}
		p("| 7 | peak RSS, one %.2f GiB layer built from a NAR stream (xz level 1 cache, %s NAR file), %s | %s (tree sum with xz: %s) | — | — | ≤ 150 MB (143 MiB) | %s |",
			float64(B.TarBytes)/(1<<30), mb(B.FileBytes), wc([]sample{B.Fresh}), mibKB(B.Fresh.MaxRSSKB), mibKB(B.Fresh.TreePeakKB), yes(B.Fresh.MaxRSSKB*1024 <= 150e6))
		p("| 7 | … NAR bytes downloaded / layer source / paths realised | %d (file %d) / %s / %d | — | %s | ≤ 1.0× | %s |",
			B.FreshTraffic.NARBytes, B.FileBytes, B.FreshSource, B.FreshRealised, x(ratio(float64(B.FreshTraffic.NARBytes), float64(B.FileBytes))), yes(B.FreshTraffic.NARBytes <= B.FileBytes && B.FreshRealised == 0))
	}
	p("")

}

// renderFetchChecks writes the report's fetch figures against nginx's log.
func (b *bench) renderFetchChecks(p printer) {
	R := &b.r
	if len(R.FetchChecks) > 0 {
		p("### Report `fetch` vs nginx access log")
		p("")
		p("| run | report: narinfo req / bytes / NAR req / NAR wire bytes | nginx: same | agree | report narBytes (decompressed) / closureNarBytes |")
		p("|---|---|---|---|---|")
		for _, f := range R.FetchChecks {
			p("| %s | %d / %d / %d / %d | %d / %d / %d / %d | %s | %d / %d |", f.Label,
				f.Report[0], f.Report[1], f.Report[2], f.Report[3], f.Nginx[0], f.Nginx[1], f.Nginx[2], f.Nginx[3], yes(f.OK), f.NARBytes, f.ClosureNARBytes)
		}
		p("")
	}

}

// renderColdDetails writes the --jobs × --upload-jobs matrix and the cold push's requests.
func (b *bench) renderColdDetails(p printer) {
	C := b.r.Cold
	def := C.ByCfg[defaultCfg.key()]
	if len(C.ByCfg) > 0 {
		p("### Cold push: `--jobs` × `--upload-jobs` (same run, rotating order)")
		p("")
		p("| flags | wall median | CPU median | peak RSS (max) | registry CPU median | walls |")
		p("|---|---|---|---|---|---|")
		var keys []string
		for k := range C.ByCfg {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		for _, k := range keys {
			ss := C.ByCfg[k]
			var rc []float64
			for _, s := range ss {
				rc = append(rc, s.RegCPU)
			}
			p("| `%s`%s | %s | %s | %s | %s | %s |", cfgOf(k).String(), map[bool]string{true: " (default)"}[k == defaultCfg.key()],
				secs(median(walls(ss))), secs(median(cpus(ss))), mibKB(maxRSS(ss)), secs(median(rc)), wallList(ss))
		}
		var rc []float64
		for _, s := range C.Skopeo {
			rc = append(rc, s.RegCPU)
		}
		var per []string
		for i := range def {
			if i < len(C.OCI) && i < len(C.Skopeo) {
				per = append(per, fmt.Sprintf("%.2f", def[i].Wall/max(C.OCI[i].Wall, C.Skopeo[i].Wall)))
			}
		}
		p("| (a) `--output oci:DIR` | %s | %s | %s | — | %s |", secs(median(walls(C.OCI))), secs(median(cpus(C.OCI))), mibKB(maxRSS(C.OCI)), wallList(C.OCI))
		p("| (b) skopeo copy oci:→docker:// | %s | %s | %s | %s | %s |", secs(median(walls(C.Skopeo))), secs(median(cpus(C.Skopeo))), mibKB(maxRSS(C.Skopeo)), secs(median(rc)), wallList(C.Skopeo))
		p("| tar \\| pigz -6 | %s | %s | %s | — | %s |", secs(median(walls(C.Pigz))), secs(median(cpus(C.Pigz))), mibKB(maxRSS(C.Pigz)), wallList(C.Pigz))
		p("")
		p("Per repetition, default cold push / max((a), (b)) of the same repetition: %s.", strings.Join(per, ", "))
		p("")
		p("Registry requests of one cold push (first repetition):")
		p("")
		var rk []string
		for k := range C.Requests {
			rk = append(rk, k)
		}
		sort.Strings(rk)
		for _, k := range rk {
			p("- %s: %s", k, kinds(C.Requests[k]))
		}
		p("")
	}
}

// renderRerunDetails writes the no-change rerun's requests and Nix calls.
func (b *bench) renderRerunDetails(p printer) {
	Rr := b.r.Rerun
	if len(Rr.NLA) > 0 {
		p("### No-change rerun")
		p("")
		p("Requests of the first rerun of `%s`, from the registry's access log:", Rr.Ref)
		p("")
		for _, r := range Rr.Requests {
			p("- `%s`", r)
		}
		p("")
		p("Requests per rerun: %v. `nix path-info --json` (validity only) alone: %s; `nix path-info --json -r`: %s.", Rr.RequestCounts, wc(Rr.PathInfo), wc(Rr.PathInfoR))
		p("")
		total := 0
		for _, c := range Rr.NixCalls {
			total += c.Ms
		}
		p("Nix commands one rerun runs (through a logging `--nix` wrapper; that run took %s): %d calls, %d ms in total:", secs(Rr.Logged.Wall), len(Rr.NixCalls), total)
		p("")
		for _, c := range Rr.NixCalls {
			p("- %d ms: `%s`", c.Ms, c.Cmd)
		}
		p("")
	}
}

// renderFreshDetails writes every fresh run.
func (b *bench) renderFreshDetails(p printer) {
	F := b.r.Fresh
	if len(F.NoChange) > 0 {
		p("### Fresh runs, per repetition")
		p("")
		p("| run | wall | CPU | peak RSS | narinfo req / bytes | NAR req (distinct) / bytes | paths realised |")
		p("|---|---|---|---|---|---|---|")
		row := func(f freshOut) {
			t := f.Traffic
			p("| %s | %s | %s | %s | %d / %d | %d (%d) / %d | %d |", f.Sample.Label, secs(f.Sample.Wall), secs(f.Sample.CPU()), mibKB(f.Sample.MaxRSSKB),
				t.NarinfoRequests, t.NarinfoBytes, t.NARRequests, t.DistinctNARs, t.NARBytes, f.Realised)
		}
		for _, set := range [][]freshOut{F.NoChange, pairFirst(F.NoChangeBase), pairSecond(F.NoChangeBase), F.Change, pairFirst(F.ChangeBase), pairSecond(F.ChangeBase),
			F.Cold, pairFirst(F.ColdBase), pairSecond(F.ColdBase), F.ColdZstd, pairFirst(F.ColdZstdBase), pairSecond(F.ColdZstdBase)} {
			for _, f := range set {
				row(f)
			}
		}
		p("")
	}
}

// renderTail writes the anomalies and the commands.
func (b *bench) renderTail(p printer) {
	R := &b.r
	C, Rr, F := R.Cold, R.Rerun, R.Fresh
	var anomalies []string
	anomalies = append(anomalies, C.Anomalies...)
	anomalies = append(anomalies, Rr.Anomalies...)
	anomalies = append(anomalies, F.Anomalies...)
	for _, f := range R.FetchChecks {
		if !f.OK {
			anomalies = append(anomalies, fmt.Sprintf("%s: report fetch %v ≠ nginx %v", f.Label, f.Report, f.Nginx))
		}
	}
	p("### Anomalies seen by the script")
	p("")
	if len(anomalies) == 0 {
		p("None.")
	}
	for _, a := range anomalies {
		p("- %s", a)
	}
	p("")
	p("### Commands")
	p("")
	p("`$REG` is the docker-registry on 127.0.0.1, `$NGINX` the nginx serving the caches, `$WORK` the scratch dir; every command ran as `/usr/bin/time -v <command>`.")
	p("")
	for _, k := range R.CommandOrder {
		p("- %s: `%s`", k, strings.ReplaceAll(R.Commands[k], "`", "'"))
	}
	p("")
	p("Every sample is in `results.json`; every command's output in `$WORK/logs` while the script runs.")
}

func cpuRatio(a, b []sample) string { return x(ratio(median(cpus(a)), median(cpus(b)))) }

func pairFirst(ps [][2]freshOut) []freshOut {
	var out []freshOut
	for _, p := range ps {
		out = append(out, p[0])
	}
	return out
}

func pairSecond(ps [][2]freshOut) []freshOut {
	var out []freshOut
	for _, p := range ps {
		out = append(out, p[1])
	}
	return out
}

func pairSamples(ps [][2]freshOut, i int) []sample {
	var out []sample
	for _, p := range ps {
		out = append(out, p[i].Sample)
	}
	return out
}

func wallList(ss []sample) string {
	var s []string
	for _, v := range ss {
		s = append(s, fmt.Sprintf("%.2f", v.Wall))
	}
	return strings.Join(s, ", ")
}

func kinds(m map[string]int) string {
	var ks []string
	total := 0
	for k, v := range m {
		ks = append(ks, fmt.Sprintf("%s ×%d", k, v))
		total += v
	}
	sort.Strings(ks)
	return fmt.Sprintf("%d requests: %s", total, strings.Join(ks, ", "))
}

func cfgOf(k string) pushCfg {
	var c pushCfg
	fmt.Sscanf(k, "j%du%d", &c.Jobs, &c.Uploads)
	if _, lim, ok := strings.Cut(k, "-gomemlimit"); ok {
		c.MemLimit = lim
	}
	return c
}

// bestCfg is the flag set with the lowest median wall.
func (b *bench) bestCfg() (pushCfg, float64) {
	best, bw := defaultCfg, 0.0
	for k, ss := range b.r.Cold.ByCfg {
		if cfgOf(k).MemLimit != "" {
			continue
		}
		w := median(walls(ss))
		if bw == 0 || w < bw {
			best, bw = cfgOf(k), w
		}
	}
	return best, bw
}

// rerunRequestsOK: besides /v2/ pings, exactly GET manifest, GET config
// blob and HEAD manifest.
func rerunRequestsOK(r rerunRes) (ok bool, nonPing, pings int) {
	want := map[string]int{"GET manifests/<ref>": 1, "GET blobs/<digest>": 1, "HEAD manifests/<ref>": 1}
	got := map[string]int{}
	for _, q := range r.Raw {
		if pathKind(q.Path) == "/v2/" {
			pings++
			continue
		}
		nonPing++
		got[q.Method+" "+pathKind(q.Path)]++
	}
	ok = len(got) == len(want)
	for k, v := range want {
		ok = ok && got[k] == v
	}
	configOK := false
	for _, s := range r.Requests {
		if strings.Contains(s, "<config>") && strings.HasPrefix(s, "GET") {
			configOK = true
		}
	}
	return ok && configOK, nonPing, pings
}

func shortReqs(rs []req) []string {
	var out []string
	for _, r := range rs {
		if pathKind(r.Path) == "/v2/" {
			continue
		}
		out = append(out, r.Method+" "+pathKind(r.Path))
	}
	return out
}
