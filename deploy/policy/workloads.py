"""Every workload, and what every kontakt Deployment needs, the services' and the console's.

Every workload (Deployment, StatefulSet, Job, ...) must run as non-root without privilege
escalation, drop all capabilities, use the RuntimeDefault seccomp profile and a read-only root
filesystem, set requests and limits, mount no API token, and be selected by a NetworkPolicy.

Every kontakt Deployment, a service's (services.py) or the console's (console.py), must have
the standard labels and selector, enough replicas and a rolling update that never drops below
them, a container running `kontakt serve <component>`, its own ServiceAccount without an API
token, the hardened securityContext, a PodDisruptionBudget, an autoscaling/v2 HPA, topology
spread over nodes and zones and a grace period covering the preStop sleep plus
KONTAKT_SHUTDOWN_GRACE; and in front of it a ClusterIP Service of its name that selects its pods.
"""

from .model import (containers, duration_seconds, find_serving_container, meta, namespace, pod_labels,
                    pod_spec, ref, selects)
from .network import policy_types

SERVICE_UID = 65532
DEFAULT_SHUTDOWN_GRACE = "20s"  # the binary's default when KONTAKT_SHUTDOWN_GRACE is unset


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


# --- kontakt Deployments: the services and the console ----------------------------------------

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
