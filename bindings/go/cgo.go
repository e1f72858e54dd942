package omendb

// What cgo may assume about the C functions the package calls. How it finds libomendb is in
// link_pkgconfig.go (an installed library, the default) and link_checkout.go (this source
// checkout, with -tags omendb_checkout). Every other file that calls C has a preamble of its
// own with just the #include it needs.

/*

// No C function of the API keeps a pointer it was given past the call, and none calls back
// into Go. Both directives together let the compiler keep out-parameters (status, error
// pointer, counts) on the Go stack instead of allocating them on every call.
#cgo noescape omendb_index_create
#cgo nocallback omendb_index_create
#cgo noescape omendb_index_add_batch
#cgo nocallback omendb_index_add_batch
#cgo noescape omendb_index_upsert_batch
#cgo nocallback omendb_index_upsert_batch
#cgo noescape omendb_index_add_batch_str
#cgo nocallback omendb_index_add_batch_str
#cgo noescape omendb_index_upsert_batch_str
#cgo nocallback omendb_index_upsert_batch_str
#cgo noescape omendb_index_add_auto
#cgo nocallback omendb_index_add_auto
#cgo noescape omendb_index_remove
#cgo nocallback omendb_index_remove
#cgo noescape omendb_index_remove_str
#cgo nocallback omendb_index_remove_str
#cgo noescape omendb_index_contains
#cgo nocallback omendb_index_contains
#cgo noescape omendb_index_contains_str
#cgo nocallback omendb_index_contains_str
#cgo noescape omendb_index_len
#cgo nocallback omendb_index_len
#cgo noescape omendb_index_dim
#cgo nocallback omendb_index_dim
#cgo noescape omendb_index_metric
#cgo nocallback omendb_index_metric
#cgo noescape omendb_index_key_kind
#cgo nocallback omendb_index_key_kind
#cgo noescape omendb_index_memory_bytes
#cgo nocallback omendb_index_memory_bytes
#cgo noescape omendb_index_compact
#cgo nocallback omendb_index_compact
#cgo noescape omendb_index_search
#cgo nocallback omendb_index_search
#cgo noescape omendb_index_search_results
#cgo nocallback omendb_index_search_results
#cgo noescape omendb_options_create
#cgo nocallback omendb_options_create
#cgo noescape omendb_options_set_dim
#cgo nocallback omendb_options_set_dim
#cgo noescape omendb_options_set_metric
#cgo nocallback omendb_options_set_metric
#cgo noescape omendb_options_set_m
#cgo nocallback omendb_options_set_m
#cgo noescape omendb_options_set_ef_construction
#cgo nocallback omendb_options_set_ef_construction
#cgo noescape omendb_options_set_ef_search
#cgo nocallback omendb_options_set_ef_search
#cgo noescape omendb_options_set_seed
#cgo nocallback omendb_options_set_seed
#cgo noescape omendb_options_set_dtype
#cgo nocallback omendb_options_set_dtype
#cgo noescape omendb_options_set_rerank
#cgo nocallback omendb_options_set_rerank
#cgo noescape omendb_options_set_neighbor_codes
#cgo nocallback omendb_options_set_neighbor_codes
#cgo noescape omendb_options_set_pq_m
#cgo nocallback omendb_options_set_pq_m
#cgo noescape omendb_options_set_full_precision_dir
#cgo nocallback omendb_options_set_full_precision_dir
#cgo noescape omendb_index_save
#cgo nocallback omendb_index_save
#cgo noescape omendb_index_load
#cgo nocallback omendb_index_load
#cgo noescape omendb_results_num_queries
#cgo nocallback omendb_results_num_queries
#cgo noescape omendb_results_count
#cgo nocallback omendb_results_count
#cgo noescape omendb_results_distance
#cgo nocallback omendb_results_distance
#cgo noescape omendb_results_key
#cgo nocallback omendb_results_key
#cgo noescape omendb_results_key_str
#cgo nocallback omendb_results_key_str
#cgo noescape omendb_results_distances
#cgo nocallback omendb_results_distances
#cgo noescape omendb_filter_parse
#cgo nocallback omendb_filter_parse
#cgo noescape omendb_index_add_records
#cgo nocallback omendb_index_add_records
#cgo noescape omendb_index_upsert_records
#cgo nocallback omendb_index_upsert_records
#cgo noescape omendb_index_add_records_str
#cgo nocallback omendb_index_add_records_str
#cgo noescape omendb_index_upsert_records_str
#cgo nocallback omendb_index_upsert_records_str
#cgo noescape omendb_index_search_filtered
#cgo nocallback omendb_index_search_filtered
#cgo noescape omendb_index_text_search
#cgo nocallback omendb_index_text_search
#cgo noescape omendb_index_hybrid_search
#cgo nocallback omendb_index_hybrid_search
#cgo noescape omendb_index_metadata
#cgo nocallback omendb_index_metadata
#cgo noescape omendb_index_metadata_str
#cgo nocallback omendb_index_metadata_str
#cgo noescape omendb_index_get_text
#cgo nocallback omendb_index_get_text
#cgo noescape omendb_index_get_text_str
#cgo nocallback omendb_index_get_text_str

#include "omendb.h"
*/
import "C"

// Version returns the library's version, "MAJOR.MINOR.PATCH" (omendb_version).
func Version() string { return C.GoString(C.omendb_version()) }
