package main

// The seed-size benchmark through a runner-like link (issue 20, bench.sh's
// "seed" section): the seed fixture's bump (every store path new, so every
// layer is rebuilt and uploaded) pushed cold from a network namespace
// whose link to the registry is shaped by tc tbf (internal/testutil/
// netlink), against the link bound (compressed bytes ÷ upload rate), in
// gzip and zstd; the same push over the host's loopback (no link: what
// the CPU alone allows); and a no-change rerun through the link.

import (
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	"github.com/org/nix-layer-action/internal/testutil/netlink"
)

// seedConfig is what bench.sh hands to `benchtools seed`.
type seedConfig struct {
	NLA, Work, Out    string
	Base, Bump        string  // nix eval --json of the fixture's layers (base, bump)
	Ups               []int64 // link upload rates to measure, bytes/s
	Down              int64   // link download rate, bytes/s
	Reps              int
	Compressions      []string
	Rev, NixConfig    string
	Paths             int
	NarBytes          int64
	Caches, Cache     string // directory nginx serves; the bump's cache in it (fresh runs)
	KeyPub            string // the cache's public key
	Sections          map[string]bool
	LayerFiles        []string // --layer-files values to compare through the link ("true", "false")
	LoadBefore        string
	LoadAfter         string
	Started, Finished string
}

// seedRun is one measured push.
type seedRun struct {
	Label        string  `json:"label"`
	Where        string  `json:"where"`        // "link" or "loopback"
	Up           int64   `json:"up,omitempty"` // the link's upload rate
	Compression  string  `json:"compression"`
	LayerFiles   string  `json:"layerFiles"` // --layer-files
	PeakTemp     int64   `json:"peakTempBytes"`
	Wall         float64 `json:"wall"`
	CPU          float64 `json:"cpu"`
	RegCPU       float64 `json:"registryCPU"`
	MaxRSSKB     int64   `json:"maxRSSKB"`
	BytesPushed  int64   `json:"bytesPushed"`
	LayerBytes   int64   `json:"layerBytes"`   // sum of the image's layer sizes
	LargestLayer int64   `json:"largestLayer"` // largest compressed layer
	UpSent       int64   `json:"upSent"`       // the link's upload qdisc bytes during the run
	DownSent     int64   `json:"downSent"`     // the link's download qdisc bytes during the run
	NARWire      int64   `json:"narWireBytes"` // fresh runs: NAR bytes fetched (the report's fetch)
	Narinfos     int64   `json:"narinfoRequests"`
	Realised     int     `json:"realised"` // fresh runs: store paths realised (must be 0)
	Changed      bool    `json:"changed"`
}

