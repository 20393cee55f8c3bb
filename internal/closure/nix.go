package closure

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/nix-community/go-nix/pkg/derivation"
)

// Nix runs the nix command line. It is the process boundary of this package:
// the child's environment is the current process environment (os.Environ)
// followed by Env, so entries in Env (e.g. NIX_CONFIG) win. Nothing else in
// this package reads the environment.
type Nix struct {
	Bin    string    // default "nix"
	Dir    string    // working directory (the plan dir); "" = current
	Store  string    // optional --store (e.g. a chroot store root)
	Env    []string  // extra environment entries ("K=V"), supplied by the caller
	Stderr io.Writer // receives nix progress/log output; may be nil
	// System, when set, is the Nix system installables are evaluated and
	// built for ("aarch64-linux"): ".#foo" then means
	// packages.<System>.foo.
	System string

	versionOnce sync.Once
	version     [2]int // major, minor; 0.0 when unknown
}

// NixError is returned when a nix invocation fails. Deps names the
// installables/paths that failed, Args the nix arguments of the failing
// call, Stderr the meaningful "error:" lines Nix printed.
type NixError struct {
	Deps   []string
	Args   []string
	Stderr string
	Err    error
	// Hint says what to do, when the failure is a known one (see
	// AddGitHint); printed on a line of its own.
	Hint string
}

func (e *NixError) Error() string {
	sub := "nix"
	if len(e.Args) > 0 {
		sub = "nix " + e.Args[0]
	}
	var b strings.Builder
	b.WriteString(sub)
	b.WriteString(" failed")
	if len(e.Deps) > 0 {
		b.WriteString(" for ")
		b.WriteString(strings.Join(e.Deps, ", "))
	}
	var inv *InvalidPathError
	if errors.As(e.Err, &inv) {
		b.WriteString(": ")
		b.WriteString(inv.Error())
	}
	switch {
	case e.Stderr != "":
		b.WriteString(": ")
		b.WriteString(e.Stderr)
	case e.Err != nil && inv == nil:
		b.WriteString(": ")
		b.WriteString(e.Err.Error())
	}
	if e.Hint != "" {
		b.WriteString("\nhint: ")
		b.WriteString(e.Hint)
	}
	return b.String()
}

func (e *NixError) Unwrap() error { return e.Err }

// buildResult is one element of `nix build --json` output.
type buildResult struct {
	DrvPath string            `json:"drvPath"`
	Outputs map[string]string `json:"outputs"`
	Path    string            `json:"path"` // opaque store path installables
}

// UnmarshalJSON also reads an opaque store path installable's result as
// Nix ≥ 2.19 prints it: a bare string, not {"path": …}.
func (b *buildResult) UnmarshalJSON(data []byte) error {
	var path string
	if json.Unmarshal(data, &path) == nil {
		*b = buildResult{Path: path}
		return nil
	}
	type plain buildResult
	return json.Unmarshal(data, (*plain)(b))
}

// Version is Nix's version, asked once ("nix --version"); 0.0 when it
// cannot be told.
func (n *Nix) Version(ctx context.Context) (major, minor int) {
	n.versionOnce.Do(func() {
		out, _, err := n.run(ctx, []string{"--version"})
		if err == nil {
			n.version = parseVersion(string(out))
		}
	})
	return n.version[0], n.version[1]
}

var versionRE = regexp.MustCompile(`(\d+)\.(\d+)`)

// parseVersion reads "nix (Nix) 2.34.8".
func parseVersion(s string) [2]int {
	m := versionRE.FindStringSubmatch(s)
	if m == nil {
		return [2]int{}
	}
	major, _ := strconv.Atoi(m[1])
	minor, _ := strconv.Atoi(m[2])
	return [2]int{major, minor}
}

// jsonFormat is what path-info needs besides --json: Nix ≥ 2.33 warns
// without --json-format (and will require it); older Nix rejects it.
func (n *Nix) jsonFormat(ctx context.Context) []string {
	if major, minor := n.Version(ctx); major > 2 || major == 2 && minor >= 33 {
		return []string{"--json-format", "2"}
	}
	return nil
}

func (n *Nix) bin() string {
	if n.Bin == "" {
		return "nix"
	}
	return n.Bin
}

func (n *Nix) args(sub string, extra ...string) []string {
	a := []string{sub, "--extra-experimental-features", "nix-command flakes"}
	if n.Store != "" {
		a = append(a, "--store", n.Store)
	}
	if n.System != "" && (sub == "build" || sub == "eval") {
		a = append(a, "--option", "system", n.System)
	}
	return append(a, extra...)
}

