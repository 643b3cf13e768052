//! HCL2 jobspec parsing for `/v1/jobs/parse`, after Nomad's `jobspec2` (v1.10): `variable`
//! (with `type`, `default` and `validation`), `variables` and `locals` blocks, values from a
//! variable file, string templates, heredocs and template directives, `dynamic` blocks, the
//! jobspec2 function set (file functions disabled), Nomad's undefined-variable hook (runtime
//! interpolations such as `${NOMAD_ALLOC_DIR}` or `${attr.kernel.name}` stay literal), and
//! the `job` block decoded into the `api.Job` JSON. Errors are hcl diagnostics rendered as
//! Nomad renders them (`input.hcl:3,5-8: Unsupported argument; An argument named "foo" is not
//! expected here.`).
//!
//! Known gaps: JSON-syntax jobspecs; connect `gateway` and task `schedule` blocks are kept as
//! free-form maps; a few registered functions (`bcrypt`, `cidr*`, `formatdate`, `md5`,
//! `sha1`, `regex_replace`, `yaml*`...) are not implemented; syntax errors other than the
//! common ones carry the parser's wording.

mod canon;
mod eval;
mod funcs;
mod schema;

use hcl::edit::expr::Expression;
use hcl::edit::structure::{Block, Body, Structure};
use hcl::edit::Span;
use serde_json::{json, Map, Value};

use self::eval::{range_string, Ctx, Diag};
use self::schema::{Dec, K};

/// Parses an HCL2 jobspec the way `POST /v1/jobs/parse` does: `variables` is the text of a
/// variable file (`name = "value"` lines), `canonicalize` applies `api.Job.Canonicalize`.
/// The error is the text Nomad puts after `Failed to parse job: `.
pub fn parse_jobspec(hcl: &str, variables: &str, canonicalize: bool) -> Result<Value, String> {
    let mut job = decode(hcl, variables)?;
    if canonicalize {
        canon::canonicalize(&mut job);
    }
    Ok(Value::Object(job))
}

/// Joins diagnostics the way `jobspec2.decode` does once the body is decoded.
fn join(diags: &[Diag]) -> String {
    diags
        .iter()
        .map(Diag::render)
        .collect::<Vec<_>>()
        .join("\n")
}

/// `hcl.Diagnostics.Error()`.
fn diagnostics_error(diags: &[Diag]) -> String {
    match diags {
        [] => "no diagnostics".to_string(),
        [d] => d.render(),
        [d, rest @ ..] => format!("{}, and {} other diagnostic(s)", d.render(), rest.len()),
    }
}

fn has_errors(diags: &[Diag]) -> bool {
    diags.iter().any(|d| d.error)
}

/// A syntax error as hclsyntax words the common ones (the position is the parser's).
fn syntax_error(src: &str, e: &hcl::edit::parser::Error) -> Diag {
    let loc = e.location();
    let off = loc.offset().min(src.len());
    let mut end = off + 1;
    while end < src.len() && !src.is_char_boundary(end) {
        end += 1;
    }
    let msg = e.message();
    let at_eof = src.get(off..).is_none_or(|rest| rest.trim().is_empty());
    let (summary, detail): (&str, String) = if msg.starts_with("invalid expression") {
        (
            "Invalid expression",
            "Expected the start of an expression, but found an invalid expression token.".into(),
        )
    } else if msg.starts_with("invalid block body") && at_eof {
        (
            "Unclosed configuration block",
            "There is no closing brace for this block before the end of the file. This may be caused by incorrect brace nesting elsewhere in this file.".into(),
        )
    } else if msg.starts_with("invalid block body") {
        (
            "Argument or block definition required",
            "An argument or block definition is required here.".into(),
        )
    } else if msg == "expected `{`" {
        (
            "Invalid block definition",
            "A block definition must have block content delimited by \"{\" and \"}\", starting on the same line as the block header.".into(),
        )
    } else if msg == "expected newline or eof" {
        (
            "Missing newline after argument",
            "An argument definition must end with a newline.".into(),
        )
    } else if msg == "expected `]`" || msg == "expected `,` or `]`" {
        (
            "Missing item separator",
            "Expected a comma to mark the beginning of the next item.".into(),
        )
    } else {
        ("Invalid syntax", msg.to_string())
    };
    let span = if summary == "Unclosed configuration block" {
        unclosed_brace(src).map(|b| b..b + 1)
    } else {
        None
    };
    Diag::new(
        src,
        span.or(Some(off..end.min(src.len()).max(off))),
        summary,
        &detail,
    )
}

