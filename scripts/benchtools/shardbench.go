package main

// The sharded cold push of the seed fixture's bump (issue 20 item 4,
// bench.sh's "shards" section): N = 1 (one runner, one link) against N = 2
// and 4 parts (`build --shard I/N`), each part in its own network
// namespace with its own shaped link, all parts at once, then the final
// job (every part's digest as --cache-from) through the first link. The
// wall of a sharded build is the slowest part plus the final job.

import (
	"encoding/json"
	"fmt"
	"net"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/org/nix-layer-action/internal/testutil/netlink"
)

// shardConfig is what bench.sh hands to `benchtools shards`.
type shardConfig struct {
	NLA, Work, Out    string
	Bump              string // nix eval --json of the bump's layers
	Up, Down          int64  // every link's rates, bytes/s
	Ns                []int  // part counts (1 = unsharded)
	Reps              int
	Compression       string
	Extra             []string // more flags for every build (e.g. --layer-files=false)
	Rev, NixConfig    string
	Paths             int
	NarBytes          int64
	LoadBefore        string
	LoadAfter         string
	Started, Finished string
}

// partRun is one part (or the unsharded build, or a final job).
type partRun struct {
	Label       string  `json:"label"`
	Wall        float64 `json:"wall"`
	CPU         float64 `json:"cpu"`
	BytesPushed int64   `json:"bytesPushed"`
	Layers      int     `json:"layersPushed"`
	UpSent      int64   `json:"upSent"`   // the link's upload qdisc bytes
	DownSent    int64   `json:"downSent"` // the link's download qdisc bytes
	Digest      string  `json:"digest"`
}

// shardRun is one sharded (or unsharded) cold push.
type shardRun struct {
	N     int       `json:"n"`
	Rep   int       `json:"rep"`
	Parts []partRun `json:"parts"`
	Final *partRun  `json:"final,omitempty"`
	Wall  float64   `json:"wall"` // slowest part + final job (N = 1: the build)
}

