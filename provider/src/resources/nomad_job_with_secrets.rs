//! `stack_nomad_job_with_secrets`: a Nomad job whose tasks receive secrets from Vault.
//!
//! The secrets go to KV v2 at `<kv_mount>/data/<namespace>/<job id>` (the path
//! `stack_vault_nomad_workload_identity`'s policy lets that job read). The provider adds a
//! `vault` block and `template` blocks to the chosen tasks, registers the job and waits for its
//! deployment with blocking queries.

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use serde::{Deserialize, Serialize};
use serde_json::{json, Map, Value as Json};
use stack_core::nomad::jobs::Submission;
use stack_core::vault::kv2::WriteSecretRequest;
use stack_core::NomadClient;
use tf_framework::schema::validators::{clean_path, duration, one_of, parse_duration};
use tf_framework::{
    Attribute, AttributePath, Block, Diagnostic, Diags, NestedBlock, Resource, Schema, Value,
};

use crate::errors::{diag_at, fail};
use crate::ProviderData;

/// The resource.
pub struct NomadJobWithSecrets;

/// A `database_credentials` block.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq)]
pub struct DbCredentials {
    /// Database secrets engine mount.
    pub mount: Option<String>,
    /// Role to read credentials from.
    pub role: Option<String>,
    /// Env var for the user name.
    pub username_env: Option<String>,
    /// Env var for the password.
    pub password_env: Option<String>,
}

/// State and configuration. No `Debug`: it holds secrets.
#[derive(Serialize, Deserialize, Clone, Default)]
pub struct NomadJobWithSecretsModel {
    /// `<job id>@<namespace>`.
    pub id: Option<String>,
    /// HCL2 or JSON jobspec.
    pub jobspec: Option<String>,
    /// HCL2 variables.
    pub vars: Option<BTreeMap<String, String>>,
    /// Secrets (sensitive, kept in state).
    pub secrets: Option<BTreeMap<String, String>>,
    /// Secrets (write-only).
    pub secrets_wo: Option<BTreeMap<String, String>>,
    /// Bump to write `secrets_wo` again.
    pub secrets_wo_version: Option<i64>,
    /// KV v2 mount.
    pub kv_mount: Option<String>,
    /// Vault role of the tasks.
    pub vault_role: Option<String>,
    /// Tasks that get the secrets.
    pub inject_into: Option<Vec<String>>,
    /// `env` or `file`.
    pub inject_as: Option<String>,
    /// Dynamic database credentials.
    pub database_credentials: Option<Vec<DbCredentials>>,
    /// Wait for the deployment.
    pub wait_for_deployment: Option<bool>,
    /// Deployment wait limit.
    pub timeout: Option<String>,
    /// Purge on destroy.
    pub purge_on_destroy: Option<bool>,
    /// Job ID.
    pub job_id: Option<String>,
    /// Namespace.
    pub namespace: Option<String>,
    /// Job version.
    pub job_version: Option<i64>,
    /// JobModifyIndex.
    pub job_modify_index: Option<i64>,
    /// Latest deployment.
    pub deployment_id: Option<String>,
    /// Its status.
    pub deployment_status: Option<String>,
    /// `<kv_mount>/data/<namespace>/<job id>`.
    pub secrets_path: Option<String>,
    /// KV version of the secrets.
    pub secrets_version: Option<i64>,
    /// What changed outside Terraform, empty when nothing did.
    pub out_of_band_change: Option<String>,
}

const SECRETS_ENV_FILE: &str = "secrets/stack-secrets.env";

fn env_name_ok(k: &str) -> bool {
    let mut chars = k.chars();
    chars
        .next()
        .is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_')
}

fn check_secret_keys(v: &Value) -> Result<(), (String, String)> {
    if let Value::Map(m) = v {
        if let Some(bad) = m.keys().find(|k| !env_name_ok(k)) {
            return Err(("Invalid secret name".into(), format!("{bad:?}: secret names become environment variables or file names, so use letters, digits and `_`, not starting with a digit.")));
        }
        if let Some((k, _)) = m
            .iter()
            .find(|(_, v)| v.as_str().is_some_and(|s| s.contains('\n')))
        {
            return Err(("Invalid secret value".into(), format!("The value of {k:?} spans several lines; env-file templates hold one line per secret. Encode it (e.g. base64) first.")));
        }
    }
    Ok(())
}

/// `vars` as an HCL variable file, every value a string (Nomad converts to the declared type).
fn var_file(vars: &BTreeMap<String, String>) -> String {
    vars.iter()
        .map(|(k, v)| format!("{k} = {}\n", serde_json::to_string(v).unwrap_or_default()))
        .collect()
}

