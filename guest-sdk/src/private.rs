//! Support code for the `#[skill]` macro. Not a public API: it may change in
//! any release.

use schemars::JsonSchema;
use serde::Serialize;
use serde::de::DeserializeOwned;

use crate::SkillError;
use crate::bindings::SkillInfo;

pub use wit_bindgen;

/// What a skill function may return: `Result<T, E>` with `E: Into<SkillError>`.
#[diagnostic::on_unimplemented(
    message = "`{Self}` is not a valid return type for a skill function",
    label = "a skill function must return `Result<T, E>`",
    note = "`T` must implement `serde::Serialize` and `schemars::JsonSchema`, and `E` must implement `Into<weft_guest::SkillError>`"
)]
pub trait SkillReturn {
    /// The success type, serialized to JSON.
    type Output;
    /// Converts the error to a [`SkillError`].
    fn into_result(self) -> Result<Self::Output, SkillError>;
}

impl<T, E: Into<SkillError>> SkillReturn for Result<T, E> {
    type Output = T;
    fn into_result(self) -> Result<T, SkillError> {
        self.map_err(Into::into)
    }
}

/// Parses the JSON input of `run`; failure is an `invalid-input` error
/// carrying serde's message.
pub fn parse_input<I: DeserializeOwned>(input: &str) -> Result<I, SkillError> {
    serde_json::from_str(input).map_err(|e| SkillError::invalid_input(e.to_string()))
}

/// Converts what the skill function returned.
pub fn into_result<R: SkillReturn>(returned: R) -> Result<R::Output, SkillError> {
    returned.into_result()
}

/// Serializes the output of `run`; failure is a `permanent` error.
pub fn serialize_output<O: Serialize>(output: &O) -> Result<String, SkillError> {
    serde_json::to_string(output)
        .map_err(|e| SkillError::permanent(format!("could not serialize the skill's output: {e}")))
}

/// The whole JSON wrapper of `run`: parse, call, convert the error, serialize.
///
/// The macro emits these steps one by one (so that a missing trait is reported
/// at the user's type); this function is the same logic in one piece.
pub fn run_json<I, R, F>(input: &str, f: F) -> Result<String, SkillError>
where
    I: DeserializeOwned,
    R: SkillReturn,
    R::Output: Serialize,
    F: FnOnce(I) -> R,
{
    let input = parse_input::<I>(input)?;
    let output = into_result(f(input))?;
    serialize_output(&output)
}

/// JSON Schema (draft 2020-12) of a skill's input type, as JSON text.
pub fn input_schema<I: JsonSchema + ?Sized>() -> String {
    schema_text(
        schemars::generate::SchemaSettings::draft2020_12()
            .for_deserialize()
            .into_generator()
            .into_root_schema_for::<I>(),
    )
}

/// JSON Schema (draft 2020-12) of a skill's output type, as JSON text. Uses
/// the serialization contract (what `serde_json::to_string` produces).
pub fn output_schema<O: JsonSchema + ?Sized>() -> String {
    schema_text(
        schemars::generate::SchemaSettings::draft2020_12().for_serialize().into_generator().into_root_schema_for::<O>(),
    )
}

/// [`output_schema`] of the success type of a skill function's return type.
pub fn output_schema_of_return<R>() -> String
where
    R: SkillReturn,
    R::Output: JsonSchema,
{
    output_schema::<R::Output>()
}

fn schema_text(schema: schemars::Schema) -> String {
    serde_json::to_string(&schema).expect("a JSON Schema always serializes")
}

/// Builds the description from the lines of the function's doc comment: each
/// line trimmed, joined with newlines, leading and trailing blank lines dropped.
pub fn description(doc_lines: &[&str]) -> String {
    let joined = doc_lines.join("\n");
    let lines: Vec<&str> = joined.lines().map(str::trim).collect();
    lines.join("\n").trim().to_owned()
}