// shardBench runs the section and writes shards.md and shards.json.
func shardBench(c *shardConfig) error {
	b := &bench{c: &config{NLA: c.NLA, Work: c.Work, Out: c.Out, Reps: c.Reps, Rev: c.Rev, NixConfig: c.NixConfig, Nginx: "http://nginx.unused"},
		commands: map[string]string{}, narSize: map[string]int64{}}
	for _, d := range []string{"tmp", "home", "reports", "registry", "logs"} {
		if err := os.MkdirAll(filepath.Join(c.Work, d), 0o755); err != nil {
			return err
		}
	}
	maxN := 1
	for _, n := range c.Ns {
		maxN = max(maxN, n)
	}
	var links []*netlink.Link
	closeAll := func() {
		for _, l := range links {
			l.Close()
		}
	}
	defer closeAll()
	atFatal = append(atFatal, closeAll)
	for i := 0; i < maxN; i++ {
		l, err := netlink.Create(netlink.Options{Up: c.Up, Down: c.Down})
		if err != nil {
			return err
		}
		links = append(links, l)
	}
	// One registry on every host-side address (0.0.0.0): each namespace
	// reaches it through its own link.
	ln, err := net.Listen("tcp", "0.0.0.0:0")
	if err != nil {
		return err
	}
	port := ln.Addr().(*net.TCPAddr).Port
	ln.Close()
	stop, err := startShardRegistry(c.Work, port, links[0].HostAddr(port))
	if err != nil {
		return err
	}
	defer stop()
	atFatal = append(atFatal, stop)
	sig := make(chan os.Signal, 1)
	signal.Notify(sig, os.Interrupt, syscall.SIGTERM)
	go func() { s := <-sig; fatalf("shards: %v", s) }()

	var bump []planLayer
	data, err := os.ReadFile(c.Bump)
	if err != nil {
		return err
	}
	if err := json.Unmarshal(data, &bump); err != nil {
		return fmt.Errorf("%s: %w", c.Bump, err)
	}
	plan := b.writePlan("shard-bump.json", bump, "")
	closure := b.closure(deps(bump))
	c.Paths = len(closure)
	for _, p := range closure {
		c.NarBytes += b.narSize[p]
	}
	c.LoadBefore = loadavg()
	c.Started = time.Now().UTC().Format(time.RFC3339)

	var mu sync.Mutex // noteCommand from the parts' goroutines
	// build runs one `nla build` through link l.
	build := func(label string, l *netlink.Link, extra ...string) partRun {
		rep := filepath.Join(c.Work, "reports", sanitize(label)+".json")
		tmp := filepath.Join(c.Work, "tmp", sanitize(label))
		if err := os.MkdirAll(tmp, 0o755); err != nil {
			fatalf("%v", err)
		}
		defer os.RemoveAll(tmp)
		argv := append([]string{c.NLA, "build", "--plan", plan, "--report", rep, "--temp-dir", tmp, "--compression", c.Compression}, append(append([]string(nil), c.Extra...), extra...)...)
		argv = l.Command(argv...)
		cmd := exec.Command(argv[0], argv[1:]...)
		cmd.Env = b.hostEnv()
		logf, err := os.Create(filepath.Join(c.Work, "logs", sanitize(label)+".log"))
		if err != nil {
			fatalf("%v", err)
		}
		defer logf.Close()
		cmd.Stdout, cmd.Stderr = logf, logf
		d0, u0, _ := l.Sent()
		start := time.Now()
		if err := cmd.Run(); err != nil {
			tail, _ := os.ReadFile(logf.Name())
			if len(tail) > 3000 {
				tail = tail[len(tail)-3000:]
			}
			fatalf("%s failed: %v\n%s", label, err, tail)
		}
		wall := time.Since(start).Seconds()
		d1, u1, _ := l.Sent()
		r := readReport(rep)
		pr := partRun{Label: label, Wall: wall, CPU: (cmd.ProcessState.UserTime() + cmd.ProcessState.SystemTime()).Seconds(),
			BytesPushed: r.BytesPushed, UpSent: u1 - u0, DownSent: d1 - d0, Digest: r.Digest}
		for _, ly := range r.Layers {
			if ly.Status == "pushed" {
				pr.Layers++
			}
		}
		show := strings.ReplaceAll(strings.Join(argv, " "), c.Work, "$WORK")
		show = strings.ReplaceAll(show, l.HostAddr(port), "$REG")
		mu.Lock()
		b.noteCommand(strings.Split(label, "#")[0], show)
		mu.Unlock()
		fmt.Fprintf(os.Stderr, "shards: %s: %.2f s, %d bytes pushed, link up %d down %d\n", label, wall, r.BytesPushed, u1-u0, d1-d0)
		return pr
	}
	var runs []shardRun
	for r := 1; r <= c.Reps; r++ {
		for _, n := range rotate(c.Ns, r-1) {
			repo := fmt.Sprintf("bench/shards-n%d-r%d", n, r)
			img := func(l *netlink.Link) string { return l.HostAddr(port) + "/" + repo }
			sr := shardRun{N: n, Rep: r}
			if n == 1 {
				p := build(fmt.Sprintf("unsharded#%d", r), links[0], "--image", img(links[0])+":latest")
				sr.Parts, sr.Wall = []partRun{p}, p.Wall
				runs = append(runs, sr)
				continue
			}
			parts := make([]partRun, n)
			var wg sync.WaitGroup
			start := time.Now()
			for i := 0; i < n; i++ {
				wg.Add(1)
				go func(i int) {
					defer wg.Done()
					parts[i] = build(fmt.Sprintf("part-%d-of-%d#%d", i+1, n, r), links[i], "--image", img(links[i])+":latest", "--shard", fmt.Sprintf("%d/%d", i+1, n))
				}(i)
			}
			wg.Wait()
			slowest := time.Since(start).Seconds()
			args := []string{"--image", img(links[0]) + ":latest"}
			for _, p := range parts {
				args = append(args, "--cache-from", img(links[0])+"@"+p.Digest)
			}
			f := build(fmt.Sprintf("final-of-%d#%d", n, r), links[0], args...)
			sr.Parts, sr.Final, sr.Wall = parts, &f, slowest+f.Wall
			runs = append(runs, sr)
		}
	}
	c.LoadAfter = loadavg()
	c.Finished = time.Now().UTC().Format(time.RFC3339)
	out, _ := json.MarshalIndent(map[string]any{"config": c, "runs": runs, "commands": b.commands}, "", "  ")
	if err := os.WriteFile(filepath.Join(c.Out, "shards.json"), out, 0o644); err != nil {
		return err
	}
	// Keep the builds' logs (bench.sh removes the scratch dir).
	if err := exec.Command("cp", "-r", filepath.Join(c.Work, "logs"), filepath.Join(c.Out, "shards-logs")).Run(); err != nil {
		return fmt.Errorf("keeping the logs: %w", err)
	}
	md := renderShards(c, runs, b.commands, b.commandOrder)
	if err := os.WriteFile(filepath.Join(c.Out, "shards.md"), []byte(md), 0o644); err != nil {
		return err
	}
	fmt.Print(md)
	return nil
}

