"""The render model: Kontakt's components and their ports, and reading a render.

The rendered documents (`kubectl kustomize` output) as a Render: documents by kind, name and
namespace, the pods a workload makes, the variables a container gets, the NetworkPolicies that
select a workload, whether a kontakt Deployment serves TLS and the Certificate of a Secret.
"""

import re

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

# TLS (components/tls): the variables that set it, and cert-manager's API group.
TLS_CERT, TLS_KEY = "KONTAKT_TLS_CERT", "KONTAKT_TLS_KEY"
TLS_CA, TLS_CLIENT_CA = "KONTAKT_TLS_CA", "KONTAKT_TLS_CLIENT_CA"
CERT_MANAGER = "cert-manager.io/"

WORKLOAD_KINDS = {"Deployment", "StatefulSet", "DaemonSet", "ReplicaSet", "Job", "CronJob"}
CLUSTER_SCOPED = {
    "Namespace", "ClusterRole", "ClusterRoleBinding", "CustomResourceDefinition",
    "PriorityClass", "StorageClass", "PersistentVolume", "IngressClass", "RuntimeClass",
    "ValidatingWebhookConfiguration", "MutatingWebhookConfiguration",
}


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


def find_serving_container(d):
    for c in pod_spec(d).get("containers") or []:
        if (c.get("args") or [])[:1] == ["serve"]:
            return c
    return None


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
