//! Data contracts: JSON Schemas checked before and after every run.
//!
//! A [`Contract`] is a compiled JSON Schema. Checking a value names the JSON
//! pointer of every offending value, so a mismatch is never a silent pass and
//! never a guess.
//!
//! A skill declares its own schemas, so before they are compiled,
//! [`cost::evaluation_bound`] makes sure checking a value against them cannot
//! take exponential time.

pub mod cost;

use serde_json::Value;
use std::fmt;
use std::sync::Arc;

/// A compiled JSON Schema.
#[derive(Clone)]
pub struct Contract {
    schema: Arc<Value>,
    validator: Arc<jsonschema::Validator>,
    /// For a schema a skill declared: the bound on evaluations per value
    /// from [`cost::evaluation_bound`], so that a document with very many
    /// values cannot multiply it past [`cost::DOCUMENT_LIMIT`].
    per_value: Option<u64>,
}

impl fmt::Debug for Contract {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Contract").field("schema", &self.schema).finish()
    }
}

/// A schema that could not be compiled.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid JSON Schema: {0}")]
pub struct SchemaError(pub String);

/// Why a schema someone else chose was refused ([`Contract::guarded`]).
/// Its message reads after "the schema".
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum GuardError {
    /// Checking a value against it could cost too much.
    #[error("{0}")]
    Cost(cost::CostError),
    /// It is not a usable JSON Schema.
    #[error("is not usable: {0}")]
    Schema(SchemaError),
}

/// One value that broke a contract.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Violation {
    /// JSON pointer of the offending value (`""` is the whole document).
    pub pointer: String,
    /// What is wrong with it.
    pub message: String,
}

impl fmt::Display for Violation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let at = if self.pointer.is_empty() { "/" } else { &self.pointer };
        write!(f, "at {at}: {}", self.message)
    }
}

/// Every violation found (at most [`Violations::SHOWN`] are kept).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub struct Violations(pub Vec<Violation>);

impl Violations {
    /// How many violations a message lists.
    pub const SHOWN: usize = 5;
}

impl fmt::Display for Violations {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, v) in self.0.iter().enumerate() {
            if i > 0 {
                f.write_str("; ")?;
            }
            write!(f, "{v}")?;
        }
        Ok(())
    }
}

impl Contract {
    /// Compiles `schema`. `true`, `{}` and an empty object accept anything.
    pub fn new(schema: Value) -> Result<Contract, SchemaError> {
        let validator = jsonschema::validator_for(&schema).map_err(|e| SchemaError(e.to_string()))?;
        Ok(Contract { schema: Arc::new(schema), validator: Arc::new(validator), per_value: None })
    }

    /// Compiles a schema whose checking costs at most `per_value`
    /// evaluations per value ([`cost::evaluation_bound`]); [`check`]
    /// then refuses a document whose values, times that, exceed
    /// [`cost::DOCUMENT_LIMIT`], before checking it.
    ///
    /// [`check`]: Contract::check
    pub fn bounded(schema: Value, per_value: u64) -> Result<Contract, SchemaError> {
        Ok(Contract { per_value: Some(per_value), ..Contract::new(schema)? })
    }

    /// Compiles a schema someone else chose (a skill's, or one in a spec
    /// that an agent may have generated): first bounds what checking a value
    /// against it can cost ([`cost::evaluation_bound`]), then compiles it
    /// [`bounded`](Contract::bounded).
    pub fn guarded(schema: Value) -> Result<Contract, GuardError> {
        let per_value = cost::evaluation_bound(&schema).map_err(GuardError::Cost)?;
        Contract::bounded(schema, per_value).map_err(GuardError::Schema)
    }

    /// Compiles a schema given as JSON text; empty text means "anything".
    pub fn from_text(text: &str) -> Result<Contract, SchemaError> {
        if text.trim().is_empty() {
            return Contract::new(Value::Bool(true));
        }
        let schema: Value = serde_json::from_str(text).map_err(|e| SchemaError(format!("not JSON: {e}")))?;
        Contract::new(schema)
    }

    /// A contract that accepts any value.
    pub fn any() -> Contract {
        Contract::new(Value::Bool(true)).expect("`true` is a valid schema")
    }

