//! ClickHouse's `RowBinary` format, both ways: rows are written field by
//! field in column order (integers little-endian, strings as a LEB128
//! length then the bytes, `Nullable` as a null byte then the value,
//! `Array` as a LEB128 length then the elements) and read back the same
//! way. The format is the same on every server version Osprey supports
//! (18.16 to current), which is why it carries both inserts and answers.

use super::ChError;

/// Appends `RowBinary` values to a buffer (one insert body).
#[derive(Default)]
pub struct RowWriter {
    /// The encoded rows.
    pub buf: Vec<u8>,
    /// Rows written (the caller ends each row with [`RowWriter::end_row`]).
    pub rows: u64,
}

impl RowWriter {
    /// An empty body.
    pub fn new() -> Self {
        Self::default()
    }

    /// Counts one finished row.
    pub fn end_row(&mut self) {
        self.rows += 1;
    }

    /// `UInt8`.
    pub fn u8(&mut self, v: u8) {
        self.buf.push(v);
    }

    /// `UInt8` holding a boolean.
    pub fn bool(&mut self, v: bool) {
        self.buf.push(u8::from(v));
    }

    /// `UInt16`.
    pub fn u16(&mut self, v: u16) {
        self.buf.extend_from_slice(&v.to_le_bytes());
    }

    /// `UInt64`.
    pub fn u64(&mut self, v: u64) {
        self.buf.extend_from_slice(&v.to_le_bytes());
    }

    /// `Int64`.
    pub fn i64(&mut self, v: i64) {
        self.buf.extend_from_slice(&v.to_le_bytes());
    }

    /// `Float64`.
    pub fn f64(&mut self, v: f64) {
        self.buf.extend_from_slice(&v.to_le_bytes());
    }

    /// `Date`: days since 1970-01-01 of a UNIX time in ns.
    pub fn date_of_ns(&mut self, ns: u64) {
        self.u16(day_of_ns(ns));
    }

    fn len(&mut self, mut n: usize) {
        loop {
            let byte = (n & 0x7f) as u8;
            n >>= 7;
            if n == 0 {
                self.buf.push(byte);
                return;
            }
            self.buf.push(byte | 0x80);
        }
    }

    /// `String` (bytes, any content).
    pub fn bytes(&mut self, v: &[u8]) {
        self.len(v.len());
        self.buf.extend_from_slice(v);
    }

    /// `String`.
    pub fn str(&mut self, v: &str) {
        self.bytes(v.as_bytes());
    }

    /// `FixedString(N)` of exactly `v.len()` bytes.
    pub fn fixed(&mut self, v: &[u8]) {
        self.buf.extend_from_slice(v);
    }

    /// `Nullable(String)`.
    pub fn opt_str(&mut self, v: Option<&str>) {
        match v {
            None => self.u8(1),
            Some(s) => {
                self.u8(0);
                self.str(s);
            }
        }
    }

    /// `Nullable(FixedString(N))`.
    pub fn opt_fixed(&mut self, v: Option<&[u8]>) {
        match v {
            None => self.u8(1),
            Some(s) => {
                self.u8(0);
                self.fixed(s);
            }
        }
    }

    /// `Nullable(Int64)`.
    pub fn opt_i64(&mut self, v: Option<i64>) {
        match v {
            None => self.u8(1),
            Some(x) => {
                self.u8(0);
                self.i64(x);
            }
        }
    }

    /// `Array(UInt64)`.
    pub fn u64s(&mut self, v: &[u64]) {
        self.len(v.len());
        for x in v {
            self.u64(*x);
        }
    }
}

/// Days since 1970-01-01 (a ClickHouse `Date`) of a UNIX time in ns;
/// saturates at the type's last day (2149-06-06).
pub fn day_of_ns(ns: u64) -> u16 {
    u16::try_from(ns / 86_400_000_000_000).unwrap_or(u16::MAX)
}

/// Reads `RowBinary` values from an answer, in the order of its columns.
pub struct RowReader<'a> {
    buf: &'a [u8],
    at: usize,
}

impl<'a> RowReader<'a> {
    /// A reader at the start of `buf`.
    pub fn new(buf: &'a [u8]) -> Self {
        Self { buf, at: 0 }
    }

    /// True when every byte was read.
    pub fn done(&self) -> bool {
        self.at >= self.buf.len()
    }

