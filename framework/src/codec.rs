//! Value encodings: msgpack (the wire form of `DynamicValue`) and JSON (raw state, and the bridge to
//! serde-derived resource models). See Terraform's `object-wire-format.md`.

use std::collections::BTreeMap;

use crate::value::{Number, Type, Value};

/// A value that does not fit the type it is decoded or encoded with.
#[derive(Debug, Clone, PartialEq)]
pub struct CodecError(pub String);

impl std::fmt::Display for CodecError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}
impl std::error::Error for CodecError {}

fn err<T>(msg: impl Into<String>) -> Result<T, CodecError> {
    Err(CodecError(msg.into()))
}

/// Decodes msgpack bytes with `ty`. Empty input is null (Terraform treats a missing value so).
pub fn from_msgpack(bytes: &[u8], ty: &Type) -> Result<Value, CodecError> {
    if bytes.is_empty() {
        return Ok(Value::Null);
    }
    let mut rd = bytes;
    let raw = rmpv::decode::read_value(&mut rd).map_err(|e| CodecError(format!("msgpack: {e}")))?;
    decode_mp(raw, ty)
}

fn decode_mp(raw: rmpv::Value, ty: &Type) -> Result<Value, CodecError> {
    use rmpv::Value as M;
    match raw {
        M::Nil => return Ok(Value::Null),
        // Any extension is an unknown; refinements (ext 12) are dropped.
        M::Ext(..) => return Ok(Value::Unknown),
        _ => {}
    }
    match ty {
        Type::String => match raw {
            M::String(s) => s
                .into_str()
                .map(Value::String)
                .ok_or_else(|| CodecError("string is not valid UTF-8".into())),
            other => err(format!("expected string, got {other}")),
        },
        Type::Bool => match raw {
            M::Boolean(b) => Ok(Value::Bool(b)),
            other => err(format!("expected bool, got {other}")),
        },
        Type::Number => match raw {
            M::Integer(i) => {
                if let Some(v) = i.as_i64() {
                    Ok(Value::Number(Number::Int(v)))
                } else if let Some(v) = i.as_u64() {
                    Ok(Value::Number(Number::UInt(v)))
                } else {
                    err("integer out of range")
                }
            }
            M::F32(f) => Ok(Value::Number(Number::Float(f64::from(f)))),
            M::F64(f) => Ok(Value::Number(Number::Float(f))),
            M::String(s) => {
                let s = s.into_str().unwrap_or_default();
                if s.parse::<f64>().is_ok() {
                    Ok(Value::Number(Number::Decimal(s)))
                } else {
                    err(format!("invalid number {s:?}"))
                }
            }
            other => err(format!("expected number, got {other}")),
        },
        Type::Dynamic => match raw {
            M::Array(mut pair) if pair.len() == 2 => {
                let v = pair.pop().unwrap_or(M::Nil);
                let t = match pair.pop() {
                    Some(M::Binary(b)) => b,
                    Some(M::String(s)) => s.into_bytes(),
                    _ => return err("dynamic value needs its type as the first element"),
                };
                let tj: serde_json::Value = serde_json::from_slice(&t)
                    .map_err(|e| CodecError(format!("dynamic type JSON: {e}")))?;
                let t = Type::from_json(&tj).map_err(CodecError)?;
                let inner = decode_mp(v, &t)?;
                Ok(Value::Dynamic(t, Box::new(inner)))
            }
            other => err(format!(
                "expected [type, value] for a dynamic value, got {other}"
            )),
        },
        Type::List(et) | Type::Set(et) => match raw {
            M::Array(items) => Ok(Value::List(
                items
                    .into_iter()
                    .map(|i| decode_mp(i, et))
                    .collect::<Result<_, _>>()?,
            )),
            other => err(format!("expected array, got {other}")),
        },
        Type::Tuple(ts) => match raw {
            M::Array(items) if items.len() == ts.len() => Ok(Value::List(
                items
                    .into_iter()
                    .zip(ts)
                    .map(|(i, t)| decode_mp(i, t))
                    .collect::<Result<_, _>>()?,
            )),
            other => err(format!(
                "expected tuple of {} elements, got {other}",
                ts.len()
            )),
        },
        Type::Map(et) => match raw {
            M::Map(entries) => {
                let mut out = BTreeMap::new();
                for (k, v) in entries {
                    let M::String(k) = k else {
                        return err("map key is not a string");
                    };
                    let k = k.into_str().unwrap_or_default();
                    out.insert(k, decode_mp(v, et)?);
                }
                Ok(Value::Map(out))
            }
            other => err(format!("expected map, got {other}")),
        },
        Type::Object(attrs) => match raw {
            M::Map(entries) => {
                let mut out: BTreeMap<String, Value> =
                    attrs.keys().map(|k| (k.clone(), Value::Null)).collect();
                for (k, v) in entries {
                    let M::String(k) = k else {
                        return err("object key is not a string");
                    };
                    let k = k.into_str().unwrap_or_default();
                    let Some(t) = attrs.get(&k) else {
                        return err(format!("unsupported attribute {k:?}"));
                    };
                    out.insert(k, decode_mp(v, t)?);
                }
                Ok(Value::Map(out))
            }
            other => err(format!("expected object, got {other}")),
        },
    }
}

