"""The console, on broken copies of the renders."""

import copy
import unittest

from .support import RENDERS, Breaking, config, container, env, find, load_renders, without


def setUpModule():
    load_renders()


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
