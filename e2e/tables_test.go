package e2e

// plan and build print the same size for every layer (NAR SIZE), root
// layer included, and their summaries count layers the same way.

import (
	"encoding/json"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
)

// narColumn maps each layer row of a plan or build table (#, name, paths,
// NAR SIZE, …) to its NAR SIZE ("1.9 MiB", or "-").
func narColumn(table string) map[string]string {
	out := map[string]string{}
	for _, l := range strings.Split(table, "\n")[1:] {
		f := strings.Fields(l)
		if len(f) < 4 || f[1] == "layers" || f[1] == "layer" || f[0] != "-" && (f[0][0] < '0' || f[0][0] > '9') {
			continue
		}
		if f[3] == "-" || len(f) < 5 {
			out[f[1]] = f[3]
		} else {
			out[f[1]] = f[3] + " " + f[4]
		}
	}
	return out
}

func TestE2EPlanAndBuildAgreeOnSizes(t *testing.T) {
	plan := quickstartPlan(t)
	body, err := os.ReadFile(plan)
	if err != nil {
		t.Fatal(err)
	}
	// A root layer of files only (users, /tmp).
	withRoot := filepath.Join(filepath.Dir(plan), "with-root.yaml")
	if err := os.WriteFile(withRoot, append(body, []byte("tmp: true\nusers: [{name: app, uid: 1000, home: /home/app}]\n")...), 0o644); err != nil {
		t.Fatal(err)
	}
	for _, p := range []string{plan, withRoot} {
		planOut, _, err := runCLI(t, nil, "plan", "--plan", p, "--json")
		if err != nil {
			t.Fatal(err)
		}
		var pj planJSON
		if err := json.Unmarshal([]byte(planOut), &pj); err != nil {
			t.Fatal(err)
		}
		rep := filepath.Join(t.TempDir(), "r.json")
		buildOut, stderr, err := runCLI(t, nil, "build", "--plan", p, "--output", "oci:"+filepath.Join(t.TempDir(), "o"), "--report", rep)
		if err != nil {
			t.Fatalf("%v\n%s", err, stderr)
		}
		var r struct {
			Layers []struct {
				Name    string `json:"name"`
				NarSize int64  `json:"narSize"`
			} `json:"layers"`
		}
		data, _ := os.ReadFile(rep)
		if err := json.Unmarshal(data, &r); err != nil {
			t.Fatal(err)
		}
		built := map[string]int64{}
		for _, l := range r.Layers {
			built[l.Name] = l.NarSize
		}
		for _, l := range pj.Layers {
			if built[l.Name] != l.NarSize {
				t.Errorf("%s: layer %s: plan narSize %d, build report narSize %d", filepath.Base(p), l.Name, l.NarSize, built[l.Name])
			}
		}
		if p == withRoot && built["root"] == 0 {
			t.Errorf("the root layer of files has no size in the report")
		}
		// The text tables too.
		planText, _, _ := runCLI(t, nil, "plan", "--plan", p)
		pt, bt := narColumn(planText), narColumn(buildOut)
		if len(pt) < 3 {
			t.Fatalf("no rows read from the plan table:\n%s", planText)
		}
		for name, v := range pt {
			if bt[name] != v {
				t.Errorf("%s: layer %s: plan prints NAR SIZE %q, build %q\nplan:\n%s\nbuild:\n%s", filepath.Base(p), name, v, bt[name], planText, buildOut)
			}
		}
		// One vocabulary: the summary counts with the rows' status words.
		if !regexp.MustCompile(`in \d+ layers? \(built \d+\)`).MatchString(buildOut) || strings.Contains(buildOut, "cached") {
			t.Errorf("summary line miscounts a local build:\n%s", buildOut)
		}
	}
}
