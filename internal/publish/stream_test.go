package publish

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/google/go-containerregistry/pkg/v1/remote"

	"github.com/org/nix-layer-action/internal/layer"
	"github.com/org/nix-layer-action/internal/regclient"
	"github.com/org/nix-layer-action/internal/testutil/memregistry"
)

// streamedLayer is a layer.Streamed of one store path holding data.
func streamedLayer(t *testing.T, data string) *layer.Streamed {
	t.Helper()
	root := t.TempDir()
	sp := "/nix/store/" + strings.Repeat("a", 32) + "-data"
	if err := os.MkdirAll(filepath.Join(root, sp), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(root, sp, "data"), []byte(data), 0o444); err != nil {
		t.Fatal(err)
	}
	s, err := layer.Stream(context.Background(), layer.Spec{Name: "data", Paths: []layer.StorePath{{Path: sp, NarHash: narHash(t, filepath.Join(root, sp))}}},
		layer.DirSource{Root: root}, layer.Options{})
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// A streamed layer whose upload fails past go-containerregistry's own
// budget is written again by the next whole attempt, under a fresh
// identity (gcr remembers a streamed upload's failure per layer value),
// and its digest is known afterwards.
func TestWriteStreamedRetriesPastTheLibraryBudget(t *testing.T) {
	host := memregistry.Start(t).Host
	ft := &failingTransport{next: remote.DefaultTransport}
	ft.n.Store(1) // the first attempt's only POST
	c := client(t, regclient.WithTransport(ft), regclient.WithRetry(remote.Backoff{Duration: time.Millisecond, Factor: 1, Steps: 1}))
	p, err := NewRegistry(c, ref(t, host+"/r/s:t"), nil)
	if err != nil {
		t.Fatal(err)
	}
	s := streamedLayer(t, strings.Repeat("streamed bytes\n", 10000))
	if err := p.WriteLayer(context.Background(), s); err != nil {
		t.Fatalf("streamed upload after one refused POST: %v", err)
	}
	d, err := s.Digest()
	if err != nil {
		t.Fatal(err)
	}
	if size, ok, err := c.BlobSize(context.Background(), ref(t, host+"/r/s:t").Context(), d); err != nil || !ok {
		t.Fatalf("blob %s not in the registry after the upload: %v", d, err)
	} else if want, _ := s.Size(); size != want {
		t.Errorf("blob %s: %d bytes in the registry, %d written", d, size, want)
	}
}
