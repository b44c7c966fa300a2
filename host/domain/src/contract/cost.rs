//! The cost of a declared JSON Schema: a static bound, computed before a
//! skill's schemas are compiled, on how many subschema evaluations checking
//! a value can take.
//!
//! A skill declares its own schemas, and the host checks every input and
//! output against them in-process, with no deadline. A schema can make that
//! check exponential: forty `$defs` chained by
//! `"anyOf": [{"$ref": next}, {"$ref": next}]` compile in milliseconds, then
//! checking the value `1` takes 2^40 steps; a `$ref` cycle that descends into
//! the instance and branches at each level costs 2^depth on a deep value.
//!
//! [`evaluation_bound`] walks the schema as a tree in which every `$ref` is
//! replaced by its target, counting subschemas:
//!
//! ```text
//! cost(node, d) = 1 + Σ cost(in-place child, d)
//!                   + max(cost(then, d), cost(else, d))
//!                   + max(members, names, elements)       (0 when d = 0)
//! members  = max(cost(properties/*), cost(additionalProperties),
//!                cost(unevaluatedProperties)) + Σ cost(patternProperties/*)   at d - 1
//! names    = cost(propertyNames, 0)
//! elements = max(cost(prefixItems/*), cost(items), cost(additionalItems),
//!                cost(unevaluatedItems)) + cost(contains)                     at d - 1
//! ```
//!
//! In-place applicators (`$ref`, `allOf`, `anyOf`, `oneOf`, `not`, `if`,
//! `dependentSchemas`, `dependencies`) apply to the same value; the others
//! descend one level into it. A member is checked by one `properties` entry,
//! or `additionalProperties`, or `unevaluatedProperties`, plus every pattern
//! it matches; an element by one of `prefixItems`/`items`/`additionalItems`/
//! `unevaluatedItems`, plus `contains`; a value is an object or an array,
//! never both. So `cost(root, d)` bounds the evaluations one value at most
//! `d` levels deep and the values on its path from the root can cause, and
//! checking a document costs at most that many evaluations per value in it.
//! The walk starts at [`INSTANCE_DEPTH`]: weft parses JSON text with
//! serde_json, which refuses text nested deeper than that.
//!
//! A `$ref` back to a node already on the walk's path at the same depth is an
//! in-place cycle: it costs 1, since the validator notices it is checking the
//! same value against the same schema again and stops. Results are memoised
//! on (node, depth), so the walk is polynomial; it stops as soon as the bound
//! passes [`EVALUATION_LIMIT`], and gives up on schemas too large to bound
//! within [`WALK_LIMIT`] steps or [`PATH_LIMIT`] nested subschemas, so
//! analysing a hostile schema takes bounded time and memory too.
//!
//! The bound counts what the JSON Schema specification evaluates. To find
//! which members `unevaluatedProperties` (or elements `unevaluatedItems`)
//! must check, jsonschema may evaluate in-place subschemas once more; those
//! repeats are not counted. Only references the walk can follow are accepted: `#` and `#/json/pointer`
//! (percent-encoded, with `~0` and `~1`), which is what schemars and
//! hand-written schemas use. Anchors, other documents, `$dynamicRef`,
//! `$recursiveRef` and `$id` below the root are refused.

use serde_json::{Map, Value};
use std::collections::HashMap;
use std::fmt::Write as _;

/// The most evaluations per value a skill's declared schema may cost.
pub const EVALUATION_LIMIT: u64 = 1_000_000;

/// How many levels below the root the walk follows an instance: serde_json
/// refuses JSON text nested that deep, so no input or output a skill is given
/// or returns as text is. (A workflow mapping that wraps a deep output in
/// further objects can go deeper; its author chose to.)
pub const INSTANCE_DEPTH: u8 = 128;

/// The most steps the walk takes before it gives up on a schema as too large
/// to bound: each subschema it starts visiting counts one step per subschema
/// that applies below it.
pub const WALK_LIMIT: u64 = 1_000_000;

/// The most subschemas the walk follows one inside another, counting `$ref`s,
/// before it gives up on a schema as nested too deep to bound. A recursive
/// schema followed 128 levels down needs a few hundred.
pub const PATH_LIMIT: usize = 10_000;

