//! The sealed file format and its keys.
//!
//! ```text
//! file   := header block* final-block
//! header := "SPSRCH" 0x00 0x01 (8 bytes) || file-id (16 random bytes)
//! block  := AES-256-GCM(file-key, nonce = 0u32 || index u64 BE,
//!                       aad = final-flag u8 || index u64 BE, 64 KiB plaintext) (64 KiB + 16)
//! final-block := the same with final-flag 1 and 0..=64 KiB of plaintext
//! file-key := HKDF-SHA256(salt = "sealpost-search index v1", ikm = index key)
//!                 .expand(file-id || path)
//! ```
//!
//! Every block but the last is full, so the plaintext length follows from the
//! file length. Why each piece is there:
//! - a per-file key bound to the random file id *and the path* means a block
//!   moved to another file, or a whole file renamed over another, fails to
//!   authenticate; nonces restart at 0 in every file without ever repeating
//!   under one key;
//! - the block index in nonce and AAD stops reordering within a file;
//! - the final flag stops truncation at a block boundary (the new last block
//!   was sealed as not final); cutting inside a block breaks its tag.

use std::path::Path;

use aws_lc_rs::aead::{AES_256_GCM, Aad, LessSafeKey, Nonce, UnboundKey};
use aws_lc_rs::hkdf::{HKDF_SHA256, Prk, Salt};
use aws_lc_rs::rand::{SecureRandom, SystemRandom};

/// Plaintext bytes per block.
pub(crate) const BLOCK: usize = 64 * 1024;
/// AES-GCM tag length.
pub(crate) const TAG: usize = 16;
/// Sealed bytes per full block.
pub(crate) const SEALED_BLOCK: usize = BLOCK + TAG;
const MAGIC: [u8; 8] = *b"SPSRCH\x00\x01";
/// Header length: magic and file id.
pub(crate) const HEADER: usize = MAGIC.len() + 16;

/// Why a sealed file could not be read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Damage {
    /// Not our magic, or shorter than a header and one tag.
    Header,
    /// A block failed authentication: wrong key, flipped bits, moved or cut.
    Block(u64),
}

/// The index key, as an HKDF pseudo-random key: the caller's bytes are not kept.
pub(crate) struct MasterKey(Prk);

impl MasterKey {
    pub(crate) fn new(key: &[u8; 32]) -> Self {
        Self(Salt::new(HKDF_SHA256, b"sealpost-search index v1").extract(key))
    }

    /// The key of one file, bound to its id and path.
    pub(crate) fn file_key(&self, file_id: [u8; 16], path: &Path) -> FileKey {
        let path = path.to_string_lossy();
        let info: [&[u8]; 2] = [&file_id, path.as_bytes()];
        // Expanding 32 bytes with SHA-256 cannot fail (the limit is 255 * 32).
        let okm = self.0.expand(&info, &AES_256_GCM).map(UnboundKey::from);
        let key = match okm {
            Ok(key) => key,
            Err(_) => unreachable!("HKDF expand of one AES-256 key"),
        };
        FileKey { key: LessSafeKey::new(key), file_id }
    }
}

/// The key of one file.
pub(crate) struct FileKey {
    key: LessSafeKey,
    file_id: [u8; 16],
}

impl FileKey {
    /// A key for a new file under a fresh random id.
    pub(crate) fn generate(master: &MasterKey, path: &Path) -> std::io::Result<Self> {
        let mut file_id = [0u8; 16];
        SystemRandom::new().fill(&mut file_id).map_err(|_| std::io::Error::other("system random failed"))?;
        Ok(master.file_key(file_id, path))
    }

    /// Opens the key of an existing file from its header.
    pub(crate) fn from_header(master: &MasterKey, path: &Path, header: &[u8]) -> Result<Self, Damage> {
        let (magic, id) = header.split_at_checked(MAGIC.len()).ok_or(Damage::Header)?;
        let id: [u8; 16] = id.get(..16).and_then(|id| id.try_into().ok()).ok_or(Damage::Header)?;
        if magic != MAGIC {
            return Err(Damage::Header);
        }
        Ok(master.file_key(id, path))
    }

    /// The 16-byte random id, as a number (cache key).
    pub(crate) fn file_id(&self) -> u128 {
        u128::from_be_bytes(self.file_id)
    }

    /// The header to write first.
    pub(crate) fn header(&self) -> [u8; HEADER] {
        let mut header = [0u8; HEADER];
        header[..MAGIC.len()].copy_from_slice(&MAGIC);
        header[MAGIC.len()..].copy_from_slice(&self.file_id);
        header
    }

    /// Seals `block` in place (appends the tag).
    pub(crate) fn seal(&self, index: u64, last: bool, block: &mut Vec<u8>) {
        let (nonce, aad) = nonce_aad(index, last);
        // Sealing fails only for inputs beyond GCM's 64 GiB limit; blocks are 64 KiB.
        if self.key.seal_in_place_append_tag(Nonce::assume_unique_for_key(nonce), Aad::from(aad), block).is_err() {
            unreachable!("AES-GCM seal of a 64 KiB block");
        }
    }

    /// Opens one sealed block.
    pub(crate) fn open(&self, index: u64, last: bool, sealed: &[u8]) -> Result<Vec<u8>, Damage> {
        let (nonce, aad) = nonce_aad(index, last);
        let mut buf = sealed.to_vec();
        let len = self
            .key
            .open_in_place(Nonce::assume_unique_for_key(nonce), Aad::from(aad), &mut buf)
            .map_err(|_| Damage::Block(index))?
            .len();
        buf.truncate(len);
        Ok(buf)
    }
}

