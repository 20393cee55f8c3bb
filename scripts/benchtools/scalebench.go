package main

// No-change reruns against path count (issue 20 item 4, bench.sh's
// "scale" section): subsets of the seed fixture's bump of about K store
// paths (the first packages in the fixture's order, with their closure)
// are pushed once from the host; then a fresh runner (empty store,
// narinfos from nginx through a shaped link, registry through the same
// link) reruns each with no change, and a warm runner (the paths in the
// local store, the registry on a host address: loopback traffic) reruns
// the full fixture ten times.

import (
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"sort"
	"strings"
	"syscall"
	"time"

	"github.com/org/nix-layer-action/internal/testutil/netlink"
)

// scaleConfig is what bench.sh hands to `benchtools scale`.
type scaleConfig struct {
	NLA, Work, Out    string
	Bump              string
	Up, Down          int64
	Sizes             []int // target path counts; 0 = the whole fixture
	Reps, WarmReps    int
	Rev, NixConfig    string
	Caches, Cache     string
	KeyPub            string
	LoadBefore        string
	LoadAfter         string
	Started, Finished string
}

// scaleRun is one measured rerun.
type scaleRun struct {
	Label    string  `json:"label"`
	Kind     string  `json:"kind"` // "fresh" or "warm"
	Paths    int     `json:"paths"`
	Wall     float64 `json:"wall"`
	CPU      float64 `json:"cpu"`
	MaxRSSKB int64   `json:"maxRSSKB"`
	Narinfos int64   `json:"narinfoRequests"`
	Pushed   int64   `json:"bytesPushed"`
	UpSent   int64   `json:"upSent"`
	DownSent int64   `json:"downSent"`
	Changed  bool    `json:"changed"`
	Realised int     `json:"realised"`
}

// pathGraph is the bump's closure: references of every path.
type pathGraph map[string][]string

// closureOf returns the closure of roots in g.
func (g pathGraph) closureOf(roots []string) map[string]bool {
	seen := map[string]bool{}
	stack := append([]string(nil), roots...)
	for len(stack) > 0 {
		p := stack[len(stack)-1]
		stack = stack[:len(stack)-1]
		if seen[p] {
			continue
		}
		seen[p] = true
		stack = append(stack, g[p]...)
	}
	return seen
}

// subsetPlan keeps the first packages of layers (plan order) whose
// closure holds the largest count ≤ k paths; layers left empty are
// dropped. It returns the layers and the closure's size.
func subsetPlan(layers []planLayer, g pathGraph, k int) ([]planLayer, int) {
	var order []string
	for _, l := range layers {
		order = append(order, l.Deps...)
	}
	n := sort.Search(len(order)+1, func(i int) bool { return len(g.closureOf(order[:i])) > k }) - 1
	n = max(n, 1)
	keep := map[string]bool{}
	for _, p := range order[:n] {
		keep[p] = true
	}
	var out []planLayer
	for _, l := range layers {
		c := l
		c.Deps = nil
		for _, d := range l.Deps {
			if keep[d] {
				c.Deps = append(c.Deps, d)
			}
		}
		if len(c.Deps) > 0 {
			out = append(out, c)
		}
	}
	return out, len(g.closureOf(order[:n]))
}

