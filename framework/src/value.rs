//! cty types and values as Terraform exchanges them.
//!
//! A [`Value`] is untyped on its own; the [`Type`] that a schema implies gives it shape when it is
//! encoded (msgpack for the wire, JSON for raw state).

use std::collections::BTreeMap;
use std::fmt;

/// A cty type, as written in a schema attribute's `type` (compact JSON).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Type {
    /// `"string"`
    String,
    /// `"number"`
    Number,
    /// `"bool"`
    Bool,
    /// `"dynamic"` (DynamicPseudoType): the value carries its own type.
    Dynamic,
    /// `["list", T]`
    List(Box<Type>),
    /// `["set", T]`
    Set(Box<Type>),
    /// `["map", T]`
    Map(Box<Type>),
    /// `["object", {..}]`
    Object(BTreeMap<String, Type>),
    /// `["tuple", [..]]`
    Tuple(Vec<Type>),
}

impl Type {
    /// `["list", t]`
    pub fn list(t: Type) -> Type {
        Type::List(Box::new(t))
    }
    /// `["set", t]`
    pub fn set(t: Type) -> Type {
        Type::Set(Box::new(t))
    }
    /// `["map", t]`
    pub fn map(t: Type) -> Type {
        Type::Map(Box::new(t))
    }

    /// The compact JSON form used in schemas and in dynamic values.
    pub fn to_json(&self) -> serde_json::Value {
        use serde_json::json;
        match self {
            Type::String => json!("string"),
            Type::Number => json!("number"),
            Type::Bool => json!("bool"),
            Type::Dynamic => json!("dynamic"),
            Type::List(t) => json!(["list", t.to_json()]),
            Type::Set(t) => json!(["set", t.to_json()]),
            Type::Map(t) => json!(["map", t.to_json()]),
            Type::Object(attrs) => {
                let m: serde_json::Map<String, serde_json::Value> = attrs
                    .iter()
                    .map(|(k, t)| (k.clone(), t.to_json()))
                    .collect();
                json!(["object", m])
            }
            Type::Tuple(ts) => json!(["tuple", ts.iter().map(Type::to_json).collect::<Vec<_>>()]),
        }
    }

    /// Parses the compact JSON form. Optional-attribute markers (a 3rd object element) are ignored.
    pub fn from_json(v: &serde_json::Value) -> Result<Type, String> {
        use serde_json::Value as J;
        match v {
            J::String(s) => match s.as_str() {
                "string" => Ok(Type::String),
                "number" => Ok(Type::Number),
                "bool" => Ok(Type::Bool),
                "dynamic" => Ok(Type::Dynamic),
                other => Err(format!("unknown primitive type {other:?}")),
            },
            J::Array(items) if items.len() >= 2 => {
                let kind = items[0].as_str().unwrap_or_default();
                match kind {
                    "list" => Ok(Type::list(Type::from_json(&items[1])?)),
                    "set" => Ok(Type::set(Type::from_json(&items[1])?)),
                    "map" => Ok(Type::map(Type::from_json(&items[1])?)),
                    "object" => {
                        let J::Object(m) = &items[1] else {
                            return Err("object type needs an attribute map".into());
                        };
                        let mut attrs = BTreeMap::new();
                        for (k, t) in m {
                            attrs.insert(k.clone(), Type::from_json(t)?);
                        }
                        Ok(Type::Object(attrs))
                    }
                    "tuple" => {
                        let J::Array(ts) = &items[1] else {
                            return Err("tuple type needs an element list".into());
                        };
                        Ok(Type::Tuple(
                            ts.iter().map(Type::from_json).collect::<Result<_, _>>()?,
                        ))
                    }
                    other => Err(format!("unknown type kind {other:?}")),
                }
            }
            other => Err(format!("invalid type {other}")),
        }
    }
}

/// A cty number. Kept in the form it arrived in, so that it can be echoed back exactly.
#[derive(Debug, Clone, PartialEq)]
pub enum Number {
    /// Fits in i64.
    Int(i64),
    /// Fits in u64 but not i64.
    UInt(u64),
    /// A float.
    Float(f64),
    /// A decimal string, for values beyond float64.
    Decimal(String),
}

