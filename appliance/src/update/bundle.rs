//! The update bundle: an uncompressed tar whose first two members are `manifest.json` and its
//! Ed25519 signature `manifest.sig`, followed by the files the manifest lists with their
//! SHA-256 and size: `root.squashfs` (the slot image), `vmlinuz` and `initrd.img` (the slot's
//! kernel, which lives on the ESP). Signing the manifest alone and hashing the files keeps the
//! signature check cheap and lets the box refuse a bundle before it reads the big image.
//!
//! The root image is already compressed (squashfs), hence no compression around the tar.

use std::collections::BTreeMap;
use std::io::{Read, Write};
use std::path::Path;

use ring::signature::{self, Ed25519KeyPair, KeyPair as _, UnparsedPublicKey};
use serde::{Deserialize, Serialize};

use super::version::Version;

/// The bundle format this code writes and reads.
pub const FORMAT: u32 = 1;
/// The slot image's member name.
pub const ROOT: &str = "root.squashfs";
/// The kernel's member name.
pub const KERNEL: &str = "vmlinuz";
/// The initrd's member name.
pub const INITRD: &str = "initrd.img";
const MANIFEST: &str = "manifest.json";
const SIGNATURE: &str = "manifest.sig";
/// A manifest is small; more than this is not one.
const MAX_MANIFEST: u64 = 64 * 1024;

/// What a bundle says about itself (signed).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Manifest {
    pub format: u32,
    /// The firmware version the bundle installs.
    pub version: String,
    /// The oldest running version it may be installed over (a migration step it relies on).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub min_version: Option<String>,
    /// The board it is built for (`generic-x86_64`).
    pub board: String,
    /// Seconds since the epoch at build time (`SOURCE_DATE_EPOCH`), for display.
    pub created: u64,
    /// Member name → digest and size.
    pub files: BTreeMap<String, FileDigest>,
}

/// The SHA-256 (hex) and size of one member.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FileDigest {
    pub sha256: String,
    pub size: u64,
}

/// Why a bundle was refused or could not be made.
#[derive(Debug, thiserror::Error)]
pub enum BundleError {
    #[error("{what}: {source}")]
    Io { what: String, source: std::io::Error },
    #[error("not an update bundle: {0}")]
    Format(String),
    #[error("the signature does not match the manifest: tampered, or signed with another key")]
    BadSignature,
    #[error("the key file {0} is not an Ed25519 key in hex")]
    BadKey(String),
    #[error("{name} does not match the manifest (expected {expected_size} bytes sha256 {expected}, got {size} bytes sha256 {actual})")]
    Digest { name: String, expected: String, expected_size: u64, actual: String, size: u64 },
    #[error("the manifest's version is not valid: {0}")]
    Version(#[from] super::version::BadVersion),
}

fn io(what: impl Into<String>) -> impl FnOnce(std::io::Error) -> BundleError {
    let what = what.into();
    move |source| BundleError::Io { what, source }
}

/// A signing key pair, kept as the hex of its PKCS#8 document.
pub struct SigningKey {
    pair: Ed25519KeyPair,
}

impl SigningKey {
    /// A new random key; returns it and its PKCS#8 hex (what the key file holds).
    pub fn generate() -> Result<(Self, String), BundleError> {
        let rng = ring::rand::SystemRandom::new();
        let doc = Ed25519KeyPair::generate_pkcs8(&rng).map_err(|_| BundleError::BadKey("(new key)".into()))?;
        let hex = hex::encode(doc.as_ref());
        Ok((Self::from_hex(&hex, "(new key)")?, hex))
    }

    /// Reads a key file written by [`SigningKey::generate`]'s caller.
    pub fn load(path: &Path) -> Result<Self, BundleError> {
        let text = std::fs::read_to_string(path).map_err(io(format!("cannot read {}", path.display())))?;
        Self::from_hex(&text, &path.display().to_string())
    }

    fn from_hex(text: &str, what: &str) -> Result<Self, BundleError> {
        let der = hex::decode(text.trim()).map_err(|_| BundleError::BadKey(what.into()))?;
        let pair = Ed25519KeyPair::from_pkcs8(&der).map_err(|_| BundleError::BadKey(what.into()))?;
        Ok(Self { pair })
    }

