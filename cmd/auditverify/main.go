// Command auditverify checks Switchyard audit logs (package audit): that
// every record is intact, in order, and chained to the one before.
//
//	auditverify [-files] [-pruned] PATH...
//
// By default each PATH is a log as configured (audit.FileOptions.Path): the
// file and its rotated files next to it (PATH.000001, PATH.000002, …), and
// each log is verified on its own. With -files, the PATHs are the files of
// one log, in chain order.
//
// For each log it prints one line:
//
//	OK PATH: N records (seq A..B) in F files, last hash H
//	BROKEN PATH: FILE line L (seq S): REASON; the N records before it verify
//	INCOMPLETE PATH: the first record is seq A, not 1: the records before it are missing
//
// and, under an OK or INCOMPLETE line, one note per torn line (the end of a
// write cut short by a crash, which is not a record and not an error). A
// log that starts after seq 1 is INCOMPLETE unless -pruned says that older
// files were removed on purpose (audit.FileOptions.MaxFiles).
//
// To detect removal of the newest records, compare the last seq and hash
// with ones kept elsewhere (see the audit package doc).
//
// Exit status: 0 if every log verifies, 1 if one does not or cannot be read,
// 2 for bad usage.
package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"os"

	"github.com/switchyard-ai/switchyard/audit"
)

func main() {
	os.Exit(run(os.Args[1:], os.Stdout, os.Stderr))
}

// run is the command with its arguments and outputs; it returns the exit
// status.
func run(args []string, stdout, stderr io.Writer) int {
	fl := flag.NewFlagSet("auditverify", flag.ContinueOnError)
	fl.SetOutput(stderr)
	files := fl.Bool("files", false, "the PATHs are the files of one log, in chain order")
	pruned := fl.Bool("pruned", false, "accept a log that starts after seq 1 (older files removed by rotation)")
	fl.Usage = func() {
		fmt.Fprintln(stderr, "usage: auditverify [-files] [-pruned] PATH...")
		fl.PrintDefaults()
	}
	if err := fl.Parse(args); err != nil {
		return 2
	}
	if fl.NArg() == 0 {
		fl.Usage()
		return 2
	}
	if *files {
		rep, err := audit.Verify(fl.Args()...)
		if !report(stdout, fl.Arg(0), rep, err, *pruned) {
			return 1
		}
		return 0
	}
	status := 0
	for _, path := range fl.Args() {
		rep, err := audit.VerifyLog(path)
		if !report(stdout, path, rep, err, *pruned) {
			status = 1
		}
	}
	return status
}

// report prints the outcome for one log and says whether it verified.
func report(w io.Writer, name string, rep audit.Report, err error, pruned bool) bool {
	var ve *audit.VerifyError
	switch {
	case errors.As(err, &ve):
		fmt.Fprintf(w, "BROKEN %s: %s line %d", name, ve.File, ve.Line)
		if ve.Seq != 0 {
			fmt.Fprintf(w, " (seq %d)", ve.Seq)
		}
		fmt.Fprintf(w, ": %v; the %d records before it verify\n", ve.Err, rep.Records)
		return false
	case err != nil:
		fmt.Fprintf(w, "ERROR %s: %v\n", name, err)
		return false
	}
	ok := rep.FirstSeq <= 1 || pruned
	if ok {
		fmt.Fprintf(w, "OK %s: %d records (seq %d..%d) in %d files, last hash %s\n",
			name, rep.Records, rep.FirstSeq, rep.LastSeq, rep.Files, orNone(rep.LastHash))
	} else {
		fmt.Fprintf(w, "INCOMPLETE %s: the first record is seq %d, not 1: the records before it are missing (-pruned accepts this)\n",
			name, rep.FirstSeq)
	}
	for _, t := range rep.Torn {
		fmt.Fprintf(w, "  torn line: %s at offset %d (%d bytes): a write cut short, not a record; the records before it verify\n",
			t.File, t.Offset, t.Size)
	}
	return ok
}

func orNone(s string) string {
	if s == "" {
		return "(none)"
	}
	return s
}
