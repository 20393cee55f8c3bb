package rootfs

import (
	"fmt"
	"io/fs"
	"path"
	"regexp"
	"slices"
	"strings"

	"github.com/org/nix-layer-action/internal/layer"
)

// User is a plan user to create in /etc/passwd and /etc/group.
type User struct {
	Name     string
	UID, GID int
	Home     string // absolute; created as a directory owned by UID:GID, mode 0755
	Shell    string // optional; default DefaultShell
}

// DefaultShell is the login shell written for root and for users without
// a Shell. Container runtimes do not use it to start the entrypoint; it
// only matters for tools such as `su`.
const DefaultShell = "/bin/sh"

// userNameRe is the portable user name set (POSIX plus "."/"-", no leading "-").
var userNameRe = regexp.MustCompile(`^[A-Za-z0-9_][A-Za-z0-9_.-]{0,31}$`)

// UserError reports an invalid or clashing user.
type UserError struct {
	Name string
	Msg  string
}

func (e *UserError) Error() string { return fmt.Sprintf("user %q: %s", e.Name, e.Msg) }

// Users returns /etc/passwd, /etc/group, /root and every user's home
// directory (plus root-owned 0755 parents such as /home).
//
// /etc/passwd has the root line first, then one line per user in the given
// order ("name:x:uid:gid:name:home:shell"). /etc/group has root first, then
// one group per distinct gid in order of first appearance, named after the
// first user with that gid (gid 0 is root's group). No /etc/shadow is
// written: the "x" password field without a shadow entry means no password
// login, which is what a container needs.
//
// Errors (*UserError): invalid name, the reserved name "root", duplicate
// names, negative ids, a home that is not an absolute clean path, is "/",
// lies in /nix/store, or is shared by two users. Duplicate uids are
// allowed (aliases).
func Users(users []User) ([]layer.File, error) {
	var passwd, group strings.Builder
	passwd.WriteString("root:x:0:0:root:/root:" + DefaultShell + "\n")
	group.WriteString("root:x:0:\n")

	seenName := map[string]bool{}
	seenGID := map[int]bool{0: true}
	homeOwner := map[string]string{}
	files := map[string]layer.File{
		"/etc":  {Path: "/etc", Mode: fs.ModeDir | 0o755},
		"/root": {Path: "/root", Mode: fs.ModeDir | 0o700},
	}
	for _, u := range users {
		if err := checkUser(u); err != nil {
			return nil, err
		}
		if seenName[u.Name] {
			return nil, &UserError{Name: u.Name, Msg: "defined twice"}
		}
		seenName[u.Name] = true
		if other, ok := homeOwner[u.Home]; ok {
			return nil, &UserError{Name: u.Name, Msg: fmt.Sprintf("home %s is also the home of user %q", u.Home, other)}
		}
		homeOwner[u.Home] = u.Name

		shell := u.Shell
		if shell == "" {
			shell = DefaultShell
		}
		fmt.Fprintf(&passwd, "%s:x:%d:%d:%s:%s:%s\n", u.Name, u.UID, u.GID, u.Name, u.Home, shell)
		if !seenGID[u.GID] {
			seenGID[u.GID] = true
			fmt.Fprintf(&group, "%s:x:%d:\n", u.Name, u.GID)
		}
		files[u.Home] = layer.File{Path: u.Home, Mode: fs.ModeDir | 0o755, UID: u.UID, GID: u.GID}
	}
	// Root-owned parents of homes, unless the parent is itself a home.
	for home := range homeOwner {
		for dir := path.Dir(home); dir != "/"; dir = path.Dir(dir) {
			if _, ok := files[dir]; !ok {
				files[dir] = layer.File{Path: dir, Mode: fs.ModeDir | 0o755}
			}
		}
	}
	files["/etc/passwd"] = layer.File{Path: "/etc/passwd", Mode: 0o644, Data: []byte(passwd.String())}
	files["/etc/group"] = layer.File{Path: "/etc/group", Mode: 0o644, Data: []byte(group.String())}
	return sortedFiles(files), nil
}