/// The offset of the innermost `{` left open at the end of the source (strings and comments
/// skipped), which hclsyntax names in "Unclosed configuration block".
fn unclosed_brace(src: &str) -> Option<usize> {
    let b = src.as_bytes();
    let mut stack = Vec::new();
    let mut i = 0;
    while i < b.len() {
        match b[i] {
            b'"' => {
                i += 1;
                while i < b.len() && b[i] != b'"' && b[i] != b'\n' {
                    if b[i] == b'\\' {
                        i += 1;
                    }
                    i += 1;
                }
            }
            b'#' => {
                while i < b.len() && b[i] != b'\n' {
                    i += 1;
                }
            }
            b'/' if b.get(i + 1) == Some(&b'/') => {
                while i < b.len() && b[i] != b'\n' {
                    i += 1;
                }
            }
            b'{' => stack.push(i),
            b'}' => {
                stack.pop();
            }
            _ => {}
        }
        i += 1;
    }
    stack.last().copied()
}

/// A variable's type constraint (`typeexpr`), enough to convert values.
#[derive(Debug, Clone, PartialEq)]
enum Ty {
    Any,
    Str,
    Num,
    Bool,
    List(Box<Ty>),
    Map(Box<Ty>),
    Object,
    Tuple,
}

impl Ty {
    fn name(&self) -> String {
        match self {
            Ty::Any => "any".into(),
            Ty::Str => "string".into(),
            Ty::Num => "number".into(),
            Ty::Bool => "bool".into(),
            Ty::List(t) => format!("list of {}", t.name()),
            Ty::Map(t) => format!("map of {}", t.name()),
            Ty::Object => "object".into(),
            Ty::Tuple => "tuple".into(),
        }
    }

    /// The type of a value (a default without `type`).
    fn of(v: &Value) -> Ty {
        match v {
            Value::String(_) => Ty::Str,
            Value::Number(_) => Ty::Num,
            Value::Bool(_) => Ty::Bool,
            Value::Array(_) => Ty::Tuple,
            Value::Object(_) => Ty::Object,
            Value::Null => Ty::Any,
        }
    }

    fn parse(e: &Expression) -> Option<Ty> {
        match e {
            Expression::Variable(id) => match id.as_str() {
                "string" => Some(Ty::Str),
                "number" => Some(Ty::Num),
                "bool" => Some(Ty::Bool),
                "any" => Some(Ty::Any),
                "list" | "set" => Some(Ty::List(Box::new(Ty::Any))),
                "map" => Some(Ty::Map(Box::new(Ty::Any))),
                _ => None,
            },
            Expression::FuncCall(f) => {
                let inner = f.args.iter().next();
                match f.name.name.as_str() {
                    "list" | "set" => Some(Ty::List(Box::new(inner.and_then(Ty::parse)?))),
                    "map" => Some(Ty::Map(Box::new(inner.and_then(Ty::parse)?))),
                    "object" => Some(Ty::Object),
                    "tuple" => Some(Ty::Tuple),
                    _ => None,
                }
            }
            _ => None,
        }
    }

    /// cty's `convert.Convert`; the error is cty's message.
    fn convert(&self, v: &Value) -> Result<Value, String> {
        if v.is_null() {
            return Ok(Value::Null);
        }
        match self {
            Ty::Any | Ty::Object | Ty::Tuple => Ok(v.clone()),
            Ty::Str => match v {
                Value::Array(_) | Value::Object(_) => Err("string required".into()),
                other => Ok(Value::String(eval::to_string(other).unwrap_or_default())),
            },
            Ty::Num => match v {
                Value::Number(_) => Ok(v.clone()),
                Value::String(s) => s
                    .trim()
                    .parse::<f64>()
                    .map(eval::float_value)
                    .map_err(|_| "a number is required".into()),
                _ => Err("number required".into()),
            },
            Ty::Bool => match v {
                Value::Bool(_) => Ok(v.clone()),
                Value::String(_) => eval::to_bool(v)
                    .map(Value::Bool)
                    .ok_or_else(|| "a bool is required".into()),
                _ => Err("bool required".into()),
            },
            Ty::List(t) => match v {
                Value::Array(items) => items
                    .iter()
                    .map(|i| t.convert(i))
                    .collect::<Result<Vec<_>, _>>()
                    .map(Value::Array)
                    .map_err(|_| format!("{} required", self.name())),
                _ => Err(format!("{} required", self.name())),
            },
            Ty::Map(t) => match v {
                Value::Object(m) => {
                    let mut out = Map::new();
                    for (k, x) in m {
                        out.insert(
                            k.clone(),
                            t.convert(x)
                                .map_err(|_| format!("{} required", self.name()))?,
                        );
                    }
                    Ok(Value::Object(out))
                }
                _ => Err(format!("{} required", self.name())),
            },
        }
    }
}

