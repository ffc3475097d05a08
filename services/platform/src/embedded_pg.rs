//! A throwaway PostgreSQL started from the system's server binaries, for `kontakt dev` and the
//! test harness. It listens only on a Unix socket inside its own directory, so it never collides
//! with a PostgreSQL already running. PostgreSQL refuses to run as root, so when we are root it
//! runs as an unprivileged user (`postgres`, else `nobody`).
//!
//! The server is a child process started from a dedicated thread that lives as long as this
//! handle: the child gets SIGINT (fast shutdown) if that thread dies — which happens only when
//! our process dies — so a crashed `kontakt dev` or test run does not leave a server behind.

use std::fs;
use std::io;
use std::os::unix::fs::PermissionsExt;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use nix::unistd::{Gid, Uid, User};
use sqlx::postgres::PgConnectOptions;

/// What to install when the server binaries are missing.
pub const INSTALL_HINT: &str = "PostgreSQL server binaries (initdb, postgres) were not found. Install them \
(Debian/Ubuntu: `apt-get install postgresql`; Fedora: `dnf install postgresql-server`; macOS: `brew install postgresql@16`), \
or point KONTAKT_PG_BIN at the directory that holds initdb, or set DATABASE_URL to use a running server.";

const PORT: u16 = 5432;
/// sun_path is 108 bytes on Linux; leave room for `/.s.PGSQL.5432`.
const MAX_SOCKET_DIR_LEN: usize = 90;

#[derive(Debug, thiserror::Error)]
pub enum EmbeddedPgError {
    #[error("{INSTALL_HINT}")]
    BinariesMissing,
    #[error(
        "PostgreSQL must run as the unprivileged user `{user}` because kontakt runs as root, and that user cannot reach {dir}; \
choose a data directory under a world-readable path (for example /tmp/kontakt-dev)"
    )]
    Unreachable { user: String, dir: PathBuf },
    #[error(
        "the data directory {dir} is in use by a running PostgreSQL (pid {pid}); stop it or choose another directory"
    )]
    InUse { dir: PathBuf, pid: i32 },
    #[error("{step} failed: {detail}")]
    Failed { step: &'static str, detail: String },
    #[error("{context}: {source}")]
    Io {
        context: String,
        #[source]
        source: io::Error,
    },
}

fn io_err(context: impl Into<String>) -> impl FnOnce(io::Error) -> EmbeddedPgError {
    let context = context.into();
    move |source| EmbeddedPgError::Io { context, source }
}

/// Finds the directory holding `initdb` and `postgres`: `KONTAKT_PG_BIN`, then `PATH`, then the
/// newest `/usr/lib/postgresql/<version>/bin` (Debian keeps server binaries off `PATH`).
pub fn find_binaries() -> Result<PathBuf, EmbeddedPgError> {
    let has_both = |dir: &Path| dir.join("initdb").is_file() && dir.join("postgres").is_file();
    if let Some(dir) = std::env::var_os("KONTAKT_PG_BIN") {
        let dir = PathBuf::from(dir);
        return if has_both(&dir) {
            Ok(dir)
        } else {
            Err(EmbeddedPgError::BinariesMissing)
        };
    }
    if let Some(path) = std::env::var_os("PATH") {
        for dir in std::env::split_paths(&path) {
            if has_both(&dir) {
                // Resolve symlinks (e.g. /usr/local/bin/initdb -> /usr/lib/postgresql/15/bin/initdb)
                // so `postgres` is taken from the same installation as `initdb`.
                let real = fs::canonicalize(dir.join("initdb")).ok();
                let real_dir = real
                    .as_deref()
                    .and_then(Path::parent)
                    .filter(|d| has_both(d));
                return Ok(real_dir.map_or(dir.clone(), Path::to_path_buf));
            }
        }
    }
    let mut versions: Vec<(u32, PathBuf)> = fs::read_dir("/usr/lib/postgresql")
        .into_iter()
        .flatten()
        .flatten()
        .filter_map(|e| {
            let version = e.file_name().to_str()?.parse::<u32>().ok()?;
            Some((version, e.path().join("bin")))
        })
        .filter(|(_, dir)| has_both(dir))
        .collect();
    versions.sort();
    versions
        .pop()
        .map(|(_, dir)| dir)
        .ok_or(EmbeddedPgError::BinariesMissing)
}

/// The unprivileged account the server runs as when we are root.
#[derive(Clone, Debug)]
struct RunAs {
    name: String,
    uid: Uid,
    gid: Gid,
}

fn run_as() -> Result<Option<RunAs>, EmbeddedPgError> {
    if !Uid::effective().is_root() {
        return Ok(None);
    }
    for name in ["postgres", "nobody"] {
        if let Ok(Some(user)) = User::from_name(name) {
            return Ok(Some(RunAs {
                name: name.to_owned(),
                uid: user.uid,
                gid: user.gid,
            }));
        }
    }
    Err(EmbeddedPgError::Failed {
        step: "choosing an unprivileged user",
        detail: "running as root and neither a `postgres` nor a `nobody` user exists".into(),
    })
}

