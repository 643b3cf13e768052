//! The HCL functions jobspecs use most (the cty stdlib subset Nomad registers; file
//! functions are disabled on the parse endpoint, as `AllowFS` is false there).

use base64::Engine;
use serde_json::{Map, Value};

use super::eval::{float_value, to_f64, to_string, type_name};

pub(super) enum FnError {
    Unknown,
    Arity(String),
    Failed(String),
}

type FnResult = Result<Value, FnError>;

fn arity(args: &[Value], n: usize) -> Result<(), FnError> {
    if args.len() < n {
        return Err(FnError::Arity(format!(
            "Function requires {n} argument(s), but {} given.",
            args.len()
        )));
    }
    Ok(())
}

fn s(v: &Value) -> Result<String, FnError> {
    to_string(v).map_err(|_| FnError::Failed("string required".into()))
}

fn n(v: &Value) -> Result<f64, FnError> {
    to_f64(v).ok_or_else(|| FnError::Failed("a number is required".into()))
}

fn list(v: &Value) -> Result<Vec<Value>, FnError> {
    match v {
        Value::Array(a) => Ok(a.clone()),
        other => Err(FnError::Failed(format!(
            "list required, but got {}",
            type_name(other)
        ))),
    }
}

fn obj(v: &Value) -> Result<Map<String, Value>, FnError> {
    match v {
        Value::Object(m) => Ok(m.clone()),
        other => Err(FnError::Failed(format!(
            "map required, but got {}",
            type_name(other)
        ))),
    }
}

/// The functions Nomad's jobspec2 registers (some not implemented here: `bcrypt`, `cidr*`,
/// `csvdecode`, `formatdate`, `formatlist`, `md5`, `sha1`, `regex_replace`, `rsadecrypt`,
/// `setproduct`, `timeadd`, `uuidv5`, `yaml*`, `convert`). `try` and `can` are evaluated
/// by the caller.
pub(super) const NAMES: &[&str] = &[
    "abs",
    "abspath",
    "base64decode",
    "base64encode",
    "basename",
    "bcrypt",
    "can",
    "ceil",
    "chomp",
    "chunklist",
    "cidrhost",
    "cidrnetmask",
    "cidrsubnet",
    "cidrsubnets",
    "coalesce",
    "coalescelist",
    "compact",
    "concat",
    "contains",
    "convert",
    "csvdecode",
    "dirname",
    "distinct",
    "element",
    "file",
    "filebase64",
    "fileexists",
    "fileset",
    "flatten",
    "floor",
    "format",
    "formatdate",
    "formatlist",
    "indent",
    "index",
    "join",
    "jsondecode",
    "jsonencode",
    "keys",
    "length",
    "log",
    "lookup",
    "lower",
    "max",
    "md5",
    "merge",
    "min",
    "parseint",
    "pathexpand",
    "pow",
    "range",
    "regex_replace",
    "replace",
    "reverse",
    "rsadecrypt",
    "setintersection",
    "setproduct",
    "setunion",
    "sha1",
    "sha256",
    "sha512",
    "signum",
    "slice",
    "sort",
    "split",
    "strlen",
    "strrev",
    "substr",
    "timeadd",
    "title",
    "trim",
    "trimprefix",
    "trimspace",
    "trimsuffix",
    "try",
    "upper",
    "urlencode",
    "uuidv4",
    "uuidv5",
    "values",
    "yamldecode",
    "yamlencode",
    "zipmap",
];

/// A function's parameter names (cty's), and whether more arguments may follow.
pub(super) fn params(name: &str) -> Option<(&'static [&'static str], bool)> {
    Some(match name {
        "upper" | "lower" | "title" | "trimspace" | "chomp" | "strrev" | "strlen"
        | "base64encode" | "base64decode" | "urlencode" | "sha256" | "sha512" | "jsondecode" => {
            (&["str"], false)
        }
        "trimprefix" => (&["str", "prefix"], false),
        "trimsuffix" => (&["str", "suffix"], false),
        "trim" => (&["str", "cutset"], false),
        "replace" => (&["str", "substr", "replace"], false),
        "substr" => (&["str", "offset", "length"], false),
        "split" => (&["separator", "str"], false),
        "join" => (&["separator"], true),
        "format" => (&["format"], true),
        "indent" => (&["spaces", "str"], false),
        "jsonencode" => (&["val"], false),
        "length" => (&["value"], false),
        "concat" | "range" | "merge" | "coalesce" | "coalescelist" | "min" | "max" => (&[], true),
        "flatten" | "distinct" | "compact" | "reverse" | "sort" => (&["list"], false),
        "contains" | "index" => (&["list", "value"], false),
        "element" => (&["list", "index"], false),
        "slice" => (&["list", "start_index", "end_index"], false),
        "chunklist" => (&["list", "size"], false),
        "keys" => (&["inputMap"], false),
        "values" => (&["values"], false),
        "lookup" => (&["inputMap", "key"], true),
        "zipmap" => (&["keys", "values"], false),
        "abs" | "ceil" | "floor" | "signum" => (&["num"], false),
        "pow" => (&["num", "power"], false),
        "log" => (&["num", "base"], false),
        "parseint" => (&["number", "base"], false),
        "setunion" | "setintersection" => (&["first_set"], true),
        "uuidv4" => (&[], false),
        "file" | "filebase64" | "fileexists" | "abspath" | "basename" | "dirname"
        | "pathexpand" => (&["path"], false),
        "fileset" => (&["path", "pattern"], false),
        _ => return None,
    })
}