struct Variable {
    ty: Option<Ty>,
    value: Option<Value>,
    /// Where it was declared, for "Unset variable" (hcl puts it in Context, not Subject).
    declared: bool,
    /// `default` or `varfile`, and where that value was written.
    from: &'static str,
    value_subject: Option<String>,
    validations: Vec<Validation>,
}

/// A `validation` block: the condition, its message, where the block is.
struct Validation {
    condition: Expression,
    message: String,
    decl: String,
}

impl Variable {
    fn new(ty: Option<Ty>, value: Option<Value>) -> Variable {
        Variable {
            ty,
            value,
            declared: true,
            from: "default",
            value_subject: None,
            validations: Vec::new(),
        }
    }
}

fn valid_identifier(s: &str) -> bool {
    let mut chars = s.chars();
    matches!(chars.next(), Some(c) if c.is_alphabetic() || c == '_')
        && chars.all(|c| c.is_alphanumeric() || c == '_' || c == '-')
}

/// Every diagnostic found while decoding, or the job object.
fn decode(src: &str, var_content: &str) -> Result<Map<String, Value>, String> {
    let body = hcl::edit::parser::parse_body(src)
        .map_err(|e| diagnostics_error(&[syntax_error(src, &e)]))?;
    let var_body = if var_content.is_empty() {
        None
    } else {
        Some(hcl::edit::parser::parse_body(var_content).map_err(|e| {
            format!(
                "unable to parse var content: {}",
                diagnostics_error(&[syntax_error(var_content, &e)])
            )
        })?)
    };

    // Top-level content: only `variable(s)`, `locals` and `job`.
    let mut diags: Vec<Diag> = Vec::new();
    for st in body.iter() {
        match st {
            Structure::Attribute(a) => {
                let name = a.key.as_str();
                diags.push(Diag::new(
                    src,
                    a.key.span(),
                    "Unsupported argument",
                    &format!("An argument named {name:?} is not expected here."),
                ));
            }
            Structure::Block(b) => {
                let ty = b.ident.as_str();
                let want: usize = match ty {
                    "variables" | "locals" => 0,
                    "variable" | "job" => 1,
                    _ => {
                        let sugg = ["variables", "variable", "locals", "job"]
                            .into_iter()
                            .find(|c| levenshtein_lt3(ty, c))
                            .map(|s| format!(" Did you mean {s:?}?"))
                            .unwrap_or_default();
                        diags.push(Diag::new(
                            src,
                            b.ident.span(),
                            "Unsupported block type",
                            &format!("Blocks of type {ty:?} are not expected here.{sugg}"),
                        ));
                        continue;
                    }
                };
                if b.labels.len() > want {
                    let detail = if want == 0 {
                        format!("No labels are expected for {ty} blocks.")
                    } else {
                        format!("Only 1 labels (name) are expected for {ty} blocks.")
                    };
                    diags.push(Diag::new(
                        src,
                        b.labels.get(want).and_then(|l| l.span()),
                        &format!("Extraneous label for {ty}"),
                        &detail,
                    ));
                } else if b.labels.len() < want {
                    let open = block_open(src, b);
                    diags.push(Diag::new(
                        src,
                        Some(open..open + 1),
                        &format!("Missing name for {ty}"),
                        &format!("All {ty} blocks must have 1 labels (name)."),
                    ));
                }
            }
        }
    }
    if !diags.is_empty() {
        return Err(join(&diags));
    }

    // Input variables.
    let mut vars: Vec<(String, Variable)> = Vec::new();
    for b in body.blocks() {
        match b.ident.as_str() {
            "variable" => declare_variable(src, b, &mut vars, &mut diags),
            "variables" => {
                let mut dec = Dec::new(Ctx {
                    src,
                    vars: None,
                    locals: None,
                    scopes: Vec::new(),
                });
                just_attributes(src, &b.body, &mut diags);
                for a in b.body.attributes() {
                    let name = a.key.as_str().to_string();
                    if vars.iter().any(|(n, _)| *n == name) {
                        diags.push(Diag::new(
                            src,
                            a.key.span(),
                            "Duplicate variable",
                            &format!("Duplicate {name} variable definition found."),
                        ));
                        continue;
                    }
                    match dec.ctx.eval(&a.value) {
                        Ok(v) => vars.push((name, Variable::new(Some(Ty::of(&v)), Some(v)))),
                        Err(d) => diags.push(*d),
                    }
                }
                diags.append(&mut dec.diags);
            }
            _ => {}
        }
    }

    // Locals are collected now and evaluated once the variables have values.
    let mut locals_src: Vec<(String, &Expression)> = Vec::new();
    for b in body.get_blocks("locals") {
        just_attributes(src, &b.body, &mut diags);
        for a in b.body.attributes() {
            let name = a.key.as_str().to_string();
            if locals_src.iter().any(|(n, _)| *n == name) {
                diags.push(Diag::new(
                    src,
                    a.key.span(),
                    "Duplicate value in locals",
                    &format!("Duplicate {name} definition found."),
                ));
                return Err(join(&diags));
            }
            locals_src.push((name, &a.value));
        }
    }

    // Values from the variable file.
    if let Some(vb) = &var_body {
        collect_var_values(var_content, vb, &mut vars, &mut diags);
    }
    for (name, v) in &vars {
        if v.declared && v.value.is_none() {
            diags.push(Diag {
                error: true,
                subject: None,
                summary: format!("Unset variable {name:?}"),
                detail: "A used variable must be set or have a default value; see https://developer.hashicorp.com/nomad/docs/job-specification/hcl2/variables for details.".into(),
            });
        }
    }
    validate_variables(src, &vars, &mut diags);
    let mut var_obj = Map::new();
    for (name, v) in &vars {
        var_obj.insert(name.clone(), v.value.clone().unwrap_or(Value::Null));
    }
    let var_obj = Value::Object(var_obj);

    // Locals, in dependency order (retrying the ones that fail, as jobspec2 does).
    let mut local_obj = Map::new();
    let mut pending = locals_src;
    let mut stalled = 0;
    while !pending.is_empty() {
        let (name, expr) = pending.remove(0);
        let locals_now = Value::Object(local_obj.clone());
        let mut ctx = Ctx {
            src,
            vars: Some(&var_obj),
            locals: Some(&locals_now),
            scopes: Vec::new(),
        };
        match ctx.eval(expr) {
            Ok(v) => {
                local_obj.insert(name, v);
                stalled = 0;
            }
            Err(d) => {
                if pending.is_empty() || stalled > pending.len() {
                    diags.push(*d);
                    break;
                }
                stalled += 1;
                pending.push((name, expr));
            }
        }
    }
    if has_errors(&diags) {
        return Err(join(&diags));
    }
    let local_obj = Value::Object(local_obj);

    // The job block.
    let mut dec = Dec::new(Ctx {
        src,
        vars: Some(&var_obj),
        locals: Some(&local_obj),
        scopes: Vec::new(),
    });
    let mut job: Option<(Map<String, Value>, String)> = None;
    let mut first_def = String::new();
    for b in body.get_blocks("job") {
        if b.labels.len() != 1 {
            continue;
        }
        if job.is_some() {
            dec.diags.push(Diag::new(
                src,
                schema::def_range(b),
                "Duplicate job block",
                &format!("Only one block of type \"job\" is allowed. Previous definition was at {first_def}."),
            ));
            continue;
        }
        first_def = schema::def_range(b)
            .map(|r| range_string(src, r))
            .unwrap_or_default();
        let label = b.labels[0].as_str().to_string();
        let m = dec.block(b, &schema::JOB);
        validate_scaling(&mut dec, b);
        job = Some((m, label));
    }
    let mut all = diags;
    all.append(&mut dec.diags);
    let Some((mut job, label)) = job else {
        all.push(Diag {
            error: true,
            subject: None,
            summary: "Missing job block".into(),
            detail: "A job block is required".into(),
        });
        return Err(join(&all));
    };
    if has_errors(&all) {
        return Err(join(&all));
    }
    normalize(&mut job, &label);
    Ok(job)
}