fn nonce_aad(index: u64, last: bool) -> ([u8; 12], [u8; 9]) {
    let mut nonce = [0u8; 12];
    nonce[4..].copy_from_slice(&index.to_be_bytes());
    let mut aad = [0u8; 9];
    aad[0] = u8::from(last);
    aad[1..].copy_from_slice(&index.to_be_bytes());
    (nonce, aad)
}

/// Where the blocks of a sealed file of a given length are.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Layout {
    /// Plaintext length.
    pub(crate) len: usize,
    /// Number of blocks (at least one: an empty file has an empty final block).
    pub(crate) blocks: u64,
}

impl Layout {
    pub(crate) fn of_sealed_len(sealed_len: usize) -> Result<Self, Damage> {
        let body = sealed_len.checked_sub(HEADER).filter(|&b| b >= TAG).ok_or(Damage::Header)?;
        let blocks = body.div_ceil(SEALED_BLOCK);
        let last_sealed = body - (blocks - 1) * SEALED_BLOCK;
        if last_sealed < TAG {
            // A final block shorter than its tag: cut inside a tag.
            return Err(Damage::Block(blocks as u64 - 1));
        }
        Ok(Self { len: (blocks - 1) * BLOCK + last_sealed - TAG, blocks: blocks as u64 })
    }

    /// The sealed byte range of block `index`.
    pub(crate) fn sealed_range(&self, index: u64) -> std::ops::Range<usize> {
        let start = HEADER + index as usize * SEALED_BLOCK;
        let plain = self.plain_range(index);
        start..start + plain.len() + TAG
    }

    /// The plaintext byte range of block `index`.
    pub(crate) fn plain_range(&self, index: u64) -> std::ops::Range<usize> {
        let start = index as usize * BLOCK;
        start..(start + BLOCK).min(self.len)
    }

    pub(crate) fn is_last(&self, index: u64) -> bool {
        index + 1 == self.blocks
    }
}

/// Seals a whole small file (meta.json, managed.json) at once.
pub(crate) fn seal_all(key: &FileKey, plain: &[u8]) -> Vec<u8> {
    let blocks = plain.len().div_ceil(BLOCK).max(1);
    let mut out = Vec::with_capacity(HEADER + plain.len() + blocks * TAG);
    out.extend_from_slice(&key.header());
    let mut block = Vec::with_capacity(SEALED_BLOCK);
    for index in 0..blocks {
        block.clear();
        block.extend_from_slice(&plain[index * BLOCK..((index + 1) * BLOCK).min(plain.len())]);
        key.seal(index as u64, index + 1 == blocks, &mut block);
        out.extend_from_slice(&block);
    }
    out
}

/// Opens a whole sealed file.
pub(crate) fn open_all(master: &MasterKey, path: &Path, sealed: &[u8]) -> Result<Vec<u8>, Damage> {
    let key = FileKey::from_header(master, path, sealed.get(..HEADER).ok_or(Damage::Header)?)?;
    let layout = Layout::of_sealed_len(sealed.len())?;
    let mut out = Vec::with_capacity(layout.len);
    for index in 0..layout.blocks {
        let range = layout.sealed_range(index);
        out.extend_from_slice(&key.open(index, layout.is_last(index), &sealed[range])?);
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn master() -> MasterKey {
        MasterKey::new(&[9u8; 32])
    }

    #[test]
    fn round_trips_at_block_boundaries() {
        let master = master();
        for len in [0, 1, BLOCK - 1, BLOCK, BLOCK + 1, 3 * BLOCK, 3 * BLOCK + 17] {
            let plain: Vec<u8> = (0..len).map(|i| (i % 251) as u8).collect();
            let key = FileKey::generate(&master, Path::new("a.idx")).unwrap();
            let sealed = seal_all(&key, &plain);
            assert_eq!(Layout::of_sealed_len(sealed.len()).unwrap().len, len);
            assert_eq!(open_all(&master, Path::new("a.idx"), &sealed).unwrap(), plain, "len {len}");
        }
    }

    #[test]
    fn detects_truncation_renaming_and_wrong_keys() {
        let master = master();
        let key = FileKey::generate(&master, Path::new("a.idx")).unwrap();
        let plain = vec![7u8; 2 * BLOCK + 5];
        let sealed = seal_all(&key, &plain);
        // Cut at a block boundary: the remaining last block was not sealed as final.
        let cut = &sealed[..HEADER + 2 * SEALED_BLOCK];
        assert_eq!(open_all(&master, Path::new("a.idx"), cut), Err(Damage::Block(1)));
        // Cut inside a block.
        assert!(open_all(&master, Path::new("a.idx"), &sealed[..sealed.len() - 1]).is_err());
        // The same bytes under another name.
        assert_eq!(open_all(&master, Path::new("b.idx"), &sealed), Err(Damage::Block(0)));
        // Another key.
        assert_eq!(open_all(&MasterKey::new(&[8u8; 32]), Path::new("a.idx"), &sealed), Err(Damage::Block(0)));
        // Two blocks swapped.
        let mut swapped = sealed.clone();
        let (a, b) = (HEADER..HEADER + SEALED_BLOCK, HEADER + SEALED_BLOCK..HEADER + 2 * SEALED_BLOCK);
        let first = sealed[a.clone()].to_vec();
        swapped.copy_within(b.clone(), a.start);
        swapped[b].copy_from_slice(&first);
        assert_eq!(open_all(&master, Path::new("a.idx"), &swapped), Err(Damage::Block(0)));
        // Not our file at all.
        assert_eq!(open_all(&master, Path::new("a.idx"), b"{\"segments\": []}"), Err(Damage::Header));
    }
}
