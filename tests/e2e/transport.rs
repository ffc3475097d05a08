//! The transport as a security officer and a browser meet it: TLS on the service's port (a
//! plaintext client, an unknown CA and an expired certificate refused), mutual TLS (a client
//! without a certificate the CA signed refused), certificates rotated without a restart while
//! calls run, and gRPC-Web over HTTP/1.1 with CORS closed unless an origin is configured.
//!
//! Every refusal is an error within seconds, never a hang: each call has a 10 s limit.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::Duration;

use http_body_util::BodyExt as _;
use kontakt::Service;
use kontakt_harness::{Start, admin_token, authed, fresh_database, start};
use kontakt_platform::config::ServerSettings;
use kontakt_platform::tls::dev::{Authority, Issued};
use kontakt_platform::tls::{ClientTls, TlsSettings};
use kontakt_proto::referral::v1::ListLegalBasesRequest;
use kontakt_proto::referral::v1::referral_service_client::ReferralServiceClient;
use prost::Message as _;
use tonic::transport::{Channel, Endpoint};

/// An authenticated read over `channel`, failing (not hanging) within 10 s.
async fn read(channel: Channel) -> Result<(), tonic::Status> {
    let mut client = ReferralServiceClient::new(authed(channel, &admin_token()));
    let call = client.list_legal_bases(ListLegalBasesRequest {
        page_size: 1,
        ..ListLegalBasesRequest::default()
    });
    match tokio::time::timeout(Duration::from_secs(10), call).await {
        Ok(answer) => answer.map(|_| ()),
        Err(_) => panic!("the call hung for 10 s instead of being answered or refused"),
    }
}

/// A port nobody listens on now.
async fn free_port() -> std::net::SocketAddr {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    listener.local_addr().expect("an address")
}

/// A channel to `https://localhost:<port>` as `tls` says.
fn https(tls: &ClientTls, port: u16) -> Channel {
    tls.channel(
        &Endpoint::from_shared(format!("https://localhost:{port}"))
            .expect("a URL")
            .connect_timeout(Duration::from_secs(5)),
    )
}

/// Files of a test's certificates in a temporary directory.
struct Files {
    dir: tempfile::TempDir,
}

impl Files {
    fn new() -> Self {
        Self {
            dir: tempfile::tempdir().expect("a temporary directory"),
        }
    }

    fn write(&self, name: &str, content: &str) -> PathBuf {
        let path = self.dir.path().join(name);
        std::fs::write(&path, content).expect("write");
        path
    }

    fn issued(&self, name: &str, issued: &Issued) -> (PathBuf, PathBuf) {
        issued.write(self.dir.path(), name).expect("write")
    }

    /// A client trusting `ca` (a PEM bundle), presenting `identity` where given.
    fn client(&self, ca: &str, identity: Option<(&str, &Issued)>) -> ClientTls {
        let ca = self.write(&format!("trust-{}.pem", uuid::Uuid::new_v4()), ca);
        let (cert, key) = match identity {
            Some((name, issued)) => {
                let (cert, key) = self.issued(name, issued);
                (Some(cert), Some(key))
            }
            None => (None, None),
        };
        TlsSettings {
            ca: Some(ca),
            cert,
            key,
            reload_interval: Duration::ZERO,
            ..TlsSettings::default()
        }
        .client()
        .expect("client TLS")
    }
}

fn server_tls(cert: &Path, key: &Path, client_ca: Option<PathBuf>) -> TlsSettings {
    TlsSettings {
        cert: Some(cert.to_path_buf()),
        key: Some(key.to_path_buf()),
        client_ca,
        reload_interval: Duration::from_millis(100),
        ..TlsSettings::default()
    }
}