/// Why a declared schema is refused. Each message completes "its input
/// schema ...".
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CostError {
    /// Checking one value could take more than [`EVALUATION_LIMIT`]
    /// evaluations.
    #[error(
        "could cost more than {} evaluations per value (from `{at}` on: subschemas reached more than once \
         per value multiply, such as an `anyOf`, `allOf` or `oneOf` of `$ref`s repeated level after level); \
         simplify it",
        thousands(EVALUATION_LIMIT)
    )]
    TooCostly {
        /// Where the bound first passed the limit, as a URI fragment
        /// (`#/$defs/node`).
        at: String,
    },
    /// A keyword whose cost the walk cannot bound.
    #[error(
        "uses `{keyword}` at `{at}` ({what}), whose cost weft cannot bound: refer to subschemas \
         with `#` or `#/json/pointer`, such as `#/$defs/name`"
    )]
    Unsupported {
        /// The keyword.
        keyword: &'static str,
        /// Where, as a URI fragment.
        at: String,
        /// What it was used for.
        what: String,
    },
    /// A `$ref` to a JSON pointer that points at nothing.
    #[error("has a `$ref` to `{reference}` at `{at}` that points at nothing in the schema")]
    Dangling {
        /// The reference as written.
        reference: String,
        /// Where, as a URI fragment.
        at: String,
    },
    /// The walk took more than [`WALK_LIMIT`] steps.
    #[error("is too large to bound (more than {} steps to analyse); simplify it", thousands(WALK_LIMIT))]
    TooLarge,
    /// The walk followed more than [`PATH_LIMIT`] subschemas one inside
    /// another.
    #[error(
        "nests too deep to bound (more than {} subschemas one inside another, counting `$ref`s); simplify it",
        thousands(PATH_LIMIT as u64)
    )]
    TooDeep,
}

/// An upper bound on the evaluations checking one value against `schema`
/// can take (see the module documentation), or why it cannot be bounded
/// within [`EVALUATION_LIMIT`].
pub fn evaluation_bound(schema: &Value) -> Result<u64, CostError> {
    Walk::new(schema, WALK_LIMIT).run()
}

/// The most evaluations checking one document against a skill's declared
/// schema may take: the schema's bound per value times the document's
/// values (see [`crate::contract::Contract::bounded`]).
pub const DOCUMENT_LIMIT: u64 = 100_000_000;

/// How many values (objects, arrays, scalars) `value` holds, itself
/// included; counting stops once it passes `most`.
pub fn count_values(value: &Value, most: u64) -> u64 {
    let mut count = 0u64;
    let mut pending = vec![value];
    while let Some(v) = pending.pop() {
        count += 1;
        if count > most {
            break;
        }
        match v {
            Value::Array(items) => pending.extend(items),
            Value::Object(members) => pending.extend(members.values()),
            _ => {}
        }
    }
    count
}

/// `n` with thousands separators: `1,000,000`.
pub(crate) fn thousands(n: u64) -> String {
    let digits = n.to_string();
    let mut out = String::new();
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(c);
    }
    out
}

/// How a child's cost combines into its parent's.
#[derive(Debug, Clone, Copy)]
enum Slot {
    /// Applies to the same value: added.
    InPlace,
    /// `then` or `else`: only one applies.
    Branch,
    /// `properties/*`, `additionalProperties`, `unevaluatedProperties`: one
    /// of them applies to a member.
    Member,
    /// `patternProperties/*`: every matching pattern applies.
    Pattern,
    /// `propertyNames`: applies to the member names.
    Name,
    /// `prefixItems/*`, `items`, `additionalItems`, `unevaluatedItems`: one of
    /// them applies to an element.
    Element,
    /// `contains`: applies to every element.
    Contains,
}

/// A node's cost so far, by slot.
#[derive(Debug, Default)]
struct Tally {
    in_place: u64,
    branch: u64,
    member: u64,
    pattern: u64,
    name: u64,
    element: u64,
    contains: u64,
}

impl Tally {
    fn add(&mut self, slot: Slot, cost: u64) {
        let (field, sum) = match slot {
            Slot::InPlace => (&mut self.in_place, true),
            Slot::Branch => (&mut self.branch, false),
            Slot::Member => (&mut self.member, false),
            Slot::Pattern => (&mut self.pattern, true),
            Slot::Name => (&mut self.name, false),
            Slot::Element => (&mut self.element, false),
            Slot::Contains => (&mut self.contains, true),
        };
        *field = if sum { field.saturating_add(cost) } else { (*field).max(cost) };
    }

    fn total(&self) -> u64 {
        let below =
            self.member.saturating_add(self.pattern).max(self.name).max(self.element.saturating_add(self.contains));
        1u64.saturating_add(self.in_place).saturating_add(self.branch).saturating_add(below)
    }
}

