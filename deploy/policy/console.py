"""The web console: an HTTP workload beside the services, held to their standard.

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
"""

import json
from urllib.parse import urlsplit

from .model import (CONSOLE, CONSOLE_PORT, PORTS, TLS_CERT, TLS_KEY, environment, namespace, pod_labels,
                    pod_spec, ref, url_variable)
from .network import COLLECTOR, DNS, IDP, check_egress, policy_types, rule_ports, service_destination
from .tls import check_ingress_backend, check_tls
from .workloads import check_deployment, cluster_service, find_deployment

CONSOLE_SERVICE_PORT = 80  # the Service's port, which Ingresses name
CONSOLE_PROBES = (("startupProbe", "/healthz"), ("livenessProbe", "/healthz"), ("readinessProbe", "/readyz"))
CONSOLE_SETTINGS = ("KONTAKT_CONSOLE_PUBLIC_URL", "KONTAKT_OIDC_ISSUER_URL", "KONTAKT_OIDC_CLIENT_ID")
CONSOLE_SECRET_FILES = ("KONTAKT_CONSOLE_SESSION_KEY_FILE", "KONTAKT_OIDC_CLIENT_SECRET_FILE")
# What the console must not have: it owns no database, holds no CPR keys and verifies no tokens.
# Variables (a trailing _ is a prefix) and the services' Secrets (deploy/README.md § Secrets).
NOT_THE_CONSOLES_VARIABLES = ("DATABASE_URL", "KONTAKT_CPR_", "KONTAKT_JWKS_")
NOT_THE_CONSOLES_SECRETS = ("kontakt-db", "kontakt-cpr", "kontakt-auth", "kontakt-service-token")


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
