//! Protocol tests: the tfplugin6 service driven in-process by the generated gRPC client, with a
//! test provider whose "remote system" is a map in memory.

use std::collections::BTreeMap;
use std::sync::Mutex;

use serde::{Deserialize, Serialize};
use tf_framework::codec::{from_msgpack, to_msgpack};
use tf_framework::schema::validators;
use tf_framework::schema::Nesting;
use tf_framework::{
    Attribute, Block, DataSource, Diagnostic, Diags, DynDataSource, DynEphemeral, DynResource,
    EphemeralResource, Opened, Provider, ProviderServer, Resource, Schema, Type, Value,
};
use tfplugin_proto::tfplugin6 as pb;
use tfplugin_proto::tfplugin6::provider_client::ProviderClient;
use tonic::transport::Channel;

#[derive(Default)]
struct Store(Mutex<BTreeMap<String, String>>);

struct TestProvider;

impl Provider for TestProvider {
    type Ctx = Store;
    fn schema(&self) -> Schema {
        Schema::new(Block::new("test").attr(Attribute::string("prefix").optional().doc("p")))
    }
    async fn configure(&self, _config: Value, _v: String) -> Result<Store, Diags> {
        Ok(Store::default())
    }
    fn resources(&self) -> Vec<Box<dyn DynResource<Store>>> {
        vec![Box::new(Thing)]
    }
    fn data_sources(&self) -> Vec<Box<dyn DynDataSource<Store>>> {
        vec![Box::new(Echo)]
    }
    fn ephemeral_resources(&self) -> Vec<Box<dyn DynEphemeral<Store>>> {
        vec![Box::new(Lease)]
    }
}

/// Data source: echoes its input, upper-cased.
struct Echo;

#[derive(Serialize, Deserialize)]
struct EchoModel {
    input: Option<String>,
    output: Option<String>,
    tags: Option<Vec<Tag>>,
}

#[derive(Serialize, Deserialize)]
struct Tag {
    key: Option<String>,
    value: Option<String>,
}

impl DataSource for Echo {
    type Ctx = Store;
    type Model = EchoModel;
    const TYPE_NAME: &'static str = "test_echo";
    fn schema() -> Schema {
        Schema::new(
            Block::new("Echo.")
                .attr(Attribute::string("input").required())
                .attr(Attribute::string("output").computed())
                .attr(
                    Attribute::nested(
                        "tags",
                        Nesting::List,
                        vec![
                            Attribute::string("key").required(),
                            Attribute::string("value").optional(),
                        ],
                    )
                    .optional(),
                ),
        )
    }
    async fn read(&self, _ctx: &Store, config: EchoModel) -> Result<EchoModel, Diags> {
        Ok(EchoModel {
            output: config.input.as_deref().map(str::to_uppercase),
            ..config
        })
    }
}

/// Ephemeral resource: a "lease" recorded in the store while open.
struct Lease;

#[derive(Serialize, Deserialize)]
struct LeaseModel {
    name: Option<String>,
    secret: Option<String>,
}

impl EphemeralResource for Lease {
    type Ctx = Store;
    type Model = LeaseModel;
    const TYPE_NAME: &'static str = "test_lease";
    fn schema() -> Schema {
        Schema::new(
            Block::new("Lease.")
                .attr(Attribute::string("name").required())
                .attr(Attribute::string("secret").computed().sensitive()),
        )
    }
    async fn open(&self, ctx: &Store, config: LeaseModel) -> Result<Opened<LeaseModel>, Diags> {
        let name = config.name.clone().unwrap_or_default();
        ctx.0
            .lock()
            .map_err(|_| Diags::new())?
            .insert(format!("lease/{name}"), "open".into());
        Ok(Opened {
            result: LeaseModel {
                secret: Some(format!("s3cret-{name}")),
                ..config
            },
            renew_at: Some(std::time::SystemTime::now() + std::time::Duration::from_secs(60)),
            private: name.into_bytes(),
        })
    }
    async fn renew(
        &self,
        ctx: &Store,
        private: Vec<u8>,
    ) -> Result<tf_framework::resource::Renewal, Diags> {
        let name = String::from_utf8_lossy(&private).to_string();
        ctx.0
            .lock()
            .map_err(|_| Diags::new())?
            .insert(format!("lease/{name}"), "renewed".into());
        Ok((None, private))
    }
    async fn close(&self, ctx: &Store, private: Vec<u8>) -> Result<(), Diags> {
        let name = String::from_utf8_lossy(&private).to_string();
        ctx.0
            .lock()
            .map_err(|_| Diags::new())?
            .remove(&format!("lease/{name}"));
        Ok(())
    }
}

