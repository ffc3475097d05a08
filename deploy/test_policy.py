"""Tests of policy.py: it passes the real renders and names what is wrong in broken copies.

Reads the renders from $KONTAKT_RENDER_DIR/<overlay>.yaml (deploy/check sets it); without it,
renders the overlays itself with kubectl ($KUBECTL or kubectl on PATH).

    KONTAKT_RENDER_DIR=/tmp/render python -m unittest test_policy    (in deploy/)
"""

import contextlib
import copy
import io
import os
import shutil
import subprocess
import tempfile
import unittest

import policy

HERE = os.path.dirname(os.path.abspath(__file__))
OVERLAYS = {"dev": 1, "prod": 2, "prod-cnpg": 2}  # overlay -> replicas each service needs
RENDERS = {}  # overlay -> documents
PATHS = {}  # overlay -> rendered file


def setUpModule():
    directory = os.environ.get("KONTAKT_RENDER_DIR")
    if not directory:
        kubectl = os.environ.get("KUBECTL") or shutil.which("kubectl")
        if not kubectl:
            raise RuntimeError("set KONTAKT_RENDER_DIR (deploy/check does) or put kubectl on PATH")
        directory = tempfile.mkdtemp(prefix="kontakt-render-")
        for overlay in OVERLAYS:
            with open(os.path.join(directory, f"{overlay}.yaml"), "w", encoding="utf-8") as f:
                subprocess.run([kubectl, "kustomize", os.path.join(HERE, "overlays", overlay)],
                               stdout=f, check=True)
    for overlay in OVERLAYS:
        PATHS[overlay] = os.path.join(directory, f"{overlay}.yaml")
        RENDERS[overlay] = policy.load([PATHS[overlay]])


def find(docs, kind, name):
    for d in docs:
        if d["kind"] == kind and d["metadata"]["name"] == name:
            return d
    raise KeyError(f"{kind}/{name}")


def container(docs, kind, name):
    return find(docs, kind, name)["spec"]["template"]["spec"]["containers"][0]


def without(docs, kind, name):
    find(docs, kind, name)  # it must be there to begin with
    return [d for d in docs if not (d["kind"] == kind and d["metadata"]["name"] == name)]


class RealRenders(unittest.TestCase):
    def test_every_overlay_passes(self):
        for overlay, replicas in OVERLAYS.items():
            with self.subTest(overlay=overlay):
                self.assertEqual(policy.check(RENDERS[overlay], replicas), [])

    def test_the_overlay_name_sets_the_replicas_needed(self):
        output = io.StringIO()
        with contextlib.redirect_stdout(output):
            self.assertEqual(policy.main(["--overlay", "dev", PATHS["dev"]]), 0)
            self.assertEqual(policy.main(["--overlay", "prod", PATHS["dev"]]), 1)
            self.assertEqual(policy.main(["--min-replicas", "2", PATHS["prod"]]), 0)
        self.assertIn("Deployment/referral: replicas 1 is below 2", output.getvalue().splitlines())
        self.assertIn("Deployment/console: replicas 1 is below 2", output.getvalue().splitlines())


class Breaking:
    """Each test breaks one thing in a copy of a render and expects that exact violation."""

    def violations(self, docs, replicas=2):
        found = policy.check(docs, replicas)
        for line in found:
            self.assertRegex(line, r"^[A-Za-z]+/[^:\s]+: ", "violations read <kind>/<name>: <what>")
        return found

    def assertViolation(self, docs, expected, replicas=2):
        found = self.violations(docs, replicas)
        self.assertIn(expected, found, "\n".join(found))

    def prod(self):
        return copy.deepcopy(RENDERS["prod"])


