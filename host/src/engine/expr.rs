//! Expressions in specs: CEL, through the `cel` crate.
//!
//! CEL is not Turing-complete and always terminates, which matters because
//! specs may be written by programs. Mappings are CEL expressions, or tables
//! whose leaves are; this module compiles them once, finds the steps they
//! refer to (which become dependencies), and evaluates them to JSON.

use crate::domain::spec::Mapping;
use cel::common::ast::{EntryExpr, Expr, IdedExpr};
use indexmap::IndexMap;
use serde_json::Value;
use std::collections::BTreeSet;
use std::fmt;
use std::sync::Arc;

/// A compiled CEL expression with its source.
#[derive(Clone)]
pub struct Expression {
    source: Arc<str>,
    program: Arc<cel::Program>,
    /// Whether it iterates (its cost then depends on the data).
    iterates: bool,
}

impl fmt::Debug for Expression {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Expression({:?})", self.source)
    }
}

/// An expression that does not parse or does not evaluate.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ExprError {
    /// It does not parse.
    #[error("`{text}` is not a valid CEL expression: {message}")]
    Parse {
        /// The expression.
        text: String,
        /// The parser's complaint.
        message: String,
    },
    /// Evaluating it could take too long (see `cel_cost.rs`).
    #[error(
        "`{text}` could take up to {bound} steps to evaluate{on}, over the limit of {max}; iterate over less, or \
         nest fewer `map`/`filter`/`all`/`exists` inside each other",
        max = super::cel_cost::MAX_COST
    )]
    TooCostly {
        /// The expression.
        text: String,
        /// The bound on its steps.
        bound: u64,
        /// On what data (empty when judged by its shape alone).
        on: String,
    },
    /// It failed when evaluated.
    #[error("`{text}` failed: {message}")]
    Eval {
        /// The expression.
        text: String,
        /// What went wrong.
        message: String,
    },
}

/// The variables an expression sees. Cheap to clone: the input and the
/// finished steps are shared (a fan-out makes one scope per element).
#[derive(Debug, Clone, Default)]
pub struct Scope {
    /// `input`: the run's (or the group's) input.
    pub input: Arc<Value>,
    /// `steps`: `{NAME: {"output": ..., "status": ..., "error": ...}}` of finished steps.
    pub steps: Arc<serde_json::Map<String, Value>>,
    /// `item` and `index` inside a fan-out.
    pub item: Option<(Value, usize)>,
    /// `iteration` (0-based) and `previous` (last iteration's `steps`) inside a loop.
    pub iteration: Option<(u32, Value)>,
}

/// The CEL environment: the standard library plus the `strings`
/// (`split`, `join`, `replace`, `trim`, ...), `lists` (`flatten`, `sort`,
/// `distinct`, `lists.range`, ...) and `math` (`math.greatest`, `math.round`,
/// ...) extensions.
fn env() -> &'static Arc<cel::Env> {
    static ENV: std::sync::OnceLock<Arc<cel::Env>> = std::sync::OnceLock::new();
    ENV.get_or_init(|| {
        let mut env = cel::Env::stdlib();
        env.add_extension(cel::extensions::strings).expect("the strings extension declares cleanly");
        env.add_extension(cel::extensions::lists).expect("the lists extension declares cleanly");
        env.add_extension(cel::extensions::math).expect("the math extension declares cleanly");
        Arc::new(env)
    })
}

impl Expression {
    /// Compiles `source`.
    pub fn compile(source: &str) -> Result<Expression, ExprError> {
        let program = env().compile(source).map_err(|e| ExprError::Parse {
            text: source.to_string(),
            message: e.to_string().lines().next().unwrap_or_default().trim().to_string(),
        })?;
        let bound = super::cel_cost::bound(program.expression(), super::cel_cost::DEFAULT_DATA_LEN);
        if bound > super::cel_cost::MAX_COST {
            return Err(ExprError::TooCostly {
                text: source.to_string(),
                bound,
                on: format!(" (taking each list from the data as {} long)", super::cel_cost::DEFAULT_DATA_LEN),
            });
        }
        let iterates = super::cel_cost::iterates(program.expression());
        Ok(Expression { source: source.into(), program: Arc::new(program), iterates })
    }

    /// Refuses to evaluate it in `scope` if the lists there could make that
    /// take too long.
    fn check_cost(&self, scope: &Scope) -> Result<(), ExprError> {
        if !self.iterates {
            return Ok(());
        }
        use super::cel_cost::{MAX_COST, bound, longest};
        let mut data_len = longest(&scope.input);
        for v in scope.steps.values() {
            data_len = data_len.max(longest(v));
        }
        if let Some((item, _)) = &scope.item {
            data_len = data_len.max(longest(item));
        }
        if let Some((_, previous)) = &scope.iteration {
            data_len = data_len.max(longest(previous));
        }
        let steps = bound(self.program.expression(), data_len);
        if steps > MAX_COST {
            return Err(ExprError::TooCostly {
                text: self.source.to_string(),
                bound: steps,
                on: format!(" on this data (lists up to {data_len} long)"),
            });
        }
        Ok(())
    }

