//! Returns the error it is asked for:
//! `{"kind": "transient" | "permanent" | "invalid-input", "message": "..."}`,
//! or `{"ok": true}` for `{"kind": "ok"}`.

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use weft_guest::SkillError;

#[derive(Deserialize, JsonSchema)]
#[serde(rename_all = "kebab-case")]
enum Kind {
    Ok,
    Transient,
    Permanent,
    InvalidInput,
}

#[derive(Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
struct Request {
    /// Which error to return, or `ok` to succeed.
    kind: Kind,
    /// The message of the error.
    #[serde(default)]
    message: String,
}

#[derive(Serialize, JsonSchema)]
struct Done {
    ok: bool,
}

/// Fails with the requested kind and message, or succeeds with `{"ok": true}`.
#[weft_guest::skill(name = "guest-error")]
fn run(request: Request) -> Result<Done, SkillError> {
    match request.kind {
        Kind::Ok => Ok(Done { ok: true }),
        Kind::Transient => Err(SkillError::transient(request.message)),
        Kind::Permanent => Err(SkillError::permanent(request.message)),
        Kind::InvalidInput => Err(SkillError::invalid_input(request.message)),
    }
}
