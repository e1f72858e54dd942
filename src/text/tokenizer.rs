//! Text -> word tokens: Unicode normalisation (NFKC), lower case, split into runs of
//! alphanumeric characters, then optional length bounds, English stop words and stemming.
//!
//! The same tokenizer must see the documents and the queries: a term matches only when both
//! sides produced the same string.
//!
//! Defaults reproduce `bm25s.tokenize(stopwords="en")` (the reference run of the NPL
//! evaluation): lower case, tokens of at least 2 characters (its pattern is `\b\w\w+\b`), the
//! 33 English stop words below, no stemming. Two differences: `_` separates words here (Python's
//! `\w` counts it as a letter), and NFKC folds compatibility forms first (full-width letters,
//! ligatures such as "ﬁ", superscript digits), so "ｆｉｌｅ" and "file" are the same term.
//!
//! Scripts written without spaces (Chinese, Japanese, Thai) are not segmented into words: a
//! run such as "東京都" is one token, found by the query "東京都" but not by "東京".

use std::borrow::Cow;
use std::collections::HashSet;
use std::fmt;

use rust_stemmers::{Algorithm, Stemmer};
use unicode_normalization::{is_nfkc_quick, IsNormalized, UnicodeNormalization};

/// The English stop words of Lucene's `EnglishAnalyzer` (`ENGLISH_STOP_WORDS_SET`), which is
/// also the list of `bm25s.tokenize(stopwords="en")`.
pub const ENGLISH_STOP_WORDS: [&str; 33] = [
    "a", "an", "and", "are", "as", "at", "be", "but", "by", "for", "if", "in", "into", "is", "it", "no", "not", "of",
    "on", "or", "such", "that", "the", "their", "then", "there", "these", "they", "this", "to", "was", "will", "with",
];

/// Which words are dropped before indexing and searching.
#[derive(Clone, Debug, PartialEq, Eq, Default)]
pub enum StopWords {
    /// Keep every word.
    None,
    /// [`ENGLISH_STOP_WORDS`].
    #[default]
    English,
    /// A caller's list, compared after lower-casing (write the entries in lower case).
    Custom(Vec<String>),
}

/// How a [`Tokenizer`] cuts text into terms.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TokenizerOptions {
    /// Fold to lower case (Unicode rules, per character; final sigma is folded to σ).
    pub lowercase: bool,
    /// Apply Unicode NFKC normalisation first (composes accents, folds compatibility forms).
    pub normalize_unicode: bool,
    /// Tokens with fewer characters (Unicode scalar values) are dropped. 2 matches bm25s; 1
    /// keeps single letters and digits.
    pub min_token_chars: usize,
    /// Tokens with more characters are dropped (long runs are rarely words: hashes, base64).
    pub max_token_chars: usize,
    /// Stop word list, applied to the lower-cased token before stemming.
    pub stop_words: StopWords,
    /// Reduce words to their stem with the Snowball English (Porter 2) stemmer, so that
    /// "measuring" and "measurement" both become "measur".
    pub stem_english: bool,
}

/// Default [`TokenizerOptions::min_token_chars`].
pub const MIN_TOKEN_CHARS: usize = 2;
/// Default [`TokenizerOptions::max_token_chars`] (Lucene's default maximum token length).
pub const MAX_TOKEN_CHARS: usize = 255;

impl Default for TokenizerOptions {
    fn default() -> Self {
        TokenizerOptions {
            lowercase: true,
            normalize_unicode: true,
            min_token_chars: MIN_TOKEN_CHARS,
            max_token_chars: MAX_TOKEN_CHARS,
            stop_words: StopWords::English,
            stem_english: false,
        }
    }
}

impl TokenizerOptions {
    /// Checks the bounds: `1 <= min_token_chars <= max_token_chars`.
    pub fn validate(&self) -> crate::Result<()> {
        if self.min_token_chars == 0 || self.min_token_chars > self.max_token_chars {
            return Err(crate::Error::InvalidArgument(format!(
                "token length bounds must satisfy 1 <= min ({}) <= max ({})",
                self.min_token_chars, self.max_token_chars
            )));
        }
        Ok(())
    }
}

/// A configured tokenizer. Immutable, `Send + Sync`: one instance serves every thread.
pub struct Tokenizer {
    options: TokenizerOptions,
    stop_words: HashSet<String>,
    stemmer: Option<Stemmer>,
}

impl fmt::Debug for Tokenizer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Tokenizer").field("options", &self.options).finish_non_exhaustive()
    }
}

impl Default for Tokenizer {
    fn default() -> Self {
        Tokenizer::new(TokenizerOptions::default()).expect("default options are valid")
    }
}

impl Tokenizer {
    /// Builds a tokenizer; fails with `InvalidArgument` on bad length bounds.
    pub fn new(options: TokenizerOptions) -> crate::Result<Tokenizer> {
        options.validate()?;
        let stop_words = match &options.stop_words {
            StopWords::None => HashSet::new(),
            StopWords::English => ENGLISH_STOP_WORDS.iter().map(|w| w.to_string()).collect(),
            StopWords::Custom(list) => list.iter().cloned().collect(),
        };
        let stemmer = options.stem_english.then(|| Stemmer::create(Algorithm::English));
        Ok(Tokenizer { options, stop_words, stemmer })
    }

    /// The options this tokenizer was built with.
    pub fn options(&self) -> &TokenizerOptions {
        &self.options
    }

    /// The tokens of `text`, in order, repeats included.
    pub fn tokenize(&self, text: &str) -> Vec<String> {
        let mut out = Vec::new();
        self.for_each_token(text, |t| out.push(t.to_string()));
        out
    }