// interruptGrace is how long a cancelled Nix has to stop its builds and
// clean up before it is killed: less than the 7.5 s GitHub Actions waits
// between the SIGINT and the SIGTERM of a cancelled job.
const interruptGrace = 5 * time.Second

// run executes nix; it returns stdout, the full stderr and the exit error.
// When ctx is cancelled Nix is asked to stop (see interruptible) and the
// error is ctx's.
func (n *Nix) run(ctx context.Context, args []string) ([]byte, string, error) {
	cmd := exec.CommandContext(ctx, n.bin(), args...)
	interruptible(cmd)
	cmd.Dir = n.Dir
	cmd.Env = append(os.Environ(), n.Env...)
	var stdout, stderr bytes.Buffer
	cmd.Stdout = &stdout
	cmd.Stderr = &stderr
	if n.Stderr != nil {
		live := &progressOnly{w: n.Stderr}
		defer live.flush()
		cmd.Stderr = io.MultiWriter(&stderr, live)
	}
	err := cmd.Run()
	if errors.Is(err, exec.ErrWaitDelay) && cmd.ProcessState != nil && cmd.ProcessState.Success() {
		// Nix exited cleanly, but something it started still holds its
		// output open: what Nix wrote is read, so this is success.
		err = nil
	}
	if ctx.Err() != nil {
		killGroup(cmd)
		err = ctx.Err()
	}
	return stdout.Bytes(), stderr.String(), err
}

// Build realises installables with ONE `nix build --no-link --json` call and
// returns installable → output paths (sorted by output name).
//
// Nix 2.8 prints build results in the order its build goals finish, not in
// argument order, so when two or more flake installables were built their
// results are attributed with one extra `nix build --dry-run --json` call
// (evaluation only, nothing left to build), whose results are in argument
// order, matched by drvPath.
//
// On failure it returns a *NixError with Nix's error lines, naming the
// failing installable(s) from that one run's output (see buildFailure).
func (n *Nix) Build(ctx context.Context, installables []string) (map[string][]string, error) {
	inst := uniqueKeepOrder(installables)
	if len(inst) == 0 {
		return map[string][]string{}, nil
	}
	args := n.args("build", append([]string{"--no-link", "--json"}, inst...)...)
	stdout, stderr, err := n.run(ctx, args)
	if err != nil {
		return nil, n.buildFailure(ctx, inst, args, stderr, err)
	}
	var results []buildResult
	if err := json.Unmarshal(stdout, &results); err != nil {
		return nil, &NixError{Deps: inst, Args: args, Err: fmt.Errorf("parsing nix build --json output: %w", err)}
	}
	return n.attribute(ctx, inst, results)
}

// attribute maps build results back to installables.
func (n *Nix) attribute(ctx context.Context, inst []string, results []buildResult) (map[string][]string, error) {
	out := make(map[string][]string, len(inst))
	byDrv := make(map[string]buildResult)
	var built []buildResult
	for _, r := range results {
		if r.DrvPath != "" {
			byDrv[r.DrvPath] = r
			built = append(built, r)
		}
	}
	var rest []string
	used := make(map[string]bool)
	for _, i := range inst {
		if p, ok := matchOpaque(i, results); ok {
			out[i] = []string{p}
			continue
		}
		if r, ok := byDrv[strings.TrimSuffix(strings.TrimSuffix(i, "^*"), "^out")]; ok {
			out[i] = outputPaths(r)
			used[r.DrvPath] = true
			continue
		}
		rest = append(rest, i)
	}
	switch {
	case len(rest) == 0:
		return out, nil
	case len(rest) == 1 && len(built) > 0:
		var paths []string
		for _, r := range built {
			if !used[r.DrvPath] {
				paths = append(paths, outputPaths(r)...)
			}
		}
		out[rest[0]] = uniqueKeepOrder(paths)
		return out, nil
	case len(built) == 0:
		return nil, &NixError{Deps: rest, Err: errors.New("nix build --json reported no outputs for these installables")}
	}
	args := n.args("build", append([]string{"--dry-run", "--no-link", "--json"}, rest...)...)
	stdout, stderr, err := n.run(ctx, args)
	if err != nil {
		return nil, &NixError{Deps: rest, Args: args, Stderr: TrimNixStderr(stderr), Err: err}
	}
	var dry []buildResult
	if err := json.Unmarshal(stdout, &dry); err != nil {
		return nil, &NixError{Deps: rest, Args: args, Err: fmt.Errorf("parsing nix build --dry-run --json output: %w", err)}
	}
	if len(dry) != len(rest) {
		return nil, &NixError{Deps: rest, Args: args, Err: fmt.Errorf("nix build --dry-run --json returned %d results for %d installables; cannot attribute outputs", len(dry), len(rest))}
	}
	for k, i := range rest {
		r, ok := byDrv[dry[k].DrvPath]
		if !ok {
			return nil, &NixError{Deps: []string{i}, Args: args, Err: fmt.Errorf("derivation %q of %s is not among the build results", dry[k].DrvPath, i)}
		}
		out[i] = outputPaths(r)
	}
	return out, nil
}

