//! What evaluating a CEL expression can cost, bounded before it runs.
//!
//! CEL always terminates, but not always soon: `map` nested thirty deep, or
//! `lists.range(10000)` mapped over itself, takes longer than any run has,
//! and the `cel` crate's interpreter cannot be interrupted. So every
//! expression gets an upper bound on the steps it takes, from its shape:
//! each node costs one, and a comprehension (`map`, `filter`, `all`,
//! `exists`, ...) costs its body once per element of what it iterates.
//!
//! The length of what a comprehension iterates is known for a literal list
//! and for `lists.range(N)` with a literal `N`; otherwise it comes from the
//! data, and is counted as `data_len`: [`DEFAULT_DATA_LEN`] when the spec is
//! checked, and, before each evaluation, the longest list or object in the
//! values the expression sees. (Functions over one list or string, such as
//! `size` or `join`, are linear in their data and count one step: only
//! iteration inside iteration can explode.) An expression whose bound is over
//! [`MAX_COST`] is refused: by `weft check` when its shape alone is too
//! costly, at run time (as the step's failure) when the data makes it so.

use cel::common::ast::{EntryExpr, Expr, IdedExpr, LiteralValue};

/// The most steps one evaluation may take.
pub const MAX_COST: u64 = 10_000_000;

/// How many elements a list from the data is taken to have when a spec is
/// checked: generous for what a step's output holds.
pub const DEFAULT_DATA_LEN: u64 = 1_000;

/// An upper bound on the steps evaluating `e` takes, with every list from
/// the data `data_len` long. Saturates at `u64::MAX`.
pub fn bound(e: &IdedExpr, data_len: u64) -> u64 {
    match &e.expr {
        Expr::Comprehension(c) => {
            let per_element =
                bound(&c.loop_cond, data_len).saturating_add(bound(&c.loop_step, data_len)).saturating_add(1);
            1u64.saturating_add(bound(&c.iter_range, data_len))
                .saturating_add(bound(&c.accu_init, data_len))
                .saturating_add(length(&c.iter_range, data_len).saturating_mul(per_element))
                .saturating_add(bound(&c.result, data_len))
        }
        Expr::Call(c) => {
            let mut total = 1u64;
            if let Some(t) = &c.target {
                total = total.saturating_add(bound(t, data_len));
            }
            c.args.iter().fold(total, |t, a| t.saturating_add(bound(a, data_len)))
        }
        Expr::List(l) => l.elements.iter().fold(1u64, |t, x| t.saturating_add(bound(x, data_len))),
        Expr::Map(m) => m.entries.iter().fold(1u64, |t, x| t.saturating_add(entry(&x.expr, data_len))),
        Expr::Struct(s) => s.entries.iter().fold(1u64, |t, x| t.saturating_add(entry(&x.expr, data_len))),
        Expr::Select(s) => 1u64.saturating_add(bound(&s.operand, data_len)),
        Expr::Ident(_) | Expr::Literal(_) | Expr::Unspecified => 1,
    }
}

fn entry(e: &EntryExpr, data_len: u64) -> u64 {
    match e {
        EntryExpr::StructField(s) => bound(&s.value, data_len),
        EntryExpr::MapEntry(m) => bound(&m.key, data_len).saturating_add(bound(&m.value, data_len)),
    }
}

/// How many elements what `e` gives can have, when `e` is iterated.
fn length(e: &IdedExpr, data_len: u64) -> u64 {
    match &e.expr {
        Expr::List(l) => l.elements.len() as u64,
        Expr::Map(m) => m.entries.len() as u64,
        Expr::Call(c) if is_range(c) => match c.args.first().map(|a| &a.expr) {
            Some(Expr::Literal(LiteralValue::Int(n))) => u64::try_from(*n.inner()).unwrap_or(0),
            _ => data_len,
        },
        // A comprehension's result (a `map` of a `map`) is as long as what it iterated.
        Expr::Comprehension(c) => length(&c.iter_range, data_len),
        _ => data_len,
    }
}

fn is_range(c: &cel::common::ast::CallExpr) -> bool {
    c.func_name == "lists.range"
        || (c.func_name == "range"
            && matches!(c.target.as_deref().map(|t| &t.expr), Some(Expr::Ident(n)) if n == "lists"))
}

/// Whether `e` iterates anything, so that its cost depends on the data.
pub fn iterates(e: &IdedExpr) -> bool {
    let mut found = false;
    super::expr::walk(e, &mut |x| found |= matches!(x, Expr::Comprehension(_)));
    found
}

/// The longest list or object in `v`, anywhere inside it.
pub fn longest(v: &serde_json::Value) -> u64 {
    use serde_json::Value;
    match v {
        Value::Array(a) => a.iter().fold(a.len() as u64, |m, x| m.max(longest(x))),
        Value::Object(o) => o.values().fold(o.len() as u64, |m, x| m.max(longest(x))),
        _ => 0,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cost(text: &str) -> u64 {
        let program = cel::Env::stdlib().compile(text).unwrap();
        bound(program.expression(), DEFAULT_DATA_LEN)
    }

    #[test]
    fn plain_expressions_cost_their_size() {
        assert!(cost("steps.fetch.output.body") < 10);
        assert!(cost("size(input.items) > 0 && input.limit * 2 < 10") < 20);
    }

    #[test]
    fn a_comprehension_costs_its_body_per_element() {
        let over_data = cost("input.items.map(x, x * 2)");
        assert!((DEFAULT_DATA_LEN..10 * DEFAULT_DATA_LEN).contains(&over_data), "{over_data}");
        assert!(cost("[1, 2, 3].map(x, x * 2)") < 100);
        let two_deep = cost("input.a.map(x, input.b.map(y, x * y))");
        assert!(two_deep > DEFAULT_DATA_LEN * DEFAULT_DATA_LEN && two_deep < MAX_COST, "{two_deep}");
    }

    #[test]
    fn explosive_shapes_are_over_the_limit() {
        let mut nested = "1".to_string();
        for i in 0..30 {
            nested = format!("[1, 2].map(x{i}, {nested})");
        }
        assert!(cost(&nested) > MAX_COST);
        let mut env = cel::Env::stdlib();
        env.add_extension(cel::extensions::lists).unwrap();
        let squared = env.compile("lists.range(10000).map(x, lists.range(10000).map(y, x * y))").unwrap();
        assert!(bound(squared.expression(), DEFAULT_DATA_LEN) > MAX_COST);
        let once = env.compile("lists.range(10000).map(x, x * 2)").unwrap();
        assert!(bound(once.expression(), DEFAULT_DATA_LEN) < MAX_COST);
    }

    #[test]
    fn the_data_sets_the_length_of_what_it_iterates() {
        assert_eq!(longest(&serde_json::json!({"a": [1, 2, 3], "b": {"c": [[1, 2, 3, 4, 5]]}})), 5);
        assert_eq!(longest(&serde_json::json!("a long string is not iterated")), 0);
    }
}