/// Encodes `v` as msgpack with `ty`. Objects always carry every attribute of the type.
pub fn to_msgpack(v: &Value, ty: &Type) -> Result<Vec<u8>, CodecError> {
    let raw = encode_mp(v, ty)?;
    let mut out = Vec::with_capacity(64);
    rmpv::encode::write_value(&mut out, &raw).map_err(|e| CodecError(format!("msgpack: {e}")))?;
    Ok(out)
}

fn unknown_mp() -> rmpv::Value {
    // fixext1 type 0 payload 0: exactly what Terraform itself sends (`d4 00 00`).
    rmpv::Value::Ext(0, vec![0])
}

fn encode_mp(v: &Value, ty: &Type) -> Result<rmpv::Value, CodecError> {
    use rmpv::Value as M;
    match v {
        Value::Null => return Ok(M::Nil),
        Value::Unknown => return Ok(unknown_mp()),
        _ => {}
    }
    Ok(match (ty, v) {
        (Type::String, Value::String(s)) => M::from(s.as_str()),
        (Type::String, Value::Number(n)) => M::from(n.to_string()),
        (Type::String, Value::Bool(b)) => M::from(b.to_string()),
        (Type::Bool, Value::Bool(b)) => M::Boolean(*b),
        (Type::Number, Value::Number(n)) => number_mp(n),
        (Type::Number, Value::String(s)) if s.parse::<f64>().is_ok() => {
            number_mp(&Number::Decimal(s.clone()))
        }
        (Type::Dynamic, Value::Dynamic(t, inner)) => {
            let tj = serde_json::to_vec(&t.to_json()).map_err(|e| CodecError(e.to_string()))?;
            M::Array(vec![M::Binary(tj), encode_mp(inner, t)?])
        }
        (Type::Dynamic, other) => {
            let t = infer_type(other);
            let tj = serde_json::to_vec(&t.to_json()).map_err(|e| CodecError(e.to_string()))?;
            M::Array(vec![M::Binary(tj), encode_mp(other, &t)?])
        }
        (Type::List(et) | Type::Set(et), Value::List(items)) => M::Array(
            items
                .iter()
                .map(|i| encode_mp(i, et))
                .collect::<Result<_, _>>()?,
        ),
        (Type::Tuple(ts), Value::List(items)) if ts.len() == items.len() => M::Array(
            items
                .iter()
                .zip(ts)
                .map(|(i, t)| encode_mp(i, t))
                .collect::<Result<_, _>>()?,
        ),
        (Type::Map(et), Value::Map(m)) => M::Map(
            m.iter()
                .map(|(k, v)| Ok((M::from(k.as_str()), encode_mp(v, et)?)))
                .collect::<Result<_, CodecError>>()?,
        ),
        (Type::Object(attrs), Value::Map(m)) => {
            if let Some(extra) = m.keys().find(|k| !attrs.contains_key(*k)) {
                return err(format!("unsupported attribute {extra:?}"));
            }
            M::Map(
                attrs
                    .iter()
                    .map(|(k, t)| {
                        let v = m.get(k).unwrap_or(&Value::Null);
                        Ok((M::from(k.as_str()), encode_mp(v, t)?))
                    })
                    .collect::<Result<_, CodecError>>()?,
            )
        }
        (t, v) => {
            return err(format!(
                "value {v:?} does not conform to type {}",
                t.to_json()
            ))
        }
    })
}

fn number_mp(n: &Number) -> rmpv::Value {
    match n {
        Number::Int(i) => rmpv::Value::from(*i),
        Number::UInt(u) => rmpv::Value::from(*u),
        Number::Float(f) => rmpv::Value::F64(*f),
        Number::Decimal(s) => match s.parse::<i64>() {
            Ok(i) => rmpv::Value::from(i),
            Err(_) => rmpv::Value::from(s.as_str()),
        },
    }
}

/// The type a known value would have on its own (used for values placed in `dynamic` slots).
pub fn infer_type(v: &Value) -> Type {
    match v {
        Value::Null | Value::Unknown => Type::Dynamic,
        Value::Bool(_) => Type::Bool,
        Value::Number(_) => Type::Number,
        Value::String(_) => Type::String,
        Value::List(items) => Type::Tuple(items.iter().map(infer_type).collect()),
        Value::Map(m) => Type::Object(m.iter().map(|(k, v)| (k.clone(), infer_type(v))).collect()),
        Value::Dynamic(t, _) => t.clone(),
    }
}

