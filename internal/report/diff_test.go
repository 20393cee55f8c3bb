package report

import (
	"sort"
	"strings"
	"testing"
)

func TestNewPackage(t *testing.T) {
	p := NewPackage(PathSize{Path: "/nix/store/0c2ljyg2j3hbb4xmz3ln8c7fdvhbk4xd-openssl-3.0.13-dev"})
	if p.Name != "openssl" || p.Version != "3.0.13" || p.Output != "dev" {
		t.Errorf("NewPackage(openssl-3.0.13-dev) = %+v", p)
	}
	p = NewPackage(PathSize{Path: "/nix/store/0c2ljyg2j3hbb4xmz3ln8c7fdvhbk4xd-glibc-2.39-52"})
	if p.Version != "2.39-52" || p.Output != "" {
		t.Errorf("\"52\" is not an output: %+v", p)
	}
}

func TestCompareVersions(t *testing.T) {
	ordered := []string{"1.0pre1", "1.0", "1.0a", "1.0.1", "1.9", "1.10", "2.9.0", "2.10.0", "10"}
	for i := 0; i+1 < len(ordered); i++ {
		a, b := ordered[i], ordered[i+1]
		if compareVersions(a, b) >= 0 || compareVersions(b, a) <= 0 {
			t.Errorf("want %q < %q", a, b)
		}
	}
	if compareVersions("2.39-52", "2.39-52") != 0 || compareVersions("01", "1") != 0 {
		t.Error("equal versions compare unequal")
	}
	shuffled := []string{"10", "1.9", "2.10.0", "1.0", "2.9.0", "1.10", "1.0pre1", "1.0.1", "1.0a"}
	sort.Slice(shuffled, func(i, j int) bool { return compareVersions(shuffled[i], shuffled[j]) < 0 })
	if strings.Join(shuffled, " ") != strings.Join(ordered, " ") {
		t.Errorf("sorted = %v", shuffled)
	}
}

const h1, h2, h3 = "0c2ljyg2j3hbb4xmz3ln8c7fdvhbk4xd", "1a2ljyg2j3hbb4xmz3ln8c7fdvhbk4xd", "2b2ljyg2j3hbb4xmz3ln8c7fdvhbk4xd"

func sp(hash, name string, size int64) PathSize {
	return PathSize{Path: "/nix/store/" + hash + "-" + name, NarSize: size}
}

