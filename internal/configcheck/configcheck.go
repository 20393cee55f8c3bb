// Package configcheck checks an image config against the image's files:
// that the program the entrypoint (or, without one, cmd) starts and every
// PATH directory of the environment exist in the image, following symlinks
// inside the image the way the kernel would (/bin/sh → busybox). It knows
// nothing of layers or Nix: the image's files come through an FS, which may
// answer Unknown for what it cannot see (a base image's files, a store path
// whose bytes are not on this machine). Findings name the config field
// ("entrypoint[0]") and say what is wrong.
package configcheck

import (
	"bytes"
	"fmt"
	"path"
	"strings"
)

// Kind is what an image holds at a path.
type Kind int

// Kinds of Node.
const (
	Missing Kind = iota // nothing there
	Dir
	File
	Symlink
	Unknown // the image's contents there cannot be told (Node.Why says why)
)

// Node is what the image holds at one path, its last component not followed.
type Node struct {
	Kind   Kind
	Exec   bool   // File: some execute bit is set
	Mode   uint32 // File: permission bits, for messages
	Target string // Symlink: the link's target, verbatim
	Why    string // Unknown: why it cannot be told
	// Head is a File's first bytes (up to HeadLen; fewer only when the
	// file is that short), when HeadKnown: what the kernel looks at to
	// run it.
	Head      []byte
	HeadKnown bool
}

// HeadLen is how many leading bytes of a program tell whether the kernel
// can run it: "\x7fELF" or "#!".
const HeadLen = 4

// FS tells what the image holds at a clean absolute path ("/" included).
type FS interface {
	Lstat(p string) Node
}

// DefaultPath is the PATH container runtimes use when the image sets none.
const DefaultPath = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"

// maxLinks is how many symlinks one lookup follows before it gives up
// (Linux's limit is 40).
const maxLinks = 40

// Config is what is checked.
type Config struct {
	Entrypoint []string
	Cmd        []string
	Env        []string // "NAME=value"
	WorkingDir string   // "" = "/"
	// CmdIsProgram says cmd[0] is what runs when Entrypoint is empty
	// (false when a base image's entrypoint receives cmd as arguments).
	CmdIsProgram bool
	// BasePath is the PATH the base image sets, joined after the plan's
	// (as the image config joins them); "" for none.
	BasePath string
}

// Finding is one problem, or one check that could not be done.
type Finding struct {
	Field string // config field: "entrypoint[0]", "cmd[0]", "env[1]"
	Path  string // the in-image path checked (a program or a PATH directory)
	Msg   string
	// Unchecked marks a check that could not be done (Msg says why);
	// otherwise the image certainly lacks what the field names.
	Unchecked bool
}

// String is "field: message".
func (f Finding) String() string { return f.Field + ": " + f.Msg }

// Check returns the findings for c against fsys, in field order.
func Check(fsys FS, c Config) []Finding {
	var out []Finding
	pathDirs, pathField := imagePath(c)
	switch {
	case len(c.Entrypoint) > 0:
		out = appendProgram(out, fsys, c, "entrypoint[0]", c.Entrypoint[0], pathDirs)
	case len(c.Cmd) > 0 && c.CmdIsProgram:
		out = appendProgram(out, fsys, c, "cmd[0]", c.Cmd[0], pathDirs)
	}
	if pathField != "" {
		out = append(out, checkPathDirs(fsys, pathField, c.Env)...)
	}
	return out
}

// imagePath is the PATH the image's processes get, split, and the env
// field that sets it ("" when none does).
func imagePath(c Config) ([]string, string) {
	for i := len(c.Env) - 1; i >= 0; i-- {
		if v, ok := strings.CutPrefix(c.Env[i], "PATH="); ok {
			if c.BasePath != "" {
				v += ":" + c.BasePath
			}
			return strings.Split(v, ":"), fmt.Sprintf("env[%d]", i)
		}
	}
	if c.BasePath != "" {
		return strings.Split(c.BasePath, ":"), ""
	}
	return strings.Split(DefaultPath, ":"), ""
}

// checkPathDirs checks each directory of the PATH entry at field.
func checkPathDirs(fsys FS, field string, env []string) []Finding {
	var i int
	fmt.Sscanf(field, "env[%d]", &i)
	var out []Finding
	for _, dir := range strings.Split(strings.TrimPrefix(env[i], "PATH="), ":") {
		if !path.IsAbs(dir) {
			continue // "" and relative entries name the working directory
		}
		r := Resolve(fsys, dir)
		switch f := (Finding{Field: field, Path: dir}); {
		case r.Node.Kind == Unknown:
			f.Unchecked, f.Msg = true, fmt.Sprintf("PATH entry %s not checked: %s", dir, r.Node.Why)
			out = append(out, f)
		case r.Node.Kind == Missing:
			f.Msg = fmt.Sprintf("PATH entry %s is not in the image%s", dir, r.detail(dir))
			out = append(out, f)
		case r.Node.Kind != Dir:
			f.Msg = fmt.Sprintf("PATH entry %s is a file, not a directory", dir)
			out = append(out, f)
		}
	}
	return out
}

