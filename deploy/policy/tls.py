"""The services' and the console's certificates, and https between them and from the Ingress.

TLS (components/tls), wherever a service or the console has KONTAKT_TLS_CERT: KONTAKT_TLS_KEY
with it; its files in read-only volume mounts without subPath (a subPath never sees the renewed
files), the certificate and key from a Secret issued by a cert-manager Certificate in the render
whose dnsNames include the Service's names (<svc>, <svc>.<namespace>.svc), with usages server
auth and client auth, from an Issuer in the render (or a ClusterIssuer); a service requires
client certificates (KONTAKT_TLS_CLIENT_CA), the console does not (its probes present none).
Every caller's URL of a service (the feeds it follows, the console's four) is https exactly
when that service serves TLS, with KONTAKT_TLS_CA to verify it and, where the service requires
one, a certificate of its own to present. An ingress-nginx Ingress to an HTTPS console that
verifies it names a Secret of the render's namespace issued by a Certificate, and a name in
the console's certificate.
"""

from urllib.parse import urlsplit

from .model import (CONSOLE, TLS_CA, TLS_CERT, TLS_CLIENT_CA, TLS_KEY, meta, namespace, pod_spec, ref,
                    url_variable)

# Each process serves its certificate and presents it when it calls a service.
CERTIFICATE_USAGES = ("server auth", "client auth")
NGINX_BACKEND_PROTOCOL = "nginx.ingress.kubernetes.io/backend-protocol"
NGINX_PROXY_SSL = "nginx.ingress.kubernetes.io/proxy-ssl-"


# --- TLS: the services and the console ---------------------------------------------------------

def mount_of(path, pspec, c):
    """The volume mount of container `c` that holds the file `path` (the deepest, as the kubelet
    nests them) and its volume, or (None, None)."""
    volumes = {v.get("name"): v for v in pspec.get("volumes") or []}
    best = (None, None)
    for m in c.get("volumeMounts") or []:
        mount = str(m.get("mountPath", "")).rstrip("/")
        if mount and (str(path) == mount or str(path).startswith(mount + "/")):
            if best[0] is None or len(mount) > len(str(best[0].get("mountPath", "")).rstrip("/")):
                best = (m, volumes.get(m.get("name")) or {})
    return best


def volume_secrets(volume):
    """The Secrets a volume is made of (a secret volume, or a projected one's secret sources)."""
    names = [(volume.get("secret") or {}).get("secretName")] if volume.get("secret") else []
    names += [s["secret"].get("name") for s in (volume.get("projected") or {}).get("sources") or []
              if s.get("secret")]
    return [n for n in names if n]


