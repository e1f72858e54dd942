//! `Index::stats`: what an index holds and how its graph looks, as one JSON object (the
//! C API hands it out as text, so fields can be added without breaking anyone).

use serde_json::{json, Value};

use super::Index;

impl Index {
    /// Counts and sizes, as a JSON object:
    ///
    /// - `records`, `pending_removes` (removed, graph not yet repaired around them), `slots`
    ///   (one past the highest slot ever used);
    /// - `dim`, `metric`, `dtype`, `m`, `ef_construction`, `ef_search`, `key_kind`;
    /// - `neighbor_codes`: bits of the neighbour codes as created (0: none), and
    ///   `neighbor_codes_in_use`: whether searches score them now (not before they are
    ///   learned), and `neighbor_codes_layout`: "per_node" or "beside_links" (null without
    ///   codes or before the first add; a mapped open's are "per_node");
    /// - `text`: the tokenizer options (`lowercase`, `normalize_unicode`, `stemmer`,
    ///   `stop_words`: "none", "english" or the custom list, `min_token_chars`,
    ///   `max_token_chars`); `bm25`: `k1` and `b`;
    /// - `levels`: records per top level (`levels[i]` = records whose top layer is i);
    ///   `mean_layer0_degree`: the mean number of layer-0 links of a record;
    /// - `memory`: approximate bytes of the `graph` (vectors or codes and links), `keys`,
    ///   `full_precision` vectors (quantized dtypes), `codec`, `metadata`, `text` (the postings
    ///   and the texts as given), and `total`;
    /// - `durable`: null, or `{"dir", "log_bytes"}` for an index bound to a directory.
    ///
    /// It visits every record's links: O(records), like a scan.
    pub fn stats(&self) -> Value {
        let graph = self.graph.get();
        let (mut levels, mut links, mut live) = (Vec::<u64>::new(), 0usize, 0usize);
        if let Some(g) = graph {
            let _pin = g.pin();
            let mut buf = Vec::new();
            for id in (0..g.store.high_water()).filter(|&id| g.is_live(id)) {
                let level = g.store.level(id) as usize;
                if levels.len() <= level {
                    levels.resize(level + 1, 0);
                }
                levels[level] += 1;
                g.copy_links(id, 0, &mut buf);
                links += buf.len();
                live += 1;
            }
        }
        let memory_graph = graph.map_or(0, |g| g.memory_bytes());
        let memory_keys = self.keys.read().memory_bytes();
        let memory_raw = self.raw.get().map_or(0, |r| r.memory_bytes(self.slot_high_water() as u32));
        let memory_codec = graph.and_then(|g| g.space.codec()).map_or(0, |c| c.memory_bytes());
        let memory_meta = self.meta.read().memory_bytes();
        let memory_text = self.text.read().memory_bytes();
        json!({
            "records": self.len(),
            "pending_removes": graph.map_or(0, |g| g.pending_deletes()),
            "slots": self.slot_high_water(),
            "dim": self.dim(),
            "metric": self.options.metric.name(),
            "dtype": self.options.dtype.name(),
            "m": self.options.m,
            "ef_construction": self.options.ef_construction,
            "ef_search": self.ef_search(),
            "key_kind": self.key_kind().map(crate::keys::kind_name),
            "neighbor_codes": self.options.neighbor_codes,
            "neighbor_codes_in_use": graph.is_some_and(|g| g.neighbor_codes().is_some()),
            "neighbor_codes_layout": graph.and_then(|g| g.code_layout_name()),
            "text": {
                "lowercase": self.options.text.lowercase,
                "normalize_unicode": self.options.text.normalize_unicode,
                "stemmer": if self.options.text.stem_english { "english" } else { "none" },
                "stop_words": match &self.options.text.stop_words {
                    crate::text::StopWords::None => json!("none"),
                    crate::text::StopWords::English => json!("english"),
                    crate::text::StopWords::Custom(words) => json!(words),
                },
                "min_token_chars": self.options.text.min_token_chars,
                "max_token_chars": self.options.text.max_token_chars,
            },
            "bm25": { "k1": self.options.bm25.k1, "b": self.options.bm25.b },
            "levels": levels,
            "mean_layer0_degree": if live == 0 { 0.0 } else { links as f64 / live as f64 },
            "memory": {
                "graph": memory_graph,
                "keys": memory_keys,
                "full_precision": memory_raw,
                "codec": memory_codec,
                "metadata": memory_meta,
                "text": memory_text,
                "total": memory_graph + memory_keys + memory_raw + memory_codec + memory_meta + memory_text,
            },
            "durable": self.durable_stats(),
        })
    }
}
