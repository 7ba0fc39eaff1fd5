//! MessagePack frames: an array of maps, with `t` as a timestamp extension (type −1), as Alpaca
//! sends when the client asks for `application/msgpack`.

use pyrt_types::{SymbolTable, Timestamp};

use super::{Fields, FrameError, Item, Key, LevelReader, List, Value, emit};

const TIMESTAMP_EXT: i8 = -1;

struct Reader<'a> {
    bytes: &'a [u8],
    pos: usize,
}

impl<'a> Reader<'a> {
    fn fail<T>(&self, reason: &'static str) -> Result<T, FrameError> {
        Err(FrameError {
            at: self.pos,
            reason,
        })
    }

    #[inline]
    fn take(&mut self, n: usize) -> Result<&'a [u8], FrameError> {
        let end = self
            .pos
            .checked_add(n)
            .filter(|&end| end <= self.bytes.len());
        match end {
            Some(end) => {
                let slice = &self.bytes[self.pos..end];
                self.pos = end;
                Ok(slice)
            }
            None => self.fail("truncated"),
        }
    }

    #[inline]
    fn byte(&mut self) -> Result<u8, FrameError> {
        Ok(self.take(1)?[0])
    }

    #[inline]
    fn be<const N: usize>(&mut self) -> Result<[u8; N], FrameError> {
        let mut out = [0u8; N];
        out.copy_from_slice(self.take(N)?);
        Ok(out)
    }

    fn len_u16(&mut self) -> Result<usize, FrameError> {
        Ok(usize::from(u16::from_be_bytes(self.be()?)))
    }

    fn len_u32(&mut self) -> Result<usize, FrameError> {
        usize::try_from(u32::from_be_bytes(self.be()?)).or_else(|_| self.fail("length too large"))
    }

    /// Length of an array (`map == false`) or map header.
    fn container_len(&mut self, map: bool) -> Result<usize, FrameError> {
        let marker = self.byte()?;
        match (map, marker) {
            (false, 0x90..=0x9f) | (true, 0x80..=0x8f) => Ok(usize::from(marker & 0x0f)),
            (false, 0xdc) | (true, 0xde) => self.len_u16(),
            (false, 0xdd) | (true, 0xdf) => self.len_u32(),
            (false, _) => self.fail("expected an array"),
            (true, _) => self.fail("expected a map"),
        }
    }

    fn str_body(&mut self, len: usize) -> Result<&'a str, FrameError> {
        let raw = self.take(len)?;
        std::str::from_utf8(raw).or_else(|_| self.fail("string is not UTF-8"))
    }

    fn timestamp(&mut self, len: usize) -> Result<Value<'a>, FrameError> {
        let nanos_since = |secs: i64, nanos: u32| {
            secs.checked_mul(1_000_000_000)
                .and_then(|n| n.checked_add(i64::from(nanos)))
                .map(|n| Value::Time(Timestamp::from_unix_nanos(n)))
        };
        let value = match len {
            4 => nanos_since(i64::from(u32::from_be_bytes(self.be()?)), 0),
            8 => {
                let packed = u64::from_be_bytes(self.be()?);
                // Upper 30 bits nanoseconds, lower 34 bits seconds (both fit their targets).
                let nanos = u32::try_from(packed >> 34).unwrap_or(u32::MAX);
                let secs = i64::try_from(packed & 0x3_ffff_ffff).unwrap_or(i64::MAX);
                nanos_since(secs, nanos)
            }
            12 => {
                let nanos = u32::from_be_bytes(self.be()?);
                nanos_since(i64::from_be_bytes(self.be()?), nanos)
            }
            _ => return self.fail("timestamp extension of unsupported length"),
        };
        value.map_or_else(|| self.fail("timestamp out of range"), Ok)
    }

    fn ext(&mut self, len: usize) -> Result<Value<'a>, FrameError> {
        let kind = i8::from_be_bytes([self.byte()?]);
        if kind == TIMESTAMP_EXT {
            self.timestamp(len)
        } else {
            self.take(len).map(|_| Value::Other)
        }
    }

    /// Reads one value; containers are skipped (or, for arrays, kept as a lazy list).
    fn value(&mut self) -> Result<Value<'a>, FrameError> {
        let marker = self.byte()?;
        Ok(match marker {
            0x00..=0x7f => Value::Int(i64::from(marker)),
            0xe0..=0xff => Value::Int(i64::from(i8::from_be_bytes([marker]))),
            0xc0 => Value::Null,
            0xc2 => Value::Bool(false),
            0xc3 => Value::Bool(true),
            0xa0..=0xbf => Value::Str(self.str_body(usize::from(marker & 0x1f))?),
            0xd9 => {
                let len = usize::from(self.byte()?);
                Value::Str(self.str_body(len)?)
            }
            0xda => {
                let len = self.len_u16()?;
                Value::Str(self.str_body(len)?)
            }
            0xdb => {
                let len = self.len_u32()?;
                Value::Str(self.str_body(len)?)
            }
            0xcc => Value::Int(i64::from(self.byte()?)),
            0xcd => Value::Int(i64::from(u16::from_be_bytes(self.be()?))),
            0xce => Value::Int(i64::from(u32::from_be_bytes(self.be()?))),
            0xcf => match i64::try_from(u64::from_be_bytes(self.be()?)) {
                Ok(v) => Value::Int(v),
                Err(_) => Value::Other,
            },
            0xd0 => Value::Int(i64::from(i8::from_be_bytes(self.be()?))),
            0xd1 => Value::Int(i64::from(i16::from_be_bytes(self.be()?))),
            0xd2 => Value::Int(i64::from(i32::from_be_bytes(self.be()?))),
            0xd3 => Value::Int(i64::from_be_bytes(self.be()?)),
            0xca => Value::Float(f64::from(f32::from_be_bytes(self.be()?))),
            0xcb => Value::Float(f64::from_be_bytes(self.be()?)),
            0xc4 => {
                let len = usize::from(self.byte()?);
                self.take(len).map(|_| Value::Other)?
            }
            0xc5 => {
                let len = self.len_u16()?;
                self.take(len).map(|_| Value::Other)?
            }
            0xc6 => {
                let len = self.len_u32()?;
                self.take(len).map(|_| Value::Other)?
            }
            0xd4 => self.ext(1)?,
            0xd5 => self.ext(2)?,
            0xd6 => self.ext(4)?,
            0xd7 => self.ext(8)?,
            0xd8 => self.ext(16)?,
            0xc7 => {
                let len = usize::from(self.byte()?);
                self.ext(len)?
            }
            0xc8 => {
                let len = self.len_u16()?;
                self.ext(len)?
            }
            0xc9 => {
                let len = self.len_u32()?;
                self.ext(len)?
            }
            0x90..=0x9f | 0xdc | 0xdd => {
                self.pos -= 1;
                let len = self.container_len(false)?;
                let start = self.pos;
                self.skip(len)?;
                Value::List(List::Msgpack {
                    body: &self.bytes[start..self.pos],
                    len,
                })
            }
            0x80..=0x8f | 0xde | 0xdf => {
                self.pos -= 1;
                let len = self.container_len(true)?;
                self.skip(len.checked_mul(2).ok_or(FrameError {
                    at: self.pos,
                    reason: "map too large",
                })?)?;
                Value::Other
            }
            0xc1 => return self.fail("reserved marker 0xc1"),
        })
    }

    /// Skips `count` values, nested containers included, without recursion: a hostile frame of
    /// deeply nested arrays cannot exhaust the stack.
    fn skip(&mut self, count: usize) -> Result<(), FrameError> {
        let mut remaining = count;
        while remaining > 0 {
            remaining -= 1;
            // Every value takes at least one byte, which bounds `remaining` by the frame length.
            if remaining > self.bytes.len() - self.pos.min(self.bytes.len()) {
                return self.fail("container longer than the frame");
            }
            match self.bytes.get(self.pos) {
                None => return self.fail("truncated container"),
                Some(0x90..=0x9f | 0xdc | 0xdd) => remaining += self.container_len(false)?,
                Some(0x80..=0x8f | 0xde | 0xdf) => {
                    let pairs = self.container_len(true)?;
                    remaining = pairs
                        .checked_mul(2)
                        .and_then(|n| n.checked_add(remaining))
                        .ok_or(FrameError {
                            at: self.pos,
                            reason: "map too large",
                        })?;
                }
                Some(_) => {
                    self.value()?;
                }
            }
        }
        Ok(())
    }

    fn map(&mut self, fields: &mut Fields<'a>) -> Result<(), FrameError> {
        fields.clear();
        let len = self.container_len(true)?;
        for _ in 0..len {
            let Value::Str(key) = self.value()? else {
                return self.fail("map key is not a string");
            };
            let value = self.value()?;
            if let Some(key) = Key::from_bytes(key.as_bytes()) {
                fields.set(key, value);
            }
        }
        Ok(())
    }
}

