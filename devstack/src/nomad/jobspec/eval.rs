//! Evaluation of HCL2 expressions (parsed by `hcl-edit`, which keeps byte spans) into JSON
//! values, with the diagnostics hashicorp/hcl would report, positioned in the source.

use std::ops::Range;

use hcl::edit::expr::{BinaryOperator, Expression, ObjectKey, TraversalOperator, UnaryOperator};
use hcl::edit::template::{Directive, Element, Template};
use hcl::edit::Span;
use serde_json::{Map, Number, Value};

/// The file name Nomad gives the jobspec (and the variables) of `/v1/jobs/parse`.
pub(super) const FILENAME: &str = "input.hcl";

/// One HCL diagnostic (`hcl.Diagnostic`).
#[derive(Debug, Clone)]
pub(super) struct Diag {
    pub error: bool,
    /// `input.hcl:L,C-C`, or `None` (Go prints a nil subject as `<nil>`).
    pub subject: Option<String>,
    pub summary: String,
    pub detail: String,
}

impl Diag {
    pub fn new(src: &str, span: Option<Range<usize>>, summary: &str, detail: &str) -> Diag {
        Diag {
            error: true,
            subject: span.map(|r| range_string(src, r)),
            summary: summary.to_string(),
            detail: detail.to_string(),
        }
    }

    /// `hcl.Diagnostic.Error()`.
    pub fn render(&self) -> String {
        format!(
            "{}: {}; {}",
            self.subject.as_deref().unwrap_or("<nil>"),
            self.summary,
            self.detail
        )
    }
}

/// (line, column), both 1-based, of a byte offset; columns count characters as hcl does.
fn pos(src: &str, off: usize) -> (usize, usize) {
    let off = off.min(src.len());
    let before = src.get(..off).unwrap_or(src);
    let line = before.matches('\n').count() + 1;
    let line_start = before.rfind('\n').map(|i| i + 1).unwrap_or(0);
    let col = before
        .get(line_start..)
        .map(|s| s.chars().count())
        .unwrap_or(0)
        + 1;
    (line, col)
}

/// `hcl.Range.String()`.
pub(super) fn range_string(src: &str, r: Range<usize>) -> String {
    let (l1, c1) = pos(src, r.start);
    let (l2, c2) = pos(src, r.end.max(r.start));
    if l1 == l2 {
        format!("{FILENAME}:{l1},{c1}-{c2}")
    } else {
        format!("{FILENAME}:{l1},{c1}-{l2},{c2}")
    }
}

pub(super) type EvalResult = Result<Value, Box<Diag>>;

/// The evaluation context: the source text (for diagnostics and Nomad's undefined-variable
/// hook), `var` and `local`, and the iterator variables of enclosing `for` expressions.
pub(super) struct Ctx<'a> {
    pub src: &'a str,
    /// `None` evaluates without a context (variable files): any reference is an error.
    pub vars: Option<&'a Value>,
    pub locals: Option<&'a Value>,
    pub scopes: Vec<(String, Value)>,
}

impl<'a> Ctx<'a> {
    fn diag(&self, span: Option<Range<usize>>, summary: &str, detail: &str) -> Box<Diag> {
        Box::new(Diag::new(self.src, span, summary, detail))
    }

