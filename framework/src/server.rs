//! The tfplugin6 `Provider` service on top of a [`Provider`]: decoding, validation, the plan engine,
//! and the rules Terraform enforces on answers (write-only null, planned values kept, no unknowns
//! after apply). Every RPC answers with diagnostics; gRPC errors are left to the transport.

use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, RwLock};
use std::time::SystemTime;

use tfplugin_proto::tfplugin6 as pb;
use tonic::{Request, Response, Status};

use crate::codec;
use crate::diag::{AttributePath, Diagnostic, Diags};
use crate::plan;
use crate::resource::{DynDataSource, DynEphemeral, DynResource, Provider};
use crate::schema::{Block, Nesting, Schema};
use crate::value::{Type, Value};

type RpcResult<T> = Result<Response<T>, Status>;

struct Entry<T: ?Sized> {
    imp: Box<T>,
    schema: Schema,
    ty: Type,
}

impl<T: ?Sized> Entry<T> {
    fn new(imp: Box<T>, schema: Schema) -> Self {
        let ty = schema.block.implied_type();
        Entry { imp, schema, ty }
    }
}

struct Inner<P: Provider> {
    provider: P,
    provider_schema: Schema,
    resources: HashMap<&'static str, Entry<dyn DynResource<P::Ctx>>>,
    data_sources: HashMap<&'static str, Entry<dyn DynDataSource<P::Ctx>>>,
    ephemerals: HashMap<&'static str, Entry<dyn DynEphemeral<P::Ctx>>>,
    ctx: RwLock<Option<Arc<P::Ctx>>>,
}

/// Serves a [`Provider`] as a tfplugin6 `Provider` gRPC service.
pub struct ProviderServer<P: Provider> {
    inner: Arc<Inner<P>>,
}

impl<P: Provider> Clone for ProviderServer<P> {
    fn clone(&self) -> Self {
        ProviderServer {
            inner: self.inner.clone(),
        }
    }
}

impl<P: Provider> ProviderServer<P> {
    /// Collects the provider's schemas once.
    pub fn new(provider: P) -> Self {
        let resources = provider
            .resources()
            .into_iter()
            .map(|r| {
                let s = r.schema();
                (r.type_name(), Entry::new(r, s))
            })
            .collect();
        let data_sources = provider
            .data_sources()
            .into_iter()
            .map(|r| {
                let s = r.schema();
                (r.type_name(), Entry::new(r, s))
            })
            .collect();
        let ephemerals = provider
            .ephemeral_resources()
            .into_iter()
            .map(|r| {
                let s = r.schema();
                (r.type_name(), Entry::new(r, s))
            })
            .collect();
        let provider_schema = provider.schema();
        ProviderServer {
            inner: Arc::new(Inner {
                provider,
                provider_schema,
                resources,
                data_sources,
                ephemerals,
                ctx: RwLock::new(None),
            }),
        }
    }

    fn ctx(&self) -> Option<Arc<P::Ctx>> {
        self.inner.ctx.read().ok().and_then(|g| g.clone())
    }

    fn resource(&self, name: &str) -> Result<&Entry<dyn DynResource<P::Ctx>>, Diags> {
        self.inner
            .resources
            .get(name)
            .ok_or_else(|| unknown_type("resource", name))
    }
}

fn unknown_type(kind: &str, name: &str) -> Diags {
    Diagnostic::error(
        format!("Unknown {kind} type"),
        format!("This provider has no {kind} type {name:?}."),
    )
    .into()
}

fn not_configured() -> Diags {
    Diagnostic::error(
        "Provider not configured",
        "Terraform called the provider before configuring it.",
    )
    .into()
}

fn decode(dv: Option<&pb::DynamicValue>, ty: &Type) -> Result<Value, Diags> {
    let Some(dv) = dv else {
        return Ok(Value::Null);
    };
    let res = if !dv.msgpack.is_empty() {
        codec::from_msgpack(&dv.msgpack, ty)
    } else if !dv.json.is_empty() {
        serde_json::from_slice::<serde_json::Value>(&dv.json)
            .map_err(|e| codec::CodecError(e.to_string()))
            .and_then(|j| codec::from_json(&j, ty))
    } else {
        Ok(Value::Null)
    };
    res.map_err(|e| {
        Diagnostic::error(
            "Invalid value from Terraform",
            format!("could not decode a value: {e}"),
        )
        .into()
    })
}