struct MsgpackLevels<'a> {
    reader: Reader<'a>,
    left: usize,
}

impl<'a> LevelReader<'a> for MsgpackLevels<'a> {
    fn next_level(&mut self) -> Result<Option<(Value<'a>, Value<'a>)>, &'static str> {
        if self.left == 0 {
            return Ok(None);
        }
        self.left -= 1;
        let mut fields = Fields::new();
        self.reader.map(&mut fields).map_err(|e| e.reason)?;
        match (fields.get(Key::Price), fields.get(Key::Size)) {
            (Some(p), Some(s)) => Ok(Some((p, s))),
            _ => Err("order-book level without p and s"),
        }
    }
}

/// Parses a MessagePack frame (an array of maps), calling `sink` for every message in order.
/// Returns the number of messages read.
pub fn parse_msgpack_frame<'a>(
    frame: &'a [u8],
    symbols: &SymbolTable,
    recv: Timestamp,
    mut sink: impl FnMut(Item<'a>),
) -> Result<usize, FrameError> {
    let mut reader = Reader {
        bytes: frame,
        pos: 0,
    };
    let mut fields = Fields::new();
    let levels = |list| match list {
        List::Msgpack { body, len } => MsgpackLevels {
            reader: Reader {
                bytes: body,
                pos: 0,
            },
            left: len,
        },
        List::Json(_) => MsgpackLevels {
            reader: Reader { bytes: &[], pos: 0 },
            left: 0,
        },
    };
    let count = reader.container_len(false)?;
    for _ in 0..count {
        reader.map(&mut fields)?;
        emit(&fields, symbols, recv, levels, &mut sink);
    }
    if reader.pos != frame.len() {
        return reader.fail("data after the message array");
    }
    Ok(count)
}
