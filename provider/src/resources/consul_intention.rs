//! `stack_consul_intention`: one `source → destination` edge. Each resource owns only its own
//! source inside the destination's `service-intentions` config entry; writes are merged with
//! check-and-set and retried on conflict, so parallel applies and other modules lose nothing.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, OnceLock};
use std::time::Duration;

use serde::{Deserialize, Serialize};
use serde_json::{json, Value as Json};
use stack_core::ConsulClient;
use tf_framework::schema::validators::one_of;
use tf_framework::{Attribute, Block, Diagnostic, Diags, Resource, Schema, Value};

use crate::errors::fail;
use crate::ProviderData;

/// The resource.
pub struct ConsulIntention;

/// State and configuration of `stack_consul_intention`.
#[derive(Serialize, Deserialize, Clone, Debug, Default)]
pub struct ConsulIntentionModel {
    /// `source>destination`.
    pub id: Option<String>,
    /// Source service (`*` for any).
    pub source: Option<String>,
    /// Destination service (`*` for any).
    pub destination: Option<String>,
    /// `allow` or `deny`.
    pub action: Option<String>,
    /// Human description.
    pub description: Option<String>,
}

const KIND: &str = "service-intentions";
/// CAS attempts before giving up; each conflict means another writer just succeeded.
const CAS_ATTEMPTS: u32 = 60;

fn check_service(v: &Value) -> Result<(), (String, String)> {
    match v.as_str() {
        Some(s)
            if s.is_empty()
                || s.contains('/')
                || s.contains('>')
                || s.chars().any(char::is_whitespace) =>
        {
            Err((
                "Invalid service name".into(),
                format!("{s:?}: give a Consul service name or `*` (no `/`, `>` or spaces)."),
            ))
        }
        _ => Ok(()),
    }
}

/// Our source inside a `Sources` list: same name, default namespace and partition, no peer.
fn is_ours(src: &Json, name: &str) -> bool {
    let blank = |k: &str| {
        src.get(k)
            .and_then(Json::as_str)
            .is_none_or(|v| v.is_empty() || v == "default")
    };
    src.get("Name").and_then(Json::as_str) == Some(name)
        && blank("Namespace")
        && blank("Partition")
        && blank("Peer")
}

/// One lock per (Consul, destination): resources of one apply queue up for the entry instead of
/// racing each other's CAS writes. CAS still guards against other processes.
fn entry_lock(consul: &ConsulClient, destination: &str) -> Arc<tokio::sync::Mutex<()>> {
    static LOCKS: OnceLock<Mutex<HashMap<String, Arc<tokio::sync::Mutex<()>>>>> = OnceLock::new();
    let mut locks = LOCKS
        .get_or_init(Default::default)
        .lock()
        .unwrap_or_else(|p| p.into_inner());
    Arc::clone(
        locks
            .entry(format!("{}|{destination}", consul.address()))
            .or_default(),
    )
}

/// Applies `change` to the destination's entry (fresh read each attempt) and writes it with CAS.
/// `change` returns `false` when there is nothing to write.
async fn merge(
    consul: &ConsulClient,
    destination: &str,
    change: impl Fn(&mut Vec<Json>) -> bool,
) -> Result<(), stack_core::Error> {
    let lock = entry_lock(consul, destination);
    let _held = lock.lock().await;
    for attempt in 0..CAS_ATTEMPTS {
        let current = consul.config_entry(KIND, destination).await?;
        let (mut body, cas) = match current {
            Some(e) => {
                let cas = e.modify_index();
                (e.body, cas)
            }
            None => (serde_json::Map::new(), 0),
        };
        let mut sources: Vec<Json> = body
            .get("Sources")
            .and_then(Json::as_array)
            .cloned()
            .unwrap_or_default();
        if !change(&mut sources) {
            return Ok(());
        }
        let written = if sources.is_empty() {
            if cas == 0 {
                return Ok(());
            }
            consul
                .config_entry_delete_cas(KIND, destination, cas)
                .await?
        } else {
            for k in ["CreateIndex", "ModifyIndex"] {
                body.remove(k);
            }
            body.insert("Kind".into(), json!(KIND));
            body.insert("Name".into(), json!(destination));
            body.insert("Sources".into(), Json::Array(sources));
            consul
                .config_entry_set(&Json::Object(body), Some(cas))
                .await?
        };
        if written {
            return Ok(());
        }
        // Another writer won the race: back off a little (with jitter) and merge again.
        let ms = 5 + fastrand_ms(attempt);
        tokio::time::sleep(Duration::from_millis(ms)).await;
    }
    Err(stack_core::Error::Config(format!(
        "the service-intentions entry of {destination:?} kept changing: {CAS_ATTEMPTS} check-and-set writes lost the race"
    )))
}

fn fastrand_ms(attempt: u32) -> u64 {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.subsec_nanos())
        .unwrap_or(0);
    u64::from(nanos % (10 + attempt.min(20) * 5))
}

impl ConsulIntentionModel {
    fn names(&self) -> (String, String) {
        (
            self.source.clone().unwrap_or_default(),
            self.destination.clone().unwrap_or_default(),
        )
    }
}