fn encode(v: &Value, ty: &Type) -> Result<pb::DynamicValue, Diags> {
    codec::to_msgpack(v, ty)
        .map(|msgpack| pb::DynamicValue {
            msgpack,
            json: Vec::new(),
        })
        .map_err(|e| {
            Diagnostic::error(
                "Provider internal error",
                format!("could not encode a value: {e}"),
            )
            .into()
        })
}

/// Write-only attributes are never returned to Terraform.
fn null_write_only(block: &Block, v: &mut Value) {
    let Some(m) = v.as_map_mut() else {
        return;
    };
    for a in &block.attributes {
        if a.write_only {
            m.insert(a.name.clone(), Value::Null);
        }
    }
    for b in &block.blocks {
        match m.get_mut(&b.name) {
            Some(Value::List(items)) => items.iter_mut().for_each(|i| null_write_only(&b.block, i)),
            Some(inner @ Value::Map(_)) => null_write_only(&b.block, inner),
            _ => {}
        }
    }
}

/// List and set blocks are empty lists, never null.
fn normalize_blocks(block: &Block, v: &mut Value) {
    let Some(m) = v.as_map_mut() else {
        return;
    };
    for b in &block.blocks {
        let entry = m.entry(b.name.clone()).or_insert(Value::Null);
        match (b.nesting, entry) {
            (Nesting::List | Nesting::Set, e @ Value::Null) => *e = Value::List(Vec::new()),
            (Nesting::Map, e @ Value::Null) => *e = Value::Map(BTreeMap::new()),
            (Nesting::Map, Value::Map(items)) => items
                .values_mut()
                .for_each(|i| normalize_blocks(&b.block, i)),
            (_, Value::List(items)) => items.iter_mut().for_each(|i| normalize_blocks(&b.block, i)),
            (_, inner @ Value::Map(_)) => normalize_blocks(&b.block, inner),
            _ => {}
        }
    }
}

/// Copies write-only values from configuration into the value handed to resource code.
fn merge_write_only(block: &Block, target: &mut Value, config: &Value) {
    let Some(m) = target.as_map_mut() else {
        return;
    };
    for a in &block.attributes {
        if a.write_only {
            m.insert(a.name.clone(), config.get(&a.name).clone());
        }
    }
    for b in &block.blocks {
        let cfg = config.get(&b.name);
        match (m.get_mut(&b.name), cfg) {
            (Some(Value::List(items)), Value::List(cfg_items)) => {
                for (i, c) in items.iter_mut().zip(cfg_items) {
                    merge_write_only(&b.block, i, c);
                }
            }
            (Some(inner @ Value::Map(_)), c) => merge_write_only(&b.block, inner, c),
            _ => {}
        }
    }
}

/// After apply, every value known in the plan must come back exactly as planned (Terraform checks
/// this); unknowns take what the resource returned.
fn overlay(planned: &Value, new: Value) -> Value {
    match (planned, new) {
        (Value::Unknown, new) => new,
        (Value::Map(p), Value::Map(mut n)) => {
            let mut out = BTreeMap::new();
            for (k, pv) in p {
                let nv = n.remove(k).unwrap_or(Value::Null);
                out.insert(k.clone(), overlay(pv, nv));
            }
            Value::Map(out)
        }
        (Value::List(p), Value::List(n)) if p.len() == n.len() => {
            Value::List(p.iter().zip(n).map(|(pv, nv)| overlay(pv, nv)).collect())
        }
        (p, n) if p.is_wholly_known() => {
            let _ = n;
            p.clone()
        }
        (_, n) => n,
    }
}

/// On read, a remote value equivalent to the prior one keeps the prior spelling (no drift).
fn keep_equivalent(block: &Block, prior: &Value, new: &mut Value) {
    let Some(m) = new.as_map_mut() else {
        return;
    };
    for a in &block.attributes {
        if let Some(eq) = a.equivalent {
            let old = prior.get(&a.name);
            if let Some(v) = m.get_mut(&a.name) {
                if !old.is_null() && !v.is_null() && eq(old, v) {
                    *v = old.clone();
                }
            }
        }
    }
}

