//! Filter text -> `Filter::parse`. Never panics; an error's offset is a char boundary within
//! the text; a filter that parses prints (Display) as text that parses back to the same
//! filter, and printing that again gives the same text (the printed form is canonical).

use omendb::filter::Filter;

pub fn run(data: &[u8]) {
    let Ok(text) = std::str::from_utf8(data) else { return };
    match Filter::parse(text) {
        Ok(filter) => {
            let printed = filter.to_string();
            let again = Filter::parse(&printed)
                .unwrap_or_else(|e| panic!("{text:?} parsed as {filter:?}, printed as {printed:?}, which fails: {e}"));
            assert_eq!(again, filter, "{text:?} printed as {printed:?} reads back differently");
            assert_eq!(again.to_string(), printed, "printing {text:?} is not stable");
        }
        Err(e) => {
            assert!(e.offset <= text.len(), "{text:?}: offset {} past the end", e.offset);
            assert!(text.is_char_boundary(e.offset), "{text:?}: offset {} inside a character", e.offset);
            assert!(!e.message.is_empty(), "{text:?}: empty message");
            let _ = e.to_string();
        }
    }
}
