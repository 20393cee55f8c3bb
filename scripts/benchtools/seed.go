package main

// The seed-size fixture (issue 20): one Nix store path per installed
// Debian package, built by real Nix from the package's real files, with
// the package's Depends/Pre-Depends (those in the fixture) as references,
// grouped into 12 layers; and its bump, the same packages under new store
// paths whose files are identical except nix-support/depends, which names
// the store paths of the dependencies.

import (
	"bufio"
	"bytes"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"sort"
	"strconv"
	"strings"
)

// debPkg is one installed Debian package.
type debPkg struct {
	Name    string   // binary:Package, e.g. "libc6" or "libc6:amd64"
	Version string   // Version
	Deps    []string // first installed alternative of each Depends/Pre-Depends clause
	Files   []string // regular files and symlinks under /usr, without the leading "/"
	Bytes   int64    // sum of the regular files' sizes
	refs    []string // Deps minus the edges dropped to break cycles
}

// seedOptions bound the fixture.
type seedOptions struct {
	Budget     int64 // stop adding packages once their files reach this many bytes
	MaxPackage int64 // leave out packages whose files exceed this many bytes
	Layers     int   // number of plan layers
	InfoDir    string
}

// readDebPackages reads the installed packages (dpkg-query) and their file
// lists (dpkg's info/*.list, what `dpkg -L` prints).
func readDebPackages(infoDir string) (map[string]*debPkg, error) {
	out, err := exec.Command("dpkg-query", "-W", "-f", "${binary:Package}\t${Package}\t${Version}\t${db:Status-Abbrev}\t${Pre-Depends}\t${Depends}\n").Output()
	if err != nil {
		return nil, fmt.Errorf("dpkg-query: %w", err)
	}
	pkgs := map[string]*debPkg{}
	alias := map[string]string{} // Package → binary:Package
	type raw struct {
		pkg  *debPkg
		deps string
	}
	var raws []raw
	for _, line := range strings.Split(strings.TrimSpace(string(out)), "\n") {
		f := strings.Split(line, "\t")
		if len(f) != 6 || !strings.HasPrefix(f[3], "ii") {
			continue
		}
		p := &debPkg{Name: f[0], Version: f[2]}
		if err := p.readFiles(infoDir); err != nil {
			return nil, err
		}
		pkgs[p.Name] = p
		alias[f[1]] = p.Name
		raws = append(raws, raw{p, f[4] + ", " + f[5]})
	}
	archQual := regexp.MustCompile(`:[a-z0-9]+$`)
	for _, r := range raws {
		seen := map[string]bool{}
		for _, clause := range strings.Split(r.deps, ",") {
			for _, alt := range strings.Split(clause, "|") {
				name := strings.TrimSpace(alt)
				if i := strings.IndexAny(name, " ("); i >= 0 {
					name = name[:i]
				}
				name = archQual.ReplaceAllString(name, "")
				target, ok := alias[name]
				if !ok {
					continue
				}
				if target != r.pkg.Name && !seen[target] {
					seen[target] = true
					r.pkg.Deps = append(r.pkg.Deps, target)
				}
				break
			}
		}
		sort.Strings(r.pkg.Deps)
	}
	return pkgs, nil
}

// readFiles reads the package's file list and keeps the regular files and
// symlinks under /usr (never /etc or /var: no host configuration or state)
// that anyone may read (the builder runs as a Nix build user).
func (p *debPkg) readFiles(infoDir string) error {
	f, err := os.Open(filepath.Join(infoDir, p.Name+".list"))
	if os.IsNotExist(err) && !strings.Contains(p.Name, ":") {
		f, err = os.Open(filepath.Join(infoDir, p.Name+":amd64.list"))
	}
	if err != nil {
		if os.IsNotExist(err) {
			return nil
		}
		return err
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		path := sc.Text()
		if !strings.HasPrefix(path, "/usr/") || strings.ContainsAny(path, "\n\r") {
			continue
		}
		fi, err := os.Lstat(path)
		if err != nil || !(fi.Mode().IsRegular() || fi.Mode()&os.ModeSymlink != 0) {
			continue
		}
		if fi.Mode().IsRegular() && fi.Mode().Perm()&0o004 == 0 {
			continue // Nix's build user could not read it
		}
		// A path reached through a symlinked directory would be copied
		// twice or not at all; keep only canonical parents.
		if dir, err := filepath.EvalSymlinks(filepath.Dir(path)); err != nil || dir != filepath.Dir(path) {
			continue
		}
		p.Files = append(p.Files, path[1:])
		if fi.Mode().IsRegular() {
			p.Bytes += fi.Size()
		}
	}
	sort.Strings(p.Files)
	return sc.Err()
}

// seedOrder orders the packages dependencies first: a depth-first walk from
// the packages in name order, visiting dependencies in name order. An edge
// to a package still on the walk's stack closes a cycle and is dropped, so
// the result is the same on every run over the same packages. Every prefix
// of the order holds its packages' (remaining) dependencies.
func seedOrder(pkgs map[string]*debPkg) []*debPkg {
	names := make([]string, 0, len(pkgs))
	for n := range pkgs {
		names = append(names, n)
	}
	sort.Strings(names)
	const (
		unseen = iota
		onStack
		done
	)
	state := map[string]int{}
	var order []*debPkg
	var visit func(n string)
	visit = func(n string) {
		state[n] = onStack
		p := pkgs[n]
		for _, d := range p.Deps {
			switch state[d] {
			case onStack: // cycle: drop this edge
			case unseen:
				visit(d)
				p.refs = append(p.refs, d)
			default:
				p.refs = append(p.refs, d)
			}
		}
		state[n] = done
		order = append(order, p)
	}
	for _, n := range names {
		if state[n] == unseen {
			visit(n)
		}
	}
	return order
}

