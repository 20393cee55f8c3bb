package report

import (
	"fmt"
	"io"
	"strings"

	"github.com/org/nix-layer-action/internal/bytesize"
)

// PRCommentMarker is the hidden marker that identifies the sticky comment.
const PRCommentMarker = "<!-- nix-layer-action:pr-comment -->"

// PRCommentMarkerFor is the marker of the sticky comment for one platform
// of a build matrix, so each platform's job keeps its own comment
// (PRCommentMarker when platform is "").
func PRCommentMarkerFor(platform string) string {
	if platform == "" {
		return PRCommentMarker
	}
	return "<!-- nix-layer-action:pr-comment:" + strings.ReplaceAll(platform, "-", "") + " -->"
}

// PRCommentLimit is GitHub's maximum comment body length (characters).
const PRCommentLimit = 65536

// PRCommentOptions tune the PR comment.
type PRCommentOptions struct {
	Image          string   // the image compared against (tag or ref)
	Platform       string   // set in a build matrix: one sticky comment per platform
	PreviousDigest string   // digest of the published image, if known
	Notes          []string // extra lines (policy results, …), written before the details
	MaxBytes       int      // 0 = PRCommentLimit minus a margin
	MaxItems       int      // per-layer list limit; 0 = 50
}

// PRComment writes the package diff as Markdown for a sticky PR comment. The
// body starts with PRCommentMarker and stays below the size limit: package
// lists are truncated with "… and N more"; the summary table is kept.
func PRComment(w io.Writer, d *Diff, o PRCommentOptions) error {
	if _, err := io.WriteString(w, renderPRComment(d, o)); err != nil {
		return fmt.Errorf("report: writing PR comment: %w", err)
	}
	return nil
}

func renderPRComment(d *Diff, o PRCommentOptions) string {
	limit := o.MaxBytes
	if limit <= 0 {
		limit = PRCommentLimit - 1024
	}
	maxItems := o.MaxItems
	if maxItems <= 0 {
		maxItems = 50
	}
	var head strings.Builder
	head.WriteString(PRCommentMarkerFor(o.Platform) + "\n")
	head.WriteString("### Nix layer diff")
	if o.Image != "" {
		head.WriteString(" for `" + mdCode(o.Image) + "`")
	}
	if o.Platform != "" {
		head.WriteString(" (" + mdText(o.Platform) + ")")
	}
	head.WriteString("\n\n")
	if d == nil {
		head.WriteString("No diff available.\n")
		return head.String()
	}
	if !d.HasPrevious {
		head.WriteString(NoPreviousLine(o.Image, d) + "\n")
		return head.String()
	}
	against := "the published image"
	if o.PreviousDigest != "" {
		against = "`" + mdCode(ShortDigest(o.PreviousDigest)) + "`"
	}
	fmt.Fprintf(&head, "Compared with %s: **%d of %s** would be rebuilt, store size %s (%s → %s).\n\n",
		against, d.Rebuilt(), plural(len(d.Layers), "layer"), bytesize.FormatSigned(d.SizeDelta), bytesize.Format(d.OldSize), bytesize.Format(d.NewSize))
	if c := d.Compression; c != nil {
		head.WriteString(compressionNote(c) + "\n\n")
	}
	for _, n := range o.Notes {
		head.WriteString("> " + mdText(truncate(n, 2000)) + "\n")
	}
	if len(o.Notes) > 0 {
		head.WriteString("\n")
	}

	const tableHead = "| Layer | State | Added | Removed | Changed | Δ size |\n|:--|:--|--:|--:|--:|--:|\n"
	var table strings.Builder
	table.WriteString(tableHead)
	budget := limit - head.Len() - len(tableHead) - truncationReserve
	all := make([]string, len(d.Layers))
	for i, l := range d.Layers {
		all[i] = fmt.Sprintf("| `%s` | %s | %d | %d | %d | %s |\n", mdCode(l.Name), l.stateText(),
			len(l.Added), len(l.Removed), len(l.Changed), bytesize.FormatSigned(l.SizeDelta))
	}
	shown, budget := fitRows(&table, all, budget)
	if shown < len(d.Layers) {
		fmt.Fprintf(&table, "| … and %d more | | | | | |\n", len(d.Layers)-shown)
	}

	var details strings.Builder
	for i, l := range d.Layers {
		if len(l.Added)+len(l.Removed)+len(l.Changed) == 0 {
			continue
		}
		var sec strings.Builder
		fmt.Fprintf(&sec, "\n#### `%s` (%s, %s)\n\n", mdCode(l.Name), l.stateText(), bytesize.FormatSigned(l.SizeDelta))
		if sec.Len()+details.Len() > budget {
			fmt.Fprintf(&details, "\n*… details of %s not shown*\n", plural(len(d.Layers)-i, "more layer"))
			break
		}
		items := layerItems(l)
		for j, it := range items {
			if j >= maxItems || details.Len()+sec.Len()+len(it) > budget {
				fmt.Fprintf(&sec, "- … and %d more\n", len(items)-j)
				break
			}
			sec.WriteString(it)
		}
		details.WriteString(sec.String())
	}
	return head.String() + table.String() + details.String()
}

