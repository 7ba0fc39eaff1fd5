//! JSON frames: an array of flat objects, as Alpaca sends in text frames.
//!
//! One pass over the bytes: a key is matched as it is read, numbers become fixed point and
//! timestamps nanoseconds while they are scanned (see [`super::scalar`]), values of keys we do not
//! consume are only checked for syntax, and nothing is decoded as text unless a field is used as
//! text.

use pyrt_types::{SymbolTable, Timestamp};

use super::{
    Fields, FrameError, Item, Key, LevelReader, Levels, Value, emit, level, scalar, validate_levels,
};

/// Deepest nesting skipped inside a value we do not consume; deeper input is refused, not recursed.
const MAX_DEPTH: usize = 64;

/// Bytes that end the plain run of a string: the quote, a backslash, and control characters.
const STRING_STOP: [bool; 256] = {
    let mut table = [false; 256];
    let mut b = 0;
    while b < 0x20 {
        table[b] = true;
        b += 1;
    }
    table[b'"' as usize] = true;
    table[b'\\' as usize] = true;
    table
};

#[inline]
fn is_number_byte(byte: u8) -> bool {
    matches!(byte, b'0'..=b'9' | b'-' | b'+' | b'.' | b'e' | b'E')
}

struct Scanner<'a> {
    bytes: &'a [u8],
    pos: usize,
}

impl<'a> Scanner<'a> {
    fn new(bytes: &'a [u8]) -> Self {
        Self { bytes, pos: 0 }
    }

    fn fail<T>(&self, reason: &'static str) -> Result<T, FrameError> {
        Err(FrameError {
            at: self.pos,
            reason,
        })
    }

    #[inline]
    fn skip_ws(&mut self) {
        // Anything above the space is not white space: one comparison for the compact layout.
        while let Some(&b) = self.bytes.get(self.pos)
            && b <= b' '
            && matches!(b, b' ' | b'\n' | b'\r' | b'\t')
        {
            self.pos += 1;
        }
    }

    /// Next non-space byte, not consumed.
    #[inline]
    fn peek(&mut self) -> Option<u8> {
        self.skip_ws();
        self.bytes.get(self.pos).copied()
    }

    #[inline]
    fn expect(&mut self, byte: u8, reason: &'static str) -> Result<(), FrameError> {
        if self.peek() == Some(byte) {
            self.pos += 1;
            Ok(())
        } else {
            self.fail(reason)
        }
    }