    pub fn eval(&mut self, e: &Expression) -> EvalResult {
        match e {
            Expression::Null(_) => Ok(Value::Null),
            Expression::Bool(b) => Ok(Value::Bool(*b.value())),
            Expression::Number(n) => Ok(num_value(n.value())),
            Expression::String(s) => Ok(Value::String(s.value().to_string())),
            Expression::Array(a) => {
                let mut out = Vec::with_capacity(a.len());
                for item in a.iter() {
                    out.push(self.eval(item)?);
                }
                Ok(Value::Array(out))
            }
            Expression::Object(o) => {
                let mut out = Map::new();
                for (k, v) in o.iter() {
                    let key = match k {
                        ObjectKey::Ident(id) => id.as_str().to_string(),
                        ObjectKey::Expression(ke) => {
                            let kv = match ke {
                                // A bare name as key is the name, not a variable reference.
                                Expression::Variable(id) => Value::String(id.as_str().to_string()),
                                other => self.eval(other)?,
                            };
                            to_string(&kv).map_err(|_| {
                                self.diag(
                                    ke.span(),
                                    "Incorrect key type",
                                    "Can't use this value as a key: string required.",
                                )
                            })?
                        }
                    };
                    let val = self.eval(v.expr())?;
                    out.insert(key, val);
                }
                Ok(Value::Object(out))
            }
            Expression::StringTemplate(t) => self.template(t, true),
            Expression::HeredocTemplate(h) => self.template(&h.template, false),
            Expression::Parenthesis(p) => self.eval(p.inner()),
            Expression::Variable(id) => {
                let name = id.as_str();
                if self.vars.is_none() && self.lookup(name).is_none() {
                    return Err(self.diag(
                        id.span(),
                        "Variables not allowed",
                        "Variables may not be used here.",
                    ));
                }
                match self.lookup(name) {
                    Some(v) => Ok(v),
                    None => Ok(self.undefined(id.span())),
                }
            }
            Expression::Traversal(t) => self.traversal(&t.expr, &t.operators),
            Expression::FuncCall(f) => {
                // Without an evaluation context (variable files, defaults) hcl allows no calls.
                if self.vars.is_none() {
                    return Err(self.diag(
                        f.span(),
                        "Function calls not allowed",
                        "Functions may not be called here.",
                    ));
                }
                let name = f.name.name.as_str().to_string();
                // `try` and `can` evaluate their arguments themselves.
                if name == "try" || name == "can" {
                    let args: Vec<&Expression> = f.args.iter().collect();
                    if args.is_empty() {
                        return Err(self.diag(
                            f.span(),
                            "Not enough function arguments",
                            &format!("Function {name:?} expects at least 1 argument(s)."),
                        ));
                    }
                    if name == "can" {
                        return Ok(Value::Bool(self.eval(args[0]).is_ok()));
                    }
                    for a in &args {
                        if let Ok(v) = self.eval(a) {
                            return Ok(v);
                        }
                    }
                    return Err(self.diag(
                        self.call_start(f),
                        "Error in function call",
                        "Call to function \"try\" failed: no expression succeeded.",
                    ));
                }
                let mut args = Vec::new();
                for a in f.args.iter() {
                    args.push(self.eval(a)?);
                }
                if f.args.expand_final() {
                    if let Some(Value::Array(last)) = args.pop() {
                        args.extend(last);
                    } else {
                        return Err(self.diag(
                            f.span(),
                            "Invalid expanding argument value",
                            "The expanding argument (indicated by ...) must be of a tuple, list, or set type.",
                        ));
                    }
                }
                // hcl checks the argument count against the signature first.
                if let Some((params, variadic)) = super::funcs::params(&name) {
                    if args.len() > params.len() && !variadic {
                        let extra = if f.args.expand_final() {
                            f.span()
                        } else {
                            f.args.iter().nth(params.len()).and_then(|a| a.span())
                        };
                        return Err(self.diag(
                            extra,
                            "Too many function arguments",
                            &format!(
                                "Function {name:?} expects only {} argument(s).",
                                params.len()
                            ),
                        ));
                    }
                    if args.len() < params.len() {
                        let close = f.span().map(|r| r.end.saturating_sub(1)..r.end);
                        return Err(self.diag(
                            close,
                            "Not enough function arguments",
                            &format!(
                                "Function {name:?} expects{} {} argument(s). Missing value for {:?}.",
                                if variadic { " at least" } else { "" },
                                params.len(),
                                params[args.len()]
                            ),
                        ));
                    }
                }
                super::funcs::call(&name, args).map_err(|e| match e {
                    super::funcs::FnError::Unknown => {
                        let mut names: Vec<&str> = super::funcs::NAMES.to_vec();
                        names.sort_unstable();
                        let sugg = names
                            .into_iter()
                            .find(|c| super::levenshtein_lt3(&name, c))
                            .map(|c| format!(" Did you mean {c:?}?"))
                            .unwrap_or_default();
                        self.diag(
                            f.name.name.span(),
                            "Call to unknown function",
                            &format!("There is no function named {name:?}.{sugg}"),
                        )
                    }
                    super::funcs::FnError::Arity(msg) => {
                        self.diag(f.span(), "Not enough function arguments", &msg)
                    }
                    super::funcs::FnError::Failed(msg) => self.diag(
                        self.call_start(f),
                        "Error in function call",
                        &format!("Call to function {name:?} failed: {msg}."),
                    ),
                })
            }
            Expression::Conditional(c) => {
                let cond = self.eval(&c.cond_expr)?;
                match to_bool(&cond) {
                    Some(true) => self.eval(&c.true_expr),
                    Some(false) => self.eval(&c.false_expr),
                    None => Err(self.diag(
                        c.cond_expr.span(),
                        "Incorrect condition type",
                        "The condition expression must be of type bool.",
                    )),
                }
            }
            Expression::UnaryOp(u) => {
                let v = self.eval(&u.expr)?;
                match u.operator.value() {
                    UnaryOperator::Neg => match to_f64(&v) {
                        Some(f) => Ok(float_value(-f)),
                        None => Err(self.diag(
                            u.expr.span(),
                            "Invalid operand",
                            "Unsuitable value for unary operand: number required.",
                        )),
                    },
                    UnaryOperator::Not => match to_bool(&v) {
                        Some(b) => Ok(Value::Bool(!b)),
                        None => Err(self.diag(
                            u.expr.span(),
                            "Invalid operand",
                            "Unsuitable value for unary operand: bool required.",
                        )),
                    },
                }
            }
            Expression::BinaryOp(b) => self.binary(b),
            Expression::ForExpr(f) => self.for_expr(f),
        }
    }

