package hostile

import (
	"bytes"
	"fmt"
	"io"
)

// bigJSON generates an image config of an exact size, valid JSON, without
// holding it in memory: a fixed prefix, many identical padding history
// entries (empty_layer, so the config still describes its one layer), one
// last entry padded to the exact size, and a suffix.
type bigJSON struct {
	prefix, entry, suffix []byte
	entries               int64 // padding entries before the last one
	lastPad               int
}

const (
	bigEntrySize    = 4096
	bigChunkEntries = 16
)

func newBigJSON(size int64, diffID string) (*bigJSON, error) {
	g := &bigJSON{
		prefix: fmt.Appendf(nil, `{"architecture":"amd64","os":"linux","config":{},"rootfs":{"type":"layers","diff_ids":[%q]},"history":[`, diffID),
		suffix: []byte(`]}`),
	}
	head := `{"created_by":"hostile padding","empty_layer":true,"comment":"`
	g.entry = append([]byte(head), bytes.Repeat([]byte("x"), bigEntrySize-len(head)-3)...)
	g.entry = append(g.entry, `"},`...)
	room := size - int64(len(g.prefix)+len(g.suffix)+len(g.last(0)))
	if room < 0 {
		return nil, fmt.Errorf("huge config of %d bytes is too small (minimum %d)", size, size-room)
	}
	g.entries = room / bigEntrySize
	g.lastPad = int(room % bigEntrySize)
	return g, nil
}

// last is the final history entry with pad bytes of padding.
func (g *bigJSON) last(pad int) []byte {
	b := []byte(`{"created_by":"hostile padding end","empty_layer":true,"comment":"`)
	b = append(b, bytes.Repeat([]byte("y"), pad)...)
	return append(b, `"}`...)
}

// writeTo writes the whole document to w in chunks of bigChunkEntries entries.
func (g *bigJSON) writeTo(w io.Writer) error {
	if _, err := w.Write(g.prefix); err != nil {
		return err
	}
	chunk := bytes.Repeat(g.entry, bigChunkEntries)
	for left := g.entries; left > 0; {
		n := min(left, bigChunkEntries)
		if _, err := w.Write(chunk[:n*bigEntrySize]); err != nil {
			return err
		}
		left -= n
	}
	if _, err := w.Write(g.last(g.lastPad)); err != nil {
		return err
	}
	_, err := w.Write(g.suffix)
	return err
}