struct Thing;

#[derive(Serialize, Deserialize)]
struct ThingModel {
    id: Option<String>,
    name: Option<String>,
    body: Option<String>,
    ttl: Option<String>,
    secret_wo: Option<String>,
    extra: Option<serde_json::Value>,
}

impl Resource for Thing {
    type Ctx = Store;
    type Model = ThingModel;
    const TYPE_NAME: &'static str = "test_thing";
    const IDENTITY: &'static [(&'static str, &'static str)] = &[("name", "Name.")];

    fn schema() -> Schema {
        Schema::new(
            Block::new("A thing.")
                .attr(Attribute::string("id").computed().use_state_for_unknown())
                .attr(Attribute::string("name").required().requires_replace())
                .attr(Attribute::string("body").optional())
                .attr(
                    Attribute::string("ttl")
                        .default("1h")
                        .validate(validators::duration()),
                )
                .attr(Attribute::string("secret_wo").optional().write_only())
                .attr(Attribute::typed("extra", Type::Dynamic).optional()),
        )
        .version(1)
    }
    /// Version 0 called `body` `content`.
    fn upgrade_state(
        version: i64,
        mut state: serde_json::Value,
    ) -> Result<serde_json::Value, Diags> {
        if version == 0 {
            if let Some(m) = state.as_object_mut() {
                let content = m.remove("content").unwrap_or_default();
                m.insert("body".into(), content);
            }
        }
        Ok(state)
    }
    async fn create(&self, ctx: &Store, plan: ThingModel) -> Result<ThingModel, Diags> {
        let name = plan.name.clone().unwrap_or_default();
        let body = format!(
            "{}|{}",
            plan.body.clone().unwrap_or_default(),
            plan.secret_wo.is_some()
        );
        ctx.0
            .lock()
            .map_err(|_| Diags::new())?
            .insert(name.clone(), body);
        Ok(ThingModel {
            id: Some(name),
            ..plan
        })
    }
    async fn read(&self, ctx: &Store, state: ThingModel) -> Result<Option<ThingModel>, Diags> {
        let name = state.name.clone().unwrap_or_default();
        let found = ctx.0.lock().map_err(|_| Diags::new())?.get(&name).cloned();
        Ok(found.map(|b| ThingModel {
            body: b.split('|').next().map(str::to_string),
            ..state
        }))
    }
    async fn update(
        &self,
        ctx: &Store,
        _p: ThingModel,
        plan: ThingModel,
    ) -> Result<ThingModel, Diags> {
        self.create(ctx, plan).await
    }
    async fn delete(&self, ctx: &Store, state: ThingModel) -> Result<(), Diags> {
        ctx.0
            .lock()
            .map_err(|_| Diags::new())?
            .remove(&state.name.unwrap_or_default());
        Ok(())
    }
    fn import(id: &str) -> Result<ThingModel, Diags> {
        if id.contains('/') {
            return Err(Diagnostic::error("Invalid import ID", "no slashes").into());
        }
        Ok(ThingModel {
            id: Some(id.into()),
            name: Some(id.into()),
            body: None,
            ttl: None,
            secret_wo: None,
            extra: None,
        })
    }
}

async fn client() -> ProviderClient<Channel> {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let addr = listener.local_addr().expect("addr");
    let svc = pb::provider_server::ProviderServer::new(ProviderServer::new(TestProvider));
    tokio::spawn(async move {
        tonic::transport::Server::builder()
            .add_service(svc)
            .serve_with_incoming(tokio_stream::wrappers::TcpListenerStream::new(listener))
            .await
            .expect("serve");
    });
    ProviderClient::connect(format!("http://{addr}"))
        .await
        .expect("connect")
}

fn ty() -> Type {
    <Thing as Resource>::schema().block.implied_type()
}

fn dv(v: &Value) -> Option<pb::DynamicValue> {
    Some(pb::DynamicValue {
        msgpack: to_msgpack(v, &ty()).expect("encode"),
        json: vec![],
    })
}

fn val(d: Option<pb::DynamicValue>) -> Value {
    from_msgpack(&d.expect("value").msgpack, &ty()).expect("decode")
}

fn config(name: &str, body: Value) -> Value {
    Value::object([
        ("id", Value::Null),
        ("name", Value::from(name)),
        ("body", body),
        ("ttl", Value::Null),
        ("secret_wo", Value::from("hunter2")),
        (
            "extra",
            Value::Dynamic(
                Type::list(Type::String),
                Box::new(Value::List(vec![Value::from("a"), Value::Unknown])),
            ),
        ),
    ])
}

