#!/usr/bin/env python3
"""Validates rendered manifests against Kubernetes' own schemas, offline.

    validate.py RENDERED.yaml

Every document is checked with kubernetes-validate against the Kubernetes 1.30 OpenAPI schemas
in strict mode (an unknown or misspelt field is an error, not ignored). Custom resources have no
schema there; the ones this project uses are listed in CUSTOM_RESOURCES and skipped by name. Any
other document without a schema is an error, so a typo in an apiVersion cannot slip through as
"no schema". Prints one summary line; exits 1 on any error.
"""

import sys

import yaml
from kubernetes_validate.utils import SchemaNotFoundError, ValidationError, validate

# The oldest Kubernetes the manifests support: the preStop `sleep` action needs 1.30.
KUBERNETES_VERSION = "1.30.0"

# (apiVersion, kind) of custom resources: validated by their operator at apply time, not here.
CUSTOM_RESOURCES = {
    ("postgresql.cnpg.io/v1", "Cluster"),  # components/cloudnative-pg
    ("postgresql.cnpg.io/v1", "ScheduledBackup"),  # components/cloudnative-pg/backup.yaml
    ("cert-manager.io/v1", "Issuer"),  # components/tls/issuer.yaml
    ("cert-manager.io/v1", "Certificate"),  # components/tls/certificates.yaml
}


def name_of(doc):
    return f"{doc.get('kind')}/{(doc.get('metadata') or {}).get('name')}"


def main(argv):
    if len(argv) != 2:
        print(__doc__.strip().splitlines()[2].strip(), file=sys.stderr)
        return 2
    with open(argv[1], encoding="utf-8") as f:
        docs = [d for d in yaml.safe_load_all(f) if d]
    errors, skipped, valid = [], [], 0
    for doc in docs:
        key = (doc.get("apiVersion"), doc.get("kind"))
        if key in CUSTOM_RESOURCES:
            skipped.append(f"{key[1]} {key[0]}")
            continue
        try:
            validate(doc, KUBERNETES_VERSION, strict=True)
            valid += 1
        except ValidationError as e:
            path = ".".join(str(p) for p in e.path) or "(document)"
            errors.append(f"{name_of(doc)}: {path}: {e.message}")
        except SchemaNotFoundError as e:
            errors.append(f"{name_of(doc)}: {e.message} (a custom resource? list it in "
                          "CUSTOM_RESOURCES in deploy/validate.py)")
    for error in errors:
        print(f"ERROR {error}")
    summary = f"{len(docs)} documents, {valid} valid against Kubernetes {KUBERNETES_VERSION} (strict)"
    if skipped:
        summary += f", {len(skipped)} custom resource(s) not validated ({', '.join(sorted(set(skipped)))})"
    if errors:
        summary += f", {len(errors)} INVALID"
    print(summary)
    return 1 if errors else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
