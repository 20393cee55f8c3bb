package resolve

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path"
	"strings"
	"sync"
	"syscall"

	"github.com/org/nix-layer-action/internal/configcheck"
	"github.com/org/nix-layer-action/internal/fsmode"
	"github.com/org/nix-layer-action/internal/layer"
	"github.com/org/nix-layer-action/internal/plan"
)

// ConfigFindings are the results of checking the config against the image.
type ConfigFindings struct {
	// Warnings are what the image certainly lacks ("file:line:
	// config.entrypoint[0]: /bin/app is not in the image").
	Warnings []string
	// Notes are checks that could not be done, and why.
	Notes []string
}

// CheckConfig checks the plan's entrypoint (or cmd) and PATH against what
// the resolved image will hold, as far as this machine can tell without
// building: the root layer's files, store paths on disk, and nothing of a
// base image or of store paths only a binary cache has (Build checks
// those after writing their layers). With config.check strict the first
// certain problem is the error (a *plan.Error naming the field).
func (r *Resolved) CheckConfig() (*ConfigFindings, error) {
	return checkConfig(r, newConfigFS(r, nil))
}

// CheckWritten is CheckConfig against the layers as written (or reused):
// written holds what the layer writer wrote of the store paths whose
// bytes came from a binary cache.
func (r *Resolved) CheckWritten(written *EntryLog) (*ConfigFindings, error) {
	return checkConfig(r, newConfigFS(r, written))
}

// checkConfig runs the check of the plan's config against fsys.
func checkConfig(res *Resolved, fsys configcheck.FS) (*ConfigFindings, error) {
	p := res.Plan
	out := &ConfigFindings{}
	if p.Config.Check == plan.CheckOff {
		return out, nil
	}
	for _, f := range configcheck.Check(fsys, checkInput(res)) {
		e := &plan.Error{File: p.File, Line: p.Config.FieldLine(f.Field), Attr: p.Attr, Field: "config." + f.Field, Msg: f.Msg + outsideStoreHint(p, f)}
		switch {
		case f.Unchecked:
			out.Notes = append(out.Notes, e.Error())
		case p.Config.Check == plan.CheckStrict:
			e.Msg += " (config.check is strict)"
			return out, e
		default:
			out.Warnings = append(out.Warnings, e.Error())
		}
	}
	return out, nil
}

// outsideStoreHint says how to name a program that is missing outside the
// store (the natural "/bin/app"): a package's files are under its store
// path unless the root filesystem links or copies them to /.
func outsideStoreHint(p *plan.Plan, f configcheck.Finding) string {
	if f.Unchecked || !strings.HasPrefix(f.Field, "entrypoint") && !strings.HasPrefix(f.Field, "cmd") ||
		!path.IsAbs(f.Path) || strings.HasPrefix(f.Path, p.StoreDir+"/") || !strings.Contains(f.Msg, "is not in the image") {
		return ""
	}
	return fmt.Sprintf("; a package's files are under its store path (%s/<hash>-<name>%s): write {installable: \".#app\", path: %q}, or link it to / with root: [a buildEnv holding it]", p.StoreDir, f.Path, f.Path)
}

// checkInput is the config the image will run: the plan's over the base's.
func checkInput(res *Resolved) configcheck.Config {
	c := res.Plan.Config
	in := configcheck.Config{Entrypoint: c.Entrypoint, Cmd: c.Cmd, Env: c.Env, WorkingDir: c.WorkingDir, CmdIsProgram: true}
	if res.Base == nil {
		return in
	}
	cf, err := res.Base.Image.ConfigFile()
	if err != nil || cf == nil {
		in.CmdIsProgram = false // cannot tell whether the base has an entrypoint
		return in
	}
	in.CmdIsProgram = len(cf.Config.Entrypoint) == 0
	if in.WorkingDir == "" {
		in.WorkingDir = cf.Config.WorkingDir
	}
	for _, kv := range cf.Config.Env {
		if v, ok := strings.CutPrefix(kv, "PATH="); ok {
			in.BasePath = v
		}
	}
	return in
}

