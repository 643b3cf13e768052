//! The traits a provider implements: [`Provider`], [`Resource`], [`DataSource`],
//! [`EphemeralResource`]. Each resource is one type with a serde model; the framework converts
//! values, plans from the schema, and turns `Err(Diags)` into diagnostics.

use std::future::Future;
use std::pin::Pin;
use std::time::SystemTime;

use serde::de::DeserializeOwned;
use serde::Serialize;

use crate::codec;
use crate::diag::{Diagnostic, Diags};
use crate::schema::Schema;
use crate::value::Value;

/// What a renewal returns: the next renewal time and the new private data.
pub type Renewal = (Option<SystemTime>, Vec<u8>);

/// A boxed, sendable future.
pub type BoxFuture<'a, T> = Pin<Box<dyn Future<Output = T> + Send + 'a>>;

/// A provider: its configuration schema, how configuration becomes a context for resources, and
/// the list of resources, data sources and ephemeral resources (one line each).
pub trait Provider: Send + Sync + 'static {
    /// What `configure` builds and every resource call receives (API clients, settings).
    type Ctx: Send + Sync + 'static;
    /// The `provider "x" {}` block schema.
    fn schema(&self) -> Schema;
    /// Builds the context from the provider configuration (which may hold unknown values).
    fn configure(
        &self,
        config: Value,
        terraform_version: String,
    ) -> impl Future<Output = Result<Self::Ctx, Diags>> + Send;
    /// Managed resource types.
    fn resources(&self) -> Vec<Box<dyn DynResource<Self::Ctx>>>;
    /// Data source types.
    fn data_sources(&self) -> Vec<Box<dyn DynDataSource<Self::Ctx>>> {
        Vec::new()
    }
    /// Ephemeral resource types.
    fn ephemeral_resources(&self) -> Vec<Box<dyn DynEphemeral<Self::Ctx>>> {
        Vec::new()
    }
}

/// A managed resource. `None` from `read` means the object is gone (Terraform plans a create).
pub trait Resource: Send + Sync + 'static {
    /// The provider context.
    type Ctx: Send + Sync + 'static;
    /// The resource's attributes as a serde struct (field names = attribute names).
    type Model: Serialize + DeserializeOwned + Send + Sync + 'static;
    /// Full type name, e.g. `stack_vault_policy`.
    const TYPE_NAME: &'static str;
    /// Attributes that make up the resource identity (a subset of the model's string attributes).
    const IDENTITY: &'static [(&'static str, &'static str)] = &[];

    /// The schema; the plan engine reads its flags.
    fn schema() -> Schema;
    /// Creates the object. On a half-way failure return `Err(diags.with_partial_state(&model))`.
    fn create(
        &self,
        ctx: &Self::Ctx,
        plan: Self::Model,
    ) -> impl Future<Output = Result<Self::Model, Diags>> + Send;
    /// Reads the remote object; `Ok(None)` when it no longer exists.
    fn read(
        &self,
        ctx: &Self::Ctx,
        state: Self::Model,
    ) -> impl Future<Output = Result<Option<Self::Model>, Diags>> + Send;
    /// Updates in place (only called when no `requires_replace` attribute changed).
    fn update(
        &self,
        ctx: &Self::Ctx,
        prior: Self::Model,
        plan: Self::Model,
    ) -> impl Future<Output = Result<Self::Model, Diags>> + Send;
    /// Deletes the object. An object that is already gone is not an error.
    fn delete(
        &self,
        ctx: &Self::Ctx,
        state: Self::Model,
    ) -> impl Future<Output = Result<(), Diags>> + Send;
    /// Turns an import ID into a state stub that `read` can complete.
    fn import(id: &str) -> Result<Self::Model, Diags>;
    /// Extra configuration checks beyond the schema's validators (config may hold unknowns).
    fn validate(_config: &Value) -> Diags {
        Diags::new()
    }
    /// Adjusts a plan (the escape hatch; most resources need none). `prior` is null on create.
    fn modify_plan<'a>(
        &'a self,
        _ctx: Option<&'a Self::Ctx>,
        _prior: &'a Value,
        _planned: &'a mut Value,
        _diags: &'a mut Diags,
    ) -> impl Future<Output = ()> + Send + 'a {
        async {}
    }
    /// Upgrades state JSON written with an older schema version.
    fn upgrade_state(version: i64, state: serde_json::Value) -> Result<serde_json::Value, Diags> {
        let _ = version;
        Ok(state)
    }
}

/// A data source.
pub trait DataSource: Send + Sync + 'static {
    /// The provider context.
    type Ctx: Send + Sync + 'static;
    /// Attributes as a serde struct.
    type Model: Serialize + DeserializeOwned + Send + Sync + 'static;
    /// Full type name.
    const TYPE_NAME: &'static str;
    /// The schema.
    fn schema() -> Schema;
    /// Reads with a wholly known configuration.
    fn read(
        &self,
        ctx: &Self::Ctx,
        config: Self::Model,
    ) -> impl Future<Output = Result<Self::Model, Diags>> + Send;
}

