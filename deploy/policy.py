#!/usr/bin/env python3
"""Kontakt's deployment policy, checked on rendered manifests (`kubectl kustomize` output).

    policy.py [--overlay NAME | --min-replicas N] RENDERED.yaml...

Lists every violation as `<kind>/<name>: <what is wrong>` and exits 1, or prints `policy OK`.

Each kontakt service (referral, matching, timecost, followup) must have: a Deployment running
`kontakt serve <service>` with enough replicas (2 for overlays named prod*, else 1), a rolling
update that never drops below that, the standard labels; a ClusterIP Service of the same name
with a port `grpc` (appProtocol grpc); its own ServiceAccount without an API token; the three
gRPC health probes (readiness on "", startup and liveness on "liveness") on its gRPC port or on
its health port (a container port `health` that KONTAKT_HEALTH_LISTEN names), never on a port
that serves TLS (the kubelet's gRPC probes cannot speak it); requests and limits;
the hardened securityContext; a PodDisruptionBudget; an autoscaling/v2 HPA; topology spread
over nodes and zones; a grace period covering the preStop sleep plus KONTAKT_SHUTDOWN_GRACE;
network policies admitting only the services that follow its feed, the console and
kontakt.dk/client pods, and letting it reach only DNS, PostgreSQL, the feeds it follows, the
collector and the identity provider; and a migration Job reaching only DNS and PostgreSQL.

The console (`kontakt serve console`, HTTP or HTTPS on 8080) must have the same Deployment,
rollout, ServiceAccount, security context, disruption budget, autoscaler, spread and grace
period; a ClusterIP Service `console` with port `http` 80 -> 8080; HTTP probes (startup and
liveness GET /healthz, readiness GET /readyz; scheme HTTPS when it serves TLS); KONTAKT_LISTEN
on 8080, the four services' Service addresses, its public URL (https, or http on localhost)
and OIDC settings, and its session key and OIDC client secret as files from a read-only
Secret mount; nothing of the services' own
(no DATABASE_URL, CPR keys, JWKS, nor their Secrets); network policies admitting only namespaces
named by a selector (the ingress controller's) on 8080, at least one where an Ingress routes to
it, and letting it reach only DNS, the four services, the collector and the identity provider
(never PostgreSQL); and any Ingress to it on Service port 80 with TLS for every host, one of them
the public URL's (and, for ingress-nginx, the backend protocol the console speaks).

TLS (components/tls), wherever a service or the console has KONTAKT_TLS_CERT: KONTAKT_TLS_KEY
with it; its files in read-only volume mounts without subPath (a subPath never sees the renewed
files), the certificate and key from a Secret issued by a cert-manager Certificate in the render
whose dnsNames include the Service's names (<svc>, <svc>.<namespace>.svc), with usages server
auth and client auth, from an Issuer in the render (or a ClusterIssuer); a service requires
client certificates (KONTAKT_TLS_CLIENT_CA), the console does not (its probes present none).
Every caller's URL of a service (the feeds it follows, the console's four) is https exactly
when that service serves TLS, with KONTAKT_TLS_CA to verify it and, where the service requires
one, a certificate of its own to present. An ingress-nginx Ingress to an HTTPS console that
verifies it names a Secret of the render's namespace issued by a Certificate, and a name in
the console's certificate.

A CloudNativePG Cluster must archive its WAL to object storage (credentials from a Secret,
compressed, with a retention policy) and have a ScheduledBackup.

Every workload (Deployment, StatefulSet, Job, ...) must run as non-root without privilege
escalation, drop all capabilities, use the RuntimeDefault seccomp profile and a read-only root
filesystem, set requests and limits, mount no API token, and be selected by a NetworkPolicy.
"""

import argparse
import ipaddress
import json
import re
import sys
from urllib.parse import urlsplit

import yaml

# The services, their ports, and whose event feeds each follows (consumer -> producers).
PORTS = {"referral": 50051, "matching": 50052, "timecost": 50053, "followup": 50054}
FOLLOWS = {
    "referral": ["followup"],
    "matching": ["referral"],
    "timecost": ["referral", "matching"],
    "followup": ["referral", "timecost"],
}
# Who calls each service: the services that follow its feed.
CALLERS = {s: [c for c, producers in FOLLOWS.items() if s in producers] for s in PORTS}

# The web console: an HTTP workload that calls every service with the signed-in person's token.
CONSOLE, CONSOLE_PORT = "console", 8080
CONSOLE_SERVICE_PORT = 80  # the Service's port, which Ingresses name
CONSOLE_PROBES = (("startupProbe", "/healthz"), ("livenessProbe", "/healthz"), ("readinessProbe", "/readyz"))
CONSOLE_SETTINGS = ("KONTAKT_CONSOLE_PUBLIC_URL", "KONTAKT_OIDC_ISSUER_URL", "KONTAKT_OIDC_CLIENT_ID")
CONSOLE_SECRET_FILES = ("KONTAKT_CONSOLE_SESSION_KEY_FILE", "KONTAKT_OIDC_CLIENT_SECRET_FILE")
# What the console must not have: it owns no database, holds no CPR keys and verifies no tokens.
# Variables (a trailing _ is a prefix) and the services' Secrets (deploy/README.md § Secrets).
NOT_THE_CONSOLES_VARIABLES = ("DATABASE_URL", "KONTAKT_CPR_", "KONTAKT_JWKS_")
NOT_THE_CONSOLES_SECRETS = ("kontakt-db", "kontakt-cpr", "kontakt-auth", "kontakt-service-token")

CLIENT_LABEL = ("kontakt.dk/client", "true")

SERVICE_UID = 65532
DEFAULT_SHUTDOWN_GRACE = "20s"  # the binary's default when KONTAKT_SHUTDOWN_GRACE is unset

# TLS (components/tls). The health port is a second, plaintext listener serving grpc.health.v1
# only (KONTAKT_HEALTH_LISTEN), for the kubelet's gRPC probes, which cannot speak TLS.
HEALTH_PORT_NAME = "health"
TLS_CERT, TLS_KEY = "KONTAKT_TLS_CERT", "KONTAKT_TLS_KEY"
TLS_CA, TLS_CLIENT_CA = "KONTAKT_TLS_CA", "KONTAKT_TLS_CLIENT_CA"
CERT_MANAGER = "cert-manager.io/"
# Each process serves its certificate and presents it when it calls a service.
CERTIFICATE_USAGES = ("server auth", "client auth")
NGINX_BACKEND_PROTOCOL = "nginx.ingress.kubernetes.io/backend-protocol"
NGINX_PROXY_SSL = "nginx.ingress.kubernetes.io/proxy-ssl-"

WORKLOAD_KINDS = {"Deployment", "StatefulSet", "DaemonSet", "ReplicaSet", "Job", "CronJob"}
CLUSTER_SCOPED = {
    "Namespace", "ClusterRole", "ClusterRoleBinding", "CustomResourceDefinition",
    "PriorityClass", "StorageClass", "PersistentVolume", "IngressClass", "RuntimeClass",
    "ValidatingWebhookConfiguration", "MutatingWebhookConfiguration",
}

# Egress destinations, by what a NetworkPolicy peer points at.
DNS, POSTGRES, COLLECTOR, IDP = "DNS", "PostgreSQL", "the OTel collector", "the identity provider"
DESTINATION_PORTS = {DNS: {(53, "UDP"), (53, "TCP")}, POSTGRES: {(5432, "TCP")},
                     COLLECTOR: {(4317, "TCP")}, IDP: {(443, "TCP")}}


def feed(service):
    return f"{service}'s feed"


def service_destination(service):
    return f"the {service} service"


def url_variable(service):
    return f"KONTAKT_{service.upper()}_URL"


# --- reading the render -----------------------------------------------------------------------

def load(paths):
    docs = []
    for path in paths:
        with open(path, encoding="utf-8") as f:
            docs.extend(d for d in yaml.safe_load_all(f) if d)
    return docs