/// The job model from `jobspec`: JSON (bare or `{"Job": …}`) is used as it is, HCL2 is parsed
/// by the Nomad server.
async fn job_model(
    nomad: &NomadClient,
    jobspec: &str,
    vars: &BTreeMap<String, String>,
) -> Result<(Json, Option<Submission>), stack_core::Error> {
    let trimmed = jobspec.trim_start();
    if trimmed.starts_with('{') {
        let v: Json = serde_json::from_str(trimmed).map_err(|e| {
            stack_core::Error::Config(format!(
                "the jobspec looks like JSON but does not parse: {e}"
            ))
        })?;
        let job = match v.get("Job") {
            Some(inner) if inner.is_object() => inner.clone(),
            _ => v,
        };
        return Ok((job, None));
    }
    let vars_text = var_file(vars);
    let job = nomad.parse_job(jobspec, &vars_text).await?;
    Ok((
        job,
        Some(Submission {
            source: jobspec.to_string(),
            format: "hcl2".into(),
            variables: vars_text,
        }),
    ))
}

fn job_identity(job: &Json, default_ns: &str) -> (String, String) {
    let id = job
        .get("ID")
        .and_then(Json::as_str)
        .filter(|s| !s.is_empty())
        .or_else(|| job.get("Name").and_then(Json::as_str))
        .unwrap_or("")
        .to_string();
    let ns = job
        .get("Namespace")
        .and_then(Json::as_str)
        .filter(|s| !s.is_empty())
        .unwrap_or(default_ns)
        .to_string();
    (id, ns)
}

impl NomadJobWithSecretsModel {
    fn kv_mount(&self) -> String {
        self.kv_mount.clone().unwrap_or_else(|| "secret".into())
    }
    fn secret_values(&self) -> Option<&BTreeMap<String, String>> {
        self.secrets_wo.as_ref().or(self.secrets.as_ref())
    }
    fn timeout(&self) -> Duration {
        Duration::from_secs(
            self.timeout
                .as_deref()
                .and_then(parse_duration)
                .unwrap_or(300),
        )
    }

    /// Adds the `vault` block and the templates to the chosen tasks of `job`.
    fn inject(&self, job: &mut Json, ns: &str, id: &str, keys: &[String]) -> Result<(), Diags> {
        if keys.is_empty() && self.database_credentials.as_ref().is_none_or(Vec::is_empty) {
            return Ok(()); // nothing to render: leave the tasks as written
        }
        let path = format!("{}/data/{ns}/{id}", self.kv_mount());
        let as_file = self.inject_as.as_deref() == Some("file");
        let role = self
            .vault_role
            .clone()
            .unwrap_or_else(|| "nomad-workloads".into());
        let wanted = self.inject_into.clone();
        let mut seen = Vec::new();
        for group in job
            .get_mut("TaskGroups")
            .and_then(Json::as_array_mut)
            .into_iter()
            .flatten()
        {
            for task in group
                .get_mut("Tasks")
                .and_then(Json::as_array_mut)
                .into_iter()
                .flatten()
            {
                let name = task
                    .get("Name")
                    .and_then(Json::as_str)
                    .unwrap_or("")
                    .to_string();
                if wanted.as_ref().is_some_and(|w| !w.contains(&name)) {
                    continue;
                }
                seen.push(name);
                let Some(t) = task.as_object_mut() else {
                    continue;
                };
                let vault = t.entry("Vault").or_insert_with(|| json!({}));
                if vault.is_null() {
                    *vault = json!({});
                }
                if let Some(v) = vault.as_object_mut() {
                    if v.get("Role")
                        .and_then(Json::as_str)
                        .is_none_or(str::is_empty)
                    {
                        v.insert("Role".into(), json!(role));
                    }
                    v.entry("ChangeMode").or_insert(json!("restart"));
                }
                let templates = t.entry("Templates").or_insert_with(|| json!([]));
                if templates.is_null() {
                    *templates = json!([]);
                }
                let Some(list) = templates.as_array_mut() else {
                    continue;
                };
                if !keys.is_empty() {
                    if as_file {
                        for k in keys {
                            list.push(template(&format!("{{{{ with secret \"{path}\" }}}}{{{{ index .Data.data \"{k}\" }}}}{{{{ end }}}}"), &format!("secrets/{k}"), false));
                        }
                    } else {
                        let body = format!("{{{{ with secret \"{path}\" }}}}{{{{ range $k, $v := .Data.data }}}}{{{{ $k }}}}={{{{ $v }}}}\n{{{{ end }}}}{{{{ end }}}}");
                        list.push(template(&body, SECRETS_ENV_FILE, true));
                    }
                }
                for (i, db) in self.database_credentials.iter().flatten().enumerate() {
                    let creds = format!(
                        "{}/creds/{}",
                        db.mount.clone().unwrap_or_default(),
                        db.role.clone().unwrap_or_default()
                    );
                    let body = format!(
                        "{{{{ with secret \"{creds}\" }}}}{}={{{{ .Data.username }}}}\n{}={{{{ .Data.password }}}}\n{{{{ end }}}}",
                        db.username_env.clone().unwrap_or_default(),
                        db.password_env.clone().unwrap_or_default()
                    );
                    list.push(template(&body, &format!("secrets/stack-db-{i}.env"), true));
                }
            }
        }
        if let Some(w) = &wanted {
            if let Some(missing) = w.iter().find(|n| !seen.contains(n)) {
                return Err(Diagnostic::error(
                    "Unknown task in inject_into",
                    format!(
                        "The job has no task named {missing:?} (tasks: {}).",
                        seen.join(", ")
                    ),
                )
                .at(AttributePath::root("inject_into"))
                .into());
            }
        }
        Ok(())
    }
}

