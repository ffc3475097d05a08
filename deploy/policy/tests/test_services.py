"""The services and every workload, on broken copies of the renders."""

import copy
import unittest

from .support import RENDERS, Breaking, container, find, load_renders, without


def setUpModule():
    load_renders()


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
