//! Protocol tests: the tfplugin6 service driven in-process by the generated gRPC client, with a
//! test provider whose "remote system" is a map in memory.

use std::collections::BTreeMap;
use std::sync::Mutex;

use serde::{Deserialize, Serialize};
use tf_framework::codec::{from_msgpack, to_msgpack};
use tf_framework::schema::validators;
use tf_framework::{
    Attribute, Block, Diagnostic, Diags, DynResource, Provider, ProviderServer, Resource, Schema,
    Type, Value,
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