def ref(doc):
    return f"{doc.get('kind')}/{meta(doc).get('name')}"


def meta(doc):
    return doc.get("metadata") or {}


def namespace(doc):
    return meta(doc).get("namespace")


def pod_template(workload):
    spec = workload.get("spec") or {}
    if workload["kind"] == "CronJob":
        spec = ((spec.get("jobTemplate") or {}).get("spec")) or {}
    return spec.get("template") or {}


def pod_spec(workload):
    return pod_template(workload).get("spec") or {}


def pod_labels(workload):
    return (pod_template(workload).get("metadata") or {}).get("labels") or {}


def containers(spec):
    return (spec.get("initContainers") or []) + (spec.get("containers") or [])


def selects(selector, labels):
    """Whether a LabelSelector selects `labels` (an empty selector selects everything)."""
    if selector is None:
        return False
    for key, value in (selector.get("matchLabels") or {}).items():
        if labels.get(key) != value:
            return False
    for expr in selector.get("matchExpressions") or []:
        key, op, values = expr.get("key"), expr.get("operator"), expr.get("values") or []
        if op == "In" and labels.get(key) not in values:
            return False
        if op == "NotIn" and key in labels and labels[key] in values:
            return False
        if op == "Exists" and key not in labels:
            return False
        if op == "DoesNotExist" and key in labels:
            return False
    return True


def duration_seconds(text):
    """Seconds in a duration such as 20s, 1m30s or 500ms; None if it is not one."""
    parts = re.findall(r"(\d+(?:\.\d+)?)(ms|s|m|h)", str(text).replace(" ", ""))
    if not parts or "".join(n + u for n, u in parts) != str(text).replace(" ", ""):
        return None
    scale = {"ms": 0.001, "s": 1, "m": 60, "h": 3600}
    return sum(float(n) * scale[u] for n, u in parts)


class Render:
    def __init__(self, docs):
        self.docs = docs

    def of_kind(self, kind, ns=None):
        return [d for d in self.docs if d.get("kind") == kind and (ns is None or namespace(d) == ns)]

    def get(self, kind, name, ns):
        for d in self.of_kind(kind, ns):
            if meta(d).get("name") == name:
                return d
        return None

    def tls(self, component):
        """Whether the kontakt Deployment of `component` serves TLS and requires client
        certificates: {"serves": bool, "mutual": bool}, or None if it is not in the render once."""
        deployments = [d for d in self.of_kind("Deployment")
                       if (meta(d).get("labels") or {}).get("app.kubernetes.io/name") == "kontakt"
                       and (meta(d).get("labels") or {}).get("app.kubernetes.io/component") == component]
        c = find_serving_container(deployments[0]) if len(deployments) == 1 else None
        if c is None:
            return None
        env = environment(c, self, namespace(deployments[0]))
        serves = bool(env.get(TLS_CERT)) and bool(env.get(TLS_KEY))
        return {"serves": serves, "mutual": serves and bool(env.get(TLS_CLIENT_CA))}

    def certificate_for(self, secret, ns):
        """The cert-manager Certificate that issues Secret `secret` in `ns`, or None."""
        for cert in self.of_kind("Certificate", ns):
            if (str(cert.get("apiVersion", "")).startswith(CERT_MANAGER)
                    and (cert.get("spec") or {}).get("secretName") == secret):
                return cert
        return None

    def policies_for(self, workload):
        """NetworkPolicies in the workload's namespace whose podSelector picks its pods."""
        labels = pod_labels(workload)
        return [p for p in self.of_kind("NetworkPolicy", namespace(workload))
                if selects((p.get("spec") or {}).get("podSelector"), labels)]


def policy_types(policy):
    spec = policy.get("spec") or {}
    if spec.get("policyTypes"):
        return set(spec["policyTypes"])
    return {"Ingress"} | ({"Egress"} if spec.get("egress") else set())


def rule_ports(rule):
    """(port, protocol) pairs of a rule; None means every port."""
    ports = rule.get("ports")
    if not ports:
        return None
    return {(p.get("port"), p.get("protocol", "TCP")) for p in ports}


# --- every workload ---------------------------------------------------------------------------

def check_workload(w, render, out):
    name = ref(w)
    spec = pod_spec(w)
    psc = spec.get("securityContext") or {}
    cs = containers(spec)
    if not cs:
        out.append(f"{name}: no containers")
        return
    if not (psc.get("runAsNonRoot") is True
            or all((c.get("securityContext") or {}).get("runAsNonRoot") is True for c in cs)):
        out.append(f"{name}: runAsNonRoot is not true (pod or every container)")
    pod_seccomp = (psc.get("seccompProfile") or {}).get("type")
    if spec.get("automountServiceAccountToken") is not False:
        out.append(f"{name}: automountServiceAccountToken is not false on the pod")
    for c in cs:
        cname = f"{name}: container {c.get('name')}"
        sc = c.get("securityContext") or {}
        if sc.get("runAsNonRoot") is False:
            out.append(f"{cname}: runAsNonRoot is false")
        seccomp = (sc.get("seccompProfile") or {}).get("type", pod_seccomp)
        if seccomp != "RuntimeDefault":
            out.append(f"{cname}: seccompProfile is not RuntimeDefault (pod or container)")
        if sc.get("allowPrivilegeEscalation") is not False:
            out.append(f"{cname}: allowPrivilegeEscalation is not false")
        if sc.get("privileged") is True:
            out.append(f"{cname}: privileged")
        if "ALL" not in ((sc.get("capabilities") or {}).get("drop") or []):
            out.append(f"{cname}: capabilities do not drop ALL")
        if sc.get("readOnlyRootFilesystem") is not True:
            out.append(f"{cname}: readOnlyRootFilesystem is not true")
        resources = c.get("resources") or {}
        for section in ("requests", "limits"):
            for resource in ("cpu", "memory"):
                if not (resources.get(section) or {}).get(resource):
                    out.append(f"{cname}: no {resource} {section[:-1]}")
    if not render.policies_for(w):
        out.append(f"{name}: no NetworkPolicy selects its pods")


# --- network policies of kontakt pods ---------------------------------------------------------

def classify_egress_peer(peer, ports, reachable):
    """What an egress peer reaches: (destination, allowed ports) or (None, why not allowed).
    `reachable` maps the kontakt services the owner may call to the destinations they count as."""
    if "ipBlock" in peer:
        cidr = (peer["ipBlock"] or {}).get("cidr", "")
        try:
            network = ipaddress.ip_network(cidr, strict=False)
        except ValueError:
            return None, f"an ipBlock {cidr!r} that is not a network"
        if network.prefixlen == 0:
            return None, f"ipBlock {cidr} (everywhere)"
        # An address outside the cluster: the external database or the identity provider.
        if ports and ports <= DESTINATION_PORTS[POSTGRES]:
            return POSTGRES, DESTINATION_PORTS[POSTGRES]
        if ports and ports <= DESTINATION_PORTS[IDP]:
            return IDP, DESTINATION_PORTS[IDP]
        return None, f"ipBlock {cidr} on ports other than 5432 (PostgreSQL) or 443 (identity provider)"
    ns_sel = peer.get("namespaceSelector")
    pod_sel = peer.get("podSelector")
    labels = (pod_sel or {}).get("matchLabels") or {}
    if ns_sel is not None:
        if (ns_sel.get("matchLabels") == {"kubernetes.io/metadata.name": "kube-system"}
                and labels == {"k8s-app": "kube-dns"} and not (pod_sel or {}).get("matchExpressions")):
            return DNS, DESTINATION_PORTS[DNS]
        return None, f"pods in other namespaces ({json.dumps(peer, sort_keys=True)})"
    if pod_sel is None or not labels:
        return None, f"every pod in the namespace ({json.dumps(peer, sort_keys=True)})"
    if labels.get("app.kubernetes.io/name") == "postgres" or "cnpg.io/cluster" in labels:
        return POSTGRES, DESTINATION_PORTS[POSTGRES]
    if labels.get("app.kubernetes.io/name") == "otel-collector":
        return COLLECTOR, DESTINATION_PORTS[COLLECTOR]
    component = labels.get("app.kubernetes.io/component")
    if labels.get("app.kubernetes.io/name") == "kontakt" and component in reachable:
        return reachable[component], {(PORTS[component], "TCP")}
    return None, f"pods it has no business with ({json.dumps(labels, sort_keys=True)})"


