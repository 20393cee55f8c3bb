package report

import (
	"errors"
	"strings"
	"testing"
)

func TestCheckPolicyLayerSize(t *testing.T) {
	r := sampleReport() // base 700 MiB, python 250 MiB, app 50 MiB
	err := CheckPolicy(r, 500<<20, "")
	var pe *PolicyError
	if !errors.As(err, &pe) {
		t.Fatalf("want *PolicyError, got %v", err)
	}
	if pe.Rule != RuleMaxLayerSize || pe.Layer != "base" || pe.Size != 700<<20 || pe.Limit != 500<<20 {
		t.Errorf("error = %+v", pe)
	}
	if !strings.Contains(err.Error(), `layer "base" is 700.0 MiB`) {
		t.Errorf("message does not name the layer: %v", err)
	}
	if err := CheckPolicy(r, 700<<20, ""); err != nil {
		t.Errorf("exactly at the limit is allowed: %v", err)
	}
	if err := CheckPolicy(r, 0, ""); err != nil {
		t.Errorf("0 = no limit: %v", err)
	}
	// Two layers over the limit: both named.
	err = CheckPolicy(r, 100<<20, "")
	if !strings.Contains(err.Error(), `"base"`) || !strings.Contains(err.Error(), `"python"`) || strings.Contains(err.Error(), `"app"`) {
		t.Errorf("got %v", err)
	}
}

func TestCheckPolicyGrowth(t *testing.T) {
	r := sampleReport()
	r.PreviousSize = 800 << 20 // image is 1000 MiB now: +25%
	cases := []struct {
		growth string
		fail   bool
	}{
		{"+20%", true}, {"25%", false}, {"+24.9%", true}, {"+30%", false},
		{"+200MiB", false}, {"+199MiB", true}, {"+1GB", false}, {"", false},
	}
	for _, c := range cases {
		err := CheckPolicy(r, 0, c.growth)
		if (err != nil) != c.fail {
			t.Errorf("max-growth %q: err = %v, want failure %v", c.growth, err, c.fail)
			continue
		}
		if err == nil {
			continue
		}
		var pe *PolicyError
		if !errors.As(err, &pe) || pe.Rule != RuleMaxGrowth || pe.Size != 200<<20 {
			t.Errorf("max-growth %q: %+v", c.growth, pe)
		}
		// app is new (+50 MiB), python +10 MiB: app grew most.
		if pe.Layer != "app" || !strings.Contains(err.Error(), `layer "app" +50.0 MiB`) || !strings.Contains(err.Error(), "+25.0%") {
			t.Errorf("max-growth %q: message %q", c.growth, err)
		}
	}
	r.PreviousSize = 0 // no previous image: nothing to compare
	if err := CheckPolicy(r, 0, "+1%"); err != nil {
		t.Errorf("no previous image: %v", err)
	}
}

func TestParseGrowth(t *testing.T) {
	for _, bad := range []string{"-5%", "abc", "+%", "5 parsecs", "1/2%", "1e3%"} {
		if _, err := ParseGrowth(bad); err == nil {
			t.Errorf("ParseGrowth(%q) accepted", bad)
		}
	}
	if err := CheckPolicy(sampleReport(), 0, "lots"); err == nil || !strings.Contains(err.Error(), "max-growth") {
		t.Errorf("bad growth setting: %v", err)
	}
	g, err := ParseGrowth("+10%")
	if err != nil || g.Limit(1000) != 100 {
		t.Errorf("+10%% of 1000 = %d, %v", g.Limit(1000), err)
	}
	g, err = ParseGrowth("+500MB")
	if err != nil || g.Limit(1) != 500_000_000 {
		t.Errorf("+500MB = %d, %v", g.Limit(1), err)
	}
}