fn levenshtein_lt3(a: &str, b: &str) -> bool {
    let b: Vec<char> = b.chars().collect();
    let mut prev: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.chars().enumerate() {
        let mut cur = vec![i + 1; b.len() + 1];
        for (j, cb) in b.iter().enumerate() {
            cur[j + 1] = (prev[j] + usize::from(ca != *cb))
                .min(prev[j + 1] + 1)
                .min(cur[j] + 1);
        }
        prev = cur;
    }
    prev[b.len()] < 3
}

fn block_open(src: &str, b: &Block) -> usize {
    let from = b
        .labels
        .last()
        .and_then(|l| l.span())
        .or_else(|| b.ident.span())
        .map(|r| r.end)
        .unwrap_or(0);
    src.get(from..)
        .and_then(|rest| rest.find('{'))
        .map(|i| from + i)
        .unwrap_or(from)
}

/// `Body.JustAttributes`: a nested block is an error.
fn just_attributes(src: &str, body: &Body, diags: &mut Vec<Diag>) {
    if let Some(b) = body.blocks().next() {
        diags.push(Diag::new(
            src,
            b.ident.span(),
            &format!("Unexpected {:?} block", b.ident.as_str()),
            "Blocks are not allowed here.",
        ));
    }
}

fn declare_variable(
    src: &str,
    b: &Block,
    vars: &mut Vec<(String, Variable)>,
    diags: &mut Vec<Diag>,
) {
    let Some(label) = b.labels.first() else {
        return;
    };
    let name = label.as_str().to_string();
    if vars.iter().any(|(n, _)| *n == name) {
        diags.push(Diag {
            error: true,
            subject: None,
            summary: "Duplicate variable".into(),
            detail: format!("Duplicate {name} variable definition found."),
        });
        return;
    }
    let mut dec = Dec::new(Ctx {
        src,
        vars: None,
        locals: None,
        scopes: Vec::new(),
    });
    // Content: `description`, `default`, `type` and `validation` blocks.
    for st in b.body.iter() {
        match st {
            Structure::Attribute(a)
                if !["description", "default", "type"].contains(&a.key.as_str()) =>
            {
                dec.diags.push(Diag::new(
                    src,
                    a.key.span(),
                    "Unsupported argument",
                    &format!(
                        "An argument named {:?} is not expected here.",
                        a.key.as_str()
                    ),
                ));
            }
            Structure::Block(bb) if bb.ident.as_str() != "validation" => {
                dec.diags.push(Diag::new(
                    src,
                    bb.ident.span(),
                    "Unsupported block type",
                    &format!(
                        "Blocks of type {:?} are not expected here.",
                        bb.ident.as_str()
                    ),
                ));
            }
            _ => {}
        }
    }
    if !valid_identifier(&name) {
        dec.diags.push(Diag::new(
            src,
            label.span(),
            "Invalid variable name",
            "A name must start with a letter or underscore and may contain only letters, digits, underscores, and dashes.",
        ));
    }
    let mut ty = None;
    if let Some(t) = b.body.get_attribute("type") {
        match Ty::parse(&t.value) {
            Some(parsed) => ty = Some(parsed),
            None => {
                dec.diags.push(Diag::new(
                    src,
                    t.value.span(),
                    "Invalid type specification",
                    "The keyword is not a valid type specification.",
                ));
                diags.append(&mut dec.diags);
                return;
            }
        }
    }
    if let Some(d) = b.body.get_attribute("description") {
        let _ = dec.attr_value(&d.value, K::Str);
    }
    let mut value = None;
    if let Some(d) = b.body.get_attribute("default") {
        match dec.ctx.eval(&d.value) {
            Ok(v) => {
                let v = match &ty {
                    Some(t) => match t.convert(&v) {
                        Ok(v) => v,
                        Err(e) => {
                            dec.diags.push(Diag::new(
                                src,
                                d.value.span(),
                                "Invalid default value for variable",
                                &format!("This default value is not compatible with the variable's type constraint: {e}."),
                            ));
                            Value::Null
                        }
                    },
                    None => v,
                };
                if ty.is_none() {
                    ty = Some(Ty::of(&v));
                }
                value = Some(v);
            }
            Err(e) => {
                dec.diags.push(*e);
                diags.append(&mut dec.diags);
                return;
            }
        }
    }
    let mut var = Variable::new(ty, value);
    var.value_subject = b
        .body
        .get_attribute("default")
        .and_then(|d| d.value.span())
        .map(|r| range_string(src, r));
    for vb in b.body.get_blocks("validation") {
        let open = block_open(src, vb);
        for st in vb.body.iter() {
            let bad = match st {
                Structure::Attribute(a)
                    if !["condition", "error_message"].contains(&a.key.as_str()) =>
                {
                    Some((
                        a.key.span(),
                        "Unsupported argument",
                        format!(
                            "An argument named {:?} is not expected here.",
                            a.key.as_str()
                        ),
                    ))
                }
                Structure::Block(x) => Some((
                    x.ident.span(),
                    "Unsupported block type",
                    format!(
                        "Blocks of type {:?} are not expected here.",
                        x.ident.as_str()
                    ),
                )),
                _ => None,
            };
            if let Some((span, summary, detail)) = bad {
                dec.diags.push(Diag::new(src, span, summary, &detail));
            }
        }
        let cond = vb.body.get_attribute("condition");
        let msg = vb.body.get_attribute("error_message");
        for (attr, n) in [
            (cond.is_some(), "condition"),
            (msg.is_some(), "error_message"),
        ] {
            if !attr {
                dec.diags.push(Diag::new(
                    src,
                    Some(open..open),
                    "Missing required argument",
                    &format!("The argument {n:?} is required, but no definition was found."),
                ));
            }
        }
        let (Some(cond), Some(msg)) = (cond, msg) else {
            continue;
        };
        let message = match dec.ctx.eval(&msg.value) {
            Ok(Value::String(m)) => m,
            Ok(other) => eval::to_string(&other).unwrap_or_default(),
            Err(e) => {
                dec.diags.push(*e);
                continue;
            }
        };
        if message.trim().is_empty() {
            dec.diags.push(Diag::new(
                src,
                msg.value.span(),
                "Invalid validation error message",
                "An empty or blank string is not a valid nor useful error message.",
            ));
        }
        var.validations.push(Validation {
            condition: cond.value.clone(),
            message,
            decl: schema::def_range(vb)
                .map(|r| range_string(src, r))
                .unwrap_or_default(),
        });
    }
    diags.append(&mut dec.diags);
    vars.push((name, var));
}

