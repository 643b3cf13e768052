//! The generic plan engine: derives a planned state from the schema, so resources hold no plan code.
//!
//! Rules (what terraform-plugin-framework does, and what Terraform checks in `AssertPlanValid`):
//! - write-only attributes are always planned null;
//! - a computed attribute left null in configuration gets its default, or stays at its prior value
//!   when nothing changes, or becomes unknown when something else changes (unless
//!   `use_state_for_unknown`), or is unknown on create;
//! - an attribute with an `equivalent` function keeps its prior value when the configured value is
//!   equivalent (e.g. whitespace-only edits of a policy);
//! - `requires_replace` attributes and blocks whose planned value differs from the prior value are
//!   reported as replacement paths.

use std::collections::BTreeMap;

use crate::diag::AttributePath;
use crate::schema::{Block, Nesting};
use crate::value::Value;

/// The engine's answer for one resource instance.
#[derive(Debug, Clone, PartialEq)]
pub struct Plan {
    /// The planned new state (null for a destroy).
    pub planned: Value,
    /// Paths whose change forces replacement.
    pub requires_replace: Vec<AttributePath>,
}

/// Plans one instance. `prior` is null for a create, `proposed` null for a destroy.
pub fn plan(block: &Block, prior: &Value, proposed: &Value, config: &Value) -> Plan {
    if proposed.is_null() {
        return Plan {
            planned: Value::Null,
            requires_replace: Vec::new(),
        };
    }
    let mut planned = plan_block(block, prior, proposed, config);
    let mut requires_replace = Vec::new();
    if !prior.is_null() {
        if planned != *prior {
            mark_unknown(block, prior, config, &mut planned);
        }
        replace_paths(
            block,
            prior,
            &planned,
            &AttributePath::default(),
            &mut requires_replace,
        );
    }
    Plan {
        planned,
        requires_replace,
    }
}

fn child(path: &AttributePath, name: &str) -> AttributePath {
    if path.0.is_empty() {
        AttributePath::root(name)
    } else {
        path.clone().attr(name)
    }
}

/// First pass: defaults, equivalence, write-only, and unknowns for a create.
fn plan_block(block: &Block, prior: &Value, proposed: &Value, config: &Value) -> Value {
    let creating = prior.is_null();
    let mut out: BTreeMap<String, Value> = BTreeMap::new();
    for a in &block.attributes {
        let cfg = config.get(&a.name);
        let prop = proposed.get(&a.name);
        let old = prior.get(&a.name);
        let v = if a.write_only {
            Value::Null
        } else if cfg.is_null() && a.computed {
            match (&a.default, creating) {
                (Some(d), _) => d.clone(),
                (None, true) => Value::Unknown,
                (None, false) => prop.clone(),
            }
        } else if let (Some(eq), false) = (a.equivalent, creating) {
            if cfg.is_wholly_known() && !old.is_null() && !cfg.is_null() && eq(cfg, old) {
                old.clone()
            } else {
                prop.clone()
            }
        } else {
            prop.clone()
        };
        out.insert(a.name.clone(), v);
    }
    for b in &block.blocks {
        let prop = proposed.get(&b.name);
        let cfg = config.get(&b.name);
        let old = prior.get(&b.name);
        let v = match (b.nesting, prop) {
            (Nesting::Single, Value::Map(_)) => plan_block(&b.block, old, prop, cfg),
            (Nesting::List | Nesting::Set, Value::List(items)) => Value::List(
                items
                    .iter()
                    .enumerate()
                    .map(|(i, item)| {
                        let old_i = nth(old, i);
                        let cfg_i = nth(cfg, i);
                        plan_block(&b.block, old_i, item, cfg_i)
                    })
                    .collect(),
            ),
            (Nesting::List | Nesting::Set, Value::Null) => Value::List(Vec::new()),
            _ => prop.clone(),
        };
        out.insert(b.name.clone(), v);
    }
    Value::Map(out)
}

fn nth(v: &Value, i: usize) -> &Value {
    static NULL: Value = Value::Null;
    match v {
        Value::List(items) => items.get(i).unwrap_or(&NULL),
        _ => &NULL,
    }
}

/// Second pass on an update that changes something: computed values the user did not set may
/// change too, so they become unknown (unless the schema says they are stable).
fn mark_unknown(block: &Block, prior: &Value, config: &Value, planned: &mut Value) {
    let Some(map) = planned.as_map_mut() else {
        return;
    };
    for a in &block.attributes {
        if a.computed
            && !a.use_state_for_unknown
            && a.default.is_none()
            && !a.write_only
            && config.get(&a.name).is_null()
        {
            map.insert(a.name.clone(), Value::Unknown);
        }
    }
    for b in &block.blocks {
        let cfg = config.get(&b.name);
        let old = prior.get(&b.name);
        let Some(v) = map.get_mut(&b.name) else {
            continue;
        };
        match v {
            Value::Map(_) => mark_unknown(&b.block, old, cfg, v),
            Value::List(items) => {
                for (i, item) in items.iter_mut().enumerate() {
                    let prior_item = nth(old, i);
                    if item != prior_item {
                        mark_unknown(&b.block, prior_item, nth(cfg, i), item);
                    }
                }
            }
            _ => {}
        }
    }
}