    /// A call's `StartRange`: its name through the opening parenthesis.
    fn call_start(&self, f: &hcl::edit::expr::FuncCall) -> Option<Range<usize>> {
        let name = f.name.name.span()?;
        let paren = self
            .src
            .get(name.end..)
            .and_then(|rest| rest.find('('))
            .map(|i| name.end + i + 1)
            .unwrap_or(name.end);
        Some(name.start..paren)
    }

    fn lookup(&self, name: &str) -> Option<Value> {
        if let Some((_, v)) = self.scopes.iter().rev().find(|(n, _)| n == name) {
            return Some(v.clone());
        }
        match name {
            "var" => self.vars.cloned(),
            "local" => self.locals.cloned(),
            _ => None,
        }
    }

    /// Nomad's `UndefinedVariable` hook: an unknown root name (`NOMAD_ALLOC_DIR`,
    /// `attr.kernel.name`, `meta.x`...) evaluates to its own source text wrapped in `${...}`,
    /// so runtime interpolations survive parsing.
    fn undefined(&self, span: Option<Range<usize>>) -> Value {
        let Some(r) = span else {
            return Value::String(String::new());
        };
        let body = self.src.as_bytes();
        let end = r.end.min(body.len());
        let start = r.start.min(end);
        let mut v = String::from_utf8_lossy(&body[start..end]).into_owned();
        let mut bracketed = false;
        let mut i = start;
        while i >= 2 {
            i -= 1;
            if body[i] == b'{' && body[i - 1] == b'$' {
                bracketed = true;
                v = format!("{}{v}", String::from_utf8_lossy(&body[i - 1..start]));
                break;
            } else if body[i] != b' ' {
                break;
            }
        }
        if bracketed {
            let mut j = end + 1;
            while j < body.len() {
                if body[j] == b'}' {
                    v.push_str(&String::from_utf8_lossy(&body[end..j]));
                } else if body[j] != b' ' {
                    v.push('}');
                    break;
                }
                j += 1;
            }
        } else {
            v = format!("${{{v}}}");
        }
        Value::String(v)
    }