/// Decodes JSON with `ty`. Dynamic values use the state form `{"value":…,"type":…}`.
pub fn from_json(j: &serde_json::Value, ty: &Type) -> Result<Value, CodecError> {
    use serde_json::Value as J;
    if j.is_null() {
        return Ok(Value::Null);
    }
    Ok(match (ty, j) {
        (Type::String, J::String(s)) => Value::String(s.clone()),
        (Type::String, J::Number(n)) => Value::String(n.to_string()),
        (Type::String, J::Bool(b)) => Value::String(b.to_string()),
        (Type::Bool, J::Bool(b)) => Value::Bool(*b),
        (Type::Bool, J::String(s)) if s == "true" || s == "false" => Value::Bool(s == "true"),
        (Type::Number, J::Number(n)) => Value::Number(if let Some(i) = n.as_i64() {
            Number::Int(i)
        } else if let Some(u) = n.as_u64() {
            Number::UInt(u)
        } else {
            Number::Float(n.as_f64().unwrap_or(f64::NAN))
        }),
        (Type::Number, J::String(s)) if s.parse::<f64>().is_ok() => {
            Value::Number(Number::Decimal(s.clone()))
        }
        (Type::Dynamic, J::Object(m)) if m.contains_key("type") && m.contains_key("value") => {
            let t = Type::from_json(&m["type"]).map_err(CodecError)?;
            let inner = from_json(&m["value"], &t)?;
            Value::Dynamic(t, Box::new(inner))
        }
        (Type::Dynamic, other) => {
            let t = infer_json_type(other);
            Value::Dynamic(t.clone(), Box::new(from_json(other, &t)?))
        }
        (Type::List(et) | Type::Set(et), J::Array(items)) => Value::List(
            items
                .iter()
                .map(|i| from_json(i, et))
                .collect::<Result<_, _>>()?,
        ),
        (Type::Tuple(ts), J::Array(items)) if items.len() == ts.len() => Value::List(
            items
                .iter()
                .zip(ts)
                .map(|(i, t)| from_json(i, t))
                .collect::<Result<_, _>>()?,
        ),
        (Type::Map(et), J::Object(m)) => Value::Map(
            m.iter()
                .map(|(k, v)| Ok((k.clone(), from_json(v, et)?)))
                .collect::<Result<_, CodecError>>()?,
        ),
        (Type::Object(attrs), J::Object(m)) => {
            let mut out = BTreeMap::new();
            for (k, t) in attrs {
                out.insert(k.clone(), from_json(m.get(k).unwrap_or(&J::Null), t)?);
            }
            // Attributes no longer in the schema are dropped, as Terraform does on upgrade.
            Value::Map(out)
        }
        (t, j) => return err(format!("JSON {j} does not conform to type {}", t.to_json())),
    })
}

fn infer_json_type(j: &serde_json::Value) -> Type {
    use serde_json::Value as J;
    match j {
        J::Null => Type::Dynamic,
        J::Bool(_) => Type::Bool,
        J::Number(_) => Type::Number,
        J::String(_) => Type::String,
        J::Array(items) => Type::Tuple(items.iter().map(infer_json_type).collect()),
        J::Object(m) => Type::Object(
            m.iter()
                .map(|(k, v)| (k.clone(), infer_json_type(v)))
                .collect(),
        ),
    }
}

/// Plain JSON for a value: unknowns become null, dynamic values lose their type wrapper.
/// This is the bridge to serde-derived models, not the state form.
pub fn to_plain_json(v: &Value) -> serde_json::Value {
    use serde_json::Value as J;
    match v {
        Value::Null | Value::Unknown => J::Null,
        Value::Bool(b) => J::Bool(*b),
        Value::Number(n) => match n {
            Number::Int(i) => J::from(*i),
            Number::UInt(u) => J::from(*u),
            Number::Float(f) => serde_json::Number::from_f64(*f).map_or(J::Null, J::Number),
            Number::Decimal(s) => s
                .parse::<i64>()
                .map(J::from)
                .or_else(|_| s.parse::<f64>().map(J::from))
                .unwrap_or(J::Null),
        },
        Value::String(s) => J::String(s.clone()),
        Value::List(items) => J::Array(items.iter().map(to_plain_json).collect()),
        Value::Map(m) => J::Object(
            m.iter()
                .map(|(k, v)| (k.clone(), to_plain_json(v)))
                .collect(),
        ),
        Value::Dynamic(_, inner) => to_plain_json(inner),
    }
}