/// Sets `source`'s action (and description) in `destination`'s entry, keeping other sources.
pub(crate) async fn set_source(
    consul: &ConsulClient,
    source: &str,
    destination: &str,
    action: &str,
    description: Option<&str>,
) -> Result<(), stack_core::Error> {
    let mut src = json!({"Name": source, "Action": action});
    if let Some(d) = description.filter(|d| !d.is_empty()) {
        src["Description"] = json!(d);
    }
    merge(consul, destination, |sources| {
        match sources.iter_mut().find(|s| is_ours(s, source)) {
            Some(existing) => {
                let obj = existing.as_object_mut();
                if let (Some(obj), Some(new)) = (obj, src.as_object()) {
                    // Keep fields we do not manage (e.g. Permissions would conflict with Action: drop them).
                    obj.remove("Permissions");
                    obj.remove("Description");
                    for (k, v) in new {
                        obj.insert(k.clone(), v.clone());
                    }
                }
            }
            None => sources.push(src.clone()),
        }
        true
    })
    .await
}

/// Removes `source` from `destination`'s entry (the entry goes when it is left empty).
pub(crate) async fn remove_source(
    consul: &ConsulClient,
    source: &str,
    destination: &str,
) -> Result<(), stack_core::Error> {
    merge(consul, destination, |sources| {
        let before = sources.len();
        sources.retain(|s| !is_ours(s, source));
        sources.len() != before
    })
    .await
}

/// `source`'s action in `destination`'s entry, if it has one there.
pub(crate) async fn source_action(
    consul: &ConsulClient,
    source: &str,
    destination: &str,
) -> Result<Option<(String, String)>, stack_core::Error> {
    let Some(entry) = consul.config_entry(KIND, destination).await? else {
        return Ok(None);
    };
    let sources = entry
        .body
        .get("Sources")
        .and_then(Json::as_array)
        .cloned()
        .unwrap_or_default();
    Ok(sources.iter().find(|s| is_ours(s, source)).map(|src| {
        // An L7 (Permissions) intention has no Action: that reads as drift from ours.
        let action = src
            .get("Action")
            .and_then(Json::as_str)
            .unwrap_or("")
            .to_string();
        let description = src
            .get("Description")
            .and_then(Json::as_str)
            .unwrap_or("")
            .to_string();
        (action, description)
    }))
}

async fn upsert(
    ctx: &ProviderData,
    m: &ConsulIntentionModel,
    action: &'static str,
) -> Result<ConsulIntentionModel, Diags> {
    let (source, destination) = m.names();
    set_source(
        &ctx.consul().await?,
        &source,
        &destination,
        m.action.as_deref().unwrap_or_default(),
        m.description.as_deref(),
    )
    .await
    .map_err(fail(action))?;
    Ok(ConsulIntentionModel {
        id: Some(format!("{source}>{destination}")),
        ..m.clone()
    })
}

impl Resource for ConsulIntention {
    type Ctx = ProviderData;
    type Model = ConsulIntentionModel;
    const TYPE_NAME: &'static str = "stack_consul_intention";

    fn schema() -> Schema {
        Schema::new(
            Block::new("One Consul service intention, `source` → `destination`. Many of these (from any module) can target the same destination: each owns only its own source inside the destination's `service-intentions` config entry, merged with check-and-set and retried on conflict. Import ID: `source>destination`.")
                .attr(Attribute::string("id").computed().use_state_for_unknown().doc("`source>destination`."))
                .attr(Attribute::string("source").required().requires_replace().validate(check_service).doc("Source service name, or `*` for every service. Changing this forces a new resource."))
                .attr(Attribute::string("destination").required().requires_replace().validate(check_service).doc("Destination service name, or `*` for every service. Changing this forces a new resource."))
                .attr(Attribute::string("action").required().validate(one_of(&["allow", "deny"])).doc("`allow` or `deny`."))
                .attr(Attribute::string("description").optional().doc("Human-readable description.")),
        )
    }

    async fn create(
        &self,
        ctx: &ProviderData,
        plan: ConsulIntentionModel,
    ) -> Result<ConsulIntentionModel, Diags> {
        upsert(ctx, &plan, "create stack_consul_intention").await
    }

    async fn read(
        &self,
        ctx: &ProviderData,
        state: ConsulIntentionModel,
    ) -> Result<Option<ConsulIntentionModel>, Diags> {
        let (source, destination) = state.names();
        let found = source_action(&ctx.consul().await?, &source, &destination)
            .await
            .map_err(fail("read stack_consul_intention"))?;
        let Some((action, description)) = found else {
            return Ok(None);
        };
        Ok(Some(ConsulIntentionModel {
            id: Some(format!("{source}>{destination}")),
            action: Some(action),
            description: (!description.is_empty() || state.description.is_some())
                .then_some(description),
            ..state
        }))
    }

    async fn update(
        &self,
        ctx: &ProviderData,
        _prior: ConsulIntentionModel,
        plan: ConsulIntentionModel,
    ) -> Result<ConsulIntentionModel, Diags> {
        upsert(ctx, &plan, "update stack_consul_intention").await
    }

    async fn delete(&self, ctx: &ProviderData, state: ConsulIntentionModel) -> Result<(), Diags> {
        let (source, destination) = state.names();
        remove_source(&ctx.consul().await?, &source, &destination)
            .await
            .map_err(fail("delete stack_consul_intention"))
    }

    fn import(id: &str) -> Result<ConsulIntentionModel, Diags> {
        let Some((source, destination)) = id
            .split_once('>')
            .filter(|(s, d)| !s.is_empty() && !d.is_empty())
        else {
            return Err(Diagnostic::error(
                "Invalid import ID",
                format!("{id:?}: the import ID is `source>destination`, e.g. `web>api`."),
            )
            .into());
        };
        Ok(ConsulIntentionModel {
            id: Some(id.into()),
            source: Some(source.into()),
            destination: Some(destination.into()),
            ..Default::default()
        })
    }
}
