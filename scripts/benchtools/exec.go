package main

import (
	"bufio"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"
)

// sample is one timed command.
type sample struct {
	Label    string  `json:"label"`
	Cmd      string  `json:"cmd"`
	Wall     float64 `json:"wall"` // seconds, measured here around the process
	User     float64 `json:"user"` // seconds, GNU time (the process and its children)
	Sys      float64 `json:"sys"`
	MaxRSSKB int64   `json:"maxRSSKB"` // GNU time: largest single process of the tree
	// TreePeakKB is the sampled peak of the summed RSS of every process
	// of the tree (nla plus xz, nix…); 0 when not sampled.
	TreePeakKB int64 `json:"treePeakKB,omitempty"`
	// MainPeakKB is the sampled peak RSS of the main program alone.
	MainPeakKB int64   `json:"mainPeakKB,omitempty"`
	RegCPU     float64 `json:"registryCPU,omitempty"` // registry user+sys seconds during the command
	Log        string  `json:"log"`
}

func (s sample) CPU() float64 { return s.User + s.Sys }

// job is a command to time.
type job struct {
	label string
	argv  []string
	env   []string
	fresh string // run with this directory bind-mounted on /nix (a fresh store)
	tree  bool   // sample the process tree's RSS
	show  string // how to show the command (default: argv, shortened)
}

// freshScript mounts $0 on /nix inside a private mount namespace and execs
// the command (as internal/testutil/binarycache/fresh.go does).
const freshScript = `set -e; mount --bind "$0" /nix; exec "$@"`

// run times j under /usr/bin/time -v; a failing command stops the bench
// with the tail of its log.
func (b *bench) run(j job) sample {
	b.seq++
	n := b.seq
	tf := filepath.Join(b.c.Work, "time", fmt.Sprintf("%04d.txt", n))
	lf := filepath.Join(b.c.Work, "logs", fmt.Sprintf("%04d-%s.log", n, sanitize(j.label)))
	argv := []string{"/usr/bin/time", "-v", "-o", tf}
	if j.fresh != "" {
		argv = append(argv, "unshare", "-m", "--propagation", "private", "--", "/bin/sh", "-c", freshScript, j.fresh)
	}
	argv = append(argv, j.argv...)
	cmd := exec.Command(argv[0], argv[1:]...)
	cmd.Env = j.env
	logf, err := os.Create(lf)
	if err != nil {
		fatalf("%v", err)
	}
	defer logf.Close()
	cmd.Stdout, cmd.Stderr = logf, logf
	regBefore := b.regCPU()
	start := time.Now()
	if err := cmd.Start(); err != nil {
		fatalf("%s: %v", j.label, err)
	}
	var tr *treeSampler
	if j.tree {
		tr = startTreeSampler(cmd.Process.Pid, filepath.Base(j.argv[0]))
	}
	werr := cmd.Wait()
	wall := time.Since(start).Seconds()
	s := sample{Label: j.label, Wall: wall, Log: lf, RegCPU: b.regCPU() - regBefore}
	if tr != nil {
		s.TreePeakKB, s.MainPeakKB = tr.stop()
	}
	s.Cmd = j.show
	if s.Cmd == "" {
		s.Cmd = b.display(j)
	}
	if werr != nil {
		tail, _ := os.ReadFile(lf)
		if len(tail) > 4000 {
			tail = tail[len(tail)-4000:]
		}
		fatalf("%s failed: %v\ncommand: %s\nlog %s:\n%s", j.label, werr, s.Cmd, lf, tail)
	}
	if err := parseGNUTime(tf, &s); err != nil {
		fatalf("%s: %v", j.label, err)
	}
	b.samples = append(b.samples, s)
	b.noteCommand(j.label, s.Cmd)
	return s
}