/// How the walk reached a node from its parent, to name where it is.
#[derive(Debug, Clone, Copy)]
enum Via<'a> {
    Root,
    /// Through a `$ref`, as written.
    Ref(&'a str),
    /// `parent/keyword`.
    Keyword(&'static str),
    /// `parent/keyword/name`.
    Entry(&'static str, &'a str),
    /// `parent/keyword/index`.
    Index(&'static str, usize),
}

/// A subschema to visit: the schema, the depth left, how its cost combines
/// and how it was reached.
type Child<'a> = (&'a Value, u8, Slot, Via<'a>);

/// A node on the walk's path.
struct Frame<'a> {
    key: (usize, u8),
    slot: Slot,
    via: Via<'a>,
    children: Vec<Child<'a>>,
    next: usize,
    tally: Tally,
    /// The lowest index on the path that an in-place cycle below this node
    /// went back to; a result that depends on a node above it is not memoised.
    low: usize,
}

struct Walk<'a> {
    root: &'a Value,
    /// The keywords that set a base URI: `$id`, and `id` in draft 4.
    id_keywords: &'static [&'static str],
    stack: Vec<Frame<'a>>,
    on_stack: HashMap<(usize, u8), usize>,
    memo: HashMap<(usize, u8), u64>,
    /// The targets of the `$ref`s met so far, by the address of the reference.
    resolved: HashMap<usize, &'a Value>,
    steps: u64,
    budget: u64,
}

fn identity(schema: &Value) -> usize {
    std::ptr::from_ref(schema) as usize
}

