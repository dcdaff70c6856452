package disk

import (
	"context"
	"errors"
	"io"
	"io/fs"
	"os"
	"strings"
)

// dirBatch is how many directory entries the rebuild reads at a time.
const dirBatch = 256

// RebuildOnce streams through Dir once, as Run does at start: it indexes
// every valid record not indexed yet, with its metadata file's bytes,
// removes temp files left by earlier processes (this Tier's in-flight ones
// are kept) and metadata files without a record, and removes and counts
// corrupt records. It reads directories in batches, so memory does not grow
// with their size, and checks each record and metadata file as Open does
// but without reading the body (body blocks are verified when read): a
// metadata file that does not apply to its record is removed. Records
// committed, amended or deleted meanwhile are left as Commit, UpdateMeta
// and Delete made them.
//
// When done it marks the tier Rebuilt, also when Dir cannot be read (that
// is logged); it returns ctx's error, and leaves Rebuilt unset, if ctx ends
// first.
func (t *Tier) RebuildOnce(ctx context.Context) error {
	var found, temps, orphans int
	err := t.eachEntry(ctx, t.dir, func(ent fs.DirEntry) error {
		name := ent.Name()
		if ent.IsDir() {
			if isSubdir(name) {
				return t.eachEntry(ctx, t.dir+"/"+name, func(ent fs.DirEntry) error {
					rec := ent.Name()
					if h, ok := parseHash(rec); ok && rec[:2] == name {
						if t.rebuildRecord(h) {
							found++
						}
					} else if h, ok := parseMetaName(rec); ok && rec[:2] == name {
						if t.removeOrphanMeta(h) {
							orphans++
						}
					} else if t.staleTemp(rec) {
						t.removeTemp(t.dir + "/" + name + "/" + rec)
						temps++
					}
					return nil
				})
			}
			return nil
		}
		if t.staleTemp(name) {
			t.removeTemp(t.dir + "/" + name)
			temps++
		}
		return nil
	})
	if err != nil {
		return err
	}
	t.rebuilt.Store(true)
	s := t.Stats()
	t.log.Info("disk tier index rebuilt", "dir", t.dir, "records", found, "objects", s.Objects,
		"bytes", s.Bytes, "temp_files_removed", temps, "orphan_metadata_files_removed", orphans, "corrupt", s.Corrupt)
	return nil
}

// eachEntry calls fn for each entry of dir, reading dirBatch entries at a
// time. A directory that cannot be read is logged and skipped (a missing
// Dir means an empty tier); only ctx ending, or fn's error, stops it.
func (t *Tier) eachEntry(ctx context.Context, dir string, fn func(fs.DirEntry) error) error {
	d, err := os.Open(dir)
	if err != nil {
		if !notFound(err) {
			t.log.Warn("disk tier rebuild: skipping directory", "dir", dir, "err", err)
		}
		return nil
	}
	defer d.Close()
	for { // bounded: each batch consumes directory entries until EOF
		if err := ctx.Err(); err != nil {
			return err
		}
		ents, err := d.ReadDir(dirBatch)
		for _, ent := range ents {
			if err := fn(ent); err != nil {
				return err
			}
		}
		if errors.Is(err, io.EOF) {
			return nil
		}
		if err != nil {
			t.log.Warn("disk tier rebuild: reading directory", "dir", dir, "err", err)
			return nil
		}
	}
}

// rebuildRecord checks the record file for hash and its metadata file, if
// any, and indexes them, stamped with the record's modification time,
// capped so that restored records count as older than any committed or
// opened since start. A corrupt record is removed and counted, and so is a
// metadata file that does not apply to the record (only a damaged one is
// counted). It reports whether it indexed the record.
func (t *Tier) rebuildRecord(hash uint64) bool {
	path := t.path(hash)
	f, err := os.Open(path)
	if err != nil {
		return false // deleted meanwhile
	}
	defer f.Close()
	r, err := t.load(f, hash, "", false) // r shares f: closed above
	if err != nil {
		if errors.Is(err, ErrCorrupt) {
			t.removeCorrupt(hash, f, err)
		} else {
			t.log.Warn("disk tier rebuild: reading record", "path", path, "err", err)
		}
		return false
	}
	t.rebuildMeta(r)
	fi, err := f.Stat()
	if err != nil {
		return false
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	if _, ok := t.index[hash]; ok {
		return false // committed since the scan began
	}
	if cur, err := os.Stat(path); err != nil || !os.SameFile(fi, cur) {
		return false // deleted or replaced meanwhile
	}
	e := &entry{size: fi.Size()}
	// Whatever metadata file is here now applies: rebuildMeta removed a bad
	// one, and installMeta writes only for the current record.
	if mfi, err := os.Stat(t.metaPath(hash)); err == nil {
		e.meta = mfi.Size()
		e.size += e.meta
	}
	e.stamp.Store(min(fi.ModTime().UnixNano(), t.epoch-1))
	t.index[hash] = e
	t.bytes += e.size
	t.onIndex(hash, r.meta)
	return true
}

// rebuildMeta checks the metadata file of the record r, if there is one,
// against the record's key, and removes it if it does not apply.
func (t *Tier) rebuildMeta(r *Record) {
	if _, err := os.Lstat(t.metaPath(r.hash)); err != nil {
		return // none: the common case, without reading the key
	}
	key := make([]byte, r.l.keyLen)
	if err := readFull(r.f, key, headerSize); err != nil {
		return // the record changed under us: Open will judge both
	}
	t.amend(r, string(key))
}

// staleTemp reports whether name is a temp file (a record being written, or
// a probe) that this Tier did not create: left by an earlier process.
func (t *Tier) staleTemp(name string) bool {
	return strings.HasSuffix(name, ".tmp") && !strings.Contains(name, "."+t.token+"-")
}

func (t *Tier) removeTemp(path string) {
	if err := os.Remove(path); err != nil && !notFound(err) {
		t.log.Warn("disk tier rebuild: removing temp file", "path", path, "err", err)
	}
}

// isSubdir reports whether name is a record subdirectory: two lowercase hex
// digits.
func isSubdir(name string) bool {
	return len(name) == 2 && strings.IndexByte(hexDigits, name[0]) >= 0 && strings.IndexByte(hexDigits, name[1]) >= 0
}
