package client

import (
	"bufio"
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// startServer runs the real omendb-server on a loopback port ($OMENDB_SERVER, or the
// checkout's target/release/omendb-server, which `make test` builds).
func startServer(t *testing.T, data string, flags ...string) (string, *exec.Cmd) {
	t.Helper()
	bin := os.Getenv("OMENDB_SERVER")
	if bin == "" {
		bin = filepath.Join("..", "..", "..", "target", "release", "omendb-server")
	}
	if _, err := os.Stat(bin); err != nil {
		t.Skipf("%s is not built (cargo build --release -p omendb-server)", bin)
	}
	cmd := exec.Command(bin, append([]string{"--data", data, "--http", "127.0.0.1:0"}, flags...)...)
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	line, err := bufio.NewReader(stdout).ReadString('\n')
	if err != nil || !strings.HasPrefix(line, "omendb-server listening on ") {
		cmd.Process.Kill()
		t.Fatalf("server start: %q %v", line, err)
	}
	return strings.TrimSpace(strings.TrimPrefix(line, "omendb-server listening on ")), cmd
}

func stop(t *testing.T, cmd *exec.Cmd) {
	cmd.Process.Signal(syscall.SIGTERM)
	if err := cmd.Wait(); err != nil {
		t.Errorf("graceful shutdown: %v", err)
	}
}

func TestClientAgainstServer(t *testing.T) {
	dir := t.TempDir()
	keyFile := filepath.Join(dir, "key")
	os.WriteFile(keyFile, []byte("k3y\n"), 0o600)
	url, cmd := startServer(t, filepath.Join(dir, "data"), "--api-key-file", keyFile)
	defer stop(t, cmd)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()

	c := New(url, WithAPIKey("k3y"))
	if err := c.Health(ctx); err != nil {
		t.Fatal(err)
	}
	if _, err := New(url, WithAPIKey("nope")).Collections(ctx); !IsStatus(err, "UNAUTHORIZED") {
		t.Errorf("wrong key: %v", err)
	}
	if _, err := c.CreateCollection(ctx, "nums", CollectionOptions{Dim: 2, Metric: "l2", Key: "u64"}); err != nil {
		t.Fatal(err)
	}
	if _, err := c.CreateCollection(ctx, "nums", CollectionOptions{Dim: 2}); !IsStatus(err, "CONFLICT") {
		t.Errorf("second create: %v", err)
	}
	big := uint64(1)<<63 + 5 // above 2^53: must survive JSON both ways
	records := []Record{
		{ID: U64Key(1), Vector: []float32{0, 0}, Metadata: map[string]any{"tag": "a"}, Text: "red fox"},
		{ID: U64Key(2), Vector: []float32{1, 0}, Metadata: map[string]any{"tag": "b"}, Text: "blue fox"},
		{ID: U64Key(big), Vector: []float32{0, 1}, Text: "red hen"},
	}
	if n, err := c.Add(ctx, "nums", records, false); err != nil || n != 3 {
		t.Fatalf("Add = %d, %v", n, err)
	}
	if _, err := c.Add(ctx, "nums", records[:1], false); !IsStatus(err, "DUPLICATE_KEY") {
		t.Errorf("duplicate: %v", err)
	}
	got, err := c.Get(ctx, "nums", U64Key(big))
	if err != nil || got.ID.U64() != big || got.ID.IsString() {
		t.Fatalf("Get(big) = %+v, %v", got, err)
	}
	hits, err := c.Search(ctx, "nums", SearchRequest{Vector: []float32{0.9, 0}, K: 2, Filter: `tag = "b"`, Include: []string{"metadata"}})
	if err != nil || len(hits) != 1 || hits[0].ID.U64() != 2 || hits[0].Metadata["tag"] != "b" {
		t.Errorf("Search = %+v, %v", hits, err)
	}
	batch, err := c.SearchBatch(ctx, "nums", SearchRequest{Vectors: [][]float32{{0, 0}, {0, 1.1}}, K: 1})
	if err != nil || len(batch) != 2 || batch[0][0].ID.U64() != 1 || batch[1][0].ID.U64() != big {
		t.Errorf("SearchBatch = %+v, %v", batch, err)
	}
	withText, err := c.Search(ctx, "nums", SearchRequest{Vector: []float32{1, 0}, K: 1, Include: []string{"text"}})
	if err != nil || len(withText) != 1 || withText[0].Text != "blue fox" {
		t.Errorf("Search with text = %+v, %v", withText, err)
	}
	if rec, err := c.Get(ctx, "nums", U64Key(1)); err != nil || rec.Text != "red fox" {
		t.Errorf("Get = %+v, %v", rec, err)
	}
	text, err := c.TextSearch(ctx, "nums", "red", 5, "")
	if err != nil || len(text) != 2 || text[0].Score <= 0 {
		t.Errorf("TextSearch = %+v, %v", text, err)
	}
	alpha := float32(0.5)
	fused, err := c.HybridSearch(ctx, "nums", HybridRequest{Vector: []float32{1, 0}, Query: "fox", K: 2, Fusion: "weighted", Alpha: &alpha})
	if err != nil || len(fused) != 2 || fused[0].ID.U64() != 2 {
		t.Errorf("HybridSearch = %+v, %v", fused, err)
	}
	if _, err := c.Search(ctx, "nums", SearchRequest{Vector: []float32{1, 2, 3}, K: 1}); !IsStatus(err, "DIMENSION_MISMATCH") {
		t.Errorf("wrong dimension: %v", err)
	}
	if _, err := c.Search(ctx, "missing", SearchRequest{Vector: []float32{1, 2}, K: 1}); !IsStatus(err, "NOT_FOUND") {
		t.Errorf("unknown collection: %v", err)
	} else if e := err.(*Error); e.HTTPStatus != 404 {
		t.Errorf("HTTP %d", e.HTTPStatus)
	}
	if _, err := c.Add(ctx, "nums", []Record{{Vector: []float32{1, 1}}}, false); err == nil || !strings.Contains(err.Error(), "no key") {
		t.Errorf("a record without a key: %v", err)
	}
	if empty, err := c.SearchBatch(ctx, "nums", SearchRequest{Vectors: [][]float32{}, K: 1}); err != nil || len(empty) != 0 {
		t.Errorf("empty batch: %v %v", empty, err)
	}
	if err := c.Delete(ctx, "nums", U64Key(1)); err != nil {
		t.Fatal(err)
	}
	if _, err := c.Get(ctx, "nums", U64Key(1)); !IsStatus(err, "KEY_NOT_FOUND") {
		t.Errorf("deleted: %v", err)
	}
	info, err := c.Collection(ctx, "nums")
	if err != nil || info.Count != 2 || info.Options.Dim != 2 || info.Options.Key != "u64" {
		t.Errorf("Collection = %+v, %v", info, err)
	}
	if m, err := c.Metrics(ctx); err != nil || !strings.Contains(m, "omendb_requests_total") {
		t.Errorf("Metrics: %v", err)
	}

	// String keys, and many goroutines on one client.
	if _, err := c.CreateCollection(ctx, "words", CollectionOptions{Dim: 2}); err != nil {
		t.Fatal(err)
	}
	var words []Record
	for i := 0; i < 64; i++ {
		words = append(words, Record{ID: StringKey("w/" + string(rune('a'+i%26)) + strings.Repeat("x", i/26)), Vector: []float32{float32(i), 1}})
	}
	if _, err := c.Add(ctx, "words", words, false); err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	for g := 0; g < 8; g++ {
		wg.Add(1)
		go func(g int) {
			defer wg.Done()
			for i := g; i < 64; i += 8 {
				r, err := c.Get(ctx, "words", words[i].ID)
				if err != nil || r.ID.String() != words[i].ID.String() {
					t.Errorf("Get(%s) = %+v, %v", words[i].ID, r, err)
				}
			}
		}(g)
	}
	wg.Wait()
	if err := c.DeleteCollection(ctx, "words"); err != nil {
		t.Fatal(err)
	}
}
