"""The real renders pass the policy, and the command line sets the replicas each needs."""

import contextlib
import io
import unittest

import policy

from .support import OVERLAYS, PATHS, RENDERS, load_renders


def setUpModule():
    load_renders()


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
