//! Human-friendly quantities used in specs and on the command line:
//! durations such as `250ms` or `5s`, and sizes such as `64MiB`.
//!
//! Parsing is delegated to `humantime` and `bytesize`; these newtypes only
//! give them serde and JSON Schema forms.

use serde::{Deserialize, Deserializer, Serialize, Serializer};
use std::borrow::Cow;
use std::fmt;
use std::str::FromStr;
use std::time::Duration;

/// A duration written as `250ms`, `5s`, `2m` or `1h 30m`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub struct Span(pub Duration);

impl Span {
    /// The wrapped duration.
    pub fn get(self) -> Duration {
        self.0
    }
}

impl FromStr for Span {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        humantime::parse_duration(s.trim())
            .map(Span)
            .map_err(|e| format!("`{s}` is not a duration ({e}); write it like `250ms`, `5s` or `2m`"))
    }
}

impl fmt::Display for Span {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", humantime::format_duration(self.0))
    }
}

impl Serialize for Span {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for Span {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let text = String::deserialize(d)?;
        text.parse().map_err(serde::de::Error::custom)
    }
}

impl schemars::JsonSchema for Span {
    fn schema_name() -> Cow<'static, str> {
        "Duration".into()
    }
    fn json_schema(_: &mut schemars::SchemaGenerator) -> schemars::Schema {
        schemars::json_schema!({
            "type": "string",
            "description": "A duration such as `250ms`, `5s`, `2m` or `1h 30m`.",
            "examples": ["500ms", "5s", "2m"]
        })
    }
}

/// A size in bytes, written as `64MiB`, `512KiB`, `1GiB` or a plain number of bytes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub struct Size(pub u64);

impl Size {
    /// One kibibyte.
    pub const KIB: u64 = 1024;
    /// One mebibyte.
    pub const MIB: u64 = 1024 * 1024;
    /// One gibibyte.
    pub const GIB: u64 = 1024 * 1024 * 1024;

    /// The number of bytes.
    pub fn bytes(self) -> u64 {
        self.0
    }
}

impl FromStr for Size {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        s.trim()
            .parse::<bytesize::ByteSize>()
            .map(|b| Size(b.as_u64()))
            .map_err(|e| format!("`{s}` is not a size ({e}); write it like `64MiB`, `512KiB` or `1GiB`"))
    }
}

impl fmt::Display for Size {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let b = self.0;
        if b >= Self::GIB && b.is_multiple_of(Self::GIB) {
            write!(f, "{}GiB", b / Self::GIB)
        } else if b >= Self::MIB && b.is_multiple_of(Self::MIB) {
            write!(f, "{}MiB", b / Self::MIB)
        } else if b >= Self::KIB && b.is_multiple_of(Self::KIB) {
            write!(f, "{}KiB", b / Self::KIB)
        } else {
            write!(f, "{b}B")
        }
    }
}

impl Serialize for Size {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for Size {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        #[derive(Deserialize)]
        #[serde(untagged)]
        enum Raw {
            Number(u64),
            Text(String),
        }
        match Raw::deserialize(d)? {
            Raw::Number(n) => Ok(Size(n)),
            Raw::Text(t) => t.parse().map_err(serde::de::Error::custom),
        }
    }
}

impl schemars::JsonSchema for Size {
    fn schema_name() -> Cow<'static, str> {
        "Size".into()
    }
    fn json_schema(_: &mut schemars::SchemaGenerator) -> schemars::Schema {
        schemars::json_schema!({
            "description": "A size such as `64MiB`, `512KiB`, `1GiB`, or a number of bytes.",
            "type": ["string", "integer"],
            "minimum": 0,
            "examples": ["64MiB", "1GiB"]
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn spans_parse_the_usual_spellings() {
        assert_eq!("250ms".parse::<Span>().unwrap().get(), Duration::from_millis(250));
        assert_eq!("5s".parse::<Span>().unwrap().get(), Duration::from_secs(5));
        assert_eq!("1h 30m".parse::<Span>().unwrap().get(), Duration::from_secs(5400));
        assert!("five seconds".parse::<Span>().unwrap_err().contains("250ms"));
    }

    #[test]
    fn sizes_parse_binary_units_and_print_them_back() {
        assert_eq!("64MiB".parse::<Size>().unwrap().bytes(), 64 * Size::MIB);
        assert_eq!("512 KiB".parse::<Size>().unwrap().bytes(), 512 * Size::KIB);
        assert_eq!("1000".parse::<Size>().unwrap().bytes(), 1000);
        assert_eq!(Size(64 * Size::MIB).to_string(), "64MiB");
        assert_eq!(Size(1500).to_string(), "1500B");
        assert!("lots".parse::<Size>().is_err());
    }

    #[test]
    fn sizes_deserialize_from_numbers_and_strings() {
        let s: Size = serde_json::from_str("\"2GiB\"").unwrap();
        assert_eq!(s.bytes(), 2 * Size::GIB);
        let n: Size = serde_json::from_str("4096").unwrap();
        assert_eq!(n.bytes(), 4096);
    }
}
