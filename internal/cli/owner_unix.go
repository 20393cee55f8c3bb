//go:build unix

package cli

import (
	"errors"
	"os"
	"syscall"
)

// chownToDir gives f, when we run as root, the owner of the directory it
// is in: the action runs as root in its container, the workspace belongs
// to the runner's user, and a root-owned file there is one the user's
// later steps cannot rewrite. It is a courtesy, not a requirement: where
// root may not give files away (a user namespace that does not map the
// directory's owner: EINVAL/EPERM), the file stays root's, readable by all.
func chownToDir(f *os.File, dir string) error {
	if os.Geteuid() != 0 {
		return nil
	}
	info, err := os.Stat(dir)
	if err != nil {
		return err
	}
	st, ok := info.Sys().(*syscall.Stat_t)
	if !ok || st.Uid == 0 && st.Gid == 0 {
		return nil
	}
	if err := f.Chown(int(st.Uid), int(st.Gid)); err != nil && !errors.Is(err, syscall.EINVAL) && !errors.Is(err, syscall.EPERM) {
		return err
	}
	return nil
}