impl<'a> Walk<'a> {
    fn new(root: &'a Value, budget: u64) -> Walk<'a> {
        let draft4 = root.get("$schema").and_then(Value::as_str).is_some_and(|s| s.contains("draft-04"));
        Walk {
            root,
            id_keywords: if draft4 { &["$id", "id"] } else { &["$id"] },
            stack: Vec::new(),
            on_stack: HashMap::new(),
            memo: HashMap::new(),
            resolved: HashMap::new(),
            steps: 0,
            budget,
        }
    }

    fn run(mut self) -> Result<u64, CostError> {
        if !self.root.is_object() {
            return Ok(1);
        }
        self.push(self.root, INSTANCE_DEPTH, Slot::InPlace, Via::Root)?;
        loop {
            let depth = self.stack.len() - 1;
            let top = &mut self.stack[depth];
            if let Some(&(schema, d, slot, via)) = top.children.get(top.next) {
                top.next += 1;
                let key = (identity(schema), d);
                let cost = if !schema.is_object() {
                    1
                } else if let Some(&cost) = self.memo.get(&key) {
                    cost
                } else if let Some(&at) = self.on_stack.get(&key) {
                    top.low = top.low.min(at);
                    1
                } else {
                    self.push(schema, d, slot, via)?;
                    continue;
                };
                self.add(slot, cost)?;
            } else {
                let total = top.tally.total();
                let frame = self.stack.pop().expect("the path is not empty");
                self.on_stack.remove(&frame.key);
                if frame.low >= depth {
                    self.memo.insert(frame.key, total);
                }
                let Some(parent) = self.stack.last_mut() else {
                    return Ok(total);
                };
                if frame.low < depth {
                    parent.low = parent.low.min(frame.low);
                }
                self.add(frame.slot, total)?;
            }
        }
    }

    /// Adds a child's cost to the node on top of the path, stopping once the
    /// node alone passes the limit.
    fn add(&mut self, slot: Slot, cost: u64) -> Result<(), CostError> {
        let top = self.stack.last_mut().expect("the path is not empty");
        top.tally.add(slot, cost);
        if top.tally.total() > EVALUATION_LIMIT {
            return Err(CostError::TooCostly { at: self.location(None) });
        }
        Ok(())
    }

    /// Starts visiting `schema`, an object.
    fn push(&mut self, schema: &'a Value, d: u8, slot: Slot, via: Via<'a>) -> Result<(), CostError> {
        if self.stack.len() >= PATH_LIMIT {
            return Err(CostError::TooDeep);
        }
        let map = schema.as_object().expect("only objects are pushed");
        let key = (identity(schema), d);
        let children = self.children(map, std::ptr::eq(schema, self.root), d, via)?;
        // Every child is visited once per push, so this bounds the loop and
        // the memory the paths hold.
        self.steps = self.steps.saturating_add(children.len() as u64);
        if self.steps > self.budget {
            return Err(CostError::TooLarge);
        }
        self.on_stack.insert(key, self.stack.len());
        self.stack.push(Frame { key, slot, via, children, next: 0, tally: Tally::default(), low: usize::MAX });
        Ok(())
    }

    /// The subschemas of `node` that apply to a value `d` levels from the
    /// bottom, with how their costs combine.
    fn children(
        &mut self,
        node: &'a Map<String, Value>,
        is_root: bool,
        d: u8,
        via: Via<'a>,
    ) -> Result<Vec<Child<'a>>, CostError> {
        let unsupported = |keyword: &'static str, what: String| CostError::Unsupported {
            keyword,
            at: self.location(Some(via)),
            what,
        };
        for keyword in ["$dynamicRef", "$recursiveRef"] {
            if node.contains_key(keyword) {
                return Err(unsupported(keyword, "a dynamic reference".into()));
            }
        }
        if !is_root {
            for &keyword in self.id_keywords {
                if let Some(Value::String(id)) = node.get(keyword) {
                    return Err(unsupported(id_keyword(keyword), format!("a new base URI `{id}` inside the schema")));
                }
            }
        }
        let mut out: Vec<Child<'a>> = Vec::new();
        if let Some(at @ Value::String(reference)) = node.get("$ref") {
            let target = self.resolve(identity(at), reference, via)?;
            out.push((target, d, Slot::InPlace, Via::Ref(reference)));
        }
        // One subschema, a list of them, or a map of names to them.
        let mut one = |keyword: &'static str, d: u8, slot: Slot| match node.get(keyword) {
            Some(Value::Array(list)) if keyword == "items" => {
                out.extend(list.iter().enumerate().map(|(i, s)| (s, d, slot, Via::Index(keyword, i))));
            }
            Some(s) => out.push((s, d, slot, Via::Keyword(keyword))),
            None => {}
        };
        for keyword in ["not", "if"] {
            one(keyword, d, Slot::InPlace);
        }
        for keyword in ["then", "else"] {
            one(keyword, d, Slot::Branch);
        }
        if let Some(below) = d.checked_sub(1) {
            for keyword in ["additionalProperties", "unevaluatedProperties"] {
                one(keyword, below, Slot::Member);
            }
            one("propertyNames", 0, Slot::Name);
            for keyword in ["items", "additionalItems", "unevaluatedItems"] {
                one(keyword, below, Slot::Element);
            }
            one("contains", below, Slot::Contains);
        }
        let mut list = |keyword: &'static str, d: u8, slot: Slot| {
            if let Some(Value::Array(list)) = node.get(keyword) {
                out.extend(list.iter().enumerate().map(|(i, s)| (s, d, slot, Via::Index(keyword, i))));
            }
        };
        for keyword in ["allOf", "anyOf", "oneOf"] {
            list(keyword, d, Slot::InPlace);
        }
        if let Some(below) = d.checked_sub(1) {
            list("prefixItems", below, Slot::Element);
        }
        // `dependencies` also maps names to lists of names, which are not schemas.
        let mut map = |keyword: &'static str, d: u8, slot: Slot| {
            if let Some(Value::Object(map)) = node.get(keyword) {
                out.extend(
                    map.iter()
                        .filter(|(_, s)| s.is_object() || s.is_boolean())
                        .map(|(name, s)| (s, d, slot, Via::Entry(keyword, name.as_str()))),
                );
            }
        };
        for keyword in ["dependentSchemas", "dependencies"] {
            map(keyword, d, Slot::InPlace);
        }
        if let Some(below) = d.checked_sub(1) {
            map("properties", below, Slot::Member);
            map("patternProperties", below, Slot::Pattern);
        }
        Ok(out)
    }

    /// The target of a `$ref` within the document, looked up once per
    /// reference (`key` is the address of its value).
    fn resolve(&mut self, key: usize, reference: &'a str, via: Via<'a>) -> Result<&'a Value, CostError> {
        if let Some(&target) = self.resolved.get(&key) {
            return Ok(target);
        }
        let target = self.lookup(reference, via)?;
        self.resolved.insert(key, target);
        Ok(target)
    }

    /// [`Walk::resolve`], the first time.
    fn lookup(&self, reference: &'a str, via: Via<'a>) -> Result<&'a Value, CostError> {
        let at = || self.location(Some(via));
        let unsupported = |what: String| CostError::Unsupported { keyword: "$ref", at: at(), what };
        let dangling = || CostError::Dangling { reference: reference.to_string(), at: at() };
        let Some(fragment) = reference.strip_prefix('#') else {
            return Err(unsupported(format!("a reference to `{reference}`, outside the schema")));
        };
        if fragment.is_empty() {
            return Ok(self.root);
        }
        if !fragment.starts_with('/') {
            return Err(unsupported(format!("a reference to the anchor `{reference}`")));
        }
        let pointer = percent_decode(fragment).ok_or_else(dangling)?;
        let mut target = self.root;
        for token in pointer.split('/').skip(1) {
            let token = token.replace("~1", "/").replace("~0", "~");
            target = match target {
                Value::Object(map) => map.get(&token),
                Value::Array(list) => array_index(&token).and_then(|i| list.get(i)),
                _ => None,
            }
            .ok_or_else(dangling)?;
            for &keyword in self.id_keywords {
                if let Some(Value::String(id)) = target.get(keyword) {
                    return Err(unsupported(format!(
                        "a reference into `{}`, which sets a new base URI `{id}`",
                        id_keyword(keyword)
                    )));
                }
            }
        }
        Ok(target)
    }

    /// Where the node on top of the path is (or its child reached `via`), as
    /// a URI fragment.
    fn location(&self, via: Option<Via<'a>>) -> String {
        let vias: Vec<Via<'a>> = self.stack.iter().map(|f| f.via).chain(via).collect();
        let start = vias.iter().rposition(|v| matches!(v, Via::Root | Via::Ref(_))).unwrap_or(0);
        let mut out = match vias.get(start) {
            Some(Via::Ref(reference)) => (*reference).to_string(),
            _ => "#".to_string(),
        };
        for via in &vias[start + 1..] {
            match via {
                Via::Root | Via::Ref(_) => {}
                Via::Keyword(keyword) => {
                    let _ = write!(out, "/{keyword}");
                }
                Via::Entry(keyword, name) => {
                    let _ = write!(out, "/{keyword}/{}", name.replace('~', "~0").replace('/', "~1"));
                }
                Via::Index(keyword, i) => {
                    let _ = write!(out, "/{keyword}/{i}");
                }
            }
        }
        out
    }
}