impl Number {
    /// The value as i64, when it is a whole number in range.
    pub fn as_i64(&self) -> Option<i64> {
        match self {
            Number::Int(i) => Some(*i),
            Number::UInt(u) => i64::try_from(*u).ok(),
            Number::Float(f) if f.fract() == 0.0 && f.abs() < 9.0e15 => Some(*f as i64),
            Number::Float(_) => None,
            Number::Decimal(s) => s.parse().ok(),
        }
    }
    /// The value as f64 (may round).
    pub fn as_f64(&self) -> f64 {
        match self {
            Number::Int(i) => *i as f64,
            Number::UInt(u) => *u as f64,
            Number::Float(f) => *f,
            Number::Decimal(s) => s.parse().unwrap_or(f64::NAN),
        }
    }
    fn same(&self, other: &Number) -> bool {
        match (self.as_i64(), other.as_i64()) {
            (Some(a), Some(b)) => a == b,
            _ => self.as_f64() == other.as_f64(),
        }
    }
}

impl fmt::Display for Number {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Number::Int(i) => write!(f, "{i}"),
            Number::UInt(u) => write!(f, "{u}"),
            Number::Float(x) => write!(f, "{x}"),
            Number::Decimal(s) => f.write_str(s),
        }
    }
}

/// A cty value. Lists, sets and tuples are `List`; maps and objects are `Map`.
#[derive(Debug, Clone, Default)]
pub enum Value {
    /// null
    #[default]
    Null,
    /// Not known until apply. Refinements sent by Terraform are dropped.
    Unknown,
    /// bool
    Bool(bool),
    /// number
    Number(Number),
    /// string
    String(String),
    /// list, set or tuple
    List(Vec<Value>),
    /// map or object
    Map(BTreeMap<String, Value>),
    /// A known value in a `dynamic` slot, with the concrete type it was sent with.
    Dynamic(Type, Box<Value>),
}

impl PartialEq for Value {
    fn eq(&self, other: &Value) -> bool {
        match (self, other) {
            (Value::Null, Value::Null) | (Value::Unknown, Value::Unknown) => true,
            (Value::Bool(a), Value::Bool(b)) => a == b,
            (Value::Number(a), Value::Number(b)) => a.same(b),
            (Value::String(a), Value::String(b)) => a == b,
            (Value::List(a), Value::List(b)) => a == b,
            (Value::Map(a), Value::Map(b)) => a == b,
            (Value::Dynamic(ta, a), Value::Dynamic(tb, b)) => ta == tb && a == b,
            _ => false,
        }
    }
}

impl Value {
    /// True for `Null`.
    pub fn is_null(&self) -> bool {
        matches!(self, Value::Null)
    }
    /// True for `Unknown`.
    pub fn is_unknown(&self) -> bool {
        matches!(self, Value::Unknown)
    }
    /// True when no unknown appears anywhere inside.
    pub fn is_wholly_known(&self) -> bool {
        match self {
            Value::Unknown => false,
            Value::List(items) => items.iter().all(Value::is_wholly_known),
            Value::Map(m) => m.values().all(Value::is_wholly_known),
            Value::Dynamic(_, v) => v.is_wholly_known(),
            _ => true,
        }
    }
    /// The string inside, if this is a known string.
    pub fn as_str(&self) -> Option<&str> {
        match self {
            Value::String(s) => Some(s),
            _ => None,
        }
    }
    /// The attribute `name` of an object (Null when absent or when self is not an object).
    pub fn get(&self, name: &str) -> &Value {
        static NULL: Value = Value::Null;
        match self {
            Value::Map(m) => m.get(name).unwrap_or(&NULL),
            _ => &NULL,
        }
    }
    /// Mutable access to an object's attribute map.
    pub fn as_map_mut(&mut self) -> Option<&mut BTreeMap<String, Value>> {
        match self {
            Value::Map(m) => Some(m),
            _ => None,
        }
    }
    /// Builds an object value from pairs.
    pub fn object<I: IntoIterator<Item = (S, Value)>, S: Into<String>>(pairs: I) -> Value {
        Value::Map(pairs.into_iter().map(|(k, v)| (k.into(), v)).collect())
    }
    /// A null of every attribute of `ty` when it is an object (so the object is complete), else Null.
    pub fn null_object(ty: &Type) -> Value {
        match ty {
            Type::Object(attrs) => {
                Value::Map(attrs.keys().map(|k| (k.clone(), Value::Null)).collect())
            }
            _ => Value::Null,
        }
    }
}

impl From<&str> for Value {
    fn from(s: &str) -> Value {
        Value::String(s.to_string())
    }
}
impl From<String> for Value {
    fn from(s: String) -> Value {
        Value::String(s)
    }
}
impl From<bool> for Value {
    fn from(b: bool) -> Value {
        Value::Bool(b)
    }
}
impl From<i64> for Value {
    fn from(i: i64) -> Value {
        Value::Number(Number::Int(i))
    }
}
