package audit

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
)

// rotatedName is the name the n-th rotated file of the log at path gets.
func rotatedName(path string, n uint64) string {
	return fmt.Sprintf("%s.%06d", path, n)
}

// rotatedFile is one rotated file of a log.
type rotatedFile struct {
	n    uint64
	name string
}

// rotated lists the rotated files of the log at path (path followed by a dot
// and decimal digits), oldest first.
func rotated(path string) ([]rotatedFile, error) {
	dir, base := filepath.Split(path)
	if dir == "" {
		dir = "."
	}
	entries, err := os.ReadDir(dir)
	if err != nil {
		return nil, err
	}
	var files []rotatedFile
	for _, e := range entries {
		suffix, ok := strings.CutPrefix(e.Name(), base+".")
		if !ok || e.IsDir() || suffix == "" || strings.Trim(suffix, "0123456789") != "" {
			continue
		}
		n, err := strconv.ParseUint(suffix, 10, 64)
		if err != nil {
			continue
		}
		files = append(files, rotatedFile{n: n, name: filepath.Join(filepath.Dir(path), e.Name())})
	}
	sort.Slice(files, func(i, j int) bool { return files[i].n < files[j].n })
	return files, nil
}

// Files lists the files of the log kept at path (FileOptions.Path) in chain
// order: its rotated files, oldest first, then path itself if it exists. It
// returns an error wrapping fs.ErrNotExist if there are none.
func Files(path string) ([]string, error) {
	rs, err := rotated(path)
	if err != nil {
		return nil, err
	}
	var names []string
	for _, r := range rs {
		names = append(names, r.name)
	}
	switch _, err := os.Stat(path); {
	case err == nil:
		names = append(names, path)
	case !errors.Is(err, fs.ErrNotExist):
		return nil, err
	}
	if len(names) == 0 {
		return nil, fmt.Errorf("audit: no log at %s: %w", path, fs.ErrNotExist)
	}
	return names, nil
}