/// The state JSON form of a value of type `ty` (dynamic values as `{"value","type"}`).
pub fn to_state_json(v: &Value, ty: &Type) -> serde_json::Value {
    use serde_json::Value as J;
    match (ty, v) {
        (_, Value::Null | Value::Unknown) => J::Null,
        (Type::Dynamic, Value::Dynamic(t, inner)) => {
            serde_json::json!({"value": to_state_json(inner, t), "type": t.to_json()})
        }
        (Type::List(et) | Type::Set(et), Value::List(items)) => {
            J::Array(items.iter().map(|i| to_state_json(i, et)).collect())
        }
        (Type::Map(et), Value::Map(m)) => J::Object(
            m.iter()
                .map(|(k, v)| (k.clone(), to_state_json(v, et)))
                .collect(),
        ),
        (Type::Object(attrs), Value::Map(m)) => J::Object(
            attrs
                .iter()
                .map(|(k, t)| {
                    (
                        k.clone(),
                        to_state_json(m.get(k).unwrap_or(&Value::Null), t),
                    )
                })
                .collect(),
        ),
        (_, v) => to_plain_json(v),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn obj_ty() -> Type {
        Type::Object(
            [
                ("a".to_string(), Type::String),
                ("n".to_string(), Type::Number),
                ("l".to_string(), Type::list(Type::Bool)),
                ("d".to_string(), Type::Dynamic),
            ]
            .into_iter()
            .collect(),
        )
    }

    #[test]
    fn unknown_is_fixext1_zero() {
        assert_eq!(
            to_msgpack(&Value::Unknown, &Type::String).expect("encode"),
            vec![0xd4, 0, 0]
        );
    }

    #[test]
    fn refined_unknown_decodes_as_unknown() {
        // ext 12 with a refinement map {1: false} (definitely not null)
        let bytes = [0xc7, 0x03, 0x0c, 0x81, 0x01, 0xc2];
        assert_eq!(
            from_msgpack(&bytes, &Type::String).expect("decode"),
            Value::Unknown
        );
    }

    #[test]
    fn object_round_trip_with_null_unknown_dynamic() {
        let v = Value::object([
            ("a", Value::from("x")),
            ("n", Value::Unknown),
            ("l", Value::List(vec![Value::Bool(true), Value::Null])),
            (
                "d",
                Value::Dynamic(
                    Type::Object([("x".to_string(), Type::Number)].into_iter().collect()),
                    Box::new(Value::object([("x", Value::from(1))])),
                ),
            ),
        ]);
        let bytes = to_msgpack(&v, &obj_ty()).expect("encode");
        let back = from_msgpack(&bytes, &obj_ty()).expect("decode");
        assert_eq!(back, v);
        // missing attributes are encoded as null so the object is complete
        let partial = Value::object([("a", Value::from("y"))]);
        let back =
            from_msgpack(&to_msgpack(&partial, &obj_ty()).expect("enc"), &obj_ty()).expect("dec");
        assert_eq!(back.get("n"), &Value::Null);
        assert_eq!(back.get("a"), &Value::from("y"));
    }

    #[test]
    fn unsupported_attribute_is_an_error() {
        let v = Value::object([("zzz", Value::from("x"))]);
        assert!(to_msgpack(&v, &obj_ty()).is_err());
    }

    #[test]
    fn big_numbers_as_strings() {
        let mut buf = Vec::new();
        rmpv::encode::write_value(
            &mut buf,
            &rmpv::Value::from("123456789012345678901234567890"),
        )
        .expect("enc");
        let v = from_msgpack(&buf, &Type::Number).expect("dec");
        assert_eq!(
            v,
            Value::Number(Number::Decimal("123456789012345678901234567890".into()))
        );
        assert_eq!(to_msgpack(&v, &Type::Number).expect("enc"), buf);
    }

    #[test]
    fn state_json_dynamic_form() {
        let j = serde_json::json!({"a":"x","n":3,"l":[true],"d":{"value":"hi","type":"string"}});
        let v = from_json(&j, &obj_ty()).expect("from json");
        assert_eq!(
            v.get("d"),
            &Value::Dynamic(Type::String, Box::new(Value::from("hi")))
        );
        assert_eq!(to_state_json(&v, &obj_ty()), j);
    }

    #[test]
    fn type_json_round_trip() {
        let t = Type::Object(
            [
                ("x".to_string(), Type::set(Type::map(Type::Number))),
                (
                    "y".to_string(),
                    Type::Tuple(vec![Type::String, Type::Dynamic]),
                ),
            ]
            .into_iter()
            .collect(),
        );
        assert_eq!(Type::from_json(&t.to_json()).expect("parse"), t);
    }
}