// scaleBench runs the section and writes scale.md and scale.json.
func scaleBench(c *scaleConfig) error {
	b := &bench{c: &config{NLA: c.NLA, Work: c.Work, Out: c.Out, Reps: c.Reps, Rev: c.Rev, NixConfig: c.NixConfig, KeyPub: c.KeyPub},
		commands: map[string]string{}, narSize: map[string]int64{}}
	for _, d := range []string{"time", "logs", "tmp", "home", "reports", "registry"} {
		if err := os.MkdirAll(filepath.Join(c.Work, d), 0o755); err != nil {
			return err
		}
	}
	l, err := netlink.Create(netlink.Options{Up: c.Up, Down: c.Down})
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
	ngx, stopNginx, err := startSeedNginx(c.Work, c.Caches, l)
	if err != nil {
		return err
	}
	defer stopNginx()
	atFatal = append(atFatal, stopNginx)
	sig := make(chan os.Signal, 1)
	signal.Notify(sig, os.Interrupt, syscall.SIGTERM)
	go func() { s := <-sig; fatalf("scale: %v", s) }()
	b.c.Reg, b.c.RegPID, b.c.Nginx = reg.host, reg.pid, ngx

	var bump []planLayer
	data, err := os.ReadFile(c.Bump)
	if err != nil {
		return err
	}
	if err := json.Unmarshal(data, &bump); err != nil {
		return fmt.Errorf("%s: %w", c.Bump, err)
	}
	cmd := exec.Command("nix", append([]string{"path-info", "--json", "-r"}, deps(bump)...)...)
	cmd.Env = b.hostEnv()
	out, err := cmd.Output()
	if err != nil {
		return fmt.Errorf("nix path-info: %w", err)
	}
	var infos []struct {
		Path       string   `json:"path"`
		References []string `json:"references"`
	}
	if err := json.Unmarshal(out, &infos); err != nil {
		return err
	}
	g := pathGraph{}
	for _, in := range infos {
		g[in.Path] = in.References
	}
	c.LoadBefore = loadavg()
	c.Started = time.Now().UTC().Format(time.RFC3339)

	var runs []scaleRun
	type subset struct {
		plan, repo string
		paths      int
	}
	var subsets []subset
	for _, k := range c.Sizes {
		layers, n := bump, len(g)
		if k > 0 {
			layers, n = subsetPlan(bump, g, k)
		}
		s := subset{plan: b.writePlan(fmt.Sprintf("scale-%d.json", n), layers, ""), repo: fmt.Sprintf("scale-%d", n), paths: n}
		// Pushed once from the host (the host store has every path).
		j, _ := b.nlaBuild(fmt.Sprintf("scale-push-%d", n), s.plan, "--image", b.ref(s.repo))
		sm := b.run(j)
		fmt.Fprintf(os.Stderr, "scale: pushed %d paths in %.1f s\n", n, sm.Wall)
		subsets = append(subsets, s)
	}
	for r := 1; r <= c.Reps; r++ {
		for _, s := range rotate(subsets, r-1) {
			root, home := b.newFresh()
			label := fmt.Sprintf("fresh-nochange-%d#%d", s.paths, r)
			j, rep := b.nlaBuild(label, s.plan, "--image", b.ref(s.repo))
			j.argv = l.Command(j.argv...)
			j.fresh, j.env = root, b.freshEnv(c.Cache, home)
			d0, u0, _ := l.Sent()
			sm := b.run(j)
			d1, u1, _ := l.Sent()
			rp := readReport(rep)
			all, drv := storeEntries(root)
			removeFresh(root)
			run := scaleRun{Label: label, Kind: "fresh", Paths: s.paths, Wall: sm.Wall, CPU: sm.CPU(), MaxRSSKB: sm.MaxRSSKB, Pushed: rp.BytesPushed,
				UpSent: u1 - u0, DownSent: d1 - d0, Changed: rp.Changed, Realised: all - drv}
			if rp.Fetch != nil {
				run.Narinfos = rp.Fetch.NarinfoRequests
			}
			fmt.Fprintf(os.Stderr, "scale: %s: %.2f s, %d narinfos, changed %v\n", label, sm.Wall, run.Narinfos, rp.Changed)
			runs = append(runs, run)
		}
	}
	full := subsets[len(subsets)-1]
	for r := 1; r <= c.WarmReps; r++ {
		label := fmt.Sprintf("warm-nochange-%d#%d", full.paths, r)
		j, rep := b.nlaBuild(label, full.plan, "--image", b.ref(full.repo))
		sm := b.run(j)
		rp := readReport(rep)
		runs = append(runs, scaleRun{Label: label, Kind: "warm", Paths: full.paths, Wall: sm.Wall, CPU: sm.CPU(), MaxRSSKB: sm.MaxRSSKB, Pushed: rp.BytesPushed, Changed: rp.Changed})
		fmt.Fprintf(os.Stderr, "scale: %s: %.3f s\n", label, sm.Wall)
	}
	c.LoadAfter = loadavg()
	c.Finished = time.Now().UTC().Format(time.RFC3339)
	js, _ := json.MarshalIndent(map[string]any{"config": c, "runs": runs, "commands": b.commands}, "", "  ")
	if err := os.WriteFile(filepath.Join(c.Out, "scale.json"), js, 0o644); err != nil {
		return err
	}
	md := renderScale(c, subsets[len(subsets)-1].paths, runs, b.commands, b.commandOrder)
	if err := os.WriteFile(filepath.Join(c.Out, "scale.md"), []byte(md), 0o644); err != nil {
		return err
	}
	fmt.Print(md)
	return nil
}