    fn take(&mut self, n: usize) -> Result<&'a [u8], ChError> {
        let end = self
            .at
            .checked_add(n)
            .filter(|e| *e <= self.buf.len())
            .ok_or_else(|| {
                ChError::Decode(format!("answer ends inside a value at byte {}", self.at))
            })?;
        let s = &self.buf[self.at..end];
        self.at = end;
        Ok(s)
    }

    fn array<const N: usize>(&mut self) -> Result<[u8; N], ChError> {
        let mut a = [0; N];
        a.copy_from_slice(self.take(N)?);
        Ok(a)
    }

    /// `UInt8`.
    pub fn u8(&mut self) -> Result<u8, ChError> {
        Ok(self.take(1)?[0])
    }

    /// `UInt8` as a boolean.
    pub fn bool(&mut self) -> Result<bool, ChError> {
        Ok(self.u8()? != 0)
    }

    /// `UInt16`.
    pub fn u16(&mut self) -> Result<u16, ChError> {
        Ok(u16::from_le_bytes(self.array()?))
    }

    /// `UInt64`.
    pub fn u64(&mut self) -> Result<u64, ChError> {
        Ok(u64::from_le_bytes(self.array()?))
    }

    /// `Int64`.
    pub fn i64(&mut self) -> Result<i64, ChError> {
        Ok(i64::from_le_bytes(self.array()?))
    }

    /// `Float64`.
    pub fn f64(&mut self) -> Result<f64, ChError> {
        Ok(f64::from_le_bytes(self.array()?))
    }

    fn len(&mut self) -> Result<usize, ChError> {
        let mut n: u64 = 0;
        for shift in (0..64).step_by(7) {
            let b = self.u8()?;
            n |= u64::from(b & 0x7f) << shift;
            if b & 0x80 == 0 {
                return usize::try_from(n).map_err(|_| ChError::Decode("length too large".into()));
            }
        }
        Err(ChError::Decode("length varint too long".into()))
    }

    /// `String` as bytes.
    pub fn bytes(&mut self) -> Result<&'a [u8], ChError> {
        let n = self.len()?;
        self.take(n)
    }

    /// `String` holding UTF-8.
    pub fn string(&mut self) -> Result<String, ChError> {
        let b = self.bytes()?;
        String::from_utf8(b.to_vec()).map_err(|_| ChError::Decode("a string is not UTF-8".into()))
    }

    /// `FixedString(N)`.
    pub fn fixed<const N: usize>(&mut self) -> Result<[u8; N], ChError> {
        self.array()
    }

    fn null(&mut self) -> Result<bool, ChError> {
        Ok(self.u8()? != 0)
    }

    /// `Nullable(String)`.
    pub fn opt_string(&mut self) -> Result<Option<String>, ChError> {
        if self.null()? {
            Ok(None)
        } else {
            self.string().map(Some)
        }
    }

    /// `Nullable(FixedString(N))`.
    pub fn opt_fixed<const N: usize>(&mut self) -> Result<Option<[u8; N]>, ChError> {
        if self.null()? {
            Ok(None)
        } else {
            self.fixed().map(Some)
        }
    }

    /// `Nullable(Int64)`.
    pub fn opt_i64(&mut self) -> Result<Option<i64>, ChError> {
        if self.null()? {
            Ok(None)
        } else {
            self.i64().map(Some)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_type_reads_back_as_written() {
        let mut w = RowWriter::new();
        w.u8(7);
        w.u16(0xbeef);
        w.u64(u64::MAX - 1);
        w.i64(-5);
        w.f64(1.5);
        w.str(&"x".repeat(300));
        w.fixed(&[1, 2, 3, 4]);
        w.opt_str(None);
        w.opt_str(Some("é"));
        w.opt_fixed(Some(&[9; 8]));
        w.opt_i64(Some(-1));
        w.end_row();
        let mut r = RowReader::new(&w.buf);
        assert_eq!(r.u8().unwrap(), 7);
        assert_eq!(r.u16().unwrap(), 0xbeef);
        assert_eq!(r.u64().unwrap(), u64::MAX - 1);
        assert_eq!(r.i64().unwrap(), -5);
        assert_eq!(r.f64().unwrap(), 1.5);
        assert_eq!(r.string().unwrap().len(), 300, "a two-byte length");
        assert_eq!(r.fixed::<4>().unwrap(), [1, 2, 3, 4]);
        assert_eq!(r.opt_string().unwrap(), None);
        assert_eq!(r.opt_string().unwrap().as_deref(), Some("é"));
        assert_eq!(r.opt_fixed::<8>().unwrap(), Some([9; 8]));
        assert_eq!(r.opt_i64().unwrap(), Some(-1));
        assert!(r.done());
        assert!(
            r.u8().is_err(),
            "reading past the end is an error, not a panic"
        );
        assert_eq!(w.rows, 1);
    }

    #[test]
    fn days_count_from_the_epoch() {
        assert_eq!(day_of_ns(0), 0);
        assert_eq!(day_of_ns(86_400_000_000_000 * 3 + 1), 3);
        assert_eq!(day_of_ns(u64::MAX), u16::MAX);
    }
}