/// `true` if `v` or anything inside it is unknown.
fn has_unknown(v: &Value) -> bool {
    match v {
        Value::Unknown => true,
        Value::List(items) => items.iter().any(has_unknown),
        Value::Map(m) => m.values().any(has_unknown),
        _ => false,
    }
}

fn template(body: &str, dest: &str, env: bool) -> Json {
    json!({"EmbeddedTmpl": body, "DestPath": dest, "Envvars": env, "ChangeMode": "restart", "Perms": "0600"})
}

/// Keeps the live count of groups whose `scaling` block is enabled.
async fn keep_scaled_counts(
    nomad: &NomadClient,
    job: &mut Json,
    id: &str,
    ns: &str,
) -> Result<(), stack_core::Error> {
    let Some(live) = nomad.job(id, Some(ns)).await? else {
        return Ok(());
    };
    let live_counts: BTreeMap<String, Json> = live["TaskGroups"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|g| Some((g["Name"].as_str()?.to_string(), g["Count"].clone())))
        .collect();
    for g in job
        .get_mut("TaskGroups")
        .and_then(Json::as_array_mut)
        .into_iter()
        .flatten()
    {
        let scaled = g["Scaling"]["Enabled"].as_bool().unwrap_or(false)
            || (g["Scaling"].is_object() && g["Scaling"]["Enabled"].is_null());
        if let (true, Some(name)) = (scaled, g["Name"].as_str().map(str::to_string)) {
            if let Some(c) = live_counts.get(&name) {
                g["Count"] = c.clone();
            }
        }
    }
    Ok(())
}

/// One line per allocation that failed or is unhealthy: its task states and last events.
async fn explain_allocations(nomad: &NomadClient, id: &str, ns: &str, version: i64) -> String {
    let Ok(allocs) = nomad.job_allocations(id, Some(ns)).await else {
        return String::new();
    };
    let mut lines = Vec::new();
    for a in allocs
        .iter()
        .filter(|a| a["JobVersion"].as_i64() == Some(version))
    {
        let unhealthy = a["DeploymentStatus"]["Healthy"].as_bool() == Some(false);
        let failed = a["ClientStatus"].as_str() == Some("failed");
        if !unhealthy && !failed && a["ClientStatus"].as_str() == Some("running") {
            continue;
        }
        let alloc_id = a["ID"]
            .as_str()
            .unwrap_or("")
            .chars()
            .take(8)
            .collect::<String>();
        let mut tasks = Vec::new();
        for (task, st) in a["TaskStates"].as_object().into_iter().flatten() {
            let last = st["Events"].as_array().and_then(|e| e.last()).map(|e| {
                let msg = e["DisplayMessage"]
                    .as_str()
                    .filter(|m| !m.is_empty())
                    .or_else(|| e["Message"].as_str())
                    .unwrap_or("");
                format!("{}: {msg}", e["Type"].as_str().unwrap_or("event"))
            });
            tasks.push(format!(
                "task {task:?} {} (failed: {}){}",
                st["State"].as_str().unwrap_or("?"),
                st["Failed"].as_bool().unwrap_or(false),
                last.map(|l| format!(", last event {l}"))
                    .unwrap_or_default()
            ));
        }
        lines.push(format!(
            "- allocation {alloc_id} ({}) is {}: {}",
            a["Name"].as_str().unwrap_or(""),
            a["ClientStatus"].as_str().unwrap_or("?"),
            tasks.join("; ")
        ));
    }
    lines.join("\n")
}