// appendProgram checks the program a container starts.
func appendProgram(out []Finding, fsys FS, c Config, field, prog string, pathDirs []string) []Finding {
	switch {
	case prog == "":
		return append(out, Finding{Field: field, Msg: "the program is empty"})
	case !strings.Contains(prog, "/"):
		return append(out, searchPath(fsys, field, prog, pathDirs)...)
	case !path.IsAbs(prog):
		wd := c.WorkingDir
		if wd == "" {
			wd = "/"
		}
		prog = path.Join(wd, prog)
	}
	if f, ok := program(fsys, field, prog); !ok {
		out = append(out, f)
	}
	return out
}

// program checks one absolute program path; ok when it is a runnable file.
func program(fsys FS, field, prog string) (Finding, bool) {
	r := Resolve(fsys, prog)
	f := Finding{Field: field, Path: prog}
	switch n := r.Node; {
	case n.Kind == Unknown:
		f.Unchecked, f.Msg = true, fmt.Sprintf("%s not checked: %s", prog, n.Why)
	case n.Kind == Missing:
		f.Msg = fmt.Sprintf("%s is not in the image%s", prog, r.detail(prog))
	case n.Kind == Dir:
		f.Msg = fmt.Sprintf("%s is a directory, not a program", prog)
	case !n.Exec:
		f.Msg = fmt.Sprintf("%s is not executable (mode %04o)", prog, n.Mode)
	case notRunnable(n) != "":
		f.Msg = prog + notRunnable(n)
	default:
		return f, true
	}
	return f, false
}

// notRunnable says why the kernel would refuse to run the executable file
// n ("exec format error"), or "" when it would run it or its bytes are
// not known: an empty file, or one that is neither an ELF binary nor a
// "#!" script.
func notRunnable(n Node) string {
	switch {
	case !n.HeadKnown:
		return ""
	case len(n.Head) == 0:
		return ` is an empty file: the runtime fails to start it with "exec format error"`
	case bytes.HasPrefix(n.Head, []byte("\x7fELF")) || bytes.HasPrefix(n.Head, []byte("#!")):
		return ""
	}
	return ` is neither an ELF binary nor a "#!" script: the runtime fails to start it with "exec format error"`
}

// searchPath looks a bare program name up in the PATH directories, as the
// runtime does.
func searchPath(fsys FS, field, prog string, dirs []string) []Finding {
	var unknown []string
	for _, d := range dirs {
		if !path.IsAbs(d) {
			continue
		}
		r := Resolve(fsys, path.Join(d, prog))
		switch {
		case r.Node.Kind == File && r.Node.Exec:
			if why := notRunnable(r.Node); why != "" {
				return []Finding{{Field: field, Path: r.Path, Msg: fmt.Sprintf("%s is found in PATH at %s, which%s", prog, r.Path, why)}}
			}
			return nil
		case r.Node.Kind == Unknown:
			unknown = append(unknown, r.Node.Why)
		}
	}
	if len(unknown) > 0 {
		return []Finding{{Field: field, Path: prog, Unchecked: true, Msg: fmt.Sprintf("%s not checked: it is in none of the PATH directories this run can see (%s), and %s", prog, strings.Join(dirs, ":"), unknown[0])}}
	}
	return []Finding{{Field: field, Path: prog, Msg: fmt.Sprintf("%s is in none of the PATH directories (%s); give its absolute path or add its directory to PATH", prog, strings.Join(dirs, ":"))}}
}

// Result is a path looked up through the image's symlinks.
type Result struct {
	Path  string   // the path reached (as far as the lookup got)
	Node  Node     // what is there: Missing or Unknown when the lookup stopped early
	Links []string // the symlinks followed, "link → target"
}

// detail explains a Missing result for asked: which link or directory the
// lookup went through or stopped at.
func (r Result) detail(asked string) string {
	var parts []string
	if len(r.Links) > 0 {
		parts = append(parts, "through "+strings.Join(r.Links, ", "))
	}
	if r.Path != asked {
		parts = append(parts, "there is no "+r.Path)
	}
	if len(parts) == 0 {
		return ""
	}
	return " (" + strings.Join(parts, "; ") + ")"
}

// Resolve looks p up in fsys, following every symlink on the way and at
// the end (absolute targets from the image's root, relative ones from the
// link's directory), at most 40 of them.
func Resolve(fsys FS, p string) Result {
	queue := split(p)
	cur := "/"
	node := Node{Kind: Dir}
	var links []string
	for len(queue) > 0 {
		c := queue[0]
		queue = queue[1:]
		switch c {
		case ".":
			continue
		case "..":
			cur = path.Dir(cur)
			continue
		}
		next := path.Join(cur, c)
		node = fsys.Lstat(next)
		switch node.Kind {
		case Missing, Unknown:
			return Result{Path: next, Node: node, Links: links}
		case Symlink:
			if len(links) >= maxLinks {
				return Result{Path: next, Node: Node{Kind: Missing}, Links: append(links, "… (more than 40 symlinks: a loop?)")}
			}
			links = append(links, next+" → "+node.Target)
			if path.IsAbs(node.Target) {
				cur = "/"
			}
			queue = append(split(node.Target), queue...)
			node = Node{Kind: Dir} // until the target is looked up
			continue
		case File:
			if len(queue) > 0 {
				return Result{Path: path.Join(next, queue[0]), Node: Node{Kind: Missing}, Links: links}
			}
		}
		cur = next
	}
	return Result{Path: cur, Node: node, Links: links}
}

func split(p string) []string {
	var out []string
	for _, c := range strings.Split(p, "/") {
		if c != "" {
			out = append(out, c)
		}
	}
	return out
}