// parseGNUTime reads the -v output of GNU time.
func parseGNUTime(file string, s *sample) error {
	f, err := os.Open(file)
	if err != nil {
		return err
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	got := 0
	for sc.Scan() {
		k, v, ok := strings.Cut(strings.TrimSpace(sc.Text()), ": ")
		if !ok {
			continue
		}
		switch k {
		case "User time (seconds)":
			s.User, _ = strconv.ParseFloat(v, 64)
			got++
		case "System time (seconds)":
			s.Sys, _ = strconv.ParseFloat(v, 64)
			got++
		case "Maximum resident set size (kbytes)":
			s.MaxRSSKB, _ = strconv.ParseInt(v, 10, 64)
			got++
		}
	}
	if got != 3 {
		return fmt.Errorf("%s: not GNU time -v output", file)
	}
	return sc.Err()
}

// regCPU is the registry's user+sys CPU seconds so far.
func (b *bench) regCPU() float64 {
	if b.c.RegPID == 0 {
		return 0
	}
	data, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", b.c.RegPID))
	if err != nil {
		return 0
	}
	s := string(data)
	i := strings.LastIndexByte(s, ')')
	f := strings.Fields(s[i+1:])
	// fields after ")": state(0) ppid(1) … utime(11) stime(12)
	if len(f) < 13 {
		return 0
	}
	ut, _ := strconv.ParseFloat(f[11], 64)
	st, _ := strconv.ParseFloat(f[12], 64)
	return (ut + st) / 100 // USER_HZ
}

// treeSampler polls the summed RSS of a process and its descendants.
type treeSampler struct {
	root     int
	mainName string
	done     chan struct{}
	wg       sync.WaitGroup
	peak     int64
	mainPeak int64
}

func startTreeSampler(pid int, mainName string) *treeSampler {
	t := &treeSampler{root: pid, mainName: mainName, done: make(chan struct{})}
	if len(t.mainName) > 15 {
		t.mainName = t.mainName[:15] // comm is truncated to 15 bytes
	}
	t.wg.Add(1)
	go func() {
		defer t.wg.Done()
		tick := time.NewTicker(25 * time.Millisecond)
		defer tick.Stop()
		for {
			t.once()
			select {
			case <-t.done:
				return
			case <-tick.C:
			}
		}
	}()
	return t
}

func (t *treeSampler) stop() (int64, int64) {
	close(t.done)
	t.wg.Wait()
	return t.peak, t.mainPeak
}

func (t *treeSampler) once() {
	var sum int64
	seen := map[int]bool{}
	var walk func(pid int)
	walk = func(pid int) {
		if seen[pid] {
			return
		}
		seen[pid] = true
		rss := rssKB(pid)
		sum += rss
		if comm(pid) == t.mainName && rss > t.mainPeak {
			t.mainPeak = rss
		}
		for _, c := range children(pid) {
			walk(c)
		}
	}
	walk(t.root)
	if sum > t.peak {
		t.peak = sum
	}
}

func rssKB(pid int) int64 {
	data, err := os.ReadFile(fmt.Sprintf("/proc/%d/statm", pid))
	if err != nil {
		return 0
	}
	f := strings.Fields(string(data))
	if len(f) < 2 {
		return 0
	}
	pages, _ := strconv.ParseInt(f[1], 10, 64)
	return pages * int64(os.Getpagesize()) / 1024
}

func comm(pid int) string {
	data, _ := os.ReadFile(fmt.Sprintf("/proc/%d/comm", pid))
	return strings.TrimSpace(string(data))
}

func children(pid int) []int {
	tasks, _ := filepath.Glob(fmt.Sprintf("/proc/%d/task/*/children", pid))
	var out []int
	for _, t := range tasks {
		data, _ := os.ReadFile(t)
		for _, f := range strings.Fields(string(data)) {
			if n, err := strconv.Atoi(f); err == nil {
				out = append(out, n)
			}
		}
	}
	return out
}

// display renders a job's command for the results: the work dir as
// $WORK, store path lists shortened, the fresh-store wrapper named.
func (b *bench) display(j job) string {
	var parts []string
	if j.fresh != "" {
		parts = append(parts, "[fresh empty store: unshare -m --propagation private -- sh -c 'mount --bind $0 /nix; exec \"$@\"' $WORK/fresh/N]")
	}
	paths := 0
	flush := func() {
		if paths > 0 {
			parts = append(parts, fmt.Sprintf("<%d store paths>", paths))
			paths = 0
		}
	}
	for _, a := range j.argv {
		if strings.HasPrefix(a, "/nix/store/") || strings.HasPrefix(a, "nix/store/") {
			paths++
			continue
		}
		flush()
		if a == "" {
			parts = append(parts, "''")
			continue
		}
		quote := strings.ContainsAny(a, " |'\"$;*")
		a = strings.ReplaceAll(a, b.c.Work, "$WORK")
		a = strings.ReplaceAll(a, b.c.Reg, "$REG")
		a = strings.ReplaceAll(a, b.c.Nginx, "$NGINX")
		if quote {
			a = "'" + a + "'"
		}
		parts = append(parts, a)
	}
	flush()
	return strings.Join(parts, " ")
}

// noteCommand keeps the first command of every kind of measurement.
func (b *bench) noteCommand(label, cmd string) {
	kind := label
	if i := strings.IndexByte(kind, '#'); i >= 0 {
		kind = kind[:i]
	}
	if _, ok := b.commands[kind]; !ok {
		b.commands[kind] = cmd
		b.commandOrder = append(b.commandOrder, kind)
	}
}

func sanitize(s string) string {
	return strings.Map(func(r rune) rune {
		switch {
		case r >= 'a' && r <= 'z', r >= 'A' && r <= 'Z', r >= '0' && r <= '9', r == '-', r == '.':
			return r
		}
		return '_'
	}, s)
}

// median of xs (mean of the middle two for an even count).
func median(xs []float64) float64 {
	if len(xs) == 0 {
		return 0
	}
	s := append([]float64(nil), xs...)
	sort.Float64s(s)
	if len(s)%2 == 1 {
		return s[len(s)/2]
	}
	return (s[len(s)/2-1] + s[len(s)/2]) / 2
}

func walls(ss []sample) []float64 {
	out := make([]float64, len(ss))
	for i, s := range ss {
		out[i] = s.Wall
	}
	return out
}

func cpus(ss []sample) []float64 {
	out := make([]float64, len(ss))
	for i, s := range ss {
		out[i] = s.CPU()
	}
	return out
}

func maxRSS(ss []sample) int64 {
	var m int64
	for _, s := range ss {
		m = max(m, s.MaxRSSKB)
	}
	return m
}

// sum adds two samples of commands run one after the other (a realise
// step and a build step).
func sum(a, b sample) sample {
	return sample{Label: a.Label + "+" + b.Label, Wall: a.Wall + b.Wall, User: a.User + b.User, Sys: a.Sys + b.Sys,
		MaxRSSKB: max(a.MaxRSSKB, b.MaxRSSKB), RegCPU: a.RegCPU + b.RegCPU}
}
