package configcheck

import (
	"strings"
	"testing"
)

// mapFS is an image as a map; directories are implied by deeper entries.
type mapFS map[string]Node

func (m mapFS) Lstat(p string) Node {
	if p == "/" {
		return Node{Kind: Dir}
	}
	if n, ok := m[p]; ok {
		return n
	}
	for k := range m {
		if strings.HasPrefix(k, p+"/") {
			return Node{Kind: Dir}
		}
	}
	if n, ok := m["unknown:"+strings.Split(p, "/")[1]]; ok {
		return n
	}
	return Node{Kind: Missing}
}

const bb = "/nix/store/aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa-busybox"

func exe() Node             { return Node{Kind: File, Exec: true, Mode: 0o555} }
func link(t string) Node    { return Node{Kind: Symlink, Target: t} }
func data() Node            { return Node{Kind: File, Mode: 0o444} }
func unknown(w string) Node { return Node{Kind: Unknown, Why: w} }

// A buildEnv-shaped root: /bin/sh → busybox in the store, relative links,
// a link to a directory, a dangling link and a loop.
func image() mapFS {
	return mapFS{
		bb + "/bin/busybox": exe(),
		bb + "/bin/sh":      link("busybox"),
		"/bin/sh":           link(bb + "/bin/busybox"),
		"/bin/ls":           link("../nix/store/aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa-busybox/bin/sh"),
		"/bin/gone":         link("/nix/store/bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb-gone/bin/gone"),
		"/bin/loop":         link("/bin/loop2"),
		"/bin/loop2":        link("/bin/loop"),
		"/sbin":             link("bin"),
		"/etc/passwd":       data(),
		"/opt/tool":         Node{Kind: File, Mode: 0o644},
	}
}

func TestProgramsFollowSymlinksInTheImage(t *testing.T) {
	for _, prog := range []string{"/bin/sh", "/bin/ls", "/sbin/sh", bb + "/bin/sh", "/bin/../bin/./sh"} {
		if f := Check(image(), Config{Entrypoint: []string{prog}}); len(f) != 0 {
			t.Errorf("%s: %v, want no finding", prog, f)
		}
	}
}

func TestMissingPrograms(t *testing.T) {
	tests := []struct {
		cfg   Config
		field string
		msg   string
	}{
		{Config{Entrypoint: []string{"/bin/app"}}, "entrypoint[0]", "/bin/app is not in the image"},
		{Config{Entrypoint: []string{"/usr/bin/app"}}, "entrypoint[0]", "/usr/bin/app is not in the image (there is no /usr)"},
		{Config{Entrypoint: []string{"/bin/gone"}}, "entrypoint[0]", "/bin/gone is not in the image (through /bin/gone → /nix/store/bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb-gone/bin/gone; there is no /nix/store/bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb-gone)"},
		{Config{Entrypoint: []string{"/bin/loop"}}, "entrypoint[0]", "more than 40 symlinks"},
		{Config{Entrypoint: []string{"/etc/passwd/x"}}, "entrypoint[0]", "/etc/passwd/x is not in the image"},
		{Config{Entrypoint: []string{"/etc"}}, "entrypoint[0]", "/etc is a directory, not a program"},
		{Config{Entrypoint: []string{"/opt/tool"}}, "entrypoint[0]", "/opt/tool is not executable (mode 0644)"},
		{Config{Cmd: []string{"/bin/app", "x"}, CmdIsProgram: true}, "cmd[0]", "/bin/app is not in the image"},
		{Config{Entrypoint: []string{"app"}, Env: []string{"PATH=/bin:" + bb + "/bin"}}, "entrypoint[0]", "app is in none of the PATH directories (/bin:" + bb + "/bin)"},
		{Config{Entrypoint: []string{"./app"}, WorkingDir: "/opt"}, "entrypoint[0]", "/opt/app is not in the image"},
		{Config{Entrypoint: []string{""}}, "entrypoint[0]", "the program is empty"},
	}
	for _, tt := range tests {
		f := Check(image(), tt.cfg)
		if len(f) != 1 || f[0].Field != tt.field || !strings.Contains(f[0].Msg, tt.msg) || f[0].Unchecked {
			t.Errorf("%+v:\n got %v\nwant %s: …%s…", tt.cfg, f, tt.field, tt.msg)
		}
	}
}