/// Drops root (when asked) and ties the child's life to the thread that spawns it.
fn prepare_child(command: &mut Command, run_as: Option<&RunAs>, die_with_parent: bool) {
    let run_as = run_as.cloned();
    let parent = std::process::id();
    #[allow(unsafe_code)]
    // SAFETY: the closure runs between fork and exec and only makes async-signal-safe system
    // calls (setgroups, setgid, setuid, prctl, getppid, _exit); it allocates nothing.
    unsafe {
        command.pre_exec(move || {
            if let Some(user) = &run_as {
                nix::unistd::setgroups(&[user.gid])?;
                nix::unistd::setgid(user.gid)?;
                nix::unistd::setuid(user.uid)?;
            }
            // After setuid: a change of credentials clears the parent-death signal.
            if die_with_parent {
                nix::sys::prctl::set_pdeathsig(nix::sys::signal::Signal::SIGINT)?;
                if nix::unistd::getppid().as_raw() as u32 != parent {
                    libc::_exit(1);
                }
            }
            Ok(())
        });
    }
}

/// A running throwaway PostgreSQL. Dropping the handle stops the server.
pub struct EmbeddedPostgres {
    data_dir: PathBuf,
    socket_dir: PathBuf,
    commands: mpsc::Sender<(Command_, mpsc::Sender<Result<(), EmbeddedPgError>>)>,
}

impl std::fmt::Debug for EmbeddedPostgres {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("EmbeddedPostgres")
            .field("data_dir", &self.data_dir)
            .field("socket_dir", &self.socket_dir)
            .finish()
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Command_ {
    Start,
    Stop,
}

/// How to start: where, and whether to wipe what is there.
#[derive(Clone, Debug)]
pub struct Options {
    pub data_dir: PathBuf,
    /// Delete the data directory first.
    pub fresh: bool,
    /// Trade crash safety of the OS for speed (`fsync=off`); process crashes stay safe.
    pub fast: bool,
}

impl EmbeddedPostgres {
    /// Creates the cluster if needed and starts the server; returns once it accepts connections.
    /// Blocking: call it from `spawn_blocking` in async code.
    pub fn start(options: Options) -> Result<Self, EmbeddedPgError> {
        let bin = find_binaries()?;
        let run_as = run_as()?;
        if options.fresh && options.data_dir.exists() {
            fs::remove_dir_all(&options.data_dir)
                .map_err(io_err(format!("removing {}", options.data_dir.display())))?;
        }
        fs::create_dir_all(&options.data_dir)
            .map_err(io_err(format!("creating {}", options.data_dir.display())))?;
        let data_dir = fs::canonicalize(&options.data_dir)
            .map_err(io_err(format!("resolving {}", options.data_dir.display())))?;
        let socket_dir = socket_dir_for(&data_dir)?;
        if let Some(user) = &run_as {
            check_reachable(&data_dir, user)?;
            for dir in [&data_dir, &socket_dir] {
                chown_tree(dir, user)?;
            }
        }
        if let Some(pid) = running_postmaster(&data_dir) {
            return Err(EmbeddedPgError::InUse { dir: data_dir, pid });
        }
        if !data_dir.join("pgdata").join("PG_VERSION").is_file() {
            init_cluster(&bin, &data_dir, run_as.as_ref())?;
        }

        let server = Server {
            bin,
            data_dir: data_dir.clone(),
            socket_dir: socket_dir.clone(),
            run_as,
            fast: options.fast,
        };
        let (commands, inbox) = mpsc::channel();
        std::thread::Builder::new()
            .name("embedded-postgres".into())
            .spawn(move || server.keep(inbox))
            .map_err(io_err("starting the embedded-postgres thread"))?;
        let pg = Self {
            data_dir,
            socket_dir,
            commands,
        };
        pg.send(Command_::Start)?;
        Ok(pg)
    }

    fn send(&self, command: Command_) -> Result<(), EmbeddedPgError> {
        let (reply, answer) = mpsc::channel();
        let gone = || EmbeddedPgError::Failed {
            step: "talking to the embedded-postgres thread",
            detail: "the thread has stopped".into(),
        };
        self.commands.send((command, reply)).map_err(|_| gone())?;
        answer.recv().map_err(|_| gone())?
    }

    /// Stops the server (fast shutdown). The handle can start it again.
    pub fn stop(&self) -> Result<(), EmbeddedPgError> {
        self.send(Command_::Stop)
    }

    /// Starts a stopped server again on the same socket.
    pub fn restart(&self) -> Result<(), EmbeddedPgError> {
        self.send(Command_::Start)
    }