    fn traversal(
        &mut self,
        root: &Expression,
        ops: &[hcl::edit::Decorated<TraversalOperator>],
    ) -> EvalResult {
        let mut start_op = 0;
        let mut cur = match root {
            Expression::Variable(id) if self.lookup(id.as_str()).is_none() => {
                if self.vars.is_none() {
                    return Err(self.diag(
                        id.span(),
                        "Variables not allowed",
                        "Variables may not be used here.",
                    ));
                }
                // The static part of the traversal goes to the hook as one piece.
                let mut end = id.span().map(|s| s.end);
                for op in ops {
                    match op.value() {
                        TraversalOperator::GetAttr(_) | TraversalOperator::LegacyIndex(_) => {
                            end = op.span().map(|s| s.end).or(end);
                            start_op += 1;
                        }
                        TraversalOperator::Index(Expression::String(_))
                        | TraversalOperator::Index(Expression::Number(_)) => {
                            // Include the closing bracket.
                            end = op.span().map(|s| self.after_bracket(s.end)).or(end);
                            start_op += 1;
                        }
                        _ => break,
                    }
                }
                let span = match (id.span(), end) {
                    (Some(s), Some(e)) => Some(s.start..e),
                    _ => None,
                };
                self.undefined(span)
            }
            other => self.eval(other)?,
        };
        let mut i = start_op;
        while i < ops.len() {
            let op = &ops[i];
            match op.value() {
                TraversalOperator::GetAttr(name) => {
                    let span = op.span().map(|s| self.with_dot(s));
                    cur = self.get_attr(cur, name.as_str(), span)?;
                }
                TraversalOperator::LegacyIndex(n) => {
                    cur = self.index(cur, &Value::from(*n.value()), op.span())?;
                }
                TraversalOperator::Index(e) => {
                    let k = self.eval(e)?;
                    cur = self.index(cur, &k, op.span())?;
                }
                TraversalOperator::AttrSplat(_) | TraversalOperator::FullSplat(_) => {
                    let items = match cur {
                        Value::Array(a) => a,
                        Value::Null => Vec::new(),
                        other => vec![other],
                    };
                    let rest = &ops[i + 1..];
                    let mut out = Vec::with_capacity(items.len());
                    for item in items {
                        let mut v = item;
                        for op in rest {
                            v = match op.value() {
                                TraversalOperator::GetAttr(name) => {
                                    self.get_attr(v, name.as_str(), op.span())?
                                }
                                TraversalOperator::LegacyIndex(n) => {
                                    self.index(v, &Value::from(*n.value()), op.span())?
                                }
                                TraversalOperator::Index(e) => {
                                    let k = self.eval(e)?;
                                    self.index(v, &k, op.span())?
                                }
                                _ => v,
                            };
                        }
                        out.push(v);
                    }
                    return Ok(Value::Array(out));
                }
            }
            i += 1;
        }
        Ok(cur)
    }

    /// hcl's attribute step range includes the leading dot.
    fn with_dot(&self, s: Range<usize>) -> Range<usize> {
        let b = self.src.as_bytes();
        let mut start = s.start;
        while start > 0 && b.get(start - 1).is_some_and(|c| *c == b' ') {
            start -= 1;
        }
        if start > 0 && b.get(start - 1) == Some(&b'.') {
            start - 1..s.end
        } else {
            s
        }
    }

    fn after_bracket(&self, end: usize) -> usize {
        let b = self.src.as_bytes();
        let mut e = end;
        while e < b.len() && b[e] != b']' {
            e += 1;
        }
        (e + 1).min(b.len())
    }