func checkUser(u User) error {
	switch {
	case !userNameRe.MatchString(u.Name):
		return &UserError{Name: u.Name, Msg: "invalid name (want letters, digits, '_', '.', '-', at most 32, not starting with '-')"}
	case u.Name == "root":
		return &UserError{Name: u.Name, Msg: "root is always generated (uid 0) and cannot be redefined"}
	case u.UID < 0 || u.GID < 0:
		return &UserError{Name: u.Name, Msg: fmt.Sprintf("negative uid/gid %d/%d", u.UID, u.GID)}
	case !path.IsAbs(u.Home) || path.Clean(u.Home) != u.Home:
		return &UserError{Name: u.Name, Msg: fmt.Sprintf("home %q is not an absolute clean path", u.Home)}
	case u.Home == "/":
		return &UserError{Name: u.Name, Msg: "home must not be /"}
	case u.Home == "/nix" || u.Home == "/nix/store" || strings.HasPrefix(u.Home, "/nix/store/"):
		return &UserError{Name: u.Name, Msg: fmt.Sprintf("home %s is inside the read-only Nix store", u.Home)}
	case strings.ContainsAny(u.Shell, ":\n"):
		return &UserError{Name: u.Name, Msg: fmt.Sprintf("invalid shell %q", u.Shell)}
	}
	return nil
}

// Tmp returns /tmp as a world-writable sticky directory (mode 1777).
func Tmp() []layer.File {
	return []layer.File{{Path: "/tmp", Mode: fs.ModeDir | fs.ModeSticky | 0o777}}
}

// NixStateDirs are the directories under /nix/var that single-user Nix
// creates and writes to (database, GC roots, profiles, temp roots, logs).
var NixStateDirs = []string{
	"/nix/var",
	"/nix/var/log",
	"/nix/var/log/nix",
	"/nix/var/log/nix/drvs",
	"/nix/var/nix",
	"/nix/var/nix/db",
	"/nix/var/nix/gcroots",
	"/nix/var/nix/gcroots/per-user",
	"/nix/var/nix/profiles",
	"/nix/var/nix/profiles/per-user",
	"/nix/var/nix/temproots",
}

// NixWritable returns NixStateDirs plus any extra dirs as directories
// (0755) owned by uid:gid, so that a non-root image user can open the Nix
// database (Nix takes locks and writes the SQLite WAL next to db.sqlite)
// and register GC roots. Parents of the extra dirs are not created.
//
// /nix and the store directory are not in NixStateDirs because package
// layer writes them (0755 root:root) in every layer; a caller that wants
// them owned by the user passes them as extra dirs and puts the result in
// the top layer, whose directory entry then wins. nixdb.Files does so: a
// non-root Nix needs a writable store even to verify it (it creates
// /nix/store/.links), as the integration test shows.
func NixWritable(uid, gid int, dirs ...string) ([]layer.File, error) {
	if uid < 0 || gid < 0 {
		return nil, fmt.Errorf("nix writable dirs: negative uid/gid %d/%d", uid, gid)
	}
	files := map[string]layer.File{}
	for _, d := range append(append([]string(nil), NixStateDirs...), dirs...) {
		if d == "/" || !path.IsAbs(d) || path.Clean(d) != d {
			return nil, fmt.Errorf("nix writable dirs: %q is not an absolute clean path below /", d)
		}
		files[d] = layer.File{Path: d, Mode: fs.ModeDir | 0o755, UID: uid, GID: gid}
	}
	return sortedFiles(files), nil
}

func sortedFiles(m map[string]layer.File) []layer.File {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	out := make([]layer.File, 0, len(keys))
	for _, k := range keys {
		out = append(out, m[k])
	}
	return out
}
