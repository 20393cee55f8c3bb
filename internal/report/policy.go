package report

import (
	"errors"
	"fmt"
	"math/big"
	"strings"

	"github.com/org/nix-layer-action/internal/bytesize"
)

// Policy rules.
const (
	RuleMaxLayerSize = "max-layer-size"
	RuleMaxGrowth    = "max-growth"
)

// PolicyError is a violated policy gate.
type PolicyError struct {
	Rule  string // RuleMaxLayerSize or RuleMaxGrowth
	Layer string // offending layer (max-layer-size), or the layer that grew most (max-growth)
	Size  int64  // layer size, or image growth in bytes
	Limit int64  // the limit in bytes
	Msg   string
}

func (e *PolicyError) Error() string { return e.Msg }

// Growth is a parsed max-growth setting: either a percentage of the previous
// image size or an absolute number of bytes.
type Growth struct {
	Percent   *big.Rat // non-nil for "+20%"
	Bytes     int64    // for "+500MB"
	Raw       string
	Unlimited bool // empty setting
}

// ParseGrowth parses "+20%", "20%", "+1.5%", "+500MB", "2GiB". Empty means
// no limit.
func ParseGrowth(s string) (Growth, error) {
	in := strings.TrimSpace(s)
	g := Growth{Raw: in}
	if in == "" {
		g.Unlimited = true
		return g, nil
	}
	v := strings.TrimPrefix(in, "+")
	if strings.HasPrefix(v, "-") {
		return g, fmt.Errorf("invalid max-growth %q: must not be negative", s)
	}
	if p, ok := strings.CutSuffix(v, "%"); ok {
		r, ok := new(big.Rat).SetString(strings.TrimSpace(p))
		if !ok || r.Sign() < 0 || strings.ContainsAny(p, "/eE") {
			return g, fmt.Errorf("invalid max-growth %q: expected a percentage like +20%%", s)
		}
		g.Percent = r
		return g, nil
	}
	n, err := bytesize.Parse(v)
	if err != nil {
		return g, fmt.Errorf("invalid max-growth %q (use +20%% or +500MB): %w", s, err)
	}
	g.Bytes = n
	return g, nil
}

// Limit returns the allowed growth in bytes for a previous image of the given
// size.
func (g Growth) Limit(previous int64) int64 {
	if g.Percent == nil {
		return g.Bytes
	}
	r := new(big.Rat).Mul(g.Percent, new(big.Rat).SetInt64(previous))
	r.Quo(r, big.NewRat(100, 1))
	q := new(big.Int).Quo(r.Num(), r.Denom())
	if !q.IsInt64() {
		return 1<<63 - 1
	}
	return q.Int64()
}

// CheckPolicy applies the policy gates: every layer's compressed size must be
// at most maxLayerSize (0 = no limit), and the image may grow by at most
// maxGrowth relative to the previous image (skipped when there is no
// previous image). Violations are returned as *PolicyError (joined when there
// are several); a malformed maxGrowth is a plain error.
func CheckPolicy(r *Report, maxLayerSize int64, maxGrowth string) error {
	g, err := ParseGrowth(maxGrowth)
	if err != nil {
		return err
	}
	var errs []error
	if maxLayerSize > 0 {
		for _, l := range r.Layers {
			if l.Empty || l.Size <= maxLayerSize {
				continue
			}
			errs = append(errs, &PolicyError{
				Rule: RuleMaxLayerSize, Layer: l.Name, Size: l.Size, Limit: maxLayerSize,
				Msg: fmt.Sprintf("layer %q is %s compressed (%d bytes), over max-layer-size %s (%d bytes); split it in the plan or set max-size",
					l.Name, bytesize.Format(l.Size), l.Size, bytesize.Format(maxLayerSize), maxLayerSize),
			})
		}
	}
	if !g.Unlimited && r.PreviousSize > 0 {
		total := r.TotalSize()
		growth := total - r.PreviousSize
		limit := g.Limit(r.PreviousSize)
		if growth > limit {
			msg := fmt.Sprintf("image grew by %s (%s → %s, %s), over max-growth %s (%s)",
				bytesize.FormatSigned(growth), bytesize.Format(r.PreviousSize), bytesize.Format(total),
				percent(growth, r.PreviousSize), g.Raw, bytesize.FormatSigned(limit))
			layer, delta := largestGrowth(r)
			if layer != "" {
				msg += fmt.Sprintf("; largest growth: layer %q %s", layer, bytesize.FormatSigned(delta))
			}
			errs = append(errs, &PolicyError{Rule: RuleMaxGrowth, Layer: layer, Size: growth, Limit: limit, Msg: msg})
		}
	}
	return errors.Join(errs...)
}

func percent(delta, base int64) string {
	if base <= 0 {
		return "n/a"
	}
	r := new(big.Rat).SetFrac64(delta*100, base)
	f, _ := r.Float64()
	return fmt.Sprintf("%+.1f%%", f)
}

// largestGrowth names the layer whose compressed size grew most (a layer
// without a previous counterpart grows by its whole size).
func largestGrowth(r *Report) (string, int64) {
	var name string
	var best int64
	for _, l := range r.Layers {
		if l.Empty {
			continue
		}
		d := l.Size
		if l.Previous != nil {
			d -= l.Previous.Size
		}
		if d > best {
			name, best = l.Name, d
		}
	}
	return name, best
}