    fn get_attr(&self, v: Value, name: &str, span: Option<Range<usize>>) -> EvalResult {
        match v {
            Value::Object(mut m) => match m.remove(name) {
                Some(x) => Ok(x),
                None => Err(self.diag(
                    span,
                    "Unsupported attribute",
                    &format!("This object does not have an attribute named {name:?}."),
                )),
            },
            Value::Null => Err(self.diag(
                span,
                "Attempt to get attribute from null value",
                "This value is null, so it does not have any attributes.",
            )),
            Value::Array(_) => Err(self.diag(
                span,
                "Unsupported attribute",
                "This value does not have any attributes.",
            )),
            other => Err(self.diag(
                span,
                "Unsupported attribute",
                &format!(
                    "Can't access attributes on a primitive-typed value ({}).",
                    type_name(&other)
                ),
            )),
        }
    }

    fn index(&self, v: Value, key: &Value, span: Option<Range<usize>>) -> EvalResult {
        match v {
            Value::Array(a) => {
                let idx = to_f64(key).filter(|f| f.fract() == 0.0 && *f >= 0.0);
                match idx.and_then(|f| a.get(f as usize).cloned()) {
                    Some(x) => Ok(x),
                    None => Err(self.diag(
                        span,
                        "Invalid index",
                        "The given key does not identify an element in this collection value.",
                    )),
                }
            }
            Value::Object(m) => {
                let k = to_string(key).unwrap_or_default();
                match m.get(&k) {
                    Some(x) => Ok(x.clone()),
                    None => Err(self.diag(
                        span,
                        "Invalid index",
                        "The given key does not identify an element in this collection value.",
                    )),
                }
            }
            Value::Null => Err(self.diag(
                span,
                "Attempt to index null value",
                "This value is null, so it does not have any indices.",
            )),
            _ => Err(self.diag(
                span,
                "Invalid index",
                "This value does not have any indices.",
            )),
        }
    }

    fn binary(&mut self, b: &hcl::edit::expr::BinaryOp) -> EvalResult {
        use BinaryOperator as B;
        let op = *b.operator.value();
        let l = self.eval(&b.lhs_expr)?;
        if matches!(op, B::And | B::Or) {
            let lb = to_bool(&l).ok_or_else(|| {
                self.diag(
                    b.lhs_expr.span(),
                    "Invalid operand",
                    "Unsuitable value for left operand: bool required.",
                )
            })?;
            let r = self.eval(&b.rhs_expr)?;
            let rb = to_bool(&r).ok_or_else(|| {
                self.diag(
                    b.rhs_expr.span(),
                    "Invalid operand",
                    "Unsuitable value for right operand: bool required.",
                )
            })?;
            return Ok(Value::Bool(if op == B::And { lb && rb } else { lb || rb }));
        }
        let r = self.eval(&b.rhs_expr)?;
        match op {
            B::Eq => return Ok(Value::Bool(values_equal(&l, &r))),
            B::NotEq => return Ok(Value::Bool(!values_equal(&l, &r))),
            _ => {}
        }
        let lf = to_f64(&l).ok_or_else(|| {
            self.diag(
                b.lhs_expr.span(),
                "Invalid operand",
                "Unsuitable value for left operand: a number is required.",
            )
        })?;
        let rf = to_f64(&r).ok_or_else(|| {
            self.diag(
                b.rhs_expr.span(),
                "Invalid operand",
                "Unsuitable value for right operand: a number is required.",
            )
        })?;
        Ok(match op {
            B::Less => Value::Bool(lf < rf),
            B::LessEq => Value::Bool(lf <= rf),
            B::Greater => Value::Bool(lf > rf),
            B::GreaterEq => Value::Bool(lf >= rf),
            B::Plus => float_value(lf + rf),
            B::Minus => float_value(lf - rf),
            B::Mul => float_value(lf * rf),
            B::Div => {
                if rf == 0.0 {
                    return Err(self.diag(
                        b.span(),
                        "Operation failed",
                        "Error during operation: can't divide by zero.",
                    ));
                }
                float_value(lf / rf)
            }
            B::Mod => {
                if rf == 0.0 {
                    return Err(self.diag(
                        b.span(),
                        "Operation failed",
                        "Error during operation: can't divide by zero.",
                    ));
                }
                float_value(lf % rf)
            }
            _ => Value::Null,
        })
    }