    /// The text it was compiled from.
    pub fn source(&self) -> &str {
        &self.source
    }

    /// Names of the steps it refers to (`steps.NAME` or `steps['NAME']`).
    pub fn step_refs(&self) -> BTreeSet<String> {
        let mut out = BTreeSet::new();
        walk(self.program.expression(), &mut |e| match e {
            Expr::Select(s) if matches!(&s.operand.expr, Expr::Ident(n) if n == "steps") => {
                out.insert(s.field.clone());
            }
            Expr::Call(c) if c.func_name == "_[_]" && c.args.len() == 2 => {
                if let (Expr::Ident(n), Expr::Literal(cel::common::ast::LiteralValue::String(key))) =
                    (&c.args[0].expr, &c.args[1].expr)
                    && n == "steps"
                {
                    out.insert(key.inner().to_string());
                }
            }
            _ => {}
        });
        out
    }

    /// Top-level variables it uses (`input`, `steps`, `item`, ...).
    pub fn variables(&self) -> BTreeSet<String> {
        let mut out = BTreeSet::new();
        walk(self.program.expression(), &mut |e| {
            if let Expr::Ident(n) = e {
                out.insert(n.clone());
            }
        });
        out
    }

    /// If the expression is a plain path such as `steps.fetch.output.body`,
    /// its segments; else `None`.
    pub fn as_path(&self) -> Option<Vec<String>> {
        let mut segments = Vec::new();
        let mut e = &self.program.expression().expr;
        loop {
            match e {
                Expr::Ident(n) => {
                    segments.push(n.clone());
                    segments.reverse();
                    return Some(segments);
                }
                Expr::Select(s) if !s.test => {
                    segments.push(s.field.clone());
                    e = &s.operand.expr;
                }
                _ => return None,
            }
        }
    }

    /// Evaluates to JSON in `scope`.
    pub fn eval(&self, scope: &Scope) -> Result<Value, ExprError> {
        self.check_cost(scope)?;
        let fail = |message: String| ExprError::Eval { text: self.source.to_string(), message };
        let mut ctx = cel::Context::with_env(env().clone());
        let bind = |ctx: &mut cel::Context, name: &str, v: &Value| {
            ctx.add_variable_from_value(name, to_cel(v));
            Ok::<_, ExprError>(())
        };
        bind(&mut ctx, "input", &scope.input)?;
        ctx.add_variable_from_value("steps", map_to_cel(&scope.steps));
        if let Some((item, index)) = &scope.item {
            bind(&mut ctx, "item", item)?;
            bind(&mut ctx, "index", &Value::from(*index))?;
        }
        if let Some((iteration, previous)) = &scope.iteration {
            bind(&mut ctx, "iteration", &Value::from(*iteration))?;
            bind(&mut ctx, "previous", previous)?;
        }
        let out = self.program.execute(&ctx).map_err(|e| fail(e.to_string()))?;
        out.json().map_err(|e| fail(format!("the result is not JSON: {e}")))
    }

    /// Evaluates to a boolean, or says what it gave instead.
    pub fn eval_bool(&self, scope: &Scope) -> Result<bool, ExprError> {
        match self.eval(scope)? {
            Value::Bool(b) => Ok(b),
            other => Err(ExprError::Eval {
                text: self.source.to_string(),
                message: format!("a condition must give true or false, not {other}"),
            }),
        }
    }
}

/// JSON to CEL. Integers become CEL `int` (not `uint`) whenever they fit, so
/// `steps.x.output.n * 2` works as people expect.
fn to_cel(v: &Value) -> cel::Value {
    match v {
        Value::Null => cel::Value::Null,
        Value::Bool(b) => cel::Value::Bool(*b),
        Value::Number(n) => match (n.as_i64(), n.as_u64()) {
            (Some(i), _) => cel::Value::Int(i),
            (None, Some(u)) => cel::Value::UInt(u),
            _ => cel::Value::Float(n.as_f64().unwrap_or(f64::NAN)),
        },
        Value::String(s) => cel::Value::String(Arc::new(s.clone())),
        Value::Array(a) => cel::Value::List(Arc::new(a.iter().map(to_cel).collect())),
        Value::Object(o) => map_to_cel(o),
    }
}

fn map_to_cel(o: &serde_json::Map<String, Value>) -> cel::Value {
    let map: std::collections::HashMap<String, cel::Value> = o.iter().map(|(k, v)| (k.clone(), to_cel(v))).collect();
    cel::Value::from(map)
}