fn identity_type(attrs: &[(&str, &str)]) -> Type {
    Type::Object(
        attrs
            .iter()
            .map(|(n, _)| (n.to_string(), Type::String))
            .collect(),
    )
}

fn identity_of(attrs: &[(&str, &str)], state: &Value) -> Option<pb::ResourceIdentityData> {
    if attrs.is_empty() || state.is_null() {
        return None;
    }
    let v = Value::object(attrs.iter().map(|(n, _)| (*n, state.get(n).clone())));
    if !v.is_wholly_known() {
        return None;
    }
    encode(&v, &identity_type(attrs))
        .ok()
        .map(|d| pb::ResourceIdentityData {
            identity_data: Some(d),
        })
}

fn timestamp(t: SystemTime) -> prost_types::Timestamp {
    let d = t.duration_since(SystemTime::UNIX_EPOCH).unwrap_or_default();
    prost_types::Timestamp {
        seconds: d.as_secs() as i64,
        nanos: d.subsec_nanos() as i32,
    }
}

macro_rules! try_diags {
    ($e:expr, $resp:ident) => {
        match $e {
            Ok(v) => v,
            Err(d) =>
            {
                #[allow(clippy::needless_update)]
                return Ok(Response::new(pb::$resp::Response {
                    diagnostics: Diags::from(d).to_proto(),
                    ..Default::default()
                }))
            }
        }
    };
}

#[tonic::async_trait]
impl<P: Provider> pb::provider_server::Provider for ProviderServer<P> {
    async fn get_metadata(
        &self,
        _req: Request<pb::get_metadata::Request>,
    ) -> RpcResult<pb::get_metadata::Response> {
        let i = &self.inner;
        Ok(Response::new(pb::get_metadata::Response {
            server_capabilities: Some(capabilities()),
            resources: i
                .resources
                .keys()
                .map(|n| pb::get_metadata::ResourceMetadata {
                    type_name: n.to_string(),
                })
                .collect(),
            data_sources: i
                .data_sources
                .keys()
                .map(|n| pb::get_metadata::DataSourceMetadata {
                    type_name: n.to_string(),
                })
                .collect(),
            ephemeral_resources: i
                .ephemerals
                .keys()
                .map(|n| pb::get_metadata::EphemeralMetadata {
                    type_name: n.to_string(),
                })
                .collect(),
            ..Default::default()
        }))
    }

    async fn get_provider_schema(
        &self,
        _req: Request<pb::get_provider_schema::Request>,
    ) -> RpcResult<pb::get_provider_schema::Response> {
        let i = &self.inner;
        Ok(Response::new(pb::get_provider_schema::Response {
            provider: Some(i.provider_schema.to_proto()),
            resource_schemas: i
                .resources
                .iter()
                .map(|(n, e)| (n.to_string(), e.schema.to_proto()))
                .collect(),
            data_source_schemas: i
                .data_sources
                .iter()
                .map(|(n, e)| (n.to_string(), e.schema.to_proto()))
                .collect(),
            ephemeral_resource_schemas: i
                .ephemerals
                .iter()
                .map(|(n, e)| (n.to_string(), e.schema.to_proto()))
                .collect(),
            server_capabilities: Some(capabilities()),
            ..Default::default()
        }))
    }

    async fn validate_provider_config(
        &self,
        req: Request<pb::validate_provider_config::Request>,
    ) -> RpcResult<pb::validate_provider_config::Response> {
        let r = req.into_inner();
        let schema = &self.inner.provider_schema;
        let config = try_diags!(
            decode(r.config.as_ref(), &schema.block.implied_type()),
            validate_provider_config
        );
        let mut out = Vec::new();
        schema
            .block
            .validate(&config, &AttributePath::default(), &mut out);
        Ok(Response::new(pb::validate_provider_config::Response {
            diagnostics: out.iter().map(Diagnostic::to_proto).collect(),
        }))
    }

