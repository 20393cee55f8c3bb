package report

import (
	"fmt"
	"io"
	"strings"

	"github.com/org/nix-layer-action/internal/bytesize"
)

// SummaryLimit is GitHub's limit for one step's job summary (1 MiB).
const SummaryLimit = 1 << 20

// MarkdownOptions tune the job summary.
type MarkdownOptions struct {
	// MaxBytes bounds the output; 0 means SummaryLimit minus a safety
	// margin. Path lists and table rows are truncated to fit; the totals,
	// digest and package link are always written.
	MaxBytes int
	// MaxPathsPerLayer bounds each layer's path list in the details
	// section; 0 means 100, negative means no path lists.
	MaxPathsPerLayer int
	// Title overrides the heading text.
	Title string
}

func (o MarkdownOptions) maxBytes() int {
	if o.MaxBytes > 0 {
		return o.MaxBytes
	}
	return SummaryLimit - 16<<10
}

// Markdown writes the job summary: a GFM table with one row per layer, the
// totals, the digest and a link to the package, then the store paths of each
// layer in a collapsed section. Options are optional (at most one is used).
func (r *Report) Markdown(w io.Writer, opts ...MarkdownOptions) error {
	var o MarkdownOptions
	if len(opts) > 0 {
		o = opts[0]
	}
	s := r.renderMarkdown(o)
	if _, err := io.WriteString(w, s); err != nil {
		return fmt.Errorf("report: writing Markdown: %w", err)
	}
	return nil
}

const truncationReserve = 256 // room for "… N more" lines

func (r *Report) renderMarkdown(o MarkdownOptions) string {
	title := o.Title
	if title == "" {
		title = "nix-layer-action"
		if r.Image != "" {
			title += ": `" + mdCode(r.Image) + "`"
		}
		if r.Platform != "" {
			title += " (" + mdText(r.Platform) + ")"
		}
		if r.Shard != "" {
			title += ", shard " + mdText(r.Shard)
		}
	}
	head := "### " + title + "\n\n"

	tableHead := "| # | Layer | Store paths | Uncompressed | Compressed | Δ vs previous | Status |\n" +
		"|--:|:------|------------:|-------------:|-----------:|--------------:|:-------|\n"

	tail := r.mdTotals() + r.mdDigest()

	budget := o.maxBytes() - len(head) - len(tableHead) - len(tail) - truncationReserve

	all := make([]string, len(r.Layers))
	for i, l := range r.Layers {
		all[i] = r.mdRow(i, l)
	}
	var rows strings.Builder
	shown, budget := fitRows(&rows, all, budget)
	if shown < len(r.Layers) {
		fmt.Fprintf(&rows, "| … | *%s not shown (summary size limit)* | | | | | |\n", plural(len(r.Layers)-shown, "more layer"))
	}

	var extra strings.Builder
	if len(r.Warnings) > 0 {
		extra.WriteString("\n**Warnings**\n\n")
		for i, wm := range r.Warnings {
			line := "- " + mdText(truncate(wm, 2000)) + "\n"
			if len(line) > budget-extra.Len() {
				fmt.Fprintf(&extra, "- … and %d more\n", len(r.Warnings)-i)
				break
			}
			extra.WriteString(line)
		}
	}
	budget -= extra.Len()
	if o.MaxPathsPerLayer >= 0 && budget > 0 {
		extra.WriteString(r.mdPaths(o, budget))
	}

	return head + tableHead + rows.String() + tail + extra.String()
}

func (r *Report) mdRow(i int, l Layer) string {
	empty := l.Empty || l.Status == StatusEmpty
	status := l.Status
	// A from: layer's tar size is unknown (its blob is not read): "–".
	unc, comp, delta := bytesize.Format(l.UncompressedSize), bytesize.Format(l.Size), r.mdDelta(l)
	if l.UncompressedSize <= 0 {
		unc = "–"
	}
	if empty {
		status = StatusEmpty
		unc, comp, delta = "–", "–", "–"
	}
	return fmt.Sprintf("| %d | `%s` | %d | %s | %s | %s | %s |\n",
		i+1, mdCode(l.Name), len(l.Paths), unc, comp, delta, mdText(string(status)))
}

func (r *Report) mdDelta(l Layer) string {
	if l.Previous == nil {
		if r.PreviousDigest == "" {
			return "–"
		}
		return "new"
	}
	return bytesize.FormatSigned(l.Size - l.Previous.Size)
}