class BrokenCopies(Breaking, unittest.TestCase):
    """The services and every workload."""

    def test_writable_root_filesystem(self):
        docs = self.prod()
        del container(docs, "Deployment", "referral")["securityContext"]["readOnlyRootFilesystem"]
        self.assertViolation(docs, "Deployment/referral: container kontakt: readOnlyRootFilesystem is not true")

    def test_writable_root_filesystem_in_any_workload(self):
        docs = copy.deepcopy(RENDERS["dev"])
        container(docs, "StatefulSet", "postgres")["securityContext"]["readOnlyRootFilesystem"] = False
        self.assertViolation(docs, "StatefulSet/postgres: container postgres: readOnlyRootFilesystem is not true", 1)

    def test_privilege_escalation_and_capabilities_in_a_job(self):
        docs = self.prod()
        sc = container(docs, "Job", "timecost-migrate")["securityContext"]
        del sc["allowPrivilegeEscalation"]
        sc["capabilities"]["drop"] = ["NET_RAW"]
        found = self.violations(docs)
        self.assertIn("Job/timecost-migrate: container migrate: allowPrivilegeEscalation is not false", found)
        self.assertIn("Job/timecost-migrate: container migrate: capabilities do not drop ALL", found)

    def test_root_and_unconfined(self):
        docs = self.prod()
        pod = find(docs, "Deployment", "otel-collector")["spec"]["template"]["spec"]
        del pod["securityContext"]["runAsNonRoot"]
        pod["securityContext"]["seccompProfile"]["type"] = "Unconfined"
        found = self.violations(docs)
        self.assertIn("Deployment/otel-collector: runAsNonRoot is not true (pod or every container)", found)
        self.assertIn("Deployment/otel-collector: container otel-collector: seccompProfile is not "
                      "RuntimeDefault (pod or container)", found)

    def test_missing_limits(self):
        docs = self.prod()
        del container(docs, "Deployment", "matching")["resources"]["limits"]["memory"]
        self.assertViolation(docs, "Deployment/matching: container kontakt: no memory limit")

    def test_no_pod_disruption_budget(self):
        docs = without(self.prod(), "PodDisruptionBudget", "matching")
        self.assertViolation(docs, "Deployment/matching: no PodDisruptionBudget selects its pods")

    def test_no_autoscaler(self):
        docs = without(self.prod(), "HorizontalPodAutoscaler", "followup")
        self.assertViolation(docs, "Deployment/followup: no HorizontalPodAutoscaler targets it")

    def test_egress_rule_to_everywhere(self):
        docs = self.prod()
        egress = find(docs, "NetworkPolicy", "timecost")["spec"]["egress"]
        egress.append({"ports": [{"port": 443, "protocol": "TCP"}]})
        self.assertViolation(docs, f"NetworkPolicy/timecost: egress rule {len(egress)} has no 'to' "
                                   "(allows every destination)")

    def test_egress_to_the_whole_internet(self):
        docs = self.prod()
        rule = find(docs, "NetworkPolicy", "kontakt-to-postgres")["spec"]["egress"][0]
        rule["to"] = [{"ipBlock": {"cidr": "0.0.0.0/0"}}]
        self.assertViolation(docs, "NetworkPolicy/kontakt-to-postgres: egress rule 1 allows ipBlock 0.0.0.0/0 (everywhere)")

    def test_egress_to_a_feed_it_does_not_follow(self):
        docs = self.prod()
        egress = find(docs, "NetworkPolicy", "matching")["spec"]["egress"]
        egress.append({"to": [{"podSelector": {"matchLabels": {
            "app.kubernetes.io/name": "kontakt", "app.kubernetes.io/component": "followup"}}}],
            "ports": [{"port": 50054, "protocol": "TCP"}]})
        found = self.violations(docs)
        self.assertTrue(any(v.startswith(f"NetworkPolicy/matching: egress rule {len(egress)} allows pods "
                                         "it has no business with") for v in found), found)

    def test_no_egress_to_a_followed_feed(self):
        docs = self.prod()
        egress = find(docs, "NetworkPolicy", "timecost")["spec"]["egress"]
        egress[:] = [r for r in egress if r["ports"][0]["port"] != 50052]
        self.assertViolation(docs, "Deployment/timecost: its NetworkPolicies do not let it reach matching's feed")

    def test_no_database_egress(self):
        docs = without(self.prod(), "NetworkPolicy", "kontakt-to-postgres")
        found = self.violations(docs)
        self.assertIn("Deployment/referral: its NetworkPolicies do not let it reach PostgreSQL", found)
        self.assertIn("Job/referral-migrate: its NetworkPolicies do not let it reach PostgreSQL", found)

    def test_ingress_from_a_service_that_is_no_caller(self):
        docs = self.prod()
        peers = find(docs, "NetworkPolicy", "followup")["spec"]["ingress"][0]["from"]
        peers.append({"podSelector": {"matchLabels": {
            "app.kubernetes.io/name": "kontakt", "app.kubernetes.io/component": "matching"}}})
        found = self.violations(docs)
        self.assertTrue(any(v.startswith("NetworkPolicy/followup: ingress rule 1 admits") and
                            "not a service following followup's feed" in v for v in found), found)

    def test_ingress_not_admitting_a_caller(self):
        docs = self.prod()
        ingress = find(docs, "NetworkPolicy", "referral")["spec"]["ingress"][0]
        ingress["from"] = [p for p in ingress["from"]
                           if p.get("podSelector", {}).get("matchLabels", {}).get("app.kubernetes.io/component") != "timecost"]
        self.assertViolation(docs, "Deployment/referral: its NetworkPolicies do not admit timecost, which follows its feed")

    def test_ingress_from_everywhere(self):
        docs = self.prod()
        find(docs, "NetworkPolicy", "matching")["spec"]["ingress"].append({})
        self.assertViolation(docs, "NetworkPolicy/matching: ingress rule 2 has no 'from' (admits every source)")

    def test_ingress_to_a_migration_job(self):
        docs = self.prod()
        find(docs, "NetworkPolicy", "kontakt-migrate")["spec"]["ingress"] = [
            {"from": [{"podSelector": {}}]}]
        self.assertViolation(docs, "NetworkPolicy/kontakt-migrate: ingress rule 1 admits traffic to "
                                   "Job/referral-migrate, which takes none")

    def test_workload_without_network_policy(self):
        docs = without(without(self.prod(), "NetworkPolicy", "otel-collector"),
                       "NetworkPolicy", "kontakt-default-deny")
        self.assertViolation(docs, "Deployment/otel-collector: no NetworkPolicy selects its pods")

    def test_missing_liveness_probe(self):
        docs = self.prod()
        del container(docs, "Deployment", "followup")["livenessProbe"]
        self.assertViolation(docs, "Deployment/followup: container kontakt: no gRPC livenessProbe")

    def test_readiness_on_the_liveness_service(self):
        docs = self.prod()
        container(docs, "Deployment", "matching")["readinessProbe"]["grpc"]["service"] = "liveness"
        # prod serves TLS, so its probes are on the health port.
        self.assertViolation(docs, "Deployment/matching: container kontakt: readinessProbe is not gRPC "
                                   "health on port 8086, service ''")

    def test_readiness_on_the_liveness_service_in_plaintext(self):
        docs = copy.deepcopy(RENDERS["dev"])
        container(docs, "Deployment", "matching")["readinessProbe"]["grpc"]["service"] = "liveness"
        self.assertViolation(docs, "Deployment/matching: container kontakt: readinessProbe is not gRPC "
                                   "health on port 50052, service ''", 1)

    def test_one_replica_in_prod(self):
        docs = self.prod()
        find(docs, "Deployment", "referral")["spec"]["replicas"] = 1
        self.assertViolation(docs, "Deployment/referral: replicas 1 is below 2")

    def test_rollout_that_takes_pods_away(self):
        docs = self.prod()
        find(docs, "Deployment", "timecost")["spec"]["strategy"]["rollingUpdate"]["maxUnavailable"] = 1
        self.assertViolation(docs, "Deployment/timecost: rolling update without maxUnavailable 0")

    def test_grace_period_shorter_than_the_drain(self):
        docs = self.prod()
        config = next(d for d in docs if d["kind"] == "ConfigMap" and d["metadata"]["name"].startswith("kontakt-config"))
        config["data"]["KONTAKT_SHUTDOWN_GRACE"] = "40s"
        self.assertViolation(docs, "Deployment/referral: terminationGracePeriodSeconds 30 is less than "
                                   "preStop sleep 5s + KONTAKT_SHUTDOWN_GRACE 40s")

    def test_service_account_with_token(self):
        docs = self.prod()
        find(docs, "ServiceAccount", "referral")["automountServiceAccountToken"] = True
        self.assertViolation(docs, "ServiceAccount/referral: automountServiceAccountToken is not false")

    def test_service_port_without_app_protocol(self):
        docs = self.prod()
        del find(docs, "Service", "timecost")["spec"]["ports"][0]["appProtocol"]
        self.assertViolation(docs, "Service/timecost: port grpc without appProtocol grpc")

    def test_spread_without_pod_template_hash(self):
        docs = self.prod()
        pod = find(docs, "Deployment", "followup")["spec"]["template"]["spec"]
        del pod["topologySpreadConstraints"][1]["matchLabelKeys"]
        self.assertViolation(docs, "Deployment/followup: topology spread over topology.kubernetes.io/zone "
                                   "without matchLabelKeys [pod-template-hash]")

    def test_object_left_without_namespace(self):
        docs = self.prod()
        del find(docs, "Service", "otel-collector")["metadata"]["namespace"]
        self.assertViolation(docs, "Service/otel-collector: no namespace (the others are in ['kontakt'])")


