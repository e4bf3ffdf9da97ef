//! Data-in written straight into the caller's buffer with SPC-4's allocation length rule (4.2.5.6):
//! the response is built whole, but only the first ALLOCATION LENGTH bytes (and no more than the
//! buffer holds) are transferred; length fields still describe the whole response.

pub(crate) struct Reply<'a> {
    buf: &'a mut [u8],
    /// Bytes that may be transferred.
    limit: usize,
    /// Bytes of the response produced so far (may exceed `limit`).
    pos: usize,
}

impl<'a> Reply<'a> {
    pub fn new(buf: &'a mut [u8], allocation_length: usize) -> Self {
        let limit = allocation_length.min(buf.len());
        Self { buf, limit, pos: 0 }
    }

    pub fn bytes(&mut self, data: &[u8]) {
        let start = self.pos.min(self.limit);
        let end = self.pos.saturating_add(data.len()).min(self.limit);
        if start < end {
            self.buf[start..end].copy_from_slice(&data[..end - start]);
        }
        self.pos = self.pos.saturating_add(data.len());
    }

    pub fn u8(&mut self, v: u8) {
        self.bytes(&[v]);
    }

    pub fn be16(&mut self, v: u16) {
        self.bytes(&v.to_be_bytes());
    }

    pub fn be32(&mut self, v: u32) {
        self.bytes(&v.to_be_bytes());
    }

    pub fn be64(&mut self, v: u64) {
        self.bytes(&v.to_be_bytes());
    }

    pub fn zeros(&mut self, n: usize) {
        const Z: [u8; 32] = [0; 32];
        let mut left = n;
        while left > 0 {
            let k = left.min(Z.len());
            self.bytes(&Z[..k]);
            left -= k;
        }
    }

    /// Bytes produced so far: lets a builder check its length fields.
    pub fn produced(&self) -> usize {
        self.pos
    }

    /// Bytes actually transferred.
    pub fn finish(self) -> usize {
        self.pos.min(self.limit)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn truncates_to_allocation_length_and_buffer() {
        let mut buf = [0xEEu8; 8];
        let mut r = Reply::new(&mut buf, 5);
        r.be32(0x01020304);
        r.be32(0x05060708);
        assert_eq!(r.produced(), 8);
        assert_eq!(r.finish(), 5);
        assert_eq!(buf, [1, 2, 3, 4, 5, 0xEE, 0xEE, 0xEE]);

        let mut small = [0u8; 3];
        let mut r = Reply::new(&mut small, 100);
        r.zeros(40);
        r.u8(9);
        assert_eq!(r.produced(), 41);
        assert_eq!(r.finish(), 3);

        let mut none = [0u8; 0];
        let mut r = Reply::new(&mut none, 0);
        r.be64(1);
        assert_eq!(r.finish(), 0);
    }
}