func TestComputeDiff(t *testing.T) {
	prev := []LayerPaths{
		{Name: "base", Key: "k-base", Paths: []PathSize{sp(h1, "glibc-2.39-52", 30), sp(h1, "bash-5.2p26", 10)}},
		{Name: "ml", Key: "k-ml-old", Paths: []PathSize{
			sp(h1, "torch-2.9.0", 1000), sp(h1, "python3.11-numpy-1.26.4", 50),
			sp(h1, "openssl-3.0.13", 5), sp(h1, "openssl-3.0.13-dev", 2),
			sp(h1, "oldlib-1.0", 7), sp(h1, "zlib-1.3.1", 1)}},
		{Name: "gone", Key: "k-gone", Paths: []PathSize{sp(h1, "legacy-0.1", 4)}},
	}
	next := []LayerPaths{
		{Name: "base", Key: "k-base", Paths: prev[0].Paths},
		{Name: "ml", Key: "k-ml-new", Paths: []PathSize{
			sp(h2, "torch-2.10.0", 1200), sp(h1, "python3.11-numpy-1.26.4", 50),
			sp(h2, "openssl-3.0.14", 5), sp(h2, "openssl-3.0.14-dev", 3),
			sp(h2, "newlib-2.0", 9), sp(h2, "zlib-1.3.1", 1)}},
		{Name: "app", Key: "k-app", Paths: []PathSize{sp(h3, "app-1.0", 20)}},
	}
	d := ComputeDiff(prev, next)
	if !d.HasPrevious {
		t.Error("HasPrevious = false")
	}
	var names []string
	byName := map[string]LayerDiff{}
	for _, l := range d.Layers {
		names = append(names, l.Name+":"+l.State)
		byName[l.Name] = l
	}
	if got := strings.Join(names, " "); got != "base:unchanged ml:rebuilt app:added gone:removed" {
		t.Fatalf("layers = %s", got)
	}
	if b := byName["base"]; b.Rebuilt || len(b.Added)+len(b.Removed)+len(b.Changed) != 0 || b.SizeDelta != 0 {
		t.Errorf("base should be unchanged: %+v", b)
	}
	ml := byName["ml"]
	if !ml.Rebuilt || ml.SizeDelta != (1200+50+5+3+9+1)-(1000+50+5+2+7+1) {
		t.Errorf("ml: rebuilt=%v delta=%d", ml.Rebuilt, ml.SizeDelta)
	}
	var changes []string
	for _, c := range ml.Changed {
		changes = append(changes, c.Name+"/"+c.Output+":"+c.OldVersion+"->"+c.NewVersion)
	}
	// zlib has the same version but a new store path (different inputs).
	want := "openssl/:3.0.13->3.0.14 openssl/dev:3.0.13->3.0.14 torch/:2.9.0->2.10.0 zlib/:1.3.1->1.3.1"
	if got := strings.Join(changes, " "); got != want {
		t.Errorf("changed = %s\nwant      %s", got, want)
	}
	if len(ml.Added) != 1 || ml.Added[0].Name != "newlib" || len(ml.Removed) != 1 || ml.Removed[0].Name != "oldlib" {
		t.Errorf("added=%+v removed=%+v", ml.Added, ml.Removed)
	}
	for _, c := range ml.Changed {
		if c.Name == "torch" && c.SizeDelta != 200 {
			t.Errorf("torch delta = %d", c.SizeDelta)
		}
	}
	if app := byName["app"]; !app.Rebuilt || len(app.Added) != 1 || app.NewSize != 20 {
		t.Errorf("app = %+v", app)
	}
	if g := byName["gone"]; g.Rebuilt || len(g.Removed) != 1 || g.SizeDelta != -4 {
		t.Errorf("gone = %+v", g)
	}
	if d.Rebuilt() != 2 {
		t.Errorf("Rebuilt() = %d", d.Rebuilt())
	}
	if d.SizeDelta != d.NewSize-d.OldSize || d.NewSize != 40+1268+20 || d.OldSize != 40+1065+4 {
		t.Errorf("totals old=%d new=%d delta=%d", d.OldSize, d.NewSize, d.SizeDelta)
	}
}

func TestComputeDiffNoPrevious(t *testing.T) {
	d := ComputeDiff(nil, []LayerPaths{{Name: "a", Key: "k", Paths: []PathSize{sp(h1, "a-1", 3)}}})
	if d.HasPrevious || len(d.Layers) != 1 || d.Layers[0].State != LayerAdded || !d.Layers[0].Rebuilt {
		t.Errorf("diff = %+v", d)
	}
}

func TestComputeDiffMultipleVersions(t *testing.T) {
	// Two versions of one package on each side pair up in version order.
	prev := []LayerPaths{{Name: "x", Key: "1", Paths: []PathSize{sp(h1, "gcc-13.2.0-lib", 1), sp(h1, "gcc-9.5.0-lib", 1)}}}
	next := []LayerPaths{{Name: "x", Key: "2", Paths: []PathSize{sp(h2, "gcc-13.3.0-lib", 1), sp(h2, "gcc-10.5.0-lib", 1)}}}
	d := ComputeDiff(prev, next)
	var got []string
	for _, c := range d.Layers[0].Changed {
		got = append(got, c.OldVersion+"->"+c.NewVersion)
	}
	if strings.Join(got, " ") != "9.5.0->10.5.0 13.2.0->13.3.0" {
		t.Errorf("pairs = %v", got)
	}
}