    /// A string's raw contents; an escape is stepped over, never decoded.
    #[inline]
    fn string(&mut self) -> Result<&'a [u8], FrameError> {
        self.expect(b'"', "expected a string")?;
        let start = self.pos;
        loop {
            while self
                .bytes
                .get(self.pos)
                .is_some_and(|&b| !STRING_STOP[usize::from(b)])
            {
                self.pos += 1;
            }
            match self.bytes.get(self.pos) {
                Some(b'"') => break,
                // An escape is validated only as far as not ending the string early.
                Some(b'\\') if self.pos + 1 < self.bytes.len() => self.pos += 2,
                Some(b'\\') | None => return self.fail("unterminated string"),
                Some(_) => return self.fail("control character in string"),
            }
        }
        let raw = &self.bytes[start..self.pos];
        self.pos += 1;
        Ok(raw)
    }

    /// An object key, matched as it is read: keys of one or two plain bytes (all of those we
    /// consume but `msg` and `code`) without the general string reader.
    #[inline]
    fn key(&mut self) -> Result<Option<Key>, FrameError> {
        if self.peek() == Some(b'"') {
            let plain = |b: u8| !STRING_STOP[usize::from(b)];
            match self.bytes.get(self.pos + 1..self.pos + 4) {
                Some(&[a, b'"', _]) if plain(a) => {
                    self.pos += 3;
                    return Ok(Key::from_bytes(&[a]));
                }
                Some(&[a, b, b'"']) if plain(a) && plain(b) => {
                    self.pos += 4;
                    return Ok(Key::from_bytes(&[a, b]));
                }
                _ => {}
            }
        }
        self.string().map(Key::from_bytes)
    }

    /// A timestamp string in the common UTC form, read in place; `None` (nothing consumed) for any
    /// other string, which is then read as text and given to the general parser.
    #[inline]
    fn utc_timestamp(&mut self) -> Option<Timestamp> {
        let body = self.bytes.get(self.pos + 1..)?;
        let (ts, len) = scalar::utc_timestamp(body)?;
        (body.get(len) == Some(&b'"')).then(|| {
            self.pos += len + 2;
            ts
        })
    }

    /// A whole number token of the plain decimal form, in raw fixed point; `None` (nothing
    /// consumed) for any other token.
    #[inline]
    fn plain_decimal(&mut self) -> Option<i64> {
        let rest = self.bytes.get(self.pos..)?;
        let (raw, len) = scalar::decimal_prefix(rest)?;
        if rest.get(len).copied().is_some_and(is_number_byte) {
            return None;
        }
        self.pos += len;
        Some(raw)
    }

    /// A number token: raw fixed point if it has the plain decimal form, its text otherwise.
    #[inline]
    fn number(&mut self) -> Value<'a> {
        if let Some(raw) = self.plain_decimal() {
            return Value::Fixed(raw);
        }
        let rest = &self.bytes[self.pos..];
        let len = rest.iter().take_while(|&&b| is_number_byte(b)).count();
        self.pos += len;
        // Only ASCII was consumed, so this cannot fail.
        std::str::from_utf8(&rest[..len]).map_or(Value::Other, Value::Number)
    }

    fn literal(&mut self, word: &'static [u8], value: Value<'a>) -> Result<Value<'a>, FrameError> {
        if self.bytes[self.pos..].starts_with(word) {
            self.pos += word.len();
            Ok(value)
        } else {
            self.fail("invalid literal")
        }
    }

    /// Skips an array or object without recursion.
    fn skip_container(&mut self) -> Result<(), FrameError> {
        let mut depth = 0usize;
        loop {
            match self.bytes.get(self.pos) {
                Some(b'[' | b'{') => {
                    depth += 1;
                    if depth > MAX_DEPTH {
                        return self.fail("nesting too deep");
                    }
                    self.pos += 1;
                }
                Some(b']' | b'}') => {
                    self.pos += 1;
                    depth = depth.saturating_sub(1);
                    if depth == 0 {
                        return Ok(());
                    }
                }
                Some(b'"') => {
                    self.string()?;
                }
                Some(_) => self.pos += 1,
                None => return self.fail("unterminated array or object"),
            }
        }
    }

    /// The value of `key` (`None`: a key we do not consume, whose value is only checked). Lists
    /// under `b` and `a` are read as order-book sides only in messages (`sides`), never inside a
    /// level, so a hostile frame cannot make the reader recurse.
    #[inline]
    fn value(&mut self, key: Option<Key>, sides: bool) -> Result<Value<'a>, FrameError> {
        match self.peek() {
            Some(b'"') => {
                if matches!(key, Some(Key::Time))
                    && let Some(ts) = self.utc_timestamp()
                {
                    return Ok(Value::Time(ts));
                }
                self.string().map(Value::Str)
            }
            Some(b'-' | b'0'..=b'9') => Ok(self.number()),
            Some(b't') => self.literal(b"true", Value::Bool(true)),
            Some(b'f') => self.literal(b"false", Value::Bool(false)),
            Some(b'n') => self.literal(b"null", Value::Null),
            Some(b'[') if sides && matches!(key, Some(Key::Bids | Key::Asks)) => self.levels(),
            Some(b'[' | b'{') => self.skip_container().map(|()| Value::Other),
            _ => self.fail("expected a value"),
        }
    }

    /// An order-book side, every level checked now; a side that is valid JSON but not a list of
    /// exact levels becomes the reason its message will be refused.
    fn levels(&mut self) -> Result<Value<'a>, FrameError> {
        let start = self.pos;
        let mut reader = JsonLevels::new(Scanner {
            bytes: self.bytes,
            pos: start,
        });
        match validate_levels(&mut reader) {
            Ok(count) => {
                // `next_level` stops on the closing bracket without consuming it.
                self.pos = reader.scanner.pos + 1;
                Ok(Value::Levels {
                    bytes: &self.bytes[start..self.pos],
                    count,
                })
            }
            Err(reason) => {
                self.skip_container()?;
                Ok(Value::BadLevels(reason))
            }
        }
    }

    /// Reads one flat object's fields: a message's (`sides`) or an order-book level's. The only
    /// caller of [`Self::value`], which is inlined here: returned from an out-of-line call, each
    /// value went through memory in a way that stalled store forwarding (about 20% of a stock
    /// message's time).
    fn object(&mut self, fields: &mut Fields<'a>, sides: bool) -> Result<(), FrameError> {
        fields.clear();
        self.expect(b'{', "expected an object")?;
        if self.peek() == Some(b'}') {
            self.pos += 1;
            return Ok(());
        }
        loop {
            let key = self.key()?;
            self.expect(b':', "expected ':' after key")?;
            let value = self.value(key, sides)?;
            if let Some(key) = key {
                fields.set(key, value);
            }
            match self.peek() {
                Some(b',') => self.pos += 1,
                Some(b'}') => {
                    self.pos += 1;
                    return Ok(());
                }
                _ => return self.fail("expected ',' or '}'"),
            }
        }
    }

    /// An order-book level in exactly the form Alpaca sends, `{"p":N,"s":N}` with no spaces and
    /// plain decimals, without the general level reader; `None` (and nothing consumed) for any
    /// other form, which the general reader then handles, so both accept and reject the same input.
    #[inline]
    fn compact_level(&mut self) -> Option<(i64, i64)> {
        let start = self.pos;
        let level = self.compact_level_fields();
        if level.is_none() {
            self.pos = start;
        }
        level
    }

    #[inline]
    fn compact_level_fields(&mut self) -> Option<(i64, i64)> {
        if !self.bytes.get(self.pos..)?.starts_with(b"{\"p\":") {
            return None;
        }
        self.pos += 5;
        let price = self.plain_decimal()?;
        if !self.bytes.get(self.pos..)?.starts_with(b",\"s\":") {
            return None;
        }
        self.pos += 5;
        let size = self.plain_decimal()?;
        if self.bytes.get(self.pos) != Some(&b'}') {
            return None;
        }
        self.pos += 1;
        Some((price, size))
    }
}