    async fn validate_resource_config(
        &self,
        req: Request<pb::validate_resource_config::Request>,
    ) -> RpcResult<pb::validate_resource_config::Response> {
        let r = req.into_inner();
        log::debug!("ValidateResourceConfig {}", r.type_name);
        let e = try_diags!(self.resource(&r.type_name), validate_resource_config);
        let config = try_diags!(decode(r.config.as_ref(), &e.ty), validate_resource_config);
        let mut out = Vec::new();
        e.schema
            .block
            .validate(&config, &AttributePath::default(), &mut out);
        let mut diags = Diags::new();
        out.into_iter().for_each(|d| diags.push(d));
        diags.extend(e.imp.validate(&config));
        Ok(Response::new(pb::validate_resource_config::Response {
            diagnostics: diags.to_proto(),
        }))
    }

    async fn validate_data_resource_config(
        &self,
        req: Request<pb::validate_data_resource_config::Request>,
    ) -> RpcResult<pb::validate_data_resource_config::Response> {
        let r = req.into_inner();
        let Some(e) = self.inner.data_sources.get(r.type_name.as_str()) else {
            return Ok(Response::new(pb::validate_data_resource_config::Response {
                diagnostics: unknown_type("data source", &r.type_name).to_proto(),
            }));
        };
        let config = try_diags!(
            decode(r.config.as_ref(), &e.ty),
            validate_data_resource_config
        );
        let mut out = Vec::new();
        e.schema
            .block
            .validate(&config, &AttributePath::default(), &mut out);
        Ok(Response::new(pb::validate_data_resource_config::Response {
            diagnostics: out.iter().map(Diagnostic::to_proto).collect(),
        }))
    }

    async fn upgrade_resource_state(
        &self,
        req: Request<pb::upgrade_resource_state::Request>,
    ) -> RpcResult<pb::upgrade_resource_state::Response> {
        let r = req.into_inner();
        let e = try_diags!(self.resource(&r.type_name), upgrade_resource_state);
        let raw = r.raw_state.map(|s| s.json).unwrap_or_default();
        let json: serde_json::Value = if raw.is_empty() {
            serde_json::Value::Null
        } else {
            try_diags!(
                serde_json::from_slice(&raw).map_err(|err| Diagnostic::error(
                    "Invalid resource state",
                    format!("the stored state is not valid JSON: {err}")
                )),
                upgrade_resource_state
            )
        };
        let json = if r.version < e.schema.version {
            try_diags!(e.imp.upgrade_state(r.version, json), upgrade_resource_state)
        } else {
            json
        };
        let mut v = try_diags!(
            codec::from_json(&json, &e.ty).map_err(|err| Diagnostic::error(
                "Invalid resource state",
                format!("the stored state does not fit the schema: {err}")
            )),
            upgrade_resource_state
        );
        null_write_only(&e.schema.block, &mut v);
        normalize_blocks(&e.schema.block, &mut v);
        let upgraded = try_diags!(encode(&v, &e.ty), upgrade_resource_state);
        Ok(Response::new(pb::upgrade_resource_state::Response {
            upgraded_state: Some(upgraded),
            diagnostics: Vec::new(),
        }))
    }

    async fn get_resource_identity_schemas(
        &self,
        _req: Request<pb::get_resource_identity_schemas::Request>,
    ) -> RpcResult<pb::get_resource_identity_schemas::Response> {
        let identity_schemas = self
            .inner
            .resources
            .iter()
            .filter(|(_, e)| !e.imp.identity().is_empty())
            .map(|(n, e)| {
                (
                    n.to_string(),
                    pb::ResourceIdentitySchema {
                        version: 0,
                        identity_attributes: e
                            .imp
                            .identity()
                            .iter()
                            .map(
                                |(name, doc)| pb::resource_identity_schema::IdentityAttribute {
                                    name: name.to_string(),
                                    r#type: b"\"string\"".to_vec(),
                                    required_for_import: true,
                                    optional_for_import: false,
                                    description: doc.to_string(),
                                },
                            )
                            .collect(),
                    },
                )
            })
            .collect();
        Ok(Response::new(pb::get_resource_identity_schemas::Response {
            identity_schemas,
            diagnostics: Vec::new(),
        }))
    }