/// Paths of `requires_replace` attributes and blocks whose planned value differs from `prior`.
pub fn replace_paths(
    block: &Block,
    prior: &Value,
    planned: &Value,
    path: &AttributePath,
    out: &mut Vec<AttributePath>,
) {
    for a in &block.attributes {
        if a.requires_replace && planned.get(&a.name) != prior.get(&a.name) {
            out.push(child(path, &a.name));
        }
    }
    for b in &block.blocks {
        let (old, new) = (prior.get(&b.name), planned.get(&b.name));
        if b.requires_replace && old != new {
            out.push(child(path, &b.name));
            continue;
        }
        match (old, new) {
            (Value::Map(_), Value::Map(_)) => {
                replace_paths(&b.block, old, new, &child(path, &b.name), out)
            }
            (Value::List(o), Value::List(n)) if b.nesting == Nesting::List => {
                for (i, (oi, ni)) in o.iter().zip(n).enumerate() {
                    replace_paths(&b.block, oi, ni, &child(path, &b.name).index(i), out);
                }
            }
            _ => {}
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::schema::Attribute;

    fn block() -> Block {
        Block::new("t")
            .attr(Attribute::string("id").computed().use_state_for_unknown())
            .attr(Attribute::string("name").required().requires_replace())
            .attr(Attribute::string("body").required().equivalent(|a, b| {
                a.as_str()
                    .map(str::split_whitespace)
                    .map(Iterator::collect::<Vec<_>>)
                    == b.as_str()
                        .map(str::split_whitespace)
                        .map(Iterator::collect::<Vec<_>>)
            }))
            .attr(Attribute::string("etag").computed())
            .attr(Attribute::string("mode").default("fast"))
            .attr(Attribute::string("secret_wo").optional().write_only())
    }

    fn obj(pairs: &[(&str, Value)]) -> Value {
        Value::object(pairs.iter().cloned())
    }

    #[test]
    fn create_marks_computed_unknown_and_applies_defaults() {
        let cfg = obj(&[
            ("name", "a".into()),
            ("body", "x".into()),
            ("secret_wo", "hunter2".into()),
        ]);
        let p = plan(&block(), &Value::Null, &cfg, &cfg);
        assert_eq!(p.planned.get("id"), &Value::Unknown);
        assert_eq!(p.planned.get("etag"), &Value::Unknown);
        assert_eq!(p.planned.get("mode"), &Value::from("fast"));
        assert_eq!(p.planned.get("secret_wo"), &Value::Null);
        assert!(p.requires_replace.is_empty());
    }

    fn prior() -> Value {
        obj(&[
            ("id", "a".into()),
            ("name", "a".into()),
            ("body", "x  y".into()),
            ("etag", "e1".into()),
            ("mode", "fast".into()),
            ("secret_wo", Value::Null),
        ])
    }

    fn proposed_from(cfg: &Value, prior: &Value) -> Value {
        // What Terraform sends: config, with computed attributes that are null in config taken from prior.
        let mut m = match cfg {
            Value::Map(m) => m.clone(),
            _ => BTreeMap::new(),
        };
        for k in ["id", "etag", "mode"] {
            if m.get(k).is_none_or(Value::is_null) {
                m.insert(k.to_string(), prior.get(k).clone());
            }
        }
        Value::Map(m)
    }

    #[test]
    fn equivalent_change_is_a_no_op() {
        let cfg = obj(&[("name", "a".into()), ("body", "x\n y\n".into())]);
        let p = plan(&block(), &prior(), &proposed_from(&cfg, &prior()), &cfg);
        assert_eq!(p.planned, prior());
    }

    #[test]
    fn real_change_unknowns_computed_but_keeps_stable_ones() {
        let cfg = obj(&[("name", "a".into()), ("body", "z".into())]);
        let p = plan(&block(), &prior(), &proposed_from(&cfg, &prior()), &cfg);
        assert_eq!(p.planned.get("body"), &Value::from("z"));
        assert_eq!(p.planned.get("etag"), &Value::Unknown);
        assert_eq!(p.planned.get("id"), &Value::from("a"));
        assert!(p.requires_replace.is_empty());
    }

    #[test]
    fn requires_replace_reported() {
        let cfg = obj(&[("name", "b".into()), ("body", "x y".into())]);
        let p = plan(&block(), &prior(), &proposed_from(&cfg, &prior()), &cfg);
        assert_eq!(p.requires_replace, vec![AttributePath::root("name")]);
    }

    #[test]
    fn destroy_plans_null() {
        let p = plan(&block(), &prior(), &Value::Null, &Value::Null);
        assert_eq!(p.planned, Value::Null);
    }
}
