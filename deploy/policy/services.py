"""The four services: their Deployments, Services, probes, settings, network and migration Jobs.

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
"""

import re

from .model import (FOLLOWS, PORTS, TLS_CERT, TLS_KEY, environment, meta, namespace, pod_labels, pod_spec,
                    ref)
from .network import COLLECTOR, DNS, IDP, POSTGRES, check_egress, check_ingress, feed
from .tls import check_tls
from .workloads import check_deployment, cluster_service, find_deployment

# The health port (components/tls) is a second, plaintext listener serving grpc.health.v1
# only (KONTAKT_HEALTH_LISTEN), for the kubelet's gRPC probes, which cannot speak TLS.
HEALTH_PORT_NAME = "health"


# --- the services ----------------------------------------------------------------------------

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


# --- the health port -------------------------------------------------------------------------

def listen_port(address):
    """The port of a listen address such as [::]:8086 or 0.0.0.0:8086; None if there is none."""
    match = re.fullmatch(r"(?:\[[^\]]*\]|[^:\[\]]*):(\d+)", str(address or ""))
    return int(match.group(1)) if match else None


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