    pub fn data_dir(&self) -> &Path {
        &self.data_dir
    }

    /// Connection options for `database` as the superuser `postgres`.
    pub fn connect_options(&self, database: &str) -> PgConnectOptions {
        PgConnectOptions::new()
            .socket(&self.socket_dir)
            .port(PORT)
            .username("postgres")
            .database(database)
    }

    /// A URL for `database` that both sqlx (`DATABASE_URL`) and psql understand.
    pub fn url(&self, database: &str) -> String {
        format!(
            "postgres://postgres@localhost:{PORT}/{database}?host={}",
            self.socket_dir.display()
        )
    }
}

impl Drop for EmbeddedPostgres {
    fn drop(&mut self) {
        if let Err(err) = self.stop() {
            tracing::warn!(%err, "stopping the embedded PostgreSQL");
        }
    }
}

/// Owned by the keeper thread: the only place the child process lives.
struct Server {
    bin: PathBuf,
    data_dir: PathBuf,
    socket_dir: PathBuf,
    run_as: Option<RunAs>,
    fast: bool,
}

impl Server {
    fn keep(self, inbox: mpsc::Receiver<(Command_, mpsc::Sender<Result<(), EmbeddedPgError>>)>) {
        let mut child: Option<Child> = None;
        while let Ok((command, reply)) = inbox.recv() {
            let result = match command {
                Command_::Start if child.is_some() => Ok(()),
                Command_::Start => self.spawn().map(|c| child = Some(c)),
                Command_::Stop => child.take().map_or(Ok(()), |c| self.shutdown(c)),
            };
            // The requester may have given up waiting; nothing else to do then.
            if reply.send(result).is_err() {
                tracing::debug!("embedded PostgreSQL command answered after the caller left");
            }
        }
        // The handle was dropped without a stop (it always sends one); stop anyway.
        if let Some(c) = child.take()
            && let Err(err) = self.shutdown(c)
        {
            tracing::warn!(%err, "stopping the embedded PostgreSQL");
        }
    }

    fn spawn(&self) -> Result<Child, EmbeddedPgError> {
        let pgdata = self.data_dir.join("pgdata");
        let log_path = self.data_dir.join("postgres.log");
        let log = fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&log_path)
            .map_err(io_err(format!("opening {}", log_path.display())))?;
        let log_err = log
            .try_clone()
            .map_err(io_err("duplicating the log handle"))?;
        let mut command = Command::new(self.bin.join("postgres"));
        command
            .arg("-D")
            .arg(&pgdata)
            .arg("-k")
            .arg(&self.socket_dir)
            .args(["-p", &PORT.to_string()])
            .args(["-c", "listen_addresses="])
            .args(["-c", "max_connections=400"])
            .stdin(Stdio::null())
            .stdout(log)
            .stderr(log_err);
        if self.fast {
            command.args(["-c", "fsync=off", "-c", "full_page_writes=off"]);
        }
        prepare_child(&mut command, self.run_as.as_ref(), true);
        let mut child = command.spawn().map_err(io_err("starting postgres"))?;
        wait_until_ready(&pgdata, &mut child, &log_path)?;
        Ok(child)
    }

    fn shutdown(&self, mut child: Child) -> Result<(), EmbeddedPgError> {
        let pid = nix::unistd::Pid::from_raw(child.id() as i32);
        // SIGINT is PostgreSQL's fast shutdown: roll back open transactions, checkpoint, exit.
        if let Err(err) = nix::sys::signal::kill(pid, nix::sys::signal::Signal::SIGINT) {
            tracing::debug!(%err, "postgres already gone");
        }
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            match child.try_wait() {
                Ok(Some(_)) => return Ok(()),
                Ok(None) if Instant::now() < deadline => {
                    std::thread::sleep(Duration::from_millis(20))
                }
                _ => {
                    // Immediate shutdown as a last resort; the next start recovers from WAL.
                    if let Err(err) = nix::sys::signal::kill(pid, nix::sys::signal::Signal::SIGQUIT)
                    {
                        tracing::debug!(%err, "postgres already gone");
                    }
                    child
                        .wait()
                        .map_err(io_err("waiting for postgres to exit"))?;
                    return Ok(());
                }
            }
        }
    }
}

fn init_cluster(
    bin: &Path,
    data_dir: &Path,
    run_as: Option<&RunAs>,
) -> Result<(), EmbeddedPgError> {
    let pgdata = data_dir.join("pgdata");
    let mut command = Command::new(bin.join("initdb"));
    command
        .arg("-D")
        .arg(&pgdata)
        .args([
            "-U",
            "postgres",
            "-A",
            "trust",
            "-E",
            "UTF8",
            "--no-locale",
            "--no-sync",
        ])
        .stdin(Stdio::null())
        .env("LC_ALL", "C");
    prepare_child(&mut command, run_as, false);
    let output = command.output().map_err(io_err("running initdb"))?;
    if !output.status.success() {
        return Err(EmbeddedPgError::Failed {
            step: "initdb",
            detail: String::from_utf8_lossy(&output.stderr).trim().to_owned(),
        });
    }
    Ok(())
}

