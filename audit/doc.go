// Package audit keeps Switchyard's audit log: an append-only, tamper-evident
// record of every request — who sent it (principal, tenant), what it was
// (operation, provider, endpoint, key label, model, priority), how it ended
// (outcome, status, attempts, tokens, latency, cache hit, batch) — and never
// its secrets. Prompt and answer text is recorded only when the host opts in
// and fills Record.Content.
//
// # Pieces
//
// The runtime calls Logger.Log, which never blocks: records go into a bounded
// buffer and one goroutine hands them, in batches, to a Sink. When the buffer
// is full the record is dropped and counted, and LoggerOptions.OnDrop is told.
// FileSink is the Sink that keeps the log on disk; a host can write its own
// Sink to send records elsewhere. Verify and VerifyLog check a log on disk;
// the command cmd/auditverify runs them.
//
// # File format
//
// A log is JSON Lines: one record per line, each line ending in "\n". A line
// is the canonical encoding of its record (see Record.MarshalJSON): fields in
// a fixed order, no spaces, and two fields at the end that chain the records:
//
//	{"seq":7,"time":"…",…,"prev":"<hash of record 6>","hash":"<hash of this line>"}
//
// Seq counts records from 1. Hash is the lowercase hex SHA-256 of the line's
// bytes up to, not including, `,"hash":`; Prev is the previous record's Hash
// ("" for record 1). So every byte of a record is covered by its own Hash, and
// every record's Hash by its successor's Prev: an edited record fails its own
// hash, and a removed, inserted or reordered record breaks the sequence and
// the chain. Verify also requires each line to be in canonical form (the
// bytes Record.MarshalJSON gives for what the line parses to), so a line
// that could be read two ways (a repeated key, a letter written as an escape)
// is refused.
//
// # Rotation
//
// FileSink writes to FileOptions.Path. When the next line would take the file
// past FileOptions.MaxBytes, the file is renamed to Path.000001 (then
// .000002, …: numbers grow with age, oldest lowest) and a new file is started.
// The chain and the sequence continue across files; Files lists a log's files
// in chain order.
//
// # Crashes and torn lines
//
// A record is a line that ends in "\n". Bytes after a file's last newline are
// a torn line: a write cut short by a crash or a full disk. A torn line is not
// a record and is not an error: Verify reports it in Report.Torn, and the
// records before it verify as usual. When FileSink opens a log whose active
// file ends in a torn line, it rotates that file away untouched (the evidence
// is kept) and continues the chain from the last whole record; the next
// record takes the Seq the torn one would have had. So Verify accepts a torn
// line at the end of any file, provided the next file continues the chain
// from the last whole record before it — which a truncated record in the
// middle of a log never does.
//
// # What the chain cannot show
//
// Removing whole records from the end of the newest file, or the newest file
// itself, leaves a shorter log that verifies (with FsyncNever a crash can do
// the same). Removing the oldest files leaves a log that starts after seq 1,
// which Verify accepts and reports in Report.FirstSeq (cmd/auditverify calls
// such a log incomplete unless told that old files were pruned). And anyone
// who can write the files can recompute every hash. To detect these, anchor
// the head elsewhere: publish FileSink.Head (or Report.LastSeq and
// Report.LastHash) to a system the log's writers cannot change, and compare.
package audit