// configFS is the image being built as the config check sees it: the root
// layer's files, the store paths of every layer (read on disk, or as the
// layer writer wrote them when their bytes came from a binary cache), and
// a base image whose files are not read.
type configFS struct {
	storeDir  string
	storeRoot string                      // host directory the store lives under ("" = /)
	files     map[string]configcheck.Node // root-layer entries and their parent directories
	inImage   map[string]bool             // store paths some layer (or the base) holds
	onDisk    func(storePath string) bool
	written   *EntryLog // nil before any layer is written
	base      string    // the from: image, "" without one
	// perms are the perms of the layer holding each store path and root
	// file: Build applies them, so a file's mode is what they make it.
	perms map[string][]layer.Perm
}

func newConfigFS(res *Resolved, written *EntryLog) *configFS {
	p := res.Plan
	f := &configFS{storeDir: p.StoreDir, storeRoot: p.StoreRoot, files: map[string]configcheck.Node{}, inImage: map[string]bool{}, written: written, perms: map[string][]layer.Perm{}}
	f.onDisk = func(sp string) bool { return res.Origin(sp) != OriginSubstituter }
	f.addDir(f.storeDir)
	for _, l := range res.Layers {
		for _, sp := range l.Paths() {
			f.inImage[sp] = true
			f.perms[sp] = l.Spec.Perms
		}
		for _, file := range l.Spec.Files {
			f.perms[file.Path] = l.Spec.Perms
			n := fileNode(file.Mode, file.Linkname)
			switch {
			case n.Kind != configcheck.File:
			case file.Source != "":
				n.Head, n.HeadKnown = readHead(file.Source)
			default:
				n.Head, n.HeadKnown = file.Data[:min(len(file.Data), configcheck.HeadLen)], true
			}
			f.addFile(file.Path, n)
		}
	}
	if res.Base != nil {
		f.base = res.Base.Ref.String()
		ex, _, _ := baseExclude(res.Base)
		for sp := range ex {
			f.inImage[sp] = true
		}
	}
	return f
}

func (f *configFS) addFile(p string, n configcheck.Node) {
	f.addDir(path.Dir(p))
	f.files[p] = n
}

func (f *configFS) addDir(p string) {
	for ; p != "/" && p != "." && p != ""; p = path.Dir(p) {
		if _, ok := f.files[p]; !ok {
			f.files[p] = configcheck.Node{Kind: configcheck.Dir}
		}
	}
}

// Lstat tells what the image holds at p.
func (f *configFS) Lstat(p string) configcheck.Node {
	if p == "/" {
		return configcheck.Node{Kind: configcheck.Dir}
	}
	if n, ok := f.files[p]; ok {
		return withPerms(n, p, f.perms[p])
	}
	if sp, ok := f.storePath(p); ok {
		return withPerms(f.storeNode(sp, p), p, f.perms[sp])
	}
	return f.absent()
}

// withPerms is n as Build writes it at p: the mode of the last of perms
// that matches p and sets one (perms do not change a symlink's mode).
func withPerms(n configcheck.Node, p string, perms []layer.Perm) configcheck.Node {
	if n.Kind != configcheck.File {
		return n
	}
	for _, pm := range perms {
		if pm.Mode != nil && pm.Regexp != nil && pm.Regexp.MatchString(p) {
			n.Mode = uint32(fsmode.ToUnix(*pm.Mode) & 0o7777)
			n.Exec = n.Mode&0o111 != 0
		}
	}
	return n
}

// absent is what a path none of our layers holds is.
func (f *configFS) absent() configcheck.Node {
	if f.base != "" {
		return configcheck.Node{Kind: configcheck.Unknown, Why: fmt.Sprintf("the base image %s may hold it; its files are not read", f.base)}
	}
	return configcheck.Node{Kind: configcheck.Missing}
}

// storePath is the store path p lies in.
func (f *configFS) storePath(p string) (string, bool) {
	rest, ok := strings.CutPrefix(p, f.storeDir+"/")
	if !ok || rest == "" {
		return "", false
	}
	name, _, _ := strings.Cut(rest, "/")
	return f.storeDir + "/" + name, true
}