/// Builds the value returned by `describe`.
pub fn skill_info(
    name: &str,
    version: &str,
    description: String,
    input_schema: String,
    output_schema: String,
) -> SkillInfo {
    SkillInfo { name: name.to_owned(), version: version.to_owned(), description, input_schema, output_schema }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ErrorKind;
    use serde::Deserialize;
    use serde_json::{Value, json};

    #[derive(Deserialize, JsonSchema)]
    #[serde(deny_unknown_fields)]
    struct Text {
        text: String,
    }

    #[derive(Serialize, JsonSchema)]
    struct Count {
        words: u64,
        #[serde(skip_serializing_if = "Option::is_none")]
        note: Option<String>,
    }

    fn count(input: Text) -> Result<Count, SkillError> {
        if input.text == "fail" {
            return Err(SkillError::transient("asked to fail"));
        }
        Ok(Count { words: input.text.split_whitespace().count() as u64, note: None })
    }

    #[test]
    fn run_json_happy_path() {
        let out = run_json(r#"{"text": "a b  c"}"#, count).unwrap();
        assert_eq!(out, r#"{"words":3}"#);
    }

    #[test]
    fn run_json_bad_input_is_invalid_input_with_serde_message() {
        let err = run_json(r#"{"txt": "a"}"#, count).unwrap_err();
        assert_eq!(err.kind(), ErrorKind::InvalidInput);
        assert!(err.message().contains("unknown field `txt`"), "{err}");

        let err = run_json("not json", count).unwrap_err();
        assert_eq!(err.kind(), ErrorKind::InvalidInput);
        assert!(err.message().contains("expected"), "{err}");

        let err = run_json("{}", count).unwrap_err();
        assert!(err.message().contains("missing field `text`"), "{err}");
    }

    #[test]
    fn run_json_passes_the_function_error_through() {
        let err = run_json(r#"{"text": "fail"}"#, count).unwrap_err();
        assert_eq!(err, SkillError::transient("asked to fail"));
    }

    #[test]
    fn run_json_converts_foreign_errors() {
        #[derive(Debug)]
        struct Mine;
        impl From<Mine> for SkillError {
            fn from(_: Mine) -> Self {
                SkillError::permanent("mine")
            }
        }
        let err = run_json("1", |_: u8| -> Result<u8, Mine> { Err(Mine) }).unwrap_err();
        assert_eq!(err, SkillError::permanent("mine"));

        let err = run_json("1", |_: u8| -> Result<u8, String> { Err("s".into()) }).unwrap_err();
        assert_eq!(err, SkillError::permanent("s"));

        let out = run_json("1", |n: u8| -> Result<u8, std::convert::Infallible> { Ok(n + 1) });
        assert_eq!(out.unwrap(), "2");
    }

    #[test]
    fn run_json_output_serialization_failure_is_permanent() {
        use std::collections::HashMap;
        // Maps with non-string keys cannot be JSON.
        let err =
            run_json("null", |_: ()| -> Result<HashMap<(u8, u8), u8>, SkillError> { Ok(HashMap::from([((1, 2), 3)])) })
                .unwrap_err();
        assert_eq!(err.kind(), ErrorKind::Permanent);
        assert!(err.message().contains("serialize"), "{err}");
    }

    #[test]
    fn run_json_with_any_value_echoes() {
        let out = run_json(r#"{"a":[1,2,{"b":null}]}"#, |v: Value| Ok::<_, SkillError>(v));
        assert_eq!(out.unwrap(), r#"{"a":[1,2,{"b":null}]}"#);
    }

    #[test]
    fn schemas_are_json_schema_text() {
        let input: Value = serde_json::from_str(&input_schema::<Text>()).unwrap();
        assert_eq!(input["type"], "object");
        assert_eq!(input["properties"]["text"]["type"], "string");
        assert_eq!(input["required"], json!(["text"]));
        assert_eq!(input["additionalProperties"], json!(false));
        assert_eq!(input["$schema"], "https://json-schema.org/draft/2020-12/schema");

        let output: Value = serde_json::from_str(&output_schema::<Count>()).unwrap();
        assert_eq!(output["properties"]["words"]["type"], "integer");
        assert_eq!(output["properties"]["words"]["minimum"], 0);
        // Serialization contract: `note` may be absent, so it is not required.
        assert_eq!(output["required"], json!(["words"]));
    }

    #[test]
    fn schema_of_any_value_accepts_everything() {
        let schema: Value = serde_json::from_str(&input_schema::<Value>()).unwrap();
        let obj = schema.as_object().expect("an object schema");
        assert!(obj.keys().all(|k| k == "$schema" || k == "title"), "no constraints expected: {schema}");
    }

    #[test]
    fn description_trims_and_joins_doc_lines() {
        assert_eq!(description(&[" Counts the words", " of a text. "]), "Counts the words\nof a text.");
        assert_eq!(description(&["", " One line.", ""]), "One line.");
        assert_eq!(description(&["\n  Block doc\n  comment.\n"]), "Block doc\ncomment.");
        assert_eq!(description(&[]), "");
    }

    #[test]
    fn skill_info_fills_every_field() {
        let info = skill_info("n", "1.2.3", "d".into(), "{}".into(), "true".into());
        assert_eq!(
            (
                info.name.as_str(),
                info.version.as_str(),
                info.description.as_str(),
                info.input_schema.as_str(),
                info.output_schema.as_str()
            ),
            ("n", "1.2.3", "d", "{}", "true")
        );
    }
}