#[tokio::test]
async fn a_tls_port_answers_a_verified_client_and_refuses_plaintext_an_unknown_ca_and_an_expired_certificate()
 {
    let db = fresh_database().await.expect("database");
    let files = Files::new();
    let ca = Authority::new("Kontakt test CA").expect("CA");
    let (cert, key) = files.issued("referral", &ca.issue("referral", 30).expect("cert"));
    let trusting = files.client(ca.pem(), None);
    let probes = free_port().await;
    let running = Start::new(Service::Referral, &db)
        .settings(ServerSettings {
            health_listen: Some(probes),
            ..kontakt_harness::test_server_settings()
        })
        .tls(server_tls(&cert, &key, None), trusting.clone())
        .run()
        .await
        .expect("the service serves TLS");
    let port = running.addr.port();

    read(https(&trusting, port))
        .await
        .expect("a verified TLS call is answered");
    println!("tls: a call over TLS verified against the CA: OK");

    // The kubelet's gRPC probes cannot speak TLS: a plaintext port answers health, and only that.
    let probe = Endpoint::from_shared(format!("http://{probes}"))
        .expect("a URL")
        .connect_lazy();
    kontakt_harness::wait_for_health(
        &probe,
        "",
        tonic_health::pb::health_check_response::ServingStatus::Serving,
        Duration::from_secs(10),
    )
    .await
    .expect("the probe port answers health");
    let not_there = read(probe)
        .await
        .expect_err("the probe port serves health alone");
    assert_eq!(
        not_there.code(),
        tonic::Code::Unimplemented,
        "{not_there:?}"
    );
    println!("tls: the plaintext probe port answers grpc.health.v1 and nothing else");

    let plaintext = Endpoint::from_shared(format!("http://{}", running.addr))
        .expect("a URL")
        .connect_lazy();
    let refused = read(plaintext)
        .await
        .expect_err("plaintext must be refused");
    println!(
        "tls: plaintext to the TLS port: {:?} {}",
        refused.code(),
        refused.message()
    );

    let elsewhere = Authority::new("Some other CA").expect("CA");
    let refused = read(https(&files.client(elsewhere.pem(), None), port))
        .await
        .expect_err("a server certificate of an unknown CA must be refused");
    assert_eq!(refused.code(), tonic::Code::Unavailable, "{refused:?}");
    println!("tls: a client trusting another CA: {:?}", refused.code());

    // The certificate replaced by one that has expired: new connections refuse the server.
    let (expired_cert, expired_key) =
        files.issued("referral-expired", &ca.issue("referral", -1).expect("cert"));
    std::fs::copy(&expired_key, &key).expect("copy");
    std::fs::copy(&expired_cert, &cert).expect("copy");
    let mut refused = None;
    for _ in 0..50 {
        match read(https(&trusting, port)).await {
            Ok(()) => tokio::time::sleep(Duration::from_millis(100)).await,
            Err(status) => {
                refused = Some(status);
                break;
            }
        }
    }
    let refused = refused.expect("an expired server certificate must be refused");
    assert_eq!(refused.code(), tonic::Code::Unavailable, "{refused:?}");
    println!("tls: an expired server certificate: {:?}", refused.code());
    running.stop().await.expect("stop");
}

#[tokio::test]
async fn mutual_tls_refuses_a_client_without_a_certificate_the_ca_signed() {
    let db = fresh_database().await.expect("database");
    let files = Files::new();
    let ca = Authority::new("Kontakt test CA").expect("CA");
    let (cert, key) = files.issued("referral", &ca.issue("referral", 30).expect("cert"));
    let client_ca = files.write("clients-ca.pem", ca.pem());
    let case_system = ca.issue("sbsys-ringsted", 30).expect("cert");
    let with_certificate = files.client(ca.pem(), Some(("sbsys-ringsted", &case_system)));
    let running = Start::new(Service::Referral, &db)
        .tls(
            server_tls(&cert, &key, Some(client_ca)),
            with_certificate.clone(),
        )
        .run()
        .await
        .expect("the service serves mutual TLS");
    let port = running.addr.port();

    read(https(&with_certificate, port))
        .await
        .expect("a client with a certificate of the CA is answered");
    println!("mtls: a client certificate of the CA: OK");

    let without = read(https(&files.client(ca.pem(), None), port))
        .await
        .expect_err("a client without a certificate must be refused");
    println!(
        "mtls: no client certificate: {:?} {}",
        without.code(),
        without.message()
    );

    let elsewhere = Authority::new("Some other CA").expect("CA");
    let stranger = elsewhere.issue("stranger", 30).expect("cert");
    let foreign = read(https(
        &files.client(ca.pem(), Some(("stranger", &stranger))),
        port,
    ))
    .await
    .expect_err("a client certificate of another CA must be refused");
    println!(
        "mtls: a client certificate of another CA: {:?}",
        foreign.code()
    );

    let old = ca.issue("sbsys-old", -1).expect("cert");
    let expired = read(https(
        &files.client(ca.pem(), Some(("sbsys-old", &old))),
        port,
    ))
    .await
    .expect_err("an expired client certificate must be refused");
    println!("mtls: an expired client certificate: {:?}", expired.code());
    running.stop().await.expect("stop");
}

