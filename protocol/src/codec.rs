//! Little-endian primitives. The reader checks every length before it indexes, so a
//! hostile frame can only produce an error, never a panic.

use crate::ProtocolError;

pub(crate) trait Put {
    fn put_u8(&mut self, v: u8);
    fn put_u16(&mut self, v: u16);
    fn put_i16(&mut self, v: i16);
    fn put_u32(&mut self, v: u32);
    fn put_i32(&mut self, v: i32);
    fn put_u64(&mut self, v: u64);
    fn put_i64(&mut self, v: i64);
    fn put_bytes(&mut self, v: &[u8]);
    fn put_str(&mut self, v: &str);
    fn put_opt_str(&mut self, v: Option<&str>);
    fn put_bool(&mut self, v: bool);
}

impl Put for Vec<u8> {
    fn put_u8(&mut self, v: u8) {
        self.push(v);
    }
    fn put_u16(&mut self, v: u16) {
        self.extend_from_slice(&v.to_le_bytes());
    }
    fn put_i16(&mut self, v: i16) {
        self.extend_from_slice(&v.to_le_bytes());
    }
    fn put_u32(&mut self, v: u32) {
        self.extend_from_slice(&v.to_le_bytes());
    }
    fn put_i32(&mut self, v: i32) {
        self.extend_from_slice(&v.to_le_bytes());
    }
    fn put_u64(&mut self, v: u64) {
        self.extend_from_slice(&v.to_le_bytes());
    }
    fn put_i64(&mut self, v: i64) {
        self.extend_from_slice(&v.to_le_bytes());
    }
    /// Length-prefixed (u32) bytes.
    fn put_bytes(&mut self, v: &[u8]) {
        self.put_u32(u32::try_from(v.len()).expect("field longer than 4 GiB"));
        self.extend_from_slice(v);
    }
    fn put_str(&mut self, v: &str) {
        self.put_bytes(v.as_bytes());
    }
    /// Absent is length 0xFFFF_FFFF, which no present string can have.
    fn put_opt_str(&mut self, v: Option<&str>) {
        match v {
            Some(s) => self.put_str(s),
            None => self.put_u32(u32::MAX),
        }
    }
    fn put_bool(&mut self, v: bool) {
        self.push(u8::from(v));
    }
}

pub(crate) struct Reader<'a> {
    buf: &'a [u8],
    pos: usize,
    tag: u8,
}

impl<'a> Reader<'a> {
    pub(crate) fn new(tag: u8, buf: &'a [u8]) -> Self {
        Reader { buf, pos: 0, tag }
    }

    pub(crate) fn position(&self) -> usize {
        self.pos
    }

    pub(crate) fn take(&mut self, n: usize) -> Result<&'a [u8], ProtocolError> {
        let rest = self.buf.len() - self.pos;
        if n > rest {
            return Err(ProtocolError::Truncated { tag: self.tag, needed: n - rest });
        }
        let s = &self.buf[self.pos..self.pos + n];
        self.pos += n;
        Ok(s)
    }

    fn array<const N: usize>(&mut self) -> Result<[u8; N], ProtocolError> {
        let mut a = [0u8; N];
        a.copy_from_slice(self.take(N)?);
        Ok(a)
    }

    pub(crate) fn u8(&mut self) -> Result<u8, ProtocolError> {
        Ok(self.take(1)?[0])
    }
    pub(crate) fn u16(&mut self) -> Result<u16, ProtocolError> {
        Ok(u16::from_le_bytes(self.array()?))
    }
    pub(crate) fn i16(&mut self) -> Result<i16, ProtocolError> {
        Ok(i16::from_le_bytes(self.array()?))
    }
    pub(crate) fn u32(&mut self) -> Result<u32, ProtocolError> {
        Ok(u32::from_le_bytes(self.array()?))
    }
    pub(crate) fn i32(&mut self) -> Result<i32, ProtocolError> {
        Ok(i32::from_le_bytes(self.array()?))
    }
    pub(crate) fn u64(&mut self) -> Result<u64, ProtocolError> {
        Ok(u64::from_le_bytes(self.array()?))
    }
    pub(crate) fn i64(&mut self) -> Result<i64, ProtocolError> {
        Ok(i64::from_le_bytes(self.array()?))
    }
    pub(crate) fn f64(&mut self) -> Result<f64, ProtocolError> {
        Ok(f64::from_le_bytes(self.array()?))
    }
    pub(crate) fn fixed<const N: usize>(&mut self) -> Result<[u8; N], ProtocolError> {
        self.array()
    }
    pub(crate) fn bool(&mut self) -> Result<bool, ProtocolError> {
        match self.u8()? {
            0 => Ok(false),
            1 => Ok(true),
            v => Err(ProtocolError::InvalidField { what: "boolean", value: v.into() }),
        }
    }
    pub(crate) fn bytes(&mut self) -> Result<&'a [u8], ProtocolError> {
        let len = self.u32()? as usize;
        self.take(len)
    }
    pub(crate) fn str(&mut self) -> Result<&'a str, ProtocolError> {
        crate::utf8(self.bytes()?).ok_or(ProtocolError::InvalidUtf8)
    }
    pub(crate) fn string(&mut self) -> Result<String, ProtocolError> {
        self.str().map(str::to_owned)
    }
    pub(crate) fn opt_string(&mut self) -> Result<Option<String>, ProtocolError> {
        let len = self.u32()?;
        if len == u32::MAX {
            return Ok(None);
        }
        let raw = self.take(len as usize)?;
        crate::utf8(raw).map(|s| Some(s.to_owned())).ok_or(ProtocolError::InvalidUtf8)
    }
    /// A count of items that each take at least `min_item_len` bytes: refusing counts the
    /// rest of the frame cannot hold stops a tiny frame from making us allocate gigabytes.
    pub(crate) fn count(&mut self, min_item_len: usize) -> Result<usize, ProtocolError> {
        let n = self.u32()? as usize;
        let rest = self.buf.len() - self.pos;
        if n.saturating_mul(min_item_len.max(1)) > rest {
            return Err(ProtocolError::Truncated { tag: self.tag, needed: n * min_item_len - rest });
        }
        Ok(n)
    }
    pub(crate) fn finish(self) -> Result<(), ProtocolError> {
        let extra = self.buf.len() - self.pos;
        if extra != 0 {
            return Err(ProtocolError::TrailingBytes { tag: self.tag, extra });
        }
        Ok(())
    }
}