// seedBench runs the section and writes seed.md and seed.json to Out.
func seedBench(c *seedConfig) error {
	b := &bench{c: &config{NLA: c.NLA, Work: c.Work, Out: c.Out, Reps: c.Reps, Rev: c.Rev, NixConfig: c.NixConfig, Nginx: "http://nginx.unused"},
		commands: map[string]string{}, narSize: map[string]int64{}}
	for _, d := range []string{"time", "logs", "tmp", "home", "reports", "registry"} {
		if err := os.MkdirAll(filepath.Join(c.Work, d), 0o755); err != nil {
			return err
		}
	}
	l, err := netlink.Create(netlink.Options{Up: c.Ups[0], Down: c.Down})
	if err != nil {
		return err
	}
	defer l.Close()
	atFatal = append(atFatal, func() { l.Close() })
	reg, stop, err := startSeedRegistry(c.Work, l)
	if err != nil {
		return err
	}
	defer stop()
	atFatal = append(atFatal, stop)
	// Interrupted (bench.sh's trap, ^C): still remove the namespace.
	sig := make(chan os.Signal, 1)
	signal.Notify(sig, os.Interrupt, syscall.SIGTERM)
	go func() { s := <-sig; fatalf("seed: %v", s) }()
	b.c.Reg, b.c.RegPID = reg.host, reg.pid

	var fx struct{ base, bump []planLayer }
	for _, f := range []struct {
		file string
		dst  *[]planLayer
	}{{c.Base, &fx.base}, {c.Bump, &fx.bump}} {
		data, err := os.ReadFile(f.file)
		if err != nil {
			return err
		}
		if err := json.Unmarshal(data, f.dst); err != nil {
			return fmt.Errorf("%s: %w", f.file, err)
		}
	}
	bumpPlan := b.writePlan("seed-bump.json", fx.bump, "")
	closure := b.closure(deps(fx.bump))
	c.Paths = len(closure)
	for _, p := range closure {
		c.NarBytes += b.narSize[p]
	}
	c.LoadBefore = loadavg()
	c.Started = time.Now().UTC().Format(time.RFC3339)

	var runs []seedRun
	push := func(label, where, comp, files, repo string, up int64) seedRun {
		j, rep := b.nlaBuild(label, bumpPlan, "--image", reg.host+"/bench/"+repo+":latest", "--compression", comp, "--layer-files="+files)
		if where == "link" {
			j.argv = l.Command(j.argv...)
			if err := l.Shape(netlink.Options{Up: up, Down: c.Down}); err != nil {
				fatalf("%v", err)
			}
		}
		_, u0, _ := l.Sent()
		s := b.run(j)
		_, u1, _ := l.Sent()
		r := readReport(rep)
		run := seedRun{Label: label, Where: where, Up: up, Compression: comp, LayerFiles: files, PeakTemp: r.PeakTemp, Wall: s.Wall, CPU: s.CPU(), RegCPU: s.RegCPU,
			MaxRSSKB: s.MaxRSSKB, BytesPushed: r.BytesPushed, UpSent: u1 - u0, Changed: r.Changed}
		for _, ly := range r.Layers {
			run.LayerBytes += ly.Size
			run.LargestLayer = max(run.LargestLayer, ly.Size)
		}
		fmt.Fprintf(os.Stderr, "seed: %s: %.2f s, %d bytes pushed, link up %d\n", label, s.Wall, r.BytesPushed, u1-u0)
		runs = append(runs, run)
		return run
	}
	type cfg struct {
		where, comp, files string
		up                 int64
	}
	var cfgs []cfg
	for _, comp := range c.Compressions {
		for _, up := range c.Ups {
			for _, f := range c.LayerFiles {
				cfgs = append(cfgs, cfg{"link", comp, f, up})
			}
		}
		cfgs = append(cfgs, cfg{"loopback", comp, c.LayerFiles[0], 0})
	}
	if !c.Sections["push"] {
		cfgs = nil
	}
	var ngx string
	if c.Sections["fresh"] {
		var stopNginx func()
		ngx, stopNginx, err = startSeedNginx(c.Work, c.Caches, l)
		if err != nil {
			return err
		}
		defer stopNginx()
		atFatal = append(atFatal, stopNginx)
		b.c.Nginx, b.c.KeyPub = ngx, c.KeyPub
	}
	// fresh runs the bump on a fresh runner through the link at the first
	// rate: an empty store, narinfos and NARs from nginx on the link's
	// host side, the image pushed up the link.
	fresh := func(label, repo string) seedRun {
		if err := l.Shape(netlink.Options{Up: c.Ups[0], Down: c.Down}); err != nil {
			fatalf("%v", err)
		}
		root, home := b.newFresh()
		defer removeFresh(root)
		j, rep := b.nlaBuild(label, bumpPlan, "--image", reg.host+"/bench/"+repo+":latest")
		j.argv = l.Command(j.argv...)
		j.fresh, j.env = root, b.freshEnv(c.Cache, home)
		d0, u0, _ := l.Sent()
		s := b.run(j)
		d1, u1, _ := l.Sent()
		r := readReport(rep)
		all, drv := storeEntries(root)
		run := seedRun{Label: label, Where: "fresh", Up: c.Ups[0], Compression: "gzip", Wall: s.Wall, CPU: s.CPU(), RegCPU: s.RegCPU,
			MaxRSSKB: s.MaxRSSKB, BytesPushed: r.BytesPushed, UpSent: u1 - u0, DownSent: d1 - d0, Changed: r.Changed, Realised: all - drv}
		if r.Fetch != nil {
			run.NARWire, run.Narinfos = r.Fetch.NARWireBytes, r.Fetch.NarinfoRequests
		}
		fmt.Fprintf(os.Stderr, "seed: %s: %.2f s, %d NAR bytes down, %d bytes pushed\n", label, s.Wall, run.NARWire, r.BytesPushed)
		runs = append(runs, run)
		return run
	}
	for r := 1; r <= c.Reps; r++ {
		if c.Sections["fresh"] {
			repo := fmt.Sprintf("seed-fresh-r%d", r)
			fresh(fmt.Sprintf("fresh-cold#%d", r), repo)
			fresh(fmt.Sprintf("fresh-nochange#%d", r), repo)
		}
		if len(cfgs) == 0 {
			continue
		}
		for _, k := range rotate(cfgs, r-1) {
			where := k.where
			if k.where == "link" {
				where = fmt.Sprintf("link%d", k.up/1e6)
			}
			if k.files == "false" {
				where += "-stream"
			}
			repo := fmt.Sprintf("seed-%s-%s-r%d", where, k.comp, r)
			push(fmt.Sprintf("bump-%s-%s#%d", where, k.comp, r), k.where, k.comp, k.files, repo, k.up)
			if k.where == "link" && k.up == c.Ups[0] && k.files == c.LayerFiles[0] {
				// The same image again, through the link: resolve every
				// path, fetch the manifest and config, push nothing.
				push(fmt.Sprintf("rerun-%s-%s#%d", where, k.comp, r), "link", k.comp, k.files, repo, k.up)
			}
		}
	}
	c.LoadAfter = loadavg()
	c.Finished = time.Now().UTC().Format(time.RFC3339)
	data, _ := json.MarshalIndent(map[string]any{"config": c, "runs": runs, "commands": b.commands}, "", "  ")
	if err := os.WriteFile(filepath.Join(c.Out, "seed.json"), data, 0o644); err != nil {
		return err
	}
	md := renderSeed(c, runs, b.commands, b.commandOrder)
	if err := os.WriteFile(filepath.Join(c.Out, "seed.md"), []byte(md), 0o644); err != nil {
		return err
	}
	fmt.Print(md)
	return nil
}