/// Waits (blocking queries) for the deployment of `version` to finish.
async fn wait_deployment(
    nomad: &NomadClient,
    id: &str,
    ns: &str,
    version: i64,
    timeout: Duration,
) -> Result<Option<(String, String)>, Diags> {
    let started = Instant::now();
    let mut index = 0u64;
    loop {
        let left = timeout.saturating_sub(started.elapsed());
        if left.is_zero() {
            let why = explain_allocations(nomad, id, ns, version).await;
            return Err(Diagnostic::error("Nomad deployment timed out", format!("The deployment of job {id:?} version {version} did not finish within {}s.\n{why}", timeout.as_secs())).at(AttributePath::root("timeout")).into());
        }
        let got = nomad
            .latest_deployment(id, Some(ns), (index > 0).then_some((index, left)))
            .await
            .map_err(fail("wait for the Nomad deployment"))?;
        // A blocking query returning is no proof of change; an index going backwards resets.
        index = if got.index < index { 0 } else { got.index };
        if let Some(d) = got
            .value
            .filter(|d| d["JobVersion"].as_i64() == Some(version))
        {
            let status = d["Status"].as_str().unwrap_or("").to_string();
            let did = d["ID"].as_str().unwrap_or("").to_string();
            match status.as_str() {
                "successful" => return Ok(Some((did, status))),
                "failed" | "cancelled" => {
                    let why = explain_allocations(nomad, id, ns, version).await;
                    return Err(Diagnostic::error(
                        "Nomad deployment failed",
                        format!(
                            "Deployment {} of job {id:?} version {version} is {status}: {}\n{why}",
                            &did.chars().take(8).collect::<String>(),
                            d["StatusDescription"].as_str().unwrap_or("")
                        ),
                    )
                    .at(AttributePath::root("jobspec"))
                    .into());
                }
                _ => {}
            }
        }
        if index == 0 {
            index = 1;
        }
    }
}

async fn write_secrets(
    ctx: &ProviderData,
    m: &NomadJobWithSecretsModel,
    ns: &str,
    id: &str,
) -> Result<Option<i64>, Diags> {
    let Some(values) = m.secret_values() else {
        return Ok(None);
    };
    for v in values.values() {
        tf_framework::log::register_secret(v);
    }
    let vault = ctx.vault()?;
    let mount = m.kv_mount();
    super::vault_kv_secret::ensure_kv2(vault, &mount, &format!("{ns}/{id}"), "kv_mount").await?;
    let data: Map<String, Json> = values
        .iter()
        .map(|(k, v)| (k.clone(), Json::String(v.clone())))
        .collect();
    let written = vault
        .kv2_write(
            &mount,
            &format!("{ns}/{id}"),
            &WriteSecretRequest {
                options: None,
                data,
            },
        )
        .await
        .map_err(|e| {
            Diags::from(diag_at(
                "write the job's secrets to Vault",
                &e,
                AttributePath::root("secrets"),
            ))
        })?;
    Ok(Some(written.version as i64))
}