def check_egress(owner, policies, reachable, allowed, out):
    """Egress of pods selected by `policies` may reach only `allowed` destinations, and must
    reach all of them. `reachable` maps the kontakt services it may call to their destination
    (a service's feeds, the console's services)."""
    if not any("Egress" in policy_types(p) for p in policies):
        out.append(f"{owner}: no NetworkPolicy with policyType Egress selects it (egress is open)")
        return
    reached = {}
    for p in policies:
        if "Egress" not in policy_types(p):
            continue
        for i, rule in enumerate((p.get("spec") or {}).get("egress") or [], 1):
            where = f"{ref(p)}: egress rule {i}"
            ports = rule_ports(rule)
            if not rule.get("to"):
                out.append(f"{where} has no 'to' (allows every destination)")
                continue
            if ports is None:
                out.append(f"{where} has no ports (allows every port)")
                continue
            for peer in rule["to"]:
                destination, detail = classify_egress_peer(peer, ports, reachable)
                if destination is None:
                    out.append(f"{where} allows {detail}")
                elif destination not in allowed:
                    out.append(f"{where} allows {destination}, which {owner} must not reach")
                elif not ports <= detail:
                    out.append(f"{where} allows {destination} on ports other than "
                               f"{sorted(p for p, _ in detail)}")
                else:
                    reached.setdefault(destination, set()).update(ports)
    for destination in allowed:
        if destination == IDP:  # only where tokens are checked against a URL (prod)
            continue
        if destination not in reached:
            out.append(f"{owner}: its NetworkPolicies do not let it reach {destination}")


def check_ingress(owner, policies, service, out):
    """Ingress only from the services that follow `service`'s feed, the console and
    kontakt.dk/client pods, only on its port; all of those admitted. With service None: no
    ingress at all."""
    if not any("Ingress" in policy_types(p) for p in policies):
        out.append(f"{owner}: no NetworkPolicy with policyType Ingress selects it (ingress is open)")
        return
    port = PORTS.get(service)
    admitted = set()
    for p in policies:
        if "Ingress" not in policy_types(p):
            continue
        for i, rule in enumerate((p.get("spec") or {}).get("ingress") or [], 1):
            where = f"{ref(p)}: ingress rule {i}"
            if service is None:
                out.append(f"{where} admits traffic to {owner}, which takes none")
                continue
            if not rule.get("from"):
                out.append(f"{where} has no 'from' (admits every source)")
                continue
            ports = rule_ports(rule)
            if ports is None:
                out.append(f"{where} has no ports (admits every port)")
            elif ports != {(port, "TCP")}:
                out.append(f"{where} admits ports other than {port}")
            for peer in rule["from"]:
                labels = (peer.get("podSelector") or {}).get("matchLabels") or {}
                exprs = (peer.get("podSelector") or {}).get("matchExpressions")
                if "ipBlock" in peer:
                    out.append(f"{where} admits ipBlock {peer['ipBlock'].get('cidr')}")
                elif peer.get("namespaceSelector") is not None:
                    if labels.get(CLIENT_LABEL[0]) == CLIENT_LABEL[1]:
                        admitted.add("client")
                    else:
                        out.append(f"{where} admits pods of other namespaces that are not "
                                   f"{CLIENT_LABEL[0]}={CLIENT_LABEL[1]}")
                elif labels.get(CLIENT_LABEL[0]) == CLIENT_LABEL[1]:
                    admitted.add("client")
                elif (labels.get("app.kubernetes.io/name") == "kontakt" and not exprs
                      and labels.get("app.kubernetes.io/component") in CALLERS[service] + [CONSOLE]):
                    admitted.add(labels["app.kubernetes.io/component"])
                else:
                    out.append(f"{where} admits {json.dumps(peer, sort_keys=True)}, not a service "
                               f"following {service}'s feed, the console nor a {CLIENT_LABEL[0]} pod")
    if service is None:
        return
    for caller in CALLERS[service]:
        if caller not in admitted:
            out.append(f"{owner}: its NetworkPolicies do not admit {caller}, which follows its feed")
    if CONSOLE not in admitted:
        out.append(f"{owner}: its NetworkPolicies do not admit the console, which calls it")
    if "client" not in admitted:
        out.append(f"{owner}: its NetworkPolicies do not admit {CLIENT_LABEL[0]}={CLIENT_LABEL[1]} pods")


# --- kontakt Deployments: the services and the console ----------------------------------------

def find_serving_container(d):
    for c in pod_spec(d).get("containers") or []:
        if (c.get("args") or [])[:1] == ["serve"]:
            return c
    return None


def shutdown_grace(c, render, ns):
    for e in c.get("env") or []:
        if e.get("name") == "KONTAKT_SHUTDOWN_GRACE" and "value" in e:
            return e["value"]
    value = DEFAULT_SHUTDOWN_GRACE
    for source in c.get("envFrom") or []:
        cm_name = (source.get("configMapRef") or {}).get("name")
        cm = render.get("ConfigMap", cm_name, ns) if cm_name else None
        if cm and "KONTAKT_SHUTDOWN_GRACE" in (cm.get("data") or {}):
            value = cm["data"]["KONTAKT_SHUTDOWN_GRACE"]  # later sources win, as in Kubernetes
    return value


def environment(c, render, ns):
    """The variables a container gets from its env and its envFrom ConfigMaps, as name -> value
    (None where the value comes from a Secret or a field, so is not in the render). env wins
    over envFrom, later envFrom sources over earlier ones, as in Kubernetes."""
    variables = {}
    for source in c.get("envFrom") or []:
        cm_name = (source.get("configMapRef") or {}).get("name")
        cm = render.get("ConfigMap", cm_name, ns) if cm_name else None
        for key, value in ((cm or {}).get("data") or {}).items():
            variables[(source.get("prefix") or "") + key] = value
    for e in c.get("env") or []:
        if "value" in e:
            variables[e.get("name")] = e["value"]
            continue
        cm_ref = (e.get("valueFrom") or {}).get("configMapKeyRef")
        cm = render.get("ConfigMap", cm_ref.get("name"), ns) if cm_ref else None
        variables[e.get("name")] = ((cm or {}).get("data") or {}).get(cm_ref.get("key")) if cm_ref else None
    return variables


def find_deployment(component, render, out):
    deployments = [d for d in render.of_kind("Deployment")
                   if (meta(d).get("labels") or {}).get("app.kubernetes.io/name") == "kontakt"
                   and (meta(d).get("labels") or {}).get("app.kubernetes.io/component") == component]
    if len(deployments) != 1:
        out.append(f"Deployment/{component}: expected one kontakt Deployment with component "
                   f"{component}, found {len(deployments)}")
        return None
    return deployments[0]


