package resolve

import "os"

// ContentSize is what a planned layer holds, as `plan` and `build` both
// print it: its store paths' NAR sizes plus, for the root layer, the bytes
// of its files outside the store (root: contents, users, the Nix
// database). It is known before the layer is written; the tar and
// compressed sizes are known only after.
func (p Planned) ContentSize() int64 {
	n := p.NarSize()
	for _, f := range p.Spec.Files {
		switch {
		case !f.Mode.IsRegular():
		case f.Source != "":
			if info, err := os.Stat(f.Source); err == nil {
				n += info.Size()
			}
		default:
			n += int64(len(f.Data))
		}
	}
	return n
}