// selectSeed takes the longest prefix of the order within the budget,
// leaving out packages larger than MaxPackage (and, transitively, those
// that depend on them).
func selectSeed(order []*debPkg, o seedOptions) []*debPkg {
	left := map[string]bool{}
	var out []*debPkg
	var total int64
	for _, p := range order {
		skip := p.Bytes > o.MaxPackage
		for _, d := range p.refs {
			skip = skip || left[d]
		}
		if skip {
			left[p.Name] = true
			continue
		}
		if total+p.Bytes > o.Budget {
			break
		}
		total += p.Bytes
		out = append(out, p)
	}
	return out
}

// seedLayers cuts the ordered packages into n contiguous groups of about
// equal bytes: dependencies come first, so each layer's closure minus the
// layers below it is exactly its group.
func seedLayers(sel []*debPkg, n int) [][]*debPkg {
	var total int64
	for _, p := range sel {
		total += p.Bytes
	}
	groups := make([][]*debPkg, 0, n)
	var cur []*debPkg
	var acc int64
	for i, p := range sel {
		cur = append(cur, p)
		acc += p.Bytes
		left := len(sel) - i - 1
		need := n - len(groups) - 1 // groups still to fill after this one
		if need > 0 && (acc >= total*int64(len(groups)+1)/int64(n) || left == need) {
			groups = append(groups, cur)
			cur = nil
		}
	}
	if len(cur) > 0 {
		groups = append(groups, cur)
	}
	return groups
}

var storeNameBad = regexp.MustCompile(`[^A-Za-z0-9+._?=-]`)

// nixString quotes s as a Nix double-quoted string.
func nixString(s string) string {
	r := strings.NewReplacer(`\`, `\\`, `"`, `\"`, "${", `\${`, "\n", `\n`, "\r", `\r`, "\t", `\t`)
	return `"` + r.Replace(s) + `"`
}

// seedNix renders the fixture as a Nix file taking { bump ? false }.
func seedNix(sel []*debPkg, groups [][]*debPkg) []byte {
	in := map[string]bool{}
	for _, p := range sel {
		in[p.Name] = true
	}
	var b bytes.Buffer
	fmt.Fprintf(&b, `# Generated by scripts/benchtools seedfixture from this host's installed
# Debian packages (%d of them, %d layers). Do not edit.
{ bump ? false }:
let
  system = "x86_64-linux";
  mk = name: files: deps: builtins.derivation {
    inherit name system files deps;
    passAsFile = [ "files" ];
    # The bump: every store path changes, no file but nix-support/depends.
    seedRevision = if bump then "bump" else "base";
    builder = "/bin/sh";
    PATH = "/usr/bin:/bin";
    args = [ "-c" ''
      set -e
      mkdir -p $out/nix-support
      tar -C / --no-recursion --verbatim-files-from -T "$filesPath" -cf - | tar -C $out --no-same-owner --no-same-permissions -xf -
      echo $deps > $out/nix-support/depends
    '' ];
  };
  p = {
`, len(sel), len(groups))
	for _, pk := range sel {
		name := storeNameBad.ReplaceAllString("deb-"+strings.TrimSuffix(pk.Name, ":amd64")+"-"+pk.Version, "_")
		var refs []string
		for _, d := range pk.refs {
			if in[d] {
				refs = append(refs, "p."+nixString(d))
			}
		}
		fmt.Fprintf(&b, "    %s = mk %s %s [ %s ];\n", nixString(pk.Name), nixString(name),
			nixString(strings.Join(pk.Files, "\n")+"\n"), strings.Join(refs, " "))
	}
	b.WriteString("  };\nin {\n  layers = [\n")
	for i, g := range groups {
		var deps []string
		for _, pk := range g {
			deps = append(deps, "p."+nixString(pk.Name))
		}
		fmt.Fprintf(&b, "    { name = \"layer%02d\"; deps = [ %s ]; }\n", i+1, strings.Join(deps, " "))
	}
	b.WriteString("  ];\n  all = builtins.attrValues p;\n}\n")
	return b.Bytes()
}

// seedFixture writes the Nix file and prints a one-line summary.
func seedFixture(out string, o seedOptions) error {
	pkgs, err := readDebPackages(o.InfoDir)
	if err != nil {
		return err
	}
	sel := selectSeed(seedOrder(pkgs), o)
	groups := seedLayers(sel, o.Layers)
	var files int
	var bytes int64
	for _, p := range sel {
		files += len(p.Files)
		bytes += p.Bytes
	}
	if err := os.WriteFile(out, seedNix(sel, groups), 0o644); err != nil {
		return err
	}
	fmt.Printf("seed fixture: %d of %d installed packages, %d files, %s of regular files, %d layers -> %s\n",
		len(sel), len(pkgs), files, strconv.FormatFloat(float64(bytes)/1e9, 'f', 2, 64)+" GB", len(groups), out)
	return nil
}