type seedRegistry struct {
	host string
	pid  int
}

// startSeedRegistry starts docker-registry on the link's host side.
func startSeedRegistry(work string, l *netlink.Link) (*seedRegistry, func(), error) {
	ln, err := l.Listen()
	if err != nil {
		return nil, nil, err
	}
	host := ln.Addr().String()
	ln.Close()
	cfg := filepath.Join(work, "seed-registry.yml")
	conf := fmt.Sprintf(`version: 0.1
log: {level: error, accesslog: {disabled: true}}
storage:
  filesystem: {rootdirectory: %s}
  delete: {enabled: true}
  maintenance: {uploadpurging: {enabled: false}}
http: {addr: %s, secret: nla-bench}
`, filepath.Join(work, "registry"), host)
	if err := os.WriteFile(cfg, []byte(conf), 0o644); err != nil {
		return nil, nil, err
	}
	logf, err := os.Create(filepath.Join(work, "seed-registry.log"))
	if err != nil {
		return nil, nil, err
	}
	cmd := exec.Command("docker-registry", "serve", cfg)
	cmd.Stdout, cmd.Stderr = logf, logf
	if err := cmd.Start(); err != nil {
		return nil, nil, err
	}
	stop := func() { _ = cmd.Process.Kill(); _ = cmd.Wait(); logf.Close() }
	for i := 0; i < 100; i++ {
		if out, err := exec.Command("curl", "-fs", "http://"+host+"/v2/").CombinedOutput(); err == nil {
			_ = out
			return &seedRegistry{host: host, pid: cmd.Process.Pid}, stop, nil
		}
		time.Sleep(100 * time.Millisecond)
	}
	stop()
	return nil, nil, fmt.Errorf("docker-registry did not start on %s", host)
}