// startShardRegistry starts docker-registry on every host address at port
// and waits until probe answers.
func startShardRegistry(work string, port int, probe string) (func(), error) {
	cfg := filepath.Join(work, "shard-registry.yml")
	conf := fmt.Sprintf(`version: 0.1
log: {level: error, accesslog: {disabled: true}}
storage:
  filesystem: {rootdirectory: %s}
  delete: {enabled: true}
  maintenance: {uploadpurging: {enabled: false}}
http: {addr: "0.0.0.0:%d", secret: nla-bench}
`, filepath.Join(work, "registry"), port)
	if err := os.WriteFile(cfg, []byte(conf), 0o644); err != nil {
		return nil, err
	}
	logf, err := os.Create(filepath.Join(work, "shard-registry.log"))
	if err != nil {
		return nil, err
	}
	cmd := exec.Command("docker-registry", "serve", cfg)
	cmd.Stdout, cmd.Stderr = logf, logf
	if err := cmd.Start(); err != nil {
		return nil, err
	}
	stop := func() { _ = cmd.Process.Kill(); _ = cmd.Wait(); logf.Close() }
	for i := 0; i < 100; i++ {
		if exec.Command("curl", "-fs", "http://"+probe+"/v2/").Run() == nil {
			return stop, nil
		}
		time.Sleep(100 * time.Millisecond)
	}
	stop()
	return nil, fmt.Errorf("docker-registry did not start on %s", probe)
}

// renderShards writes the section's Markdown.
func renderShards(c *shardConfig, runs []shardRun, commands map[string]string, order []string) string {
	var w strings.Builder
	p := func(format string, args ...any) { fmt.Fprintf(&w, format+"\n", args...) }
	p("## Sharded cold push of the seed fixture's bump (issue 20)")
	p("")
	p("Run %s → %s; nix-layer-action `%s`, `--compression %s %s`; %d repetition(s), rotating order, medians. Load average before/after: %s / %s.",
		c.Started, c.Finished, c.Rev, c.Compression, strings.Join(c.Extra, " "), c.Reps, c.LoadBefore, c.LoadAfter)
	p("")
	p("**Fixture:** the seed fixture's bump, %d store paths, %s of NAR, 12 layers, every layer new. "+
		"**Links:** one network namespace per part, each joined to the host by its own veth pair shaped by `tc tbf` at %.0f MB/s up and %.0f MB/s down; "+
		"one docker-registry on the host, reached by each namespace through its own link. N = 1 is one runner (`build`, no `--shard`) through one link; "+
		"N > 1 runs every part (`build --shard I/N`) at once, each through its own link, then the final job (`--cache-from` every part's digest) through the first link; "+
		"its wall is the slowest part's plus the final job's.", c.Paths, mb(c.NarBytes), float64(c.Up)/1e6, float64(c.Down)/1e6)
	p("")
	var unsharded []float64
	var whole string
	for _, r := range runs {
		if r.N == 1 {
			unsharded = append(unsharded, r.Wall)
			whole = r.Parts[0].Digest
		}
	}
	p("| N | wall (median) | speed-up vs N = 1 | goal ≥ 0.8 × N | slowest part | final job | parts' CPU (sum) | bytes pushed per part | final job: bytes pushed / link up / link down | final manifest = unsharded | walls |")
	p("|---|---|---|---|---|---|---|---|---|---|---|")
	for _, n := range c.Ns {
		var wl, slow, fin, cpu []float64
		var parts, finals []string
		same := "—"
		for _, r := range runs {
			if r.N != n {
				continue
			}
			wl = append(wl, r.Wall)
			s, cp := 0.0, 0.0
			var pb []string
			for _, pt := range r.Parts {
				s, cp = max(s, pt.Wall), cp+pt.CPU
				pb = append(pb, mb(pt.BytesPushed))
			}
			slow, cpu = append(slow, s), append(cpu, cp)
			parts = append(parts, strings.Join(pb, " + "))
			if r.Final != nil {
				fin = append(fin, r.Final.Wall)
				finals = append(finals, fmt.Sprintf("%d B / %d B / %d B", r.Final.BytesPushed, r.Final.UpSent, r.Final.DownSent))
				if same == "—" || same == "yes" {
					same = "no"
					if whole != "" && r.Final.Digest == whole {
						same = "yes"
					}
				}
			}
		}
		if len(wl) == 0 {
			continue
		}
		speed, goal := "—", "—"
		if len(unsharded) > 0 && n > 1 {
			sp := median(unsharded) / median(wl)
			speed, goal = x(sp), fmt.Sprintf("≥ %.1f× %s", 0.8*float64(n), yes(sp >= 0.8*float64(n)))
		}
		finS := "—"
		if len(fin) > 0 {
			finS = secs(median(fin))
		}
		p("| %d | %s | %s | %s | %s | %s | %s | %s | %s | %s | %s |", n, secs(median(wl)), speed, goal, secs(median(slow)), finS, secs(median(cpu)),
			parts[0], strings.Join(finals, "; "), same, wallList(toSamples(wl)))
	}
	p("")
	if whole != "" {
		p("Unsharded manifest digest: `%s`.", whole)
		p("")
	}
	p("Commands:")
	p("")
	for _, k := range order {
		p("- %s: `%s`", k, commands[k])
	}
	return w.String()
}
