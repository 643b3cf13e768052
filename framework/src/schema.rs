//! Schemas: what Terraform sees, plus the flags the plan engine reads (`requires_replace`,
//! `use_state_for_unknown`, defaults, validators, semantic equality).

use std::collections::BTreeMap;
use std::sync::Arc;

use tfplugin_proto::tfplugin6 as pb;

use crate::diag::{AttributePath, Diagnostic};
use crate::value::{Type, Value};

/// Checks a known, non-null value; returns an error (with summary and detail) for a bad one.
pub type Validator = Arc<dyn Fn(&Value) -> Result<(), (String, String)> + Send + Sync>;
/// True when two known values mean the same thing (e.g. policies differing only in whitespace).
pub type Equivalence = fn(&Value, &Value) -> bool;

/// How many nested blocks of a type may appear.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Nesting {
    /// At most one, null when absent.
    Single,
    /// A list of blocks.
    List,
    /// A set of blocks.
    Set,
    /// A map of blocks (or objects) by label.
    Map,
}

impl Nesting {
    fn wrap(self, inner: Type) -> Type {
        match self {
            Nesting::Single => inner,
            Nesting::List => Type::list(inner),
            Nesting::Set => Type::set(inner),
            Nesting::Map => Type::map(inner),
        }
    }
}

/// A schema: a version and a root block.
#[derive(Clone, Default)]
pub struct Schema {
    /// Stored in state as `schema_version`.
    pub version: i64,
    /// The root block.
    pub block: Block,
}

/// A block: attributes and nested blocks.
#[derive(Clone, Default)]
pub struct Block {
    /// Attributes, in declaration order.
    pub attributes: Vec<Attribute>,
    /// Nested block types.
    pub blocks: Vec<NestedBlock>,
    /// Markdown description.
    pub description: String,
}

/// A nested block type.
#[derive(Clone)]
pub struct NestedBlock {
    /// The block's name.
    pub name: String,
    /// Its contents.
    pub block: Block,
    /// Single, list or set.
    pub nesting: Nesting,
    /// Minimum count (list/set).
    pub min_items: i64,
    /// Maximum count (list/set), 0 = unbounded.
    pub max_items: i64,
    /// Changing any block of this type replaces the resource.
    pub requires_replace: bool,
}

/// An attribute with its Terraform flags and the framework's plan behaviour.
#[derive(Clone)]
pub struct Attribute {
    /// Name.
    pub name: String,
    /// cty type.
    pub ty: Type,
    /// Markdown description.
    pub description: String,
    /// Must be set.
    pub required: bool,
    /// May be set.
    pub optional: bool,
    /// The provider may set it.
    pub computed: bool,
    /// Masked in output.
    pub sensitive: bool,
    /// Never stored in plan or state.
    pub write_only: bool,
    /// A change replaces the resource.
    pub requires_replace: bool,
    /// On update, keep the prior value instead of marking it unknown.
    pub use_state_for_unknown: bool,
    /// Value planned when the configuration leaves it null (needs `computed`).
    pub default: Option<Value>,
    /// Run on known values at validate and plan time.
    pub validators: Vec<Validator>,
    /// Values equivalent to the prior value keep the prior value (no diff, no drift).
    pub equivalent: Option<Equivalence>,
    /// For a nested attribute (`nested_type`): how its objects nest, and their attributes.
    pub nested: Option<(Nesting, Vec<Attribute>)>,
}

