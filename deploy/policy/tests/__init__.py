"""Tests of the policy (deploy/policy/): it passes the real renders and names what is wrong in
broken copies. One module per concern, beside the policy's own:

    test_renders.py   the real renders pass; the command line
    test_services.py  the services and every workload
    test_network.py   the services' and the migration Jobs' network policies
    test_console.py   the console
    test_tls.py       TLS (components/tls)
    test_database.py  the database's connection budget; the CloudNativePG Cluster's backups

Reads the renders from $KONTAKT_RENDER_DIR/<overlay>.yaml (deploy/check sets it); without it,
renders the overlays itself with kubectl ($KUBECTL or kubectl on PATH).

    KONTAKT_RENDER_DIR=/tmp/render python -m unittest discover -s policy/tests -t .    (in deploy/)
"""