    fn for_expr(&mut self, f: &hcl::edit::expr::ForExpr) -> EvalResult {
        let coll = self.eval(&f.intro.collection_expr)?;
        let items: Vec<(Value, Value)> = match coll {
            Value::Array(a) => a
                .into_iter()
                .enumerate()
                .map(|(i, v)| (Value::from(i as u64), v))
                .collect(),
            Value::Object(m) => m.into_iter().map(|(k, v)| (Value::String(k), v)).collect(),
            _ => return Err(self.diag(
                f.intro.collection_expr.span(),
                "Iteration over non-iterable value",
                "A value of type string cannot be used as the collection in a 'for' expression.",
            )),
        };
        let kname = f.intro.key_var.as_ref().map(|k| k.as_str().to_string());
        let vname = f.intro.value_var.as_str().to_string();
        let mut arr = Vec::new();
        let mut obj = Map::new();
        for (k, v) in items {
            let depth = self.scopes.len();
            if let Some(kn) = &kname {
                self.scopes.push((kn.clone(), k));
            }
            self.scopes.push((vname.clone(), v));
            let res = (|| -> Result<(), Box<Diag>> {
                if let Some(c) = &f.cond {
                    let cv = self.eval(&c.expr)?;
                    if to_bool(&cv) != Some(true) {
                        return Ok(());
                    }
                }
                let val = self.eval(&f.value_expr)?;
                match &f.key_expr {
                    Some(ke) => {
                        let kv = self.eval(ke)?;
                        let key = to_string(&kv).unwrap_or_default();
                        if f.grouping {
                            let e = obj.entry(key).or_insert_with(|| Value::Array(Vec::new()));
                            if let Value::Array(a) = e {
                                a.push(val);
                            }
                        } else {
                            obj.insert(key, val);
                        }
                    }
                    None => arr.push(val),
                }
                Ok(())
            })();
            self.scopes.truncate(depth);
            res?;
        }
        Ok(if f.key_expr.is_some() {
            Value::Object(obj)
        } else {
            Value::Array(arr)
        })
    }

    /// A template; a quoted string made of a single interpolation keeps its value's type, as
    /// hcl's `TemplateWrapExpr` does.
    fn template(&mut self, t: &Template, quoted: bool) -> EvalResult {
        if quoted {
            let elems: Vec<&Element> = t.iter().collect();
            if let [Element::Interpolation(i)] = elems.as_slice() {
                return self.eval(&i.expr);
            }
        }
        let mut out = String::new();
        self.render(t, &mut out, false)?;
        Ok(Value::String(out))
    }