/// `Variable.validateValue`: the validation rules on the value in use.
fn validate_variables(src: &str, vars: &[(String, Variable)], diags: &mut Vec<Diag>) {
    for (name, var) in vars {
        let Some(value) = &var.value else { continue };
        for v in &var.validations {
            let mut only = Map::new();
            only.insert(name.clone(), value.clone());
            let only = Value::Object(only);
            let empty = Value::Object(Map::new());
            let mut ctx = Ctx {
                src,
                vars: Some(&only),
                locals: Some(&empty),
                scopes: Vec::new(),
            };
            match ctx.eval(&v.condition) {
                Ok(Value::Bool(true)) => {}
                Ok(Value::Bool(false)) => diags.push(Diag {
                    error: true,
                    subject: var.value_subject.clone(),
                    summary: format!("Invalid value for {} variable", var.from),
                    detail: format!(
                        "{}\n\nThis was checked by the validation rule at {}.",
                        v.message, v.decl
                    ),
                }),
                Ok(Value::Null) => diags.push(Diag::new(
                    src,
                    v.condition.span(),
                    "Invalid variable validation result",
                    "Validation condition expression must return either true or false, not null.",
                )),
                Ok(_) => diags.push(Diag::new(
                    src,
                    v.condition.span(),
                    "Invalid variable validation result",
                    "Invalid validation condition result value: bool required.",
                )),
                Err(e) => diags.push(*e),
            }
        }
    }
}

