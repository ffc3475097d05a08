"""The services' and the migration Jobs' network policies, on broken copies of the renders (the
console's are in test_console.py)."""

import unittest

from .support import Breaking, find, load_renders, without


def setUpModule():
    load_renders()


class BrokenNetworkPolicies(Breaking, unittest.TestCase):
    """The network policies of the services, the migration Jobs and every workload."""

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
