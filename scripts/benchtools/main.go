// Command benchtools runs the measurements of scripts/bench.sh and writes
// bench/out/results.md (and results.json with every sample).
//
//	benchtools freeport              # prints a free 127.0.0.1 TCP port
//	benchtools run -nla BIN -work DIR ...   # see bench.sh for the flags
//	benchtools seedfixture -out FILE.nix    # the seed-size fixture (seed.go)
//	benchtools seed -nla BIN -base B.json -bump B2.json ...  # its bump through a shaped link (seedbench.go)
//
// bench.sh builds the fixture closure with real Nix, writes the binary
// caches, starts docker-registry and nginx and then calls "run"; run
// does the rest: every compared command is run side by side in the same
// repetition, in rotating order, under GNU time (wall, user+sys CPU, peak
// RSS), and the registry's and nginx's access logs are read between
// marker requests to attribute every request to one command.
package main

import (
	"flag"
	"fmt"
	"log"
	"net"
	"os"
	"strconv"
	"strings"
)

func main() {
	log.SetFlags(0)
	log.SetPrefix("benchtools: ")
	if len(os.Args) < 2 {
		log.Fatal("usage: benchtools freeport | run [flags]")
	}
	switch os.Args[1] {
	case "freeport":
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			log.Fatal(err)
		}
		fmt.Println(l.Addr().(*net.TCPAddr).Port)
		l.Close()
	case "seedfixture":
		o := seedOptions{InfoDir: "/var/lib/dpkg/info"}
		fs := flag.NewFlagSet("seedfixture", flag.ExitOnError)
		out := fs.String("out", "", "Nix file to write")
		budget := fs.Float64("gb", 1.5, "stop adding packages once their files reach this many GB")
		maxPkg := fs.Float64("max-package-mb", 150, "leave out packages larger than this many MB (and what depends on them)")
		fs.IntVar(&o.Layers, "layers", 12, "number of plan layers")
		fs.Parse(os.Args[2:])
		if *out == "" {
			log.Fatal("seedfixture: -out is required")
		}
		o.Budget, o.MaxPackage = int64(*budget*1e9), int64(*maxPkg*1e6)
		if err := seedFixture(*out, o); err != nil {
			log.Fatal(err)
		}
	case "seed":
		var c seedConfig
		fs := flag.NewFlagSet("seed", flag.ExitOnError)
		fs.StringVar(&c.NLA, "nla", "", "nix-layer-action binary")
		fs.StringVar(&c.Work, "work", "", "scratch directory (removed by bench.sh)")
		fs.StringVar(&c.Out, "out", "", "results directory (seed.md, seed.json)")
		fs.StringVar(&c.Base, "base", "", "nix eval --json of the seed fixture's layers")
		fs.StringVar(&c.Bump, "bump", "", "the same for its bump")
		ups := fs.String("up-mbs", "40", "link upload rates to measure, MB/s, comma-separated")
		down := fs.Float64("down-mbs", 100, "link download rate, MB/s")
		comps := fs.String("compressions", "gzip,zstd", "compressions to compare")
		fs.IntVar(&c.Reps, "reps", 3, "repetitions")
		fs.StringVar(&c.Rev, "rev", "", "git revision of the binary")
		fs.StringVar(&c.Caches, "caches", "", "directory nginx serves (fresh runs)")
		fs.StringVar(&c.Cache, "cache", "", "the bump's binary cache under -caches (fresh runs)")
		fs.StringVar(&c.KeyPub, "key", "", "the cache's public key (fresh runs)")
		sections := fs.String("sections", "push,fresh", "push (the bump pushed cold, link vs loopback), fresh (a fresh runner through the link)")
		files := fs.String("layer-files", "true", "--layer-files values to compare through the link: true, false or true,false")
		fs.Parse(os.Args[2:])
		c.LayerFiles = strings.Split(*files, ",")
		c.Sections = map[string]bool{}
		for _, s := range strings.Split(*sections, ",") {
			c.Sections[s] = true
		}
		if c.Sections["fresh"] && (c.Caches == "" || c.Cache == "" || c.KeyPub == "") {
			log.Fatal("seed: fresh runs need -caches, -cache and -key")
		}
		if c.NLA == "" || c.Work == "" || c.Out == "" || c.Base == "" || c.Bump == "" {
			log.Fatal("seed: -nla, -work, -out, -base and -bump are required")
		}
		for _, u := range strings.Split(*ups, ",") {
			v, err := strconv.ParseFloat(u, 64)
			if err != nil || v <= 0 {
				log.Fatalf("seed: -up-mbs %q: want positive numbers", *ups)
			}
			c.Ups = append(c.Ups, int64(v*1e6))
		}
		c.Down = int64(*down * 1e6)
		c.Compressions = strings.Split(*comps, ",")
		c.NixConfig = os.Getenv("NIX_CONFIG")
		if err := seedBench(&c); err != nil {
			log.Fatal(err)
		}
	case "shards":
		var c shardConfig
		fs := flag.NewFlagSet("shards", flag.ExitOnError)
		fs.StringVar(&c.NLA, "nla", "", "nix-layer-action binary")
		fs.StringVar(&c.Work, "work", "", "scratch directory (removed by bench.sh)")
		fs.StringVar(&c.Out, "out", "", "results directory (shards.md, shards.json)")
		fs.StringVar(&c.Bump, "bump", "", "nix eval --json of the seed fixture's bump layers")
		up := fs.Float64("up-mbs", 10, "every link's upload rate, MB/s")
		down := fs.Float64("down-mbs", 100, "every link's download rate, MB/s")
		ns := fs.String("n", "1,2,4", "part counts to measure (1: unsharded)")
		fs.StringVar(&c.Compression, "compression", "gzip", "--compression")
		extra := fs.String("flags", "", "more flags for every build, space-separated (e.g. --layer-files=false)")
		fs.IntVar(&c.Reps, "reps", 1, "repetitions")
		fs.StringVar(&c.Rev, "rev", "", "git revision of the binary")
		fs.Parse(os.Args[2:])
		if c.NLA == "" || c.Work == "" || c.Out == "" || c.Bump == "" {
			log.Fatal("shards: -nla, -work, -out and -bump are required")
		}
		for _, v := range strings.Split(*ns, ",") {
			n, err := strconv.Atoi(v)
			if err != nil || n < 1 {
				log.Fatalf("shards: -n %q: want positive integers", *ns)
			}
			c.Ns = append(c.Ns, n)
		}
		c.Up, c.Down = int64(*up*1e6), int64(*down*1e6)
		c.Extra = strings.Fields(*extra)
		c.NixConfig = os.Getenv("NIX_CONFIG")
		if err := shardBench(&c); err != nil {
			log.Fatal(err)
		}
	case "scale":
		var c scaleConfig
		fs := flag.NewFlagSet("scale", flag.ExitOnError)
		fs.StringVar(&c.NLA, "nla", "", "nix-layer-action binary")
		fs.StringVar(&c.Work, "work", "", "scratch directory (removed by bench.sh)")
		fs.StringVar(&c.Out, "out", "", "results directory (scale.md, scale.json)")
		fs.StringVar(&c.Bump, "bump", "", "nix eval --json of the seed fixture's bump layers")
		up := fs.Float64("up-mbs", 40, "the link's upload rate, MB/s")
		down := fs.Float64("down-mbs", 100, "the link's download rate, MB/s")
		sizes := fs.String("paths", "100,300,0", "subset sizes in store paths (0: the whole fixture, last)")
		fs.IntVar(&c.Reps, "reps", 3, "fresh-runner repetitions")
		fs.IntVar(&c.WarmReps, "warm-reps", 10, "warm-runner repetitions")
		fs.StringVar(&c.Rev, "rev", "", "git revision of the binary")
		fs.StringVar(&c.Caches, "caches", "", "directory nginx serves")
		fs.StringVar(&c.Cache, "cache", "", "the bump's binary cache under -caches")
		fs.StringVar(&c.KeyPub, "key", "", "the cache's public key")
		fs.Parse(os.Args[2:])
		if c.NLA == "" || c.Work == "" || c.Out == "" || c.Bump == "" || c.Caches == "" || c.Cache == "" || c.KeyPub == "" {
			log.Fatal("scale: -nla, -work, -out, -bump, -caches, -cache and -key are required")
		}
		for _, v := range strings.Split(*sizes, ",") {
			n, err := strconv.Atoi(v)
			if err != nil || n < 0 {
				log.Fatalf("scale: -paths %q: want non-negative integers", *sizes)
			}
			c.Sizes = append(c.Sizes, n)
		}
		c.Up, c.Down = int64(*up*1e6), int64(*down*1e6)
		c.NixConfig = os.Getenv("NIX_CONFIG")
		if err := scaleBench(&c); err != nil {
			log.Fatal(err)
		}
	case "run":
		var c config
		fs := flag.NewFlagSet("run", flag.ExitOnError)
		fs.StringVar(&c.NLA, "nla", "", "nix-layer-action binary")
		fs.StringVar(&c.Work, "work", "", "scratch directory (removed by bench.sh)")
		fs.StringVar(&c.Out, "out", "", "results directory")
		fs.StringVar(&c.Fixture, "fixture", "", "fixture JSON (nix eval of the fixture's plans)")
		fs.StringVar(&c.Reg, "registry", "", "registry host:port")
		fs.StringVar(&c.RegLog, "registry-log", "", "registry access log (its stdout)")
		fs.IntVar(&c.RegPID, "registry-pid", 0, "registry pid (for its CPU time)")
		fs.StringVar(&c.Nginx, "nginx", "", "nginx base URL serving the caches")
		fs.StringVar(&c.NginxLog, "nginx-log", "", "nginx access log")
		fs.StringVar(&c.Caches, "caches", "", "directory nginx serves: caches in xz/, zstd/, big/")
		fs.StringVar(&c.KeyPub, "key", "", "public key of the caches")
		fs.IntVar(&c.Reps, "reps", 3, "repetitions of every compared measurement")
		fs.StringVar(&c.Rev, "rev", "", "git revision of the binary, for the results")
		fs.StringVar(&c.Only, "only", "", "comma-separated sections to run (cold,rerun,rss,fresh,bigfresh); default all")
		fs.Parse(os.Args[2:])
		if c.NLA == "" || c.Work == "" || c.Out == "" || c.Fixture == "" || c.Reg == "" || c.Nginx == "" {
			log.Fatal("run: -nla, -work, -out, -fixture, -registry and -nginx are required")
		}
		c.NixConfig = os.Getenv("NIX_CONFIG")
		if err := runAll(&c); err != nil {
			log.Fatal(err)
		}
	default:
		log.Fatalf("unknown command %q", os.Args[1])
	}
}

// config is what bench.sh hands over.
type config struct {
	NLA, Work, Out, Fixture string
	Reg, RegLog             string
	RegPID                  int
	Nginx, NginxLog         string
	Caches, KeyPub          string
	Reps                    int
	Only, Rev               string
	NixConfig               string // the offline NIX_CONFIG of scripts/nix-env.sh
}
