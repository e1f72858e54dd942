//! Metadata text -> `parse_metadata`. Never panics; an error is `InvalidArgument`; metadata
//! that parses prints (`metadata_to_json`) as JSON that parses back to the same metadata.

use omendb::filter::{metadata_to_json, parse_metadata};
use omendb::Error;

pub fn run(data: &[u8]) {
    let Ok(text) = std::str::from_utf8(data) else { return };
    match parse_metadata(text) {
        Ok(metadata) => {
            let printed = metadata_to_json(&metadata).to_string();
            let again = parse_metadata(&printed)
                .unwrap_or_else(|e| panic!("{text:?} parsed, printed as {printed:?}, which fails: {e}"));
            assert_eq!(again, metadata, "{text:?} printed as {printed:?} reads back differently");
        }
        Err(Error::InvalidArgument(m)) => assert!(!m.is_empty()),
        Err(other) => panic!("{text:?}: expected InvalidArgument, got {other:?}"),
    }
}
