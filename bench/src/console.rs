//! The console as a fifth `kontakt serve` process (`kontakt serve console`, the same binary),
//! a client of the four services, and the signed-in people its screens are measured for: their
//! session cookies sealed by the benchmark with the console's own session key, each holding a
//! token the services trust.

use kontakt_platform::clock::{Clock as _, SystemClock};
use std::io::Read as _;
use std::os::unix::fs::PermissionsExt as _;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::Duration;

use anyhow::Context as _;
use kontakt_console::session::{COOKIE, Session, SessionKey, SignedIn};
use kontakt_platform::auth::Claims;
use tokio::io::{AsyncBufReadExt as _, BufReader};
use tokio::process::{Child, Command};

use crate::cluster::{self, Cluster};

/// How long the signed-in sessions last (the tokens are minted for 8 hours).
const SESSION: Duration = Duration::from_secs(7 * 3600);

pub struct Console {
    /// `http://127.0.0.1:<port>`, the port the console chose itself.
    pub url: String,
    key: SessionKey,
    child: Child,
    log: PathBuf,
}

impl Console {
    /// Starts `kontakt serve console` on a port of its own choosing with the four services'
    /// URLs and a session key of 32 random bytes written to `out/keys`, and waits until it
    /// answers `/readyz`. Its log (stdout and stderr) goes to `out/console.log`.
    pub async fn start(kontakt: &Path, cluster: &Cluster, out: &Path) -> anyhow::Result<Self> {
        let mut secret = [0u8; 32];
        std::fs::File::open("/dev/urandom")
            .and_then(|mut random| random.read_exact(&mut secret))
            .context("reading 32 random bytes for the console's session key")?;
        let key_file = out.join("keys").join("console-session-key");
        std::fs::write(&key_file, secret)?;
        std::fs::set_permissions(&key_file, std::fs::Permissions::from_mode(0o600))?;
        let key = SessionKey::from_secret(&secret).map_err(anyhow::Error::msg)?;

        let log = out.join("console.log");
        let file = std::fs::File::create(&log)?;
        let mut command = Command::new(kontakt);
        command
            .args(["serve", "console", "--listen", "127.0.0.1:0"])
            .arg("--console-session-key-file")
            .arg(&key_file)
            .env_clear()
            .env("KONTAKT_SHUTDOWN_GRACE", "2s")
            .env("RUST_LOG", "warn")
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(file.try_clone()?)
            .kill_on_drop(true);
        for (service, url) in &cluster.urls {
            command.env(format!("KONTAKT_{}_URL", service.to_uppercase()), url);
        }
        let mut child = command
            .spawn()
            .with_context(|| format!("cannot start {} serve console", kontakt.display()))?;
        let stdout = child.stdout.take().context("the console's stdout")?;
        let mut lines = BufReader::new(stdout).lines();
        // It prints its address first (it chose the port), then logs to stdout.
        let address = tokio::time::timeout(Duration::from_secs(60), async {
            while let Some(line) = lines.next_line().await? {
                if let Some(address) = line.strip_prefix("console listening on ") {
                    return Ok(address.trim().to_owned());
                }
            }
            anyhow::bail!("the console exited; see {}", log.display())
        })
        .await
        .with_context(|| format!("the console did not start in 60 s; see {}", log.display()))??;
        // The rest of its output into its log, so that it never writes to a closed pipe.
        let mut rest = tokio::fs::File::from_std(file);
        tokio::spawn(async move {
            let mut stdout = lines.into_inner();
            if let Err(err) = tokio::io::copy(&mut stdout, &mut rest).await {
                eprintln!("warning: the console's output no longer reaches its log: {err}");
            }
        });
        let console = Self {
            url: format!("http://{address}"),
            key,
            child,
            log,
        };
        console.wait_ready().await?;
        Ok(console)
    }

    async fn wait_ready(&self) -> anyhow::Result<()> {
        let client = crate::screens::client(1);
        let uri: hyper::Uri = format!("{}/readyz", self.url).parse()?;
        let deadline = tokio::time::Instant::now() + Duration::from_secs(60);
        loop {
            if let Ok(response) = client.get(uri.clone()).await
                && response.status() == hyper::StatusCode::OK
            {
                return Ok(());
            }
            if tokio::time::Instant::now() > deadline {
                anyhow::bail!(
                    "the console did not answer /readyz within a minute; see {}",
                    self.log.display()
                );
            }
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    }

    /// The `Cookie` header of someone signed in with `token` (minted from `claims`), as the
    /// console's sign-in would have set it.
    pub fn cookie(&self, token: String, claims: &Claims) -> String {
        let expires_at = SystemClock.now().timestamp() + SESSION.as_secs() as i64;
        let session = Session::new(SignedIn {
            token,
            expires_at,
            subject: claims.sub.clone(),
            name: if claims.name.is_empty() {
                claims.sub.clone()
            } else {
                claims.name.clone()
            },
            roles: claims.kontakt_roles.clone(),
            municipalities: claims.kontakt_municipalities.clone(),
            contact_person: claims.kontakt_contact_person.clone(),
        });
        format!("{COOKIE}={}", self.key.seal(&session))
    }

    /// The process id (for its memory).
    pub fn pid(&self) -> Option<u32> {
        self.child.id()
    }

    /// Stops the console with SIGTERM and waits for it.
    pub async fn stop(mut self) {
        cluster::terminate("console", &self.child);
        cluster::reap("console", &mut self.child, &self.log).await;
    }
}
