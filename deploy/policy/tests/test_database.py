"""The database's connection budget and the CloudNativePG Cluster's backups, on broken copies
of the renders."""

import copy
import unittest

from .support import RENDERS, Breaking, container, find, load_renders, without


def setUpModule():
    load_renders()


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
