#!/usr/bin/env python3
"""Validate .goreleaser.yml: GoReleaser's JSON schema, then the release file names it produces.

GoReleaser cannot be installed on the build machines, so this is the check CI runs instead:

1. the config against GoReleaser v2's published JSON schema, with the Draft 2020-12 validator
   (unknown keys, wrong types, bad enum values);
2. the names the Terraform registry expects, rendered from the config's templates
   (.ProjectName, .Version, .Os, .Arch the way GoReleaser's Rust builder derives them from the
   target triples): terraform-provider-stack_0.1.0_linux_amd64.zip, ..._SHA256SUMS,
   ..._manifest.json, and the executable terraform-provider-stack_v0.1.0.

Usage:
    PYTHONPATH=... python3 scripts/validate-goreleaser.py [--schema FILE] [CONFIG]

CONFIG defaults to <repo>/.goreleaser.yml. The schema defaults to
$STACK_SHARED_DIR/schemas/goreleaser.schema.json, else <repo>/../shared/schemas/goreleaser.schema.json.
Needs the `jsonschema` and `pyyaml` packages (scripts/setup-tools.sh installs both into
.tools/venv: run it with .tools/venv/bin/python).

Exit status: 0 valid, 1 invalid, 2 usage error or missing input.
"""

import argparse
import json
import os
import re
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PROJECT = "terraform-provider-stack"
MANIFEST = "terraform-registry-manifest.json"
EXPECTED_MANIFEST = {"version": 1, "metadata": {"protocol_versions": ["6.0"]}}

# GoReleaser's Rust builder (internal/builders/rust): defaults and triple -> Go arch names.
DEFAULT_RUST_TARGETS = [
    "x86_64-unknown-linux-gnu",
    "x86_64-apple-darwin",
    "x86_64-pc-windows-gnu",
    "aarch64-unknown-linux-gnu",
    "aarch64-apple-darwin",
]
GOARCH = {
    "aarch64": "arm64",
    "x86_64": "amd64",
    "i686": "386",
    "i586": "386",
    "i386": "386",
    "powerpc": "ppc",
    "powerpc64": "ppc64",
    "powerpc64le": "ppc64le",
    "riscv64": "riscv64",
    "s390x": "s390x",
    "arm": "arm",
    "armv7": "arm",
    "wasm32": "wasm",
}
# Platforms the registry and `terraform init` know.
REGISTRY_OS = {"linux", "darwin", "windows", "freebsd", "openbsd", "solaris"}
REGISTRY_ARCH = {"amd64", "arm64", "386", "arm"}

TEMPLATE_VAR = re.compile(r"\{\{-?\s*\.([A-Za-z_][A-Za-z0-9_]*)\s*-?\}\}")


def default_schema_path():
    shared = os.environ.get("STACK_SHARED_DIR")
    base = Path(shared) if shared else ROOT.parent / "shared"
    return base / "schemas" / "goreleaser.schema.json"


def workspace_version():
    text = (ROOT / "Cargo.toml").read_text(encoding="utf-8")
    try:
        import tomllib

        return tomllib.loads(text)["workspace"]["package"]["version"]
    except ImportError:  # Python < 3.11
        m = re.search(r'^\[workspace\.package\][^\[]*?^version\s*=\s*"([^"]+)"', text, re.M | re.S)
        if not m:
            raise KeyError("workspace.package.version")
        return m.group(1)


def render(template, values):
    """GoReleaser-style {{ .Name }} substitution; anything else is an error."""

    def sub(m):
        key = m.group(1)
        if key not in values:
            raise ValueError(f"unsupported template variable .{key} in {template!r}")
        return values[key]

    out = TEMPLATE_VAR.sub(sub, template)
    if "{{" in out:
        raise ValueError(f"cannot render {template!r}: only {{{{ .Var }}}} is supported here")
    return out


def json_path(parts):
    out = "$"
    for p in parts:
        out += f"[{p}]" if isinstance(p, int) else f".{p}"
    return out


def schema_errors(config, schema):
    from jsonschema import Draft202012Validator

    Draft202012Validator.check_schema(schema)
    validator = Draft202012Validator(schema)
    errors = sorted(
        validator.iter_errors(config),
        key=lambda e: [str(p) for p in e.absolute_path],
    )
    lines = []
    for e in errors:
        lines.append(f"{json_path(e.absolute_path)}: {e.message}")
        # oneOf/anyOf failures: show why each alternative failed.
        for sub in sorted(e.context or [], key=lambda s: [str(p) for p in s.absolute_path]):
            lines.append(f"    {json_path(sub.absolute_path)}: {sub.message}")
    return lines