/// Registers the job (with secrets and templates) and waits for it as configured.
async fn apply(
    ctx: &ProviderData,
    prior: Option<&NomadJobWithSecretsModel>,
    plan: NomadJobWithSecretsModel,
) -> Result<NomadJobWithSecretsModel, Diags> {
    let nomad = ctx.nomad().await?;
    let vars = plan.vars.clone().unwrap_or_default();
    let (mut job, submission) = job_model(&nomad, plan.jobspec.as_deref().unwrap_or(""), &vars)
        .await
        .map_err(|e| {
            Diags::from(diag_at(
                "parse the jobspec",
                &e,
                AttributePath::root("jobspec"),
            ))
        })?;
    let (id, ns) = job_identity(&job, nomad.default_namespace());
    job["Namespace"] = json!(ns);
    // Secrets first: the tasks read them as soon as they start.
    let secrets_changed = prior.is_none_or(|p| {
        p.secrets != plan.secrets
            || p.secrets_wo_version != plan.secrets_wo_version
            || p.kv_mount != plan.kv_mount
    });
    let secrets_version = if secrets_changed {
        write_secrets(ctx, &plan, &ns, &id).await?
    } else {
        prior.and_then(|p| p.secrets_version)
    };
    let keys: Vec<String> = match plan.secret_values() {
        Some(v) => v.keys().cloned().collect(),
        // secrets_wo is only sent when it changes; the keys are in Vault.
        None if plan.secrets_wo_version.is_some() => {
            let s = ctx
                .vault()?
                .kv2_read(&plan.kv_mount(), &format!("{ns}/{id}"), None)
                .await
                .map_err(fail("read the job's secrets"))?;
            s.and_then(|s| s.data)
                .map(|d| d.keys().cloned().collect())
                .unwrap_or_default()
        }
        None => Vec::new(),
    };
    plan.inject(&mut job, &ns, &id, &keys)?;
    let enforce = if prior.is_none() { Some(0) } else { None };
    if prior.is_some() {
        keep_scaled_counts(&nomad, &mut job, &id, &ns)
            .await
            .map_err(fail("read the live job"))?;
    }
    let registered = nomad.register_job(&job, enforce, submission.as_ref()).await.map_err(|e| {
        let mut d = diag_at("register the Nomad job", &e, AttributePath::root("jobspec"));
        if e.errors().iter().any(|m| m.contains("job already exists")) {
            d = Diagnostic::error("Nomad job already exists", format!("A job {id:?} already exists in namespace {ns:?}. Import it with `terraform import <address> {id}@{ns}`, or choose another job ID.")).at(AttributePath::root("jobspec"));
        }
        Diags::from(d)
    })?;
    let live = nomad
        .job(&id, Some(&ns))
        .await
        .map_err(fail("read the registered job"))?
        .unwrap_or(Json::Null);
    let version = live["Version"].as_i64().unwrap_or(0);
    let mut done = NomadJobWithSecretsModel {
        id: Some(format!("{id}@{ns}")),
        job_id: Some(id.clone()),
        namespace: Some(ns.clone()),
        job_version: Some(version),
        job_modify_index: Some(
            live["JobModifyIndex"]
                .as_i64()
                .unwrap_or(registered.job_modify_index as i64),
        ),
        secrets_path: Some(format!("{}/data/{ns}/{id}", plan.kv_mount())),
        secrets_version,
        deployment_id: Some(String::new()),
        deployment_status: Some(String::new()),
        out_of_band_change: Some(String::new()),
        ..plan.clone()
    };
    let service = live["Type"].as_str().is_none_or(|t| t == "service");
    if plan.wait_for_deployment.unwrap_or(true) && service {
        match wait_deployment(&nomad, &id, &ns, version, plan.timeout()).await {
            Ok(Some((did, status))) => {
                done.deployment_id = Some(did);
                done.deployment_status = Some(status);
            }
            Ok(None) => {}
            // The job exists now: keep it in state so the next apply or destroy handles it.
            Err(diags) => return Err(diags.with_partial_state(&done)),
        }
    } else if let Ok(got) = nomad.latest_deployment(&id, Some(&ns), None).await {
        if let Some(d) = got
            .value
            .filter(|d| d["JobVersion"].as_i64() == Some(version))
        {
            done.deployment_id = d["ID"].as_str().map(str::to_string);
            done.deployment_status = d["Status"].as_str().map(str::to_string);
        }
    }
    Ok(done)
}

impl Resource for NomadJobWithSecrets {
    type Ctx = ProviderData;
    type Model = NomadJobWithSecretsModel;
    const TYPE_NAME: &'static str = "stack_nomad_job_with_secrets";

