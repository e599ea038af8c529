//! Qiniu's etag: SHA-1 of each 4 MiB block; one block gives `0x16 ‖ sha1(block)`, more give
//! `0x96 ‖ sha1(sha1(b1) ‖ sha1(b2) ‖ …)`, URL-safe base64. An empty input hashes one empty
//! block. Computed incrementally, so an upload is hashed as it streams to disk.

use sha1::{Digest, Sha1};

use super::base64;

pub const BLOCK_SIZE: usize = 4 * 1024 * 1024;

#[derive(Clone, Default)]
pub struct Etag {
    block: Sha1,
    in_block: usize,
    block_hashes: Vec<u8>,
}

impl Etag {
    pub fn new() -> Etag {
        Etag::default()
    }

    pub fn update(&mut self, mut data: &[u8]) {
        while !data.is_empty() {
            let take = (BLOCK_SIZE - self.in_block).min(data.len());
            self.block.update(&data[..take]);
            self.in_block += take;
            data = &data[take..];
            if self.in_block == BLOCK_SIZE {
                let digest = std::mem::take(&mut self.block).finalize();
                self.block_hashes.extend_from_slice(&digest);
                self.in_block = 0;
            }
        }
    }

    pub fn finish(mut self) -> String {
        if self.in_block > 0 || self.block_hashes.is_empty() {
            let digest = std::mem::take(&mut self.block).finalize();
            self.block_hashes.extend_from_slice(&digest);
        }
        let mut out = Vec::with_capacity(21);
        if self.block_hashes.len() == 20 {
            out.push(0x16);
            out.extend_from_slice(&self.block_hashes);
        } else {
            out.push(0x96);
            out.extend_from_slice(&Sha1::digest(&self.block_hashes));
        }
        base64::encode(out)
    }
}

/// The etag of a whole buffer.
pub fn of(data: &[u8]) -> String {
    let mut etag = Etag::new();
    etag.update(data);
    etag.finish()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn chunking_does_not_matter() {
        let data: Vec<u8> = (0..(BLOCK_SIZE * 2 + 17)).map(|i| (i * 7 % 251) as u8).collect();
        let whole = of(&data);
        let mut parts = Etag::new();
        for chunk in data.chunks(65_537) {
            parts.update(chunk);
        }
        assert_eq!(parts.finish(), whole);
        assert!(whole.starts_with("l")); // 0x96 prefix
        assert_eq!(of(b""), "Fto5o-5ea0sNMlW_75VgGJCv2AcJ"); // sha1("") with the 0x16 prefix
    }
}
