package hostile

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"time"

	"github.com/klauspost/compress/zstd"
)

// tarEntry is one tar member: a directory when Dir, else a regular file.
type tarEntry struct {
	Name string
	Body string
	Dir  bool
}

// tarOf builds an uncompressed tar archive; every member is dated 1970-01-01T00:00:01Z.
func tarOf(entries []tarEntry) ([]byte, error) {
	epoch := time.Unix(1, 0).UTC()
	var b bytes.Buffer
	tw := tar.NewWriter(&b)
	for _, e := range entries {
		h := &tar.Header{Name: e.Name, ModTime: epoch, Mode: 0o444, Typeflag: tar.TypeReg, Size: int64(len(e.Body)), Format: tar.FormatPAX}
		if e.Dir {
			h.Typeflag, h.Mode, h.Size = tar.TypeDir, 0o555, 0
		}
		if err := tw.WriteHeader(h); err != nil {
			return nil, err
		}
		if _, err := tw.Write([]byte(e.Body)); err != nil {
			return nil, err
		}
	}
	if err := tw.Close(); err != nil {
		return nil, err
	}
	return b.Bytes(), nil
}

// gzipOf compresses with gzip.
func gzipOf(b []byte) ([]byte, error) {
	var out bytes.Buffer
	zw := gzip.NewWriter(&out)
	if _, err := zw.Write(b); err != nil {
		return nil, err
	}
	if err := zw.Close(); err != nil {
		return nil, err
	}
	return out.Bytes(), nil
}

// zstdOf compresses with zstd.
func zstdOf(b []byte) ([]byte, error) {
	enc, err := zstd.NewWriter(nil, zstd.WithEncoderConcurrency(1))
	if err != nil {
		return nil, err
	}
	defer enc.Close()
	return enc.EncodeAll(b, nil), nil
}