/// Writes `issued` into a new version directory and points `current` at it in one rename, as
/// Kubernetes updates a mounted Secret (and cert-manager rotates one).
fn rotate(root: &Path, version: u32, issued: &Issued) {
    let dir = root.join(format!("v{version}"));
    issued.write(&dir, "tls").expect("write");
    let link = root.join(format!("current-{version}"));
    std::os::unix::fs::symlink(&dir, &link).expect("symlink");
    std::fs::rename(&link, root.join("current")).expect("rename");
}

#[tokio::test]
async fn certificates_rotate_without_a_restart_while_calls_run() {
    let db = fresh_database().await.expect("database");
    let files = Files::new();
    let old_ca = Authority::new("Kontakt CA 2026").expect("CA");
    let new_ca = Authority::new("Kontakt CA 2027").expect("CA");
    let root = files.dir.path().join("secret");
    rotate(&root, 1, &old_ca.issue("referral", 30).expect("cert"));
    let current = root.join("current");
    // During a CA change, clients trust both until every server has moved.
    let both = files.client(&format!("{}{}", old_ca.pem(), new_ca.pem()), None);
    let running = Start::new(Service::Referral, &db)
        .tls(
            server_tls(&current.join("tls.crt"), &current.join("tls.key"), None),
            both.clone(),
        )
        .run()
        .await
        .expect("the service serves TLS");
    let port = running.addr.port();

    let stop = Arc::new(AtomicBool::new(false));
    let calls = Arc::new(AtomicU64::new(0));
    let failures = Arc::new(AtomicU64::new(0));
    let mut load = Vec::new();
    // One caller keeps its connection; the other connects anew for every call.
    for fresh_connection in [false, true] {
        let (stop, calls, failures, both) =
            (stop.clone(), calls.clone(), failures.clone(), both.clone());
        let kept = https(&both, port);
        load.push(tokio::spawn(async move {
            while !stop.load(Ordering::Relaxed) {
                let channel = if fresh_connection {
                    https(&both, port)
                } else {
                    kept.clone()
                };
                match read(channel).await {
                    Ok(()) => calls.fetch_add(1, Ordering::Relaxed),
                    Err(status) => {
                        eprintln!("a call failed during the rotation: {status:?}");
                        failures.fetch_add(1, Ordering::Relaxed)
                    }
                };
            }
        }));
    }
    tokio::time::sleep(Duration::from_millis(300)).await;

    rotate(&root, 2, &new_ca.issue("referral", 30).expect("cert"));
    let only_new = files.client(new_ca.pem(), None);
    let mut rotated = false;
    for _ in 0..100 {
        if read(https(&only_new, port)).await.is_ok() {
            rotated = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert!(
        rotated,
        "the new certificate must be served without a restart"
    );
    let only_old = files.client(old_ca.pem(), None);
    read(https(&only_old, port))
        .await
        .expect_err("the old certificate is no longer served");
    tokio::time::sleep(Duration::from_millis(300)).await;
    stop.store(true, Ordering::Relaxed);
    for task in load {
        task.await.expect("the callers");
    }
    let (calls, failures) = (
        calls.load(Ordering::Relaxed),
        failures.load(Ordering::Relaxed),
    );
    println!("tls rotation: calls={calls} failed={failures} restarts=0");
    assert!(calls > 10, "calls ran during the rotation: {calls}");
    assert_eq!(failures, 0, "no call failed during the rotation");
    running.stop().await.expect("stop");
}

/// A gRPC-Web call over HTTP/1.1 (`application/grpc-web+proto`): the answer's status, its
/// `access-control-allow-origin` header and the body's message frame.
struct WebAnswer {
    http_status: u16,
    allow_origin: Option<String>,
    grpc_status: Option<String>,
    message: Vec<u8>,
}

type Body = http_body_util::Full<hyper::body::Bytes>;

async fn http1(request: http::Request<Body>, addr: std::net::SocketAddr) -> WebAnswer {
    let tcp = tokio::net::TcpStream::connect(addr).await.expect("connect");
    let (mut sender, connection) =
        hyper::client::conn::http1::handshake(hyper_util::rt::TokioIo::new(tcp))
            .await
            .expect("HTTP/1.1");
    tokio::spawn(connection);
    let response = sender.send_request(request).await.expect("an answer");
    let http_status = response.status().as_u16();
    let allow_origin = response
        .headers()
        .get("access-control-allow-origin")
        .map(|v| v.to_str().unwrap_or_default().to_owned());
    let header_status = response
        .headers()
        .get("grpc-status")
        .map(|v| v.to_str().unwrap_or_default().to_owned());
    let body = response
        .into_body()
        .collect()
        .await
        .expect("the body")
        .to_bytes();
    // Frames: a flag byte (0x80 = trailers), a 4-byte length, the payload.
    let (mut message, mut trailer_status) = (Vec::new(), None);
    let mut rest = &body[..];
    while rest.len() >= 5 {
        let length = u32::from_be_bytes([rest[1], rest[2], rest[3], rest[4]]) as usize;
        let payload = &rest[5..5 + length];
        if rest[0] & 0x80 == 0 {
            message = payload.to_vec();
        } else {
            let trailers = String::from_utf8_lossy(payload);
            trailer_status = trailers
                .lines()
                .find_map(|l| l.strip_prefix("grpc-status:"))
                .map(|s| s.trim().to_owned());
        }
        rest = &rest[5 + length..];
    }
    WebAnswer {
        http_status,
        allow_origin,
        grpc_status: trailer_status.or(header_status),
        message,
    }
}

fn grpc_web_call(token: &str, origin: Option<&str>) -> http::Request<Body> {
    let message = ListLegalBasesRequest {
        page_size: 2,
        ..ListLegalBasesRequest::default()
    }
    .encode_to_vec();
    let mut frame = vec![0u8];
    frame.extend(u32::try_from(message.len()).expect("small").to_be_bytes());
    frame.extend(message);
    let mut request = http::Request::post("/kontakt.referral.v1.ReferralService/ListLegalBases")
        .header("host", "localhost")
        .header("content-type", "application/grpc-web+proto")
        .header("accept", "application/grpc-web+proto")
        .header("x-grpc-web", "1")
        .header("authorization", format!("Bearer {token}"));
    if let Some(origin) = origin {
        request = request.header("origin", origin);
    }
    request.body(Body::from(frame)).expect("a request")
}

fn preflight(origin: &str) -> http::Request<Body> {
    http::Request::options("/kontakt.referral.v1.ReferralService/ListLegalBases")
        .header("host", "localhost")
        .header("origin", origin)
        .header("access-control-request-method", "POST")
        .header(
            "access-control-request-headers",
            "authorization,content-type,x-grpc-web",
        )
        .body(Body::default())
        .expect("a request")
}

#[tokio::test]
async fn grpc_web_over_http1_answers_and_cors_is_closed_unless_an_origin_is_configured() {
    let db = fresh_database().await.expect("database");
    let closed = start(Service::Referral, &db).await.expect("service");
    let answer = http1(grpc_web_call(&admin_token(), None), closed.addr).await;
    assert_eq!(answer.http_status, 200);
    assert_eq!(
        answer.grpc_status.as_deref(),
        Some("0"),
        "gRPC-Web call answered OK"
    );
    let page = kontakt_proto::referral::v1::ListLegalBasesResponse::decode(&answer.message[..])
        .expect("the answer decodes");
    assert_eq!(page.legal_bases.len(), 2);
    println!(
        "grpc-web: ListLegalBases over HTTP/1.1: {} legal bases",
        page.legal_bases.len()
    );

    let unauthenticated = http1(grpc_web_call("not-a-token", None), closed.addr).await;
    assert_eq!(
        unauthenticated.grpc_status.as_deref(),
        Some("16"),
        "UNAUTHENTICATED"
    );

    // No origin configured: a browser's preflight gets no permission.
    let denied = http1(preflight("https://sag.ringsted.dk"), closed.addr).await;
    assert_eq!(denied.allow_origin, None, "CORS is closed by default");
    let call = http1(
        grpc_web_call(&admin_token(), Some("https://sag.ringsted.dk")),
        closed.addr,
    )
    .await;
    assert_eq!(call.allow_origin, None);
    closed.stop().await.expect("stop");

    let open = Start::new(Service::Referral, &db)
        .settings(ServerSettings {
            cors_allow_origins: vec!["https://sag.ringsted.dk".to_owned()],
            ..kontakt_harness::test_server_settings()
        })
        .run()
        .await
        .expect("service");
    let allowed = http1(preflight("https://sag.ringsted.dk"), open.addr).await;
    assert_eq!(
        allowed.allow_origin.as_deref(),
        Some("https://sag.ringsted.dk")
    );
    let other = http1(preflight("https://evil.example"), open.addr).await;
    assert_eq!(other.allow_origin, None, "only the configured origin");
    let call = http1(
        grpc_web_call(&admin_token(), Some("https://sag.ringsted.dk")),
        open.addr,
    )
    .await;
    assert_eq!(call.grpc_status.as_deref(), Some("0"));
    assert_eq!(
        call.allow_origin.as_deref(),
        Some("https://sag.ringsted.dk")
    );
    println!("grpc-web: CORS closed by default; with an origin configured, that origin alone");
    open.stop().await.expect("stop");
}