def config(docs):
    return next(d for d in docs if d["kind"] == "ConfigMap" and d["metadata"]["name"].startswith("kontakt-config"))


def env(docs, kind, name, variable):
    return next(e for e in container(docs, kind, name)["env"] if e["name"] == variable)


class BrokenConsole(Breaking, unittest.TestCase):
    """The console: an HTTP workload beside the services, held to their standard."""

    def test_console_with_a_database(self):
        docs = self.prod()
        container(docs, "Deployment", "console")["env"].append(
            {"name": "DATABASE_URL", "valueFrom": {"secretKeyRef": {"name": "kontakt-db", "key": "referral-url"}}})
        found = self.violations(docs)
        self.assertIn("Deployment/console: container kontakt: sets DATABASE_URL (the console owns no "
                      "database, holds no CPR keys and verifies no tokens)", found)
        self.assertIn("Deployment/console: reads Secret kontakt-db, one of the services' (the console "
                      "owns no database, holds no CPR keys and verifies no tokens)", found)

    def test_console_with_the_cpr_keys(self):
        docs = self.prod()
        container(docs, "Deployment", "console")["envFrom"].append({"secretRef": {"name": "kontakt-cpr"}})
        self.assertViolation(docs, "Deployment/console: reads Secret kontakt-cpr, one of the services' "
                                   "(the console owns no database, holds no CPR keys and verifies no tokens)")

    def test_console_reaching_postgres(self):
        docs = self.prod()
        del find(docs, "NetworkPolicy", "kontakt-to-postgres")["spec"]["podSelector"]["matchExpressions"]
        self.assertViolation(docs, "NetworkPolicy/kontakt-to-postgres: egress rule 1 allows PostgreSQL, "
                                   "which Deployment/console must not reach")

    def test_console_reaching_postgres_in_the_cluster(self):
        docs = copy.deepcopy(RENDERS["prod-cnpg"])
        del find(docs, "NetworkPolicy", "kontakt-to-cnpg")["spec"]["podSelector"]["matchExpressions"]
        self.assertViolation(docs, "NetworkPolicy/kontakt-to-cnpg: egress rule 1 allows PostgreSQL, "
                                   "which Deployment/console must not reach")

    def test_console_from_every_namespace(self):
        docs = self.prod()
        find(docs, "NetworkPolicy", "console-from-ingress")["spec"]["ingress"][0]["from"] = [
            {"namespaceSelector": {}}]
        found = self.violations(docs)
        self.assertIn("NetworkPolicy/console-from-ingress: ingress rule 1 admits every namespace, not "
                      "the ingress controller's", found)
        self.assertIn("Deployment/console: an Ingress routes to it, but its NetworkPolicies admit no "
                      "ingress controller's namespace on 8080", found)

    def test_console_from_its_own_namespace(self):
        docs = self.prod()
        find(docs, "NetworkPolicy", "console-from-ingress")["spec"]["ingress"][0]["from"].append(
            {"podSelector": {}})
        found = self.violations(docs)
        self.assertTrue(any(v.startswith("NetworkPolicy/console-from-ingress: ingress rule 1 admits pods "
                                         "of its own namespace") for v in found), found)

    def test_console_on_another_port(self):
        docs = self.prod()
        find(docs, "NetworkPolicy", "console-from-ingress")["spec"]["ingress"][0]["ports"] = [
            {"port": 50051, "protocol": "TCP"}]
        self.assertViolation(docs, "NetworkPolicy/console-from-ingress: ingress rule 1 admits ports other than 8080")

    def test_ingress_but_no_way_in(self):
        docs = without(self.prod(), "NetworkPolicy", "console-from-ingress")
        self.assertViolation(docs, "Deployment/console: an Ingress routes to it, but its NetworkPolicies "
                                   "admit no ingress controller's namespace on 8080")

    def test_dev_without_an_ingress_needs_no_way_in(self):
        docs = copy.deepcopy(RENDERS["dev"])
        self.assertEqual([d for d in docs if d["kind"] == "Ingress"], [])
        self.assertEqual(self.violations(docs, 1), [])

    def test_a_service_not_admitting_the_console(self):
        docs = self.prod()
        ingress = find(docs, "NetworkPolicy", "matching")["spec"]["ingress"][0]
        ingress["from"] = [p for p in ingress["from"]
                           if p.get("podSelector", {}).get("matchLabels", {}).get("app.kubernetes.io/component") != "console"]
        self.assertViolation(docs, "Deployment/matching: its NetworkPolicies do not admit the console, which calls it")

    def test_console_not_reaching_a_service(self):
        docs = self.prod()
        egress = find(docs, "NetworkPolicy", "console")["spec"]["egress"]
        rule = next(r for r in egress if r["ports"][0]["port"] == 50051)
        rule["ports"][0]["port"] = 50052
        found = self.violations(docs)
        self.assertIn(f"NetworkPolicy/console: egress rule {egress.index(rule) + 1} allows the referral "
                      "service on ports other than [50051]", found)
        self.assertIn("Deployment/console: its NetworkPolicies do not let it reach the referral service", found)

    def test_console_reaching_the_world(self):
        docs = self.prod()
        find(docs, "NetworkPolicy", "console")["spec"]["egress"].append(
            {"to": [{"ipBlock": {"cidr": "0.0.0.0/0"}}], "ports": [{"port": 443, "protocol": "TCP"}]})
        egress = find(docs, "NetworkPolicy", "console")["spec"]["egress"]
        self.assertViolation(docs, f"NetworkPolicy/console: egress rule {len(egress)} allows ipBlock "
                                   "0.0.0.0/0 (everywhere)")

    def test_console_with_grpc_probes(self):
        docs = self.prod()
        c = container(docs, "Deployment", "console")
        c["livenessProbe"] = {"grpc": {"port": 8080, "service": "liveness"}}
        self.assertViolation(docs, "Deployment/console: container kontakt: no HTTP livenessProbe")

    def test_console_ready_on_healthz(self):
        docs = self.prod()
        container(docs, "Deployment", "console")["readinessProbe"]["httpGet"]["path"] = "/healthz"
        self.assertViolation(docs, "Deployment/console: container kontakt: readinessProbe is not GET "
                                   "/readyz on port 8080")

    def test_console_listening_elsewhere(self):
        docs = self.prod()
        env(docs, "Deployment", "console", "KONTAKT_LISTEN")["value"] = "[::]:50051"
        self.assertViolation(docs, "Deployment/console: container kontakt: KONTAKT_LISTEN '[::]:50051' "
                                   "is not port 8080")

    def test_listen_in_the_config_map_moves_the_services(self):
        docs = self.prod()
        config(docs)["data"]["KONTAKT_LISTEN"] = "[::]:8080"
        self.assertViolation(docs, "Deployment/referral: container kontakt: KONTAKT_LISTEN '[::]:8080' "
                                   "is not port 50051")

    def test_session_key_not_from_a_secret(self):
        docs = self.prod()
        env(docs, "Deployment", "console", "KONTAKT_CONSOLE_SESSION_KEY_FILE")["value"] = "/tmp/session-key"
        self.assertViolation(docs, "Deployment/console: container kontakt: KONTAKT_CONSOLE_SESSION_KEY_FILE "
                                   "/tmp/session-key is not in a read-only mount of a Secret")

    def test_client_secret_in_a_writable_mount(self):
        docs = self.prod()
        mount = next(m for m in container(docs, "Deployment", "console")["volumeMounts"]
                     if m["name"] == "console-secrets")
        mount["readOnly"] = False
        self.assertViolation(docs, "Deployment/console: container kontakt: KONTAKT_OIDC_CLIENT_SECRET_FILE "
                                   "/var/run/secrets/kontakt/console/oidc-client-secret is not in a "
                                   "read-only mount of a Secret")

    def test_no_oidc_issuer(self):
        docs = self.prod()
        del config(docs)["data"]["KONTAKT_OIDC_ISSUER_URL"]
        self.assertViolation(docs, "Deployment/console: container kontakt: KONTAKT_OIDC_ISSUER_URL is not set")

    def test_service_url_that_is_not_the_service(self):
        docs = self.prod()
        config(docs)["data"]["KONTAKT_TIMECOST_URL"] = "http://127.0.0.1:50053"
        self.assertViolation(docs, "Deployment/console: container kontakt: KONTAKT_TIMECOST_URL "
                                   "'http://127.0.0.1:50053' is not Service timecost on port 50053")

    def test_public_url_over_http(self):
        docs = self.prod()
        config(docs)["data"]["KONTAKT_CONSOLE_PUBLIC_URL"] = "http://kontakt.example.dk"
        self.assertViolation(docs, "Deployment/console: container kontakt: KONTAKT_CONSOLE_PUBLIC_URL "
                                   "'http://kontakt.example.dk' is not https (its cookies are Secure; "
                                   "http only on localhost)")

    def test_public_url_not_the_ingress_host(self):
        docs = self.prod()
        config(docs)["data"]["KONTAKT_CONSOLE_PUBLIC_URL"] = "https://console.example.dk"
        self.assertViolation(docs, "Deployment/console: container kontakt: KONTAKT_CONSOLE_PUBLIC_URL "
                                   "'https://console.example.dk' is not on an Ingress host of the console "
                                   "(kontakt.example.dk)")

    def test_ingress_without_tls(self):
        docs = self.prod()
        del find(docs, "Ingress", "console")["spec"]["tls"]
        self.assertViolation(docs, "Ingress/console: host kontakt.example.dk has no TLS (the console's "
                                   "cookies are Secure)")

    def test_ingress_to_the_pod_port(self):
        docs = self.prod()
        find(docs, "Ingress", "console")["spec"]["rules"][0]["http"]["paths"][0]["backend"]["service"]["port"] = {
            "number": 8080}
        self.assertViolation(docs, "Ingress/console: routes to Service console port 8080, not 80 (http)")

    def test_console_service_port(self):
        docs = self.prod()
        find(docs, "Service", "console")["spec"]["ports"][0]["targetPort"] = 80
        self.assertViolation(docs, "Service/console: port http is not 80 -> http (8080)")

    def test_console_sharing_a_service_account(self):
        docs = self.prod()
        find(docs, "Deployment", "console")["spec"]["template"]["spec"]["serviceAccountName"] = "referral"
        self.assertViolation(docs, "Deployment/console: ServiceAccount referral is also Deployment/referral's")

    def test_console_without_pod_disruption_budget_or_autoscaler(self):
        docs = without(without(self.prod(), "PodDisruptionBudget", "console"), "HorizontalPodAutoscaler", "console")
        found = self.violations(docs)
        self.assertIn("Deployment/console: no PodDisruptionBudget selects its pods", found)
        self.assertIn("Deployment/console: no HorizontalPodAutoscaler targets it", found)

    def test_console_with_writable_root_and_no_spread(self):
        docs = self.prod()
        container(docs, "Deployment", "console")["securityContext"]["readOnlyRootFilesystem"] = False
        del find(docs, "Deployment", "console")["spec"]["template"]["spec"]["topologySpreadConstraints"]
        found = self.violations(docs)
        self.assertIn("Deployment/console: container kontakt: readOnlyRootFilesystem is not true", found)
        self.assertIn("Deployment/console: no topologySpreadConstraint over kubernetes.io/hostname", found)

    def test_no_console(self):
        docs = without(self.prod(), "Deployment", "console")
        self.assertViolation(docs, "Deployment/console: expected one kontakt Deployment with component "
                                   "console, found 0")



