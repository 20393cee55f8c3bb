package ocischema

import (
	"strings"
	"testing"
)

const manifest = `{"schemaVersion":2,"mediaType":"application/vnd.oci.image.manifest.v1+json",
"config":{"mediaType":"application/vnd.oci.image.config.v1+json","size":2,"digest":"sha256:44136fa355b3678a1146ad16f7e8649e94fb4fc21fe77e8310c060f61caaff8a"},
"layers":[{"mediaType":"application/vnd.oci.image.layer.v1.tar+zstd","size":10,"digest":"sha256:44136fa355b3678a1146ad16f7e8649e94fb4fc21fe77e8310c060f61caaff8a",
"annotations":{"io.containers.zstd-chunked.manifest-position":"1:2:3:1"}}]}`

// The schemas load, accept a good manifest and config, and refuse bad
// ones (a schema that accepted everything would pass every test).
func TestSchemas(t *testing.T) {
	if err := Validate(t, Manifest, []byte(manifest)); err != nil {
		t.Errorf("good manifest: %v", err)
	}
	for _, bad := range []string{
		strings.Replace(manifest, `"size":10`, `"size":"10"`, 1),
		strings.Replace(manifest, `sha256:44136fa355b3678a1146ad16f7e8649e94fb4fc21fe77e8310c060f61caaff8a"},`, `nodigest"},`, 1),
		strings.Replace(manifest, `"schemaVersion":2`, `"schemaVersion":1`, 1),
		strings.Replace(manifest, `"1:2:3:1"`, `1`, 1),
	} {
		if Validate(t, Manifest, []byte(bad)) == nil {
			t.Errorf("bad manifest accepted:\n%s", bad)
		}
	}
	cfg := `{"architecture":"amd64","os":"linux","rootfs":{"type":"layers","diff_ids":["sha256:44136fa355b3678a1146ad16f7e8649e94fb4fc21fe77e8310c060f61caaff8a"]}}`
	if err := Validate(t, Config, []byte(cfg)); err != nil {
		t.Errorf("good config: %v", err)
	}
	if Validate(t, Config, []byte(strings.Replace(cfg, `"diff_ids":[`, `"diff_ids":[1,`, 1))) == nil {
		t.Error("bad config accepted")
	}
}