    /// Calls `emit` with each token of `text`, in order, without allocating one string per
    /// token.
    pub fn for_each_token(&self, text: &str, mut emit: impl FnMut(&str)) {
        let text: Cow<'_, str> = if self.options.normalize_unicode && is_nfkc_quick(text.chars()) != IsNormalized::Yes {
            Cow::Owned(text.nfkc().collect())
        } else {
            Cow::Borrowed(text)
        };
        let mut word = String::new();
        let mut chars = 0usize;
        for c in text.chars() {
            if c.is_alphanumeric() {
                if !self.options.lowercase {
                    word.push(c);
                } else if c.is_ascii() {
                    word.push(c.to_ascii_lowercase());
                } else {
                    // Final sigma (ς) and sigma (σ) are one letter: Σ lower-cases to σ, and
                    // "ΟΔΟΣ" must match "οδος".
                    word.extend(c.to_lowercase().map(|l| if l == 'ς' { 'σ' } else { l }));
                }
                chars += 1;
            } else if chars > 0 {
                self.finish(&word, chars, &mut emit);
                word.clear();
                chars = 0;
            }
        }
        if chars > 0 {
            self.finish(&word, chars, &mut emit);
        }
    }

    fn finish(&self, word: &str, chars: usize, emit: &mut impl FnMut(&str)) {
        if chars < self.options.min_token_chars || chars > self.options.max_token_chars {
            return;
        }
        if self.stop_words.contains(word) {
            return;
        }
        match &self.stemmer {
            Some(s) => emit(&s.stem(word)),
            None => emit(word),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn opts(f: impl FnOnce(&mut TokenizerOptions)) -> Tokenizer {
        let mut o = TokenizerOptions::default();
        f(&mut o);
        Tokenizer::new(o).unwrap()
    }

    #[test]
    fn default_lowercases_splits_and_drops_stop_words_and_single_chars() {
        let t = Tokenizer::default();
        assert_eq!(
            t.tokenize("The Quick-brown fox, is NOT a 2x faster_route: x 7 42!"),
            ["quick", "brown", "fox", "2x", "faster", "route", "42"]
        );
    }

    #[test]
    fn options_change_the_output() {
        let keep_all = opts(|o| {
            o.stop_words = StopWords::None;
            o.min_token_chars = 1;
        });
        assert_eq!(keep_all.tokenize("The cat, a hat"), ["the", "cat", "a", "hat"]);
        let stem = opts(|o| o.stem_english = true);
        assert_eq!(
            stem.tokenize("Measuring measurements of the running Runners"),
            ["measur", "measur", "run", "runner"]
        );
        let custom = opts(|o| o.stop_words = StopWords::Custom(vec!["cat".into()]));
        assert_eq!(custom.tokenize("the cat sat"), ["the", "sat"]);
        let cased = opts(|o| o.lowercase = false);
        assert_eq!(cased.tokenize("Hello WORLD"), ["Hello", "WORLD"]);
        let short = opts(|o| o.max_token_chars = 4);
        assert_eq!(short.tokenize("tiny enormous word"), ["tiny", "word"]);
        assert!(Tokenizer::new(TokenizerOptions { min_token_chars: 0, ..Default::default() }).is_err());
        assert!(
            Tokenizer::new(TokenizerOptions { min_token_chars: 5, max_token_chars: 4, ..Default::default() }).is_err()
        );
    }

    #[test]
    fn empty_and_separator_only_input_give_no_tokens() {
        let t = Tokenizer::default();
        for s in ["", " ", "\t\n\r", "--- ... !!!", "the a of", "\u{200b}\u{feff}", "🙂🚀"] {
            assert!(t.tokenize(s).is_empty(), "{s:?} gave {:?}", t.tokenize(s));
        }
    }

    #[test]
    fn non_ascii_words() {
        let t = Tokenizer::default();
        assert_eq!(t.tokenize("Éclair au café"), ["éclair", "au", "café"]);
        // Decomposed "E + combining acute" composes under NFKC: the same term as above.
        assert_eq!(t.tokenize("E\u{301}clair"), ["éclair"]);
        // CJK runs are single tokens; no word segmentation.
        assert_eq!(t.tokenize("東京 と 大阪"), ["東京", "大阪"]);
        assert_eq!(t.tokenize("東京都"), ["東京都"]);
        assert_eq!(t.tokenize("ΟΔΟΣ οδος"), ["οδοσ", "οδοσ"]);
        assert_eq!(t.tokenize("Straße MÜNCHEN"), ["straße", "münchen"]);
        assert_eq!(t.tokenize("Привет, МИР"), ["привет", "мир"]);
        // Full-width letters and the "fi" ligature fold under NFKC.
        assert_eq!(t.tokenize("ＦＩＬＥ ﬁle"), ["file", "file"]);
        // Digits of other scripts are alphanumeric.
        assert_eq!(t.tokenize("٣٤ items"), ["٣٤", "items"]);
    }

    #[test]
    fn without_normalisation_combining_marks_split_words() {
        let t = opts(|o| o.normalize_unicode = false);
        // U+0301 is a mark, not alphanumeric: the word breaks there and "e" is too short.
        assert_eq!(t.tokenize("E\u{301}clair"), ["clair"]);
    }

    #[test]
    fn long_input_without_separators() {
        let t = Tokenizer::default();
        let long = "x".repeat(10_000);
        assert!(t.tokenize(&long).is_empty());
        let ok = "y".repeat(MAX_TOKEN_CHARS);
        assert_eq!(t.tokenize(&format!("{long} {ok}")), [ok]);
    }

    #[test]
    fn tokenizer_is_send_and_sync() {
        fn check<T: Send + Sync>() {}
        check::<Tokenizer>();
    }
}
