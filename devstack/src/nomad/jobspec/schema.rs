//! The jobspec schema (the `hcl:` tags of Nomad's `api` structs) and a decoder that checks a
//! body against it the way `gohcl` does and builds the `api.Job` JSON (PascalCase, Go field
//! order, nanosecond durations, `null` for unset pointers, slices and maps).

use std::ops::Range;

use hcl::edit::expr::Expression;
use hcl::edit::structure::{Block, Body, Structure};
use hcl::edit::Span;
use serde_json::{Map, Value};

use super::eval::{float_value, to_bool, to_f64, to_string, type_name, Ctx, Diag};

/// How a field is decoded and what it is when absent.
#[derive(Clone, Copy)]
pub(super) enum K {
    /// `string` (absent: `""`).
    Str,
    /// `*string` (absent: `null`).
    PStr,
    Int,
    PInt,
    Bool,
    PBool,
    /// `time.Duration` in ns (absent: 0).
    Dur,
    PDur,
    StrList,
    IntList,
    /// `map[string]string` written as a block.
    StrMap,
    /// `map[string]string` written as a block or as an attribute (`meta`, `env`).
    StrMapA,
    /// `map[string]string` written as an attribute.
    StrMapAttr,
    /// `map[string][]string` block (check `header`).
    HeaderMap,
    /// `map[string]interface{}` block (task `config`, scaling `policy`).
    AnyMap,
    /// A block kept as a free-form map (structures not modelled here).
    Opaque,
    Block(&'static S),
    Blocks(&'static S),
    /// `map[string]*T` keyed by the block label (group `volume`).
    LabelMap(&'static S),
    /// The block label; the name is the label's schema name.
    Label(&'static str),
    /// A field the server sets; never in HCL. The kind gives the zero value.
    Server(&'static K),
}

/// A field: JSON name, HCL name (a trailing `!` marks a required argument), kind. A JSON
/// name starting with `_` is decoded but not emitted (post-processed by the caller).
pub(super) struct F(pub &'static str, pub &'static str, pub K);

pub(super) struct S {
    pub fields: &'static [F],
}

impl S {
    fn label_names(&self) -> Vec<&'static str> {
        self.fields
            .iter()
            .filter_map(|f| match f.2 {
                K::Label(n) => Some(n),
                _ => None,
            })
            .collect()
    }
}

const fn s(fields: &'static [F]) -> S {
    S { fields }
}

use K::*;

pub(super) static JOB: S = s(&[
    F("Region", "region", PStr),
    F("Namespace", "namespace", PStr),
    F("ID", "id", PStr),
    F("Name", "name", PStr),
    F("Type", "type", PStr),
    F("Priority", "priority", PInt),
    F("AllAtOnce", "all_at_once", PBool),
    F("Datacenters", "datacenters", StrList),
    F("NodePool", "node_pool", PStr),
    F("Constraints", "constraint", Blocks(&CONSTRAINT)),
    F("Affinities", "affinity", Blocks(&AFFINITY)),
    F("TaskGroups", "group", Blocks(&GROUP)),
    F("Update", "update", Block(&UPDATE)),
    F("Multiregion", "multiregion", Block(&MULTIREGION)),
    F("Spreads", "spread", Blocks(&SPREAD)),
    F("Periodic", "periodic", Block(&PERIODIC)),
    F("ParameterizedJob", "parameterized", Block(&PARAMETERIZED)),
    F("Reschedule", "reschedule", Block(&RESCHEDULE)),
    F("Migrate", "migrate", Block(&MIGRATE)),
    F("Meta", "meta", StrMapA),
    F("UI", "ui", Block(&UI)),
    F("Stop", "", Server(&PBool)),
    F("ParentID", "", Server(&PStr)),
    F("Dispatched", "", Server(&Bool)),
    F("DispatchIdempotencyToken", "", Server(&PStr)),
    F("Payload", "", Server(&PStr)),
    F("ConsulNamespace", "", Server(&PStr)),
    F("VaultNamespace", "", Server(&PStr)),
    F("NomadTokenID", "", Server(&PStr)),
    F("Status", "", Server(&PStr)),
    F("StatusDescription", "", Server(&PStr)),
    F("Stable", "", Server(&PBool)),
    F("Version", "", Server(&PInt)),
    F("SubmitTime", "", Server(&PInt)),
    F("CreateIndex", "", Server(&PInt)),
    F("ModifyIndex", "", Server(&PInt)),
    F("JobModifyIndex", "", Server(&PInt)),
    F("VersionTag", "", Server(&PStr)),
    // Job-level `vault` and `task` blocks (jobspec2's top-level extras).
    F("_vault", "vault", Block(&VAULT)),
    F("_tasks", "task", Blocks(&TASK)),
]);

static CONSTRAINT: S = s(&[
    F("_attribute", "attribute", PStr),
    F("_value", "value", PStr),
    F("_operator", "operator", PStr),
    F("_distinct_property", "distinct_property", PStr),
    F("_distinct_hosts", "distinct_hosts", PBool),
    F("_regexp", "regexp", PStr),
    F("_version", "version", PStr),
    F("_semver", "semver", PStr),
    F("_set_contains", "set_contains", PStr),
    F("_set_contains_all", "set_contains_all", PStr),
    F("_set_contains_any", "set_contains_any", PStr),
    F("_is_set", "is_set", PStr),
    F("_is_not_set", "is_not_set", PStr),
]);

static AFFINITY: S = s(&[
    F("_attribute", "attribute", PStr),
    F("_value", "value", PStr),
    F("_operator", "operator", PStr),
    F("_weight", "weight", PInt),
    F("_version", "version", PStr),
    F("_semver", "semver", PStr),
    F("_regexp", "regexp", PStr),
    F("_set_contains", "set_contains", PStr),
    F("_set_contains_all", "set_contains_all", PStr),
    F("_set_contains_any", "set_contains_any", PStr),
]);

static SPREAD: S = s(&[
    F("Attribute", "attribute", Str),
    F("Weight", "weight", PInt),
    F("SpreadTarget", "target", Blocks(&SPREAD_TARGET)),
]);

static SPREAD_TARGET: S = s(&[F("Value", "", Label("")), F("Percent", "percent", Int)]);

pub(super) static UPDATE: S = s(&[
    F("Stagger", "stagger", PDur),
    F("MaxParallel", "max_parallel", PInt),
    F("HealthCheck", "health_check", PStr),
    F("MinHealthyTime", "min_healthy_time", PDur),
    F("HealthyDeadline", "healthy_deadline", PDur),
    F("ProgressDeadline", "progress_deadline", PDur),
    F("Canary", "canary", PInt),
    F("AutoRevert", "auto_revert", PBool),
    F("AutoPromote", "auto_promote", PBool),
]);

static MULTIREGION: S = s(&[
    F("Strategy", "strategy", Block(&MR_STRATEGY)),
    F("Regions", "region", Blocks(&MR_REGION)),
]);

static MR_STRATEGY: S = s(&[
    F("MaxParallel", "max_parallel", PInt),
    F("OnFailure", "on_failure", PStr),
]);

static MR_REGION: S = s(&[
    F("Name", "", Label("")),
    F("Count", "count", PInt),
    F("Datacenters", "datacenters", StrList),
    F("NodePool", "node_pool", Str),
    F("Meta", "meta", StrMap),
]);

static PERIODIC: S = s(&[
    F("Enabled", "enabled", PBool),
    F("Spec", "cron", PStr),
    F("Specs", "crons", StrList),
    F("SpecType", "", Server(&PStr)),
    F("ProhibitOverlap", "prohibit_overlap", PBool),
    F("TimeZone", "time_zone", PStr),
]);

static PARAMETERIZED: S = s(&[
    F("Payload", "payload", Str),
    F("MetaRequired", "meta_required", StrList),
    F("MetaOptional", "meta_optional", StrList),
]);

pub(super) static RESCHEDULE: S = s(&[
    F("Attempts", "attempts", PInt),
    F("Interval", "interval", PDur),
    F("Delay", "delay", PDur),
    F("DelayFunction", "delay_function", PStr),
    F("MaxDelay", "max_delay", PDur),
    F("Unlimited", "unlimited", PBool),
]);

static MIGRATE: S = s(&[
    F("MaxParallel", "max_parallel", PInt),
    F("HealthCheck", "health_check", PStr),
    F("MinHealthyTime", "min_healthy_time", PDur),
    F("HealthyDeadline", "healthy_deadline", PDur),
]);

static UI: S = s(&[
    F("Description", "description", Str),
    F("Links", "link", Blocks(&UI_LINK)),
]);

static UI_LINK: S = s(&[F("Label", "label", Str), F("URL", "url", Str)]);

pub(super) static GROUP: S = s(&[
    F("Name", "", Label("name")),
    F("Count", "count", PInt),
    F("Constraints", "constraint", Blocks(&CONSTRAINT)),
    F("Affinities", "affinity", Blocks(&AFFINITY)),
    F("Tasks", "task", Blocks(&TASK)),
    F("Spreads", "spread", Blocks(&SPREAD)),
    F("Volumes", "volume", LabelMap(&VOLUME)),
    F("RestartPolicy", "restart", Block(&RESTART)),
    F("Disconnect", "disconnect", Block(&DISCONNECT)),
    F("ReschedulePolicy", "reschedule", Block(&RESCHEDULE)),
    F("EphemeralDisk", "ephemeral_disk", Block(&EPHEMERAL_DISK)),
    F("Update", "update", Block(&UPDATE)),
    F("Migrate", "migrate", Block(&MIGRATE)),
    F("Networks", "network", Blocks(&NETWORK)),
    F("Meta", "meta", StrMapA),
    F("Services", "service", Blocks(&SERVICE)),
    F("ShutdownDelay", "shutdown_delay", PDur),
    F(
        "StopAfterClientDisconnect",
        "stop_after_client_disconnect",
        PDur,
    ),
    F("MaxClientDisconnect", "max_client_disconnect", PDur),
    F("Scaling", "scaling", Block(&SCALING)),
    F("Consul", "consul", Block(&CONSUL)),
    F(
        "PreventRescheduleOnLost",
        "prevent_reschedule_on_lost",
        PBool,
    ),
    F("_vault", "vault", Block(&VAULT)),
]);

static VOLUME: S = s(&[
    F("Name", "", Label("name")),
    F("Type", "type", Str),
    F("Source", "source", Str),
    F("ReadOnly", "read_only", Bool),
    F("Sticky", "sticky", Bool),
    F("AccessMode", "access_mode", Str),
    F("AttachmentMode", "attachment_mode", Str),
    F("MountOptions", "mount_options", Block(&MOUNT_OPTIONS)),
    F("PerAlloc", "per_alloc", Bool),
]);

static MOUNT_OPTIONS: S = s(&[
    F("FSType", "fs_type", Str),
    F("MountFlags", "mount_flags", StrList),
]);

pub(super) static RESTART: S = s(&[
    F("Interval", "interval", PDur),
    F("Attempts", "attempts", PInt),
    F("Delay", "delay", PDur),
    F("Mode", "mode", PStr),
    F("RenderTemplates", "render_templates", PBool),
]);

static DISCONNECT: S = s(&[
    F("LostAfter", "lost_after", PDur),
    F("StopOnClientAfter", "stop_on_client_after", PDur),
    F("Replace", "replace", PBool),
    F("Reconcile", "reconcile", PStr),
]);

static EPHEMERAL_DISK: S = s(&[
    F("Sticky", "sticky", PBool),
    F("Migrate", "migrate", PBool),
    F("SizeMB", "size", PInt),
]);

static NETWORK: S = s(&[
    F("Mode", "mode", Str),
    F("Device", "device", Str),
    F("CIDR", "cidr", Str),
    F("IP", "ip", Str),
    F("DNS", "dns", Block(&DNS)),
    F("ReservedPorts", "reserved_ports", Blocks(&PORT)),
    F("DynamicPorts", "port", Blocks(&PORT)),
    F("Hostname", "hostname", Str),
    F("MBits", "mbits", PInt),
    F("CNI", "cni", Block(&CNI)),
]);

static PORT: S = s(&[
    F("Label", "", Label("")),
    F("Value", "static", Int),
    F("To", "to", Int),
    F("HostNetwork", "host_network", Str),
    F("IgnoreCollision", "ignore_collision", Bool),
]);

static DNS: S = s(&[
    F("Servers", "servers", StrList),
    F("Searches", "searches", StrList),
    F("Options", "options", StrList),
]);

static CNI: S = s(&[F("Args", "args", StrMapAttr)]);

static SERVICE: S = s(&[
    F("Name", "name", Str),
    F("Tags", "tags", StrList),
    F("CanaryTags", "canary_tags", StrList),
    F("EnableTagOverride", "enable_tag_override", Bool),
    F("PortLabel", "port", Str),
    F("AddressMode", "address_mode", Str),
    F("Address", "address", Str),
    F("Checks", "check", Blocks(&CHECK)),
    F("CheckRestart", "check_restart", Block(&CHECK_RESTART)),
    F("Connect", "connect", Block(&CONNECT)),
    F("Meta", "meta", StrMap),
    F("CanaryMeta", "canary_meta", StrMap),
    F("TaggedAddresses", "tagged_addresses", StrMap),
    F("TaskName", "task", Str),
    F("OnUpdate", "on_update", Str),
    F("Identity", "identity", Block(&IDENTITY)),
    F("Weights", "weights", Block(&WEIGHTS)),
    F("Provider", "provider", Str),
    F("Cluster", "cluster", Str),
    F("Kind", "kind", Str),
]);

static CHECK: S = s(&[
    F("Name", "name", Str),
    F("Type", "type", Str),
    F("Command", "command", Str),
    F("Args", "args", StrList),
    F("Path", "path", Str),
    F("Protocol", "protocol", Str),
    F("PortLabel", "port", Str),
    F("Expose", "expose", Bool),
    F("AddressMode", "address_mode", Str),
    F("Advertise", "advertise", Str),
    F("Interval", "interval", Dur),
    F("Timeout", "timeout", Dur),
    F("InitialStatus", "initial_status", Str),
    F("Notes", "notes", Str),
    F("TLSServerName", "tls_server_name", Str),
    F("TLSSkipVerify", "tls_skip_verify", Bool),
    F("Header", "header", HeaderMap),
    F("Method", "method", Str),
    F("CheckRestart", "check_restart", Block(&CHECK_RESTART)),
    F("GRPCService", "grpc_service", Str),
    F("GRPCUseTLS", "grpc_use_tls", Bool),
    F("TaskName", "task", Str),
    F("SuccessBeforePassing", "success_before_passing", Int),
    F("FailuresBeforeCritical", "failures_before_critical", Int),
    F("FailuresBeforeWarning", "failures_before_warning", Int),
    F("Body", "body", Str),
    F("OnUpdate", "on_update", Str),
]);

static CHECK_RESTART: S = s(&[
    F("Limit", "limit", Int),
    F("Grace", "grace", PDur),
    F("IgnoreWarnings", "ignore_warnings", Bool),
]);

static CONNECT: S = s(&[
    F("Native", "native", Bool),
    F("Gateway", "gateway", Opaque),
    F("SidecarService", "sidecar_service", Block(&SIDECAR_SERVICE)),
    F("SidecarTask", "sidecar_task", Block(&SIDECAR_TASK)),
]);

static SIDECAR_SERVICE: S = s(&[
    F("Tags", "tags", StrList),
    F("Port", "port", Str),
    F("Proxy", "proxy", Block(&PROXY)),
    F("DisableDefaultTCPCheck", "disable_default_tcp_check", Bool),
    F("Meta", "meta", StrMap),
]);

static PROXY: S = s(&[
    F("LocalServiceAddress", "local_service_address", Str),
    F("LocalServicePort", "local_service_port", Int),
    F("Expose", "expose", Block(&EXPOSE)),
    F("ExposeConfig", "", Server(&PStr)),
    F("Upstreams", "upstreams", Blocks(&UPSTREAM)),
    F("TransparentProxy", "transparent_proxy", Block(&TPROXY)),
    F("Config", "config", AnyMap),
]);

static EXPOSE: S = s(&[
    F("Paths", "path", Blocks(&EXPOSE_PATH)),
    F("Path", "", Server(&PStr)),
]);

static EXPOSE_PATH: S = s(&[
    F("Path", "path", Str),
    F("Protocol", "protocol", Str),
    F("LocalPathPort", "local_path_port", Int),
    F("ListenerPort", "listener_port", Str),
]);

static UPSTREAM: S = s(&[
    F("DestinationName", "destination_name", Str),
    F("DestinationNamespace", "destination_namespace", Str),
    F("DestinationPeer", "destination_peer", Str),
    F("DestinationPartition", "destination_partition", Str),
    F("DestinationType", "destination_type", Str),
    F("LocalBindPort", "local_bind_port", Int),
    F("Datacenter", "datacenter", Str),
    F("LocalBindAddress", "local_bind_address", Str),
    F("LocalBindSocketPath", "local_bind_socket_path", Str),
    F("LocalBindSocketMode", "local_bind_socket_mode", Str),
    F("MeshGateway", "mesh_gateway", Block(&MESH_GATEWAY)),
    F("Config", "config", AnyMap),
]);

static MESH_GATEWAY: S = s(&[F("Mode", "mode", Str)]);

static TPROXY: S = s(&[
    F("UID", "uid", Str),
    F("OutboundPort", "outbound_port", Int),
    F("ExcludeInboundPorts", "exclude_inbound_ports", StrList),
    F("ExcludeOutboundPorts", "exclude_outbound_ports", IntList),
    F("ExcludeOutboundCIDRs", "exclude_outbound_cidrs", StrList),
    F("ExcludeUIDs", "exclude_uids", StrList),
    F("NoDNS", "no_dns", Bool),
]);

static SIDECAR_TASK: S = s(&[
    F("Name", "name", Str),
    F("Driver", "driver", Str),
    F("User", "user", Str),
    F("Config", "config", AnyMap),
    F("Env", "env", StrMap),
    F("Resources", "resources", Block(&RESOURCES)),
    F("Meta", "meta", StrMap),
    F("KillTimeout", "kill_timeout", PDur),
    F("LogConfig", "logs", Block(&LOGS)),
    F("ShutdownDelay", "shutdown_delay", PDur),
    F("KillSignal", "kill_signal", Str),
    F("VolumeMounts", "volume_mount", Blocks(&VOLUME_MOUNT)),
]);

static WEIGHTS: S = s(&[F("Passing", "passing", Int), F("Warning", "warning", Int)]);

pub(super) static SCALING: S = s(&[
    F("Min", "min", PInt),
    F("Max", "max", PInt),
    F("Policy", "policy", AnyMap),
    F("Enabled", "enabled", PBool),
    F("Type", "type", Str),
    F("ID", "", Server(&Str)),
    F("Namespace", "", Server(&Str)),
    F("Target", "", Server(&StrMap)),
    F("CreateIndex", "", Server(&Int)),
    F("ModifyIndex", "", Server(&Int)),
]);

/// A task's `scaling "cpu"|"mem"` block.
static TASK_SCALING: S = s(&[
    F("_label", "", Label("name")),
    F("Min", "min", PInt),
    F("Max", "max", PInt),
    F("Policy", "policy", AnyMap),
    F("Enabled", "enabled", PBool),
    F("Type", "type", Str),
    F("ID", "", Server(&Str)),
    F("Namespace", "", Server(&Str)),
    F("Target", "", Server(&StrMap)),
    F("CreateIndex", "", Server(&Int)),
    F("ModifyIndex", "", Server(&Int)),
]);

static CONSUL: S = s(&[
    F("Namespace", "namespace", Str),
    F("Cluster", "cluster", Str),
    F("Partition", "partition", Str),
]);

pub(super) static TASK: S = s(&[
    F("Name", "", Label("name")),
    F("Driver", "driver", Str),
    F("User", "user", Str),
    F("Lifecycle", "lifecycle", Block(&LIFECYCLE)),
    F("Config", "config", AnyMap),
    F("Constraints", "constraint", Blocks(&CONSTRAINT)),
    F("Affinities", "affinity", Blocks(&AFFINITY)),
    F("Env", "env", StrMapA),
    F("Services", "service", Blocks(&SERVICE)),
    F("Resources", "resources", Block(&RESOURCES)),
    F("RestartPolicy", "restart", Block(&RESTART)),
    F("Meta", "meta", StrMapA),
    F("KillTimeout", "kill_timeout", PDur),
    F("LogConfig", "logs", Block(&LOGS)),
    F("Artifacts", "artifact", Blocks(&ARTIFACT)),
    F("Vault", "vault", Block(&VAULT)),
    F("Consul", "consul", Block(&CONSUL)),
    F("Templates", "template", Blocks(&TEMPLATE)),
    F(
        "DispatchPayload",
        "dispatch_payload",
        Block(&DISPATCH_PAYLOAD),
    ),
    F("VolumeMounts", "volume_mount", Blocks(&VOLUME_MOUNT)),
    F("CSIPluginConfig", "csi_plugin", Block(&CSI_PLUGIN)),
    F("Leader", "leader", Bool),
    F("ShutdownDelay", "shutdown_delay", Dur),
    F("KillSignal", "kill_signal", Str),
    F("Kind", "kind", Str),
    F("ScalingPolicies", "scaling", Blocks(&TASK_SCALING)),
    F("Identity", "", Server(&PStr)),
    F("Identities", "identity", Blocks(&IDENTITY)),
    F("Actions", "action", Blocks(&ACTION)),
    F("Schedule", "schedule", Opaque),
]);

static LIFECYCLE: S = s(&[F("Hook", "hook", Str), F("Sidecar", "sidecar", Bool)]);

pub(super) static RESOURCES: S = s(&[
    F("CPU", "cpu", PInt),
    F("Cores", "cores", PInt),
    F("MemoryMB", "memory", PInt),
    F("MemoryMaxMB", "memory_max", PInt),
    F("DiskMB", "disk", PInt),
    F("Networks", "network", Blocks(&NETWORK)),
    F("Devices", "device", Blocks(&DEVICE)),
    F("NUMA", "numa", Block(&NUMA)),
    F("SecretsMB", "secrets", PInt),
    F("IOPS", "iops", PInt),
]);

static DEVICE: S = s(&[
    F("Name", "", Label("")),
    F("Count", "count", PInt),
    F("Constraints", "constraint", Blocks(&CONSTRAINT)),
    F("Affinities", "affinity", Blocks(&AFFINITY)),
]);

static NUMA: S = s(&[
    F("Affinity", "affinity", Str),
    F("Devices", "devices", StrList),
]);

pub(super) static LOGS: S = s(&[
    F("MaxFiles", "max_files", PInt),
    F("MaxFileSizeMB", "max_file_size", PInt),
    F("Enabled", "enabled", PBool),
    F("Disabled", "disabled", PBool),
]);

static ARTIFACT: S = s(&[
    F("GetterSource", "source", PStr),
    F("GetterOptions", "options", StrMap),
    F("GetterHeaders", "headers", StrMap),
    F("GetterMode", "mode", PStr),
    F("GetterInsecure", "insecure", PBool),
    F("RelativeDest", "destination", PStr),
    F("Chown", "chown", Bool),
]);

pub(super) static VAULT: S = s(&[
    F("Policies", "policies", StrList),
    F("Role", "role", Str),
    F("Namespace", "namespace", PStr),
    F("Cluster", "cluster", Str),
    F("Env", "env", PBool),
    F("DisableFile", "disable_file", PBool),
    F("ChangeMode", "change_mode", PStr),
    F("ChangeSignal", "change_signal", PStr),
    F("AllowTokenExpiration", "allow_token_expiration", PBool),
]);

static TEMPLATE: S = s(&[
    F("SourcePath", "source", PStr),
    F("DestPath", "destination", PStr),
    F("EmbeddedTmpl", "data", PStr),
    F("ChangeMode", "change_mode", PStr),
    F("ChangeScript", "change_script", Block(&CHANGE_SCRIPT)),
    F("ChangeSignal", "change_signal", PStr),
    F("Once", "once", PBool),
    F("Splay", "splay", PDur),
    F("Perms", "perms", PStr),
    F("Uid", "uid", PInt),
    F("Gid", "gid", PInt),
    F("LeftDelim", "left_delimiter", PStr),
    F("RightDelim", "right_delimiter", PStr),
    F("Envvars", "env", PBool),
    F("VaultGrace", "vault_grace", PDur),
    F("Wait", "wait", Block(&WAIT)),
    F("ErrMissingKey", "error_on_missing_key", PBool),
]);

static CHANGE_SCRIPT: S = s(&[
    F("Command", "command!", PStr),
    F("Args", "args", StrList),
    F("Timeout", "timeout", PDur),
    F("FailOnError", "fail_on_error!", PBool),
]);

static WAIT: S = s(&[F("Min", "min!", PDur), F("Max", "max!", PDur)]);

static DISPATCH_PAYLOAD: S = s(&[F("File", "file", Str)]);

static VOLUME_MOUNT: S = s(&[
    F("Volume", "volume", PStr),
    F("Destination", "destination", PStr),
    F("ReadOnly", "read_only", PBool),
    F("PropagationMode", "propagation_mode", PStr),
    F("SELinuxLabel", "selinux_label", PStr),
]);

static CSI_PLUGIN: S = s(&[
    F("ID", "id", Str),
    F("Type", "type", Str),
    F("MountDir", "mount_dir", Str),
    F("StagePublishBaseDir", "stage_publish_base_dir", Str),
    F("HealthTimeout", "health_timeout", Dur),
]);

static IDENTITY: S = s(&[
    F("Name", "name", Str),
    F("Audience", "aud", StrList),
    F("ChangeMode", "change_mode", Str),
    F("ChangeSignal", "change_signal", Str),
    F("Env", "env", Bool),
    F("File", "file", Bool),
    F("Filepath", "filepath", Str),
    F("ServiceName", "service_name", Str),
    F("TTL", "ttl", Dur),
]);

static ACTION: S = s(&[
    F("Name", "", Label("name")),
    F("Command", "command!", Str),
    F("Args", "args", StrList),
]);

// ------------------------------------------------------------------ decoding

fn is_attr_kind(k: K) -> bool {
    matches!(
        k,
        Str | PStr
            | Int
            | PInt
            | Bool
            | PBool
            | Dur
            | PDur
            | StrList
            | IntList
            | StrMapA
            | StrMapAttr
    )
}

fn is_block_kind(k: K) -> bool {
    matches!(
        k,
        StrMap | StrMapA | HeaderMap | AnyMap | Opaque | Block(_) | Blocks(_) | LabelMap(_)
    )
}

fn child_labels(k: K) -> Vec<&'static str> {
    match k {
        Block(c) | Blocks(c) | LabelMap(c) => c.label_names(),
        _ => Vec::new(),
    }
}

/// The zero value of a field that is absent.
fn zero(k: K) -> Value {
    match k {
        Str => Value::String(String::new()),
        Int | Dur => Value::from(0),
        Bool => Value::Bool(false),
        Server(inner) => zero(*inner),
        _ => Value::Null,
    }
}

/// hcl's `nameSuggestion` (Levenshtein distance below 3).
/// gohcl lists a schema's names sorted, so the first close name alphabetically wins.
fn suggestion<'x>(given: &str, candidates: impl IntoIterator<Item = &'x str>) -> Option<&'x str> {
    let mut names: Vec<&str> = candidates.into_iter().collect();
    names.sort_unstable();
    names.into_iter().find(|c| levenshtein(given, c) < 3)
}

fn levenshtein(a: &str, b: &str) -> usize {
    let b: Vec<char> = b.chars().collect();
    let mut prev: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.chars().enumerate() {
        let mut cur = vec![i + 1; b.len() + 1];
        for (j, cb) in b.iter().enumerate() {
            let cost = usize::from(ca != *cb);
            cur[j + 1] = (prev[j] + cost).min(prev[j + 1] + 1).min(cur[j] + 1);
        }
        prev = cur;
    }
    prev[b.len()]
}

pub(super) struct Dec<'a> {
    pub ctx: Ctx<'a>,
    pub diags: Vec<Diag>,
    /// Blocks generated by `dynamic` blocks (by address, alive while their parent body is
    /// decoded): the iterator binding and the `{` of their `content` block.
    dyn_info: Vec<DynEntry>,
}

