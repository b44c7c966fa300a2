//! The error a skill returns to the host.

use std::borrow::Cow;
use std::fmt;

/// How the host should treat a failed run.
///
/// Mirrors the WIT enum `weft:skill/types.error-kind`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum ErrorKind {
    /// The failure may go away on its own (a timeout, a busy upstream): the
    /// host may retry the step.
    Transient,
    /// Retrying with the same input will fail the same way.
    Permanent,
    /// The input was malformed or did not match the skill's input schema.
    InvalidInput,
}

impl ErrorKind {
    /// The WIT spelling of the kind: `transient`, `permanent` or `invalid-input`.
    pub const fn as_str(self) -> &'static str {
        match self {
            ErrorKind::Transient => "transient",
            ErrorKind::Permanent => "permanent",
            ErrorKind::InvalidInput => "invalid-input",
        }
    }
}

impl fmt::Display for ErrorKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The error a skill returns from `run`, and the error [`call_tool`](crate::call_tool)
/// reports.
///
/// A kind (see [`ErrorKind`]) and a human-readable message.
///
/// ```
/// use weft_guest::{ErrorKind, SkillError};
///
/// let err = SkillError::transient("upstream busy");
/// assert_eq!(err.kind(), ErrorKind::Transient);
/// assert_eq!(err.message(), "upstream busy");
/// assert_eq!(err.to_string(), "transient: upstream busy");
/// ```
///
/// Conversions let `?` do the obvious thing:
/// - [`serde_json::Error`] becomes an [`ErrorKind::InvalidInput`] error (parsing
///   is what skills mostly use serde for);
/// - [`std::io::Error`] becomes [`ErrorKind::Transient`] for timeouts,
///   interruptions and dropped connections, else [`ErrorKind::Permanent`];
/// - `String` and `&str` become [`ErrorKind::Permanent`] errors.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct SkillError {
    kind: ErrorKind,
    message: String,
}

impl SkillError {
    /// An error of the given kind.
    pub fn new(kind: ErrorKind, message: impl Into<String>) -> Self {
        SkillError { kind, message: message.into() }
    }

    /// A failure that may go away if the host retries.
    pub fn transient(message: impl Into<String>) -> Self {
        Self::new(ErrorKind::Transient, message)
    }

    /// A failure that retrying will not fix.
    pub fn permanent(message: impl Into<String>) -> Self {
        Self::new(ErrorKind::Permanent, message)
    }

    /// The input was malformed or out of range.
    pub fn invalid_input(message: impl Into<String>) -> Self {
        Self::new(ErrorKind::InvalidInput, message)
    }

    /// The kind of the error.
    pub fn kind(&self) -> ErrorKind {
        self.kind
    }

    /// The message of the error.
    pub fn message(&self) -> &str {
        &self.message
    }

    /// The message, consuming the error.
    pub fn into_message(self) -> String {
        self.message
    }

    /// Prefixes the message with some context: `"{context}: {message}"`.
    ///
    /// ```
    /// # use weft_guest::SkillError;
    /// let err = SkillError::permanent("no such file").context("reading the template");
    /// assert_eq!(err.message(), "reading the template: no such file");
    /// ```
    pub fn context(self, context: impl fmt::Display) -> Self {
        SkillError { kind: self.kind, message: format!("{context}: {}", self.message) }
    }
}

impl fmt::Display for SkillError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.kind, self.message)
    }
}

impl std::error::Error for SkillError {}

impl From<serde_json::Error> for SkillError {
    fn from(err: serde_json::Error) -> Self {
        SkillError::invalid_input(err.to_string())
    }
}

impl From<std::io::Error> for SkillError {
    fn from(err: std::io::Error) -> Self {
        use std::io::ErrorKind as Io;
        let kind = match err.kind() {
            Io::TimedOut
            | Io::Interrupted
            | Io::WouldBlock
            | Io::ConnectionReset
            | Io::ConnectionAborted
            | Io::ConnectionRefused
            | Io::BrokenPipe => ErrorKind::Transient,
            _ => ErrorKind::Permanent,
        };
        SkillError::new(kind, err.to_string())
    }
}

impl From<String> for SkillError {
    fn from(message: String) -> Self {
        SkillError::permanent(message)
    }
}

impl From<&str> for SkillError {
    fn from(message: &str) -> Self {
        SkillError::permanent(message)
    }
}

impl From<Cow<'_, str>> for SkillError {
    fn from(message: Cow<'_, str>) -> Self {
        SkillError::permanent(message)
    }
}