    async fn upgrade_resource_identity(
        &self,
        req: Request<pb::upgrade_resource_identity::Request>,
    ) -> RpcResult<pb::upgrade_resource_identity::Response> {
        let r = req.into_inner();
        let e = try_diags!(self.resource(&r.type_name), upgrade_resource_identity);
        let ty = identity_type(e.imp.identity());
        let raw = r.raw_identity.map(|s| s.json).unwrap_or_default();
        let j: serde_json::Value = serde_json::from_slice(&raw).unwrap_or_default();
        let v = try_diags!(
            codec::from_json(&j, &ty)
                .map_err(|err| Diagnostic::error("Invalid resource identity", err.to_string())),
            upgrade_resource_identity
        );
        let d = try_diags!(encode(&v, &ty), upgrade_resource_identity);
        Ok(Response::new(pb::upgrade_resource_identity::Response {
            upgraded_identity: Some(pb::ResourceIdentityData {
                identity_data: Some(d),
            }),
            diagnostics: Vec::new(),
        }))
    }

    async fn configure_provider(
        &self,
        req: Request<pb::configure_provider::Request>,
    ) -> RpcResult<pb::configure_provider::Response> {
        let r = req.into_inner();
        let ty = self.inner.provider_schema.block.implied_type();
        let config = try_diags!(decode(r.config.as_ref(), &ty), configure_provider);
        match self
            .inner
            .provider
            .configure(config, r.terraform_version)
            .await
        {
            Ok(ctx) => {
                if let Ok(mut g) = self.inner.ctx.write() {
                    *g = Some(Arc::new(ctx));
                }
                Ok(Response::new(pb::configure_provider::Response::default()))
            }
            Err(d) => Ok(Response::new(pb::configure_provider::Response {
                diagnostics: d.to_proto(),
            })),
        }
    }

    async fn read_resource(
        &self,
        req: Request<pb::read_resource::Request>,
    ) -> RpcResult<pb::read_resource::Response> {
        let r = req.into_inner();
        log::debug!("ReadResource {}", r.type_name);
        let e = try_diags!(self.resource(&r.type_name), read_resource);
        let Some(ctx) = self.ctx() else {
            return Ok(Response::new(pb::read_resource::Response {
                diagnostics: not_configured().to_proto(),
                ..Default::default()
            }));
        };
        let state = try_diags!(decode(r.current_state.as_ref(), &e.ty), read_resource);
        if state.is_null() {
            return Ok(Response::new(pb::read_resource::Response {
                new_state: r.current_state,
                private: r.private,
                ..Default::default()
            }));
        }
        match e.imp.read(&ctx, &state, &e.schema).await {
            Ok(mut new) => {
                if !new.is_null() {
                    keep_equivalent(&e.schema.block, &state, &mut new);
                    null_write_only(&e.schema.block, &mut new);
                    normalize_blocks(&e.schema.block, &mut new);
                }
                let new_identity = identity_of(e.imp.identity(), &new);
                let new_state = try_diags!(encode(&new, &e.ty), read_resource);
                Ok(Response::new(pb::read_resource::Response {
                    new_state: Some(new_state),
                    private: r.private,
                    new_identity,
                    ..Default::default()
                }))
            }
            Err(d) => Ok(Response::new(pb::read_resource::Response {
                // Keep the prior state: a failed refresh must not drop the object.
                new_state: r.current_state,
                private: r.private,
                diagnostics: d.to_proto(),
                ..Default::default()
            })),
        }
    }