def env_list(docs, name):
    return container(docs, "Deployment", name)["env"]


def drop_env(docs, name, variable):
    c = container(docs, "Deployment", name)
    before = len(c["env"])
    c["env"] = [e for e in c["env"] if e["name"] != variable]
    assert len(c["env"]) == before - 1, variable


def annotations(docs, kind, name):
    return find(docs, kind, name)["metadata"]["annotations"]


class BrokenTls(Breaking, unittest.TestCase):
    """TLS (components/tls in prod): mutual between the services, HTTPS for the console, health
    probes on a plaintext port, certificates from cert-manager."""

    def test_prod_serves_mutual_tls_and_dev_plaintext(self):
        prod, dev = policy.Render(RENDERS["prod"]), policy.Render(RENDERS["dev"])
        for component in list(policy.PORTS) + [policy.CONSOLE]:
            with self.subTest(component=component):
                self.assertEqual(prod.tls(component),
                                 {"serves": True, "mutual": component != policy.CONSOLE})
                self.assertEqual(dev.tls(component), {"serves": False, "mutual": False})
        self.assertEqual(policy.tls_summary(prod), "mutual TLS")
        self.assertEqual(policy.tls_summary(dev), "plaintext")

    # Probes and the health port

    def test_probe_on_the_tls_port(self):
        docs = self.prod()
        container(docs, "Deployment", "referral")["readinessProbe"]["grpc"]["port"] = 50051
        self.assertViolation(docs, "Deployment/referral: container kontakt: readinessProbe is on port "
                                   "50051, which serves TLS only: the kubelet's gRPC probes cannot speak "
                                   "TLS (probe the health port, KONTAKT_HEALTH_LISTEN)")

    def test_health_port_that_nothing_listens_on(self):
        docs = self.prod()
        drop_env(docs, "matching", "KONTAKT_HEALTH_LISTEN")
        found = self.violations(docs)
        self.assertIn("Deployment/matching: container kontakt: container port health 8086, but "
                      "KONTAKT_HEALTH_LISTEN is not set (nothing listens there)", found)
        self.assertIn("Deployment/matching: container kontakt: livenessProbe is not gRPC health on port "
                      "health (KONTAKT_HEALTH_LISTEN), service 'liveness'", found)

    def test_health_listen_on_another_port_than_the_container_declares(self):
        docs = self.prod()
        env(docs, "Deployment", "timecost", "KONTAKT_HEALTH_LISTEN")["value"] = "[::]:8087"
        found = self.violations(docs)
        self.assertIn("Deployment/timecost: container kontakt: container port health 8086 is not "
                      "KONTAKT_HEALTH_LISTEN's port ('[::]:8087')", found)
        self.assertIn("Deployment/timecost: container kontakt: startupProbe is not gRPC health on port "
                      "health (KONTAKT_HEALTH_LISTEN), service 'liveness'", found)

    def test_health_listen_without_a_container_port(self):
        docs = self.prod()
        c = container(docs, "Deployment", "followup")
        c["ports"] = [p for p in c["ports"] if p["name"] != "health"]
        self.assertViolation(docs, "Deployment/followup: container kontakt: KONTAKT_HEALTH_LISTEN "
                                   "'[::]:8086' has no container port named health")

    def test_health_listen_on_the_grpc_port(self):
        docs = self.prod()
        env(docs, "Deployment", "referral", "KONTAKT_HEALTH_LISTEN")["value"] = "[::]:50051"
        self.assertViolation(docs, "Deployment/referral: container kontakt: KONTAKT_HEALTH_LISTEN "
                                   "'[::]:50051' is the gRPC port 50051 (the health port is a second one)")

    def test_plaintext_service_may_probe_a_health_port(self):
        docs = copy.deepcopy(RENDERS["dev"])
        c = container(docs, "Deployment", "matching")
        c["ports"].append({"name": "health", "containerPort": 8086, "protocol": "TCP"})
        c["env"].append({"name": "KONTAKT_HEALTH_LISTEN", "value": "[::]:8086"})
        for probe in ("startupProbe", "livenessProbe", "readinessProbe"):
            c[probe]["grpc"]["port"] = 8086
        self.assertEqual(self.violations(docs, 1), [])
        c["env"].pop()  # without KONTAKT_HEALTH_LISTEN, 8086 is nobody's port
        self.assertViolation(docs, "Deployment/matching: container kontakt: readinessProbe is not gRPC "
                                   "health on port 50052, service ''", 1)

    # The processes' settings

    def test_tls_without_client_certificates(self):
        docs = self.prod()
        drop_env(docs, "followup", "KONTAKT_TLS_CLIENT_CA")
        self.assertViolation(docs, "Deployment/followup: container kontakt: serves TLS without "
                                   "KONTAKT_TLS_CLIENT_CA (mutual TLS: every caller must present a "
                                   "certificate from the CA)")

    def test_console_asking_for_client_certificates(self):
        docs = self.prod()
        env_list(docs, "console").append({"name": "KONTAKT_TLS_CLIENT_CA", "value": "/var/run/kontakt/tls/ca.crt"})
        self.assertViolation(docs, "Deployment/console: container kontakt: KONTAKT_TLS_CLIENT_CA is set, "
                                   "but the kubelet's HTTPS probes on its port present no client certificate")

    def test_certificate_without_its_key(self):
        docs = self.prod()
        drop_env(docs, "referral", "KONTAKT_TLS_KEY")
        found = self.violations(docs)
        self.assertIn("Deployment/referral: container kontakt: KONTAKT_TLS_CERT and KONTAKT_TLS_KEY are "
                      "set together or not at all", found)
        self.assertIn("Deployment/referral: container kontakt: KONTAKT_TLS_CLIENT_CA without "
                      "KONTAKT_TLS_CERT and KONTAKT_TLS_KEY (the binary refuses to start)", found)

    def test_plaintext_url_of_a_tls_service(self):
        docs = self.prod()
        config(docs)["data"]["KONTAKT_REFERRAL_URL"] = "http://referral:50051"
        found = self.violations(docs)
        for caller in ("matching", "timecost", "followup", "console"):
            self.assertIn(f"Deployment/{caller}: container kontakt: KONTAKT_REFERRAL_URL "
                          "'http://referral:50051' is not https://: referral serves TLS only", found)

    def test_https_url_of_a_plaintext_service(self):
        docs = copy.deepcopy(RENDERS["dev"])
        config(docs)["data"]["KONTAKT_TIMECOST_URL"] = "https://timecost:50053"
        self.assertViolation(docs, "Deployment/followup: container kontakt: KONTAKT_TIMECOST_URL "
                                   "'https://timecost:50053' is not http://: timecost serves plaintext", 1)

    def test_https_without_a_ca_bundle(self):
        docs = self.prod()
        drop_env(docs, "timecost", "KONTAKT_TLS_CA")
        self.assertViolation(docs, "Deployment/timecost: container kontakt: calls https:// URLs without "
                                   "KONTAKT_TLS_CA (the services' certificates are from a private CA, not "
                                   "the web roots)")

    def test_caller_without_a_certificate_to_present(self):
        docs = self.prod()
        for variable in ("KONTAKT_TLS_CERT", "KONTAKT_TLS_KEY"):
            drop_env(docs, "console", variable)
        self.assertViolation(docs, "Deployment/console: container kontakt: KONTAKT_MATCHING_URL names "
                                   "matching, which requires a client certificate (KONTAKT_TLS_CLIENT_CA), "
                                   "but it has no KONTAKT_TLS_CERT and KONTAKT_TLS_KEY to present")

    # The files

    def test_tls_files_through_subpath_mounts(self):
        docs = self.prod()
        c = container(docs, "Deployment", "matching")
        c["volumeMounts"] = [m for m in c["volumeMounts"] if m["name"] != "tls"] + [
            {"name": "tls", "mountPath": f"/var/run/kontakt/tls/{f}", "subPath": f, "readOnly": True}
            for f in ("tls.crt", "tls.key", "ca.crt")]
        found = self.violations(docs)
        for variable, f in (("KONTAKT_TLS_CERT", "tls.crt"), ("KONTAKT_TLS_KEY", "tls.key"),
                            ("KONTAKT_TLS_CA", "ca.crt"), ("KONTAKT_TLS_CLIENT_CA", "ca.crt")):
            self.assertIn(f"Deployment/matching: container kontakt: {variable} /var/run/kontakt/tls/{f} "
                          "is in a subPath mount, which never sees a renewed file (mount the whole Secret)",
                          found)

    def test_tls_files_in_a_writable_mount(self):
        docs = self.prod()
        next(m for m in container(docs, "Deployment", "referral")["volumeMounts"] if m["name"] == "tls")["readOnly"] = False
        self.assertViolation(docs, "Deployment/referral: container kontakt: KONTAKT_TLS_KEY "
                                   "/var/run/kontakt/tls/tls.key is not in a read-only volume mount")

    def test_key_not_from_a_secret(self):
        docs = self.prod()
        pod = find(docs, "Deployment", "followup")["spec"]["template"]["spec"]
        volume = next(v for v in pod["volumes"] if v["name"] == "tls")
        volume.clear()
        volume.update({"name": "tls", "emptyDir": {}})
        self.assertViolation(docs, "Deployment/followup: container kontakt: KONTAKT_TLS_KEY "
                                   "/var/run/kontakt/tls/tls.key is not in a Secret volume")

    # The certificates

    def test_secret_that_cert_manager_does_not_issue(self):
        docs = without(self.prod(), "Certificate", "console-tls")
        self.assertViolation(docs, "Deployment/console: Secret console-tls (KONTAKT_TLS_CERT) is not issued "
                                   "by a cert-manager Certificate in the render")

    def test_certificate_without_the_service_name(self):
        docs = self.prod()
        names = find(docs, "Certificate", "referral-tls")["spec"]["dnsNames"]
        names.remove("referral")
        self.assertViolation(docs, "Certificate/referral-tls: dnsNames lack referral, names of Service "
                                   "referral that its callers use")

    def test_certificate_for_another_namespace(self):
        docs = self.prod()
        cert = find(docs, "Certificate", "matching-tls")["spec"]
        cert["dnsNames"] = [n.replace(".kontakt.", ".kontakt-test.") for n in cert["dnsNames"]]
        self.assertViolation(docs, "Certificate/matching-tls: dnsNames lack matching.kontakt.svc, names of "
                                   "Service matching that its callers use")

    def test_certificate_only_for_servers(self):
        docs = self.prod()
        find(docs, "Certificate", "timecost-tls")["spec"]["usages"].remove("client auth")
        self.assertViolation(docs, "Certificate/timecost-tls: usages lack client auth (Deployment/timecost "
                                   "serves it and presents it as client certificate to the services it calls)")

    def test_certificate_from_an_issuer_not_in_the_render(self):
        docs = without(self.prod(), "Issuer", "kontakt-ca")
        self.assertViolation(docs, "Certificate/followup-tls: issuerRef Issuer/kontakt-ca is not in the render")

    def test_the_organisations_cluster_issuer_instead_of_kontakts_ca(self):
        # deploy/README.md § TLS and mutual TLS: issuer.yaml left out, every Certificate from a
        # ClusterIssuer (cluster-scoped, so not in the render and not looked for).
        docs = without(self.prod(), "Certificate", "kontakt-ca")
        docs = [d for d in docs if d["kind"] != "Issuer"]
        for d in docs:
            if d["kind"] == "Certificate":
                d["spec"]["issuerRef"] = {"name": "organisation-ca", "kind": "ClusterIssuer", "group": "cert-manager.io"}
        self.assertEqual(self.violations(docs), [])

    # The console over HTTPS and its Ingress

    def test_console_probe_over_http(self):
        docs = self.prod()
        del container(docs, "Deployment", "console")["readinessProbe"]["httpGet"]["scheme"]
        self.assertViolation(docs, "Deployment/console: container kontakt: readinessProbe scheme HTTP is not "
                                   "HTTPS: the port serves TLS only")

    def test_console_service_says_http(self):
        docs = self.prod()
        find(docs, "Service", "console")["spec"]["ports"][0]["appProtocol"] = "http"
        self.assertViolation(docs, "Service/console: port http has appProtocol http, but the console serves HTTPS")

    def test_ingress_speaking_http_to_an_https_console(self):
        # What the render looks like with components/tls listed before console-ingress: the
        # Ingress patch found no Ingress.
        docs = self.prod()
        for key in list(annotations(docs, "Ingress", "console")):
            if key.startswith("nginx.ingress.kubernetes.io/proxy-ssl") or key.endswith("backend-protocol"):
                del annotations(docs, "Ingress", "console")[key]
        self.assertViolation(docs, "Ingress/console: ingress-nginx speaks HTTP to the console, which serves "
                                   "HTTPS only (nginx.ingress.kubernetes.io/backend-protocol: HTTPS; "
                                   "components/tls after console-ingress)")

    def test_ingress_speaking_https_to_a_plaintext_console(self):
        docs = self.prod()
        for variable in ("KONTAKT_TLS_CERT", "KONTAKT_TLS_KEY"):
            drop_env(docs, "console", variable)
        self.assertViolation(docs, "Ingress/console: ingress-nginx speaks HTTPS to the console, which serves "
                                   "plain HTTP (nginx.ingress.kubernetes.io/backend-protocol: HTTP)")

    def test_ingress_verifying_with_a_secret_of_another_namespace(self):
        docs = self.prod()
        annotations(docs, "Ingress", "console")["nginx.ingress.kubernetes.io/proxy-ssl-secret"] = \
            "default/ingress-to-console-tls"
        self.assertViolation(docs, "Ingress/console: proxy-ssl-secret 'default/ingress-to-console-tls' is not "
                                   "kontakt/<a Secret issued by a cert-manager Certificate in the render> (it "
                                   "carries the CA that verifies the console)")

    def test_ingress_verifying_a_name_the_console_does_not_have(self):
        docs = self.prod()
        annotations(docs, "Ingress", "console")["nginx.ingress.kubernetes.io/proxy-ssl-name"] = "console.default.svc"
        self.assertViolation(docs, "Ingress/console: proxy-ssl-name 'console.default.svc' is not a name in "
                                   "the console's certificate (Certificate/console-tls)")

    def test_ingress_verifying_without_a_name(self):
        docs = self.prod()
        del annotations(docs, "Ingress", "console")["nginx.ingress.kubernetes.io/proxy-ssl-name"]
        self.assertViolation(docs, "Ingress/console: proxy-ssl-verify is on without proxy-ssl-name (nginx "
                                   "would check the upstream's name, which no certificate carries)")

    def test_the_services_keep_their_network_policies_and_app_protocol(self):
        # The health port needs no NetworkPolicy rule (the kubelet comes from the node) and the
        # Service stays gRPC (over TLS).
        docs = self.prod()
        for service, port in policy.PORTS.items():
            rules = find(docs, "NetworkPolicy", service)["spec"]["ingress"]
            self.assertEqual([p["port"] for r in rules for p in r["ports"]], [port])
            self.assertEqual(find(docs, "Service", service)["spec"]["ports"][0]["appProtocol"], "grpc")


