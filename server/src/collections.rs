//! The collections of a data directory: `<data>/<name>/` is a durable index directory (the
//! library's snapshots, log and lock) plus `collection.json`, the server's own settings (the
//! key kind). Opened at start, created and deleted through the API.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, RwLock};

use omendb::index::IndexOptions;
use omendb::{Durability, Error, Index, KeyKind};

use crate::error::ApiError;

/// Which keys a collection takes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum KeyChoice {
    /// JSON strings.
    Str,
    /// JSON integers in 0..2^64-1.
    U64,
}

impl KeyChoice {
    pub fn name(self) -> &'static str {
        match self {
            KeyChoice::Str => "string",
            KeyChoice::U64 => "u64",
        }
    }

    pub fn from_name(name: &str) -> Result<KeyChoice, ApiError> {
        match name {
            "string" | "str" => Ok(KeyChoice::Str),
            "u64" | "int" => Ok(KeyChoice::U64),
            other => Err(ApiError::invalid(format!("unknown key kind {other:?}: expected \"string\" or \"u64\""))),
        }
    }
}

/// One open collection.
pub struct Collection {
    pub name: String,
    pub index: Index,
    pub key: KeyChoice,
}

/// Every collection of the data directory.
pub struct Registry {
    data: PathBuf,
    open: RwLock<BTreeMap<String, Arc<Collection>>>,
    /// Serialises creates and deletes (each touches the directory and the map).
    changes: Mutex<()>,
}

/// Collection names: 1 to 64 of `[A-Za-z0-9_-]`, so a name is always one plain directory
/// entry (no path traversal, no hidden files).
pub fn check_name(name: &str) -> Result<(), ApiError> {
    let ok = !name.is_empty() && name.len() <= 64 && name.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-');
    if ok {
        Ok(())
    } else {
        Err(ApiError::invalid(format!("bad collection name {name:?}: 1 to 64 letters, digits, '_' or '-'")))
    }
}

const SETTINGS: &str = "collection.json";
const DELETED: &str = ".deleted-";

impl Registry {
    /// Opens (creating it if missing) the data directory and every collection in it; removes
    /// what an interrupted delete left.
    pub fn open(data: &Path) -> Result<Registry, Error> {
        std::fs::create_dir_all(data).map_err(|e| Error::Io(format!("cannot create {}: {e}", data.display())))?;
        let mut open = BTreeMap::new();
        let entries = std::fs::read_dir(data).map_err(|e| Error::Io(format!("cannot list {}: {e}", data.display())))?;
        for entry in entries {
            let entry = entry.map_err(|e| Error::Io(format!("cannot list {}: {e}", data.display())))?;
            let name = entry.file_name().to_string_lossy().into_owned();
            let path = entry.path();
            if name.starts_with(DELETED) {
                let _ = std::fs::remove_dir_all(&path);
                continue;
            }
            if !path.is_dir() || check_name(&name).is_err() {
                continue;
            }
            // A directory with neither snapshot nor log is a create that never finished (the
            // process died before its first snapshot): nothing in it was acknowledged.
            let mut unfinished = false;
            let opened = Index::open_dir(
                &path,
                |stored| {
                    unfinished = stored.is_none();
                    stored.cloned().ok_or_else(|| Error::Corrupt("no snapshot".into()))
                },
                Durability::default(),
            );
            let index = match opened {
                Ok(index) => index,
                Err(_) if unfinished => {
                    tracing::warn!(collection = %name, "removing the directory of an unfinished create");
                    let _ = std::fs::remove_dir_all(&path);
                    continue;
                }
                Err(Error::Locked(m)) => return Err(Error::Locked(m)),
                Err(other) => return Err(Error::Io(format!("collection {name}: {other}"))),
            };
            let key = read_key_choice(&path).unwrap_or(match index.key_kind() {
                Some(KeyKind::U64) => KeyChoice::U64,
                _ => KeyChoice::Str,
            });
            open.insert(name.clone(), Arc::new(Collection { name, index, key }));
        }
        Ok(Registry { data: data.to_path_buf(), open: RwLock::new(open), changes: Mutex::new(()) })
    }

    pub fn get(&self, name: &str) -> Result<Arc<Collection>, ApiError> {
        check_name(name)?;
        self.open
            .read()
            .map_err(|_| ApiError::from(Error::Internal("registry lock poisoned".into())))?
            .get(name)
            .cloned()
            .ok_or_else(|| ApiError::not_found(format!("no collection {name:?}")))
    }