fn id_keyword(keyword: &str) -> &'static str {
    if keyword == "id" { "id" } else { "$id" }
}

/// A JSON pointer token as an array index: digits, without leading zeros.
fn array_index(token: &str) -> Option<usize> {
    let digits = !token.is_empty() && token.bytes().all(|b| b.is_ascii_digit());
    if !digits || (token.len() > 1 && token.starts_with('0')) {
        return None;
    }
    token.parse().ok()
}

/// Decodes `%XX` escapes in a URI fragment; `None` if one is malformed or
/// the result is not UTF-8.
fn percent_decode(text: &str) -> Option<String> {
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' {
            let hex = bytes.get(i + 1..i + 3).filter(|h| h.iter().all(u8::is_ascii_hexdigit))?;
            out.push(u8::from_str_radix(std::str::from_utf8(hex).ok()?, 16).ok()?);
            i += 3;
        } else {
            out.push(bytes[i]);
            i += 1;
        }
    }
    String::from_utf8(out).ok()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::contract::Contract;
    use serde_json::json;

    /// `n` `$defs` chained by `{"$ref": next}`, or by `anyOf` of two such
    /// references when `branching`, the last one `false`.
    fn chain(n: usize, branching: bool) -> Value {
        let mut defs = Map::new();
        for i in 0..n {
            let next = json!({"$ref": format!("#/$defs/d{}", i + 1)});
            let def = if branching { json!({"anyOf": [next, next]}) } else { next };
            defs.insert(format!("d{i}"), def);
        }
        defs.insert(format!("d{n}"), json!(false));
        json!({"$defs": defs, "$ref": "#/$defs/d0"})
    }

    fn refused_as_too_costly(schema: &Value) -> String {
        match evaluation_bound(schema) {
            Err(CostError::TooCostly { at }) => at,
            other => panic!("expected too costly, got {other:?} for {schema}"),
        }
    }

    #[test]
    fn a_linear_ref_chain_costs_one_per_link() {
        // The root, then each `{"$ref": ...}` def, then the final `false`.
        assert_eq!(evaluation_bound(&chain(40, false)), Ok(42));
        assert_eq!(evaluation_bound(&chain(1000, false)), Ok(1002));
    }

    #[test]
    fn a_branching_ref_chain_is_refused_where_it_passes_the_limit() {
        // In a chain of n, d_k costs 1 + 2 × (1 + cost of d_k+1) = 2^(n+2-k) - 3:
        // the first over 1,000,000 is d_22 (1,048,573).
        assert_eq!(refused_as_too_costly(&chain(40, true)), "#/$defs/d22");
        // Small enough chains are fine, and counted exactly.
        assert_eq!(evaluation_bound(&chain(10, true)), Ok(1 + (1 << 12) - 3));
    }

    #[test]
    fn the_refusal_says_what_to_do() {
        let e = evaluation_bound(&chain(40, true)).unwrap_err();
        assert_eq!(
            e.to_string(),
            "could cost more than 1,000,000 evaluations per value (from `#/$defs/d22` on: subschemas reached \
             more than once per value multiply, such as an `anyOf`, `allOf` or `oneOf` of `$ref`s repeated \
             level after level); simplify it"
        );
    }

    #[test]
    fn a_recursive_tree_costs_linearly_in_its_depth() {
        let tree = json!({"type": "object", "properties": {"children": {"type": "array", "items": {"$ref": "#"}}}});
        // root(d) = 3 + root(d - 2): the root, `children`, the `items` ref.
        assert_eq!(evaluation_bound(&tree), Ok(3 * 64 + 1));
    }

    #[test]
    fn a_descending_cycle_that_branches_is_refused() {
        for branch in ["allOf", "anyOf", "oneOf"] {
            let schema = json!({"type": "object", "properties": {"a": {branch: [{"$ref": "#"}, {"$ref": "#"}]}}});
            assert_eq!(refused_as_too_costly(&schema), "#/properties/a", "{branch}");
        }
        // Through `items` and a `$defs` entry too.
        let schema = json!({"$defs": {"list": {"items": {"anyOf": [{"$ref": "#"}, {"$ref": "#/$defs/list"}]}}},
                            "$ref": "#/$defs/list"});
        refused_as_too_costly(&schema);
    }

    #[test]
    fn an_expression_tree_whose_variants_each_contain_it_is_refused() {
        // jsonschema checks every variant, and every variant checks `left`
        // again: a wrong leaf 14 levels down already takes seconds to find.
        let variant = |tag: &str| {
            json!({"type": "object", "required": ["tag"],
                   "properties": {"tag": {"const": tag}, "left": {"$ref": "#/$defs/Expr"}}})
        };
        let schema = json!({"$defs": {"Expr": {"oneOf": [variant("a"), variant("b"), variant("c")]}},
                            "$ref": "#/$defs/Expr"});
        assert_eq!(refused_as_too_costly(&schema), "#/$defs/Expr");
        // With a single variant it is a linked list: linear.
        let list = json!({"$defs": {"Expr": {"oneOf": [variant("a")]}}, "$ref": "#/$defs/Expr"});
        assert!(evaluation_bound(&list).unwrap() < 1000);
    }

    #[test]
    fn identical_refs_count_once_each() {
        // Memoising a target does not merge two references to it.
        let leaf = json!({"$defs": {"leaf": {"type": "string"}},
                          "items": {"anyOf": [{"$ref": "#/$defs/leaf"}, {"$ref": "#/$defs/leaf"}]}});
        // root + items + 2 × (ref node + leaf).
        assert_eq!(evaluation_bound(&leaf), Ok(1 + 1 + 2 * 2));
        // At depth, the same two references to the root double at every level.
        let deep = json!({"items": {"anyOf": [{"$ref": "#"}, {"$ref": "#"}]}});
        assert_eq!(refused_as_too_costly(&deep), "#/items");
    }

    #[test]
    fn boolean_schemas_cost_one() {
        assert_eq!(evaluation_bound(&json!(true)), Ok(1));
        assert_eq!(evaluation_bound(&json!(false)), Ok(1));
        assert_eq!(evaluation_bound(&json!({})), Ok(1));
        assert_eq!(evaluation_bound(&json!({"properties": {"a": false}, "not": true})), Ok(3));
    }

    #[test]
    fn unreferenced_defs_cost_nothing() {
        let mut schema = chain(40, true);
        schema.as_object_mut().unwrap().remove("$ref");
        schema["type"] = json!("object");
        assert_eq!(evaluation_bound(&schema), Ok(1));
    }

    #[test]
    fn a_member_is_checked_by_one_of_properties_additional_and_unevaluated() {
        let two = json!({"not": {}});
        let three = json!({"not": {"not": {}}});
        let schema = json!({
            "properties": {"a": two, "b": three},
            "additionalProperties": two,
            "unevaluatedProperties": two,
            "patternProperties": {"^x": two, "^y": two},
            "propertyNames": {"maxLength": 3},
        });
        // root + max(2, 3, 2, 2) + 2 + 2 (patterns add up).
        assert_eq!(evaluation_bound(&schema), Ok(1 + 3 + 4));
        // A value is an object or an array: elements and members never add up.
        let schema = json!({"properties": {"a": three}, "prefixItems": [two, three], "items": two, "contains": two});
        assert_eq!(evaluation_bound(&schema), Ok(1 + 3 + 2));
    }

    #[test]
    fn only_one_of_then_and_else_applies() {
        let two = json!({"not": {}});
        let three = json!({"not": {"not": {}}});
        let schema = json!({"if": two, "then": three, "else": two, "allOf": [two, {}], "dependentSchemas": {"a": two}});
        assert_eq!(evaluation_bound(&schema), Ok(1 + 2 + 3 + 2 + 1 + 2));
    }

    #[test]
    fn a_value_at_the_bottom_has_nothing_below_it() {
        // `levels` of `items` around a branching chain.
        let nested = |levels: u8| {
            let mut schema = json!({"anyOf": [{"$ref": "#/$defs/d0"}, {"$ref": "#/$defs/d0"}]});
            for _ in 0..levels {
                schema = json!({"items": schema});
            }
            schema["$defs"] = chain(40, true)["$defs"].clone();
            schema
        };
        // The innermost of 128 levels applies to the values at the bottom...
        refused_as_too_costly(&nested(INSTANCE_DEPTH));
        // ...while a 129th level would apply below them: each level costs one.
        assert_eq!(evaluation_bound(&nested(INSTANCE_DEPTH + 1)), Ok(u64::from(INSTANCE_DEPTH) + 1));
    }

    #[test]
    fn in_place_cycles_cost_one_and_the_validator_ends_them() {
        let cases = [
            (json!({"$ref": "#"}), 2),
            (json!({"anyOf": [{"$ref": "#"}, {"type": "string"}]}), 4),
            (json!({"$defs": {"a": {"allOf": [{"$ref": "#"}, {"$ref": "#/$defs/a"}]}}, "$ref": "#/$defs/a"}), 6),
        ];
        for (schema, bound) in cases {
            assert_eq!(evaluation_bound(&schema), Ok(bound), "{schema}");
            let contract = Contract::new(schema).unwrap();
            for value in [json!(1), json!("s"), json!({"a": [1]}), json!([[]])] {
                let _ = contract.check(&value);
            }
        }
    }

    #[test]
    fn json_pointers_are_unescaped_and_percent_decoded() {
        let schema = json!({
            "$defs": {"a/b": {"$ref": "#/$defs/m~0n"}, "m~n": {"$ref": "#/$defs/sp%20ace"}, "sp ace": {"$ref": "#/list/1"}},
            "list": [false, {"type": "string"}],
            "$ref": "#/$defs/a~1b"
        });
        assert_eq!(evaluation_bound(&schema), Ok(5));
        Contract::new(schema).unwrap().check(&json!("s")).unwrap();
    }

    #[test]
    fn references_the_walk_cannot_follow_are_refused() {
        let refused = |schema: Value| evaluation_bound(&schema).unwrap_err().to_string();
        let e = refused(json!({"$defs": {"n": {"$anchor": "node"}}, "properties": {"a": {"$ref": "#node"}}}));
        assert!(e.starts_with("uses `$ref` at `#/properties/a` (a reference to the anchor `#node`)"), "{e}");
        assert!(e.ends_with("refer to subschemas with `#` or `#/json/pointer`, such as `#/$defs/name`"), "{e}");
        let e = refused(json!({"$ref": "other.json#/x"}));
        assert!(e.contains("a reference to `other.json#/x`, outside the schema"), "{e}");
        let e = refused(json!({"items": {"$dynamicRef": "#node"}}));
        assert!(e.starts_with("uses `$dynamicRef` at `#/items`"), "{e}");
        let e = refused(
            json!({"$schema": "https://json-schema.org/draft/2019-09/schema", "anyOf": [{"$recursiveRef": "#"}]}),
        );
        assert!(e.starts_with("uses `$recursiveRef` at `#/anyOf/0`"), "{e}");
        let e = refused(json!({"properties": {"a": {"$id": "https://example.com/a", "$ref": "#/$defs/b"}}}));
        assert!(e.starts_with("uses `$id` at `#/properties/a` (a new base URI `https://example.com/a`"), "{e}");
        let e = refused(json!({"$defs": {"a": {"$id": "a.json", "type": "string"}}, "$ref": "#/$defs/a"}));
        assert!(e.contains("a reference into `$id`, which sets a new base URI `a.json`"), "{e}");
        let e = refused(json!({"$schema": "http://json-schema.org/draft-04/schema#", "items": {"id": "x.json"}}));
        assert!(e.starts_with("uses `id` at `#/items`"), "{e}");
        let e = refused(json!({"$ref": "#/$defs/missing"}));
        assert_eq!(e, "has a `$ref` to `#/$defs/missing` at `#` that points at nothing in the schema");
        let e = refused(json!({"list": [{}], "$ref": "#/list/01"}));
        assert!(e.starts_with("has a `$ref` to `#/list/01`"), "{e}");
        let e = refused(json!({"$ref": "#/%zz"}));
        assert!(e.starts_with("has a `$ref` to `#/%zz`"), "{e}");
    }

    #[test]
    fn a_root_id_and_ids_outside_the_walk_are_fine() {
        let schema = json!({"$id": "https://example.com/s.json", "$ref": "#/$defs/a",
                            "$defs": {"a": {"type": "string"}, "unused": {"$id": "u.json"}},
                            "properties": {"$id": {"type": "string"}}, "enum": [{"$id": "x"}, "s"]});
        // The root, `$defs/a` and the member `$id`.
        assert_eq!(evaluation_bound(&schema), Ok(3));
        // In draft 2020-12, `id` is not a keyword.
        assert_eq!(evaluation_bound(&json!({"items": {"id": "x.json"}})), Ok(2));
    }

    #[test]
    fn schemas_too_large_to_walk_are_refused() {
        assert_eq!(Walk::new(&chain(1000, false), 500).run(), Err(CostError::TooLarge));
        assert_eq!(
            CostError::TooLarge.to_string(),
            "is too large to bound (more than 1,000,000 steps to analyse); simplify it"
        );
    }

    #[test]
    fn schemas_nested_too_deep_to_walk_are_refused() {
        assert_eq!(evaluation_bound(&chain(PATH_LIMIT, false)), Err(CostError::TooDeep));
        assert_eq!(
            CostError::TooDeep.to_string(),
            "nests too deep to bound (more than 10,000 subschemas one inside another, counting `$ref`s); simplify it"
        );
    }

    #[test]
    fn a_wide_schema_repeated_at_every_level_runs_out_of_steps() {
        // 128 copies of this on the path would hold 128 × 100,000 children.
        let wide = vec![json!({}); 100_000];
        let schema = json!({"items": {"$ref": "#"}, "allOf": wide});
        assert_eq!(evaluation_bound(&schema), Err(CostError::TooLarge));
    }

    #[test]
    fn a_dense_in_place_cycle_stops_at_the_limit() {
        // Every def refers to every other: the walk's paths through them are
        // not memoised, so it stops on the limit or its step budget (small
        // here to keep the test quick).
        let n = 30;
        let refs: Vec<Value> = (0..n).map(|i| json!({"$ref": format!("#/$defs/d{i}")})).collect();
        let defs: Map<String, Value> = (0..n).map(|i| (format!("d{i}"), json!({"allOf": refs}))).collect();
        let schema = json!({"$defs": defs, "$ref": "#/$defs/d0"});
        let bound = Walk::new(&schema, 100_000).run();
        assert!(matches!(bound, Err(CostError::TooCostly { .. } | CostError::TooLarge)), "{bound:?}");
    }

    #[test]
    fn the_workflow_spec_schema_a_large_schemars_schema_is_accepted() {
        let bound = evaluation_bound(&crate::spec::json_schema()).unwrap();
        assert!(bound < EVALUATION_LIMIT, "{bound}");
    }

    #[test]
    fn values_are_counted_up_to_the_most_asked() {
        assert_eq!(count_values(&json!(1), 10), 1);
        assert_eq!(count_values(&json!({"a": [1, 2], "b": {"c": null}}), 100), 6);
        assert_eq!(count_values(&json!((0..1000).collect::<Vec<_>>()), 10), 11, "stops once past 10");
    }

    #[test]
    fn thousands_are_separated() {
        assert_eq!(thousands(0), "0");
        assert_eq!(thousands(999), "999");
        assert_eq!(thousands(1000), "1,000");
        assert_eq!(thousands(1_000_000), "1,000,000");
    }
}