struct JsonLevels<'a> {
    scanner: Scanner<'a>,
    started: bool,
    /// For levels in another layout than the compact one.
    fields: Fields<'a>,
}

impl<'a> JsonLevels<'a> {
    fn new(scanner: Scanner<'a>) -> Self {
        Self {
            scanner,
            started: false,
            fields: Fields::new(),
        }
    }
}

impl<'a> LevelReader<'a> for JsonLevels<'a> {
    #[inline]
    fn next_level(&mut self) -> Result<Option<(i64, i64)>, &'static str> {
        let s = &mut self.scanner;
        let bad = |e: FrameError| e.reason;
        if self.started {
            match s.peek() {
                Some(b',') => s.pos += 1,
                Some(b']') => return Ok(None),
                _ => return Err("expected ',' or ']' between levels"),
            }
        } else {
            self.started = true;
            s.expect(b'[', "expected a list of levels").map_err(bad)?;
            if s.peek() == Some(b']') {
                return Ok(None);
            }
        }
        if let Some(level) = s.compact_level() {
            return Ok(Some(level));
        }
        s.object(&mut self.fields, false).map_err(bad)?;
        level(self.fields.get(Key::Price), self.fields.get(Key::Size)).map(Some)
    }
}

/// Parses a JSON frame (`[{...}, ...]`), calling `sink` for every message in order. Returns the
/// number of messages read.
pub fn parse_json_frame<'a>(
    frame: &'a [u8],
    symbols: &SymbolTable,
    recv: Timestamp,
    mut sink: impl FnMut(Item<'a>),
) -> Result<usize, FrameError> {
    let mut scanner = Scanner::new(frame);
    let mut fields = Fields::new();
    let levels = |list: Levels<'a>| JsonLevels::new(Scanner::new(list.bytes));
    scanner.expect(b'[', "frame is not a JSON array")?;
    let mut count = 0;
    if scanner.peek() == Some(b']') {
        scanner.pos += 1;
    } else {
        loop {
            scanner.object(&mut fields, true)?;
            count += 1;
            emit(&fields, symbols, recv, levels, &mut sink);
            match scanner.peek() {
                Some(b',') => scanner.pos += 1,
                Some(b']') => {
                    scanner.pos += 1;
                    break;
                }
                _ => return scanner.fail("expected ',' or ']' between messages"),
            }
        }
    }
    if scanner.peek().is_some() {
        return scanner.fail("data after the closing ']'");
    }
    Ok(count)
}
