//! MessagePack frames: an array of maps, with `t` as a timestamp extension (type −1), as Alpaca
//! sends when the client asks for `application/msgpack`.

use pyrt_types::{SymbolTable, Timestamp};

use super::{
    Fields, FrameError, Item, Key, LevelReader, Levels, Value, emit, level, validate_levels,
};

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

    /// Reads one value; containers are skipped. Strings stay bytes: UTF-8 is checked only where a
    /// field is used as text.
    fn value(&mut self) -> Result<Value<'a>, FrameError> {
        let marker = self.byte()?;
        Ok(match marker {
            0x00..=0x7f => Value::Int(i64::from(marker)),
            0xe0..=0xff => Value::Int(i64::from(i8::from_be_bytes([marker]))),
            0xc0 => Value::Null,
            0xc2 => Value::Bool(false),
            0xc3 => Value::Bool(true),
            0xa0..=0xbf => Value::Str(self.take(usize::from(marker & 0x1f))?),
            0xd9 => {
                let len = usize::from(self.byte()?);
                Value::Str(self.take(len)?)
            }
            0xda => {
                let len = self.len_u16()?;
                Value::Str(self.take(len)?)
            }
            0xdb => {
                let len = self.len_u32()?;
                Value::Str(self.take(len)?)
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
                self.skip(len)?;
                Value::Other
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

    /// Skips `count` values, nested containers included, without recursion (a hostile frame of
    /// deeply nested arrays cannot exhaust the stack), checking only markers and lengths: a value
    /// nobody reads need not be, say, a valid timestamp.
    fn skip(&mut self, count: usize) -> Result<(), FrameError> {
        let mut remaining = count;
        while remaining > 0 {
            remaining -= 1;
            // Every value takes at least one byte, which bounds `remaining` by the frame length.
            if remaining > self.bytes.len() - self.pos.min(self.bytes.len()) {
                return self.fail("container longer than the frame");
            }
            let Some(&marker) = self.bytes.get(self.pos) else {
                return self.fail("truncated container");
            };
            self.pos += 1;
            let body = match marker {
                0x90..=0x9f => {
                    remaining += usize::from(marker & 0x0f);
                    0
                }
                0xdc => {
                    remaining += self.len_u16()?;
                    0
                }
                0xdd => {
                    remaining += self.len_u32()?;
                    0
                }
                0x80..=0x8f => {
                    remaining = self.with_map(usize::from(marker & 0x0f), remaining)?;
                    0
                }
                0xde => {
                    let pairs = self.len_u16()?;
                    remaining = self.with_map(pairs, remaining)?;
                    0
                }
                0xdf => {
                    let pairs = self.len_u32()?;
                    remaining = self.with_map(pairs, remaining)?;
                    0
                }
                0x00..=0x7f | 0xe0..=0xff | 0xc0 | 0xc2 | 0xc3 => 0,
                0xa0..=0xbf => usize::from(marker & 0x1f),
                0xc4 | 0xd9 => usize::from(self.byte()?),
                0xc5 | 0xda => self.len_u16()?,
                0xc6 | 0xdb => self.len_u32()?,
                // Numbers by width; extensions (0xd4..=0xd8, 0xc7..=0xc9) are a type byte and
                // their data.
                0xcc | 0xd0 => 1,
                0xcd | 0xd1 | 0xd4 => 2,
                0xd5 => 3,
                0xca | 0xce | 0xd2 => 4,
                0xd6 => 5,
                0xcb | 0xcf | 0xd3 => 8,
                0xd7 => 9,
                0xd8 => 17,
                0xc7 => 1 + usize::from(self.byte()?),
                0xc8 => 1 + self.len_u16()?,
                0xc9 => self.len_u32()?.saturating_add(1),
                0xc1 => {
                    self.pos -= 1;
                    return self.fail("reserved marker 0xc1");
                }
            };
            self.take(body)?;
        }
        Ok(())
    }

    /// `remaining` values to skip plus the keys and values of a map of `pairs` entries.
    fn with_map(&self, pairs: usize, remaining: usize) -> Result<usize, FrameError> {
        pairs
            .checked_mul(2)
            .and_then(|n| n.checked_add(remaining))
            .map_or_else(|| self.fail("map too large"), Ok)
    }

    /// A map key: a string (`None` for one we do not consume).
    #[inline]
    fn key(&mut self) -> Result<Option<Key>, FrameError> {
        let marker = self.byte()?;
        let len = match marker {
            0xa0..=0xbf => usize::from(marker & 0x1f),
            0xd9 => usize::from(self.byte()?),
            0xda => self.len_u16()?,
            0xdb => self.len_u32()?,
            _ => {
                self.pos -= 1;
                return self.fail("map key is not a string");
            }
        };
        self.take(len).map(Key::from_bytes)
    }

    /// An order-book side, every level checked now; a side that is valid MessagePack but not a
    /// list of exact levels becomes the reason its message will be refused.
    fn levels(&mut self) -> Result<Value<'a>, FrameError> {
        let len = self.container_len(false)?;
        let start = self.pos;
        let mut reader = MsgpackLevels::new(self.bytes, start, len);
        match validate_levels(&mut reader) {
            Ok(count) => {
                self.pos = reader.reader.pos;
                Ok(Value::Levels {
                    bytes: &self.bytes[start..self.pos],
                    count,
                })
            }
            Err(reason) => {
                self.skip(len)?;
                Ok(Value::BadLevels(reason))
            }
        }
    }

    /// Reads one map's fields: a message's or (`sides` false) an order-book level's. Lists under
    /// `b` and `a` are read as order-book sides only in messages, never inside a level, so a
    /// hostile frame cannot make the reader recurse. The only caller of [`Self::value`], so that
    /// it is inlined here (as in the JSON scanner: 20–35% on stock messages).
    fn map(&mut self, fields: &mut Fields<'a>, sides: bool) -> Result<(), FrameError> {
        fields.clear();
        let len = self.container_len(true)?;
        for _ in 0..len {
            let key = self.key()?;
            let is_side = sides && matches!(key, Some(Key::Bids | Key::Asks));
            let value = match self.bytes.get(self.pos) {
                Some(0x90..=0x9f | 0xdc | 0xdd) if is_side => self.levels()?,
                _ => self.value()?,
            };
            if let Some(key) = key {
                fields.set(key, value);
            }
        }
        Ok(())
    }
}

struct MsgpackLevels<'a> {
    reader: Reader<'a>,
    left: usize,
    fields: Fields<'a>,
}

impl<'a> MsgpackLevels<'a> {
    fn new(bytes: &'a [u8], pos: usize, left: usize) -> Self {
        Self {
            reader: Reader { bytes, pos },
            left,
            fields: Fields::new(),
        }
    }
}

impl<'a> LevelReader<'a> for MsgpackLevels<'a> {
    fn next_level(&mut self) -> Result<Option<(i64, i64)>, &'static str> {
        if self.left == 0 {
            return Ok(None);
        }
        self.left -= 1;
        self.reader
            .map(&mut self.fields, false)
            .map_err(|e| e.reason)?;
        level(self.fields.get(Key::Price), self.fields.get(Key::Size)).map(Some)
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
    let levels = |list: Levels<'a>| MsgpackLevels::new(list.bytes, 0, list.count as usize);
    let count = reader.container_len(false)?;
    for _ in 0..count {
        reader.map(&mut fields, true)?;
        emit(&fields, symbols, recv, levels, &mut sink);
    }
    if reader.pos != frame.len() {
        return reader.fail("data after the message array");
    }
    Ok(count)
}