    /// The public key as hex (what the image carries in `/usr/share/outpost/update.pub`).
    pub fn public_hex(&self) -> String {
        hex::encode(self.pair.public_key().as_ref())
    }
}

/// Reads a public key file (hex of the 32-byte Ed25519 key).
pub fn load_public_key(path: &Path) -> Result<Vec<u8>, BundleError> {
    let text = std::fs::read_to_string(path).map_err(io(format!("cannot read {}", path.display())))?;
    match hex::decode(text.trim()) {
        Ok(key) if key.len() == 32 => Ok(key),
        _ => Err(BundleError::BadKey(path.display().to_string())),
    }
}

/// SHA-256 and size of everything `reader` yields.
pub fn digest_of(mut reader: impl Read, what: &str) -> Result<FileDigest, BundleError> {
    let mut ctx = ring::digest::Context::new(&ring::digest::SHA256);
    let mut buf = vec![0u8; 1 << 16];
    let mut size = 0u64;
    loop {
        let n = reader.read(&mut buf).map_err(io(format!("cannot read {what}")))?;
        if n == 0 {
            break;
        }
        ctx.update(&buf[..n]);
        size += n as u64;
    }
    Ok(FileDigest { sha256: hex::encode(ctx.finish().as_ref()), size })
}

/// What goes into a new bundle.
pub struct BundleSpec<'a> {
    pub version: &'a str,
    pub min_version: Option<&'a str>,
    pub board: &'a str,
    pub created: u64,
    /// Member name → file on disk (`root.squashfs`, `vmlinuz`, `initrd.img`).
    pub files: Vec<(&'a str, &'a Path)>,
}

/// Writes a signed bundle to `out`. Tar headers carry `created` as their time and no owner,
/// so the same inputs give the same bundle.
pub fn create(spec: &BundleSpec<'_>, key: &SigningKey, out: impl Write) -> Result<Manifest, BundleError> {
    Version::parse(spec.version)?;
    if let Some(min) = spec.min_version {
        Version::parse(min)?;
    }
    let mut files = BTreeMap::new();
    for (name, path) in &spec.files {
        let f = std::fs::File::open(path).map_err(io(format!("cannot open {}", path.display())))?;
        files.insert((*name).to_owned(), digest_of(f, &path.display().to_string())?);
    }
    let manifest = Manifest {
        format: FORMAT,
        version: spec.version.to_owned(),
        min_version: spec.min_version.map(str::to_owned),
        board: spec.board.to_owned(),
        created: spec.created,
        files,
    };
    let json = serde_json::to_vec_pretty(&manifest).map_err(|e| BundleError::Format(e.to_string()))?;
    let sig = key.pair.sign(&json);
    let mut tar = tar::Builder::new(out);
    let header = |size: u64| {
        let mut h = tar::Header::new_ustar();
        h.set_size(size);
        h.set_mode(0o644);
        h.set_mtime(spec.created);
        h.set_entry_type(tar::EntryType::Regular);
        h
    };
    let append = |tar: &mut tar::Builder<_>, name: &str, size: u64, data: &mut dyn Read| {
        let mut h = header(size);
        tar.append_data(&mut h, name, data).map_err(io(format!("cannot write {name} into the bundle")))
    };
    append(&mut tar, MANIFEST, json.len() as u64, &mut json.as_slice())?;
    append(&mut tar, SIGNATURE, sig.as_ref().len() as u64, &mut sig.as_ref())?;
    for (name, path) in &spec.files {
        let mut f = std::fs::File::open(path).map_err(io(format!("cannot open {}", path.display())))?;
        let size = manifest.files.get(*name).map_or(0, |d| d.size);
        append(&mut tar, name, size, &mut f)?;
    }
    tar.into_inner().and_then(|mut w| w.flush()).map_err(io("cannot finish the bundle"))?;
    Ok(manifest)
}