/// Calls `f` on every node of `e`.
pub(super) fn walk<'a>(e: &'a IdedExpr, f: &mut impl FnMut(&'a Expr)) {
    f(&e.expr);
    match &e.expr {
        Expr::Call(c) => {
            if let Some(t) = &c.target {
                walk(t, f);
            }
            c.args.iter().for_each(|a| walk(a, f));
        }
        Expr::Comprehension(c) => {
            for x in [&c.iter_range, &c.accu_init, &c.loop_cond, &c.loop_step, &c.result] {
                walk(x, f);
            }
        }
        Expr::List(l) => l.elements.iter().for_each(|x| walk(x, f)),
        Expr::Map(m) => m.entries.iter().for_each(|x| walk_entry(&x.expr, f)),
        Expr::Struct(s) => s.entries.iter().for_each(|x| walk_entry(&x.expr, f)),
        Expr::Select(s) => walk(&s.operand, f),
        Expr::Ident(_) | Expr::Literal(_) | Expr::Unspecified => {}
    }
}

fn walk_entry<'a>(e: &'a EntryExpr, f: &mut impl FnMut(&'a Expr)) {
    match e {
        EntryExpr::StructField(s) => walk(&s.value, f),
        EntryExpr::MapEntry(m) => {
            walk(&m.key, f);
            walk(&m.value, f);
        }
    }
}

/// A compiled [`Mapping`].
#[derive(Debug, Clone)]
pub enum Template {
    /// One expression.
    Expr(Expression),
    /// An object of templates.
    Fields(IndexMap<String, Template>),
    /// A literal.
    Literal(Value),
}

impl Template {
    /// Compiles every expression of `mapping`; an error names the field path.
    pub fn compile(mapping: &Mapping) -> Result<Template, (String, ExprError)> {
        Self::compile_at(mapping, "")
    }

    fn compile_at(mapping: &Mapping, at: &str) -> Result<Template, (String, ExprError)> {
        Ok(match mapping {
            Mapping::Expr(s) => Template::Expr(Expression::compile(s).map_err(|e| (at.to_string(), e))?),
            Mapping::Literal(v) => Template::Literal(v.clone()),
            Mapping::Fields(fields) => {
                let mut out = IndexMap::new();
                for (k, m) in fields {
                    let path = if at.is_empty() { k.clone() } else { format!("{at}.{k}") };
                    out.insert(k.clone(), Self::compile_at(m, &path)?);
                }
                Template::Fields(out)
            }
        })
    }

    /// Every expression in it.
    pub fn expressions(&self) -> Vec<&Expression> {
        match self {
            Template::Expr(e) => vec![e],
            Template::Literal(_) => vec![],
            Template::Fields(f) => f.values().flat_map(Template::expressions).collect(),
        }
    }

    /// Steps it refers to.
    pub fn step_refs(&self) -> BTreeSet<String> {
        self.expressions().iter().flat_map(|e| e.step_refs()).collect()
    }

    /// Builds the value in `scope`.
    pub fn eval(&self, scope: &Scope) -> Result<Value, ExprError> {
        Ok(match self {
            Template::Expr(e) => e.eval(scope)?,
            Template::Literal(v) => v.clone(),
            Template::Fields(f) => {
                let mut out = serde_json::Map::new();
                for (k, t) in f {
                    out.insert(k.clone(), t.eval(scope)?);
                }
                Value::Object(out)
            }
        })
    }
}

/// Expands `${{ expr }}` in a grant path with CEL values (strings as they are,
/// anything else as JSON).
pub fn interpolate(text: &str, scope: &Scope) -> Result<String, ExprError> {
    let mut out = String::new();
    let mut rest = text;
    while let Some(start) = rest.find("${{") {
        out.push_str(&rest[..start]);
        let after = &rest[start + 3..];
        let Some(end) = after.find("}}") else {
            return Err(ExprError::Parse { text: text.to_string(), message: "`${{` without a closing `}}`".into() });
        };
        let value = Expression::compile(after[..end].trim())?.eval(scope)?;
        match value {
            Value::String(s) => out.push_str(&s),
            other => out.push_str(&other.to_string()),
        }
        rest = &after[end + 2..];
    }
    out.push_str(rest);
    Ok(out)
}