impl Attribute {
    fn new(name: &str, ty: Type) -> Self {
        Attribute {
            name: name.to_string(),
            ty,
            description: String::new(),
            required: false,
            optional: false,
            computed: false,
            sensitive: false,
            write_only: false,
            requires_replace: false,
            use_state_for_unknown: false,
            default: None,
            validators: Vec::new(),
            equivalent: None,
            nested: None,
        }
    }
    /// A nested attribute: objects with `attributes`, nested as `nesting` (protocol 6 `nested_type`).
    pub fn nested(name: &str, nesting: Nesting, attributes: Vec<Attribute>) -> Self {
        let inner = Type::Object(
            attributes
                .iter()
                .map(|a| (a.name.clone(), a.ty.clone()))
                .collect(),
        );
        let mut a = Self::new(name, nesting.wrap(inner));
        a.nested = Some((nesting, attributes));
        a
    }
    /// A string attribute.
    pub fn string(name: &str) -> Self {
        Self::new(name, Type::String)
    }
    /// A number attribute.
    pub fn number(name: &str) -> Self {
        Self::new(name, Type::Number)
    }
    /// A bool attribute.
    pub fn bool(name: &str) -> Self {
        Self::new(name, Type::Bool)
    }
    /// A map of strings.
    pub fn string_map(name: &str) -> Self {
        Self::new(name, Type::map(Type::String))
    }
    /// A list of strings.
    pub fn string_list(name: &str) -> Self {
        Self::new(name, Type::list(Type::String))
    }
    /// Any type.
    pub fn typed(name: &str, ty: Type) -> Self {
        Self::new(name, ty)
    }
    /// Markdown description (what the docs and the language server show).
    pub fn doc(mut self, d: &str) -> Self {
        self.description = d.to_string();
        self
    }
    /// Must be set.
    pub fn required(mut self) -> Self {
        self.required = true;
        self
    }
    /// May be set.
    pub fn optional(mut self) -> Self {
        self.optional = true;
        self
    }
    /// Set by the provider.
    pub fn computed(mut self) -> Self {
        self.computed = true;
        self
    }
    /// Masked in output.
    pub fn sensitive(mut self) -> Self {
        self.sensitive = true;
        self
    }
    /// Never stored (Terraform ≥ 1.11).
    pub fn write_only(mut self) -> Self {
        self.write_only = true;
        self
    }
    /// A change replaces the resource.
    pub fn requires_replace(mut self) -> Self {
        self.requires_replace = true;
        self
    }
    /// Keep the prior value on update instead of marking it unknown.
    pub fn use_state_for_unknown(mut self) -> Self {
        self.use_state_for_unknown = true;
        self
    }
    /// Optional + computed with this default.
    pub fn default(mut self, v: impl Into<Value>) -> Self {
        self.optional = true;
        self.computed = true;
        self.default = Some(v.into());
        self
    }
    /// Adds a validator.
    pub fn validate(
        mut self,
        f: impl Fn(&Value) -> Result<(), (String, String)> + Send + Sync + 'static,
    ) -> Self {
        self.validators.push(Arc::new(f));
        self
    }
    /// Values equivalent by `f` keep the prior value.
    pub fn equivalent(mut self, f: Equivalence) -> Self {
        self.equivalent = Some(f);
        self
    }
}

impl Attribute {
    pub(crate) fn to_proto(&self) -> pb::schema::Attribute {
        use pb::schema::object::NestingMode;
        let nested_type = self
            .nested
            .as_ref()
            .map(|(nesting, attrs)| pb::schema::Object {
                attributes: attrs.iter().map(Attribute::to_proto).collect(),
                nesting: match nesting {
                    Nesting::Single => NestingMode::Single,
                    Nesting::List => NestingMode::List,
                    Nesting::Set => NestingMode::Set,
                    Nesting::Map => NestingMode::Map,
                } as i32,
                ..Default::default()
            });
        pb::schema::Attribute {
            name: self.name.clone(),
            // Exactly one of `type` and `nested_type`.
            r#type: if nested_type.is_some() {
                Vec::new()
            } else {
                serde_json::to_vec(&self.ty.to_json()).unwrap_or_default()
            },
            nested_type,
            description: self.description.clone(),
            description_kind: pb::StringKind::Markdown as i32,
            required: self.required,
            optional: self.optional,
            computed: self.computed,
            sensitive: self.sensitive,
            write_only: self.write_only,
            ..Default::default()
        }
    }
}

impl NestedBlock {
    /// A list of blocks.
    pub fn list(name: &str, block: Block) -> Self {
        NestedBlock {
            name: name.to_string(),
            block,
            nesting: Nesting::List,
            min_items: 0,
            max_items: 0,
            requires_replace: false,
        }
    }
    /// At most one block.
    pub fn single(name: &str, block: Block) -> Self {
        NestedBlock {
            nesting: Nesting::Single,
            ..Self::list(name, block)
        }
    }
    /// A map of blocks by label.
    pub fn map(name: &str, block: Block) -> Self {
        NestedBlock {
            nesting: Nesting::Map,
            ..Self::list(name, block)
        }
    }
    /// A set of blocks.
    pub fn set(name: &str, block: Block) -> Self {
        NestedBlock {
            nesting: Nesting::Set,
            ..Self::list(name, block)
        }
    }
    /// Maximum number of blocks.
    pub fn max_items(mut self, n: i64) -> Self {
        self.max_items = n;
        self
    }
    /// A change replaces the resource.
    pub fn requires_replace(mut self) -> Self {
        self.requires_replace = true;
        self
    }
}