def check_deployment(component, d, render, min_replicas, out):
    """What every kontakt Deployment needs, the services' and the console's alike: labels and
    selector, replicas and rollout, `kontakt serve <component>`, its own ServiceAccount, the pod
    security context, a PodDisruptionBudget, an HPA, topology spread and a grace period covering
    preStop and drain. Returns the serving container."""
    name, ns, spec = ref(d), namespace(d), d.get("spec") or {}
    pspec, labels = pod_spec(d), pod_labels(d)

    expected_labels = {"app.kubernetes.io/name": "kontakt", "app.kubernetes.io/component": component,
                       "app.kubernetes.io/part-of": "kontakt"}
    for key, value in expected_labels.items():
        if (meta(d).get("labels") or {}).get(key) != value:
            out.append(f"{name}: label {key}={value} missing")
        if labels.get(key) != value:
            out.append(f"{name}: pod template label {key}={value} missing")
    if (spec.get("selector") or {}).get("matchLabels") != {
            "app.kubernetes.io/name": "kontakt", "app.kubernetes.io/component": component}:
        out.append(f"{name}: selector is not app.kubernetes.io/name=kontakt + component={component}")

    replicas = spec.get("replicas", 1)
    if replicas < min_replicas:
        out.append(f"{name}: replicas {replicas} is below {min_replicas}")
    strategy = spec.get("strategy") or {}
    rolling = strategy.get("rollingUpdate") or {}
    if strategy.get("type", "RollingUpdate") != "RollingUpdate" or str(rolling.get("maxUnavailable")) not in ("0", "0%"):
        out.append(f"{name}: rolling update without maxUnavailable 0")
    if str(rolling.get("maxSurge")) in ("None", "0", "0%"):
        out.append(f"{name}: rolling update without maxSurge")

    c = find_serving_container(d)
    if c is None or c.get("args") != ["serve", component]:
        out.append(f"{name}: no container runs `kontakt serve {component}` (args [serve, {component}])")
        c = c or ((pspec.get("containers") or [{}])[0])
    cname = f"{name}: container {c.get('name')}"

    # ServiceAccount: its own, without an API token.
    sa_name = pspec.get("serviceAccountName")
    sa = render.get("ServiceAccount", sa_name, ns) if sa_name else None
    if sa is None:
        out.append(f"{name}: no ServiceAccount of its own (serviceAccountName {sa_name!r} not in the render)")
    else:
        if sa.get("automountServiceAccountToken") is not False:
            out.append(f"{ref(sa)}: automountServiceAccountToken is not false")
        for other in render.of_kind("Deployment", ns):
            if other is not d and pod_spec(other).get("serviceAccountName") == sa_name:
                out.append(f"{name}: ServiceAccount {sa_name} is also {ref(other)}'s")

    # Security context (beyond the every-workload rules)
    psc = pspec.get("securityContext") or {}
    for key, value in (("runAsNonRoot", True), ("runAsUser", SERVICE_UID), ("runAsGroup", SERVICE_UID)):
        if psc.get(key) != value:
            out.append(f"{name}: pod securityContext {key} is not {value}")
    if (psc.get("seccompProfile") or {}).get("type") != "RuntimeDefault":
        out.append(f"{name}: pod securityContext seccompProfile is not RuntimeDefault")
    if (c.get("securityContext") or {}).get("privileged") is not False:
        out.append(f"{cname}: privileged is not set to false")

    # PodDisruptionBudget, HorizontalPodAutoscaler
    pdbs = [p for p in render.of_kind("PodDisruptionBudget", ns)
            if selects((p.get("spec") or {}).get("selector"), labels)]
    if not pdbs:
        out.append(f"{name}: no PodDisruptionBudget selects its pods")
    for p in pdbs:
        if (p.get("spec") or {}).get("maxUnavailable") != 1:
            out.append(f"{ref(p)}: maxUnavailable is not 1")
    hpas = [h for h in render.of_kind("HorizontalPodAutoscaler", ns)
            if ((h.get("spec") or {}).get("scaleTargetRef") or {}).get("kind") == "Deployment"
            and h["spec"]["scaleTargetRef"].get("name") == meta(d).get("name")]
    if not hpas:
        out.append(f"{name}: no HorizontalPodAutoscaler targets it")
    for h in hpas:
        hspec = h.get("spec") or {}
        if h.get("apiVersion") != "autoscaling/v2":
            out.append(f"{ref(h)}: not autoscaling/v2")
        if hspec.get("minReplicas", 1) < min_replicas:
            out.append(f"{ref(h)}: minReplicas {hspec.get('minReplicas', 1)} is below {min_replicas}")
        if hspec.get("maxReplicas", 0) < hspec.get("minReplicas", 1):
            out.append(f"{ref(h)}: maxReplicas below minReplicas")
        if not any((m.get("resource") or {}).get("name") == "cpu" for m in hspec.get("metrics") or []):
            out.append(f"{ref(h)}: does not scale on CPU")

    # Topology spread
    spread = {t.get("topologyKey"): t for t in pspec.get("topologySpreadConstraints") or []}
    for key in ("kubernetes.io/hostname", "topology.kubernetes.io/zone"):
        t = spread.get(key)
        if t is None:
            out.append(f"{name}: no topologySpreadConstraint over {key}")
            continue
        if t.get("whenUnsatisfiable") != "ScheduleAnyway":
            out.append(f"{name}: topology spread over {key} is not ScheduleAnyway")
        if not selects(t.get("labelSelector"), labels):
            out.append(f"{name}: topology spread over {key} does not select its pods")
        if "pod-template-hash" not in (t.get("matchLabelKeys") or []):
            out.append(f"{name}: topology spread over {key} without matchLabelKeys [pod-template-hash]")

    # Shutdown: the grace period covers the preStop sleep and the drain.
    grace_text = shutdown_grace(c, render, ns)
    grace = duration_seconds(grace_text)
    sleep = ((((c.get("lifecycle") or {}).get("preStop") or {}).get("sleep") or {}).get("seconds"))
    tgps = pspec.get("terminationGracePeriodSeconds")
    if sleep is None:
        out.append(f"{cname}: no preStop sleep action")
    if grace is None:
        out.append(f"{name}: KONTAKT_SHUTDOWN_GRACE {grace_text!r} is not a duration")
    elif tgps is None:
        out.append(f"{name}: terminationGracePeriodSeconds not set")
    elif tgps < grace + (sleep or 0):
        out.append(f"{name}: terminationGracePeriodSeconds {tgps} is less than preStop sleep "
                   f"{sleep or 0}s + KONTAKT_SHUTDOWN_GRACE {grace_text}")

    policies = render.policies_for(d)
    if not any({"Ingress", "Egress"} <= policy_types(p) for p in policies):
        out.append(f"{name}: no NetworkPolicy with policyTypes Ingress and Egress selects it")
    return c


def cluster_service(render, service, ns, name, labels, port_name, out):
    """The Service `service` in front of `name`'s pods (`labels`): a ClusterIP Service that
    selects them. Returns it and its ports named `port_name`, for the caller to check (no ports
    where there is no such Service or port, each said in `out`)."""
    svc = render.get("Service", service, ns)
    if svc is None:
        out.append(f"{name}: no Service named {service}")
        return None, []
    sspec = svc.get("spec") or {}
    if sspec.get("type", "ClusterIP") != "ClusterIP":
        out.append(f"{ref(svc)}: type is not ClusterIP")
    if not sspec.get("selector") or not selects({"matchLabels": sspec["selector"]}, labels):
        out.append(f"{ref(svc)}: selector does not select {name}'s pods")
    ports = [p for p in sspec.get("ports") or [] if p.get("name") == port_name]
    if not ports:
        out.append(f"{ref(svc)}: no port named {port_name}")
    return svc, ports