pub(super) fn call(name: &str, a: Vec<Value>) -> FnResult {
    if !NAMES.contains(&name) {
        return Err(FnError::Unknown);
    }
    match name {
        "upper" => {
            arity(&a, 1)?;
            Ok(Value::String(s(&a[0])?.to_uppercase()))
        }
        "lower" => {
            arity(&a, 1)?;
            Ok(Value::String(s(&a[0])?.to_lowercase()))
        }
        "title" => {
            arity(&a, 1)?;
            let t = s(&a[0])?;
            let mut out = String::new();
            let mut prev_letter = false;
            for c in t.chars() {
                if !prev_letter && c.is_alphabetic() {
                    out.extend(c.to_uppercase());
                } else {
                    out.push(c);
                }
                prev_letter = c.is_alphanumeric();
            }
            Ok(Value::String(out))
        }
        "trimspace" => {
            arity(&a, 1)?;
            Ok(Value::String(s(&a[0])?.trim().to_string()))
        }
        "chomp" => {
            arity(&a, 1)?;
            Ok(Value::String(
                s(&a[0])?.trim_end_matches(['\r', '\n']).to_string(),
            ))
        }
        "trimprefix" => {
            arity(&a, 2)?;
            let (x, p) = (s(&a[0])?, s(&a[1])?);
            Ok(Value::String(x.strip_prefix(&p).unwrap_or(&x).to_string()))
        }
        "trimsuffix" => {
            arity(&a, 2)?;
            let (x, p) = (s(&a[0])?, s(&a[1])?);
            Ok(Value::String(x.strip_suffix(&p).unwrap_or(&x).to_string()))
        }
        "trim" => {
            arity(&a, 2)?;
            let (x, set) = (s(&a[0])?, s(&a[1])?);
            Ok(Value::String(
                x.trim_matches(|c| set.contains(c)).to_string(),
            ))
        }
        "replace" => {
            arity(&a, 3)?;
            Ok(Value::String(s(&a[0])?.replace(&s(&a[1])?, &s(&a[2])?)))
        }
        "substr" => {
            arity(&a, 3)?;
            let chars: Vec<char> = s(&a[0])?.chars().collect();
            let off = n(&a[1])? as i64;
            let len = n(&a[2])? as i64;
            let start = if off < 0 {
                (chars.len() as i64 + off).max(0)
            } else {
                off.min(chars.len() as i64)
            } as usize;
            let end = if len < 0 {
                chars.len()
            } else {
                (start + len as usize).min(chars.len())
            };
            Ok(Value::String(chars[start..end].iter().collect()))
        }
        "split" => {
            arity(&a, 2)?;
            let (sep, x) = (s(&a[0])?, s(&a[1])?);
            Ok(Value::Array(
                x.split(sep.as_str())
                    .map(|p| Value::String(p.to_string()))
                    .collect(),
            ))
        }
        "join" => {
            arity(&a, 2)?;
            let sep = s(&a[0])?;
            let mut parts = Vec::new();
            for l in &a[1..] {
                for item in list(l)? {
                    parts.push(s(&item)?);
                }
            }
            Ok(Value::String(parts.join(&sep)))
        }
        "format" => {
            arity(&a, 1)?;
            format(&s(&a[0])?, &a[1..]).map(Value::String)
        }
        "indent" => {
            arity(&a, 2)?;
            let pad = " ".repeat(n(&a[0])?.max(0.0) as usize);
            let x = s(&a[1])?;
            Ok(Value::String(x.replace('\n', &format!("\n{pad}"))))
        }
        "jsonencode" => {
            arity(&a, 1)?;
            serde_json::to_string(&a[0])
                .map(Value::String)
                .map_err(|e| FnError::Failed(e.to_string()))
        }
        "jsondecode" => {
            arity(&a, 1)?;
            serde_json::from_str(&s(&a[0])?).map_err(|e| FnError::Failed(e.to_string()))
        }
        "base64encode" => {
            arity(&a, 1)?;
            Ok(Value::String(
                base64::engine::general_purpose::STANDARD.encode(s(&a[0])?),
            ))
        }
        "base64decode" => {
            arity(&a, 1)?;
            let b = base64::engine::general_purpose::STANDARD
                .decode(s(&a[0])?)
                .map_err(|_| FnError::Failed("failed to decode base64 data".into()))?;
            String::from_utf8(b).map(Value::String).map_err(|_| {
                FnError::Failed(
                    "the result of decoding the provided string is not valid UTF-8".into(),
                )
            })
        }
        "length" => {
            arity(&a, 1)?;
            Ok(Value::from(match &a[0] {
                Value::Array(l) => l.len(),
                Value::Object(m) => m.len(),
                Value::String(x) => x.chars().count(),
                other => {
                    return Err(FnError::Failed(format!(
                        "collection must be a list, a map or a tuple, not {}",
                        type_name(other)
                    )))
                }
            } as u64))
        }
        "concat" => {
            let mut out = Vec::new();
            for l in &a {
                out.extend(list(l)?);
            }
            Ok(Value::Array(out))
        }
        "flatten" => {
            arity(&a, 1)?;
            fn flat(v: &Value, out: &mut Vec<Value>) {
                match v {
                    Value::Array(l) => l.iter().for_each(|x| flat(x, out)),
                    other => out.push(other.clone()),
                }
            }
            let mut out = Vec::new();
            for x in list(&a[0])? {
                flat(&x, &mut out);
            }
            Ok(Value::Array(out))
        }
        "distinct" => {
            arity(&a, 1)?;
            let mut seen = Vec::new();
            for v in list(&a[0])? {
                if !seen.contains(&v) {
                    seen.push(v);
                }
            }
            Ok(Value::Array(seen))
        }
        "compact" => {
            arity(&a, 1)?;
            Ok(Value::Array(
                list(&a[0])?
                    .into_iter()
                    .filter(|v| !v.is_null() && v.as_str() != Some(""))
                    .collect(),
            ))
        }
        "reverse" => {
            arity(&a, 1)?;
            let mut l = list(&a[0])?;
            l.reverse();
            Ok(Value::Array(l))
        }
        "sort" => {
            arity(&a, 1)?;
            let mut l = Vec::new();
            for v in list(&a[0])? {
                l.push(s(&v)?);
            }
            l.sort();
            Ok(Value::Array(l.into_iter().map(Value::String).collect()))
        }
        "contains" => {
            arity(&a, 2)?;
            Ok(Value::Bool(list(&a[0])?.contains(&a[1])))
        }
        "element" => {
            arity(&a, 2)?;
            let l = list(&a[0])?;
            if l.is_empty() {
                return Err(FnError::Failed(
                    "cannot use element function with an empty list".into(),
                ));
            }
            let i = n(&a[1])?.max(0.0) as usize;
            Ok(l[i % l.len()].clone())
        }
        "index" => {
            arity(&a, 2)?;
            list(&a[0])?
                .iter()
                .position(|v| v == &a[1])
                .map(|i| Value::from(i as u64))
                .ok_or_else(|| FnError::Failed("item not found".into()))
        }
        "slice" => {
            arity(&a, 3)?;
            let l = list(&a[0])?;
            let (st, en) = (n(&a[1])? as usize, n(&a[2])? as usize);
            if st > en || en > l.len() {
                return Err(FnError::Failed(
                    "the end index must not be less than the start index".into(),
                ));
            }
            Ok(Value::Array(l[st..en].to_vec()))
        }
        "range" => {
            arity(&a, 1)?;
            let (start, end, step) = match a.len() {
                1 => (0.0, n(&a[0])?, 1.0),
                2 => (n(&a[0])?, n(&a[1])?, 1.0),
                _ => (n(&a[0])?, n(&a[1])?, n(&a[2])?),
            };
            if step == 0.0 {
                return Err(FnError::Failed("step must not be zero".into()));
            }
            let mut out = Vec::new();
            let mut x = start;
            while (step > 0.0 && x < end) || (step < 0.0 && x > end) {
                out.push(float_value(x));
                x += step;
                if out.len() > 1024 {
                    return Err(FnError::Failed("more than 1024 values were generated; either decrease the difference between start and end or use a smaller step".into()));
                }
            }
            Ok(Value::Array(out))
        }
        "keys" => {
            arity(&a, 1)?;
            Ok(Value::Array(
                obj(&a[0])?
                    .keys()
                    .map(|k| Value::String(k.clone()))
                    .collect(),
            ))
        }
        "values" => {
            arity(&a, 1)?;
            Ok(Value::Array(obj(&a[0])?.values().cloned().collect()))
        }
        "lookup" => {
            arity(&a, 2)?;
            let m = obj(&a[0])?;
            let k = s(&a[1])?;
            match (m.get(&k), a.get(2)) {
                (Some(v), _) => Ok(v.clone()),
                (None, Some(d)) => Ok(d.clone()),
                (None, None) => Err(FnError::Failed(format!(
                    "the given key {k:?} does not exist in the map"
                ))),
            }
        }
        "merge" => {
            let mut out = Map::new();
            for m in &a {
                if m.is_null() {
                    continue;
                }
                out.extend(obj(m)?);
            }
            Ok(Value::Object(out))
        }
        "zipmap" => {
            arity(&a, 2)?;
            let (k, v) = (list(&a[0])?, list(&a[1])?);
            let mut out = Map::new();
            for (k, v) in k.iter().zip(v) {
                out.insert(s(k)?, v);
            }
            Ok(Value::Object(out))
        }
        "coalesce" => a
            .into_iter()
            .find(|v| !v.is_null() && v.as_str() != Some(""))
            .ok_or_else(|| FnError::Failed("no non-null, non-empty-string arguments".into())),
        "coalescelist" => a
            .into_iter()
            .find(|v| v.as_array().is_some_and(|l| !l.is_empty()))
            .ok_or_else(|| FnError::Failed("no non-null arguments".into())),
        "min" | "max" => {
            arity(&a, 1)?;
            let mut best: Option<f64> = None;
            for v in &a {
                let x = n(v)?;
                best = Some(match best {
                    None => x,
                    Some(b) if name == "min" => b.min(x),
                    Some(b) => b.max(x),
                });
            }
            Ok(float_value(best.unwrap_or(0.0)))
        }
        "abs" => {
            arity(&a, 1)?;
            Ok(float_value(n(&a[0])?.abs()))
        }
        "ceil" => {
            arity(&a, 1)?;
            Ok(float_value(n(&a[0])?.ceil()))
        }
        "floor" => {
            arity(&a, 1)?;
            Ok(float_value(n(&a[0])?.floor()))
        }
        "strlen" => {
            arity(&a, 1)?;
            Ok(Value::from(s(&a[0])?.chars().count() as u64))
        }
        "strrev" => {
            arity(&a, 1)?;
            Ok(Value::String(s(&a[0])?.chars().rev().collect()))
        }
        "signum" => {
            arity(&a, 1)?;
            let x = n(&a[0])?;
            Ok(float_value(if x > 0.0 {
                1.0
            } else if x < 0.0 {
                -1.0
            } else {
                0.0
            }))
        }
        "pow" => {
            arity(&a, 2)?;
            Ok(float_value(n(&a[0])?.powf(n(&a[1])?)))
        }
        "log" => {
            arity(&a, 2)?;
            Ok(float_value(n(&a[0])?.ln() / n(&a[1])?.ln()))
        }
        "parseint" => {
            arity(&a, 2)?;
            let (text, base) = (s(&a[0])?, n(&a[1])? as u32);
            if !(2..=62).contains(&base) {
                return Err(FnError::Failed(
                    "base must be a whole number between 2 and 62 inclusive".into(),
                ));
            }
            i64::from_str_radix(&text, base)
                .map(Value::from)
                .map_err(|_| {
                    FnError::Failed(format!("cannot parse {text:?} as a base {base} integer"))
                })
        }
        "chunklist" => {
            arity(&a, 2)?;
            let l = list(&a[0])?;
            let size = n(&a[1])?.max(0.0) as usize;
            if size == 0 {
                return Ok(Value::Array(vec![Value::Array(l)]));
            }
            Ok(Value::Array(
                l.chunks(size).map(|c| Value::Array(c.to_vec())).collect(),
            ))
        }
        "setunion" => {
            let mut out: Vec<Value> = Vec::new();
            for l in &a {
                for v in list(l)? {
                    if !out.contains(&v) {
                        out.push(v);
                    }
                }
            }
            Ok(Value::Array(out))
        }
        "setintersection" => {
            arity(&a, 1)?;
            let mut out = list(&a[0])?;
            for l in &a[1..] {
                let other = list(l)?;
                out.retain(|v| other.contains(v));
            }
            Ok(Value::Array(out))
        }
        "urlencode" => {
            arity(&a, 1)?;
            Ok(Value::String(
                url::form_urlencoded::byte_serialize(s(&a[0])?.as_bytes()).collect(),
            ))
        }
        "uuidv4" => Ok(Value::String(crate::consul::uuid_v4())),
        "sha256" | "sha512" => {
            arity(&a, 1)?;
            use sha2::Digest;
            let data = s(&a[0])?;
            let hex = |b: &[u8]| b.iter().map(|x| format!("{x:02x}")).collect::<String>();
            Ok(Value::String(if name == "sha256" {
                hex(&sha2::Sha256::digest(data.as_bytes()))
            } else {
                hex(&sha2::Sha512::digest(data.as_bytes()))
            }))
        }
        // File functions exist but are disabled on the parse endpoint (`AllowFS: false`).
        "abspath" | "basename" | "dirname" | "file" | "filebase64" | "fileexists" | "fileset"
        | "pathexpand" => Err(FnError::Failed("filesystem function disabled".into())),
        _ => Err(FnError::Failed(format!(
            "the {name} function is not supported by this simulator"
        ))),
    }
}