impl Block {
    /// An empty block with a description.
    pub fn new(description: &str) -> Self {
        Block {
            description: description.to_string(),
            ..Block::default()
        }
    }
    /// Adds an attribute.
    pub fn attr(mut self, a: Attribute) -> Self {
        self.attributes.push(a);
        self
    }
    /// Adds a nested block type.
    pub fn block(mut self, b: NestedBlock) -> Self {
        self.blocks.push(b);
        self
    }
    /// The object type this block implies.
    pub fn implied_type(&self) -> Type {
        let mut attrs: BTreeMap<String, Type> = self
            .attributes
            .iter()
            .map(|a| (a.name.clone(), a.ty.clone()))
            .collect();
        for b in &self.blocks {
            attrs.insert(b.name.clone(), b.nesting.wrap(b.block.implied_type()));
        }
        Type::Object(attrs)
    }
    /// Finds an attribute by name.
    pub fn attribute(&self, name: &str) -> Option<&Attribute> {
        self.attributes.iter().find(|a| a.name == name)
    }

    /// Checks the configuration `config` (an object of this block) against required flags and
    /// validators. Unknown values are not checked.
    pub fn validate(&self, config: &Value, path: &AttributePath, out: &mut Vec<Diagnostic>) {
        for a in &self.attributes {
            let p = extend(path, &a.name);
            let v = config.get(&a.name);
            if a.computed && !a.optional && !a.required && !v.is_null() && !v.is_unknown() {
                out.push(
                    Diagnostic::error(
                        "Invalid configuration",
                        format!("\"{p}\" is set by the provider and cannot be configured."),
                    )
                    .at(p.clone()),
                );
            }
            if v.is_null() || v.is_unknown() {
                continue;
            }
            for check in &a.validators {
                if let Err((summary, detail)) = check(v) {
                    out.push(Diagnostic::error(summary, detail).at(p.clone()));
                }
            }
        }
        for b in &self.blocks {
            let v = config.get(&b.name);
            let p = extend(path, &b.name);
            match (b.nesting, v) {
                (Nesting::Single, Value::Map(_)) => b.block.validate(v, &p, out),
                (Nesting::List | Nesting::Set, Value::List(items)) => {
                    if b.max_items > 0 && items.len() as i64 > b.max_items {
                        out.push(
                            Diagnostic::error(
                                "Too many blocks",
                                format!(
                                    "At most {} \"{}\" blocks are allowed.",
                                    b.max_items, b.name
                                ),
                            )
                            .at(p.clone()),
                        );
                    }
                    for (i, item) in items.iter().enumerate() {
                        b.block.validate(item, &p.clone().index(i), out);
                    }
                }
                (Nesting::Map, Value::Map(items)) => {
                    for (k, item) in items {
                        b.block.validate(item, &p.clone().key(k), out);
                    }
                }
                _ => {}
            }
        }
    }

    pub(crate) fn to_proto(&self) -> pb::schema::Block {
        pb::schema::Block {
            attributes: self.attributes.iter().map(Attribute::to_proto).collect(),
            block_types: self
                .blocks
                .iter()
                .map(|b| pb::schema::NestedBlock {
                    type_name: b.name.clone(),
                    block: Some(b.block.to_proto()),
                    nesting: match b.nesting {
                        Nesting::Single => pb::schema::nested_block::NestingMode::Single,
                        Nesting::List => pb::schema::nested_block::NestingMode::List,
                        Nesting::Set => pb::schema::nested_block::NestingMode::Set,
                        Nesting::Map => pb::schema::nested_block::NestingMode::Map,
                    } as i32,
                    // Terraform allows counts only on list and set blocks.
                    min_items: if matches!(b.nesting, Nesting::List | Nesting::Set) {
                        b.min_items
                    } else {
                        0
                    },
                    max_items: if matches!(b.nesting, Nesting::List | Nesting::Set) {
                        b.max_items
                    } else {
                        0
                    },
                })
                .collect(),
            description: self.description.clone(),
            description_kind: pb::StringKind::Markdown as i32,
            ..Default::default()
        }
    }
}

fn empty_block(block: &Block) -> Value {
    let mut v = Value::null_object(&block.implied_type());
    if let Some(m) = v.as_map_mut() {
        for b in &block.blocks {
            let empty = match b.nesting {
                Nesting::Single => Value::Null,
                Nesting::List | Nesting::Set => Value::List(Vec::new()),
                Nesting::Map => Value::Map(BTreeMap::new()),
            };
            m.insert(b.name.clone(), empty);
        }
    }
    v
}