def check_service(service, render, min_replicas, out):
    port = PORTS[service]
    d = find_deployment(service, render, out)
    if d is None:
        return
    name, ns = ref(d), namespace(d)
    labels = pod_labels(d)
    c = check_deployment(service, d, render, min_replicas, out)
    cname = f"{name}: container {c.get('name')}"
    if not any(p.get("containerPort") == port and p.get("name") == "grpc" for p in c.get("ports") or []):
        out.append(f"{cname}: no container port {port} named grpc")
    env = environment(c, render, ns)
    listen = env.get("KONTAKT_LISTEN")
    if listen is not None and not str(listen).endswith(f":{port}"):
        out.append(f"{cname}: KONTAKT_LISTEN {listen!r} is not port {port}")
    check_tls(service, d, c, env, render, FOLLOWS[service], out)

    # Service
    svc, grpc = cluster_service(render, service, ns, name, labels, "grpc", out)
    for p in grpc:
        if p.get("appProtocol") != "grpc":
            out.append(f"{ref(svc)}: port grpc without appProtocol grpc")
        if p.get("port") != port or p.get("targetPort") not in ("grpc", port):
            out.append(f"{ref(svc)}: port grpc is not {port} -> grpc")

    # Probes: on the gRPC port, or on the health port where KONTAKT_HEALTH_LISTEN opens one;
    # never on a port that serves TLS, which the kubelet's gRPC probes cannot speak.
    tls = bool(env.get(TLS_CERT)) and bool(env.get(TLS_KEY))
    health = health_port(c, env, cname, port, out)
    allowed = ([] if tls else [port]) + ([health] if health else [])
    where = " or ".join(str(p) for p in allowed) or f"{HEALTH_PORT_NAME} (KONTAKT_HEALTH_LISTEN)"
    for probe, health_service in (("readinessProbe", ""), ("livenessProbe", "liveness"), ("startupProbe", "liveness")):
        grpc = (c.get(probe) or {}).get("grpc")
        if grpc is None:
            out.append(f"{cname}: no gRPC {probe}")
        elif tls and grpc.get("port") == port:
            out.append(f"{cname}: {probe} is on port {port}, which serves TLS only: the kubelet's gRPC "
                       f"probes cannot speak TLS (probe the {HEALTH_PORT_NAME} port, KONTAKT_HEALTH_LISTEN)")
        elif grpc.get("port") not in allowed or (grpc.get("service") or "") != health_service:
            out.append(f"{cname}: {probe} is not gRPC health on port {where}, service {health_service!r}")

    # Network
    policies = render.policies_for(d)
    check_ingress(name, policies, service, out)
    check_egress(name, policies, {p: feed(p) for p in FOLLOWS[service]},
                 {DNS, POSTGRES, COLLECTOR, IDP} | {feed(p) for p in FOLLOWS[service]}, out)

    # Migration Job
    jobs = [j for j in render.of_kind("Job", ns)
            if (meta(j).get("labels") or {}).get("app.kubernetes.io/component") == f"{service}-migrate"]
    if not jobs:
        out.append(f"{name}: no migration Job (component {service}-migrate)")
    for j in jobs:
        jlabels = pod_labels(j)
        if jlabels.get("kontakt.dk/job") != "migrate" or jlabels.get("app.kubernetes.io/name") != "kontakt":
            out.append(f"{ref(j)}: pods not labelled app.kubernetes.io/name=kontakt, kontakt.dk/job=migrate")
        jc = (pod_spec(j).get("containers") or [{}])[0]
        if jc.get("args") != ["migrate", service, "--grant-to", f"kontakt_{service}"]:
            out.append(f"{ref(j)}: does not run `kontakt migrate {service} --grant-to kontakt_{service}`")
        url = [e for e in jc.get("env") or [] if e.get("name") == "DATABASE_URL"]
        key = (((url[0].get("valueFrom") or {}).get("secretKeyRef") or {}) if url else {})
        if (key.get("name"), key.get("key")) != ("kontakt-db", f"{service}-migrate-url"):
            out.append(f"{ref(j)}: DATABASE_URL is not Secret kontakt-db key {service}-migrate-url")
        jpolicies = render.policies_for(j)
        check_ingress(ref(j), jpolicies, None, out)
        check_egress(ref(j), jpolicies, {}, {DNS, POSTGRES}, out)


# --- TLS: the services and the console ---------------------------------------------------------

def listen_port(address):
    """The port of a listen address such as [::]:8086 or 0.0.0.0:8086; None if there is none."""
    match = re.fullmatch(r"(?:\[[^\]]*\]|[^:\[\]]*):(\d+)", str(address or ""))
    return int(match.group(1)) if match else None


def mount_of(path, pspec, c):
    """The volume mount of container `c` that holds the file `path` (the deepest, as the kubelet
    nests them) and its volume, or (None, None)."""
    volumes = {v.get("name"): v for v in pspec.get("volumes") or []}
    best = (None, None)
    for m in c.get("volumeMounts") or []:
        mount = str(m.get("mountPath", "")).rstrip("/")
        if mount and (str(path) == mount or str(path).startswith(mount + "/")):
            if best[0] is None or len(mount) > len(str(best[0].get("mountPath", "")).rstrip("/")):
                best = (m, volumes.get(m.get("name")) or {})
    return best


def volume_secrets(volume):
    """The Secrets a volume is made of (a secret volume, or a projected one's secret sources)."""
    names = [(volume.get("secret") or {}).get("secretName")] if volume.get("secret") else []
    names += [s["secret"].get("name") for s in (volume.get("projected") or {}).get("sources") or []
              if s.get("secret")]
    return [n for n in names if n]


def health_port(c, env, cname, port, out):
    """The container's health port (KONTAKT_HEALTH_LISTEN, a second, plaintext listener serving
    grpc.health.v1 only) when it is usable: a container port named `health` that
    KONTAKT_HEALTH_LISTEN names and that is not the gRPC port. None where there is none; what is
    inconsistent goes to `out`."""
    declared = [p.get("containerPort") for p in c.get("ports") or [] if p.get("name") == HEALTH_PORT_NAME]
    listen = env.get("KONTAKT_HEALTH_LISTEN")
    if listen is None:
        if declared:
            out.append(f"{cname}: container port {HEALTH_PORT_NAME} {declared[0]}, but KONTAKT_HEALTH_LISTEN "
                       "is not set (nothing listens there)")
        return None
    lport = listen_port(listen)
    if lport is None:
        out.append(f"{cname}: KONTAKT_HEALTH_LISTEN {listen!r} is not an address with a port")
        return None
    if lport == port:
        out.append(f"{cname}: KONTAKT_HEALTH_LISTEN {listen!r} is the gRPC port {port} (the health "
                   "port is a second one)")
        return None
    if not declared:
        out.append(f"{cname}: KONTAKT_HEALTH_LISTEN {listen!r} has no container port named {HEALTH_PORT_NAME}")
        return None
    if declared[0] != lport:
        out.append(f"{cname}: container port {HEALTH_PORT_NAME} {declared[0]} is not KONTAKT_HEALTH_LISTEN's "
                   f"port ({listen!r})")
        return None
    return lport


