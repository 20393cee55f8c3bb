// Package nixdb produces a Nix database (/nix/var/nix/db) that registers an
// image's store paths with their NAR hashes, sizes and references, so
// `nix-store --verify --check-contents` and `nix` work inside the image.
//
// The database is written with a pure-Go SQLite (modernc.org/sqlite, no
// cgo) and is reproducible: schema version 10 (Nix 2.0 up to at least
// 2.2x), the exact schema text of Nix's schema.sql, rows inserted in sorted
// path order (so ids are stable), registration time fixed at 1, rollback
// journal (Nix switches a writable database to WAL itself when it opens
// it). The same input and the same SQLite library version give the same
// bytes.
package nixdb

import (
	"context"
	"database/sql"
	"fmt"
	"os"
	"path"
	"path/filepath"
	"slices"
	"strings"

	_ "modernc.org/sqlite" // registers the "sqlite" database/sql driver

	"github.com/org/nix-layer-action/internal/closure"
	"github.com/org/nix-layer-action/internal/layer"
	"github.com/org/nix-layer-action/internal/nixpath"
	"github.com/org/nix-layer-action/internal/rootfs"
)

// SchemaVersion is written to /nix/var/nix/db/schema ("10", no newline,
// as Nix writes it).
const SchemaVersion = 10

// RegistrationTime is the fixed ValidPaths.registrationTime (Unix 1, the
// mtime of every layer entry).
const RegistrationTime = 1

// DBDir is where Nix keeps its database under the default state dir.
const DBDir = "/nix/var/nix/db"

// Options for Files.
type Options struct {
	// StoreDir is the store directory inside the image; "" = "/nix/store".
	StoreDir string
	// UID and GID own the state directories, the database files, /nix and
	// the store directory, so a non-root image user can use Nix (see
	// rootfs.NixWritable). Put the result in the top (root) layer: its
	// /nix/store entry then overrides the root-owned one of the store layers.
	UID, GID int
	// TempDir holds the temporary SQLite file while it is written; "" =
	// os.TempDir(). The file is removed before Files returns.
	TempDir string
}

// schema is Nix's src/libstore/schema.sql (version 10), verbatim except
// for backquotes in a comment.
const schema = `create table if not exists ValidPaths (
    id               integer primary key autoincrement not null,
    path             text unique not null,
    hash             text not null,
    registrationTime integer not null,
    deriver          text,
    narSize          integer,
    ultimate         integer, -- null implies "false"
    sigs             text, -- space-separated
    ca               text -- if not null, an assertion that the path is content-addressed; see ValidPathInfo
);

create table if not exists Refs (
    referrer  integer not null,
    reference integer not null,
    primary key (referrer, reference),
    foreign key (referrer) references ValidPaths(id) on delete cascade,
    foreign key (reference) references ValidPaths(id) on delete restrict
);

create index if not exists IndexReferrer on Refs(referrer);
create index if not exists IndexReference on Refs(reference);

-- Paths can refer to themselves, causing a tuple (N, N) in the Refs
-- table.  This causes a deletion of the corresponding row in
-- ValidPaths to cause a foreign key constraint violation (due to 'on
-- delete restrict' on the 'reference' column).  Therefore, explicitly
-- get rid of self-references.
create trigger if not exists DeleteSelfRefs before delete on ValidPaths
  begin
    delete from Refs where referrer = old.id and reference = old.id;
  end;

create table if not exists DerivationOutputs (
    drv  integer not null,
    id   text not null, -- symbolic output id, usually "out"
    path text not null,
    primary key (drv, id),
    foreign key (drv) references ValidPaths(id) on delete cascade
);

create index if not exists IndexDerivationOutputs on DerivationOutputs(path);
`

// Files returns the layer entries for a Nix database registering infos:
// the Nix state directories, /nix and the store directory (all 0755, owned
// by UID:GID),
// /nix/var/nix/db/db.sqlite (in File.Data) and /nix/var/nix/db/schema.
// Every path must be a store path directly under StoreDir and every
// reference must itself be in infos (the set must be closed).
func Files(infos []closure.PathInfo, opts Options) ([]layer.File, error) {
	dir, err := os.MkdirTemp(opts.TempDir, "nixdb-")
	if err != nil {
		return nil, fmt.Errorf("nix db: %w", err)
	}
	defer os.RemoveAll(dir)
	dbFile := filepath.Join(dir, "db.sqlite")
	if err := Write(context.Background(), dbFile, infos, opts.StoreDir); err != nil {
		return nil, err
	}
	data, err := os.ReadFile(dbFile)
	if err != nil {
		return nil, fmt.Errorf("nix db: %w", err)
	}
	storeDir := opts.StoreDir
	if storeDir == "" {
		storeDir = layer.DefaultStoreDir
	}
	// /nix and the store dir too: a non-root Nix writes /nix/store/.links
	// even when it only verifies the store.
	files, err := rootfs.NixWritable(opts.UID, opts.GID, storeParents(storeDir)...)
	if err != nil {
		return nil, fmt.Errorf("nix db: %w", err)
	}
	files = append(files,
		layer.File{Path: DBDir + "/db.sqlite", Mode: 0o644, UID: opts.UID, GID: opts.GID, Data: data},
		layer.File{Path: DBDir + "/schema", Mode: 0o644, UID: opts.UID, GID: opts.GID, Data: []byte(fmt.Sprint(SchemaVersion))},
	)
	slices.SortFunc(files, func(a, b layer.File) int { return strings.Compare(a.Path, b.Path) })
	return files, nil
}

