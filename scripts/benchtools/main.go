// Command benchtools runs the measurements of scripts/bench.sh and writes
// bench/out/results.md (and results.json with every sample).
//
//	benchtools freeport              # prints a free 127.0.0.1 TCP port
//	benchtools run -nla BIN -work DIR ...   # see bench.sh for the flags
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