    fn schema() -> Schema {
        Schema::new(
            Block::new("A Nomad job whose tasks receive secrets from Vault. The secrets are written to KV version 2 at `<kv_mount>/data/<namespace>/<job id>` (the path `stack_vault_nomad_workload_identity` lets that job read); the provider adds a `vault` block (with `vault_role`) and `template` blocks that render them to each chosen task, registers the job and waits for its deployment with blocking queries. HCL is parsed by the Nomad server (`/v1/jobs/parse`), so new jobspec features need no provider release. A job edited, stopped or purged outside Terraform is drift. Destroy deregisters the job (purging by default) and deletes every version of its secret. Import ID: `<job id>@<namespace>`.")
                .attr(Attribute::string("id").computed().doc("`<job id>@<namespace>`."))
                .attr(Attribute::string("jobspec").required().doc("The job in HCL2 (parsed by Nomad with `vars`) or JSON (the job model, bare or wrapped in `{\"Job\": …}`)."))
                .attr(Attribute::string_map("vars").optional().doc("Values of the jobspec's `variable` blocks. Unknown values make the derived attributes (job_id, namespace...) unknown at plan time instead of failing."))
                .attr(Attribute::string_map("secrets").optional().sensitive().validate(check_secret_keys).doc("Secrets for the tasks. Kept in state (marked sensitive); use `secrets_wo` to keep them out of state."))
                .attr(Attribute::string_map("secrets_wo").optional().write_only().validate(check_secret_keys).doc("Write-only secrets for the tasks: sent to Vault, never stored in state. Needs `secrets_wo_version`."))
                .attr(Attribute::number("secrets_wo_version").optional().doc("Bump to write `secrets_wo` again."))
                .attr(Attribute::string("kv_mount").default("secret").validate(clean_path()).doc("KV version 2 mount of the secrets. Defaults to `secret`."))
                .attr(Attribute::string("vault_role").default("nomad-workloads").doc("Vault JWT role of the tasks (`vault { role }`). Defaults to `nomad-workloads`, the role `stack_vault_nomad_workload_identity` creates."))
                .attr(Attribute::string_list("inject_into").optional().doc("Names of the tasks that get the secrets. Defaults to every task."))
                .attr(Attribute::string("inject_as").default("env").validate(one_of(&["env", "file"])).doc("`env` (default): environment variables, one per secret; `file`: one file per secret at `secrets/<name>` in the task directory."))
                .attr(Attribute::bool("wait_for_deployment").default(true).doc("Wait until the deployment succeeds (service jobs). Defaults to true."))
                .attr(Attribute::string("timeout").default("5m").validate(duration()).doc("How long to wait for the deployment. Defaults to `5m`."))
                .attr(Attribute::bool("purge_on_destroy").default(true).doc("Purge the job on destroy (instead of only stopping it). Defaults to true."))
                .attr(Attribute::string("job_id").computed().requires_replace().doc("The job ID. A jobspec with another ID replaces the job."))
                .attr(Attribute::string("namespace").computed().requires_replace().doc("The job's namespace."))
                .attr(Attribute::number("job_version").computed().doc("The job version Nomad registered."))
                .attr(Attribute::number("job_modify_index").computed().doc("The job's JobModifyIndex after the last apply."))
                .attr(Attribute::string("deployment_id").computed().doc("ID of the deployment of this version (empty when there is none)."))
                .attr(Attribute::string("deployment_status").computed().doc("Status of that deployment, e.g. `successful`."))
                .attr(Attribute::string("secrets_path").computed().doc("`<kv_mount>/data/<namespace>/<job id>`."))
                .attr(Attribute::number("secrets_version").computed().doc("KV version of the secrets."))
                .attr(Attribute::string("out_of_band_change").computed().doc("Empty, or what changed outside Terraform since the last apply (the next apply restores the job)."))
                .block(NestedBlock::list("database_credentials", Block::new("Dynamic database credentials (from `stack_vault_database_secrets`) rendered into the tasks' environment.")
                    .attr(Attribute::string("mount").required().validate(clean_path()).doc("Database secrets engine mount."))
                    .attr(Attribute::string("role").required().doc("Role to read credentials from (`<mount>/creds/<role>`)."))
                    .attr(Attribute::string("username_env").required().doc("Environment variable for the user name."))
                    .attr(Attribute::string("password_env").required().doc("Environment variable for the password.")))),
        )
    }

    fn validate(config: &Value) -> Diags {
        let mut diags = Diags::new();
        let (s, wo, ver) = (
            config.get("secrets"),
            config.get("secrets_wo"),
            config.get("secrets_wo_version"),
        );
        if !s.is_null() && !wo.is_null() {
            diags.push(
                Diagnostic::error(
                    "Conflicting secrets",
                    "Set `secrets` or `secrets_wo`, not both.",
                )
                .at(AttributePath::root("secrets_wo")),
            );
        }
        if !wo.is_null() && ver.is_null() {
            diags.push(
                Diagnostic::error(
                    "Missing secrets_wo_version",
                    "`secrets_wo` needs `secrets_wo_version`; bump it to write new values.",
                )
                .at(AttributePath::root("secrets_wo_version")),
            );
        }
        if let Value::List(dbs) = config.get("database_credentials") {
            for (i, db) in dbs.iter().enumerate() {
                for k in ["username_env", "password_env"] {
                    if let Some(n) = db.get(k).as_str().filter(|n| !env_name_ok(n)) {
                        diags.push(
                            Diagnostic::error(
                                "Invalid environment variable name",
                                format!("{n:?} is not a valid environment variable name."),
                            )
                            .at(AttributePath::root(
                                "database_credentials",
                            )
                            .index(i)
                            .attr(k)),
                        );
                    }
                }
            }
        }
        diags
    }