/// Reads a bundle in one pass: checks the manifest's signature with `public_key`, hands the
/// manifest to `check` (which may refuse it before any member is read), then hands every
/// member, in order, to `each`, which may consume the reader it is given; each member's digest
/// and size are checked after `each` returns. A member the manifest does not list, or one it
/// lists that is missing, refuses the bundle.
pub fn read<R: Read, E: From<BundleError>>(
    reader: R,
    public_key: &[u8],
    check: impl FnOnce(&Manifest) -> Result<(), E>,
    mut each: impl FnMut(&str, &mut dyn Read) -> Result<(), E>,
) -> Result<Manifest, E> {
    let mut archive = tar::Archive::new(reader);
    let mut entries = archive.entries().map_err(io("cannot read the bundle"))?;
    let mut small = |want: &str| -> Result<Vec<u8>, BundleError> {
        let entry = entries.next().ok_or_else(|| BundleError::Format(format!("no {want}")))?;
        let entry = entry.map_err(io("cannot read the bundle"))?;
        let name = entry.path().map_err(io("cannot read the bundle"))?.display().to_string();
        if name != want {
            return Err(BundleError::Format(format!("expected {want}, found {name}")));
        }
        let mut bytes = Vec::new();
        entry.take(MAX_MANIFEST).read_to_end(&mut bytes).map_err(io(format!("cannot read {want}")))?;
        Ok(bytes)
    };
    let manifest_bytes = small(MANIFEST)?;
    let sig = small(SIGNATURE)?;
    let manifest = parse_signed(&manifest_bytes, &sig, public_key)?;
    check(&manifest)?;
    let mut seen = Vec::new();
    for entry in entries {
        let entry = entry.map_err(io("cannot read the bundle"))?;
        let name = entry.path().map_err(io("cannot read the bundle"))?.display().to_string();
        let Some(expected) = manifest.files.get(&name) else {
            return Err(BundleError::Format(format!("{name} is not in the manifest")).into());
        };
        let mut hashing = Hashing::new(entry.take(expected.size.saturating_add(1)));
        each(&name, &mut hashing)?;
        std::io::copy(&mut hashing, &mut std::io::sink()).map_err(io(format!("cannot read {name}")))?;
        let got = hashing.finish();
        if &got != expected {
            return Err(BundleError::Digest {
                name,
                expected: expected.sha256.clone(),
                expected_size: expected.size,
                actual: got.sha256,
                size: got.size,
            }
            .into());
        }
        seen.push(name);
    }
    if let Some(missing) = manifest.files.keys().find(|k| !seen.contains(k)) {
        return Err(BundleError::Format(format!("{missing} is missing")).into());
    }
    Ok(manifest)
}

/// Checks the signature, then parses and checks the manifest.
fn parse_signed(manifest_bytes: &[u8], sig: &[u8], public_key: &[u8]) -> Result<Manifest, BundleError> {
    UnparsedPublicKey::new(&signature::ED25519, public_key)
        .verify(manifest_bytes, sig)
        .map_err(|_| BundleError::BadSignature)?;
    let manifest: Manifest =
        serde_json::from_slice(manifest_bytes).map_err(|e| BundleError::Format(format!("manifest: {e}")))?;
    if manifest.format != FORMAT {
        return Err(BundleError::Format(format!("format {} (this box reads {FORMAT})", manifest.format)));
    }
    for name in [ROOT, KERNEL, INITRD] {
        if !manifest.files.contains_key(name) {
            return Err(BundleError::Format(format!("the manifest lists no {name}")));
        }
    }
    Version::parse(&manifest.version)?;
    Ok(manifest)
}

/// A reader that hashes what passes through it.
struct Hashing<R> {
    inner: R,
    ctx: ring::digest::Context,
    size: u64,
}

impl<R: Read> Hashing<R> {
    fn new(inner: R) -> Self {
        Self { inner, ctx: ring::digest::Context::new(&ring::digest::SHA256), size: 0 }
    }

    fn finish(self) -> FileDigest {
        FileDigest { sha256: hex::encode(self.ctx.finish().as_ref()), size: self.size }
    }
}

impl<R: Read> Read for Hashing<R> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.ctx.update(&buf[..n]);
        self.size += n as u64;
        Ok(n)
    }
}