def name_errors(config, version):
    """Checks that the rendered names are what the Terraform registry expects."""
    problems = []
    names = []
    project = config.get("project_name")
    if project != PROJECT:
        problems.append(f"$.project_name: {project!r}, want {PROJECT!r}")
        project = PROJECT
    base = {"ProjectName": project, "Version": version}

    def check(where, template, want):
        try:
            got = render(template or "", base)
        except ValueError as e:
            problems.append(f"{where}: {e}")
            return
        names.append(got)
        if got != want:
            problems.append(f"{where}: renders {got!r}, want {want!r}")

    platforms = []
    builds = config.get("builds") or []
    if not builds:
        problems.append("$.builds: no builds")
    for i, b in enumerate(builds):
        where = f"$.builds[{i}]"
        if b.get("builder") != "rust":
            problems.append(f"{where}.builder: {b.get('builder')!r}, want 'rust'")
            continue
        check(f"{where}.binary", b.get("binary"), f"{project}_v{version}")
        flags = b.get("flags") or []
        if not any(str(f).startswith(("--package=", "-p=")) for f in flags):
            problems.append(
                f"{where}.flags: the workspace needs --package={project} (GoReleaser refuses otherwise)"
            )
        for t in b.get("targets") or DEFAULT_RUST_TARGETS:
            parts = t.split("-")
            if len(parts) < 3:
                problems.append(f"{where}.targets: {t!r} is not a target triple")
                continue
            platforms.append((parts[2], GOARCH.get(parts[0], parts[0])))

    archives = config.get("archives") or []
    if not archives:
        problems.append("$.archives: no archives")
    for i, a in enumerate(archives):
        where = f"$.archives[{i}]"
        formats = a.get("formats") or ([a["format"]] if "format" in a else [])
        if isinstance(formats, str):
            formats = [formats]
        if list(formats) != ["zip"]:
            problems.append(f"{where}.formats: {formats!r}, want ['zip']")
        template = a.get("name_template") or ""
        for os_name, arch in platforms:
            if os_name not in REGISTRY_OS or arch not in REGISTRY_ARCH:
                problems.append(f"{where}: platform {os_name}_{arch} is not one the registry serves")
            try:
                got = render(template, {**base, "Os": os_name, "Arch": arch}) + ".zip"
            except ValueError as e:
                problems.append(f"{where}.name_template: {e}")
                break
            names.append(got)
            want = f"{project}_{version}_{os_name}_{arch}.zip"
            if got != want:
                problems.append(f"{where}.name_template: renders {got!r}, want {want!r}")
    if ("linux", "amd64") not in platforms:
        problems.append("$.builds: no linux_amd64 build")

    checksum = config.get("checksum") or {}
    check("$.checksum.name_template", checksum.get("name_template"), f"{project}_{version}_SHA256SUMS")
    if checksum.get("algorithm", "sha256") != "sha256":
        problems.append(f"$.checksum.algorithm: {checksum.get('algorithm')!r}, want 'sha256'")

    manifest_name = f"{project}_{version}_manifest.json"
    for where, extra in (
        ("$.checksum.extra_files", checksum.get("extra_files")),
        ("$.release.extra_files", (config.get("release") or {}).get("extra_files")),
    ):
        entries = [e for e in extra or [] if e.get("glob") == MANIFEST]
        if not entries:
            problems.append(f"{where}: {MANIFEST} is not listed")
        for e in entries:
            check(f"{where}[glob={MANIFEST}].name_template", e.get("name_template"), manifest_name)

    signs = config.get("signs") or []
    if not any(s.get("artifacts") == "checksum" for s in signs):
        problems.append("$.signs: the checksum file is not signed")
    for i, s in enumerate(signs):
        args = " ".join(s.get("args") or [])
        if s.get("artifacts") == "checksum" and "{{ .Env.GPG_FINGERPRINT }}" not in args:
            problems.append(f"$.signs[{i}].args: does not use {{{{ .Env.GPG_FINGERPRINT }}}}")

    if not (config.get("changelog") or {}).get("disable"):
        problems.append("$.changelog.disable: want true")

    manifest_path = ROOT / MANIFEST
    try:
        manifest = json.loads(manifest_path.read_text(encoding="utf-8"))
        if manifest != EXPECTED_MANIFEST:
            problems.append(f"{MANIFEST}: {manifest!r}, want {EXPECTED_MANIFEST!r}")
    except (OSError, ValueError) as e:
        problems.append(f"{MANIFEST}: {e}")

    return problems, names


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("config", nargs="?", default=str(ROOT / ".goreleaser.yml"))
    parser.add_argument("--schema", default=None, help="GoReleaser JSON schema file")
    args = parser.parse_args()

    try:
        import jsonschema  # noqa: F401
        import yaml
    except ImportError as e:
        print(
            f"error: {e}; install jsonschema and pyyaml (scripts/setup-tools.sh puts them in "
            ".tools/venv) or point PYTHONPATH at them",
            file=sys.stderr,
        )
        return 2

    schema_path = Path(args.schema) if args.schema else default_schema_path()
    try:
        schema = json.loads(schema_path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as e:
        print(f"error: schema {schema_path}: {e} (set STACK_SHARED_DIR or pass --schema)", file=sys.stderr)
        return 2
    try:
        with open(args.config, encoding="utf-8") as f:
            config = yaml.safe_load(f)
        version = workspace_version()
    except (OSError, KeyError, yaml.YAMLError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    if not isinstance(config, dict):
        print(f"error: {args.config}: not a YAML mapping", file=sys.stderr)
        return 2

    errors = schema_errors(config, schema)
    if errors:
        print(f"{args.config}: {len(errors)} schema error(s) (JSON Schema Draft 2020-12, {schema_path}):")
        for line in errors:
            print(f"  {line}")
        return 1
    print(f"{args.config}: valid against {schema_path} (Draft 2020-12)")

    problems, names = name_errors(config, version)
    if problems:
        print(f"{args.config}: {len(problems)} release-layout problem(s):")
        for p in problems:
            print(f"  {p}")
        return 1
    print(f"release names for version {version}:")
    for n in dict.fromkeys(names):
        print(f"  {n}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