    async fn modify_plan<'a>(
        &'a self,
        ctx: Option<&'a ProviderData>,
        prior: &'a Value,
        planned: &'a mut Value,
        diags: &'a mut Diags,
    ) {
        let Some(p) = planned.as_map_mut() else {
            return;
        };
        // Something changed out of band: plan an update that restores the job.
        let drifted = matches!(prior.get("out_of_band_change"), Value::String(s) if !s.is_empty());
        let (jobspec, vars) = (
            p.get("jobspec").cloned().unwrap_or_default(),
            p.get("vars").cloned().unwrap_or_default(),
        );
        let known = matches!(jobspec, Value::String(_)) && !has_unknown(&vars);
        let mut derived: Option<(String, String)> = None;
        if let (true, Some(ctx), Some(spec)) = (known, ctx, jobspec.as_str()) {
            let var_map: BTreeMap<String, String> = match &vars {
                Value::Map(m) => m
                    .iter()
                    .filter_map(|(k, v)| Some((k.clone(), v.as_str()?.to_string())))
                    .collect(),
                _ => BTreeMap::new(),
            };
            if let Ok(nomad) = ctx.nomad().await {
                match job_model(&nomad, spec, &var_map).await {
                    Ok((job, _)) => derived = Some(job_identity(&job, nomad.default_namespace())),
                    // A jobspec Nomad rejects fails the plan; an unreachable Nomad (or a token that
                    // only exists after apply) leaves the derived values unknown.
                    Err(e)
                        if matches!(e.status(), Some(400))
                            || matches!(e, stack_core::Error::Config(_)) =>
                    {
                        diags.push(diag_at(
                            "parse the jobspec",
                            &e,
                            AttributePath::root("jobspec"),
                        ));
                        return;
                    }
                    Err(_) => {}
                }
            }
        }
        let mount = p
            .get("kv_mount")
            .and_then(Value::as_str)
            .unwrap_or("secret")
            .to_string();
        match derived {
            Some((id, ns)) => {
                p.insert("job_id".into(), Value::from(id.as_str()));
                p.insert("namespace".into(), Value::from(ns.as_str()));
                p.insert("id".into(), Value::from(format!("{id}@{ns}").as_str()));
                p.insert(
                    "secrets_path".into(),
                    Value::from(format!("{mount}/data/{ns}/{id}").as_str()),
                );
            }
            None => {
                for k in ["job_id", "namespace", "id", "secrets_path"] {
                    p.insert(k.into(), Value::Unknown);
                }
            }
        }
        let changed = prior.is_null()
            || drifted
            || [
                "jobspec",
                "vars",
                "secrets",
                "secrets_wo_version",
                "kv_mount",
                "vault_role",
                "inject_into",
                "inject_as",
                "database_credentials",
            ]
            .iter()
            .any(|k| prior.get(k) != p.get(*k).unwrap_or(&Value::Null));
        if changed {
            for k in [
                "job_version",
                "job_modify_index",
                "deployment_id",
                "deployment_status",
                "secrets_version",
            ] {
                p.insert(k.into(), Value::Unknown);
            }
            p.insert("out_of_band_change".into(), Value::Unknown);
        } else {
            for k in [
                "job_version",
                "job_modify_index",
                "deployment_id",
                "deployment_status",
                "secrets_version",
                "out_of_band_change",
            ] {
                p.insert(k.into(), prior.get(k).clone());
            }
        }
    }

    async fn create(
        &self,
        ctx: &ProviderData,
        plan: NomadJobWithSecretsModel,
    ) -> Result<NomadJobWithSecretsModel, Diags> {
        apply(ctx, None, plan).await
    }

    async fn read(
        &self,
        ctx: &ProviderData,
        state: NomadJobWithSecretsModel,
    ) -> Result<Option<NomadJobWithSecretsModel>, Diags> {
        let nomad = ctx.nomad().await?;
        let id = state.job_id.clone().unwrap_or_default();
        let ns = state
            .namespace
            .clone()
            .unwrap_or_else(|| nomad.default_namespace().to_string());
        let Some(job) = nomad
            .job(&id, Some(&ns))
            .await
            .map_err(fail("read the Nomad job"))?
        else {
            return Ok(None);
        };
        let mut m = state.clone();
        let index = job["JobModifyIndex"].as_i64();
        let mut changes = Vec::new();
        if job["Stop"].as_bool() == Some(true) {
            changes.push("the job was stopped".to_string());
        }
        if state.job_modify_index.is_some() && index != state.job_modify_index {
            changes.push(format!(
                "the job was registered again (JobModifyIndex {} → {})",
                state.job_modify_index.unwrap_or(0),
                index.unwrap_or(0)
            ));
        }
        let mount = state.kv_mount();
        let meta = ctx
            .vault()?
            .kv2_read_metadata(&mount, &format!("{ns}/{id}"))
            .await
            .map_err(fail("read the job's secrets"))?;
        let current = meta.as_ref().map(|x| x.current_version as i64);
        if state.secrets_version.is_some() && current != state.secrets_version {
            changes.push(format!(
                "its secrets changed in Vault (version {} → {})",
                state.secrets_version.unwrap_or(0),
                current.map_or("deleted".into(), |c| c.to_string())
            ));
        }
        if state.jobspec.is_none() {
            // Imported: take what Nomad has.
            m.job_version = job["Version"].as_i64();
            m.job_modify_index = index;
            m.secrets_version = current;
            m.kv_mount = Some(mount.clone());
            m.secrets_path = Some(format!("{mount}/data/{ns}/{id}"));
            changes.clear();
        }
        m.id = Some(format!("{id}@{ns}"));
        m.job_id = Some(id);
        m.namespace = Some(ns);
        m.out_of_band_change = Some(changes.join("; "));
        Ok(Some(m))
    }

    async fn update(
        &self,
        ctx: &ProviderData,
        prior: NomadJobWithSecretsModel,
        plan: NomadJobWithSecretsModel,
    ) -> Result<NomadJobWithSecretsModel, Diags> {
        apply(ctx, Some(&prior), plan).await
    }

    async fn delete(
        &self,
        ctx: &ProviderData,
        state: NomadJobWithSecretsModel,
    ) -> Result<(), Diags> {
        let nomad = ctx.nomad().await?;
        let id = state.job_id.clone().unwrap_or_default();
        let ns = state
            .namespace
            .clone()
            .unwrap_or_else(|| nomad.default_namespace().to_string());
        nomad
            .deregister_job(&id, Some(&ns), state.purge_on_destroy.unwrap_or(true))
            .await
            .map_err(fail("deregister the Nomad job"))?;
        ctx.vault()?
            .kv2_delete_metadata(&state.kv_mount(), &format!("{ns}/{id}"))
            .await
            .map_err(fail("delete the job's secrets"))
    }

    fn import(id: &str) -> Result<NomadJobWithSecretsModel, Diags> {
        let Some((job, ns)) = id
            .split_once('@')
            .filter(|(j, n)| !j.is_empty() && !n.is_empty())
        else {
            return Err(Diagnostic::error(
                "Invalid import ID",
                format!("{id:?}: the import ID is `<job id>@<namespace>`, e.g. `web@default`."),
            )
            .into());
        };
        Ok(NomadJobWithSecretsModel {
            id: Some(id.into()),
            job_id: Some(job.into()),
            namespace: Some(ns.into()),
            ..Default::default()
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn injects_vault_and_templates() {
        let m = NomadJobWithSecretsModel {
            database_credentials: Some(vec![DbCredentials {
                mount: Some("db".into()),
                role: Some("app".into()),
                username_env: Some("PGUSER".into()),
                password_env: Some("PGPASSWORD".into()),
            }]),
            inject_into: Some(vec!["api".into()]),
            ..Default::default()
        };
        let mut job =
            json!({"TaskGroups": [{"Name": "g", "Tasks": [{"Name": "api"}, {"Name": "side"}]}]});
        m.inject(&mut job, "default", "web", &["API_KEY".into()])
            .expect("inject");
        let api = &job["TaskGroups"][0]["Tasks"][0];
        assert_eq!(api["Vault"]["Role"], json!("nomad-workloads"));
        let t = api["Templates"].as_array().expect("templates");
        assert_eq!(t.len(), 2);
        assert!(t[0]["EmbeddedTmpl"]
            .as_str()
            .expect("template")
            .contains("secret/data/default/web"));
        assert!(
            t[1]["EmbeddedTmpl"]
                .as_str()
                .expect("template")
                .contains("db/creds/app")
                && t[1]["Envvars"] == json!(true)
        );
        assert!(job["TaskGroups"][0]["Tasks"][1].get("Vault").is_none());
        let bad = NomadJobWithSecretsModel {
            inject_into: Some(vec!["nope".into()]),
            ..Default::default()
        };
        assert!(bad
            .inject(&mut job, "default", "web", &["X".into()])
            .is_err());
    }

    #[test]
    fn vars_and_keys() {
        let v = BTreeMap::from([("image".to_string(), "redis \"7\"".to_string())]);
        assert_eq!(var_file(&v), "image = \"redis \\\"7\\\"\"\n");
        assert!(
            check_secret_keys(&Value::Map([("1X".to_string(), Value::from("v"))].into())).is_err()
        );
        assert!(check_secret_keys(&Value::Map(
            [("API_KEY".to_string(), Value::from("v"))].into()
        ))
        .is_ok());
    }
}