func matchOpaque(inst string, results []buildResult) (string, bool) {
	for _, r := range results {
		if r.Path != "" && (inst == r.Path || strings.HasPrefix(inst, r.Path+"/")) {
			return r.Path, true
		}
	}
	return "", false
}

func outputPaths(r buildResult) []string {
	names := make([]string, 0, len(r.Outputs))
	for k := range r.Outputs {
		names = append(names, k)
	}
	sort.Strings(names)
	paths := make([]string, 0, len(names))
	for _, k := range names {
		paths = append(paths, r.Outputs[k])
	}
	return paths
}

// buildFailure builds the *NixError for a failed build from that one
// run's output: Nix names what failed — an attribute an installable
// evaluates ("does not provide attribute 'x'"), a store path it cannot
// find, or the derivations whose builds failed (mapped back to
// installables with one evaluation-only `nix build --dry-run --json`).
// Nothing is built again. A single failing store-path dep that Nix cannot
// find gets an *InvalidPathError as Err.
func (n *Nix) buildFailure(ctx context.Context, inst, args []string, stderr string, runErr error) error {
	msg := TrimNixStderr(stderr)
	ne := &NixError{Deps: inst, Args: args, Stderr: msg, Err: runErr}
	if len(inst) > 1 && ctx.Err() == nil {
		if failed := n.failedDeps(ctx, inst, stderr); len(failed) > 0 {
			ne.Deps = failed
		}
	}
	if len(ne.Deps) == 1 && strings.HasPrefix(ne.Deps[0], "/") && !strings.Contains(ne.Deps[0], "#") &&
		(strings.Contains(msg, "no substituter") || strings.Contains(msg, "is not valid") || strings.Contains(msg, "don't know how to build")) {
		ne.Err = &InvalidPathError{Path: ne.Deps[0]}
	}
	return ne
}

// failedDeps attributes a failed build to the installables Nix's stderr
// names, directly or through the derivations that failed.
func (n *Nix) failedDeps(ctx context.Context, inst []string, stderr string) []string {
	var failed []string
	for _, i := range inst {
		if namedInStderr(i, stderr) {
			failed = append(failed, i)
		}
	}
	if len(failed) > 0 {
		return failed
	}
	drvs := failedDrvs(stderr)
	if len(drvs) == 0 {
		return nil
	}
	var flakes []string
	for _, i := range inst {
		if strings.Contains(i, "#") {
			flakes = append(flakes, i)
		}
	}
	args := n.args("build", append([]string{"--dry-run", "--no-link", "--json"}, flakes...)...)
	stdout, _, err := n.run(ctx, args)
	var dry []buildResult
	if err != nil || json.Unmarshal(stdout, &dry) != nil || len(dry) != len(flakes) {
		return nil
	}
	for k, r := range dry {
		if drvs[r.DrvPath] {
			failed = append(failed, flakes[k])
		}
	}
	return failed
}

// namedInStderr reports whether Nix's message quotes installable i: its
// attribute ('attr' or '….attr') or, for a store path, the path itself.
func namedInStderr(i, stderr string) bool {
	ref, attr, ok := strings.Cut(i, "#")
	if !ok {
		return strings.Contains(stderr, "'"+strings.TrimSuffix(ref, "/")+"'") || strings.Contains(stderr, " "+ref+"\n")
	}
	return strings.Contains(stderr, "'"+attr+"'") || strings.Contains(stderr, "."+attr+"'")
}

// failedDrvRE matches how Nix names a failed derivation: "builder for '…'
// failed" and "dependencies of derivation '…' failed" (Nix 2.8–2.2x),
// "build of '…' failed", and "Cannot build '…'." (Nix ≥ 2.30).
var failedDrvRE = regexp.MustCompile(`(?:builder for|dependencies of derivation|build of|Cannot build) '(/[^']+\.drv)'`)