/// What opening an ephemeral resource returns.
pub struct Opened<M> {
    /// The values Terraform may use (never stored).
    pub result: M,
    /// When to call `renew`.
    pub renew_at: Option<SystemTime>,
    /// Opaque data handed back to `renew` and `close` (e.g. a lease ID).
    pub private: Vec<u8>,
}

/// An ephemeral resource: values that exist only while Terraform runs.
pub trait EphemeralResource: Send + Sync + 'static {
    /// The provider context.
    type Ctx: Send + Sync + 'static;
    /// Attributes as a serde struct.
    type Model: Serialize + DeserializeOwned + Send + Sync + 'static;
    /// Full type name.
    const TYPE_NAME: &'static str;
    /// The schema.
    fn schema() -> Schema;
    /// Opens (reads, issues) the value.
    fn open(
        &self,
        ctx: &Self::Ctx,
        config: Self::Model,
    ) -> impl Future<Output = Result<Opened<Self::Model>, Diags>> + Send;
    /// Renews; returns the next renewal time and the new private data.
    fn renew<'a>(
        &'a self,
        _ctx: &'a Self::Ctx,
        private: Vec<u8>,
    ) -> impl Future<Output = Result<Renewal, Diags>> + Send + 'a {
        async move { Ok((None, private)) }
    }
    /// Closes (revokes) at the end of the run.
    fn close<'a>(
        &'a self,
        _ctx: &'a Self::Ctx,
        _private: Vec<u8>,
    ) -> impl Future<Output = Result<(), Diags>> + Send + 'a {
        async { Ok(()) }
    }
}

/// Converts a value to a model (unknowns read as null).
pub fn to_model<M: DeserializeOwned>(v: &Value) -> Result<M, Diags> {
    serde_json::from_value(codec::to_plain_json(v)).map_err(|e| {
        Diagnostic::error(
            "Provider internal error",
            format!("the value does not match the resource model: {e}"),
        )
        .into()
    })
}

/// Converts a model to a value of the schema's type.
pub fn from_model<M: Serialize>(m: &M, schema: &Schema) -> Result<Value, Diags> {
    let j = serde_json::to_value(m).map_err(|e| {
        Diags::from(Diagnostic::error(
            "Provider internal error",
            format!("model: {e}"),
        ))
    })?;
    codec::from_json(&j, &schema.block.implied_type()).map_err(|e| {
        Diagnostic::error(
            "Provider internal error",
            format!("model does not fit schema: {e}"),
        )
        .into()
    })
}

/// Type-erased [`Resource`] (what the server holds).
pub trait DynResource<C>: Send + Sync {
    /// Full type name.
    fn type_name(&self) -> &'static str;
    /// The schema.
    fn schema(&self) -> Schema;
    /// Identity attributes.
    fn identity(&self) -> &'static [(&'static str, &'static str)];
    /// See [`Resource::validate`].
    fn validate(&self, config: &Value) -> Diags;
    /// Checks that the model and the schema agree (an empty object converts both ways).
    fn check_model(&self) -> Result<(), Diags>;
    /// See [`Resource::upgrade_state`].
    fn upgrade_state(
        &self,
        version: i64,
        state: serde_json::Value,
    ) -> Result<serde_json::Value, Diags>;
    /// See [`Resource::import`].
    fn import(&self, id: &str, schema: &Schema) -> Result<Value, Diags>;
    /// See [`Resource::modify_plan`].
    fn modify_plan<'a>(
        &'a self,
        ctx: Option<&'a C>,
        prior: &'a Value,
        planned: &'a mut Value,
        diags: &'a mut Diags,
    ) -> BoxFuture<'a, ()>;
    /// Create, update or delete, by what is null.
    fn apply<'a>(
        &'a self,
        ctx: &'a C,
        prior: &'a Value,
        planned: Value,
        schema: &'a Schema,
    ) -> BoxFuture<'a, Result<Value, Diags>>;
    /// See [`Resource::read`].
    fn read<'a>(
        &'a self,
        ctx: &'a C,
        state: &'a Value,
        schema: &'a Schema,
    ) -> BoxFuture<'a, Result<Value, Diags>>;
}