/// cty's `format` (a Go fmt subset: %s %d %f %v %q %t %%, with width/precision).
fn format(spec: &str, args: &[Value]) -> Result<String, FnError> {
    let mut out = String::new();
    let mut chars = spec.chars().peekable();
    let mut next = 0usize;
    while let Some(c) = chars.next() {
        if c != '%' {
            out.push(c);
            continue;
        }
        if chars.peek() == Some(&'%') {
            chars.next();
            out.push('%');
            continue;
        }
        let mut flags = String::new();
        while let Some(&f) = chars.peek() {
            if f.is_ascii_digit() || f == '.' || f == '-' || f == '+' || f == '#' || f == ' ' {
                flags.push(f);
                chars.next();
            } else {
                break;
            }
        }
        let Some(verb) = chars.next() else {
            return Err(FnError::Failed("unterminated format verb".into()));
        };
        let Some(arg) = args.get(next) else {
            return Err(FnError::Failed(format!(
                "not enough arguments for \"%{flags}{verb}\" at {}",
                out.len()
            )));
        };
        next += 1;
        let (width, prec) = match flags
            .trim_start_matches(['-', '+', '#', ' '])
            .split_once('.')
        {
            Some((w, p)) => (w.parse::<usize>().ok(), p.parse::<usize>().ok()),
            None => (
                flags.trim_start_matches(['-', '+', '#', ' ']).parse().ok(),
                None,
            ),
        };
        let text = match verb {
            's' => s(arg)?,
            'q' => serde_json::to_string(&s(arg)?).unwrap_or_default(),
            'd' => {
                let x = n(arg)?;
                if x.fract() != 0.0 {
                    return Err(FnError::Failed("an integer is required".into()));
                }
                format!("{}", x as i64)
            }
            'f' => format!("{:.*}", prec.unwrap_or(6), n(arg)?),
            't' => match arg {
                Value::Bool(b) => b.to_string(),
                _ => return Err(FnError::Failed("a bool is required".into())),
            },
            'v' => match arg {
                Value::String(x) => x.clone(),
                Value::Array(_) | Value::Object(_) => {
                    serde_json::to_string(arg).unwrap_or_default()
                }
                other => to_string(other).unwrap_or_else(|_| "null".into()),
            },
            other => {
                return Err(FnError::Failed(format!(
                    "unsupported format verb {other:?}"
                )))
            }
        };
        let text = if verb != 'f' {
            match prec {
                Some(p) => text.chars().take(p).collect(),
                None => text,
            }
        } else {
            text
        };
        match width {
            Some(w) if text.chars().count() < w => {
                let zero_pad = flags.trim_start_matches(['+', '#', ' ']).starts_with('0')
                    && !flags.contains('-')
                    && matches!(verb, 'd' | 'f');
                let fill = if zero_pad { "0" } else { " " };
                let pad = fill.repeat(w - text.chars().count());
                if zero_pad && text.starts_with('-') {
                    out.push('-');
                    out.push_str(&pad);
                    out.push_str(&text[1..]);
                } else if flags.starts_with('-') {
                    out.push_str(&text);
                    out.push_str(&pad);
                } else {
                    out.push_str(&pad);
                    out.push_str(&text);
                }
            }
            _ => out.push_str(&text),
        }
    }
    if next < args.len() {
        return Err(FnError::Failed(format!(
            "too many arguments; only {next} used by format string"
        )));
    }
    Ok(out)
}