/// A generated block's address, iterator binding and `content` brace.
type DynEntry = (usize, Vec<(String, Value)>, usize);

/// One block a `dynamic` block generated: the block, its iterator binding, where its
/// `content` body opens.
type Generated = (Block, Vec<(String, Value)>, usize);

/// Where a body starts (its `{`), for "missing" diagnostics (`Body.MissingItemRange`).
fn open_brace(src: &str, b: &Block) -> usize {
    let from = b
        .labels
        .last()
        .and_then(|l| l.span())
        .or_else(|| b.ident.span())
        .map(|r| r.end)
        .unwrap_or(0);
    src.get(from..)
        .and_then(|rest| rest.find('{'))
        .map(|i| from + i)
        .unwrap_or(from)
}

/// `Block.DefRange`: the type through the last label.
pub(super) fn def_range(b: &Block) -> Option<Range<usize>> {
    let start = b.ident.span()?.start;
    let end = b
        .labels
        .last()
        .and_then(|l| l.span())
        .or_else(|| b.ident.span())?
        .end;
    Some(start..end)
}

impl<'a> Dec<'a> {
    pub fn new(ctx: Ctx<'a>) -> Dec<'a> {
        Dec {
            ctx,
            diags: Vec::new(),
            dyn_info: Vec::new(),
        }
    }

    fn dyn_entry(&self, b: &Block) -> Option<&DynEntry> {
        let addr = b as *const Block as usize;
        self.dyn_info.iter().find(|(a, _, _)| *a == addr)
    }

    /// Runs `f` with a generated block's iterator in scope.
    fn scoped<T>(&mut self, b: &Block, f: impl FnOnce(&mut Self) -> T) -> T {
        let depth = self.ctx.scopes.len();
        if let Some((_, scope, _)) = self.dyn_entry(b) {
            let scope = scope.clone();
            self.ctx.scopes.extend(scope);
        }
        let out = f(self);
        self.ctx.scopes.truncate(depth);
        out
    }

    /// Expands the `dynamic` blocks of a body (hcl's `dynblock` extension, which jobspec2
    /// applies to the job body): one block per `for_each` element, its `content` as body.
    fn expand_dynamic(&mut self, body: &Body) -> Vec<Generated> {
        let mut out = Vec::new();
        for d in body.get_blocks("dynamic") {
            let open = open_brace(self.ctx.src, d);
            let Some(ty) = d.labels.first().map(|l| l.as_str().to_string()) else {
                self.err(
                    Some(open..open + 1),
                    "Missing type for dynamic",
                    "All dynamic blocks must have 1 labels (type).",
                );
                continue;
            };
            for st in d.body.iter() {
                match st {
                    Structure::Attribute(a)
                        if !["for_each", "iterator", "labels"].contains(&a.key.as_str()) =>
                    {
                        self.err(
                            a.key.span(),
                            "Unsupported argument",
                            &format!(
                                "An argument named {:?} is not expected here.",
                                a.key.as_str()
                            ),
                        );
                    }
                    Structure::Block(b) if b.ident.as_str() != "content" => {
                        self.err(
                            b.ident.span(),
                            "Unsupported block type",
                            &format!(
                                "Blocks of type {:?} are not expected here.",
                                b.ident.as_str()
                            ),
                        );
                    }
                    _ => {}
                }
            }
            let Some(for_each) = d.body.get_attribute("for_each") else {
                self.err(
                    Some(open..open),
                    "Missing required argument",
                    "The argument \"for_each\" is required, but no definition was found.",
                );
                continue;
            };
            let Some(content) = d.body.get_blocks("content").next() else {
                self.err(
                    Some(open..open),
                    "Missing content block",
                    "A dynamic block must have a nested block of type \"content\" to describe the body of each generated block.",
                );
                continue;
            };
            let iter_name = match d.body.get_attribute("iterator") {
                Some(a) => match &a.value {
                    Expression::Variable(id) => id.as_str().to_string(),
                    other => {
                        self.err(
                            other.span(),
                            "Invalid dynamic iterator name",
                            "Dynamic iterator must be a single variable name.",
                        );
                        continue;
                    }
                },
                None => ty.clone(),
            };
            let coll = match self.ctx.eval(&for_each.value) {
                Ok(v) => v,
                Err(e) => {
                    self.diags.push(*e);
                    continue;
                }
            };
            let items: Vec<(Value, Value)> = match coll {
                Value::Array(a) => a
                    .into_iter()
                    .enumerate()
                    .map(|(i, v)| (Value::from(i as u64), v))
                    .collect(),
                Value::Object(m) => m.into_iter().map(|(k, v)| (Value::String(k), v)).collect(),
                Value::Null => {
                    self.err(
                        for_each.value.span(),
                        "Invalid dynamic for_each value",
                        "Cannot use a null value in for_each.",
                    );
                    continue;
                }
                other => {
                    self.err(
                        for_each.value.span(),
                        "Invalid dynamic for_each value",
                        &format!(
                            "Cannot use a {} value in for_each. An iterable collection is required.",
                            type_name(&other)
                        ),
                    );
                    continue;
                }
            };
            let Ok(ident) = hcl::edit::Ident::try_new(ty.as_str()) else {
                continue;
            };
            let content_open = open_brace(self.ctx.src, content);
            for (k, v) in items {
                let mut iter = Map::new();
                iter.insert("key".into(), k);
                iter.insert("value".into(), v);
                let scope = vec![(iter_name.clone(), Value::Object(iter))];
                let mut labels = Vec::new();
                if let Some(l) = d.body.get_attribute("labels") {
                    let depth = self.ctx.scopes.len();
                    self.ctx.scopes.extend(scope.clone());
                    let r = self.ctx.eval(&l.value);
                    self.ctx.scopes.truncate(depth);
                    match r {
                        Ok(Value::Array(ls)) => {
                            for x in ls {
                                labels.push(to_string(&x).unwrap_or_default());
                            }
                        }
                        Ok(_) => self.err(
                            l.value.span(),
                            "Invalid dynamic block label",
                            "Cannot use this value as a dynamic block label: list of string required.",
                        ),
                        Err(e) => self.diags.push(*e),
                    }
                }
                let mut block = Block::new(ident.clone());
                block.labels = labels
                    .into_iter()
                    .map(hcl::edit::structure::BlockLabel::from)
                    .collect();
                block.body = content.body.clone();
                out.push((block, scope, content_open));
            }
        }
        out
    }

    fn err(&mut self, span: Option<Range<usize>>, summary: &str, detail: &str) {
        self.diags
            .push(Diag::new(self.ctx.src, span, summary, detail));
    }

    /// Decodes a block's body against a schema into the JSON object of its struct.
    pub fn block(&mut self, b: &Block, schema: &S) -> Map<String, Value> {
        let open = match self.dyn_entry(b) {
            Some((_, _, open)) => *open,
            None => open_brace(self.ctx.src, b),
        };
        let labels: Vec<String> = b.labels.iter().map(|l| l.as_str().to_string()).collect();
        self.body(&b.body, open, schema, &labels)
    }

    pub fn body(
        &mut self,
        body: &Body,
        open: usize,
        schema: &S,
        labels: &[String],
    ) -> Map<String, Value> {
        let hcl_name = |f: &F| f.1.trim_end_matches('!');
        let generated = self.expand_dynamic(body);
        let registered = self.dyn_info.len();
        for (b, scope, open) in &generated {
            self.dyn_info
                .push((b as *const Block as usize, scope.clone(), *open));
        }
        // Content: every attribute and block must be in the schema.
        let attrs_in_body: Vec<&str> = body.attributes().map(|a| a.key.as_str()).collect();
        for st in body.iter() {
            match st {
                Structure::Attribute(a) => {
                    let name = a.key.as_str();
                    let known = schema
                        .fields
                        .iter()
                        .any(|f| hcl_name(f) == name && is_attr_kind(f.2));
                    if !known {
                        let cands = schema
                            .fields
                            .iter()
                            .filter(|f| is_attr_kind(f.2) && !hcl_name(f).is_empty())
                            .map(hcl_name)
                            .filter(|n| !attrs_in_body.contains(n));
                        let mut sugg = suggestion(name, cands)
                            .map(|s| format!(" Did you mean {s:?}?"))
                            .unwrap_or_default();
                        if sugg.is_empty()
                            && schema
                                .fields
                                .iter()
                                .any(|f| hcl_name(f) == name && is_block_kind(f.2))
                        {
                            sugg = format!(" Did you mean to define a block of type {name:?}?");
                        }
                        self.err(
                            a.key.span(),
                            "Unsupported argument",
                            &format!("An argument named {name:?} is not expected here.{sugg}"),
                        );
                    }
                }
                Structure::Block(b) if b.ident.as_str() == "dynamic" => {}
                Structure::Block(b) => self.check_block(b, b.ident.as_str(), schema),
            }
        }
        for (b, _, _) in &generated {
            self.check_block(b, b.ident.as_str(), schema);
        }

        let mut out = Map::new();
        for f in schema.fields {
            let name = hcl_name(f);
            let required = f.1.ends_with('!');
            let v = match f.2 {
                Label(_) => {
                    let idx = schema
                        .fields
                        .iter()
                        .take_while(|x| !std::ptr::eq(*x, f))
                        .filter(|x| matches!(x.2, Label(_)))
                        .count();
                    labels
                        .get(idx)
                        .map(|l| Value::String(l.clone()))
                        .unwrap_or(Value::Null)
                }
                Server(_) => zero(f.2),
                k if name.is_empty() => zero(k),
                StrMapA => {
                    let attr = body.get_attribute(name);
                    let blocks: Vec<&Block> = body
                        .get_blocks(name)
                        .chain(
                            generated
                                .iter()
                                .map(|g| &g.0)
                                .filter(|b| b.ident.as_str() == name),
                        )
                        .collect();
                    match (attr, blocks.first()) {
                        (Some(a), Some(b)) => {
                            let prev = a
                                .span()
                                .map(|s| super::eval::range_string(self.ctx.src, s))
                                .unwrap_or_default();
                            self.err(
                                def_range(b),
                                &format!("Duplicate {name} block"),
                                &format!("{name} may not be defined more than once. Another definition is defined at {prev}."),
                            );
                            Value::Null
                        }
                        (Some(a), None) => self.attr_value(&a.value, StrMapAttr),
                        (None, Some(_)) => self.blocks_value(&blocks, f.2, name),
                        (None, None) => Value::Null,
                    }
                }
                k if is_attr_kind(k) => match body.get_attribute(name) {
                    Some(a) => self.attr_value(&a.value, k),
                    None => {
                        if required {
                            self.err(
                                Some(open..open),
                                "Missing required argument",
                                &format!("The argument {name:?} is required, but no definition was found."),
                            );
                        }
                        zero(k)
                    }
                },
                k => {
                    let want = child_labels(k).len();
                    let blocks: Vec<&Block> = body
                        .get_blocks(name)
                        .chain(
                            generated
                                .iter()
                                .map(|g| &g.0)
                                .filter(|b| b.ident.as_str() == name),
                        )
                        .filter(|b| b.labels.len() == want)
                        .collect();
                    if blocks.is_empty() {
                        zero(k)
                    } else {
                        self.blocks_value(&blocks, k, name)
                    }
                }
            };
            out.insert(f.0.to_string(), v);
        }
        self.dyn_info.truncate(registered);
        out
    }

    /// A block of the body must be of a type the schema has, with its labels.
    fn check_block(&mut self, b: &Block, ty: &str, schema: &S) {
        let hcl_name = |f: &F| f.1.trim_end_matches('!');
        let field = schema
            .fields
            .iter()
            .find(|f| hcl_name(f) == ty && is_block_kind(f.2));
        match field {
            None => {
                let cands = schema
                    .fields
                    .iter()
                    .filter(|f| is_block_kind(f.2))
                    .map(hcl_name);
                let mut sugg = suggestion(ty, cands)
                    .map(|s| format!(" Did you mean {s:?}?"))
                    .unwrap_or_default();
                if sugg.is_empty()
                    && schema
                        .fields
                        .iter()
                        .any(|f| hcl_name(f) == ty && is_attr_kind(f.2))
                {
                    sugg = format!(" Did you mean to define argument {ty:?}? If so, use the equals sign to assign it a value.");
                }
                self.err(
                    b.ident.span(),
                    "Unsupported block type",
                    &format!("Blocks of type {ty:?} are not expected here.{sugg}"),
                );
            }
            Some(f) => {
                let want = child_labels(f.2);
                self.check_labels(b, ty, &want);
            }
        }
    }

    fn check_labels(&mut self, b: &Block, ty: &str, want: &[&str]) {
        let got = b.labels.len();
        if got > want.len() {
            let subject = b.labels.get(want.len()).and_then(|l| l.span());
            let detail = if want.is_empty() {
                format!("No labels are expected for {ty} blocks.")
            } else {
                format!(
                    "Only {} labels ({}) are expected for {ty} blocks.",
                    want.len(),
                    want.join(", ")
                )
            };
            self.err(subject, &format!("Extraneous label for {ty}"), &detail);
        } else if got < want.len() {
            let open = open_brace(self.ctx.src, b);
            self.err(
                Some(open..open + 1),
                &format!("Missing {} for {ty}", want[got]),
                &format!(
                    "All {ty} blocks must have {} labels ({}).",
                    want.len(),
                    want.join(", ")
                ),
            );
        }
    }

    fn blocks_value(&mut self, blocks: &[&Block], k: K, name: &str) -> Value {
        match k {
            Block(_) | Opaque | StrMap | StrMapA | HeaderMap | AnyMap => {
                if blocks.len() > 1 {
                    let prev = def_range(blocks[0])
                        .map(|r| super::eval::range_string(self.ctx.src, r))
                        .unwrap_or_default();
                    self.err(
                        def_range(blocks[1]),
                        &format!("Duplicate {name} block"),
                        &format!(
                            "Only one {name} block is allowed. Another was defined at {prev}."
                        ),
                    );
                    return Value::Null;
                }
                let b = blocks[0];
                self.scoped(b, |this| match k {
                    Block(schema) => Value::Object(this.special(b, schema)),
                    Opaque | AnyMap => Value::Object(this.free_form(&b.body)),
                    StrMap | StrMapA => this.str_map_body(&b.body, false),
                    _ => this.str_map_body(&b.body, true),
                })
            }
            Blocks(schema) => Value::Array(
                blocks
                    .iter()
                    .map(|b| Value::Object(self.scoped(b, |this| this.special(b, schema))))
                    .collect(),
            ),
            LabelMap(schema) => {
                let mut m = Map::new();
                for b in blocks {
                    let label = b
                        .labels
                        .first()
                        .map(|l| l.as_str().to_string())
                        .unwrap_or_default();
                    let v = self.scoped(b, |this| this.special(b, schema));
                    m.insert(label, Value::Object(v));
                }
                Value::Object(m)
            }
            _ => Value::Null,
        }
    }

    /// Decodes one block, with the custom decoders Nomad registers (constraint, affinity).
    fn special(&mut self, b: &Block, schema: &'static S) -> Map<String, Value> {
        let m = self.block(b, schema);
        if std::ptr::eq(schema, &CONSTRAINT) {
            constraint(&m)
        } else if std::ptr::eq(schema, &AFFINITY) {
            affinity(&m)
        } else {
            m
        }
    }

    /// A `map[string]string` (or `map[string][]string`) block: its attributes, converted.
    fn str_map_body(&mut self, body: &Body, lists: bool) -> Value {
        let mut m = Map::new();
        if let Some(b) = body.blocks().next() {
            self.err(
                b.ident.span(),
                "Unsuitable value type",
                "Unsuitable value: string required",
            );
        }
        for a in body.attributes() {
            let v = self.attr_value(&a.value, if lists { StrList } else { Str });
            m.insert(a.key.as_str().to_string(), v);
        }
        Value::Object(m)
    }

    /// A free-form block (`config`): attributes as they are, except that an object literal
    /// becomes a one-element list, and nested blocks become lists of objects (Nomad's
    /// `BlocksAsAttrs`, kept for compatibility with HCL1 jobspecs).
    pub fn free_form(&mut self, body: &Body) -> Map<String, Value> {
        let mut m = Map::new();
        for a in body.attributes() {
            match self.ctx.eval(&a.value) {
                Ok(v) => {
                    let v = if matches!(a.value, Expression::Object(_)) {
                        Value::Array(vec![v])
                    } else {
                        v
                    };
                    m.insert(a.key.as_str().to_string(), v);
                }
                Err(d) => self.diags.push(*d),
            }
        }
        let mut order: Vec<&str> = Vec::new();
        for b in body.blocks() {
            if !order.contains(&b.ident.as_str()) {
                order.push(b.ident.as_str());
            }
        }
        for ty in order {
            let mut items = Vec::new();
            for b in body.get_blocks(ty) {
                let mut v = Value::Object(self.free_form(&b.body));
                for l in b.labels.iter().rev() {
                    let mut wrap = Map::new();
                    wrap.insert(l.as_str().to_string(), Value::Array(vec![v]));
                    v = Value::Object(wrap);
                }
                items.push(v);
            }
            m.insert(ty.to_string(), Value::Array(items));
        }
        m
    }

    /// Evaluates an attribute and converts it to the field's Go type.
    pub fn attr_value(&mut self, e: &Expression, k: K) -> Value {
        let v = match self.ctx.eval(e) {
            Ok(v) => v,
            Err(d) => {
                self.diags.push(*d);
                return zero(k);
            }
        };
        match convert(&v, k) {
            Ok(v) => v,
            Err((summary, detail)) => {
                self.err(start_range(self.ctx.src, e), &summary, &detail);
                zero(k)
            }
        }
    }
}

type ConvErr = (String, String);

fn unsuitable(what: &str) -> ConvErr {
    (
        "Unsuitable value type".to_string(),
        format!("Unsuitable value: {what}"),
    )
}

/// gocty/convert: an HCL value into a field's Go type.
pub(super) fn convert(v: &Value, k: K) -> Result<Value, ConvErr> {
    if v.is_null() {
        if matches!(k, Dur | PDur) {
            return Err((
                "Unsuitable value".into(),
                "Unsuitable duration value: nil".into(),
            ));
        }
        return Ok(zero(k));
    }
    match k {
        Str | PStr => match v {
            Value::Array(_) | Value::Object(_) => Err(unsuitable("string required")),
            other => Ok(Value::String(to_string(other).unwrap_or_default())),
        },
        Int | PInt => match v {
            Value::Number(_) | Value::String(_) => {
                let f = to_f64(v).ok_or_else(|| unsuitable("a number is required"))?;
                if f.fract() != 0.0 {
                    return Err(unsuitable(
                        "value must be a whole number, between -9223372036854775808 and 9223372036854775807",
                    ));
                }
                Ok(float_value(f))
            }
            _ => Err(unsuitable("number required")),
        },
        Bool | PBool => match v {
            Value::Bool(_) | Value::String(_) => to_bool(v)
                .map(Value::Bool)
                .ok_or_else(|| unsuitable("a bool is required")),
            _ => Err(unsuitable("bool required")),
        },
        Dur | PDur => match v {
            Value::String(s) => crate::duration::parse_go_duration(s)
                .map(|d| Value::from(d.as_nanos() as i64))
                .map_err(|e| {
                    (
                        "Unsuitable value type".to_string(),
                        format!("Unsuitable duration value: {e}"),
                    )
                }),
            Value::Number(_) => Ok(float_value(to_f64(v).unwrap_or(0.0))),
            other => Err((
                "Unsuitable value type".into(),
                format!(
                    "Unsuitable value: expected a string but found {}",
                    type_name(other)
                ),
            )),
        },
        StrList | IntList => match v {
            Value::Array(items) => {
                let mut out = Vec::new();
                for i in items {
                    out.push(
                        convert(i, if matches!(k, StrList) { Str } else { Int }).map_err(|_| {
                            unsuitable(if matches!(k, StrList) {
                                "list of string required"
                            } else {
                                "list of number required"
                            })
                        })?,
                    );
                }
                Ok(Value::Array(out))
            }
            _ => Err(unsuitable(if matches!(k, StrList) {
                "list of string required"
            } else {
                "list of number required"
            })),
        },
        StrMapA | StrMapAttr | StrMap => match v {
            Value::Object(m) => {
                let mut out = Map::new();
                for (key, val) in m {
                    let s = match val {
                        Value::Array(_) | Value::Object(_) => {
                            return Err(unsuitable("map of string required"))
                        }
                        Value::Null => String::new(),
                        other => to_string(other).unwrap_or_default(),
                    };
                    out.insert(key.clone(), Value::String(s));
                }
                Ok(Value::Object(out))
            }
            _ => Err(unsuitable("map of string required")),
        },
        _ => Ok(v.clone()),
    }
}

fn pstr(m: &Map<String, Value>, k: &str) -> String {
    m.get(k).and_then(Value::as_str).unwrap_or("").to_string()
}

/// Nomad's `decodeConstraint`: the shortcut attributes set the operand.
fn constraint(m: &Map<String, Value>) -> Map<String, Value> {
    let mut l = pstr(m, "_attribute");
    let mut r = pstr(m, "_value");
    let mut op = pstr(m, "_operator");
    for (key, operand) in [
        ("_version", "version"),
        ("_semver", "semver"),
        ("_regexp", "regexp"),
        ("_set_contains", "set_contains"),
    ] {
        let v = pstr(m, key);
        if !v.is_empty() {
            op = operand.into();
            r = v;
        }
    }
    if let Some(Value::Bool(d)) = m.get("_distinct_hosts") {
        op = "distinct_hosts".into();
        r = d.to_string();
    }
    let p = pstr(m, "_distinct_property");
    if !p.is_empty() {
        op = "distinct_property".into();
        l = p;
    }
    if op.is_empty() {
        op = "=".into();
    }
    let mut out = Map::new();
    out.insert("LTarget".into(), Value::String(l));
    out.insert("RTarget".into(), Value::String(r));
    out.insert("Operand".into(), Value::String(op));
    out
}

/// Nomad's `decodeAffinity`.
fn affinity(m: &Map<String, Value>) -> Map<String, Value> {
    let l = pstr(m, "_attribute");
    let mut r = pstr(m, "_value");
    let mut op = pstr(m, "_operator");
    for (key, operand) in [
        ("_version", "version"),
        ("_semver", "semver"),
        ("_regexp", "regexp"),
        ("_set_contains_any", "set_contains_any"),
        ("_set_contains_all", "set_contains_all"),
        ("_set_contains", "set_contains"),
    ] {
        let v = pstr(m, key);
        if !v.is_empty() {
            op = operand.into();
            r = v;
        }
    }
    if op.is_empty() {
        op = "=".into();
    }
    let mut out = Map::new();
    out.insert("LTarget".into(), Value::String(l));
    out.insert("RTarget".into(), Value::String(r));
    out.insert("Operand".into(), Value::String(op));
    out.insert(
        "Weight".into(),
        m.get("_weight").cloned().unwrap_or(Value::Null),
    );
    out
}

/// hclsyntax's `Expression.StartRange()`: a quoted string starts at its first part, inside
/// the quotes.
fn start_range(src: &str, e: &Expression) -> Option<Range<usize>> {
    match e {
        Expression::String(_) => {
            let r = e.span()?;
            if src.as_bytes().get(r.start) == Some(&b'"') && r.end >= r.start + 2 {
                Some(r.start + 1..r.end - 1)
            } else {
                Some(r)
            }
        }
        Expression::StringTemplate(t) => match t.iter().next() {
            Some(hcl::edit::template::Element::Literal(l)) => l.span().or_else(|| e.span()),
            Some(hcl::edit::template::Element::Interpolation(i)) => {
                i.expr.span().or_else(|| e.span())
            }
            _ => e.span(),
        },
        _ => e.span(),
    }
}
