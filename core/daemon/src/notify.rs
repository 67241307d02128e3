//! Telling systemd how the daemon is doing (sd_notify), for `Type=notify` and `WatchdogSec=` in
//! `deploy/shikakud.service`: `READY=1` once the port is bound, `WATCHDOG=1` for as long as the
//! runtime keeps running its tasks, `STOPPING=1` on shutdown. Each is one datagram to the unix
//! socket named by `$NOTIFY_SOCKET`; when systemd did not set it (or off Unix) nothing is sent.

use std::time::Duration;

/// Says the daemon is serving, and starts the watchdog pings when systemd asked for them.
pub fn ready() {
    send("READY=1");
    if let Some(interval) = watchdog_interval(
        std::env::var("WATCHDOG_USEC").ok().as_deref(),
        std::env::var("WATCHDOG_PID").ok().as_deref(),
        std::process::id(),
    ) {
        // A task on the runtime, so a runtime whose workers are all stuck stops the pings and
        // systemd restarts the daemon.
        tokio::spawn(async move {
            let mut ticks = tokio::time::interval(interval);
            loop {
                ticks.tick().await;
                send("WATCHDOG=1");
            }
        });
    }
}

/// Sends one state line to systemd, if it is listening; a failure is logged, never fatal.
pub fn send(state: &str) {
    #[cfg(unix)]
    if let Some(socket) = std::env::var_os("NOTIFY_SOCKET")
        && let Err(error) = unix::send_to(&socket, state)
    {
        tracing::warn!(%error, state, "cannot notify systemd");
    }
    #[cfg(not(unix))]
    let _ = state;
}

/// Half of systemd's `$WATCHDOG_USEC`, as sd_watchdog_enabled(3) advises; none when the watchdog
/// is off or meant for another process (`$WATCHDOG_PID`).
fn watchdog_interval(usec: Option<&str>, pid: Option<&str>, own_pid: u32) -> Option<Duration> {
    let usec: u64 = usec?.parse().ok().filter(|&u| u > 0)?;
    if let Some(pid) = pid
        && pid.parse::<u32>().ok() != Some(own_pid)
    {
        return None;
    }
    Some(Duration::from_micros(usec / 2))
}

#[cfg(unix)]
mod unix {
    use std::ffi::OsStr;
    use std::os::unix::net::{SocketAddr, UnixDatagram};

    /// A path, or on Linux an abstract socket name when it starts with `@`.
    pub fn send_to(socket: &OsStr, state: &str) -> std::io::Result<()> {
        let address = match socket.as_encoded_bytes().strip_prefix(b"@") {
            #[cfg(target_os = "linux")]
            Some(name) => {
                use std::os::linux::net::SocketAddrExt;
                SocketAddr::from_abstract_name(name)?
            }
            _ => SocketAddr::from_pathname(socket)?,
        };
        UnixDatagram::unbound()?.send_to_addr(state.as_bytes(), &address)?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_watchdog_pings_at_half_the_timeout_for_this_process_only() {
        let half = Some(Duration::from_secs(15));
        assert_eq!(watchdog_interval(Some("30000000"), None, 7), half);
        assert_eq!(watchdog_interval(Some("30000000"), Some("7"), 7), half);
        assert_eq!(watchdog_interval(Some("30000000"), Some("8"), 7), None);
        assert_eq!(watchdog_interval(Some("0"), None, 7), None);
        assert_eq!(watchdog_interval(Some("soon"), None, 7), None);
        assert_eq!(watchdog_interval(None, None, 7), None);
    }

    #[cfg(unix)]
    #[test]
    fn a_state_line_reaches_the_socket_by_path() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("notify");
        let systemd = std::os::unix::net::UnixDatagram::bind(&path).unwrap();
        unix::send_to(path.as_os_str(), "READY=1").unwrap();
        let mut buffer = [0; 64];
        let n = systemd.recv(&mut buffer).unwrap();
        assert_eq!(&buffer[..n], b"READY=1");
    }

    #[cfg(target_os = "linux")]
    #[test]
    fn a_state_line_reaches_an_abstract_socket() {
        use std::ffi::OsStr;
        use std::os::linux::net::SocketAddrExt;
        let name = format!("shikaku-notify-test-{}", std::process::id());
        let address = std::os::unix::net::SocketAddr::from_abstract_name(&name).unwrap();
        let systemd = std::os::unix::net::UnixDatagram::bind_addr(&address).unwrap();
        unix::send_to(OsStr::new(&format!("@{name}")), "WATCHDOG=1").unwrap();
        let mut buffer = [0; 64];
        let n = systemd.recv(&mut buffer).unwrap();
        assert_eq!(&buffer[..n], b"WATCHDOG=1");
    }
}
