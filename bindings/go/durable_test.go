package omendb

import (
	"bufio"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

// Writes to a durable index come back after Close and New on the same Path; a zero option
// takes the stored value; a second writer gets ErrLocked; a conflicting option is refused.
func TestDurableReopenLockAndConflicts(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "idx")
	idx := mustNew(t, Options{Path: dir, Dim: 4, Metric: Cosine, Sync: SyncAlways})
	keys := []uint64{1, 2, 3, 4, 5}
	vecs := randomVectors(3, len(keys), 4)
	must(t, idx.AddRecords(keys, vecs, []string{`{"n":1}`, `{"n":2}`, `{"n":3}`, `{"n":4}`, `{"n":5}`}, nil))
	must(t, idx.Remove(2))
	if _, err := New(Options{Path: dir}); !errors.Is(err, ErrLocked) || !strings.Contains(err.Error(), strconv.Itoa(os.Getpid())) {
		t.Fatalf("second writer: %v", err)
	}
	must(t, idx.Checkpoint())
	must(t, idx.AddBatch([]uint64{9}, randomVectors(4, 1, 4)))
	must(t, idx.Close())

	if _, err := New(Options{Path: dir, Metric: IP}); !errors.Is(err, ErrInvalidArgument) || !strings.Contains(err.Error(), "metric") {
		t.Fatalf("conflicting metric: %v", err)
	}
	idx = mustNew(t, Options{Path: dir, Sync: SyncBatch, SyncInterval: 5 * time.Millisecond})
	defer idx.Close()
	mustLen(t, idx, 5)
	if r, err := idx.Recovery(); err != nil || r != (Recovery{RecordsReplayed: 1}) {
		t.Fatalf("Recovery() = %+v, %v (one record after the checkpoint)", r, err)
	}
	if ok, _ := idx.Contains(2); ok {
		t.Fatal("removed key 2 came back")
	}
	if m, err := idx.Metadata(5); err != nil || m != `{"n":5}` {
		t.Fatalf("Metadata(5) = %q, %v", m, err)
	}
	if ok, _ := idx.Contains(9); !ok {
		t.Fatal("key 9, written after the checkpoint, is missing")
	}
	plain := mustNew(t, Options{Dim: 4})
	defer plain.Close()
	if err := plain.Checkpoint(); !errors.Is(err, ErrInvalidArgument) {
		t.Fatalf("Checkpoint without a Path: %v", err)
	}
}

// The child of TestDurableSigkill: adds batches to the index at OMENDB_GO_KILL_DIR and prints
// the first key not yet acknowledged after each, until killed.
func TestDurableKillChild(t *testing.T) {
	dir := os.Getenv("OMENDB_GO_KILL_DIR")
	if dir == "" {
		t.Skip("run by TestDurableSigkill")
	}
	start, _ := strconv.ParseUint(os.Getenv("OMENDB_GO_KILL_START"), 10, 64)
	idx, err := New(Options{Path: dir, Dim: 4, Sync: SyncAlways})
	if err != nil {
		fmt.Println("error", err)
		os.Exit(2)
	}
	key := start
	for i := uint64(0); ; i++ {
		n := 1 + int(i%9)
		keys := make([]uint64, n)
		for j := range keys {
			keys[j] = key + uint64(j)
		}
		if err := idx.AddBatch(keys, randomVectors(key, n, 4)); err != nil {
			fmt.Println("error", err)
			os.Exit(3)
		}
		key += uint64(n)
		fmt.Println(key)
	}
}

// A child process writing with SyncAlways is killed with SIGKILL; every batch it acknowledged
// is there after reopening, and the batch in flight is there whole or not at all.
func TestDurableSigkill(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "kill")
	var acked []uint64
	for round := 0; round < 4; round++ {
		start := uint64(round) * 1_000_000
		cmd := exec.Command(os.Args[0], "-test.run=^TestDurableKillChild$")
		cmd.Env = append(os.Environ(), "OMENDB_GO_KILL_DIR="+dir, "OMENDB_GO_KILL_START="+strconv.FormatUint(start, 10))
		out, err := cmd.StdoutPipe()
		must(t, err)
		must(t, cmd.Start())
		lines := bufio.NewScanner(out)
		upto, seen := start, 0
		for seen < 10+round*5 && lines.Scan() {
			v, err := strconv.ParseUint(lines.Text(), 10, 64)
			if err != nil {
				t.Fatalf("child said %q", lines.Text())
			}
			upto, seen = v, seen+1
		}
		must(t, cmd.Process.Signal(syscall.SIGKILL))
		for lines.Scan() {
			if v, err := strconv.ParseUint(lines.Text(), 10, 64); err == nil {
				upto = v
			}
		}
		_ = cmd.Wait()
		if seen < 10+round*5 {
			t.Fatalf("round %d: the child acknowledged only %d batches before it was killed", round, seen)
		}
		for k := start; k < upto; k++ {
			acked = append(acked, k)
		}
		idx := mustNew(t, Options{Path: dir})
		for _, k := range acked {
			if ok, _ := idx.Contains(k); !ok {
				t.Fatalf("round %d: acknowledged key %d is missing", round, k)
			}
		}
		n, _ := idx.Len()
		extra := uint64(n - len(acked))
		for k := upto; k < upto+extra; k++ {
			if ok, _ := idx.Contains(k); !ok {
				t.Fatalf("round %d: the batch in flight is there only in part (key %d missing; %d records, %d acknowledged, upto %d)", round, k, n, len(acked), upto)
			}
			acked = append(acked, k)
		}
		must(t, idx.Close())
	}
}