func (r *Report) mdTotals() string {
	var b strings.Builder
	t := r.Tally()
	layers := t.Layers
	total := r.TotalSize()
	b.WriteString("\n| Totals | |\n|:--|:--|\n")
	fmt.Fprintf(&b, "| Image size | %s in %s |\n", bytesize.Format(total), plural(layers, "layer"))
	up := fmt.Sprintf("%s (%d of %s pushed)", bytesize.Format(r.BytesPushed), t.Pushed, plural(layers, "layer"))
	if !r.Push {
		up = "nothing (push disabled)"
	}
	fmt.Fprintf(&b, "| Uploaded | %s |\n", up)
	rate := "–"
	if layers > 0 {
		// In the status words of the rows: cached and mounted layers were
		// reused, exists ones rebuilt.
		rate = fmt.Sprintf("%d%% (%d of %s reused, not rebuilt)", t.Cached*100/layers, t.Cached, plural(layers, "layer"))
		if t.Mounted > 0 {
			rate = fmt.Sprintf("%d%% (%d of %s reused, not rebuilt: %s %d, %s %d)", t.Cached*100/layers, t.Cached, plural(layers, "layer"), StatusCached, t.Cached-t.Mounted, StatusMounted, t.Mounted)
		}
		if t.Exists > 0 {
			rate += fmt.Sprintf("; %s %d (rebuilt, the registry had the blob)", StatusExists, t.Exists)
		}
	}
	fmt.Fprintf(&b, "| Cache hit rate | %s |\n", rate)
	cum := "–"
	if r.CumulativeSize > 0 {
		// Compare like with like: uncompressed store bytes.
		holds := r.DedupSize
		if holds <= 0 {
			for _, l := range r.Layers {
				if !l.Empty {
					holds += l.UncompressedSize
				}
			}
		}
		cum = fmt.Sprintf("%s uncompressed; this image holds %s", bytesize.Format(r.CumulativeSize), bytesize.Format(holds))
		if r.CumulativeSize > holds {
			cum += fmt.Sprintf(" (%d%% less)", (r.CumulativeSize-holds)*100/r.CumulativeSize)
		}
	}
	fmt.Fprintf(&b, "| Cumulative-layer build | %s |\n", cum)
	if f := r.Fetch; f != nil && f.ClosureNARBytes > 0 {
		fmt.Fprintf(&b, "| Downloaded from binary caches | %s of %s closure (%s of NAR as sent, %s) |\n",
			bytesize.Format(f.NARBytes), bytesize.Format(f.ClosureNARBytes), bytesize.Format(f.NARWireBytes), plural(int(f.NarinfoRequests), "narinfo request"))
	}
	if r.PeakTempBytes > 0 {
		fmt.Fprintf(&b, "| Peak temp disk | %s of layer files at once |\n", bytesize.Format(r.PeakTempBytes))
	}
	if r.PreviousDigest != "" {
		prev := "`" + mdCode(ShortDigest(r.PreviousDigest)) + "`"
		if r.PreviousSize > 0 {
			prev += " (" + bytesize.FormatSigned(total-r.PreviousSize) + ")"
		}
		fmt.Fprintf(&b, "| Previous image | %s |\n", prev)
	}
	return b.String()
}

func (r *Report) mdDigest() string {
	var b strings.Builder
	b.WriteString("\n")
	if r.Digest != "" {
		fmt.Fprintf(&b, "**Digest:** `%s`", mdCode(r.Digest))
		if r.Changed {
			b.WriteString(" (changed)")
		} else {
			b.WriteString(" (unchanged)")
		}
		b.WriteString("\n")
	}
	if r.PackageURL != "" {
		fmt.Fprintf(&b, "\n[Package](%s)\n", strings.ReplaceAll(r.PackageURL, ")", "%29"))
	}
	return b.String()
}

func (r *Report) mdPaths(o MarkdownOptions, budget int) string {
	limit := o.MaxPathsPerLayer
	if limit == 0 {
		limit = 100
	}
	var b strings.Builder
	open := "\n<details><summary>Store paths per layer</summary>\n\n"
	closing := "</details>\n"
	budget -= len(open) + len(closing)
	if budget <= 0 {
		return ""
	}
	wrote := false
	for i, l := range r.Layers {
		if len(l.Paths) == 0 {
			continue
		}
		head := fmt.Sprintf("**%s** (%s)\n\n", mdText(l.Name), plural(len(l.Paths), "path"))
		if len(head)+b.Len() > budget {
			fmt.Fprintf(&b, "*… paths of %s not shown*\n", plural(len(r.Layers)-i, "more layer"))
			break
		}
		b.WriteString(head)
		wrote = true
		for j, p := range l.Paths {
			line := "- `" + mdCode(p) + "`\n"
			if j >= limit || b.Len()+len(line) > budget {
				fmt.Fprintf(&b, "- … and %d more\n", len(l.Paths)-j)
				break
			}
			b.WriteString(line)
		}
		b.WriteString("\n")
	}
	if !wrote {
		return ""
	}
	return open + b.String() + closing
}

// mdText is Inert: for text from outside the tool.
func mdText(s string) string { return Inert(s) }

// mdCode is InertCode: for the inside of a code span.
func mdCode(s string) string { return InertCode(s) }

func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	// Cut on a rune boundary.
	for n > 0 && n < len(s) && s[n]&0xC0 == 0x80 {
		n--
	}
	return s[:n] + "…"
}

func plural(n int, word string) string {
	if n == 1 {
		return "1 " + word
	}
	return fmt.Sprintf("%d %ss", n, word)
}

// fitRows writes rows in order while they fit in budget bytes and returns
// how many it wrote and the budget left; the caller notes the rest as not
// shown.
func fitRows(b *strings.Builder, rows []string, budget int) (shown, left int) {
	for i, row := range rows {
		if len(row) > budget {
			return i, budget
		}
		budget -= len(row)
		b.WriteString(row)
	}
	return len(rows), budget
}
