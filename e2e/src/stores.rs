//! Real distributed stores for the discovery and cluster tests: an etcd
//! cluster of N members and a ZooKeeper server (Debian's packages, installed
//! by `e2e/peers/stores/setup.sh`), each on 127.0.0.1 with free ports and
//! data in a temporary directory, stopped when dropped.

use std::io::{Read, Write};
use std::net::TcpStream;
use std::process::Command;
use std::time::{Duration, Instant};

use crate::{Proc, TempDir, free_port, http};

/// One etcd member: its process (None while stopped) and ports.
struct Member {
    name: String,
    client: u16,
    peer: u16,
    proc: Option<Proc>,
}

/// An etcd cluster on loopback.
pub struct Etcd {
    members: Vec<Member>,
    dir: TempDir,
}

impl Etcd {
    /// Starts `n` members and waits until each answers `/health`.
    pub fn start(n: usize) -> Etcd {
        let members: Vec<Member> = (0..n)
            .map(|i| Member {
                name: format!("m{i}"),
                client: free_port(),
                peer: free_port(),
                proc: None,
            })
            .collect();
        let mut etcd = Etcd {
            members,
            dir: TempDir::new("etcd"),
        };
        for i in 0..n {
            etcd.start_member(i);
        }
        for i in 0..n {
            etcd.wait_healthy(i);
        }
        etcd
    }

    fn initial_cluster(&self) -> String {
        self.members
            .iter()
            .map(|m| format!("{}=http://127.0.0.1:{}", m.name, m.peer))
            .collect::<Vec<_>>()
            .join(",")
    }

    /// Starts member `i` (again: it keeps its data directory).
    pub fn start_member(&mut self, i: usize) {
        let cluster = self.initial_cluster();
        let data = self.dir.path().join(&self.members[i].name);
        let m = &mut self.members[i];
        let mut cmd = Command::new("etcd");
        cmd.args(["--name", &m.name])
            .arg("--data-dir")
            .arg(&data)
            .args(["--initial-cluster", &cluster])
            .args(["--initial-cluster-token", "kitegate-e2e"])
            .args(["--initial-cluster-state", "new"])
            .args(["--log-level", "warn"]);
        for (flag, port) in [
            ("--listen-client-urls", m.client),
            ("--advertise-client-urls", m.client),
            ("--listen-peer-urls", m.peer),
            ("--initial-advertise-peer-urls", m.peer),
        ] {
            cmd.arg(flag).arg(format!("http://127.0.0.1:{port}"));
        }
        let (p, _) = Proc::start(&format!("etcd {}", m.name), cmd, None);
        m.proc = Some(p);
    }

    /// Waits until member `i` reports itself healthy (it has a leader).
    pub fn wait_healthy(&self, i: usize) {
        let url = format!("http://127.0.0.1:{}/health", self.members[i].client);
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            if let Ok((200, _, body)) = http("GET", &url, None, &[])
                && body.contains("\"true\"")
            {
                return;
            }
            assert!(
                Instant::now() < deadline,
                "etcd member {i} never became healthy"
            );
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    /// Kills member `i` (SIGKILL).
    pub fn kill(&mut self, i: usize) {
        if let Some(mut p) = self.members[i].proc.take() {
            p.kill9();
        }
    }

    /// Kills every member.
    pub fn kill_all(&mut self) {
        for i in 0..self.members.len() {
            self.kill(i);
        }
    }

    /// `127.0.0.1:PORT` of every member.
    pub fn endpoints(&self) -> Vec<String> {
        self.members
            .iter()
            .map(|m| format!("127.0.0.1:{}", m.client))
            .collect()
    }

    /// The endpoints as a TOML array.
    pub fn toml_endpoints(&self) -> String {
        let quoted: Vec<String> = self
            .endpoints()
            .iter()
            .map(|e| format!("\"{e}\""))
            .collect();
        format!("[{}]", quoted.join(", "))
    }

    /// Runs `etcdctl ARGS` against the live members; returns its stdout.
    pub fn ctl(&self, args: &[&str]) -> String {
        let live: Vec<String> = self
            .members
            .iter()
            .filter(|m| m.proc.is_some())
            .map(|m| format!("127.0.0.1:{}", m.client))
            .collect();
        let out = Command::new("etcdctl")
            .env("ETCDCTL_API", "3")
            .arg("--endpoints")
            .arg(live.join(","))
            .args(args)
            .output()
            .expect("etcdctl runs");
        assert!(
            out.status.success(),
            "etcdctl {args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stdout).into_owned()
    }
}

/// A ZooKeeper server on loopback.
pub struct ZooKeeper {
    proc: Option<Proc>,
    pub port: u16,
    _dir: TempDir,
}

impl ZooKeeper {
    /// Starts it (tick 1 s: sessions of 2 to 20 s) and waits for `imok`.
    pub fn start() -> ZooKeeper {
        let dir = TempDir::new("zk");
        let port = free_port();
        let cfg = dir.path().join("zoo.cfg");
        std::fs::write(
            &cfg,
            format!(
                "tickTime=1000\ndataDir={}\nclientPort={port}\nclientPortAddress=127.0.0.1\n\
                 admin.enableServer=false\n4lw.commands.whitelist=ruok,stat\n",
                dir.path().join("data").display()
            ),
        )
        .unwrap();
        let mut cmd = Command::new("java");
        cmd.args([
            "-Xmx256m",
            "-cp",
            "/etc/zookeeper/conf:/usr/share/java/zookeeper.jar",
        ])
        .arg(format!("-Dzookeeper.log.dir={}", dir.path().display()))
        .arg("org.apache.zookeeper.server.quorum.QuorumPeerMain")
        .arg(&cfg);
        let (p, _) = Proc::start("zookeeper", cmd, None);
        let zk = ZooKeeper {
            proc: Some(p),
            port,
            _dir: dir,
        };
        let deadline = Instant::now() + Duration::from_secs(60);
        while zk.four("ruok") != "imok" {
            assert!(Instant::now() < deadline, "ZooKeeper never answered imok");
            std::thread::sleep(Duration::from_millis(200));
        }
        zk
    }

    /// `127.0.0.1:PORT`.
    pub fn addr(&self) -> String {
        format!("127.0.0.1:{}", self.port)
    }

    /// A four-letter command's answer (empty when it cannot connect).
    pub fn four(&self, cmd: &str) -> String {
        let Ok(mut s) = TcpStream::connect(("127.0.0.1", self.port)) else {
            return String::new();
        };
        s.set_read_timeout(Some(Duration::from_secs(2))).ok();
        s.write_all(cmd.as_bytes()).ok();
        let mut out = String::new();
        s.read_to_string(&mut out).ok();
        out
    }

    pub fn stop(&mut self) {
        if let Some(mut p) = self.proc.take() {
            p.kill9();
        }
    }
}