/// `collectInputVariableValues` for the variable file (not strict on the parse endpoint: a
/// value for an undeclared variable is only a warning).
fn collect_var_values(
    vsrc: &str,
    vb: &Body,
    vars: &mut [(String, Variable)],
    diags: &mut Vec<Diag>,
) {
    let mut found_decl = false;
    for b in vb.get_blocks("variable") {
        if let Some(l) = b.labels.first() {
            let name = l.as_str();
            diags.push(Diag::new(
                vsrc,
                b.ident.span(),
                "Variable declaration in a .var file",
                &format!(
                    "A .var file is used to assign values to variables that have already been declared in job files, not to declare new variables. To declare variable {name:?}, place this block in one of your job files\n\nTo set a value for this variable in {}, use the definition syntax instead:\n    {name} = <value>",
                    eval::FILENAME
                ),
            ));
            found_decl = true;
        }
    }
    if found_decl {
        return;
    }
    just_attributes(vsrc, vb, diags);
    let mut ctx = Ctx {
        src: vsrc,
        vars: None,
        locals: None,
        scopes: Vec::new(),
    };
    for a in vb.attributes() {
        let name = a.key.as_str();
        let Some((_, var)) = vars.iter_mut().find(|(n, _)| n == name) else {
            diags.push(Diag {
                error: false,
                subject: None,
                summary: "Undefined variable".into(),
                detail: format!("A {name:?} variable was set but was not found in known variables. To declare variable {name:?}, place this block in your job files"),
            });
            continue;
        };
        let v = match ctx.eval(&a.value) {
            Ok(v) => v,
            Err(d) => {
                diags.push(*d);
                continue;
            }
        };
        let v = match &var.ty {
            Some(t) => match t.convert(&v) {
                Ok(v) => v,
                Err(e) => {
                    diags.push(Diag::new(
                        vsrc,
                        a.value.span(),
                        "Invalid value for variable",
                        &format!("The value for {name} is not compatible with the variable's type constraint: {e}."),
                    ));
                    Value::Null
                }
            },
            None => v,
        };
        var.value = Some(v);
        var.from = "varfile";
        var.value_subject = a.value.span().map(|r| range_string(vsrc, r));
    }
}