// failedDrvs collects the derivations Nix reports as failed.
func failedDrvs(stderr string) map[string]bool {
	out := map[string]bool{}
	for _, m := range failedDrvRE.FindAllStringSubmatch(stderr, -1) {
		out[m[1]] = true
	}
	return out
}

// PathInfo queries the closures of paths with ONE
// `nix path-info --json --recursive` call and returns them as a Graph.
// An invalid (absent) store path yields a *NixError naming it.
func (n *Nix) PathInfo(ctx context.Context, paths []string) (*Graph, error) {
	ps := uniqueKeepOrder(paths)
	if len(ps) == 0 {
		return NewGraph(nil)
	}
	flags := append([]string{"--json", "--recursive"}, n.jsonFormat(ctx)...)
	args := n.args("path-info", append(flags, ps...)...)
	stdout, stderr, err := n.run(ctx, args)
	if err != nil {
		msg := TrimNixStderr(stderr)
		return nil, &NixError{Deps: namedIn(msg, ps), Args: args, Stderr: msg, Err: err}
	}
	infos, err := ParsePathInfo(stdout)
	if err != nil {
		var inv *InvalidPathError
		if errors.As(err, &inv) {
			return nil, &NixError{Deps: []string{inv.Path}, Args: args, Err: err}
		}
		return nil, &NixError{Deps: ps, Args: args, Err: err}
	}
	g, err := NewGraph(infos)
	if err != nil {
		return nil, &NixError{Deps: ps, Args: args, Err: err}
	}
	return g, nil
}

// Eval runs one nix evaluation with args (after the program name, e.g.
// plan.NixPlan.EvalArgs) and returns its stdout. No --store applies: the
// plan is evaluated, not read from a chroot store.
func (n *Nix) Eval(ctx context.Context, args []string) ([]byte, error) {
	if len(args) == 0 {
		return nil, errors.New("closure: empty nix eval arguments")
	}
	full := append([]string{args[0], "--extra-experimental-features", "nix-command flakes"}, args[1:]...)
	out, stderr, err := n.run(ctx, full)
	if err != nil {
		var deps []string
		if len(args) > 2 {
			deps = []string{args[2]}
		}
		return nil, &NixError{Deps: deps, Args: full, Stderr: TrimNixStderr(stderr), Err: err}
	}
	return out, nil
}

// Valid asks the local store (never a substituter) which of paths are
// valid, with one `nix path-info --json` call, and returns the valid
// ones' infos (not their closures) and the invalid paths.
func (n *Nix) Valid(ctx context.Context, paths []string) ([]PathInfo, []string, error) {
	ps := uniqueKeepOrder(paths)
	if len(ps) == 0 {
		return nil, nil, nil
	}
	flags := append([]string{"--json", "--option", "substituters", ""}, n.jsonFormat(ctx)...)
	args := n.args("path-info", append(flags, ps...)...)
	stdout, stderr, err := n.run(ctx, args)
	if err != nil {
		return nil, nil, &NixError{Deps: ps, Args: args, Stderr: TrimNixStderr(stderr), Err: err}
	}
	infos, invalid, err := ParsePathInfoValid(stdout)
	if err != nil {
		return nil, nil, &NixError{Deps: ps, Args: args, Err: err}
	}
	return infos, invalid, nil
}

// WillBuild asks Nix what realising installables would build and fetch:
// one `nix build --dry-run` with Nix's own substituters (as the build
// itself would use them), which builds and downloads nothing.
func (n *Nix) WillBuild(ctx context.Context, installables []string) (DryRun, error) {
	inst := uniqueKeepOrder(installables)
	if len(inst) == 0 {
		return DryRun{}, nil
	}
	args := n.args("build", append([]string{"--dry-run", "--no-link"}, inst...)...)
	_, stderr, err := n.run(ctx, args)
	if err != nil {
		return DryRun{}, &NixError{Deps: inst, Args: args, Stderr: TrimNixStderr(stderr), Err: err}
	}
	return ParseDryRun(stderr), nil
}

// Evaluate resolves installables to their output paths by evaluation only
// — one `nix build --dry-run --json` call, which builds and downloads
// nothing — and returns installable → output paths (sorted by output
// name). A store path resolves to itself.
func (n *Nix) Evaluate(ctx context.Context, installables []string) (map[string][]string, error) {
	out, _, err := n.EvaluateDrvs(ctx, installables)
	return out, err
}