def check_tls(component, d, c, env, render, peers, out):
    """The TLS settings of a service or the console (`component`) and of its calls to `peers`
    (the services it calls). Returns the cert-manager Certificate of the Secret it serves, or
    None (no TLS, or no Certificate: said in `out`)."""
    name, ns, pspec = ref(d), namespace(d), pod_spec(d)
    cname = f"{name}: container {c.get('name')}"
    serves = bool(env.get(TLS_CERT)) and bool(env.get(TLS_KEY))
    if bool(env.get(TLS_CERT)) != bool(env.get(TLS_KEY)):
        out.append(f"{cname}: {TLS_CERT} and {TLS_KEY} are set together or not at all")
    if env.get(TLS_CLIENT_CA) and not serves:
        out.append(f"{cname}: {TLS_CLIENT_CA} without {TLS_CERT} and {TLS_KEY} (the binary refuses to start)")

    # The files: re-read when they change, so mounted whole (no subPath), read-only; the key
    # and its certificate from a Secret.
    for variable in (TLS_CERT, TLS_KEY, TLS_CA, TLS_CLIENT_CA):
        path = env.get(variable)
        if not path:
            continue
        m, volume = mount_of(path, pspec, c)
        if m is None or m.get("readOnly") is not True:
            out.append(f"{cname}: {variable} {path} is not in a read-only volume mount")
            continue
        if m.get("subPath") or m.get("subPathExpr"):
            out.append(f"{cname}: {variable} {path} is in a subPath mount, which never sees a renewed "
                       "file (mount the whole Secret)")
        if variable in (TLS_CERT, TLS_KEY) and not volume_secrets(volume):
            out.append(f"{cname}: {variable} {path} is not in a Secret volume")

    if component == CONSOLE:
        if env.get(TLS_CLIENT_CA):
            out.append(f"{cname}: {TLS_CLIENT_CA} is set, but the kubelet's HTTPS probes on its port "
                       "present no client certificate")
    elif serves and not env.get(TLS_CLIENT_CA):
        out.append(f"{cname}: serves TLS without {TLS_CLIENT_CA} (mutual TLS: every caller must present "
                   "a certificate from the CA)")

    # Its calls: https exactly where the service serves TLS; verified against a CA bundle; with
    # a certificate to present where the service requires one.
    calls_https = False
    for peer in peers:
        variable, url = url_variable(peer), env.get(url_variable(peer))
        peer_tls = render.tls(peer)
        if not url or peer_tls is None:
            continue
        scheme = urlsplit(str(url)).scheme
        expected = "https" if peer_tls["serves"] else "http"
        calls_https = calls_https or scheme == "https"
        if scheme != expected:
            out.append(f"{cname}: {variable} {url!r} is not {expected}://: {peer} serves "
                       f"{'TLS only' if peer_tls['serves'] else 'plaintext'}")
        elif peer_tls["mutual"] and not serves:
            out.append(f"{cname}: {variable} names {peer}, which requires a client certificate "
                       f"({TLS_CLIENT_CA}), but it has no {TLS_CERT} and {TLS_KEY} to present")
    if calls_https and not env.get(TLS_CA):
        out.append(f"{cname}: calls https:// URLs without {TLS_CA} (the services' certificates are "
                   "from a private CA, not the web roots)")

    if not serves:
        return None
    # The certificate: issued (and renewed) by cert-manager, for the names its callers use.
    m, volume = mount_of(env[TLS_CERT], pspec, c)
    secrets = volume_secrets(volume or {})
    if not secrets:
        return None  # said above
    cert = render.certificate_for(secrets[0], ns)
    if cert is None:
        out.append(f"{name}: Secret {secrets[0]} ({TLS_CERT}) is not issued by a cert-manager "
                   "Certificate in the render")
        return None
    cspec = cert.get("spec") or {}
    names = cspec.get("dnsNames") or []
    missing = [n for n in (component, f"{component}.{ns}.svc") if n not in names]
    if missing:
        out.append(f"{ref(cert)}: dnsNames lack {', '.join(missing)}, names of Service {component} "
                   "that its callers use")
    usages = cspec.get("usages") or []
    for usage in CERTIFICATE_USAGES:
        if usage not in usages:
            out.append(f"{ref(cert)}: usages lack {usage} ({name} serves it and presents it as "
                       "client certificate to the services it calls)")
    issuer = cspec.get("issuerRef") or {}
    if (issuer.get("kind") or "Issuer") == "Issuer" and (issuer.get("group") or "cert-manager.io") == "cert-manager.io":
        if render.get("Issuer", issuer.get("name"), ns) is None:
            out.append(f"{ref(cert)}: issuerRef Issuer/{issuer.get('name')} is not in the render")
    return cert


def check_ingress_backend(ing, console_tls, cert, render, ns, out):
    """An ingress-nginx Ingress to the console speaks what the console serves (HTTP, or HTTPS
    under components/tls) and, where it verifies the console, does so with a Secret of this
    namespace issued by cert-manager and a name the console's certificate carries."""
    annotations = meta(ing).get("annotations") or {}
    if (ing.get("spec") or {}).get("ingressClassName") != "nginx" and not any(
            a.startswith("nginx.ingress.kubernetes.io/") for a in annotations):
        return  # another controller: its own annotations
    protocol = str(annotations.get(NGINX_BACKEND_PROTOCOL, "HTTP")).upper()
    expected = "HTTPS" if console_tls else "HTTP"
    if protocol != expected:
        hint = "; components/tls after console-ingress" if console_tls else ""
        out.append(f"{ref(ing)}: ingress-nginx speaks {protocol} to the console, which serves "
                   f"{'HTTPS only' if console_tls else 'plain HTTP'} ({NGINX_BACKEND_PROTOCOL}: "
                   f"{expected}{hint})")
    if not console_tls or str(annotations.get(NGINX_PROXY_SSL + "verify", "off")) != "on":
        return
    secret = str(annotations.get(NGINX_PROXY_SSL + "secret") or "")
    secret_ns, _, secret_name = secret.rpartition("/")
    if secret_ns != ns or not secret_name or render.certificate_for(secret_name, ns) is None:
        out.append(f"{ref(ing)}: proxy-ssl-secret {secret!r} is not {ns}/<a Secret issued by a "
                   "cert-manager Certificate in the render> (it carries the CA that verifies the console)")
    ssl_name = annotations.get(NGINX_PROXY_SSL + "name")
    if not ssl_name:
        out.append(f"{ref(ing)}: proxy-ssl-verify is on without proxy-ssl-name (nginx would check the "
                   "upstream's name, which no certificate carries)")
    elif cert is not None and ssl_name not in ((cert.get("spec") or {}).get("dnsNames") or []):
        out.append(f"{ref(ing)}: proxy-ssl-name {ssl_name!r} is not a name in the console's "
                   f"certificate ({ref(cert)})")


# --- the console ------------------------------------------------------------------------------

def is_console_port(port):
    return port in (CONSOLE_PORT, "http")


def secrets_used(pspec, c):
    """Names of the Secrets a pod's container `c` reads: env, envFrom, and the pod's volumes."""
    names = set()
    for e in c.get("env") or []:
        key_ref = (e.get("valueFrom") or {}).get("secretKeyRef")
        if key_ref:
            names.add(key_ref.get("name"))
    for source in c.get("envFrom") or []:
        if source.get("secretRef"):
            names.add(source["secretRef"].get("name"))
    for v in pspec.get("volumes") or []:
        if v.get("secret"):
            names.add(v["secret"].get("secretName"))
        for projected in (v.get("projected") or {}).get("sources") or []:
            if projected.get("secret"):
                names.add(projected["secret"].get("name"))
    return names


def in_secret_mount(path, pspec, c):
    """Whether `path` lies under one of c's read-only mounts of a Secret volume."""
    volumes = {v.get("name"): v for v in pspec.get("volumes") or []}
    for m in c.get("volumeMounts") or []:
        volume = volumes.get(m.get("name")) or {}
        is_secret = bool(volume.get("secret")) or (
            bool((volume.get("projected") or {}).get("sources"))
            and all(s.get("secret") for s in volume["projected"]["sources"]))
        mount = str(m.get("mountPath", "")).rstrip("/")
        if is_secret and m.get("readOnly") is True and mount and str(path).startswith(mount + "/"):
            return True
    return False


def console_ingresses(render, ns):
    """(Ingress, host or None, backend port) for every Ingress path (or default backend) that
    routes to Service console."""
    routes = []
    for ing in render.of_kind("Ingress", ns):
        spec = ing.get("spec") or {}
        backends = [(None, spec["defaultBackend"])] if spec.get("defaultBackend") else []
        for rule in spec.get("rules") or []:
            for path in (rule.get("http") or {}).get("paths") or []:
                backends.append((rule.get("host"), path.get("backend") or {}))
        for host, backend in backends:
            service = backend.get("service") or {}
            if service.get("name") == CONSOLE:
                port = service.get("port") or {}
                routes.append((ing, host, port.get("number", port.get("name"))))
    return routes


