package layer

import (
	"os"
	"testing"
)

// A NAR records only the executable bit, so the layer (whose key is built
// from NAR hashes) must not depend on other mode bits of the host tree: a
// checkout's umask, or a tree copied by hand, gives the same bytes.
func TestStoreModesAreCanonical(t *testing.T) {
	digest := func(fileMode, exeMode, dirMode os.FileMode) string {
		root := t.TempDir()
		p := storePath('m', "modes")
		mkdir(t, root, p, dirMode)
		mkdir(t, root, p+"/lib", dirMode)
		mkfile(t, root, p+"/lib/data", "data", fileMode)
		mkfile(t, root, p+"/lib/run", "#!run", exeMode)
		b := build(t, Spec{Paths: sp(p)}, root, Options{})
		es := readLayer(t, b)
		if e := byName(t, es, p[1:]+"/lib/data"); e.hdr.Mode != 0o444 {
			t.Errorf("file mode %o, want 0444", e.hdr.Mode)
		}
		if e := byName(t, es, p[1:]+"/lib/run"); exeMode&0o111 != 0 && e.hdr.Mode != 0o555 {
			t.Errorf("executable mode %o, want 0555", e.hdr.Mode)
		}
		d, err := b.Digest()
		if err != nil {
			t.Fatal(err)
		}
		return d.String()
	}
	store := digest(0o444, 0o555, 0o555) // as Nix leaves a store path
	for _, m := range [][3]os.FileMode{{0o644, 0o755, 0o755}, {0o664, 0o775, 0o775}, {0o600, 0o700, 0o700}} {
		if got := digest(m[0], m[1], m[2]); got != store {
			t.Errorf("modes %o: digest %s, want the store's %s", m, got, store)
		}
	}
	// The executable bit is content (the NAR hash changes with it).
	if got := digest(0o444, 0o444, 0o555); got == store {
		t.Error("dropping the executable bit did not change the digest")
	}
}