// EvaluateDrvs is Evaluate that also returns each evaluated installable's
// derivation path.
func (n *Nix) EvaluateDrvs(ctx context.Context, installables []string) (map[string][]string, map[string]string, error) {
	inst := uniqueKeepOrder(installables)
	out := make(map[string][]string, len(inst))
	drvs := make(map[string]string, len(inst))
	var flakes []string
	for _, i := range inst {
		if strings.Contains(i, "#") || strings.HasSuffix(i, ".drv") || strings.Contains(i, ".drv^") {
			flakes = append(flakes, i)
		} else {
			out[i] = []string{i}
		}
	}
	if len(flakes) == 0 {
		return out, drvs, nil
	}
	// No substituter is asked what it has: only the paths are wanted.
	args := n.args("build", append([]string{"--dry-run", "--no-link", "--json", "--option", "substituters", ""}, flakes...)...)
	stdout, stderr, err := n.run(ctx, args)
	if err != nil {
		return nil, nil, n.buildFailure(ctx, flakes, args, stderr, err)
	}
	var dry []buildResult
	if err := json.Unmarshal(stdout, &dry); err != nil || len(dry) != len(flakes) {
		return nil, nil, &NixError{Deps: flakes, Args: args, Err: fmt.Errorf("nix build --dry-run --json returned %d results for %d installables (%v)", len(dry), len(flakes), err)}
	}
	for k, i := range flakes {
		out[i] = outputPaths(dry[k])
		if dry[k].DrvPath != "" {
			drvs[i] = dry[k].DrvPath
		}
	}
	return out, drvs, nil
}

// DerivationSystem reads the system ("x86_64-linux") a derivation file
// (.drv, as instantiated in a store) is built for.
func DerivationSystem(file string) (string, error) {
	f, err := os.Open(file)
	if err != nil {
		return "", err
	}
	defer f.Close()
	d, err := derivation.ReadDerivation(f)
	if err != nil {
		return "", fmt.Errorf("reading derivation %s: %w", file, err)
	}
	return d.Platform, nil
}

// namedIn returns the deps quoted in Nix's message ('…'), or all deps.
func namedIn(msg string, deps []string) []string {
	var named []string
	for _, d := range deps {
		if strings.Contains(msg, "'"+d+"'") {
			named = append(named, d)
		}
	}
	if len(named) == 0 {
		return deps
	}
	return named
}

// uniqueKeepOrder drops duplicates, keeping first occurrences in order.
func uniqueKeepOrder(in []string) []string {
	seen := make(map[string]bool, len(in))
	out := make([]string, 0, len(in))
	for _, s := range in {
		if !seen[s] {
			seen[s] = true
			out = append(out, s)
		}
	}
	return out
}

// CurrentSystem asks Nix for the system it builds for (its `system`
// setting, e.g. "x86_64-linux"), which decides the image's architecture.
func (n *Nix) CurrentSystem(ctx context.Context) (string, error) {
	args := n.args("eval", "--impure", "--raw", "--expr", "builtins.currentSystem")
	stdout, stderr, err := n.run(ctx, args)
	if err != nil {
		return "", &NixError{Args: args, Stderr: TrimNixStderr(stderr), Err: err}
	}
	sys := strings.TrimSpace(string(stdout))
	if sys == "" || !strings.Contains(sys, "-") {
		return "", &NixError{Args: args, Err: fmt.Errorf("unexpected system %q", sys)}
	}
	return sys, nil
}

// Config returns Nix's effective configuration as the JSON it prints
// (`nix config show --json` from Nix 2.19 on, `nix show-config --json`
// before; the other is tried when the first is unknown), so callers trust
// exactly what this Nix, with its environment, would. The output may hold
// secrets (access-tokens): it is never put into an error.
func (n *Nix) Config(ctx context.Context) ([]byte, error) {
	cmds := [][]string{{"show-config"}, {"config", "show"}}
	if major, minor := n.Version(ctx); major > 2 || major == 2 && minor >= 19 {
		cmds[0], cmds[1] = cmds[1], cmds[0]
	}
	var first error
	for _, c := range cmds {
		args := append(c, "--extra-experimental-features", "nix-command", "--json")
		stdout, stderr, err := n.run(ctx, args)
		if err == nil {
			return stdout, nil
		}
		if first == nil {
			first = &NixError{Args: args, Stderr: TrimNixStderr(stderr), Err: err}
		}
		if ctx.Err() != nil {
			break
		}
	}
	return nil, first
}