class DatabaseBudget(Breaking, unittest.TestCase):
    """Pool size x the most pods of every service fit in the database's max_connections."""

    def test_an_autoscaler_that_could_open_more_connections_than_the_database_allows(self):
        docs = self.prod()
        find(docs, "HorizontalPodAutoscaler", "referral")["spec"]["maxReplicas"] = 20
        self.assertViolation(
            docs,
            "ConfigMap/kontakt-database-budget: the services' pools can open 420 connections "
            "(referral 10x21, matching 10x7, timecost 10x7, followup 10x7), more than "
            "max_connections 300 less 10 reserved")

    def test_a_bigger_pool_counts_for_every_pod(self):
        docs = self.prod()
        env = container(docs, "Deployment", "timecost").setdefault("env", [])
        env.append({"name": "KONTAKT_DB_MAX_CONNECTIONS", "value": "20"})
        found = "\n".join(self.violations(docs))
        self.assertIn("can open 350 connections", found)
        self.assertIn("timecost 20x7", found)

    def test_an_external_database_must_say_what_it_allows(self):
        docs = without(self.prod(), "ConfigMap", "kontakt-database-budget")
        self.assertViolation(
            docs,
            "ConfigMap/kontakt-database-budget: missing, and no PostgreSQL in the render: the "
            "database's max_connections is not known")

    def test_the_clusters_own_parameter_is_what_counts(self):
        docs = copy.deepcopy(RENDERS["prod-cnpg"])
        find(docs, "Cluster", "kontakt-db")["spec"]["postgresql"]["parameters"]["max_connections"] = "200"
        found = "\n".join(self.violations(docs))
        self.assertIn("Cluster/kontakt-db: the services' pools can open 280 connections", found)
        self.assertIn("more than max_connections 200 less 10 reserved", found)

    def test_the_dev_server_without_its_setting_has_postgres_default_of_100(self):
        docs = copy.deepcopy(RENDERS["dev"])
        del container(docs, "StatefulSet", "postgres")["args"]
        self.assertViolation(
            docs,
            "StatefulSet/postgres: the services' pools can open 120 connections (referral 10x3, "
            "matching 10x3, timecost 10x3, followup 10x3), more than max_connections 100 less 10 "
            "reserved", 1)


