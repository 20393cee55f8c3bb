// Package substituter reads Nix binary caches ("substituters") without a
// Nix store: it resolves the closure metadata of store paths from narinfo
// files and streams their NARs, decompressed and verified.
//
// The flow is:
//
//	cfg, err := substituter.ParseNixConfig(showConfigJSON) // from the Nix that runs
//	c, err := substituter.New(cfg, substituter.WithConcurrency(16))
//	infos, err := c.PathInfos(ctx, roots) // *MissingError: build those with Nix
//	rc, err := c.OpenNAR(ctx, infos[0].Path) // decompressed, hash-checked
//
// Configuration comes only from Nix's own effective configuration, the
// JSON `nix show-config --json` or `nix config show --json` prints (and
// the netrc file it names): whatever files and variables Nix read, this
// package trusts exactly the keys and reaches exactly the caches Nix
// would. The package reads no environment variables and no nix.conf.
//
// Supported substituter schemes are http://, https:// and file://; others
// (s3://, ssh://, daemon, local paths) are skipped with a log line, so the
// paths only they hold come back in a *MissingError and the caller's Nix
// can still substitute them. A cache that fails (unreachable, stalled, bad
// nix-cache-info) is an error, not a skip: deciding "missing" for a path
// only because its cache was down would trigger needless rebuilds.
//
// Trust follows Nix: with require-sigs (the default) a narinfo must carry a
// valid signature by one of trusted-public-keys, unless its substituter URL
// has ?trusted=1. Unsigned content-addressed paths, which Nix accepts by
// recomputing their store path, are not accepted here: they must be signed.
package substituter