func TestCmdIsArgumentsOfABaseEntrypoint(t *testing.T) {
	if f := Check(image(), Config{Cmd: []string{"/bin/app"}}); len(f) != 0 {
		t.Errorf("cmd checked although it is the arguments of another entrypoint: %v", f)
	}
	// With an entrypoint, cmd is its arguments.
	if f := Check(image(), Config{Entrypoint: []string{"/bin/sh"}, Cmd: []string{"/bin/app"}, CmdIsProgram: true}); len(f) != 0 {
		t.Errorf("cmd checked next to an entrypoint: %v", f)
	}
}

func TestBareNamesUseThePath(t *testing.T) {
	if f := Check(image(), Config{Entrypoint: []string{"sh"}, Env: []string{"PATH=/usr/bin:/bin"}}); len(f) != 1 || !strings.Contains(f[0].Msg, "PATH entry /usr/bin is not in the image") {
		t.Errorf("sh through PATH: %v, want only the missing /usr/bin", f)
	}
	// No PATH: the runtime's default, which has /bin.
	if f := Check(image(), Config{Entrypoint: []string{"sh"}}); len(f) != 0 {
		t.Errorf("sh through the default PATH: %v", f)
	}
	// The base image's PATH is searched after the plan's.
	if f := Check(image(), Config{Entrypoint: []string{"sh"}, Env: []string{"PATH=/opt"}, BasePath: "/bin"}); len(f) != 0 {
		t.Errorf("sh through the base's PATH: %v", f)
	}
}

func TestPathEntries(t *testing.T) {
	f := Check(image(), Config{Env: []string{"A=1", "PATH=/bin:/usr/bin:/etc/passwd::rel:/sbin"}})
	var msgs []string
	for _, x := range f {
		if x.Field != "env[1]" {
			t.Errorf("finding names %s, want env[1]", x.Field)
		}
		msgs = append(msgs, x.Msg)
	}
	want := []string{"PATH entry /usr/bin is not in the image (there is no /usr)", "PATH entry /etc/passwd is a file, not a directory"}
	if strings.Join(msgs, "|") != strings.Join(want, "|") {
		t.Errorf("got %q\nwant %q", msgs, want)
	}
}

func TestUnknownIsNotMissing(t *testing.T) {
	fsys := image()
	fsys["unknown:usr"] = unknown("the base image ghcr.io/acme/base:1 may hold it; its files are not read")
	f := Check(fsys, Config{Entrypoint: []string{"/usr/bin/app"}, Env: []string{"PATH=/usr/bin"}})
	if len(f) != 2 || !f[0].Unchecked || !f[1].Unchecked ||
		f[0].Msg != "/usr/bin/app not checked: the base image ghcr.io/acme/base:1 may hold it; its files are not read" ||
		!strings.HasPrefix(f[1].Msg, "PATH entry /usr/bin not checked: ") {
		t.Errorf("got %v", f)
	}
	f = Check(fsys, Config{Entrypoint: []string{"app"}, Env: []string{"PATH=/usr/bin:/bin"}})
	if len(f) != 2 || !f[0].Unchecked || !strings.Contains(f[0].Msg, "app not checked: it is in none of the PATH directories this run can see") {
		t.Errorf("bare name with an unknown PATH dir: %v", f)
	}
}

// An executable the kernel cannot run (empty, or neither ELF nor "#!") is
// a finding, directly or found in PATH; unknown bytes are not (issue 18).
func TestProgramsTheKernelCannotRun(t *testing.T) {
	head := func(b string) Node {
		return Node{Kind: File, Exec: true, Mode: 0o555, Head: []byte(b), HeadKnown: true}
	}
	img := mapFS{
		"/bin/elf":    head("\x7fELF"),
		"/bin/script": head("#!/b"),
		"/bin/empty":  head(""),
		"/bin/text":   head("echo"),
		"/bin/short":  head("e"),
		"/bin/dunno":  exe(),
	}
	for prog, want := range map[string]string{
		"/bin/elf": "", "/bin/script": "", "/bin/dunno": "",
		"/bin/empty": "/bin/empty is an empty file", "/bin/text": "/bin/text is neither an ELF binary nor a \"#!\" script",
		"/bin/short": "/bin/short is neither", "empty": "empty is found in PATH at /bin/empty, which is an empty file",
	} {
		f := Check(img, Config{Entrypoint: []string{prog}, Env: []string{"PATH=/bin"}})
		switch {
		case want == "" && len(f) != 0:
			t.Errorf("%s: %v, want no finding", prog, f)
		case want != "" && (len(f) != 1 || f[0].Unchecked || !strings.HasPrefix(f[0].Msg, want) || !strings.HasSuffix(f[0].Msg, `"exec format error"`)):
			t.Errorf("%s: %v, want one finding %q…", prog, f, want)
		}
	}
}
