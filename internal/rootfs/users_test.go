package rootfs

import (
	"errors"
	"io/fs"
	"strings"
	"testing"
)

func TestUsersExactFiles(t *testing.T) {
	files, err := Users([]User{
		{Name: "app", UID: 1000, GID: 1000, Home: "/home/app"},
		{Name: "worker", UID: 1001, GID: 1000, Home: "/var/lib/worker", Shell: "/sbin/nologin"},
		{Name: "svc", UID: 999, GID: 999, Home: "/srv"},
	})
	if err != nil {
		t.Fatal(err)
	}
	m := byPath(files)
	wantPasswd := "root:x:0:0:root:/root:/bin/sh\n" +
		"app:x:1000:1000:app:/home/app:/bin/sh\n" +
		"worker:x:1001:1000:worker:/var/lib/worker:/sbin/nologin\n" +
		"svc:x:999:999:svc:/srv:/bin/sh\n"
	if got := string(m["/etc/passwd"].Data); got != wantPasswd {
		t.Errorf("/etc/passwd =\n%s\nwant\n%s", got, wantPasswd)
	}
	wantGroup := "root:x:0:\napp:x:1000:\nsvc:x:999:\n"
	if got := string(m["/etc/group"].Data); got != wantGroup {
		t.Errorf("/etc/group =\n%s\nwant\n%s", got, wantGroup)
	}
	if _, ok := m["/etc/shadow"]; ok {
		t.Errorf("unexpected /etc/shadow")
	}

	type want struct {
		mode     fs.FileMode
		uid, gid int
	}
	for p, w := range map[string]want{
		"/etc":            {fs.ModeDir | 0o755, 0, 0},
		"/etc/passwd":     {0o644, 0, 0},
		"/etc/group":      {0o644, 0, 0},
		"/root":           {fs.ModeDir | 0o700, 0, 0},
		"/home":           {fs.ModeDir | 0o755, 0, 0},
		"/home/app":       {fs.ModeDir | 0o755, 1000, 1000},
		"/var":            {fs.ModeDir | 0o755, 0, 0},
		"/var/lib":        {fs.ModeDir | 0o755, 0, 0},
		"/var/lib/worker": {fs.ModeDir | 0o755, 1001, 1000},
		"/srv":            {fs.ModeDir | 0o755, 999, 999},
	} {
		f, ok := m[p]
		if !ok {
			t.Errorf("missing %s", p)
			continue
		}
		if f.Mode != w.mode || f.UID != w.uid || f.GID != w.gid {
			t.Errorf("%s = %v %d:%d, want %v %d:%d", p, f.Mode, f.UID, f.GID, w.mode, w.uid, w.gid)
		}
	}
	if len(m) != 10 || len(files) != 10 {
		t.Errorf("got %d entries (%d distinct), want 10", len(files), len(m))
	}
	for i := 1; i < len(files); i++ {
		if files[i-1].Path >= files[i].Path {
			t.Errorf("not sorted: %s before %s", files[i-1].Path, files[i].Path)
		}
	}
}

func TestUsersHomeInsideAnotherHome(t *testing.T) {
	files, err := Users([]User{
		{Name: "b", UID: 2, GID: 2, Home: "/srv/b"},
		{Name: "a", UID: 1, GID: 1, Home: "/srv"},
	})
	if err != nil {
		t.Fatal(err)
	}
	if srv := byPath(files)["/srv"]; srv.UID != 1 {
		t.Errorf("/srv owned by %d, want user a (1): a parent must not override a home", srv.UID)
	}
}

func TestUsersErrors(t *testing.T) {
	for _, tc := range []struct {
		users []User
		msg   string
	}{
		{[]User{{Name: "a", UID: 1, Home: "/a"}, {Name: "a", UID: 2, Home: "/b"}}, "defined twice"},
		{[]User{{Name: "root", Home: "/root"}}, "cannot be redefined"},
		{[]User{{Name: "a:b", Home: "/a"}}, "invalid name"},
		{[]User{{Name: "a", Home: "home/a"}}, "absolute"},
		{[]User{{Name: "a", Home: ""}}, "absolute"},
		{[]User{{Name: "a", Home: "/"}}, "must not be /"},
		{[]User{{Name: "a", Home: "/nix/store/x"}}, "Nix store"},
		{[]User{{Name: "a", UID: -1, Home: "/a"}}, "negative"},
		{[]User{{Name: "a", UID: 1, Home: "/h"}, {Name: "b", UID: 2, Home: "/h"}}, "also the home"},
	} {
		_, err := Users(tc.users)
		var ue *UserError
		if !errors.As(err, &ue) || !strings.Contains(err.Error(), tc.msg) {
			t.Errorf("Users(%+v) err = %v, want *UserError containing %q", tc.users, err, tc.msg)
		}
	}
	// Duplicate uids are allowed.
	if _, err := Users([]User{{Name: "a", UID: 5, GID: 5, Home: "/a"}, {Name: "b", UID: 5, GID: 5, Home: "/b"}}); err != nil {
		t.Errorf("duplicate uid rejected: %v", err)
	}
}

func TestTmp(t *testing.T) {
	files := Tmp()
	if len(files) != 1 || files[0].Path != "/tmp" || files[0].Mode != fs.ModeDir|fs.ModeSticky|0o777 {
		t.Errorf("Tmp() = %+v", files)
	}
}

func TestNixWritable(t *testing.T) {
	files, err := NixWritable(1000, 100, "/nix/var/nix/profiles/per-user/app")
	if err != nil {
		t.Fatal(err)
	}
	m := byPath(files)
	for _, p := range []string{"/nix/var/nix", "/nix/var/nix/db", "/nix/var/nix/gcroots", "/nix/var/nix/profiles/per-user/app"} {
		f, ok := m[p]
		if !ok || f.UID != 1000 || f.GID != 100 || f.Mode != fs.ModeDir|0o755 {
			t.Errorf("%s = %+v (present %v), want dir 0755 1000:100", p, f, ok)
		}
	}
	for _, p := range []string{"/nix", "/nix/store"} {
		if _, ok := m[p]; ok {
			t.Errorf("%s must be left to package layer", p)
		}
	}
	if _, err := NixWritable(1, 1, "relative"); err == nil {
		t.Errorf("relative dir accepted")
	}
}
