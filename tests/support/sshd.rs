//! Real OpenSSH servers on 127.0.0.1 for the SSH tests: each `Sshd` is one
//! `sshd -D` with its own port, config and host key, so several of them
//! stand in for several hosts. Everything lives in a temporary directory
//! per [`SshLab`]; tests can run in parallel.
//!
//! Logins use the dedicated user [`USER`] with a plain `/bin/sh` (root's
//! login shell on these machines is slow to start), authorized through an
//! `AuthorizedKeysFile` in the lab's directory, never through a home
//! directory.

use std::io::Read as _;
use std::net::{TcpListener, TcpStream};
use std::os::unix::fs::PermissionsExt as _;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

pub const USER: &str = "mmssh";
const SSHD: &str = "/usr/sbin/sshd";

/// A temporary directory with a client key authorized for [`USER`].
pub struct SshLab {
    pub dir: tempfile::TempDir,
    /// The client's private key (OpenSSH format), to store as a secret.
    pub client_key: String,
}

impl SshLab {
    pub fn new() -> Self {
        prerequisites();
        let dir = tempfile::Builder::new().prefix("mm-sshd-").tempdir().expect("temp dir");
        // sshd reads the authorized keys as the target user.
        std::fs::set_permissions(dir.path(), std::fs::Permissions::from_mode(0o755)).unwrap();
        let key = dir.path().join("client");
        keygen(&key, "ed25519");
        let public = std::fs::read_to_string(key.with_extension("pub")).unwrap();
        let authorized = dir.path().join(format!("{USER}.keys"));
        std::fs::write(&authorized, public).unwrap();
        std::fs::set_permissions(&authorized, std::fs::Permissions::from_mode(0o644)).unwrap();
        let client_key = std::fs::read_to_string(&key).unwrap();
        SshLab { dir, client_key }
    }

    /// Generates another key pair (not authorized) and returns its private key.
    pub fn other_key(&self, name: &str) -> String {
        let path = self.dir.path().join(name);
        keygen(&path, "ed25519");
        std::fs::read_to_string(path).unwrap()
    }

    /// Starts a new sshd on a free port with a fresh host key.
    pub fn start(&self, name: &str) -> Sshd {
        let mut sshd = Sshd { name: name.to_owned(), dir: self.dir.path().to_owned(), port: 0, child: None };
        sshd.new_host_key();
        for _ in 0..5 {
            sshd.port = free_port();
            if sshd.launch() {
                return sshd;
            }
        }
        panic!("sshd {name} did not start; log:\n{}", sshd.log());
    }
}

pub struct Sshd {
    pub name: String,
    pub port: u16,
    dir: PathBuf,
    child: Option<Child>,
}

impl Sshd {
    fn path(&self, suffix: &str) -> PathBuf {
        self.dir.join(format!("{}{suffix}", self.name))
    }

    fn new_host_key(&self) {
        let key = self.path("_host_key");
        let _ = std::fs::remove_file(&key);
        let _ = std::fs::remove_file(key.with_extension("pub"));
        keygen(&key, "ed25519");
    }

    /// The host key's fingerprint as `ssh-keygen -lf` prints it.
    pub fn fingerprint(&self) -> String {
        let out = Command::new("ssh-keygen").arg("-lf").arg(self.path("_host_key")).output().unwrap();
        let text = String::from_utf8_lossy(&out.stdout);
        text.split_whitespace().nth(1).unwrap_or_else(|| panic!("ssh-keygen -lf printed {text}")).to_owned()
    }

    pub fn log(&self) -> String {
        std::fs::read_to_string(self.path(".log")).unwrap_or_default()
    }

    fn launch(&mut self) -> bool {
        let config = format!(
            "Port {port}\nListenAddress 127.0.0.1\nHostKey {key}\nPidFile {pid}\nAuthorizedKeysFile {dir}/%u.keys\n\
             UsePAM no\nPasswordAuthentication no\nKbdInteractiveAuthentication no\nPubkeyAuthentication yes\n\
             StrictModes no\nPermitRootLogin no\nAllowUsers {USER}\nLogLevel VERBOSE\nMaxStartups 100\n",
            port = self.port,
            key = self.path("_host_key").display(),
            pid = self.path(".pid").display(),
            dir = self.dir.display(),
        );
        std::fs::write(self.path(".conf"), config).unwrap();
        let log = std::fs::File::create(self.path(".log")).unwrap();
        let child = Command::new(SSHD)
            .arg("-D")
            .arg("-e")
            .arg("-f")
            .arg(self.path(".conf"))
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .unwrap_or_else(|e| panic!("starting {SSHD}: {e}"));
        self.child = Some(child);
        let started = Instant::now();
        while started.elapsed() < Duration::from_secs(10) {
            if let Some(child) = &mut self.child
                && let Ok(Some(_)) = child.try_wait()
            {
                self.child = None;
                return false;
            }
            if banner(self.port) {
                return true;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        self.stop();
        false
    }

    pub fn stop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// Stops this sshd and starts it again on the same port with a new host
    /// key: the same host, re-keyed (or impersonated).
    pub fn restart_with_new_host_key(&mut self) {
        self.stop();
        self.new_host_key();
        for _ in 0..50 {
            if self.launch() {
                return;
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        panic!("sshd {} did not restart on port {}; log:\n{}", self.name, self.port, self.log());
    }
}

impl Drop for Sshd {
    fn drop(&mut self) {
        self.stop();
    }
}

/// A port nothing listens on (for a host that is down).
pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

fn banner(port: u16) -> bool {
    let Ok(mut stream) = TcpStream::connect_timeout(&([127, 0, 0, 1], port).into(), Duration::from_millis(200)) else {
        return false;
    };
    let _ = stream.set_read_timeout(Some(Duration::from_millis(500)));
    let mut buf = [0u8; 4];
    stream.read_exact(&mut buf).is_ok() && &buf == b"SSH-"
}

fn keygen(path: &Path, kind: &str) {
    let out = Command::new("ssh-keygen")
        .args(["-q", "-t", kind, "-N", "", "-C", "mastermind-test", "-f"])
        .arg(path)
        .output()
        .unwrap_or_else(|e| panic!("running ssh-keygen: {e}; install Debian's openssh-client"));
    assert!(out.status.success(), "ssh-keygen failed: {}", String::from_utf8_lossy(&out.stderr));
}

/// sshd installed, its privilege-separation directory, the test user.
fn prerequisites() {
    static READY: OnceLock<()> = OnceLock::new();
    READY.get_or_init(|| {
        assert!(
            Path::new(SSHD).exists(),
            "{SSHD} not found: the SSH tests need a real OpenSSH server. Install Debian's openssh-server \
             (apt-get install openssh-server) or run tests/run, which installs it."
        );
        std::fs::create_dir_all("/run/sshd").expect("creating /run/sshd (the tests run as root)");
        let exists = Command::new("id").arg("-u").arg(USER).output().is_ok_and(|o| o.status.success());
        if !exists {
            let out = Command::new("useradd").args(["-m", "-s", "/bin/sh", USER]).output().expect("running useradd");
            let raced = Command::new("id").arg("-u").arg(USER).output().is_ok_and(|o| o.status.success());
            assert!(out.status.success() || raced, "useradd {USER}: {}", String::from_utf8_lossy(&out.stderr));
        }
        // Without PAM, sshd refuses accounts whose password is locked ('!'):
        // '*' means "no password" without locking the account.
        let out = Command::new("usermod").args(["-p", "*", USER]).output().expect("running usermod");
        assert!(out.status.success(), "usermod {USER}: {}", String::from_utf8_lossy(&out.stderr));
    });
}