async fn configure(c: &mut ProviderClient<Channel>) {
    let pty = Type::Object([("prefix".to_string(), Type::String)].into_iter().collect());
    let cfg = pb::DynamicValue {
        msgpack: to_msgpack(&Value::object([("prefix", Value::Unknown)]), &pty).expect("enc"),
        json: vec![],
    };
    let r = c
        .configure_provider(pb::configure_provider::Request {
            config: Some(cfg),
            ..Default::default()
        })
        .await
        .expect("rpc")
        .into_inner();
    assert!(r.diagnostics.is_empty(), "{:?}", r.diagnostics);
}

#[tokio::test]
async fn schema_lists_resource_with_flags() {
    let mut c = client().await;
    let r = c
        .get_provider_schema(pb::get_provider_schema::Request {})
        .await
        .expect("rpc")
        .into_inner();
    assert!(r.provider.is_some());
    let s = &r.resource_schemas["test_thing"];
    let block = s.block.as_ref().expect("block");
    let wo = block
        .attributes
        .iter()
        .find(|a| a.name == "secret_wo")
        .expect("secret_wo");
    assert!(wo.write_only && wo.optional);
    let ttl = block
        .attributes
        .iter()
        .find(|a| a.name == "ttl")
        .expect("ttl");
    assert!(ttl.optional && ttl.computed);
    assert_eq!(ttl.r#type, b"\"string\"");
    assert!(r.server_capabilities.expect("caps").plan_destroy);
    let ids = c
        .get_resource_identity_schemas(pb::get_resource_identity_schemas::Request {})
        .await
        .expect("rpc")
        .into_inner();
    assert_eq!(
        ids.identity_schemas["test_thing"].identity_attributes[0].name,
        "name"
    );
}

#[tokio::test]
async fn plan_create_marks_computed_unknown_and_nulls_write_only() {
    let mut c = client().await;
    configure(&mut c).await;
    let cfg = config("a", Value::Unknown);
    let r = c
        .plan_resource_change(pb::plan_resource_change::Request {
            type_name: "test_thing".into(),
            prior_state: dv(&Value::Null),
            proposed_new_state: dv(&cfg),
            config: dv(&cfg),
            ..Default::default()
        })
        .await
        .expect("rpc")
        .into_inner();
    assert!(r.diagnostics.is_empty(), "{:?}", r.diagnostics);
    let raw = &r.planned_state.as_ref().expect("planned").msgpack;
    // The computed id is planned as Terraform's plain unknown, fixext1 type 0.
    assert!(
        raw.windows(5).any(|w| w == [0xa2, b'i', b'd', 0xd4, 0x00]),
        "{raw:x?}"
    );
    let planned = val(r.planned_state);
    assert_eq!(planned.get("id"), &Value::Unknown);
    assert_eq!(
        planned.get("body"),
        &Value::Unknown,
        "unknown config stays unknown"
    );
    assert_eq!(planned.get("ttl"), &Value::from("1h"), "default applied");
    assert_eq!(
        planned.get("secret_wo"),
        &Value::Null,
        "write-only never planned"
    );
    assert_eq!(
        planned.get("extra"),
        cfg.get("extra"),
        "dynamic value with an unknown element round-trips"
    );
    assert!(!r.legacy_type_system);
}

#[tokio::test]
async fn validation_errors_carry_attribute_paths() {
    let mut c = client().await;
    let mut cfg = config("a", Value::from("b"));
    if let Some(m) = cfg.as_map_mut() {
        m.insert("ttl".into(), Value::from("ten minutes"));
    }
    let r = c
        .validate_resource_config(pb::validate_resource_config::Request {
            type_name: "test_thing".into(),
            config: dv(&cfg),
            ..Default::default()
        })
        .await
        .expect("rpc")
        .into_inner();
    assert_eq!(r.diagnostics.len(), 1, "{:?}", r.diagnostics);
    let d = &r.diagnostics[0];
    assert_eq!(d.severity, pb::diagnostic::Severity::Error as i32);
    let step = &d.attribute.as_ref().expect("path").steps[0];
    assert_eq!(
        step.selector,
        Some(pb::attribute_path::step::Selector::AttributeName(
            "ttl".into()
        ))
    );
}

#[tokio::test]
async fn apply_read_import_update_replace_and_destroy() {
    let mut c = client().await;
    configure(&mut c).await;
    let cfg = config("a", Value::from("v1"));
    let plan = c
        .plan_resource_change(pb::plan_resource_change::Request {
            type_name: "test_thing".into(),
            prior_state: dv(&Value::Null),
            proposed_new_state: dv(&cfg),
            config: dv(&cfg),
            ..Default::default()
        })
        .await
        .expect("rpc")
        .into_inner();
    let applied = c
        .apply_resource_change(pb::apply_resource_change::Request {
            type_name: "test_thing".into(),
            prior_state: dv(&Value::Null),
            planned_state: plan.planned_state.clone(),
            config: dv(&cfg),
            ..Default::default()
        })
        .await
        .expect("rpc")
        .into_inner();
    assert!(applied.diagnostics.is_empty(), "{:?}", applied.diagnostics);
    assert!(applied.new_identity.is_some());
    let state = val(applied.new_state);
    assert_eq!(state.get("id"), &Value::from("a"));
    assert_eq!(state.get("secret_wo"), &Value::Null);

    // Import by ID gives a stub that read completes.
    let imp = c
        .import_resource_state(pb::import_resource_state::Request {
            type_name: "test_thing".into(),
            id: "a".into(),
            ..Default::default()
        })
        .await
        .expect("rpc")
        .into_inner();
    let stub = imp.imported_resources[0].state.clone();
    let read = c
        .read_resource(pb::read_resource::Request {
            type_name: "test_thing".into(),
            current_state: stub,
            ..Default::default()
        })
        .await
        .expect("rpc")
        .into_inner();
    assert_eq!(val(read.new_state).get("body"), &Value::from("v1"));
    let bad = c
        .import_resource_state(pb::import_resource_state::Request {
            type_name: "test_thing".into(),
            id: "x/y".into(),
            ..Default::default()
        })
        .await
        .expect("rpc")
        .into_inner();
    assert_eq!(bad.diagnostics[0].summary, "Invalid import ID");

    // Renaming forces replacement.
    let mut cfg2 = config("b", Value::from("v1"));
    let mut proposed = cfg2.clone();
    if let (Some(m), Some(p)) = (cfg2.as_map_mut(), proposed.as_map_mut()) {
        m.insert("extra".into(), Value::Null);
        p.insert("extra".into(), Value::Null);
        p.insert("id".into(), Value::from("a"));
        p.insert("ttl".into(), Value::from("1h"));
    }
    let upd = c
        .plan_resource_change(pb::plan_resource_change::Request {
            type_name: "test_thing".into(),
            prior_state: dv(&state),
            proposed_new_state: dv(&proposed),
            config: dv(&cfg2),
            ..Default::default()
        })
        .await
        .expect("rpc")
        .into_inner();
    assert_eq!(upd.requires_replace.len(), 1);

    // Out-of-band delete: read returns null so Terraform plans a create.
    let del = c
        .apply_resource_change(pb::apply_resource_change::Request {
            type_name: "test_thing".into(),
            prior_state: dv(&state),
            planned_state: dv(&Value::Null),
            config: dv(&Value::Null),
            ..Default::default()
        })
        .await
        .expect("rpc")
        .into_inner();
    assert!(del.diagnostics.is_empty());
    assert_eq!(val(del.new_state), Value::Null);
    let gone = c
        .read_resource(pb::read_resource::Request {
            type_name: "test_thing".into(),
            current_state: dv(&state),
            ..Default::default()
        })
        .await
        .expect("rpc")
        .into_inner();
    assert_eq!(val(gone.new_state), Value::Null);
}

#[tokio::test]
async fn upgrade_state_from_json_with_dynamic() {
    let mut c = client().await;
    let raw = serde_json::json!({
        "id": "a", "name": "a", "body": null, "ttl": "1h", "secret_wo": null,
        "extra": {"value": {"k": 1}, "type": ["object", {"k": "number"}]},
        "removed_attr": "dropped"
    });
    let r = c
        .upgrade_resource_state(pb::upgrade_resource_state::Request {
            type_name: "test_thing".into(),
            version: 0,
            raw_state: Some(pb::RawState {
                json: serde_json::to_vec_pretty(&raw).expect("json"),
                flatmap: Default::default(),
            }),
        })
        .await
        .expect("rpc")
        .into_inner();
    assert!(r.diagnostics.is_empty(), "{:?}", r.diagnostics);
    let v = val(r.upgraded_state);
    assert_eq!(
        v.get("extra"),
        &Value::Dynamic(
            Type::Object([("k".to_string(), Type::Number)].into_iter().collect()),
            Box::new(Value::object([("k", Value::from(1))]))
        )
    );
}

#[tokio::test]
async fn unknown_types_are_diagnostics_not_grpc_errors() {
    let mut c = client().await;
    let r = c
        .read_resource(pb::read_resource::Request {
            type_name: "nope".into(),
            ..Default::default()
        })
        .await
        .expect("rpc answers")
        .into_inner();
    assert_eq!(r.diagnostics[0].summary, "Unknown resource type");
}

#[tokio::test]
async fn state_upgrade_from_older_schema_version() {
    let mut c = client().await;
    let raw = serde_json::json!({"id": "a", "name": "a", "content": "old", "ttl": "1h", "secret_wo": null, "extra": null});
    let r = c
        .upgrade_resource_state(pb::upgrade_resource_state::Request {
            type_name: "test_thing".into(),
            version: 0,
            raw_state: Some(pb::RawState {
                json: serde_json::to_vec(&raw).expect("json"),
                flatmap: Default::default(),
            }),
        })
        .await
        .expect("rpc")
        .into_inner();
    assert!(r.diagnostics.is_empty(), "{:?}", r.diagnostics);
    assert_eq!(val(r.upgraded_state).get("body"), &Value::from("old"));
}

#[tokio::test]
async fn data_source_with_nested_attribute() {
    let mut c = client().await;
    configure(&mut c).await;
    let schema = c
        .get_provider_schema(pb::get_provider_schema::Request {})
        .await
        .expect("rpc")
        .into_inner();
    let tags = schema.data_source_schemas["test_echo"]
        .block
        .as_ref()
        .expect("block")
        .attributes
        .iter()
        .find(|a| a.name == "tags")
        .cloned()
        .expect("tags");
    assert!(tags.r#type.is_empty(), "a nested attribute has no `type`");
    let nested = tags.nested_type.expect("nested_type");
    assert_eq!(nested.nesting, pb::schema::object::NestingMode::List as i32);
    assert_eq!(nested.attributes.len(), 2);

    let ty = <Echo as DataSource>::schema().block.implied_type();
    let cfg = Value::object([
        ("input", Value::from("hi")),
        ("output", Value::Null),
        (
            "tags",
            Value::List(vec![Value::object([
                ("key", Value::from("k")),
                ("value", Value::Null),
            ])]),
        ),
    ]);
    let r = c
        .read_data_source(pb::read_data_source::Request {
            type_name: "test_echo".into(),
            config: Some(pb::DynamicValue {
                msgpack: to_msgpack(&cfg, &ty).expect("enc"),
                json: vec![],
            }),
            ..Default::default()
        })
        .await
        .expect("rpc")
        .into_inner();
    assert!(r.diagnostics.is_empty(), "{:?}", r.diagnostics);
    let state = from_msgpack(&r.state.expect("state").msgpack, &ty).expect("dec");
    assert_eq!(state.get("output"), &Value::from("HI"));
    assert_eq!(state.get("tags"), cfg.get("tags"));
}

#[tokio::test]
async fn ephemeral_open_renew_close() {
    let mut c = client().await;
    configure(&mut c).await;
    let ty = <Lease as EphemeralResource>::schema().block.implied_type();
    let cfg = Value::object([("name", Value::from("db")), ("secret", Value::Null)]);
    let opened = c
        .open_ephemeral_resource(pb::open_ephemeral_resource::Request {
            type_name: "test_lease".into(),
            config: Some(pb::DynamicValue {
                msgpack: to_msgpack(&cfg, &ty).expect("enc"),
                json: vec![],
            }),
            ..Default::default()
        })
        .await
        .expect("rpc")
        .into_inner();
    assert!(opened.diagnostics.is_empty(), "{:?}", opened.diagnostics);
    assert!(opened.renew_at.is_some());
    let result = from_msgpack(&opened.result.expect("result").msgpack, &ty).expect("dec");
    assert_eq!(result.get("secret"), &Value::from("s3cret-db"));
    let renewed = c
        .renew_ephemeral_resource(pb::renew_ephemeral_resource::Request {
            type_name: "test_lease".into(),
            private: opened.private.clone(),
        })
        .await
        .expect("rpc")
        .into_inner();
    assert!(renewed.diagnostics.is_empty() && renewed.renew_at.is_none());
    let closed = c
        .close_ephemeral_resource(pb::close_ephemeral_resource::Request {
            type_name: "test_lease".into(),
            private: opened.private,
        })
        .await
        .expect("rpc")
        .into_inner();
    assert!(closed.diagnostics.is_empty());
}

#[tokio::test]
async fn functions_plumbing_answers() {
    let mut c = client().await;
    let r = c
        .call_function(pb::call_function::Request {
            name: "nope".into(),
            arguments: vec![],
        })
        .await
        .expect("rpc")
        .into_inner();
    assert!(r.error.expect("function error").text.contains("nope"));
}
