//! Little-endian encoding shared by the index file's sections: a byte-vector writer and a
//! checked reader whose every overrun is reported as corruption (never a panic).

use crate::error::{Error, Result};

pub(crate) fn corrupt(msg: impl Into<String>) -> Error {
    Error::Corrupt(msg.into())
}

/// Appends little-endian values to a byte vector.
#[derive(Default)]
pub(crate) struct Le(pub Vec<u8>);

impl Le {
    pub fn u8(&mut self, v: u8) {
        self.0.push(v);
    }
    pub fn u32(&mut self, v: u32) {
        self.0.extend_from_slice(&v.to_le_bytes());
    }
    pub fn u64(&mut self, v: u64) {
        self.0.extend_from_slice(&v.to_le_bytes());
    }
    pub fn f32(&mut self, v: f32) {
        self.0.extend_from_slice(&v.to_le_bytes());
    }
    /// A u32 byte length, then the bytes.
    pub fn str(&mut self, s: &str) {
        self.u32(s.len() as u32);
        self.0.extend_from_slice(s.as_bytes());
    }
}

/// A little-endian reader over one section's bytes; running past the end is corruption.
pub(crate) struct Cursor<'a> {
    bytes: &'a [u8],
    pub pos: usize,
    what: &'static str,
}

impl<'a> Cursor<'a> {
    pub fn new(bytes: &'a [u8], what: &'static str) -> Self {
        Cursor { bytes, pos: 0, what }
    }
    pub fn take(&mut self, n: usize) -> Result<&'a [u8]> {
        let end = self.pos.checked_add(n).filter(|&e| e <= self.bytes.len()).ok_or_else(|| {
            corrupt(format!("section {} ends inside a record (offset {} + {n} bytes)", self.what, self.pos))
        })?;
        let s = &self.bytes[self.pos..end];
        self.pos = end;
        Ok(s)
    }
    pub fn u8(&mut self) -> Result<u8> {
        Ok(self.take(1)?[0])
    }
    pub fn u32(&mut self) -> Result<u32> {
        Ok(u32::from_le_bytes(self.take(4)?.try_into().unwrap()))
    }
    pub fn u64(&mut self) -> Result<u64> {
        Ok(u64::from_le_bytes(self.take(8)?.try_into().unwrap()))
    }
    pub fn f32(&mut self) -> Result<f32> {
        Ok(f32::from_le_bytes(self.take(4)?.try_into().unwrap()))
    }
    /// A u32 byte length, then that many bytes of UTF-8.
    pub fn str(&mut self) -> Result<&'a str> {
        let n = self.u32()? as usize;
        std::str::from_utf8(self.take(n)?).map_err(|_| corrupt(format!("section {}: a string is not UTF-8", self.what)))
    }
    /// A count read from the file, checked against the bytes left (each item takes at least
    /// `min_item_bytes`), so that no allocation sized by it can exceed the section.
    pub fn count(&mut self, min_item_bytes: usize) -> Result<usize> {
        let n = self.u32()? as usize;
        if n.saturating_mul(min_item_bytes.max(1)) > self.remaining() {
            return Err(corrupt(format!("section {}: a count of {n} is larger than the section holds", self.what)));
        }
        Ok(n)
    }
    pub fn remaining(&self) -> usize {
        self.bytes.len() - self.pos
    }
    pub fn done(&self) -> bool {
        self.pos == self.bytes.len()
    }
    /// Fails unless every byte was consumed.
    pub fn finish(&self) -> Result<()> {
        if self.done() {
            Ok(())
        } else {
            Err(corrupt(format!("section {} has {} bytes that belong to no record", self.what, self.remaining())))
        }
    }
}