def check_tls(component, d, c, env, render, peers, out):
    """The TLS settings of a service or the console (`component`) and of its calls to `peers`
    (the services it calls). Returns the cert-manager Certificate of the Secret it serves, or
    None (no TLS, or no Certificate: said in `out`)."""
    name, ns, pspec = ref(d), namespace(d), pod_spec(d)
    cname = f"{name}: container {c.get('name')}"
    serves = bool(env.get(TLS_CERT)) and bool(env.get(TLS_KEY))
    if bool(env.get(TLS_CERT)) != bool(env.get(TLS_KEY)):
        out.append(f"{cname}: {TLS_CERT} and {TLS_KEY} are set together or not at all")
    if env.get(TLS_CLIENT_CA) and not serves:
        out.append(f"{cname}: {TLS_CLIENT_CA} without {TLS_CERT} and {TLS_KEY} (the binary refuses to start)")

    # The files: re-read when they change, so mounted whole (no subPath), read-only; the key
    # and its certificate from a Secret.
    for variable in (TLS_CERT, TLS_KEY, TLS_CA, TLS_CLIENT_CA):
        path = env.get(variable)
        if not path:
            continue
        m, volume = mount_of(path, pspec, c)
        if m is None or m.get("readOnly") is not True:
            out.append(f"{cname}: {variable} {path} is not in a read-only volume mount")
            continue
        if m.get("subPath") or m.get("subPathExpr"):
            out.append(f"{cname}: {variable} {path} is in a subPath mount, which never sees a renewed "
                       "file (mount the whole Secret)")
        if variable in (TLS_CERT, TLS_KEY) and not volume_secrets(volume):
            out.append(f"{cname}: {variable} {path} is not in a Secret volume")

    if component == CONSOLE:
        if env.get(TLS_CLIENT_CA):
            out.append(f"{cname}: {TLS_CLIENT_CA} is set, but the kubelet's HTTPS probes on its port "
                       "present no client certificate")
    elif serves and not env.get(TLS_CLIENT_CA):
        out.append(f"{cname}: serves TLS without {TLS_CLIENT_CA} (mutual TLS: every caller must present "
                   "a certificate from the CA)")

    # Its calls: https exactly where the service serves TLS; verified against a CA bundle; with
    # a certificate to present where the service requires one.
    calls_https = False
    for peer in peers:
        variable, url = url_variable(peer), env.get(url_variable(peer))
        peer_tls = render.tls(peer)
        if not url or peer_tls is None:
            continue
        scheme = urlsplit(str(url)).scheme
        expected = "https" if peer_tls["serves"] else "http"
        calls_https = calls_https or scheme == "https"
        if scheme != expected:
            out.append(f"{cname}: {variable} {url!r} is not {expected}://: {peer} serves "
                       f"{'TLS only' if peer_tls['serves'] else 'plaintext'}")
        elif peer_tls["mutual"] and not serves:
            out.append(f"{cname}: {variable} names {peer}, which requires a client certificate "
                       f"({TLS_CLIENT_CA}), but it has no {TLS_CERT} and {TLS_KEY} to present")
    if calls_https and not env.get(TLS_CA):
        out.append(f"{cname}: calls https:// URLs without {TLS_CA} (the services' certificates are "
                   "from a private CA, not the web roots)")

    if not serves:
        return None
    # The certificate: issued (and renewed) by cert-manager, for the names its callers use.
    m, volume = mount_of(env[TLS_CERT], pspec, c)
    secrets = volume_secrets(volume or {})
    if not secrets:
        return None  # said above
    cert = render.certificate_for(secrets[0], ns)
    if cert is None:
        out.append(f"{name}: Secret {secrets[0]} ({TLS_CERT}) is not issued by a cert-manager "
                   "Certificate in the render")
        return None
    cspec = cert.get("spec") or {}
    names = cspec.get("dnsNames") or []
    missing = [n for n in (component, f"{component}.{ns}.svc") if n not in names]
    if missing:
        out.append(f"{ref(cert)}: dnsNames lack {', '.join(missing)}, names of Service {component} "
                   "that its callers use")
    usages = cspec.get("usages") or []
    for usage in CERTIFICATE_USAGES:
        if usage not in usages:
            out.append(f"{ref(cert)}: usages lack {usage} ({name} serves it and presents it as "
                       "client certificate to the services it calls)")
    issuer = cspec.get("issuerRef") or {}
    if (issuer.get("kind") or "Issuer") == "Issuer" and (issuer.get("group") or "cert-manager.io") == "cert-manager.io":
        if render.get("Issuer", issuer.get("name"), ns) is None:
            out.append(f"{ref(cert)}: issuerRef Issuer/{issuer.get('name')} is not in the render")
    return cert


def check_ingress_backend(ing, console_tls, cert, render, ns, out):
    """An ingress-nginx Ingress to the console speaks what the console serves (HTTP, or HTTPS
    under components/tls) and, where it verifies the console, does so with a Secret of this
    namespace issued by cert-manager and a name the console's certificate carries."""
    annotations = meta(ing).get("annotations") or {}
    if (ing.get("spec") or {}).get("ingressClassName") != "nginx" and not any(
            a.startswith("nginx.ingress.kubernetes.io/") for a in annotations):
        return  # another controller: its own annotations
    protocol = str(annotations.get(NGINX_BACKEND_PROTOCOL, "HTTP")).upper()
    expected = "HTTPS" if console_tls else "HTTP"
    if protocol != expected:
        hint = "; components/tls after console-ingress" if console_tls else ""
        out.append(f"{ref(ing)}: ingress-nginx speaks {protocol} to the console, which serves "
                   f"{'HTTPS only' if console_tls else 'plain HTTP'} ({NGINX_BACKEND_PROTOCOL}: "
                   f"{expected}{hint})")
    if not console_tls or str(annotations.get(NGINX_PROXY_SSL + "verify", "off")) != "on":
        return
    secret = str(annotations.get(NGINX_PROXY_SSL + "secret") or "")
    secret_ns, _, secret_name = secret.rpartition("/")
    if secret_ns != ns or not secret_name or render.certificate_for(secret_name, ns) is None:
        out.append(f"{ref(ing)}: proxy-ssl-secret {secret!r} is not {ns}/<a Secret issued by a "
                   "cert-manager Certificate in the render> (it carries the CA that verifies the console)")
    ssl_name = annotations.get(NGINX_PROXY_SSL + "name")
    if not ssl_name:
        out.append(f"{ref(ing)}: proxy-ssl-verify is on without proxy-ssl-name (nginx would check the "
                   "upstream's name, which no certificate carries)")
    elif cert is not None and ssl_name not in ((cert.get("spec") or {}).get("dnsNames") or []):
        out.append(f"{ref(ing)}: proxy-ssl-name {ssl_name!r} is not a name in the console's "
                   f"certificate ({ref(cert)})")
