"""TLS (components/tls), on broken copies of the renders."""

import copy
import unittest

import policy

from .support import (RENDERS, Breaking, annotations, config, container, drop_env, env, env_list, find,
                      load_renders, without)


def setUpModule():
    load_renders()


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