/// `validateGroupScalingPolicy` (a group `scaling` block needs `max`) and
/// `decodeTaskScalingPolicies` (a task's are named `cpu` or `mem`).
fn validate_scaling(dec: &mut Dec<'_>, job: &Block) {
    let tasks = job.body.get_blocks("task").chain(
        job.body
            .get_blocks("group")
            .flat_map(|g| g.body.get_blocks("task")),
    );
    for t in tasks {
        for s in t.body.get_blocks("scaling") {
            let Some(label) = s.labels.first() else {
                continue;
            };
            if !matches!(label.as_str().to_lowercase().as_str(), "cpu" | "mem") {
                dec.diags.push(Diag::new(
                    dec.ctx.src,
                    label.span(),
                    "Invalid scaling policy name",
                    "scaling policy name must be \"cpu\" or \"mem\"",
                ));
            }
        }
    }
    for g in job.body.get_blocks("group") {
        for s in g.body.get_blocks("scaling") {
            if s.labels.is_empty() && s.body.get_attribute("max").is_none() {
                let open = block_open(dec.ctx.src, s);
                dec.diags.push(Diag::new(
                    dec.ctx.src,
                    Some(open..open),
                    "Missing required argument",
                    "The argument \"max\" is required, but no definition was found.",
                ));
            }
        }
    }
}

fn obj_mut<'m>(m: &'m mut Map<String, Value>, k: &str) -> Option<&'m mut Map<String, Value>> {
    m.get_mut(k).and_then(Value::as_object_mut)
}

fn set_default(m: &mut Map<String, Value>, k: &str, v: Value) {
    if m.get(k).is_none_or(Value::is_null) {
        m.insert(k.to_string(), v);
    }
}

/// `normalizeVault`.
fn normalize_vault(v: &mut Map<String, Value>) {
    set_default(v, "Env", json!(true));
    set_default(v, "DisableFile", json!(false));
    set_default(v, "ChangeMode", json!("restart"));
}

/// `normalizeNetworkPorts`: static ports become reserved ports.
fn normalize_networks(nets: Option<&mut Value>) {
    let Some(Value::Array(nets)) = nets else {
        return;
    };
    for n in nets.iter_mut().filter_map(Value::as_object_mut) {
        let Some(Value::Array(ports)) = n.get("DynamicPorts").cloned() else {
            continue;
        };
        if ports.is_empty() {
            continue;
        }
        let (reserved, dynamic): (Vec<Value>, Vec<Value>) = ports
            .into_iter()
            .partition(|p| p["Value"].as_i64().unwrap_or(0) > 0);
        n.insert(
            "DynamicPorts".into(),
            if dynamic.is_empty() {
                Value::Null
            } else {
                Value::Array(dynamic)
            },
        );
        n.insert(
            "ReservedPorts".into(),
            if reserved.is_empty() {
                Value::Null
            } else {
                Value::Array(reserved)
            },
        );
    }
}

/// `normalizeJob` plus what jobspec2's group and task decoders do after decoding.
fn normalize(job: &mut Map<String, Value>, label: &str) {
    set_default(job, "Name", json!(label));
    set_default(job, "ID", json!(label));
    if let Some(p) = obj_mut(job, "Periodic") {
        if !p["Spec"].is_null() || !p["Specs"].is_null() {
            p.insert("SpecType".into(), json!("cron"));
        }
    }
    let mut job_vault = job.remove("_vault").filter(|v| !v.is_null());
    if let Some(Value::Object(v)) = &mut job_vault {
        normalize_vault(v);
    }
    // Job-level tasks become groups of their own, ahead of the declared groups.
    let tasks = job.remove("_tasks");
    if let Some(Value::Array(tasks)) = tasks {
        let mut groups = Vec::new();
        for t in tasks {
            let mut g = Map::new();
            for f in schema::GROUP.fields {
                if !f.0.starts_with('_') {
                    g.insert(f.0.to_string(), Value::Null);
                }
            }
            g.insert("Name".into(), t["Name"].clone());
            g.insert("Tasks".into(), Value::Array(vec![t]));
            groups.push(Value::Object(g));
        }
        if let Some(Value::Array(existing)) = job.get("TaskGroups") {
            groups.extend(existing.iter().cloned());
        }
        job.insert("TaskGroups".into(), Value::Array(groups));
    }
    let Some(Value::Array(groups)) = job.get_mut("TaskGroups") else {
        return;
    };
    for g in groups.iter_mut().filter_map(Value::as_object_mut) {
        let group_vault = g.remove("_vault").filter(|v| !v.is_null());
        if let Some(s) = obj_mut(g, "Scaling") {
            if s["Type"].as_str().unwrap_or("").is_empty() {
                s.insert("Type".into(), json!("horizontal"));
            }
        }
        normalize_networks(g.get_mut("Networks"));
        let Some(Value::Array(tasks)) = g.get_mut("Tasks") else {
            continue;
        };
        for t in tasks.iter_mut().filter_map(Value::as_object_mut) {
            if t.get("Vault").is_none_or(Value::is_null) {
                if let Some(v) = &group_vault {
                    t.insert("Vault".into(), v.clone());
                }
            }
            if let Some(r) = obj_mut(t, "Resources") {
                normalize_networks(r.get_mut("Networks"));
            }
            if let Some(Value::Array(tmpls)) = t.get_mut("Templates") {
                for tm in tmpls.iter_mut().filter_map(Value::as_object_mut) {
                    set_default(tm, "ChangeMode", json!("restart"));
                    set_default(tm, "Perms", json!("0644"));
                    set_default(tm, "Splay", json!(5_000_000_000i64));
                    set_default(tm, "ErrMissingKey", json!(false));
                    if let Some(cs) = obj_mut(tm, "ChangeScript") {
                        set_default(cs, "Args", json!([]));
                        set_default(cs, "Timeout", json!(5_000_000_000i64));
                        set_default(cs, "FailOnError", json!(false));
                        set_default(cs, "RunOnFirstRender", json!(false));
                    }
                }
            }
            if let Some(v) = obj_mut(t, "Vault") {
                normalize_vault(v);
            }
            if t.get("Vault").is_none_or(Value::is_null) {
                if let Some(v) = &job_vault {
                    t.insert("Vault".into(), v.clone());
                }
            }
            // Task scaling blocks: the label gives the policy type.
            if let Some(Value::Array(pols)) = t.get_mut("ScalingPolicies") {
                for p in pols.iter_mut().filter_map(Value::as_object_mut) {
                    let label = p
                        .remove("_label")
                        .and_then(|l| l.as_str().map(str::to_lowercase));
                    let ty = match label.as_deref() {
                        Some("cpu") => "vertical_cpu",
                        Some("mem") => "vertical_mem",
                        _ => "",
                    };
                    if p["Type"].as_str().unwrap_or("").is_empty() {
                        p.insert("Type".into(), json!(ty));
                    }
                }
            }
            // The default workload identity moves to `Identity`.
            if let Some(Value::Array(ids)) = t.get_mut("Identities") {
                let pos = ids
                    .iter()
                    .position(|i| matches!(i["Name"].as_str(), Some("") | Some("default") | None));
                if let Some(pos) = pos {
                    let id = ids.remove(pos);
                    t.insert("Identity".into(), id);
                }
            }
        }
    }
}