    /// The schema this contract checks.
    pub fn schema(&self) -> &Value {
        &self.schema
    }

    /// Whether the schema accepts everything (`true` or `{}`).
    pub fn accepts_anything(&self) -> bool {
        match &*self.schema {
            Value::Bool(b) => *b,
            Value::Object(o) => o.keys().all(|k| k.starts_with('$') || k == "title" || k == "description"),
            _ => false,
        }
    }

    /// Checks `value`, naming the JSON pointer of each offending value.
    pub fn check(&self, value: &Value) -> Result<(), Violations> {
        if let Some(per_value) = self.per_value.filter(|&c| c > 1) {
            let most = cost::DOCUMENT_LIMIT / per_value;
            if cost::count_values(value, most) > most {
                return Err(Violations(vec![Violation {
                    pointer: String::new(),
                    message: format!(
                        "the document has more than {} values, and checking each against this schema can take up to \
                         {} evaluations: more than the {} allowed for one document; send a smaller document or \
                         simplify the schema",
                        cost::thousands(most),
                        cost::thousands(per_value),
                        cost::thousands(cost::DOCUMENT_LIMIT)
                    ),
                }]));
            }
        }
        let mut found: Vec<Violation> = self
            .validator
            .iter_errors(value)
            .take(Violations::SHOWN)
            .map(|e| Violation { pointer: e.instance_path().to_string(), message: e.to_string() })
            .collect();
        if found.is_empty() {
            Ok(())
        } else {
            found.sort_by(|a, b| a.pointer.cmp(&b.pointer));
            Err(Violations(found))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn counted() -> Contract {
        Contract::new(json!({
            "type": "object",
            "properties": {"count": {"type": "integer"}, "items": {"type": "array", "items": {"type": "string"}}},
            "required": ["count"]
        }))
        .unwrap()
    }

    #[test]
    fn a_bounded_contract_refuses_a_document_too_wide_for_its_cost() {
        let schema = json!({"type": "array", "items": {"type": "integer"}});
        // 1,000,000 evaluations per value: at most 100 values per document.
        let c = Contract::bounded(schema.clone(), 1_000_000).unwrap();
        c.check(&json!((0..99).collect::<Vec<_>>())).expect("100 values, the array included");
        let e = c.check(&json!((0..100).collect::<Vec<_>>())).unwrap_err();
        assert_eq!(e.0.len(), 1);
        assert_eq!(e.0[0].pointer, "");
        assert!(e.0[0].message.contains("more than 100 values"), "{e}");
        // A cheap schema and an unbounded one check documents of any width.
        let wide = json!((0..200_000).collect::<Vec<_>>());
        Contract::bounded(schema.clone(), 1).unwrap().check(&wide).unwrap();
        Contract::new(schema).unwrap().check(&wide).unwrap();
    }

    #[test]
    fn a_matching_value_passes() {
        counted().check(&json!({"count": 3, "items": ["a"]})).unwrap();
    }

    #[test]
    fn a_mismatch_names_the_pointer_of_the_offending_value() {
        let err = counted().check(&json!({"count": 3, "items": ["a", 7]})).unwrap_err();
        assert_eq!(err.0.len(), 1);
        assert_eq!(err.0[0].pointer, "/items/1");
        assert!(err.to_string().starts_with("at /items/1: 7 is not of type"), "{err}");
    }

    #[test]
    fn a_missing_field_is_reported_at_its_parent() {
        let err = counted().check(&json!({})).unwrap_err();
        assert!(err.to_string().contains("\"count\" is a required property"), "{err}");
    }

    #[test]
    fn empty_schemas_accept_anything() {
        for s in ["", "{}", "true"] {
            let c = Contract::from_text(s).unwrap();
            assert!(c.accepts_anything());
            c.check(&json!([1, "x", null])).unwrap();
        }
        assert!(!counted().accepts_anything());
    }

    #[test]
    fn broken_schemas_are_refused() {
        assert!(Contract::from_text("{not json").unwrap_err().0.contains("not JSON"));
        assert!(Contract::new(json!({"type": 12})).is_err());
    }
}