    async fn plan_resource_change(
        &self,
        req: Request<pb::plan_resource_change::Request>,
    ) -> RpcResult<pb::plan_resource_change::Response> {
        let r = req.into_inner();
        log::debug!("PlanResourceChange {}", r.type_name);
        let e = try_diags!(self.resource(&r.type_name), plan_resource_change);
        let prior = try_diags!(decode(r.prior_state.as_ref(), &e.ty), plan_resource_change);
        let proposed = try_diags!(
            decode(r.proposed_new_state.as_ref(), &e.ty),
            plan_resource_change
        );
        let config = try_diags!(decode(r.config.as_ref(), &e.ty), plan_resource_change);
        let mut diags = Diags::new();
        if !proposed.is_null() {
            let mut out = Vec::new();
            e.schema
                .block
                .validate(&config, &AttributePath::default(), &mut out);
            out.into_iter().for_each(|d| diags.push(d));
            diags.extend(e.imp.validate(&config));
            if diags.has_errors() {
                return Ok(Response::new(pb::plan_resource_change::Response {
                    diagnostics: diags.to_proto(),
                    ..Default::default()
                }));
            }
        }
        let mut p = plan::plan(&e.schema.block, &prior, &proposed, &config);
        if !p.planned.is_null() {
            let ctx = self.ctx();
            e.imp
                .modify_plan(ctx.as_deref(), &prior, &mut p.planned, &mut diags)
                .await;
            // modify_plan may change requires_replace values (e.g. an ID derived from config).
            if !prior.is_null() {
                let mut again = Vec::new();
                plan::replace_paths(
                    &e.schema.block,
                    &prior,
                    &p.planned,
                    &AttributePath::default(),
                    &mut again,
                );
                for path in again {
                    if !p.requires_replace.contains(&path) {
                        p.requires_replace.push(path);
                    }
                }
            }
            null_write_only(&e.schema.block, &mut p.planned);
            normalize_blocks(&e.schema.block, &mut p.planned);
        }
        let planned_identity = identity_of(e.imp.identity(), &p.planned).or(r.prior_identity);
        let planned = try_diags!(encode(&p.planned, &e.ty), plan_resource_change);
        Ok(Response::new(pb::plan_resource_change::Response {
            planned_state: Some(planned),
            requires_replace: p
                .requires_replace
                .iter()
                .map(AttributePath::to_proto)
                .collect(),
            planned_private: r.prior_private,
            diagnostics: diags.to_proto(),
            planned_identity,
            ..Default::default()
        }))
    }

    async fn apply_resource_change(
        &self,
        req: Request<pb::apply_resource_change::Request>,
    ) -> RpcResult<pb::apply_resource_change::Response> {
        let r = req.into_inner();
        log::debug!("ApplyResourceChange {}", r.type_name);
        let e = try_diags!(self.resource(&r.type_name), apply_resource_change);
        let Some(ctx) = self.ctx() else {
            return Ok(Response::new(pb::apply_resource_change::Response {
                new_state: r.prior_state,
                diagnostics: not_configured().to_proto(),
                ..Default::default()
            }));
        };
        let prior = try_diags!(decode(r.prior_state.as_ref(), &e.ty), apply_resource_change);
        let planned = try_diags!(
            decode(r.planned_state.as_ref(), &e.ty),
            apply_resource_change
        );
        let config = try_diags!(decode(r.config.as_ref(), &e.ty), apply_resource_change);
        let mut input = planned.clone();
        if !input.is_null() {
            merge_write_only(&e.schema.block, &mut input, &config);
        }
        match e.imp.apply(&ctx, &prior, input, &e.schema).await {
            Ok(new) => {
                let mut new = if planned.is_null() {
                    Value::Null
                } else {
                    overlay(&planned, new)
                };
                if !new.is_null() {
                    null_write_only(&e.schema.block, &mut new);
                    normalize_blocks(&e.schema.block, &mut new);
                    if !new.is_wholly_known() {
                        return Ok(Response::new(pb::apply_resource_change::Response {
                            new_state: r.prior_state,
                            diagnostics: Diags::from(Diagnostic::error(
                                "Provider internal error",
                                format!("{} left a value unknown after apply", r.type_name),
                            ))
                            .to_proto(),
                            ..Default::default()
                        }));
                    }
                }
                let new_identity = identity_of(e.imp.identity(), &new);
                let new_state = try_diags!(encode(&new, &e.ty), apply_resource_change);
                Ok(Response::new(pb::apply_resource_change::Response {
                    new_state: Some(new_state),
                    private: r.planned_private,
                    new_identity,
                    ..Default::default()
                }))
            }
            Err(mut d) => {
                // A half-done create or update reports what exists, so nothing is forgotten.
                let new_state = match d.partial_state.take() {
                    Some(j) => codec::from_json(&j, &e.ty)
                        .ok()
                        .map(|mut v| {
                            null_write_only(&e.schema.block, &mut v);
                            normalize_blocks(&e.schema.block, &mut v);
                            v
                        })
                        .filter(Value::is_wholly_known)
                        .and_then(|v| encode(&v, &e.ty).ok()),
                    None => r.prior_state,
                };
                Ok(Response::new(pb::apply_resource_change::Response {
                    new_state,
                    private: r.planned_private,
                    diagnostics: d.to_proto(),
                    ..Default::default()
                }))
            }
        }
    }

