package fsmode

import (
	"io/fs"
	"testing"
)

func TestRoundTrip(t *testing.T) {
	for _, u := range []uint32{0, 0o644, 0o755, 0o4755, 0o2711, 0o1777, 0o7777} {
		m := FromUnix(u)
		if m&0o7000 != 0 {
			t.Errorf("FromUnix(%o) = %v keeps raw special bits", u, m)
		}
		if got := ToUnix(m); got != u {
			t.Errorf("ToUnix(FromUnix(%o)) = %o", u, got)
		}
	}
	if FromUnix(0o4755) != fs.ModeSetuid|0o755 || FromUnix(0o1777) != fs.ModeSticky|0o777 {
		t.Errorf("FromUnix special bits: %v %v", FromUnix(0o4755), FromUnix(0o1777))
	}
	// Raw Unix special bits in an fs.FileMode are understood too, and the
	// type bits never leak into the result.
	if got := ToUnix(fs.ModeDir | 0o2755); got != 0o2755 {
		t.Errorf("ToUnix(dir|0o2755) = %o", got)
	}
	if got := ToUnix(fs.ModeSymlink | fs.ModeSetgid | 0o777); got != 0o2777 {
		t.Errorf("ToUnix(symlink|setgid|0777) = %o", got)
	}
}
