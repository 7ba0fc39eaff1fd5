//! JSON frames: an array of flat objects, as Alpaca sends in text frames.

use pyrt_types::{SymbolTable, Timestamp};

use super::{Fields, FrameError, Item, Key, LevelReader, List, Value, emit};

/// Deepest nesting skipped inside a value we do not consume; deeper input is refused, not recursed.
const MAX_DEPTH: usize = 64;

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
        while let Some(b' ' | b'\n' | b'\r' | b'\t') = self.bytes.get(self.pos) {
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

    /// A string's raw contents (escape sequences are validated, not decoded: the fields we
    /// interpret never contain them, and an escaped symbol simply matches no configured symbol).
    #[inline]
    fn string(&mut self) -> Result<&'a str, FrameError> {
        self.expect(b'"', "expected a string")?;
        let start = self.pos;
        loop {
            match self.bytes.get(self.pos) {
                Some(b'"') => break,
                Some(b'\\') => self.pos += 2,
                Some(0..=0x1f) => return self.fail("control character in string"),
                Some(_) => self.pos += 1,
                None => return self.fail("unterminated string"),
            }
        }
        let raw = self.bytes.get(start..self.pos).ok_or(FrameError {
            at: start,
            reason: "bad escape",
        })?;
        self.pos += 1;
        std::str::from_utf8(raw).or_else(|_| self.fail("string is not UTF-8"))
    }

    #[inline]
    fn number(&mut self) -> Result<&'a str, FrameError> {
        let start = self.pos;
        while let Some(b'0'..=b'9' | b'-' | b'+' | b'.' | b'e' | b'E') = self.bytes.get(self.pos) {
            self.pos += 1;
        }
        // Only ASCII was consumed.
        std::str::from_utf8(&self.bytes[start..self.pos]).or_else(|_| self.fail("bad number"))
    }

    /// Length of the number at `at` (the bytes `number` would consume), or zero.
    #[inline]
    fn number_len(&self, at: usize) -> usize {
        self.bytes
            .get(at..)
            .unwrap_or_default()
            .iter()
            .take_while(|b| matches!(b, b'0'..=b'9' | b'-' | b'+' | b'.' | b'e' | b'E'))
            .count()
    }

    /// An order-book level in exactly the form Alpaca sends, `{"p":N,"s":N}` with no spaces,
    /// without the general object reader; `None` (and nothing consumed) for any other form, which
    /// the general reader then handles, so both accept and reject the same input.
    #[inline]
    fn compact_level(&mut self) -> Option<(Value<'a>, Value<'a>)> {
        let mut at = self.pos;
        if !self.bytes.get(at..)?.starts_with(b"{\"p\":") {
            return None;
        }
        at += 5;
        let p_len = self.number_len(at);
        if !matches!(self.bytes.get(at), Some(b'-' | b'0'..=b'9')) {
            return None;
        }
        let p = &self.bytes[at..at + p_len];
        at += p_len;
        if !self.bytes.get(at..)?.starts_with(b",\"s\":") {
            return None;
        }
        at += 5;
        let s_len = self.number_len(at);
        if !matches!(self.bytes.get(at), Some(b'-' | b'0'..=b'9')) {
            return None;
        }
        let size = &self.bytes[at..at + s_len];
        at += s_len;
        if self.bytes.get(at) != Some(&b'}') {
            return None;
        }
        // Only ASCII was consumed.
        let p = std::str::from_utf8(p).ok()?;
        let size = std::str::from_utf8(size).ok()?;
        self.pos = at + 1;
        Some((Value::Number(p), Value::Number(size)))
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

    #[inline]
    fn value(&mut self) -> Result<Value<'a>, FrameError> {
        match self.peek() {
            Some(b'"') => self.string().map(Value::Str),
            Some(b'-' | b'0'..=b'9') => self.number().map(Value::Number),
            Some(b't') => self.literal(b"true", Value::Bool(true)),
            Some(b'f') => self.literal(b"false", Value::Bool(false)),
            Some(b'n') => self.literal(b"null", Value::Null),
            Some(b'[') => {
                let start = self.pos;
                self.skip_container()?;
                Ok(Value::List(List::Json(&self.bytes[start..self.pos])))
            }
            Some(b'{') => self.skip_container().map(|()| Value::Other),
            _ => self.fail("expected a value"),
        }
    }

    /// Reads one flat object's fields; returns false at the end of the enclosing array.
    fn object(&mut self, fields: &mut Fields<'a>) -> Result<(), FrameError> {
        fields.clear();
        self.expect(b'{', "expected an object")?;
        if self.peek() == Some(b'}') {
            self.pos += 1;
            return Ok(());
        }
        loop {
            let key = self.string()?;
            self.expect(b':', "expected ':' after key")?;
            let value = self.value()?;
            if let Some(key) = Key::from_bytes(key.as_bytes()) {
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
}

struct JsonLevels<'a> {
    scanner: Scanner<'a>,
    started: bool,
}

impl<'a> LevelReader<'a> for JsonLevels<'a> {
    fn next_level(&mut self) -> Result<Option<(Value<'a>, Value<'a>)>, &'static str> {
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
        let mut fields = Fields::new();
        s.object(&mut fields).map_err(bad)?;
        match (fields.get(Key::Price), fields.get(Key::Size)) {
            (Some(p), Some(size)) => Ok(Some((p, size))),
            _ => Err("order-book level without p and s"),
        }
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
    let levels = |list| match list {
        List::Json(bytes) => JsonLevels {
            scanner: Scanner::new(bytes),
            started: false,
        },
        // A JSON frame only ever yields JSON lists.
        List::Msgpack { .. } => JsonLevels {
            scanner: Scanner::new(b"[]"),
            started: false,
        },
    };
    scanner.expect(b'[', "frame is not a JSON array")?;
    let mut count = 0;
    if scanner.peek() == Some(b']') {
        scanner.pos += 1;
    } else {
        loop {
            scanner.object(&mut fields)?;
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