    async fn import_resource_state(
        &self,
        req: Request<pb::import_resource_state::Request>,
    ) -> RpcResult<pb::import_resource_state::Response> {
        let r = req.into_inner();
        log::debug!("ImportResourceState {}", r.type_name);
        let e = try_diags!(self.resource(&r.type_name), import_resource_state);
        let stub = if !r.id.is_empty() {
            try_diags!(e.imp.import(&r.id, &e.schema), import_resource_state)
        } else {
            let attrs = e.imp.identity();
            let id = r.identity.as_ref().and_then(|i| i.identity_data.as_ref());
            if attrs.is_empty() || id.is_none() {
                return Ok(Response::new(pb::import_resource_state::Response {
                    diagnostics: Diags::from(Diagnostic::error(
                        "Import needs an ID",
                        format!("{} is imported by ID; see its documentation.", r.type_name),
                    ))
                    .to_proto(),
                    ..Default::default()
                }));
            }
            let ident = try_diags!(decode(id, &identity_type(attrs)), import_resource_state);
            let mut stub = Value::null_object(&e.ty);
            if let Some(m) = stub.as_map_mut() {
                for (n, _) in attrs {
                    m.insert(n.to_string(), ident.get(n).clone());
                }
            }
            stub
        };
        let mut stub = stub;
        normalize_blocks(&e.schema.block, &mut stub);
        let identity = identity_of(e.imp.identity(), &stub);
        let state = try_diags!(encode(&stub, &e.ty), import_resource_state);
        Ok(Response::new(pb::import_resource_state::Response {
            imported_resources: vec![pb::import_resource_state::ImportedResource {
                type_name: r.type_name,
                state: Some(state),
                private: Vec::new(),
                identity,
            }],
            ..Default::default()
        }))
    }

    async fn move_resource_state(
        &self,
        req: Request<pb::move_resource_state::Request>,
    ) -> RpcResult<pb::move_resource_state::Response> {
        let r = req.into_inner();
        Ok(Response::new(pb::move_resource_state::Response {
            diagnostics: Diags::from(Diagnostic::error(
                "Move not supported",
                format!(
                    "{} cannot take state from {}.",
                    r.target_type_name, r.source_type_name
                ),
            ))
            .to_proto(),
            ..Default::default()
        }))
    }

    async fn read_data_source(
        &self,
        req: Request<pb::read_data_source::Request>,
    ) -> RpcResult<pb::read_data_source::Response> {
        let r = req.into_inner();
        let Some(e) = self.inner.data_sources.get(r.type_name.as_str()) else {
            return Ok(Response::new(pb::read_data_source::Response {
                diagnostics: unknown_type("data source", &r.type_name).to_proto(),
                ..Default::default()
            }));
        };
        let Some(ctx) = self.ctx() else {
            return Ok(Response::new(pb::read_data_source::Response {
                diagnostics: not_configured().to_proto(),
                ..Default::default()
            }));
        };
        let config = try_diags!(decode(r.config.as_ref(), &e.ty), read_data_source);
        let mut v = try_diags!(e.imp.read(&ctx, &config, &e.schema).await, read_data_source);
        normalize_blocks(&e.schema.block, &mut v);
        let state = try_diags!(encode(&v, &e.ty), read_data_source);
        Ok(Response::new(pb::read_data_source::Response {
            state: Some(state),
            ..Default::default()
        }))
    }

    async fn validate_ephemeral_resource_config(
        &self,
        req: Request<pb::validate_ephemeral_resource_config::Request>,
    ) -> RpcResult<pb::validate_ephemeral_resource_config::Response> {
        let r = req.into_inner();
        let Some(e) = self.inner.ephemerals.get(r.type_name.as_str()) else {
            return Ok(Response::new(
                pb::validate_ephemeral_resource_config::Response {
                    diagnostics: unknown_type("ephemeral resource", &r.type_name).to_proto(),
                },
            ));
        };
        let config = try_diags!(
            decode(r.config.as_ref(), &e.ty),
            validate_ephemeral_resource_config
        );
        let mut out = Vec::new();
        e.schema
            .block
            .validate(&config, &AttributePath::default(), &mut out);
        Ok(Response::new(
            pb::validate_ephemeral_resource_config::Response {
                diagnostics: out.iter().map(Diagnostic::to_proto).collect(),
            },
        ))
    }