    pub fn list(&self) -> Vec<Arc<Collection>> {
        self.open.read().map(|m| m.values().cloned().collect()).unwrap_or_default()
    }

    /// Creates a collection (409 if one of that name exists).
    pub fn create(&self, name: &str, options: IndexOptions, key: KeyChoice) -> Result<Arc<Collection>, ApiError> {
        check_name(name)?;
        let _change = self.changes.lock().map_err(|_| ApiError::from(Error::Internal("registry lock poisoned".into())))?;
        if self.open.read().map(|m| m.contains_key(name)).unwrap_or(true) {
            return Err(ApiError::new(axum::http::StatusCode::CONFLICT, "CONFLICT", format!("collection {name:?} exists")));
        }
        let dir = self.data.join(name);
        // Bad options fail here, before a directory exists.
        options.validate()?;
        // Made here, not by `open_dir`, so that it is this call's own (another process sharing
        // the data directory may be creating the same name) and can be removed if opening
        // fails; its name is synced with it.
        if let Err(e) = std::fs::create_dir(&dir) {
            return Err(if e.kind() == std::io::ErrorKind::AlreadyExists {
                ApiError::new(axum::http::StatusCode::CONFLICT, "CONFLICT", format!("{} exists but is not an open collection", dir.display()))
            } else {
                Error::Io(format!("cannot create {}: {e}", dir.display())).into()
            });
        }
        let synced = std::fs::File::open(&self.data).and_then(|d| d.sync_all());
        let opened = synced.map_err(|e| Error::Io(format!("cannot sync {}: {e}", self.data.display()))).and_then(|()| Index::open_dir(&dir, |_| Ok(options), Durability::default()));
        let index = match opened {
            Ok(index) => index,
            Err(e) => {
                let _ = std::fs::remove_dir_all(&dir);
                return Err(e.into());
            }
        };
        write_key_choice(&dir, key)?;
        let collection = Arc::new(Collection { name: name.to_string(), index, key });
        self.open
            .write()
            .map_err(|_| ApiError::from(Error::Internal("registry lock poisoned".into())))?
            .insert(name.to_string(), collection.clone());
        Ok(collection)
    }

    /// Deletes a collection: out of the map at once (later requests get 404), its directory
    /// renamed aside and removed (a crash meanwhile leaves a `.deleted-` directory, removed at
    /// the next start). Requests already running finish on the open index.
    pub fn delete(&self, name: &str) -> Result<(), ApiError> {
        check_name(name)?;
        let _change = self.changes.lock().map_err(|_| ApiError::from(Error::Internal("registry lock poisoned".into())))?;
        let removed = self
            .open
            .write()
            .map_err(|_| ApiError::from(Error::Internal("registry lock poisoned".into())))?
            .remove(name)
            .ok_or_else(|| ApiError::not_found(format!("no collection {name:?}")))?;
        let nanos = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_nanos());
        let aside = self.data.join(format!("{DELETED}{name}-{nanos}"));
        std::fs::rename(self.data.join(name), &aside).map_err(|e| ApiError::from(Error::Io(format!("cannot delete {name}: {e}"))))?;
        drop(removed);
        let _ = std::fs::remove_dir_all(&aside);
        Ok(())
    }
}

fn read_key_choice(dir: &Path) -> Option<KeyChoice> {
    let text = std::fs::read_to_string(dir.join(SETTINGS)).ok()?;
    let value: serde_json::Value = serde_json::from_str(&text).ok()?;
    KeyChoice::from_name(value.get("key")?.as_str()?).ok()
}

fn write_key_choice(dir: &Path, key: KeyChoice) -> Result<(), ApiError> {
    let text = serde_json::json!({ "key": key.name() }).to_string();
    let tmp = dir.join(format!(".{SETTINGS}.tmp"));
    std::fs::write(&tmp, text)
        .and_then(|()| std::fs::File::open(&tmp)?.sync_all())
        .and_then(|()| std::fs::rename(&tmp, dir.join(SETTINGS)))
        .map_err(|e| ApiError::from(Error::Io(format!("cannot write {}: {e}", dir.join(SETTINGS).display()))))
}
