package closure

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"time"
)

// missingSourceRE matches Nix failing to read a file of a flake's source
// copy: "getting status of '/nix/store/…-source/flake.nix': No such file
// or directory" (Nix 2.8), "path '/nix/store/…-source/x.nix' does not
// exist" (later Nix).
var missingSourceRE = regexp.MustCompile(`'/[^']*/[0-9a-df-np-sv-z]{32}-source/([^']+)'[^\n]*(No such file or directory|does not exist)`)

// AddGitHint explains, in the *NixError inside err, a flake file Nix says
// does not exist when the flake (in dir) lives in a git repository and
// that file is not tracked: Nix copies only tracked files. err is returned.
func AddGitHint(err error, dir string) error {
	var ne *NixError
	if !errors.As(err, &ne) || ne.Hint != "" || dir == "" {
		return err
	}
	m := missingSourceRE.FindStringSubmatch(ne.Stderr)
	if m == nil {
		return err
	}
	ne.Hint = gitHint(dir, m[1])
	return err
}

// gitHint is the hint for file rel (relative to the repository root)
// missing from the source copy of the flake in dir; "" outside a git
// repository or when git tracks rel.
func gitHint(dir, rel string) string {
	root := gitRoot(dir)
	if root == "" {
		return ""
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if _, err := exec.LookPath("git"); err != nil {
		return fmt.Sprintf("the flake is in a git repository (%s): Nix reads only the files git tracks; `git add` the new files (no commit needed)", root)
	}
	if exec.CommandContext(ctx, "git", "-C", root, "ls-files", "--error-unmatch", "--", rel).Run() == nil {
		return "" // tracked: something else is wrong
	}
	hint := fmt.Sprintf("the flake is in a git repository (%s): Nix reads only the files git tracks, and %s is not tracked; run `git add %s` (no commit needed)", root, rel, rel)
	if others := untracked(ctx, root, rel); len(others) > 0 {
		hint += "; also untracked: " + strings.Join(others, ", ")
	}
	return hint
}

// gitRoot is the directory at or above dir holding .git, or "".
func gitRoot(dir string) string {
	for d := filepath.Clean(dir); ; d = filepath.Dir(d) {
		if _, err := os.Lstat(filepath.Join(d, ".git")); err == nil {
			return d
		}
		if filepath.Dir(d) == d {
			return ""
		}
	}
}

// untracked lists up to 5 other untracked, not ignored files of the
// repository.
func untracked(ctx context.Context, root, except string) []string {
	out, err := exec.CommandContext(ctx, "git", "-C", root, "ls-files", "--others", "--exclude-standard").Output()
	if err != nil {
		return nil
	}
	var files []string
	for _, f := range strings.Split(strings.TrimSpace(string(out)), "\n") {
		if f != "" && f != except {
			files = append(files, f)
		}
	}
	if len(files) > 5 {
		files = append(files[:5], fmt.Sprintf("… %d more", len(files)-5))
	}
	return files
}
