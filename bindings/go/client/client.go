// Package client is a Go client of omendb-server's HTTP/JSON API (docs/http.md): durable
// collections, records, vector, text and hybrid search, over net/http and encoding/json
// only (no cgo: it does not link libomendb).
//
//	c := client.New("http://127.0.0.1:7700", client.WithAPIKey(key))
//	_, err := c.CreateCollection(ctx, "docs", client.CollectionOptions{Dim: 3, Metric: "cosine"})
//	_, err = c.Add(ctx, "docs", []client.Record{{ID: client.StringKey("a"), Vector: []float32{1, 0, 0}}}, false)
//	hits, err := c.Search(ctx, "docs", client.SearchRequest{Vector: []float32{1, 0.1, 0}, K: 5})
//
// Errors the server answers are *Error values carrying the HTTP code and the status name (the
// C API's, as DIMENSION_MISMATCH, or the server's own, as UNAUTHORIZED); IsStatus tests one.
package client

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"
)

// Client talks to one omendb-server. It is safe for concurrent use (net/http pools the
// connections).
type Client struct {
	base   string
	apiKey string
	http   *http.Client
}

// Option configures a Client.
type Option func(*Client)

// WithAPIKey sends Authorization: Bearer key with every request.
func WithAPIKey(key string) Option { return func(c *Client) { c.apiKey = key } }

// WithHTTPClient uses hc instead of a client of the package's own (30 s timeout).
func WithHTTPClient(hc *http.Client) Option { return func(c *Client) { c.http = hc } }

// New returns a client of the server at baseURL (http://host:port).
func New(baseURL string, opts ...Option) *Client {
	c := &Client{base: strings.TrimRight(baseURL, "/"), http: &http.Client{Timeout: 30 * time.Second}}
	for _, o := range opts {
		o(c)
	}
	return c
}

// Error is an error answered by the server: {"error": {"status", "message"}} with its HTTP code.
type Error struct {
	HTTPStatus int
	Status     string // DIMENSION_MISMATCH, KEY_NOT_FOUND, UNAUTHORIZED, TOO_MANY_REQUESTS, ...
	Message    string
}

func (e *Error) Error() string {
	return fmt.Sprintf("omendb-server: %s (HTTP %d): %s", e.Status, e.HTTPStatus, e.Message)
}

// IsStatus reports whether err is an *Error with this status name.
func IsStatus(err error, status string) bool {
	var e *Error
	return errors.As(err, &e) && e.Status == status
}

// Key is a record's key: a string, or an integer in a u64 collection.
// The zero Key is no key: sending it is an error, not the u64 key 0.
type Key struct {
	str      string
	num      uint64
	isString bool
	set      bool
}

// StringKey is a key of a "string" collection.
func StringKey(s string) Key { return Key{str: s, isString: true, set: true} }

// U64Key is a key of a "u64" collection.
func U64Key(n uint64) Key { return Key{num: n, set: true} }

// IsString reports whether the key is a string.
func (k Key) IsString() bool { return k.isString }

// U64 is the integer of a u64 key (0 for a string key).
func (k Key) U64() uint64 { return k.num }

// String is the key as text: the string, or the integer in decimal.
func (k Key) String() string {
	if k.isString {
		return k.str
	}
	return strconv.FormatUint(k.num, 10)
}

// MarshalJSON writes a JSON string or integer.
func (k Key) MarshalJSON() ([]byte, error) {
	if !k.set {
		return nil, errors.New("omendb client: a record or request has no key (the zero Key): use StringKey or U64Key")
	}
	if k.isString {
		return json.Marshal(k.str)
	}
	return []byte(strconv.FormatUint(k.num, 10)), nil
}

// UnmarshalJSON reads a JSON string or a non-negative integer (all 64 bits kept).
func (k *Key) UnmarshalJSON(data []byte) error {
	if len(data) > 0 && data[0] == '"' {
		var s string
		if err := json.Unmarshal(data, &s); err != nil {
			return err
		}
		*k = StringKey(s)
		return nil
	}
	n, err := strconv.ParseUint(string(data), 10, 64)
	if err != nil {
		return fmt.Errorf("a key is a string or a non-negative integer, got %s", data)
	}
	*k = U64Key(n)
	return nil
}

