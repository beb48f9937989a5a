//! A real softphone: baresip, headless, with its own config directory in the test's temp
//! directory. It registers an agent with its password, answers calls automatically and
//! sends a WAV file (`aufile`) as its microphone. Killed when dropped.

use crate::audio::{tone, RATE};
use crate::ports::{free_port, free_ports};
use crate::server::Server;
use std::io::{Read, Write};
use std::net::TcpStream;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

/// A running baresip for one agent.
pub struct Baresip {
    pub sip_port: u16,
    /// Its `ctrl_tcp` port (netstring JSON commands).
    pub ctrl_port: u16,
    pub dir: PathBuf,
    child: Child,
}

impl Baresip {
    /// Starts baresip as agent `ext` (password `password`), its microphone a `tone_hz` sine
    /// lasting `tone_secs` (aufile ends the call when the file ends: make it long), its RTP
    /// ports in `rtp_ports` (inclusive range), quitting by itself after `quit_after`.
    pub fn start(
        server: &Server,
        ext: &str,
        password: &str,
        tone_hz: f64,
        tone_secs: u32,
        rtp_ports: (u16, u16),
        quit_after: Duration,
    ) -> Baresip {
        let dir = server.dir().join(format!("baresip-{ext}"));
        std::fs::create_dir_all(&dir).expect("baresip dir");
        let wav = dir.join("mic.wav");
        let spec = hound::WavSpec {
            channels: 1,
            sample_rate: RATE,
            bits_per_sample: 16,
            sample_format: hound::SampleFormat::Int,
        };
        let mut w = hound::WavWriter::create(&wav, spec).expect("create mic.wav");
        for s in tone(tone_hz, 10_000.0, 0, (RATE * tone_secs) as usize) {
            w.write_sample(s).unwrap();
        }
        w.finalize().unwrap();
        // baresip also listens for SIP over TLS on the next port: a port it cannot bind stops
        // its SIP stack, and one it takes that was meant for `ctrl_tcp` cuts the test off.
        let sip_port = free_ports(2);
        let ctrl_port = free_port();
        let config = format!(
            "poll_method\t\tepoll\n\
             sip_listen\t\t127.0.0.1:{sip_port}\n\
             net_interface\t\t127.0.0.1\n\
             rtp_ports\t\t{}-{}\n\
             audio_source\t\taufile,{}\n\
             audio_player\t\taufile,{}\n\
             audio_alert\t\taufile,{}\n\
             audio_srate\t\t8000\n\
             audio_channels\t\t1\n\
             module_path\t\t/usr/lib/baresip/modules\n\
             module\t\t\tg711.so\n\
             module\t\t\taufile.so\n\
             module_app\t\taccount.so\n\
             module_app\t\tmenu.so\n\
             module_app\t\tctrl_tcp.so\n\
             ctrl_tcp_listen\t\t127.0.0.1:{ctrl_port}\n",
            rtp_ports.0,
            rtp_ports.1,
            wav.display(),
            dir.join("out.wav").display(),
            dir.join("alert.wav").display(),
        );
        std::fs::write(dir.join("config"), config).expect("baresip config");
        let account = format!(
            "<sip:{ext}@127.0.0.1:{port};transport=udp>;auth_user={ext};auth_pass={password};answermode=auto;regint=60;audio_codecs=PCMU\n",
            port = server.sip.port()
        );
        std::fs::write(dir.join("accounts"), account).expect("baresip accounts");
        let log = std::fs::File::create(dir.join("baresip.log")).expect("baresip log");
        let mut cmd = Command::new("baresip");
        cmd.arg("-f")
            .arg(&dir)
            .args(["-s", "-v", "-t", &quit_after.as_secs().to_string()]);
        let child = cmd
            .current_dir(&dir)
            .stdin(Stdio::null())
            .stdout(log.try_clone().unwrap())
            .stderr(log)
            .spawn()
            .expect("spawn baresip (is it installed?)");
        Baresip {
            sip_port,
            ctrl_port,
            dir,
            child,
        }
    }

    /// Sends a command (`dial`, `hangup`, …) over `ctrl_tcp` and returns baresip's
    /// response (a netstring holding JSON), retrying the connection for up to 5 s.
    pub fn command(&self, command: &str, params: &str) -> Result<String, String> {
        let addr = std::net::SocketAddr::from(([127, 0, 0, 1], self.ctrl_port));
        let deadline = std::time::Instant::now() + Duration::from_secs(5);
        let mut s = loop {
            match TcpStream::connect_timeout(&addr, Duration::from_secs(1)) {
                Ok(s) => break s,
                Err(e) if std::time::Instant::now() > deadline => {
                    return Err(format!("ctrl_tcp {addr}: {e}"))
                }
                Err(_) => std::thread::sleep(Duration::from_millis(100)),
            }
        };
        let json =
            serde_json::json!({"command": command, "params": params, "token": "e2e"}).to_string();
        s.write_all(format!("{}:{json},", json.len()).as_bytes())
            .map_err(|e| e.to_string())?;
        s.set_read_timeout(Some(Duration::from_secs(3))).unwrap();
        let mut buf = vec![0u8; 4096];
        let n = s.read(&mut buf).map_err(|e| e.to_string())?;
        Ok(String::from_utf8_lossy(&buf[..n]).into_owned())
    }

    /// Its output so far (SIP trace included).
    pub fn log(&self) -> String {
        std::fs::read_to_string(self.dir.join("baresip.log")).unwrap_or_default()
    }
}

impl Drop for Baresip {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
