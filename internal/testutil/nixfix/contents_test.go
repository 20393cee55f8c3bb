package nixfix

import (
	"fmt"
	"strings"
	"testing"
)

// TestContentsFlakeNix checks the contents flake renders every package, the
// default version, and a version override for exactly the named attribute.
func TestContentsFlakeNix(t *testing.T) {
	def := ContentsFlakeNix(nil)
	for i := 1; i <= ContentsPaks; i++ {
		if want := fmt.Sprintf(`pk%[1]d = mk "pk%[1]d-1.0"`, i); !strings.Contains(def, want) {
			t.Errorf("flake lacks %q", want)
		}
		if want := fmt.Sprintf(" ${pk%d}", i); !strings.Contains(def, want) {
			t.Errorf("suite does not reference pk%d", i)
		}
	}
	for _, attr := range []string{"busybox =", "env =", "env2 =", `app = mk "app-1.0"`, "suite ="} {
		if !strings.Contains(def, attr) {
			t.Errorf("flake lacks %q", attr)
		}
	}
	changed := ContentsFlakeNix(map[string]string{"pk3": "1.1", "app": "2.0"})
	for _, want := range []string{`pk3 = mk "pk3-1.1"`, `"pk3 1.1 payload"`, `app = mk "app-2.0"`, `pk2 = mk "pk2-1.0"`} {
		if !strings.Contains(changed, want) {
			t.Errorf("overridden flake lacks %q", want)
		}
	}
	if ContentsFlakeNix(nil) != def {
		t.Error("ContentsFlakeNix is not deterministic")
	}
}
