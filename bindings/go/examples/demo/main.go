// Command demo builds a cosine index of word vectors keyed by word and prints the nearest
// words of a few query words.
//
// Input: a TEXMEX .fvecs file (each record: int32 little-endian dimension d, then d float32)
// and a text file with one word per line, the i-th word naming the i-th vector. The defaults
// are the repo's sample (2,000 GloVe words, 50 dimensions); relative paths are taken from the
// repository root (the directory above this one holding include/omendb.h) unless they exist
// from the working directory.
//
//	cd bindings/go && go run ./examples/demo
//	go run ./examples/demo -queries paris,music,money -k 5
package main

import (
	"bufio"
	"encoding/binary"
	"errors"
	"flag"
	"fmt"
	"io"
	"math"
	"os"
	"path/filepath"
	"strings"

	omendb "github.com/omendb/omendb/bindings/go"
)

func main() {
	vectorsPath := flag.String("vectors", "ctests/data/sample.fvecs", "word vectors, TEXMEX fvecs")
	wordsPath := flag.String("words", "ctests/data/sample_words.txt", "one word per line, in the order of the vectors")
	queries := flag.String("queries", "france,queen,music,money,water", "comma-separated query words")
	k := flag.Int("k", 5, "neighbours to print per query word")
	flag.Parse()
	if err := run(os.Stdout, resolve(*vectorsPath), resolve(*wordsPath), strings.Split(*queries, ","), *k); err != nil {
		fmt.Fprintln(os.Stderr, "demo:", err)
		os.Exit(1)
	}
}

func run(w io.Writer, vectorsPath, wordsPath string, queries []string, k int) error {
	vectors, dim, err := readFvecs(vectorsPath)
	if err != nil {
		return err
	}
	words, err := readLines(wordsPath)
	if err != nil {
		return err
	}
	if len(words)*dim != len(vectors) {
		return fmt.Errorf("%d words but %d vectors of %d floats", len(words), len(vectors)/dim, dim)
	}
	row := make(map[string]int, len(words))
	for i, w := range words {
		row[w] = i
	}

	idx, err := omendb.New(omendb.Options{Dim: dim, Metric: omendb.Cosine})
	if err != nil {
		return err
	}
	defer idx.Close()
	if err := idx.AddStrings(words, vectors); err != nil {
		return err
	}
	n, err := idx.Len()
	if err != nil {
		return err
	}
	fmt.Fprintf(w, "omendb %s: %d words of %d dimensions, cosine\n", omendb.Version(), n, dim)

	for _, q := range queries {
		i, ok := row[q]
		if !ok {
			fmt.Fprintf(w, "%-10s (not in the vocabulary)\n", q)
			continue
		}
		// k+1: the query word itself comes back first, at distance 0.
		hits, err := idx.Search(vectors[i*dim:(i+1)*dim], k+1)
		if err != nil {
			return err
		}
		var out []string
		for _, h := range hits {
			if h.StrKey != q && len(out) < k {
				out = append(out, fmt.Sprintf("%s (%.3f)", h.StrKey, h.Distance))
			}
		}
		fmt.Fprintf(w, "%-10s %s\n", q, strings.Join(out, ", "))
	}
	return nil
}

// readFvecs reads a TEXMEX .fvecs file into one row-major slice; all records must share one
// dimension.
func readFvecs(path string) ([]float32, int, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, 0, err
	}
	defer f.Close()
	r := bufio.NewReader(f)
	var out []float32
	dim := -1
	for rec := 0; ; rec++ {
		var d int32
		if err := binary.Read(r, binary.LittleEndian, &d); err != nil {
			if errors.Is(err, io.EOF) {
				break
			}
			return nil, 0, fmt.Errorf("%s: record %d: %w", path, rec, err)
		}
		if d <= 0 || (dim >= 0 && int(d) != dim) {
			return nil, 0, fmt.Errorf("%s: record %d has dimension %d", path, rec, d)
		}
		dim = int(d)
		buf := make([]byte, 4*dim)
		if _, err := io.ReadFull(r, buf); err != nil {
			return nil, 0, fmt.Errorf("%s: record %d: %w", path, rec, err)
		}
		for j := 0; j < dim; j++ {
			out = append(out, math.Float32frombits(binary.LittleEndian.Uint32(buf[4*j:])))
		}
	}
	if dim < 0 {
		return nil, 0, fmt.Errorf("%s: no records", path)
	}
	return out, dim, nil
}

func readLines(path string) ([]string, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	return strings.Split(strings.TrimRight(string(data), "\n"), "\n"), nil
}

// resolve returns path as given if it exists (or is absolute), else joined to the repository
// root found above the working directory.
func resolve(path string) string {
	if filepath.IsAbs(path) {
		return path
	}
	if _, err := os.Stat(path); err == nil {
		return path
	}
	dir, err := os.Getwd()
	if err != nil {
		return path
	}
	for {
		if _, err := os.Stat(filepath.Join(dir, "include", "omendb.h")); err == nil {
			return filepath.Join(dir, path)
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return path
		}
		dir = parent
	}
}
