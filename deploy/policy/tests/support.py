"""What the policy's tests share: the renders (read once, for every test module), finding and
changing objects in a copy of one, and Breaking, the base of the tests on broken copies."""

import copy
import os
import shutil
import subprocess
import tempfile

import policy

DEPLOY = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
OVERLAYS = {"dev": 1, "prod": 2, "prod-cnpg": 2}  # overlay -> replicas each service needs
RENDERS = {}  # overlay -> documents
PATHS = {}  # overlay -> rendered file


def load_renders():
    """Reads (or renders) every overlay into RENDERS and PATHS, once: each test module's
    setUpModule calls it."""
    if RENDERS:
        return
    directory = os.environ.get("KONTAKT_RENDER_DIR")
    if not directory:
        kubectl = os.environ.get("KUBECTL") or shutil.which("kubectl")
        if not kubectl:
            raise RuntimeError("set KONTAKT_RENDER_DIR (deploy/check does) or put kubectl on PATH")
        directory = tempfile.mkdtemp(prefix="kontakt-render-")
        for overlay in OVERLAYS:
            with open(os.path.join(directory, f"{overlay}.yaml"), "w", encoding="utf-8") as f:
                subprocess.run([kubectl, "kustomize", os.path.join(DEPLOY, "overlays", overlay)],
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


def config(docs):
    return next(d for d in docs if d["kind"] == "ConfigMap" and d["metadata"]["name"].startswith("kontakt-config"))


def env(docs, kind, name, variable):
    return next(e for e in container(docs, kind, name)["env"] if e["name"] == variable)


def env_list(docs, name):
    return container(docs, "Deployment", name)["env"]


def drop_env(docs, name, variable):
    c = container(docs, "Deployment", name)
    before = len(c["env"])
    c["env"] = [e for e in c["env"] if e["name"] != variable]
    assert len(c["env"]) == before - 1, variable


def annotations(docs, kind, name):
    return find(docs, kind, name)["metadata"]["annotations"]


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
