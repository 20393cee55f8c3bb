package hostile

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"fmt"
)

// schema1 cans a signed schema-1 manifest with one layer. The JWS is
// shaped like libtrust's (protected header with formatLength/formatTail)
// but its signature is not verifiable.
func (c *cannedSet) schema1(tag string) (Served, error) {
	layer, _, err := c.layer("schema1")
	if err != nil {
		return Served{}, err
	}
	v1c := `{"id":"` + layer.digest[len("sha256:"):] + `","created":"1970-01-01T00:00:01Z","architecture":"amd64","os":"linux","container_config":{"Cmd":["/bin/sh"]}}`
	payload, err := json.MarshalIndent(map[string]any{
		"schemaVersion": 1,
		"name":          c.repo,
		"tag":           tag,
		"architecture":  "amd64",
		"fsLayers":      []map[string]string{{"blobSum": layer.digest}},
		"history":       []map[string]string{{"v1Compatibility": v1c}},
	}, "", "   ")
	if err != nil {
		return Served{}, err
	}
	signed, err := signSchema1(payload)
	if err != nil {
		return Served{}, err
	}
	// A registry names a signed schema-1 manifest by its payload's digest.
	obj := bytesObject(MediaTypeSchema1Signed, signed)
	obj.digest = digestOf(payload)
	c.manifest(obj)
	return Served{Digest: obj.digest, MediaType: obj.mediaType, Manifest: signed}, nil
}

// signSchema1 appends a libtrust-style "signatures" member to payload (a
// JSON object ending in "\n}").
func signSchema1(payload []byte) ([]byte, error) {
	tail := []byte("\n}")
	if !bytes.HasSuffix(payload, tail) {
		return nil, fmt.Errorf("schema-1 payload does not end in %q", tail)
	}
	b64 := base64.RawURLEncoding
	protected := fmt.Sprintf(`{"formatLength":%d,"formatTail":%q,"time":"1970-01-01T00:00:01Z"}`,
		len(payload)-len(tail), b64.EncodeToString(tail))
	sig := fmt.Sprintf(`,
   "signatures": [
      {
         "header": {
            "jwk": {"crv": "P-256", "kid": "HOST:ILE0:HOST:ILE0:HOST:ILE0:HOST:ILE0:HOST:ILE0:HOST:ILE0", "kty": "EC", "x": %q, "y": %q},
            "alg": "ES256"
         },
         "signature": %q,
         "protected": %q
      }
   ]
}`, b64.EncodeToString(bytes.Repeat([]byte{1}, 32)), b64.EncodeToString(bytes.Repeat([]byte{2}, 32)),
		b64.EncodeToString(bytes.Repeat([]byte{3}, 64)), b64.EncodeToString([]byte(protected)))
	out := append([]byte(nil), payload[:len(payload)-len(tail)]...)
	return append(out, sig...), nil
}