impl From<std::convert::Infallible> for SkillError {
    fn from(never: std::convert::Infallible) -> Self {
        match never {}
    }
}

impl From<ErrorKind> for crate::bindings::weft::skill::types::ErrorKind {
    fn from(kind: ErrorKind) -> Self {
        use crate::bindings::weft::skill::types::ErrorKind as Wit;
        match kind {
            ErrorKind::Transient => Wit::Transient,
            ErrorKind::Permanent => Wit::Permanent,
            ErrorKind::InvalidInput => Wit::InvalidInput,
        }
    }
}

impl From<crate::bindings::weft::skill::types::ErrorKind> for ErrorKind {
    fn from(kind: crate::bindings::weft::skill::types::ErrorKind) -> Self {
        use crate::bindings::weft::skill::types::ErrorKind as Wit;
        match kind {
            Wit::Transient => ErrorKind::Transient,
            Wit::Permanent => ErrorKind::Permanent,
            Wit::InvalidInput => ErrorKind::InvalidInput,
        }
    }
}

impl From<SkillError> for crate::bindings::SkillError {
    fn from(err: SkillError) -> Self {
        crate::bindings::SkillError { kind: err.kind.into(), message: err.message }
    }
}

impl From<crate::bindings::SkillError> for SkillError {
    fn from(err: crate::bindings::SkillError) -> Self {
        SkillError { kind: err.kind.into(), message: err.message }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn constructors_set_kind_and_message() {
        let cases = [
            (SkillError::transient("a"), ErrorKind::Transient),
            (SkillError::permanent("a"), ErrorKind::Permanent),
            (SkillError::invalid_input("a"), ErrorKind::InvalidInput),
            (SkillError::new(ErrorKind::Permanent, String::from("a")), ErrorKind::Permanent),
        ];
        for (err, kind) in cases {
            assert_eq!(err.kind(), kind);
            assert_eq!(err.message(), "a");
            assert_eq!(err.clone().into_message(), "a");
        }
    }

    #[test]
    fn display_names_the_kind() {
        assert_eq!(
            SkillError::invalid_input("missing field `text`").to_string(),
            "invalid-input: missing field `text`"
        );
        assert_eq!(SkillError::transient("x").to_string(), "transient: x");
        assert_eq!(SkillError::permanent("x").to_string(), "permanent: x");
        assert_eq!(ErrorKind::InvalidInput.as_str(), "invalid-input");
    }

    #[test]
    fn is_a_std_error() {
        fn takes(_: &dyn std::error::Error) {}
        takes(&SkillError::permanent("x"));
        let boxed: Box<dyn std::error::Error + Send + Sync> = Box::new(SkillError::permanent("x"));
        assert_eq!(boxed.to_string(), "permanent: x");
    }

    #[test]
    fn context_prefixes_the_message() {
        let err = SkillError::transient("timed out").context("calling search");
        assert_eq!(err.kind(), ErrorKind::Transient);
        assert_eq!(err.message(), "calling search: timed out");
    }

    #[test]
    fn serde_json_errors_are_invalid_input() {
        let err: SkillError = serde_json::from_str::<u32>("\"x\"").unwrap_err().into();
        assert_eq!(err.kind(), ErrorKind::InvalidInput);
        assert!(err.message().contains("invalid type"), "{err}");
    }

    #[test]
    fn io_errors_are_classified() {
        use std::io::{Error, ErrorKind as Io};
        let timeout: SkillError = Error::new(Io::TimedOut, "slow").into();
        assert_eq!(timeout.kind(), ErrorKind::Transient);
        let missing: SkillError = Error::new(Io::NotFound, "gone").into();
        assert_eq!(missing.kind(), ErrorKind::Permanent);
        assert_eq!(missing.message(), "gone");
    }

    #[test]
    fn strings_are_permanent() {
        let a: SkillError = "boom".into();
        let b: SkillError = String::from("boom").into();
        let c: SkillError = Cow::Borrowed("boom").into();
        assert_eq!(a, SkillError::permanent("boom"));
        assert_eq!(a, b);
        assert_eq!(b, c);
    }

    #[test]
    fn round_trips_through_the_wit_type() {
        for kind in [ErrorKind::Transient, ErrorKind::Permanent, ErrorKind::InvalidInput] {
            let err = SkillError::new(kind, "m");
            let wit: crate::bindings::SkillError = err.clone().into();
            assert_eq!(wit.message, "m");
            assert_eq!(SkillError::from(wit), err);
        }
    }
}