// startSeedNginx serves caches on the link's host side (as bench.sh's
// nginx does on loopback) and returns its URL.
func startSeedNginx(work, caches string, l *netlink.Link) (string, func(), error) {
	ln, err := l.Listen()
	if err != nil {
		return "", nil, err
	}
	host := ln.Addr().String()
	ln.Close()
	dir := filepath.Join(work, "nginx")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return "", nil, err
	}
	conf := fmt.Sprintf(`daemon off;
master_process on;
user root root;
worker_processes 1;
pid %[1]s/nginx.pid;
error_log %[1]s/error.log info;
events { worker_connections 256; }
http {
  access_log %[1]s/access.log;
  client_body_temp_path %[1]s/body;
  proxy_temp_path %[1]s/proxy;
  fastcgi_temp_path %[1]s/fastcgi;
  uwsgi_temp_path %[1]s/uwsgi;
  scgi_temp_path %[1]s/scgi;
  types { text/x-nix-narinfo narinfo; text/plain nix-cache-info; }
  default_type application/octet-stream;
  sendfile on;
  server {
    listen %[2]s;
    root %[3]s;
    location / { autoindex off; }
  }
}
`, dir, host, caches)
	if err := os.WriteFile(filepath.Join(dir, "nginx.conf"), []byte(conf), 0o644); err != nil {
		return "", nil, err
	}
	cmd := exec.Command("/usr/sbin/nginx", "-p", dir, "-e", filepath.Join(dir, "error.log"), "-c", filepath.Join(dir, "nginx.conf"))
	if err := cmd.Start(); err != nil {
		return "", nil, err
	}
	stop := func() { _ = cmd.Process.Signal(syscall.SIGTERM); _ = cmd.Wait() }
	for i := 0; i < 100; i++ {
		if exec.Command("curl", "-s", "-o", "/dev/null", "http://"+host+"/").Run() == nil { // any HTTP answer
			return "http://" + host, stop, nil
		}
		time.Sleep(100 * time.Millisecond)
	}
	stop()
	return "", nil, fmt.Errorf("nginx did not start on %s", host)
}