def check_console_ingress(owner, policies, routed, out):
    """Ingress to the console only from namespaces a selector names (the ingress controller's),
    only on 8080; with an Ingress routing to it (`routed`), at least one admitted."""
    if not any("Ingress" in policy_types(p) for p in policies):
        out.append(f"{owner}: no NetworkPolicy with policyType Ingress selects it (ingress is open)")
        return
    admitted = False
    for p in policies:
        if "Ingress" not in policy_types(p):
            continue
        for i, rule in enumerate((p.get("spec") or {}).get("ingress") or [], 1):
            where = f"{ref(p)}: ingress rule {i}"
            if not rule.get("from"):
                out.append(f"{where} has no 'from' (admits every source)")
                continue
            ports = rule_ports(rule)
            if ports is None:
                out.append(f"{where} has no ports (admits every port)")
            elif not all(is_console_port(port) and protocol == "TCP" for port, protocol in ports):
                out.append(f"{where} admits ports other than {CONSOLE_PORT}")
            for peer in rule["from"]:
                ns_sel = peer.get("namespaceSelector")
                if "ipBlock" in peer:
                    out.append(f"{where} admits ipBlock {peer['ipBlock'].get('cidr')}")
                elif ns_sel is None:
                    out.append(f"{where} admits pods of its own namespace "
                               f"({json.dumps(peer, sort_keys=True)}), not the ingress controller's")
                elif not ns_sel.get("matchLabels") and not ns_sel.get("matchExpressions"):
                    out.append(f"{where} admits every namespace, not the ingress controller's")
                elif ports is not None:
                    admitted = True
    if routed and not admitted:
        out.append(f"{owner}: an Ingress routes to it, but its NetworkPolicies admit no ingress "
                   f"controller's namespace on {CONSOLE_PORT}")


def check_console(render, min_replicas, out):
    d = find_deployment(CONSOLE, render, out)
    if d is None:
        return
    name, ns = ref(d), namespace(d)
    pspec, labels = pod_spec(d), pod_labels(d)
    c = check_deployment(CONSOLE, d, render, min_replicas, out)
    cname = f"{name}: container {c.get('name')}"
    if not any(p.get("containerPort") == CONSOLE_PORT and p.get("name") == "http" for p in c.get("ports") or []):
        out.append(f"{cname}: no container port {CONSOLE_PORT} named http")

    # Settings
    env = environment(c, render, ns)
    listen = env.get("KONTAKT_LISTEN")
    if listen is None or not str(listen).endswith(f":{CONSOLE_PORT}"):
        out.append(f"{cname}: KONTAKT_LISTEN {listen!r} is not port {CONSOLE_PORT}")
    for variable in CONSOLE_SETTINGS:
        if not env.get(variable):
            out.append(f"{cname}: {variable} is not set")
    public = urlsplit(str(env.get("KONTAKT_CONSOLE_PUBLIC_URL") or ""))
    if env.get("KONTAKT_CONSOLE_PUBLIC_URL") and not (
            public.scheme == "https" or (public.scheme == "http" and public.hostname in ("localhost", "127.0.0.1", "::1"))):
        out.append(f"{cname}: KONTAKT_CONSOLE_PUBLIC_URL {env['KONTAKT_CONSOLE_PUBLIC_URL']!r} is not "
                   "https (its cookies are Secure; http only on localhost)")
    cert = check_tls(CONSOLE, d, c, env, render, list(PORTS), out)
    tls = bool(env.get(TLS_CERT)) and bool(env.get(TLS_KEY))
    for service, port in PORTS.items():
        url = env.get(url_variable(service))
        try:
            parts = urlsplit(str(url or ""))
            host, url_port = parts.hostname or "", parts.port
        except ValueError:
            host, url_port = "", None
        if host.split(".")[0] != service or url_port != port:
            out.append(f"{cname}: {url_variable(service)} {url!r} is not Service {service} on port {port}")
    for variable in CONSOLE_SECRET_FILES:
        path = env.get(variable)
        if not path:
            out.append(f"{cname}: {variable} is not set")
        elif not in_secret_mount(path, pspec, c):
            out.append(f"{cname}: {variable} {path} is not in a read-only mount of a Secret")
    for variable in sorted(env):
        if any(variable == v or (v.endswith("_") and variable.startswith(v)) for v in NOT_THE_CONSOLES_VARIABLES):
            out.append(f"{cname}: sets {variable} (the console owns no database, holds no CPR keys "
                       "and verifies no tokens)")
    for secret in sorted(secrets_used(pspec, c) & set(NOT_THE_CONSOLES_SECRETS)):
        out.append(f"{name}: reads Secret {secret}, one of the services' (the console owns no "
                   "database, holds no CPR keys and verifies no tokens)")

    # Service: port http 80 -> 8080
    svc, http = cluster_service(render, CONSOLE, ns, name, labels, "http", out)
    for p in http:
        if p.get("port") != CONSOLE_SERVICE_PORT or not is_console_port(p.get("targetPort")):
            out.append(f"{ref(svc)}: port http is not {CONSOLE_SERVICE_PORT} -> http ({CONSOLE_PORT})")
        if p.get("appProtocol") not in (None, "https" if tls else "http"):
            out.append(f"{ref(svc)}: port http has appProtocol {p['appProtocol']}, but the console serves "
                       f"{'HTTPS' if tls else 'plain HTTP'}")

    # Probes: HTTP, the process on /healthz (never restarted for an outage), pages on /readyz;
    # HTTPS where the port serves TLS (the kubelet does not verify the certificate).
    scheme = "HTTPS" if tls else "HTTP"
    for probe, path in CONSOLE_PROBES:
        http_get = (c.get(probe) or {}).get("httpGet")
        if http_get is None:
            out.append(f"{cname}: no HTTP {probe}")
        elif http_get.get("path") != path or not is_console_port(http_get.get("port")):
            out.append(f"{cname}: {probe} is not GET {path} on port {CONSOLE_PORT}")
        elif http_get.get("scheme", "HTTP") != scheme:
            out.append(f"{cname}: {probe} scheme {http_get.get('scheme', 'HTTP')} is not {scheme}: the port "
                       f"serves {'TLS only' if tls else 'plain HTTP'}")

    # Ingresses to it: the Service's port, TLS for every host, the public URL's host among them.
    routes = console_ingresses(render, ns)
    hosts = set()
    for ing, host, port in routes:
        if port not in (CONSOLE_SERVICE_PORT, "http"):
            out.append(f"{ref(ing)}: routes to Service {CONSOLE} port {port!r}, not {CONSOLE_SERVICE_PORT} (http)")
        tls_hosts = {h for t in (ing.get("spec") or {}).get("tls") or [] for h in t.get("hosts") or []}
        if host is None or host not in tls_hosts:
            out.append(f"{ref(ing)}: host {host or '(any)'} has no TLS (the console's cookies are Secure)")
        if host:
            hosts.add(host)
    for ing in {id(i): i for i, _, _ in routes}.values():
        check_ingress_backend(ing, tls, cert, render, ns, out)
    if hosts and env.get("KONTAKT_CONSOLE_PUBLIC_URL") and public.hostname not in hosts:
        out.append(f"{cname}: KONTAKT_CONSOLE_PUBLIC_URL {env['KONTAKT_CONSOLE_PUBLIC_URL']!r} is not "
                   f"on an Ingress host of the console ({', '.join(sorted(hosts))})")

    # Network: in from the ingress controller; out to DNS, the services, the collector and the
    # identity provider, never PostgreSQL.
    policies = render.policies_for(d)
    check_console_ingress(name, policies, bool(routes), out)
    reachable = {s: service_destination(s) for s in PORTS}
    check_egress(name, policies, reachable, {DNS, COLLECTOR, IDP} | set(reachable.values()), out)


# --- the database's connection budget ----------------------------------------------------------

# Connections kept free beyond the services' pools: superuser_reserved_connections (3), a
# migration Job, an operator's psql, a backup. A ConfigMap kontakt-database-budget may set it.
DEFAULT_RESERVE = 10
POSTGRES_DEFAULT_MAX_CONNECTIONS = 100
BUDGET_CONFIGMAP = "kontakt-database-budget"