    async fn open_ephemeral_resource(
        &self,
        req: Request<pb::open_ephemeral_resource::Request>,
    ) -> RpcResult<pb::open_ephemeral_resource::Response> {
        let r = req.into_inner();
        let Some(e) = self.inner.ephemerals.get(r.type_name.as_str()) else {
            return Ok(Response::new(pb::open_ephemeral_resource::Response {
                diagnostics: unknown_type("ephemeral resource", &r.type_name).to_proto(),
                ..Default::default()
            }));
        };
        let Some(ctx) = self.ctx() else {
            return Ok(Response::new(pb::open_ephemeral_resource::Response {
                diagnostics: not_configured().to_proto(),
                ..Default::default()
            }));
        };
        let config = try_diags!(decode(r.config.as_ref(), &e.ty), open_ephemeral_resource);
        let opened = try_diags!(
            e.imp.open(&ctx, &config, &e.schema).await,
            open_ephemeral_resource
        );
        let mut result = opened.result;
        normalize_blocks(&e.schema.block, &mut result);
        let result = try_diags!(encode(&result, &e.ty), open_ephemeral_resource);
        Ok(Response::new(pb::open_ephemeral_resource::Response {
            result: Some(result),
            renew_at: opened.renew_at.map(timestamp),
            private: Some(opened.private),
            ..Default::default()
        }))
    }

    async fn renew_ephemeral_resource(
        &self,
        req: Request<pb::renew_ephemeral_resource::Request>,
    ) -> RpcResult<pb::renew_ephemeral_resource::Response> {
        let r = req.into_inner();
        let (Some(e), Some(ctx)) = (self.inner.ephemerals.get(r.type_name.as_str()), self.ctx())
        else {
            return Ok(Response::new(pb::renew_ephemeral_resource::Response {
                diagnostics: not_configured().to_proto(),
                ..Default::default()
            }));
        };
        let (renew_at, private) = try_diags!(
            e.imp.renew(&ctx, r.private.unwrap_or_default()).await,
            renew_ephemeral_resource
        );
        Ok(Response::new(pb::renew_ephemeral_resource::Response {
            renew_at: renew_at.map(timestamp),
            private: Some(private),
            ..Default::default()
        }))
    }

    async fn close_ephemeral_resource(
        &self,
        req: Request<pb::close_ephemeral_resource::Request>,
    ) -> RpcResult<pb::close_ephemeral_resource::Response> {
        let r = req.into_inner();
        let (Some(e), Some(ctx)) = (self.inner.ephemerals.get(r.type_name.as_str()), self.ctx())
        else {
            return Ok(Response::new(pb::close_ephemeral_resource::Response {
                diagnostics: not_configured().to_proto(),
            }));
        };
        let diagnostics = match e.imp.close(&ctx, r.private.unwrap_or_default()).await {
            Ok(()) => Vec::new(),
            Err(d) => d.to_proto(),
        };
        Ok(Response::new(pb::close_ephemeral_resource::Response {
            diagnostics,
        }))
    }

    async fn get_functions(
        &self,
        _req: Request<pb::get_functions::Request>,
    ) -> RpcResult<pb::get_functions::Response> {
        // Provider-defined functions: the plumbing exists, the list is empty for now.
        Ok(Response::new(pb::get_functions::Response::default()))
    }

    async fn call_function(
        &self,
        req: Request<pb::call_function::Request>,
    ) -> RpcResult<pb::call_function::Response> {
        let r = req.into_inner();
        Ok(Response::new(pb::call_function::Response {
            result: None,
            error: Some(pb::FunctionError {
                text: format!("this provider has no function {:?}", r.name),
                function_argument: None,
            }),
        }))
    }

    async fn stop_provider(
        &self,
        _req: Request<pb::stop_provider::Request>,
    ) -> RpcResult<pb::stop_provider::Response> {
        Ok(Response::new(pb::stop_provider::Response::default()))
    }
}

fn capabilities() -> pb::ServerCapabilities {
    pb::ServerCapabilities {
        plan_destroy: true,
        get_provider_schema_optional: false,
        move_resource_state: false,
        ..Default::default()
    }
}