// storeNode tells what store path sp holds at p.
func (f *configFS) storeNode(sp, p string) configcheck.Node {
	switch {
	case !f.inImage[sp]:
		return f.absent()
	case f.written.has(sp):
		return f.written.node(p)
	case f.onDisk(sp):
		return diskNode(f.storeRoot + p)
	case f.written == nil:
		return configcheck.Node{Kind: configcheck.Unknown, Why: fmt.Sprintf("store path %s is not on this machine (a binary cache has it); build checks it once its layer is written", sp)}
	}
	return configcheck.Node{Kind: configcheck.Unknown, Why: fmt.Sprintf("store path %s is not on this machine and its layer was reused from a previous image, not written by this run", sp)}
}

// diskNode reads what the host holds at host.
func diskNode(host string) configcheck.Node {
	info, err := os.Lstat(host)
	if errors.Is(err, fs.ErrNotExist) || errors.Is(err, syscall.ENOTDIR) {
		return configcheck.Node{Kind: configcheck.Missing}
	}
	if err != nil {
		return configcheck.Node{Kind: configcheck.Unknown, Why: err.Error()}
	}
	link := ""
	if info.Mode()&fs.ModeSymlink != 0 {
		if link, err = os.Readlink(host); err != nil {
			return configcheck.Node{Kind: configcheck.Unknown, Why: err.Error()}
		}
	}
	n := fileNode(info.Mode(), link)
	if n.Kind == configcheck.File {
		n.Head, n.HeadKnown = readHead(host)
	}
	return n
}

// readHead reads a host file's first configcheck.HeadLen bytes; ok is
// false when it cannot be read.
func readHead(host string) ([]byte, bool) {
	fh, err := os.Open(host)
	if err != nil {
		return nil, false
	}
	defer fh.Close()
	b := make([]byte, configcheck.HeadLen)
	n, err := io.ReadFull(fh, b)
	if err != nil && !errors.Is(err, io.EOF) && !errors.Is(err, io.ErrUnexpectedEOF) {
		return nil, false
	}
	return b[:n], true
}

func fileNode(m fs.FileMode, link string) configcheck.Node {
	switch {
	case m.IsDir():
		return configcheck.Node{Kind: configcheck.Dir}
	case m&fs.ModeSymlink != 0:
		return configcheck.Node{Kind: configcheck.Symlink, Target: link}
	}
	return configcheck.Node{Kind: configcheck.File, Exec: m.Perm()&0o111 != 0, Mode: uint32(m.Perm())}
}

// EntryLog records the entries the layer writer emits for store paths
// whose bytes are not on this machine (streamed from a binary cache), so
// the config check sees what Build wrote without reading the cache again.
type EntryLog struct {
	storeDir string
	want     func(storePath string) bool
	mu       sync.Mutex
	nodes    map[string]configcheck.Node
	paths    map[string]bool // store paths written
}

// NewEntryLog records the entries of res's store paths that only a binary
// cache has (nil when there are none).
func NewEntryLog(res *Resolved) *EntryLog {
	if res.origin == nil {
		return &EntryLog{storeDir: res.Plan.StoreDir, want: func(string) bool { return false }}
	}
	return &EntryLog{storeDir: res.Plan.StoreDir, want: func(sp string) bool { return res.Origin(sp) == OriginSubstituter },
		nodes: map[string]configcheck.Node{}, paths: map[string]bool{}}
}

// Record is a layer.Options.OnEntry.
func (l *EntryLog) Record(p string, mode fs.FileMode, link string) {
	if l == nil {
		return
	}
	rest, ok := strings.CutPrefix(p, l.storeDir+"/")
	if !ok || rest == "" {
		return
	}
	name, _, _ := strings.Cut(rest, "/")
	sp := l.storeDir + "/" + name
	if !l.want(sp) {
		return
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	l.paths[sp] = true
	l.nodes[p] = fileNode(mode, link)
}

func (l *EntryLog) has(sp string) bool {
	if l == nil {
		return false
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.paths[sp]
}

func (l *EntryLog) node(p string) configcheck.Node {
	l.mu.Lock()
	defer l.mu.Unlock()
	if n, ok := l.nodes[p]; ok {
		return n
	}
	return configcheck.Node{Kind: configcheck.Missing}
}