// renderScale writes the section's Markdown.
func renderScale(c *scaleConfig, fullPaths int, runs []scaleRun, commands map[string]string, order []string) string {
	var w strings.Builder
	p := func(format string, args ...any) { fmt.Fprintf(&w, format+"\n", args...) }
	p("## No-change reruns against path count: fresh and warm runners (issue 20)")
	p("")
	p("Run %s → %s; nix-layer-action `%s`. Load average before/after: %s / %s.", c.Started, c.Finished, c.Rev, c.LoadBefore, c.LoadAfter)
	p("")
	p("Subsets of the seed fixture's bump: the first packages in the fixture's layer order whose closure holds at most K paths, in the same layers (empty ones dropped), each pushed once from the host. "+
		"**Fresh runner:** an empty Nix store (a private mount namespace), a private HOME (no narinfo disk cache), the closure's narinfos from a signed zstd binary cache on nginx, "+
		"registry and nginx both on the host side of a veth link shaped by `tc tbf` (%.0f MB/s up, %.0f MB/s down, no added latency: the link's RTT is the veth's, well under 1 ms). "+
		"**Warm runner:** every path in the local store, the registry on a host address (loopback traffic).", float64(c.Up)/1e6, float64(c.Down)/1e6)
	p("")
	p("| run | paths | wall (median) | per 100 paths | CPU | narinfo requests | bytes pushed | link down / up | paths realised | changed | peak RSS | walls |")
	p("|---|---|---|---|---|---|---|---|---|---|---|---|")
	done := map[string]bool{}
	for _, r0 := range runs {
		k := fmt.Sprintf("%s-%d", r0.Kind, r0.Paths)
		if done[k] {
			continue
		}
		done[k] = true
		var wl, cp []float64
		var rss, pushed, nar, down, up int64
		realised, changed := 0, false
		for _, r := range runs {
			if r.Kind != r0.Kind || r.Paths != r0.Paths {
				continue
			}
			wl, cp = append(wl, r.Wall), append(cp, r.CPU)
			rss, pushed, nar = max(rss, r.MaxRSSKB), max(pushed, r.Pushed), max(nar, r.Narinfos)
			down, up = max(down, r.DownSent), max(up, r.UpSent)
			realised, changed = max(realised, r.Realised), changed || r.Changed
		}
		link := "— (no link)"
		if r0.Kind == "fresh" {
			link = fmt.Sprintf("%.1f kB / %.1f kB", float64(down)/1e3, float64(up)/1e3)
		}
		p("| %s no-change rerun | %d | %s | %s | %s | %d | %d B | %s | %d | %v | %s | %s |", r0.Kind, r0.Paths, secs(median(wl)), secs(median(wl)*100/float64(r0.Paths)), secs(median(cp)),
			nar, pushed, link, realised, changed, mibKB(rss), wallList(toSamples(wl)))
	}
	p("")
	p("Commands:")
	p("")
	for _, k := range order {
		p("- %s: `%s`", k, commands[k])
	}
	return w.String()
}
