"""Kontakt's deployment policy, checked on rendered manifests (`kubectl kustomize` output).

    python -m policy [--overlay NAME | --min-replicas N] RENDERED.yaml...    (in deploy/)

Lists every violation as `<kind>/<name>: <what is wrong>` and exits 1, or prints `policy OK`.

The rules, each in the module docstring beside its code:

    workloads.py  every workload; what every kontakt Deployment needs
    services.py   the four services (referral, matching, timecost, followup)
    console.py    the web console and its Ingress
    network.py    the network policies of kontakt pods
    tls.py        TLS (components/tls): certificates, and https between the components
    database.py   the database's connection budget; the CloudNativePG Cluster's backups
    model.py      the components and their ports; reading the render

Its tests are in tests/ (deploy/check runs them).
"""

import argparse

from .console import check_console
from .database import check_cnpg_backups, check_database_budget
from .model import CLUSTER_SCOPED, CONSOLE, PORTS, WORKLOAD_KINDS, Render, load, namespace, ref
from .services import check_service
from .workloads import check_workload


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
    parser = argparse.ArgumentParser(prog="python -m policy", description=__doc__.split("\n\n")[0])
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
