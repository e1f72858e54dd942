package main

import (
	"encoding/binary"
	"math"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestRunOnStandIn runs the demo on a generated stand-in for the sample files: three tight
// clusters of 4-d vectors, each word's neighbours must be the words of its cluster.
func TestRunOnStandIn(t *testing.T) {
	dir := t.TempDir()
	words := []string{"a1", "a2", "a3", "b1", "b2", "b3", "c1", "c2", "c3"}
	centers := [][]float32{{1, 0, 0, 0}, {0, 1, 0, 0}, {0, 0, 1, 0}}
	var fvecs []byte
	for i := range words {
		v := append([]float32(nil), centers[i/3]...)
		v[3] = float32(i%3) * 0.01
		fvecs = binary.LittleEndian.AppendUint32(fvecs, uint32(len(v)))
		for _, x := range v {
			fvecs = binary.LittleEndian.AppendUint32(fvecs, math.Float32bits(x))
		}
	}
	vecPath := filepath.Join(dir, "v.fvecs")
	wordPath := filepath.Join(dir, "w.txt")
	if err := os.WriteFile(vecPath, fvecs, 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(wordPath, []byte(strings.Join(words, "\n")+"\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	vectors, dim, err := readFvecs(vecPath)
	if err != nil || dim != 4 || len(vectors) != 36 {
		t.Fatalf("readFvecs: %d floats of dim %d, %v", len(vectors), dim, err)
	}
	var out strings.Builder
	if err := run(&out, vecPath, wordPath, []string{"a1", "b2", "missing"}, 2); err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(strings.TrimSpace(out.String()), "\n")
	if len(lines) != 4 || !strings.Contains(lines[0], "9 words of 4 dimensions") ||
		!strings.HasPrefix(lines[1], "a1") || !strings.Contains(lines[1], "a2 (") || !strings.Contains(lines[1], "a3 (") ||
		!strings.HasPrefix(lines[2], "b2") || !strings.Contains(lines[2], "b1 (") || !strings.Contains(lines[2], "b3 (") ||
		!strings.Contains(lines[3], "not in the vocabulary") {
		t.Fatalf("unexpected output:\n%s", out.String())
	}
	if err := run(&out, vecPath, filepath.Join(dir, "nope.txt"), nil, 2); err == nil {
		t.Fatal("a missing words file was not reported")
	}
}
