"""Network policies of kontakt pods: what their ingress admits and where their egress leads.

A kontakt pod's egress reaches only the destinations its owner needs (DNS, PostgreSQL, the OTel
collector, the identity provider, the kontakt services it calls), each on its ports only, and
reaches every one of them; a service's ingress admits only the services that follow its feed,
the console and kontakt.dk/client pods, on its port only, and all of those; a migration Job
takes no ingress. Which destinations an owner needs is said where it is checked (services.py,
console.py); the console's own ingress is checked in console.py.
"""

import ipaddress
import json

from .model import CALLERS, CONSOLE, PORTS, ref

CLIENT_LABEL = ("kontakt.dk/client", "true")

# Egress destinations, by what a NetworkPolicy peer points at.
DNS, POSTGRES, COLLECTOR, IDP = "DNS", "PostgreSQL", "the OTel collector", "the identity provider"
DESTINATION_PORTS = {DNS: {(53, "UDP"), (53, "TCP")}, POSTGRES: {(5432, "TCP")},
                     COLLECTOR: {(4317, "TCP")}, IDP: {(443, "TCP")}}


def feed(service):
    return f"{service}'s feed"


def service_destination(service):
    return f"the {service} service"


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