def server_max_connections(render, out):
    """The database's max_connections and where it was read: the CloudNativePG Cluster or the
    dev PostgreSQL in the render, else (an external database) what ConfigMap
    kontakt-database-budget declares. None when nothing says."""
    for cluster in render.of_kind("Cluster"):
        if not str(cluster.get("apiVersion", "")).startswith("postgresql.cnpg.io/"):
            continue
        parameters = ((cluster.get("spec") or {}).get("postgresql") or {}).get("parameters") or {}
        return int(parameters.get("max_connections", POSTGRES_DEFAULT_MAX_CONNECTIONS)), ref(cluster)
    for workload in render.of_kind("StatefulSet"):
        for c in containers(pod_spec(workload)):
            if "postgres" not in str(c.get("image", "")):
                continue
            args = [str(a) for a in (c.get("args") or []) + (c.get("command") or [])]
            found = POSTGRES_DEFAULT_MAX_CONNECTIONS
            for i, arg in enumerate(args):
                if arg.startswith("max_connections="):
                    found = int(arg.split("=", 1)[1])
                elif arg == "-c" and i + 1 < len(args) and args[i + 1].startswith("max_connections="):
                    found = int(args[i + 1].split("=", 1)[1])
            return found, ref(workload)
    for cm in render.of_kind("ConfigMap"):
        if meta(cm).get("name") == BUDGET_CONFIGMAP:
            value = (cm.get("data") or {}).get("max_connections")
            if value is None or not str(value).isdigit():
                out.append(f"{ref(cm)}: max_connections {value!r} is not a whole number")
                return None, None
            return int(value), ref(cm)
    return None, None


def reserve(render):
    for cm in render.of_kind("ConfigMap"):
        if meta(cm).get("name") == BUDGET_CONFIGMAP:
            value = (cm.get("data") or {}).get("reserved_connections")
            if value is not None and str(value).isdigit():
                return int(value)
    return DEFAULT_RESERVE


def most_pods(d, render):
    """The most pods a Deployment can have at once: its HPA's maxReplicas (else its replicas)
    plus the rollout's maxSurge while a new version starts."""
    ns = namespace(d)
    hpas = [h for h in render.of_kind("HorizontalPodAutoscaler", ns)
            if ((h.get("spec") or {}).get("scaleTargetRef") or {}).get("name") == meta(d).get("name")]
    most = max([(h.get("spec") or {}).get("maxReplicas", 1) for h in hpas]
               or [(d.get("spec") or {}).get("replicas", 1)])
    surge = (((d.get("spec") or {}).get("strategy") or {}).get("rollingUpdate") or {}).get("maxSurge", 0)
    if isinstance(surge, str) and surge.endswith("%"):
        surge = -(-most * int(surge[:-1]) // 100)
    return most + int(surge or 0)


def check_database_budget(render, out):
    """Pool size × the most pods of every service, together, fit in the database's
    max_connections less a reserve: a scale-out or a rollout never meets `too many clients`."""
    limit, source = server_max_connections(render, out)
    if limit is None:
        if source is None:
            out.append(f"ConfigMap/{BUDGET_CONFIGMAP}: missing, and no PostgreSQL in the render: "
                       f"the database's max_connections is not known")
        return None
    total, parts = 0, []
    for service in PORTS:
        deployments = [d for d in render.of_kind("Deployment")
                       if (meta(d).get("labels") or {}).get("app.kubernetes.io/name") == "kontakt"
                       and (meta(d).get("labels") or {}).get("app.kubernetes.io/component") == service]
        for d in deployments:
            c = find_serving_container(d)
            pool_text = environment(c, render, namespace(d)).get("KONTAKT_DB_MAX_CONNECTIONS") if c else None
            if pool_text is None or not str(pool_text).isdigit():
                out.append(f"{ref(d)}: KONTAKT_DB_MAX_CONNECTIONS {pool_text!r} is not set to a whole number")
                continue
            pods = most_pods(d, render)
            total += int(pool_text) * pods
            parts.append(f"{service} {pool_text}x{pods}")
    kept = reserve(render)
    if total > limit - kept:
        out.append(f"{source}: the services' pools can open {total} connections "
                   f"({', '.join(parts)}), more than max_connections {limit} less {kept} reserved")
    return total, limit, kept


# --- backups of the CloudNativePG database -----------------------------------------------------

def check_cnpg_backups(render, out):
    """A CloudNativePG Cluster archives its WAL to object storage with credentials from a Secret
    and a retention policy, and a ScheduledBackup takes its base backups (deploy/README.md §
    Backup and restore)."""
    for cluster in render.of_kind("Cluster"):
        if not str(cluster.get("apiVersion", "")).startswith("postgresql.cnpg.io/"):
            continue
        backup = (cluster.get("spec") or {}).get("backup") or {}
        store = backup.get("barmanObjectStore") or {}
        if not store.get("destinationPath"):
            out.append(f"{ref(cluster)}: no backup.barmanObjectStore.destinationPath: WAL is not archived")
        if not backup.get("retentionPolicy"):
            out.append(f"{ref(cluster)}: no backup.retentionPolicy: backups are never removed")
        if store and not ((store.get("wal") or {}).get("compression")):
            out.append(f"{ref(cluster)}: backup.barmanObjectStore.wal.compression is not set")
        credentials = [c for c in (store.get("s3Credentials"), store.get("azureCredentials"),
                                   store.get("googleCredentials")) if c]
        if store and not credentials:
            out.append(f"{ref(cluster)}: backup.barmanObjectStore has no credentials from a Secret")
        for c in credentials:
            for field, value in c.items():
                if isinstance(value, dict) and not (value.get("name") and value.get("key")):
                    out.append(f"{ref(cluster)}: backup credential {field} is not a Secret's name and key")
        scheduled = [b for b in render.of_kind("ScheduledBackup", namespace(cluster))
                     if ((b.get("spec") or {}).get("cluster") or {}).get("name") == meta(cluster).get("name")]
        if not scheduled:
            out.append(f"{ref(cluster)}: no ScheduledBackup takes its base backups")


# --- the whole render -------------------------------------------------------------------------

def check(docs, min_replicas):
    """Every violation in the rendered documents, as `<kind>/<name>: <what>` lines."""
    render = Render(docs)
    out = []
    namespaces = {namespace(d) for d in docs if d.get("kind") not in CLUSTER_SCOPED}
    if len(namespaces) > 1 or None in namespaces:
        for d in docs:
            if d.get("kind") not in CLUSTER_SCOPED and namespace(d) is None:
                out.append(f"{ref(d)}: no namespace (the others are in {sorted(n for n in namespaces if n)})")
        if len(namespaces - {None}) > 1:
            out.append(f"render: objects in several namespaces {sorted(n for n in namespaces if n)}")
    for d in docs:
        if d.get("kind") in WORKLOAD_KINDS:
            check_workload(d, render, out)
    for service in PORTS:
        check_service(service, render, min_replicas, out)
    check_console(render, min_replicas, out)
    check_database_budget(render, out)
    check_cnpg_backups(render, out)
    return out


def tls_summary(render):
    """What TLS the render has: `mutual TLS`, `plaintext`, or which components serve TLS."""
    components = list(PORTS) + [CONSOLE]
    serving = [c for c in components if (render.tls(c) or {}).get("serves")]
    if not serving:
        return "plaintext"
    mutual = all((render.tls(s) or {}).get("mutual") for s in PORTS)
    if len(serving) == len(components):
        return "mutual TLS" if mutual else "TLS"
    return f"TLS on {', '.join(serving)} only"


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("files", nargs="+", help="rendered manifests (multi-document YAML)")
    group = parser.add_mutually_exclusive_group()
    group.add_argument("--overlay", help="overlay name: prod* needs 2 replicas, others 1")
    group.add_argument("--min-replicas", type=int, help="replicas each service needs at least")
    args = parser.parse_args(argv)
    if args.min_replicas is not None:
        min_replicas = args.min_replicas
    else:
        min_replicas = 2 if (args.overlay or "").startswith("prod") else 1
    violations = check(load(args.files), min_replicas)
    for v in violations:
        print(v)
    if violations:
        print(f"policy: {len(violations)} violation(s)")
        return 1
    render = Render(load(args.files))
    budget = check_database_budget(render, [])
    connections = f", connections {budget[0]} of {budget[1]} less {budget[2]}" if budget else ""
    print(f"policy OK ({len(PORTS)} services and the console, min replicas {min_replicas}, "
          f"{tls_summary(render)}{connections})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
