"""The database: the services' connection budget, and the CloudNativePG Cluster's backups.

The services' pools, each at the most pods its service can have at once (its HPA's maxReplicas
plus the rollout's maxSurge), together fit in the database's max_connections less a reserve
(10, or what ConfigMap kontakt-database-budget says): a scale-out or a rollout never meets
`too many clients`. max_connections is the CloudNativePG Cluster's or the dev PostgreSQL's in
the render, else (an external database) what ConfigMap kontakt-database-budget declares.

A CloudNativePG Cluster must archive its WAL to object storage (credentials from a Secret,
compressed, with a retention policy) and have a ScheduledBackup.
"""

from .model import PORTS, containers, environment, find_serving_container, meta, namespace, pod_spec, ref


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