func layerItems(l LayerDiff) []string {
	var items []string
	for _, c := range l.Changed {
		name := pkgLabel(c.Name, c.Output)
		if c.OldVersion == c.NewVersion {
			items = append(items, fmt.Sprintf("- 🔁 %s %s rebuilt (%s)\n", name, mdText(orDash(c.NewVersion)), bytesize.FormatSigned(c.SizeDelta)))
			continue
		}
		items = append(items, fmt.Sprintf("- ⬆️ %s %s → %s (%s)\n", name,
			mdText(orDash(c.OldVersion)), mdText(orDash(c.NewVersion)), bytesize.FormatSigned(c.SizeDelta)))
	}
	for _, p := range l.Added {
		items = append(items, fmt.Sprintf("- ➕ %s %s (%s)\n", pkgLabel(p.Name, p.Output), mdText(orDash(p.Version)), bytesize.Format(p.NarSize)))
	}
	for _, p := range l.Removed {
		items = append(items, fmt.Sprintf("- ➖ %s %s (%s)\n", pkgLabel(p.Name, p.Output), mdText(orDash(p.Version)), bytesize.Format(p.NarSize)))
	}
	return items
}

func pkgLabel(name, output string) string {
	s := "`" + mdCode(name) + "`"
	if output != "" {
		s += " (" + mdText(output) + ")"
	}
	return s
}

func orDash(s string) string {
	if s == "" {
		return "–"
	}
	return s
}

// stateText is the layer's state with the reason it is rebuilt, if any:
// "rebuilt (compression zstd → gzip)".
func (l LayerDiff) stateText() string {
	if l.Reason == "" {
		return l.State
	}
	return l.State + " (" + mdText(l.Reason) + ")"
}

// compressionNote says why layers are rebuilt when the compared image is
// in another compression than the plan.
func compressionNote(c *CompressionChange) string {
	return fmt.Sprintf("**The published image's layers are %s and the plan's %s**, and the compression is part of every layer key, so %s with no package changed would be rebuilt. Build in %s to reuse them.",
		mdText(c.From), mdText(c.To), plural(c.Layers, "layer"), mdText(c.From))
}

// NoPreviousLine is the whole diff when nothing is published at image:
// one line, rather than every layer listed as new.
func NoPreviousLine(image string, d *Diff) string {
	what := "No image is published"
	if image != "" {
		what = "No image is published at `" + mdCode(image) + "`"
	}
	return fmt.Sprintf("%s (no such tag or repository), so there is nothing to compare with: every layer of the plan (%d) would be new.", what, len(d.Layers))
}
