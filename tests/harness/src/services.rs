//! Services started in the test process: one (`Start`), several following each other
//! (`StartTogether`), all four with the demo data, and the channels and health waits to reach
//! them.

use super::*;

/// A service running in this process on `127.0.0.1:0`.
pub struct TestService {
    pub service: Service,
    pub addr: SocketAddr,
    pub channel: Channel,
    handle: ServiceHandle,
}

impl TestService {
    /// The channel, calling as an administrator of the reference municipalities.
    pub fn admin(&self) -> AuthedChannel {
        authed(self.channel.clone(), &admin_token())
    }

    /// The channel, calling with `token`.
    pub fn with_token(&self, token: &str) -> AuthedChannel {
        authed(self.channel.clone(), token)
    }

    /// The channel, calling as someone holding `role` in `municipality` alone.
    pub fn as_role(&self, role: Role, municipality: &str) -> AuthedChannel {
        self.with_token(&token(&[role], &[municipality]))
    }

    /// Drains and stops the service.
    pub async fn stop(self) -> anyhow::Result<()> {
        self.handle.shutdown().await
    }
}

/// A clock standing at `hour`:00 UTC on the day, for a test to move.
pub fn clock_at(year: i32, month: u32, day: u32, hour: u32) -> Arc<ManualClock> {
    use chrono::TimeZone as _;
    let now = chrono::Utc
        .with_ymd_and_hms(year, month, day, hour, 0, 0)
        .single()
        .expect("a valid time");
    Arc::new(ManualClock::new(now))
}

/// Starts `service` on `database` with test settings and waits until it is SERVING: the
/// shorthand for `Start::new(service, database).run()`.
pub async fn start(service: Service, database: &TestDatabase) -> anyhow::Result<TestService> {
    Start::new(service, database).run().await
}

type Vault = Arc<kontakt_platform::cpr_vault::CprVault>;

const ANY_PORT: SocketAddr =
    SocketAddr::new(std::net::IpAddr::V4(std::net::Ipv4Addr::LOCALHOST), 0);

/// How one service is started in this process, waited on until SERVING:
/// `Start::new(service, &db).clock(c).on(addr).following(&addrs).run().await`. Unless told
/// otherwise it listens on `127.0.0.1:0`, runs on the system clock with the test settings,
/// follows no one (every peer URL points at a closed port) and, if it holds CPR numbers, uses
/// the test process's CPR keys.
#[must_use = "a service starts only when `run` is awaited"]
pub struct Start {
    service: Service,
    database: PgConnectOptions,
    clock: SharedClock,
    settings: ServerSettings,
    cpr: Option<Vault>,
    addr: SocketAddr,
    following: Vec<(Service, SocketAddr)>,
    client_tls: Option<kontakt_platform::tls::ClientTls>,
}

impl Start {
    /// `service` on `database`: a test's own database, or the options of any other (e.g. a
    /// PostgreSQL the test stops and restarts).
    pub fn new(service: Service, database: impl Into<PgConnectOptions>) -> Self {
        Start {
            service,
            database: database.into(),
            clock: Arc::new(SystemClock),
            settings: test_server_settings(),
            cpr: service.holds_cpr().then(cpr_vault),
            addr: ANY_PORT,
            following: Vec::new(),
            client_tls: None,
        }
    }

    /// `service` on `database` with its clock standing at `hour`:00 UTC on the day: the
    /// day a scenario runs on, whatever the real date.
    pub fn at(
        service: Service,
        database: impl Into<PgConnectOptions>,
        year: i32,
        month: u32,
        day: u32,
        hour: u32,
    ) -> Self {
        Start::new(service, database).clock(clock_at(year, month, day, hour))
    }

    /// The clock the service reads (e.g. a `ManualClock` the test moves).
    pub fn clock(mut self, clock: SharedClock) -> Self {
        self.clock = clock;
        self
    }

    /// Listening on `addr`: e.g. again on the address of a service that was stopped, so that
    /// its clients and followers find it where it was.
    pub fn on(mut self, addr: SocketAddr) -> Self {
        self.addr = addr;
        self
    }

    /// Following the peers at `addrs` (e.g. matching following a running referral service).
    pub fn following(mut self, addrs: &[(Service, SocketAddr)]) -> Self {
        self.following = addrs.to_vec();
        self
    }

    /// These CPR keys instead of the test process's own.
    pub fn cpr(mut self, vault: Vault) -> Self {
        self.cpr = Some(vault);
        self
    }

    /// These server settings instead of [`test_server_settings`].
    pub fn settings(mut self, settings: ServerSettings) -> Self {
        self.settings = settings;
        self
    }

    /// Serving TLS as `tls` says (certificate, key, client CA), with the test's channel
    /// connecting as `client` says (the CA it trusts, its own certificate) to
    /// `https://localhost:<port>`.
    pub fn tls(
        mut self,
        tls: kontakt_platform::tls::TlsSettings,
        client: kontakt_platform::tls::ClientTls,
    ) -> Self {
        self.settings.tls = tls;
        self.client_tls = Some(client);
        self
    }

    /// Binds the address, starts the service and waits until it is SERVING.
    pub async fn run(self) -> anyhow::Result<TestService> {
        let listener = kontakt::bind(self.addr).await?;
        self.run_on(listener).await
    }