// Write creates the SQLite database file (which must not exist yet)
// registering infos. storeDir "" means "/nix/store".
func Write(ctx context.Context, file string, infos []closure.PathInfo, storeDir string) error {
	rows, err := prepare(infos, storeDir)
	if err != nil {
		return err
	}
	if _, err := os.Lstat(file); err == nil {
		return fmt.Errorf("nix db: %s already exists", file)
	}
	db, err := sql.Open("sqlite", file)
	if err != nil {
		return fmt.Errorf("nix db: open %s: %w", file, err)
	}
	err = fill(ctx, db, rows)
	if cerr := db.Close(); err == nil && cerr != nil {
		err = fmt.Errorf("nix db: close %s: %w", file, cerr)
	}
	if err != nil {
		os.Remove(file) // best effort: never leave a half-written database
	}
	return err
}

type row struct {
	path, hash string
	narSize    int64
	refs       []string
}

// prepare validates and normalises the input, sorted by path.
func prepare(infos []closure.PathInfo, storeDir string) ([]row, error) {
	if storeDir == "" {
		storeDir = layer.DefaultStoreDir
	}
	rows := make([]row, 0, len(infos))
	index := make(map[string]bool, len(infos))
	for _, in := range infos {
		if err := nixpath.Check(storeDir, in.Path); err != nil {
			return nil, fmt.Errorf("nix db: %w", err)
		}
		if index[in.Path] {
			return nil, fmt.Errorf("nix db: %s listed twice", in.Path)
		}
		index[in.Path] = true
		h, err := nixpath.NormalizeHash(in.NarHash)
		if err != nil {
			return nil, fmt.Errorf("nix db: %s: %w", in.Path, err)
		}
		if in.NarSize <= 0 {
			return nil, fmt.Errorf("nix db: %s: NAR size %d, want > 0", in.Path, in.NarSize)
		}
		refs := slices.Clone(in.References)
		slices.Sort(refs)
		rows = append(rows, row{path: in.Path, hash: h, narSize: in.NarSize, refs: slices.Compact(refs)})
	}
	for _, r := range rows {
		for _, ref := range r.refs {
			if !index[ref] {
				return nil, fmt.Errorf("nix db: %s references %s, which is not in the registered closure", r.path, ref)
			}
		}
	}
	slices.SortFunc(rows, func(a, b row) int { return strings.Compare(a.path, b.path) })
	return rows, nil
}

func fill(ctx context.Context, db *sql.DB, rows []row) error {
	db.SetMaxOpenConns(1) // one connection: PRAGMAs apply to it
	conn, err := db.Conn(ctx)
	if err != nil {
		return fmt.Errorf("nix db: %w", err)
	}
	defer conn.Close()
	for _, stmt := range []string{
		"PRAGMA page_size = 4096",
		"PRAGMA journal_mode = DELETE",
		"PRAGMA foreign_keys = ON",
		schema,
	} {
		if _, err := conn.ExecContext(ctx, stmt); err != nil {
			return fmt.Errorf("nix db: %s: %w", firstLine(stmt), err)
		}
	}
	tx, err := conn.BeginTx(ctx, nil)
	if err != nil {
		return fmt.Errorf("nix db: %w", err)
	}
	defer tx.Rollback()
	ids := make(map[string]int64, len(rows))
	for _, r := range rows {
		res, err := tx.ExecContext(ctx,
			"insert into ValidPaths (path, hash, registrationTime, narSize) values (?, ?, ?, ?)",
			r.path, r.hash, RegistrationTime, r.narSize)
		if err != nil {
			return fmt.Errorf("nix db: register %s: %w", r.path, err)
		}
		if ids[r.path], err = res.LastInsertId(); err != nil {
			return fmt.Errorf("nix db: register %s: %w", r.path, err)
		}
	}
	for _, r := range rows {
		for _, ref := range r.refs {
			if _, err := tx.ExecContext(ctx,
				"insert into Refs (referrer, reference) values (?, ?)", ids[r.path], ids[ref]); err != nil {
				return fmt.Errorf("nix db: reference %s → %s: %w", r.path, ref, err)
			}
		}
	}
	if err := tx.Commit(); err != nil {
		return fmt.Errorf("nix db: commit: %w", err)
	}
	return nil
}

// storeParents returns storeDir and its ancestors below "/", e.g.
// "/nix", "/nix/store".
func storeParents(storeDir string) []string {
	var dirs []string
	for d := storeDir; d != "/" && d != "."; d = path.Dir(d) {
		dirs = append(dirs, d)
	}
	slices.Reverse(dirs)
	return dirs
}

func firstLine(s string) string {
	line, _, _ := strings.Cut(s, "\n")
	return line
}