// CollectionOptions are a collection's options; zero values take the server's defaults
// (only Dim is required). Key is "string" (the default) or "u64".
type CollectionOptions struct {
	Dim            int    `json:"dim"`
	Metric         string `json:"metric,omitempty"`
	M              int    `json:"m,omitempty"`
	EfConstruction int    `json:"ef_construction,omitempty"`
	EfSearch       int    `json:"ef_search,omitempty"`
	Dtype          string `json:"dtype,omitempty"`
	Key            string `json:"key,omitempty"`
}

// Collection describes a collection.
type Collection struct {
	Name        string            `json:"name"`
	Count       uint64            `json:"count"`
	Options     CollectionOptions `json:"options"`
	MemoryBytes uint64            `json:"memory_bytes"`
}

// Record is a record sent or read back.
type Record struct {
	ID       Key            `json:"id"`
	Vector   []float32      `json:"vector"`
	Metadata map[string]any `json:"metadata,omitempty"`
	Text     string         `json:"text,omitempty"`
}

// SearchRequest is a vector search: Vector (Search) or Vectors (SearchBatch).
type SearchRequest struct {
	Vector  []float32   `json:"vector,omitempty"`
	Vectors [][]float32 `json:"vectors,omitempty"`
	K       int         `json:"k,omitempty"`
	Ef      int         `json:"ef,omitempty"`
	Filter  string      `json:"filter,omitempty"`
	Include []string    `json:"include,omitempty"`
}

// HybridRequest is a hybrid search; Fusion "rrf" (default) or "weighted" with Alpha.
type HybridRequest struct {
	Vector []float32 `json:"vector"`
	Query  string    `json:"query"`
	K      int       `json:"k,omitempty"`
	Ef     int       `json:"ef,omitempty"`
	Filter string    `json:"filter,omitempty"`
	Fusion string    `json:"fusion,omitempty"`
	Alpha  *float32  `json:"alpha,omitempty"`
}

// Hit is one result: Distance for vector search, Score for text and hybrid search.
type Hit struct {
	ID       Key            `json:"id"`
	Distance float32        `json:"distance"`
	Score    float32        `json:"score"`
	Metadata map[string]any `json:"metadata,omitempty"`
	Vector   []float32      `json:"vector,omitempty"`
	Text     string         `json:"text,omitempty"` // with Include "text"; "" if the record has none
}

func path(parts ...string) string {
	escaped := make([]string, len(parts))
	for i, p := range parts {
		escaped[i] = url.PathEscape(p)
	}
	return "/" + strings.Join(escaped, "/")
}

// do sends one request and decodes a JSON answer into out (nil: ignore it).
func (c *Client) do(ctx context.Context, method, p string, in, out any) error {
	var body io.Reader
	if in != nil {
		data, err := json.Marshal(in)
		if err != nil {
			return err
		}
		body = bytes.NewReader(data)
	}
	req, err := http.NewRequestWithContext(ctx, method, c.base+p, body)
	if err != nil {
		return err
	}
	req.Header.Set("Content-Type", "application/json")
	if c.apiKey != "" {
		req.Header.Set("Authorization", "Bearer "+c.apiKey)
	}
	resp, err := c.http.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(resp.Body)
	if err != nil {
		return err
	}
	if resp.StatusCode >= 400 {
		var e struct {
			Error struct {
				Status  string `json:"status"`
				Message string `json:"message"`
			} `json:"error"`
		}
		if json.Unmarshal(data, &e) != nil || e.Error.Status == "" {
			return &Error{HTTPStatus: resp.StatusCode, Status: "HTTP_" + strconv.Itoa(resp.StatusCode), Message: string(data)}
		}
		return &Error{HTTPStatus: resp.StatusCode, Status: e.Error.Status, Message: e.Error.Message}
	}
	switch out := out.(type) {
	case nil:
		return nil
	case *string:
		*out = string(data)
		return nil
	default:
		return json.Unmarshal(data, out)
	}
}

// Health returns nil when GET /healthz answers ok.
func (c *Client) Health(ctx context.Context) error {
	var text string
	if err := c.do(ctx, http.MethodGet, "/healthz", nil, &text); err != nil {
		return err
	}
	if strings.TrimSpace(text) != "ok" {
		return fmt.Errorf("omendb-server: /healthz answered %q", text)
	}
	return nil
}

// Metrics returns the Prometheus text of GET /metrics.
func (c *Client) Metrics(ctx context.Context) (string, error) {
	var text string
	err := c.do(ctx, http.MethodGet, "/metrics", nil, &text)
	return text, err
}

