// Package hostile is test infrastructure for registries that misbehave.
//
// Server is a loopback registry front (127.0.0.1:PORT, so
// go-containerregistry talks plain HTTP to it) that reverse-proxies to a
// real registry (internal/testutil/registry) or, without one, serves only
// what a test put there. Scripted Rules (method + path regexp + nth
// occurrence, as in internal/testutil/faultproxy) make chosen requests
// misbehave:
//
//   - StallHeaders: take the request, never send response headers;
//   - StallBody: send headers and part of the body, then stop sending;
//   - StallUpload: stop reading the request body midway, never answer;
//   - EchoAuth401 / EchoAuth403: answer an error whose JSON body repeats the
//     request's Authorization header, verbatim and base64-decoded.
//
// Every stalled handler returns when the client gives up or when the test
// ends (Server.Close runs at t.Cleanup), so nothing outlives the test.
//
// Server.Serve puts canned shapes at a tag without the backend: a schema-1
// manifest, an index without linux/amd64, an empty index, an image whose
// config is not JSON, and an image whose config is huge (streamed, never
// held in memory). Options.Redirect sends blob uploads and blob GETs to a
// second loopback listener (another port, so another host to an HTTP
// client), as S3-backed registries do. Every request on either listener is
// recorded (method, path, listener, status, body bytes in and out) for
// Server.Requests.
//
// PushForeign pushes, through the registry's plain HTTP API, images that
// look like the ones nix-layer-action writes but are not (see Forgery), so
// a test can run the product against them and assert it rebuilds.
//
// The product's metadata names (annotations, created_by prefix, comment
// JSON) are repeated here on purpose rather than imported from
// internal/image: a forged image must stay what it is even if the product
// changes what it writes.
package hostile