class CnpgBackups(Breaking, unittest.TestCase):
    """The CloudNativePG Cluster's backups (deploy/README.md § Backup and restore)."""

    def cnpg(self):
        return copy.deepcopy(RENDERS["prod-cnpg"])

    def test_without_an_object_store_the_wal_is_not_archived(self):
        docs = self.cnpg()
        del find(docs, "Cluster", "kontakt-db")["spec"]["backup"]["barmanObjectStore"]
        self.assertViolation(
            docs, "Cluster/kontakt-db: no backup.barmanObjectStore.destinationPath: WAL is not archived")

    def test_backups_are_kept_for_a_stated_time(self):
        docs = self.cnpg()
        del find(docs, "Cluster", "kontakt-db")["spec"]["backup"]["retentionPolicy"]
        self.assertViolation(docs, "Cluster/kontakt-db: no backup.retentionPolicy: backups are never removed")

    def test_credentials_come_from_a_secret(self):
        docs = self.cnpg()
        store = find(docs, "Cluster", "kontakt-db")["spec"]["backup"]["barmanObjectStore"]
        store["s3Credentials"]["secretAccessKey"] = {"name": "kontakt-db-backup"}
        self.assertViolation(
            docs, "Cluster/kontakt-db: backup credential secretAccessKey is not a Secret's name and key")

    def test_base_backups_are_scheduled(self):
        docs = without(self.cnpg(), "ScheduledBackup", "kontakt-db-daily")
        self.assertViolation(docs, "Cluster/kontakt-db: no ScheduledBackup takes its base backups")


if __name__ == "__main__":
    unittest.main()