/// PostgreSQL writes "ready" on the status line of `postmaster.pid` once it accepts connections
/// (the same signal `pg_ctl -w` waits for), so no client binary is needed.
fn wait_until_ready(pgdata: &Path, child: &mut Child, log: &Path) -> Result<(), EmbeddedPgError> {
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        if let Ok(Some(status)) = child.try_wait() {
            return Err(EmbeddedPgError::Failed {
                step: "starting postgres",
                detail: format!(
                    "it exited with {status}; last lines of {}:\n{}",
                    log.display(),
                    tail(log)
                ),
            });
        }
        let pid_file = fs::read_to_string(pgdata.join("postmaster.pid")).unwrap_or_default();
        let mut lines = pid_file.lines();
        let ours = lines.next().and_then(|l| l.trim().parse::<u32>().ok()) == Some(child.id());
        if ours && pid_file.lines().nth(7).map(str::trim) == Some("ready") {
            return Ok(());
        }
        if Instant::now() > deadline {
            return Err(EmbeddedPgError::Failed {
                step: "starting postgres",
                detail: format!("not ready after 60 s; see {}", log.display()),
            });
        }
        std::thread::sleep(Duration::from_millis(25));
    }
}

fn tail(path: &Path) -> String {
    let text = fs::read_to_string(path).unwrap_or_default();
    let lines: Vec<&str> = text.lines().collect();
    lines[lines.len().saturating_sub(15)..].join("\n")
}

/// The pid of a live postmaster already using this data directory, if any.
fn running_postmaster(data_dir: &Path) -> Option<i32> {
    let text = fs::read_to_string(data_dir.join("pgdata").join("postmaster.pid")).ok()?;
    let pid: i32 = text.lines().next()?.trim().parse().ok()?;
    let alive = nix::sys::signal::kill(nix::unistd::Pid::from_raw(pid), None).is_ok();
    alive.then_some(pid)
}

/// The socket lives in the data directory unless its path is too long for a Unix socket name.
fn socket_dir_for(data_dir: &Path) -> Result<PathBuf, EmbeddedPgError> {
    if data_dir.as_os_str().len() <= MAX_SOCKET_DIR_LEN {
        return Ok(data_dir.to_path_buf());
    }
    use std::hash::{Hash, Hasher};
    let mut hasher = std::collections::hash_map::DefaultHasher::new();
    data_dir.hash(&mut hasher);
    let dir = std::env::temp_dir().join(format!("kontakt-pg-{:016x}", hasher.finish()));
    fs::create_dir_all(&dir).map_err(io_err(format!("creating {}", dir.display())))?;
    Ok(dir)
}

/// Every ancestor must be searchable by the unprivileged user, or initdb fails obscurely.
fn check_reachable(dir: &Path, user: &RunAs) -> Result<(), EmbeddedPgError> {
    for ancestor in dir.ancestors().skip(1) {
        let Ok(meta) = fs::metadata(ancestor) else {
            continue;
        };
        use std::os::unix::fs::MetadataExt;
        let mode = meta.permissions().mode();
        let searchable = mode & 0o001 != 0
            || (meta.uid() == user.uid.as_raw() && mode & 0o100 != 0)
            || (meta.gid() == user.gid.as_raw() && mode & 0o010 != 0);
        if !searchable {
            return Err(EmbeddedPgError::Unreachable {
                user: user.name.clone(),
                dir: ancestor.to_path_buf(),
            });
        }
    }
    Ok(())
}

fn chown_tree(dir: &Path, user: &RunAs) -> Result<(), EmbeddedPgError> {
    nix::unistd::chown(dir, Some(user.uid), Some(user.gid)).map_err(|e| EmbeddedPgError::Io {
        context: format!("handing {} to {}", dir.display(), user.name),
        source: e.into(),
    })?;
    for entry in fs::read_dir(dir).map_err(io_err(format!("reading {}", dir.display())))? {
        let path = entry.map_err(io_err("reading a directory entry"))?.path();
        let meta =
            fs::symlink_metadata(&path).map_err(io_err(format!("reading {}", path.display())))?;
        if meta.is_dir() {
            chown_tree(&path, user)?;
        } else if !meta.file_type().is_symlink() {
            nix::unistd::chown(&path, Some(user.uid), Some(user.gid)).map_err(|e| {
                EmbeddedPgError::Io {
                    context: format!("handing {} to {}", path.display(), user.name),
                    source: e.into(),
                }
            })?;
        }
    }
    Ok(())
}