// Collections lists every collection.
func (c *Client) Collections(ctx context.Context) ([]Collection, error) {
	var out struct {
		Collections []Collection `json:"collections"`
	}
	err := c.do(ctx, http.MethodGet, "/collections", nil, &out)
	return out.Collections, err
}

// CreateCollection creates a durable collection.
func (c *Client) CreateCollection(ctx context.Context, name string, o CollectionOptions) (*Collection, error) {
	var out Collection
	if err := c.do(ctx, http.MethodPut, path("collections", name), o, &out); err != nil {
		return nil, err
	}
	return &out, nil
}

// Collection returns a collection's count, options and memory.
func (c *Client) Collection(ctx context.Context, name string) (*Collection, error) {
	var out Collection
	if err := c.do(ctx, http.MethodGet, path("collections", name), nil, &out); err != nil {
		return nil, err
	}
	return &out, nil
}

// DeleteCollection deletes a collection and its directory.
func (c *Client) DeleteCollection(ctx context.Context, name string) error {
	return c.do(ctx, http.MethodDelete, path("collections", name), nil, nil)
}

// Add adds records, all or nothing, answered once durable; with upsert a stored key gets the
// new record. It returns the count.
func (c *Client) Add(ctx context.Context, name string, records []Record, upsert bool) (int, error) {
	var out struct {
		Count int `json:"count"`
	}
	in := struct {
		Records []Record `json:"records"`
		Upsert  bool     `json:"upsert"`
	}{records, upsert}
	err := c.do(ctx, http.MethodPost, path("collections", name, "records"), in, &out)
	return out.Count, err
}

// Get reads one record back (KEY_NOT_FOUND if absent).
func (c *Client) Get(ctx context.Context, name string, id Key) (*Record, error) {
	var out Record
	if err := c.do(ctx, http.MethodGet, path("collections", name, "records", id.String()), nil, &out); err != nil {
		return nil, err
	}
	return &out, nil
}

// Delete removes one record, durably (KEY_NOT_FOUND if absent).
func (c *Client) Delete(ctx context.Context, name string, id Key) error {
	return c.do(ctx, http.MethodDelete, path("collections", name, "records", id.String()), nil, nil)
}

// Search returns the nearest records to req.Vector, nearest first.
func (c *Client) Search(ctx context.Context, name string, req SearchRequest) ([]Hit, error) {
	if req.Vector == nil || req.Vectors != nil {
		return nil, errors.New("omendb client: Search takes Vector (SearchBatch takes Vectors)")
	}
	var out struct {
		Hits []Hit `json:"hits"`
	}
	err := c.do(ctx, http.MethodPost, path("collections", name, "search"), req, &out)
	return out.Hits, err
}

// SearchBatch returns, for each of req.Vectors, its nearest records.
func (c *Client) SearchBatch(ctx context.Context, name string, req SearchRequest) ([][]Hit, error) {
	if req.Vectors == nil || req.Vector != nil {
		return nil, errors.New("omendb client: SearchBatch takes Vectors (Search takes Vector)")
	}
	if len(req.Vectors) == 0 {
		return [][]Hit{}, nil // no query, no answer (omitempty would drop the empty list)
	}
	var out struct {
		Hits [][]Hit `json:"hits"`
	}
	err := c.do(ctx, http.MethodPost, path("collections", name, "search"), req, &out)
	return out.Hits, err
}

// TextSearch is BM25 search over the records' texts; filter "" for none.
func (c *Client) TextSearch(ctx context.Context, name, query string, k int, filter string) ([]Hit, error) {
	in := struct {
		Query  string `json:"query"`
		K      int    `json:"k,omitempty"`
		Filter string `json:"filter,omitempty"`
	}{query, k, filter}
	var out struct {
		Hits []Hit `json:"hits"`
	}
	err := c.do(ctx, http.MethodPost, path("collections", name, "text_search"), in, &out)
	return out.Hits, err
}

// HybridSearch fuses a vector search and a text search.
func (c *Client) HybridSearch(ctx context.Context, name string, req HybridRequest) ([]Hit, error) {
	var out struct {
		Hits []Hit `json:"hits"`
	}
	err := c.do(ctx, http.MethodPost, path("collections", name, "hybrid_search"), req, &out)
	return out.Hits, err
}