/// The expressions inside `${{ }}` in a grant path.
pub fn interpolated(text: &str) -> Result<Vec<Expression>, ExprError> {
    let mut out = Vec::new();
    let mut rest = text;
    while let Some(start) = rest.find("${{") {
        let after = &rest[start + 3..];
        let Some(end) = after.find("}}") else {
            return Err(ExprError::Parse { text: text.to_string(), message: "`${{` without a closing `}}`".into() });
        };
        out.push(Expression::compile(after[..end].trim())?);
        rest = &after[end + 2..];
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn scope() -> Scope {
        let mut steps = serde_json::Map::new();
        steps.insert("fetch".into(), json!({"output": {"body": "hello world", "n": 2}, "status": "succeeded"}));
        Scope { input: Arc::new(json!({"repo": "/src", "limit": 3})), steps: Arc::new(steps), ..Scope::default() }
    }

    #[test]
    fn finds_the_steps_an_expression_refers_to() {
        let e = Expression::compile("steps.fetch.output.n + size(steps['parse'].output) + input.limit").unwrap();
        assert_eq!(e.step_refs(), BTreeSet::from(["fetch".to_string(), "parse".to_string()]));
        let inside = Expression::compile("steps.list.output.all(x, x > steps.min.output)").unwrap();
        assert_eq!(inside.step_refs(), BTreeSet::from(["list".to_string(), "min".to_string()]));
    }

    #[test]
    fn evaluates_to_json() {
        let e = Expression::compile("{'text': steps.fetch.output.body, 'twice': steps.fetch.output.n * 2}").unwrap();
        assert_eq!(e.eval(&scope()).unwrap(), json!({"text": "hello world", "twice": 4}));
    }

    #[test]
    fn conditions_must_be_booleans() {
        assert!(Expression::compile("input.limit > 2").unwrap().eval_bool(&scope()).unwrap());
        let err = Expression::compile("input.limit").unwrap().eval_bool(&scope()).unwrap_err();
        assert!(err.to_string().contains("true or false"), "{err}");
    }

    #[test]
    fn a_missing_field_is_an_evaluation_error_naming_the_expression() {
        let err = Expression::compile("steps.fetch.output.nope").unwrap().eval(&scope()).unwrap_err();
        assert!(err.to_string().starts_with("`steps.fetch.output.nope` failed"), "{err}");
    }

    #[test]
    fn the_strings_lists_and_math_extensions_are_available() {
        let e =
            Expression::compile("[input.repo.split('/').join('-'), math.greatest([1, 5, 3]), [3, 1].sort()]").unwrap();
        assert_eq!(e.eval(&scope()).unwrap(), json!(["-src", 5, [1, 3]]));
    }

    #[test]
    fn an_expression_whose_cost_explodes_is_refused_by_its_shape_or_its_data() {
        let squared = Expression::compile("lists.range(10000).map(x, lists.range(10000).map(y, x * y))");
        assert!(matches!(squared.unwrap_err(), ExprError::TooCostly { .. }));
        let pairs = Expression::compile("input.a.map(x, input.a.map(y, x + y))").unwrap();
        let small = Scope { input: Arc::new(json!({"a": [1, 2, 3]})), ..Scope::default() };
        assert_eq!(pairs.eval(&small).unwrap(), json!([[2, 3, 4], [3, 4, 5], [4, 5, 6]]));
        let big = Scope { input: Arc::new(json!({"a": (0..5000).collect::<Vec<_>>()})), ..Scope::default() };
        let err = pairs.eval(&big).unwrap_err();
        assert!(err.to_string().contains("lists up to 5000 long"), "{err}");
    }

    #[test]
    fn syntax_errors_are_reported() {
        assert!(matches!(Expression::compile("steps.(").unwrap_err(), ExprError::Parse { .. }));
    }

    #[test]
    fn templates_build_objects_from_fields() {
        let mapping: Mapping = serde_json::from_value(
            json!({"text": "steps.fetch.output.body", "fixed": 7, "nested": {"repo": "input.repo"}}),
        )
        .unwrap();
        let t = Template::compile(&mapping).unwrap();
        assert_eq!(t.step_refs(), BTreeSet::from(["fetch".to_string()]));
        assert_eq!(t.eval(&scope()).unwrap(), json!({"text": "hello world", "fixed": 7, "nested": {"repo": "/src"}}));
    }

    #[test]
    fn plain_paths_are_recognised() {
        let e = Expression::compile("steps.fetch.output.body").unwrap();
        assert_eq!(e.as_path().unwrap(), ["steps", "fetch", "output", "body"]);
        assert!(Expression::compile("size(input)").unwrap().as_path().is_none());
    }

    #[test]
    fn grant_paths_interpolate_cel_values() {
        assert_eq!(interpolate("${{ input.repo }}/docs", &scope()).unwrap(), "/src/docs");
        assert_eq!(interpolate("plain", &scope()).unwrap(), "plain");
        assert!(interpolate("${{ input.repo", &scope()).is_err());
    }

    #[test]
    fn fan_out_and_loop_variables_are_bound() {
        let mut s = scope();
        s.item = Some((json!("a.py"), 4));
        s.iteration = Some((1, json!({"check": {"output": {"ok": false}}})));
        let e = Expression::compile("[item, index, iteration, previous.check.output.ok]").unwrap();
        assert_eq!(e.eval(&s).unwrap(), json!(["a.py", 4, 1, false]));
    }
}