    fn render(
        &mut self,
        t: &Template,
        out: &mut String,
        mut strip_next: bool,
    ) -> Result<bool, Box<Diag>> {
        for el in t.iter() {
            match el {
                Element::Literal(s) => {
                    let text: &str = s.value();
                    if strip_next {
                        out.push_str(text.trim_start());
                    } else {
                        out.push_str(text);
                    }
                    strip_next = false;
                }
                Element::Interpolation(i) => {
                    if i.strip.strip_start() {
                        trim_end_in_place(out);
                    }
                    let v = self.eval(&i.expr)?;
                    match to_string(&v) {
                        Ok(s) => out.push_str(&s),
                        Err(()) if v.is_null() => {
                            return Err(self.diag(
                                i.expr.span(),
                                "Invalid template interpolation value",
                                "The expression result is null. Cannot include a null value in a string template.",
                            ))
                        }
                        Err(()) => {
                            return Err(self.diag(
                                i.expr.span(),
                                "Invalid template interpolation value",
                                "Cannot include the given value in a string template: string required.",
                            ))
                        }
                    }
                    strip_next = i.strip.strip_end();
                }
                Element::Directive(d) => match d.as_ref() {
                    Directive::If(ifd) => {
                        if ifd.if_expr.strip.strip_start() {
                            trim_end_in_place(out);
                        }
                        let c = self.eval(&ifd.if_expr.cond_expr)?;
                        let cond = to_bool(&c).ok_or_else(|| {
                            self.diag(
                                ifd.if_expr.cond_expr.span(),
                                "Invalid 'if' directive condition",
                                "The condition must be of type bool.",
                            )
                        })?;
                        if cond {
                            self.render(&ifd.if_expr.template, out, ifd.if_expr.strip.strip_end())?;
                        } else if let Some(e) = &ifd.else_expr {
                            self.render(&e.template, out, e.strip.strip_end())?;
                        }
                        strip_next = ifd.endif_expr.strip.strip_end();
                    }
                    Directive::For(fd) => {
                        if fd.for_expr.strip.strip_start() {
                            trim_end_in_place(out);
                        }
                        let coll = self.eval(&fd.for_expr.collection_expr)?;
                        let items: Vec<(Value, Value)> = match coll {
                            Value::Array(a) => a
                                .into_iter()
                                .enumerate()
                                .map(|(i, v)| (Value::from(i as u64), v))
                                .collect(),
                            Value::Object(m) => {
                                m.into_iter().map(|(k, v)| (Value::String(k), v)).collect()
                            }
                            _ => return Err(self.diag(
                                fd.for_expr.collection_expr.span(),
                                "Invalid template for directive",
                                "A value cannot be used as the collection in a 'for' directive.",
                            )),
                        };
                        for (k, v) in items {
                            let depth = self.scopes.len();
                            if let Some(kn) = &fd.for_expr.key_var {
                                self.scopes.push((kn.as_str().to_string(), k));
                            }
                            self.scopes
                                .push((fd.for_expr.value_var.as_str().to_string(), v));
                            let r = self.render(
                                &fd.for_expr.template,
                                out,
                                fd.for_expr.strip.strip_end(),
                            );
                            self.scopes.truncate(depth);
                            r?;
                        }
                        strip_next = fd.endfor_expr.strip.strip_end();
                    }
                },
            }
        }
        Ok(strip_next)
    }
}

fn trim_end_in_place(s: &mut String) {
    let n = s.trim_end().len();
    s.truncate(n);
}

pub(super) fn num_value(n: &hcl::edit::Number) -> Value {
    if let Some(i) = n.as_i64() {
        Value::from(i)
    } else if let Some(u) = n.as_u64() {
        Value::from(u)
    } else {
        float_value(n.as_f64().unwrap_or(0.0))
    }
}

/// A number, as an integer when it is whole (cty keeps exact numbers).
pub(super) fn float_value(f: f64) -> Value {
    if f.fract() == 0.0 && f.abs() < 9.0e15 {
        Value::from(f as i64)
    } else {
        Number::from_f64(f)
            .map(Value::Number)
            .unwrap_or(Value::Null)
    }
}

pub(super) fn to_f64(v: &Value) -> Option<f64> {
    match v {
        Value::Number(n) => n.as_f64(),
        Value::String(s) => s.trim().parse::<f64>().ok(),
        _ => None,
    }
}

pub(super) fn to_bool(v: &Value) -> Option<bool> {
    match v {
        Value::Bool(b) => Some(*b),
        Value::String(s) if s == "true" => Some(true),
        Value::String(s) if s == "false" => Some(false),
        _ => None,
    }
}

/// cty's conversion of a primitive to string.
pub(super) fn to_string(v: &Value) -> Result<String, ()> {
    match v {
        Value::String(s) => Ok(s.clone()),
        Value::Number(n) => Ok(n.to_string()),
        Value::Bool(b) => Ok(b.to_string()),
        _ => Err(()),
    }
}

fn values_equal(a: &Value, b: &Value) -> bool {
    match (a, b) {
        (Value::Number(x), Value::Number(y)) => x.as_f64() == y.as_f64(),
        _ => a == b,
    }
}

/// cty's friendly type name.
pub(super) fn type_name(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "bool",
        Value::Number(_) => "number",
        Value::String(_) => "string",
        Value::Array(_) => "tuple",
        Value::Object(_) => "object",
    }
}