impl<R: Resource> DynResource<R::Ctx> for R {
    fn type_name(&self) -> &'static str {
        R::TYPE_NAME
    }
    fn schema(&self) -> Schema {
        R::schema()
    }
    fn identity(&self) -> &'static [(&'static str, &'static str)] {
        R::IDENTITY
    }
    fn validate(&self, config: &Value) -> Diags {
        R::validate(config)
    }
    fn check_model(&self) -> Result<(), Diags> {
        let schema = R::schema();
        let model: R::Model = to_model(&schema.empty_value())?;
        from_model(&model, &schema).map(|_| ())
    }
    fn upgrade_state(
        &self,
        version: i64,
        state: serde_json::Value,
    ) -> Result<serde_json::Value, Diags> {
        R::upgrade_state(version, state)
    }
    fn import(&self, id: &str, schema: &Schema) -> Result<Value, Diags> {
        from_model(&R::import(id)?, schema)
    }
    fn modify_plan<'a>(
        &'a self,
        ctx: Option<&'a R::Ctx>,
        prior: &'a Value,
        planned: &'a mut Value,
        diags: &'a mut Diags,
    ) -> BoxFuture<'a, ()> {
        Box::pin(Resource::modify_plan(self, ctx, prior, planned, diags))
    }
    fn apply<'a>(
        &'a self,
        ctx: &'a R::Ctx,
        prior: &'a Value,
        planned: Value,
        schema: &'a Schema,
    ) -> BoxFuture<'a, Result<Value, Diags>> {
        Box::pin(async move {
            if planned.is_null() {
                if prior.is_null() {
                    return Ok(Value::Null);
                }
                Resource::delete(self, ctx, to_model(prior)?).await?;
                return Ok(Value::Null);
            }
            let result = if prior.is_null() {
                Resource::create(self, ctx, to_model(&planned)?).await
            } else {
                Resource::update(self, ctx, to_model(prior)?, to_model(&planned)?).await
            };
            match result {
                Ok(m) => from_model(&m, schema),
                Err(mut diags) => {
                    // Keep what was created: the partial state goes back to Terraform.
                    if let Some(j) = diags.partial_state.take() {
                        if let Ok(v) = codec::from_json(&j, &schema.block.implied_type()) {
                            diags.partial_state =
                                Some(codec::to_state_json(&v, &schema.block.implied_type()));
                        }
                    }
                    Err(diags)
                }
            }
        })
    }
    fn read<'a>(
        &'a self,
        ctx: &'a R::Ctx,
        state: &'a Value,
        schema: &'a Schema,
    ) -> BoxFuture<'a, Result<Value, Diags>> {
        Box::pin(async move {
            match Resource::read(self, ctx, to_model(state)?).await? {
                Some(m) => from_model(&m, schema),
                None => Ok(Value::Null),
            }
        })
    }
}

/// Type-erased [`DataSource`].
pub trait DynDataSource<C>: Send + Sync {
    /// Full type name.
    fn type_name(&self) -> &'static str;
    /// The schema.
    fn schema(&self) -> Schema;
    /// Reads.
    fn read<'a>(
        &'a self,
        ctx: &'a C,
        config: &'a Value,
        schema: &'a Schema,
    ) -> BoxFuture<'a, Result<Value, Diags>>;
}

impl<D: DataSource> DynDataSource<D::Ctx> for D {
    fn type_name(&self) -> &'static str {
        D::TYPE_NAME
    }
    fn schema(&self) -> Schema {
        D::schema()
    }
    fn read<'a>(
        &'a self,
        ctx: &'a D::Ctx,
        config: &'a Value,
        schema: &'a Schema,
    ) -> BoxFuture<'a, Result<Value, Diags>> {
        Box::pin(async move {
            let m = DataSource::read(self, ctx, to_model(config)?).await?;
            from_model(&m, schema)
        })
    }
}

/// Type-erased [`EphemeralResource`].
pub trait DynEphemeral<C>: Send + Sync {
    /// Full type name.
    fn type_name(&self) -> &'static str;
    /// The schema.
    fn schema(&self) -> Schema;
    /// Checks that the model and the schema agree.
    fn check_model(&self) -> Result<(), Diags>;
    /// Opens.
    fn open<'a>(
        &'a self,
        ctx: &'a C,
        config: &'a Value,
        schema: &'a Schema,
    ) -> BoxFuture<'a, Result<Opened<Value>, Diags>>;
    /// Renews.
    fn renew<'a>(&'a self, ctx: &'a C, private: Vec<u8>) -> BoxFuture<'a, Result<Renewal, Diags>>;
    /// Closes.
    fn close<'a>(&'a self, ctx: &'a C, private: Vec<u8>) -> BoxFuture<'a, Result<(), Diags>>;
}

impl<E: EphemeralResource> DynEphemeral<E::Ctx> for E {
    fn type_name(&self) -> &'static str {
        E::TYPE_NAME
    }
    fn schema(&self) -> Schema {
        E::schema()
    }
    fn check_model(&self) -> Result<(), Diags> {
        let schema = E::schema();
        let model: E::Model = to_model(&schema.empty_value())?;
        from_model(&model, &schema).map(|_| ())
    }
    fn open<'a>(
        &'a self,
        ctx: &'a E::Ctx,
        config: &'a Value,
        schema: &'a Schema,
    ) -> BoxFuture<'a, Result<Opened<Value>, Diags>> {
        Box::pin(async move {
            let o = EphemeralResource::open(self, ctx, to_model(config)?).await?;
            Ok(Opened {
                result: from_model(&o.result, schema)?,
                renew_at: o.renew_at,
                private: o.private,
            })
        })
    }
    fn renew<'a>(
        &'a self,
        ctx: &'a E::Ctx,
        private: Vec<u8>,
    ) -> BoxFuture<'a, Result<Renewal, Diags>> {
        Box::pin(EphemeralResource::renew(self, ctx, private))
    }
    fn close<'a>(&'a self, ctx: &'a E::Ctx, private: Vec<u8>) -> BoxFuture<'a, Result<(), Diags>> {
        Box::pin(EphemeralResource::close(self, ctx, private))
    }
}