    async fn run_on(self, listener: tokio::net::TcpListener) -> anyhow::Result<TestService> {
        let service = self.service;
        let handle = kontakt::spawn(Launch {
            service,
            auth: verifier().await,
            cpr: self.cpr,
            listener,
            database: self.database,
            db_settings: test_db_settings(),
            server_settings: self.settings,
            clock: self.clock,
            peers: peers(&self.following),
        })?;
        let addr = handle.local_addr;
        let channel = match &self.client_tls {
            Some(tls) => tls.channel(
                &tonic::transport::Endpoint::from_shared(format!(
                    "https://localhost:{}",
                    addr.port()
                ))?
                .connect_timeout(Duration::from_secs(5)),
            ),
            None => connect(addr).await?,
        };
        wait_for_health(
            &channel,
            service.def().grpc_name,
            ServingStatus::Serving,
            Duration::from_secs(30),
        )
        .await?;
        Ok(TestService {
            service,
            addr,
            channel,
            handle,
        })
    }
}

/// Several services started together on one database, each following the others:
/// `StartTogether::new(&services, &db).clock(c).run().await`. The listeners are bound first,
/// so services that follow each other (referral and follow-up) find each other from the start.
#[must_use = "the services start only when `run` is awaited"]
pub struct StartTogether {
    services: Vec<Service>,
    database: PgConnectOptions,
    clock: SharedClock,
    cpr: Option<Vault>,
}

impl StartTogether {
    pub fn new(services: &[Service], database: impl Into<PgConnectOptions>) -> Self {
        StartTogether {
            services: services.to_vec(),
            database: database.into(),
            clock: Arc::new(SystemClock),
            cpr: None,
        }
    }

    /// The clock every one of them reads.
    pub fn clock(mut self, clock: SharedClock) -> Self {
        self.clock = clock;
        self
    }

    /// These CPR keys, for those of them that hold CPR numbers, instead of the test process's.
    pub fn cpr(mut self, vault: Vault) -> Self {
        self.cpr = Some(vault);
        self
    }

    /// The services, in the order given, each SERVING.
    pub async fn run(self) -> anyhow::Result<Vec<TestService>> {
        let mut listeners = Vec::new();
        for service in self.services {
            let listener = kontakt::bind(ANY_PORT).await?;
            listeners.push((service, listener.local_addr()?, listener));
        }
        let addrs: Vec<(Service, SocketAddr)> =
            listeners.iter().map(|(s, a, _)| (*s, *a)).collect();
        let mut started = Vec::new();
        for (service, _, listener) in listeners {
            let mut start = Start::new(service, self.database.clone())
                .clock(self.clock.clone())
                .following(&addrs);
            if let Some(vault) = self.cpr.clone().filter(|_| service.holds_cpr()) {
                start = start.cpr(vault);
            }
            started.push(start.run_on(listener).await?);
        }
        Ok(started)
    }
}

/// A channel to `addr` (connected eagerly, so a dead address fails here).
pub async fn connect(addr: SocketAddr) -> anyhow::Result<Channel> {
    let endpoint =
        Channel::from_shared(format!("http://{addr}"))?.connect_timeout(Duration::from_secs(5));
    for _ in 0..50 {
        if let Ok(channel) = endpoint.connect().await {
            return Ok(channel);
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    Ok(endpoint.connect().await?)
}

/// The four services on `db`, following each other, on `clock`, with the demo data loaded as
/// `kontakt dev` loads it (the reference policies, the contact persons and the provider, the
/// shared frame).
pub async fn with_demo_data(db: &TestDatabase, clock: SharedClock) -> Vec<TestService> {
    let all = [
        Service::Referral,
        Service::Matching,
        Service::Timecost,
        Service::Followup,
    ];
    let running = StartTogether::new(&all, db)
        .clock(clock)
        .run()
        .await
        .expect("services");
    let url = |s: Service| {
        format!(
            "http://{}",
            running
                .iter()
                .find(|r| r.service == s)
                .expect("running")
                .addr
        )
    };
    kontakt::demo::load(
        &url(Service::Referral),
        &url(Service::Matching),
        &url(Service::Timecost),
        &admin_token(),
    )
    .await
    .expect("the demo data loads");
    running
}

/// A client's channel to `service` among `running`, with a token of `roles` in `municipality`.
pub fn channel_to(
    running: &[TestService],
    service: Service,
    roles: &[Role],
    municipality: &str,
) -> AuthedChannel {
    running
        .iter()
        .find(|r| r.service == service)
        .expect("running")
        .with_token(&token(roles, &[municipality]))
}

/// Polls the health check until it reports `want` for `service_name`.
pub async fn wait_for_health(
    channel: &Channel,
    service_name: &str,
    want: ServingStatus,
    within: Duration,
) -> anyhow::Result<()> {
    let mut client = HealthClient::new(channel.clone());
    let deadline = tokio::time::Instant::now() + within;
    loop {
        let answer = client
            .check(HealthCheckRequest {
                service: service_name.to_owned(),
            })
            .await;
        let last = match answer {
            Ok(response) if response.get_ref().status == want as i32 => return Ok(()),
            Ok(response) => format!("{:?}", response.get_ref().status()),
            Err(status) => format!("{status}"),
        };
        if tokio::time::Instant::now() > deadline {
            anyhow::bail!(
                "{service_name} did not become {want:?} within {within:?}; last answer: {last}"
            );
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}