fn lint_docs(block: &Block, prefix: &str, out: &mut Vec<String>) {
    if block.description.trim().is_empty() {
        out.push(format!("block `{prefix}` has no description"));
    }
    for a in &block.attributes {
        if a.description.trim().is_empty() {
            out.push(format!("attribute `{prefix}{}` has no description", a.name));
        }
    }
    for b in &block.blocks {
        lint_docs(&b.block, &format!("{prefix}{}.", b.name), out);
    }
}

fn extend(path: &AttributePath, name: &str) -> AttributePath {
    if path.0.is_empty() {
        AttributePath::root(name)
    } else {
        path.clone().attr(name)
    }
}

/// Names Terraform reserves for meta-arguments in `resource` and `data` blocks: an attribute or
/// block with one of these names never reaches the provider.
pub const RESERVED_NAMES: &[&str] = &[
    "connection",
    "count",
    "depends_on",
    "for_each",
    "lifecycle",
    "provider",
    "provisioner",
];

impl Schema {
    /// Problems Terraform would not report clearly: reserved names and missing descriptions.
    pub fn lint(&self) -> Vec<String> {
        let mut out = Vec::new();
        for name in self
            .block
            .attributes
            .iter()
            .map(|a| &a.name)
            .chain(self.block.blocks.iter().map(|b| &b.name))
        {
            if RESERVED_NAMES.contains(&name.as_str()) {
                out.push(format!(
                    "`{name}` is reserved by Terraform and never reaches the provider"
                ));
            }
        }
        lint_docs(&self.block, "", &mut out);
        out
    }

    /// A null object of this schema as Terraform sends it (list, set and map blocks empty).
    pub fn empty_value(&self) -> Value {
        empty_block(&self.block)
    }

    /// A version-0 schema with this block.
    pub fn new(block: Block) -> Self {
        Schema { version: 0, block }
    }
    /// Sets the schema version (state upgrades run from older versions).
    pub fn version(mut self, v: i64) -> Self {
        self.version = v;
        self
    }
    pub(crate) fn to_proto(&self) -> pb::Schema {
        pb::Schema {
            version: self.version,
            block: Some(self.block.to_proto()),
        }
    }
}

/// Common validators.
pub mod validators {
    use super::Value;

    type Check = Box<dyn Fn(&Value) -> Result<(), (String, String)> + Send + Sync>;

    /// The string must be one of `allowed`.
    pub fn one_of(allowed: &'static [&'static str]) -> Check {
        Box::new(move |v| match v.as_str() {
            Some(s) if allowed.contains(&s) => Ok(()),
            Some(s) => Err((
                "Invalid value".into(),
                format!("{s:?} is not one of: {}.", allowed.join(", ")),
            )),
            None => Ok(()),
        })
    }

    /// A duration such as `72h`, `30m`, `90s` or a number of seconds.
    pub fn duration() -> Check {
        Box::new(|v| {
            match v.as_str() {
            Some(s) if parse_duration(s).is_some() => Ok(()),
            Some(s) => Err((
                "Invalid duration".into(),
                format!(
                    "{s:?} is not a duration. Use a number of seconds or a Go-style duration such as \"72h\", \"30m\" or \"1h30m\"."
                ),
            )),
            None => Ok(()),
        }
        })
    }

    /// A path without leading or trailing slashes, not empty.
    pub fn clean_path() -> Check {
        Box::new(|v| match v.as_str() {
            Some("") => Err(("Invalid path".into(), "The path is empty.".into())),
            Some(s) if s.starts_with('/') || s.ends_with('/') => Err((
                "Invalid path".into(),
                format!(
                    "{s:?} must not start or end with \"/\"; write {:?}.",
                    s.trim_matches('/')
                ),
            )),
            Some(s) if s.contains("//") => Err((
                "Invalid path".into(),
                format!("{s:?} contains an empty segment (\"//\")."),
            )),
            _ => Ok(()),
        })
    }

    /// Parses `90`, `90s`, `15m`, `72h`, `1h30m`, `2d` into seconds.
    pub fn parse_duration(s: &str) -> Option<u64> {
        let s = s.trim();
        if s.is_empty() {
            return None;
        }
        if let Ok(n) = s.parse::<u64>() {
            return Some(n);
        }
        let mut total: u64 = 0;
        let mut num = String::new();
        for c in s.chars() {
            if c.is_ascii_digit() {
                num.push(c);
                continue;
            }
            let n: u64 = num.parse().ok()?;
            num.clear();
            let mult = match c {
                's' => 1,
                'm' => 60,
                'h' => 3600,
                'd' => 86400,
                _ => return None,
            };
            total = total.checked_add(n.checked_mul(mult)?)?;
        }
        if !num.is_empty() {
            return None;
        }
        Some(total)
    }
}