#[cfg(test)]
mod tests;

/// A `JobsParseRequest` string field: Go's JSON decoding matches names case-insensitively.
fn request_field<'v>(req: &'v Map<String, Value>, name: &str) -> Option<&'v Value> {
    req.get(name).or_else(|| {
        req.iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v)
    })
}

/// `PUT`/`POST /v1/jobs/parse` (`JobsParseRequest` in nomad `command/agent/job_endpoint.go`).
/// ACLs (`parse-job` or `submit-job` in the namespace) are checked by the caller.
pub(crate) fn parse_request(body: &[u8]) -> Result<Value, (u16, String)> {
    if body.is_empty() {
        return Err((400, "Request body is empty".into()));
    }
    let v: Value = serde_json::from_slice(body).map_err(|e| (400, e.to_string()))?;
    let req = match &v {
        Value::Object(m) => m.clone(),
        Value::Null => Map::new(),
        other => {
            return Err((
                400,
                format!(
                    "json: cannot unmarshal {} into Go value of type api.JobsParseRequest",
                    go_json_kind(other)
                ),
            ))
        }
    };
    let string_field = |name: &str| -> Result<String, (u16, String)> {
        match request_field(&req, name) {
            None | Some(Value::Null) => Ok(String::new()),
            Some(Value::String(s)) => Ok(s.clone()),
            Some(other) => Err((
                400,
                format!(
                    "json: cannot unmarshal {} into Go struct field JobsParseRequest.{name} of type string",
                    go_json_kind(other)
                ),
            )),
        }
    };
    let hcl_text = string_field("JobHCL")?;
    let variables = string_field("Variables")?;
    let canonicalize = match request_field(&req, "Canonicalize") {
        None | Some(Value::Null) => false,
        Some(Value::Bool(b)) => *b,
        Some(other) => {
            return Err((
                400,
                format!(
                    "json: cannot unmarshal {} into Go struct field JobsParseRequest.Canonicalize of type bool",
                    go_json_kind(other)
                ),
            ))
        }
    };
    if hcl_text.is_empty() {
        return Err((400, "Job spec is empty".into()));
    }
    parse_jobspec(&hcl_text, &variables, canonicalize)
        .map_err(|e| (400, format!("Failed to parse job: {e}")))
}

/// The JSON kind Go's `UnmarshalTypeError` names.
fn go_json_kind(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "bool",
        Value::Number(_) => "number",
        Value::String(_) => "string",
        Value::Array(_) => "array",
        Value::Object(_) => "object",
    }
}