// renderSeed writes the section's Markdown.
func renderSeed(c *seedConfig, runs []seedRun, commands map[string]string, order []string) string {
	var w strings.Builder
	p := func(format string, args ...any) { fmt.Fprintf(&w, format+"\n", args...) }
	p("## The seed-size fixture's bump through a runner-like link (issue 20)")
	p("")
	p("Run %s → %s; nix-layer-action `%s`; %d repetitions in rotating order, medians. Load average before/after: %s / %s (the 2-core box was shared with other jobs).",
		c.Started, c.Finished, c.Rev, c.Reps, c.LoadBefore, c.LoadAfter)
	p("")
	p("**Fixture:** %d store paths, one per installed Debian package (`dpkg-query`, the files of `dpkg -L` under /usr), `Depends` as references, %s of NAR, 12 layers; "+
		"the bump is the same packages under new store paths (files identical but `nix-support/depends`), so every layer is new.", c.Paths, mb(c.NarBytes))
	p("")
	var ups []string
	for _, u := range c.Ups {
		ups = append(ups, fmt.Sprintf("%.0f", float64(u)/1e6))
	}
	p("**Link:** a network namespace joined to the host by a veth pair, each direction shaped by `tc qdisc … tbf` (10 ms bucket, 100 ms queue): %s MB/s up (namespace → registry), %.0f MB/s down. "+
		"The registry runs on the host side of the veth; `loopback` runs the same command on the host, where the link costs nothing (the CPU bound; its ratio is against the first link rate's bound).", strings.Join(ups, " or "), float64(c.Down)/1e6)
	p("")
	if c.Sections["push"] {
		p("| push of the bump (every layer new) | compression | wall (median) | CPU | registry CPU | compressed bytes pushed | link bound (bytes ÷ up rate) | wall ÷ bound | goal | peak RSS | peak temp dir (max) ÷ largest layer | walls |")
		p("|---|---|---|---|---|---|---|---|---|---|---|---|")
		type row struct {
			where, files string
			up           int64
		}
		var rows []row
		for _, u := range c.Ups {
			for _, f := range c.LayerFiles {
				rows = append(rows, row{"link", f, u})
			}
		}
		rows = append(rows, row{"loopback", c.LayerFiles[0], 0})
		for _, rw := range rows {
			for _, comp := range c.Compressions {
				var ss []seedRun
				for _, r := range runs {
					if r.Where == rw.where && r.Up == rw.up && r.LayerFiles == rw.files && r.Compression == comp && strings.HasPrefix(r.Label, "bump-") {
						ss = append(ss, r)
					}
				}
				if len(ss) == 0 {
					continue
				}
				var wl, cp, rc []float64
				var bytes []int64
				var rss, tmp, largest int64
				for _, r := range ss {
					wl, cp, rc = append(wl, r.Wall), append(cp, r.CPU), append(rc, r.RegCPU)
					bytes = append(bytes, r.BytesPushed)
					rss, tmp, largest = max(rss, r.MaxRSSKB), max(tmp, r.PeakTemp), max(largest, r.LargestLayer)
				}
				up, where := rw.up, fmt.Sprintf("link, %.0f MB/s up", float64(rw.up)/1e6)
				if rw.where == "loopback" {
					up, where = c.Ups[0], "loopback (no link)"
				}
				if rw.files == "false" {
					where += ", `--layer-files=false` (streamed)"
				}
				bound := float64(medianInt(bytes)) / float64(up)
				ratioS, goal := x(median(wl)/bound), "≤ 1.1×"
				met := yes(median(wl)/bound <= 1.1)
				if rw.where == "loopback" {
					goal, met = "—", ""
				}
				p("| %s | %s | %s | %s | %s | %s | %s | %s | %s %s | %s | %s | %s |", where, comp, secs(median(wl)), secs(median(cp)), secs(median(rc)),
					mb(medianInt(bytes)), secs(bound), ratioS, goal, met, mibKB(rss), fmt.Sprintf("%s ÷ %s = %s", mb(tmp), mb(largest), x(float64(tmp)/float64(max(largest, 1)))), wallList(toSamples(wl)))
			}
		}
		p("")
	}
	var rr []float64
	var rb []int64
	for _, r := range runs {
		if strings.HasPrefix(r.Label, "rerun-") {
			rr = append(rr, r.Wall)
			rb = append(rb, r.BytesPushed)
		}
	}
	if len(rr) > 0 {
		p("No-change rerun of the bump through the link at %.0f MB/s up (%d paths resolved, manifest and config fetched): **%s** median (%s), bytes pushed %s.", float64(c.Ups[0])/1e6, c.Paths, secs(median(rr)), wallList(toSamples(rr)), list(rb))
		p("")
	}
	var fc, fn []seedRun
	for _, r := range runs {
		if strings.HasPrefix(r.Label, "fresh-cold") {
			fc = append(fc, r)
		}
		if strings.HasPrefix(r.Label, "fresh-nochange") {
			fn = append(fn, r)
		}
	}
	if len(fc) > 0 {
		p("**Fresh runner through the link** (%.0f MB/s up, %.0f MB/s down; an empty Nix store, the bump's closure in a signed zstd binary cache served by nginx on the link's host side, gzip layers):", float64(c.Ups[0])/1e6, float64(c.Down)/1e6)
		p("")
		p("| run | wall | CPU | NAR bytes down (report) | narinfo requests | bytes pushed | link bound max(down ÷ rate, up ÷ rate) | wall ÷ bound | paths realised | peak RSS |")
		p("|---|---|---|---|---|---|---|---|---|---|")
		for _, r := range append(fc, fn...) {
			bound := max(float64(r.NARWire)/float64(c.Down), float64(r.BytesPushed)/float64(c.Ups[0]))
			rat := "—"
			if bound > 0 {
				rat = x(r.Wall / bound)
			}
			p("| %s | %s | %s | %s | %d | %s | %s | %s | %d | %s |", r.Label, secs(r.Wall), secs(r.CPU), mb(r.NARWire), r.Narinfos, mb(r.BytesPushed), secs(bound), rat, r.Realised, mibKB(r.MaxRSSKB))
		}
		p("")
	}
	p("Largest compressed layer / total per run:")
	p("")
	for _, r := range runs {
		if strings.HasPrefix(r.Label, "bump-") {
			p("- %s: %s largest, %s layers, %s pushed, link up qdisc %s, peak temp-dir bytes %s", r.Label, mb(r.LargestLayer), mb(r.LayerBytes), mb(r.BytesPushed), mb(r.UpSent), mb(r.PeakTemp))
		}
	}
	p("")
	p("Commands:")
	p("")
	for _, k := range order {
		p("- %s: `%s`", k, commands[k])
	}
	return w.String()
}

func toSamples(ws []float64) []sample {
	var ss []sample
	for _, w := range ws {
		ss = append(ss, sample{Wall: w})
	}
	return ss
}
