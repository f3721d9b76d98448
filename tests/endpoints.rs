//! One answer to "which endpoint": the SDK resolves it once, from the flag, the environment or
//! the profile file, and the plan, the identity line and the stop when nothing answers all name
//! that one, through the built binary.

use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::time::Duration;

use crate::support::{aws_env, bin, code, exits_with, output_of, read_rows, stderr, Workdir};

/// A port on 127.0.0.1 that refuses every connection for as long as the socket is held: bound,
/// never listening, so no other process can take it meanwhile.
fn refusing_port() -> (OwnedFd, u16) {
    // SAFETY: plain socket calls on a fresh descriptor that the OwnedFd then owns.
    unsafe {
        let fd = libc::socket(libc::AF_INET, libc::SOCK_STREAM, 0);
        assert!(fd >= 0, "a socket");
        let owned = OwnedFd::from_raw_fd(fd);
        let mut address: libc::sockaddr_in = std::mem::zeroed();
        address.sin_family = libc::AF_INET as libc::sa_family_t;
        address.sin_addr.s_addr = u32::from_ne_bytes([127, 0, 0, 1]);
        let size = std::mem::size_of::<libc::sockaddr_in>() as libc::socklen_t;
        let bound = libc::bind(fd, (&raw const address).cast(), size);
        assert_eq!(bound, 0, "bound to a free port");
        let mut length = size;
        let named = libc::getsockname(fd, (&raw mut address).cast(), &mut length);
        assert_eq!(named, 0, "its address");
        (owned, u16::from_be(address.sin_port))
    }
}

#[test]
fn an_endpoint_from_the_profile_file_is_the_one_the_plan_and_the_stop_name() {
    let work = Workdir::new();
    let (_held, port) = refusing_port();
    let endpoint = format!("http://127.0.0.1:{port}");
    let config = work.write(
        "aws-config",
        format!("[profile rotation]\nregion = us-east-1\nendpoint_url = {endpoint}\n"),
    );
    let mut input = String::from("account_id,user_id\n");
    for user in 0..40 {
        input.push_str(&format!(
            "11111111-1111-1111-1111-111111111111,aaaaaaaa-0000-0000-0000-{user:012}\n"
        ));
    }
    work.write("input.csv", input);
    let mut cmd = bin();
    aws_env(&mut cmd);
    cmd.current_dir(work.root())
        .env("AWS_CONFIG_FILE", &config)
        .args([
            "run",
            "input.csv",
            "-o",
            "results.csv",
            "--profile",
            "rotation",
        ])
        .args(["--rate", "0", "--connect-timeout", "1"]);
    let output = output_of(cmd);
    let text = stderr(&output);
    assert_eq!(code(&output), 3, "{text}");
    assert!(
        text.lines().any(|line| {
            line.trim_start().starts_with("endpoint:") && line.trim_end().ends_with(&endpoint)
        }),
        "the plan names it: {text}"
    );
    assert!(
        text.contains(&format!("nothing answers at {endpoint}")),
        "the stop names it: {text}"
    );
    assert!(read_rows(&work, "results.csv")
        .iter()
        .all(|row| row["error_code"] == "ConnectionError"));
}

/// A port on 127.0.0.1 where a connection is never accepted nor refused: listening with its
/// queue full, so the kernel drops every new SYN and the client waits for its connect timeout.
/// Held for as long as the returned sockets are.
fn silent_port() -> (OwnedFd, Vec<std::net::TcpStream>, u16) {
    let (listener, port) = refusing_port();
    // SAFETY: listen on the descriptor the OwnedFd owns, with the smallest queue.
    let listening = unsafe { libc::listen(listener.as_raw_fd(), 0) };
    assert_eq!(listening, 0, "listening");
    let address = std::net::SocketAddr::from(([127, 0, 0, 1], port));
    // The first connections fill the queue; the ones after them wait in vain, as the tool's will.
    let fillers = (0..3)
        .filter_map(|_| {
            std::net::TcpStream::connect_timeout(&address, Duration::from_millis(200)).ok()
        })
        .collect();
    (listener, fillers, port)
}

#[test]
fn connect_timeout_bounds_each_attempt_to_connect() {
    let work = Workdir::new();
    let (_listener, _fillers, port) = silent_port();
    work.write(
        "input.csv",
        "account_id,user_id\n\
         11111111-1111-1111-1111-111111111111,aaaaaaaa-0000-0000-0000-000000000001\n",
    );
    let endpoint = format!("http://127.0.0.1:{port}");
    let run = work.command(&[
        "run",
        "input.csv",
        "-o",
        "results.csv",
        "--endpoint-url",
        &endpoint,
        "--connect-timeout",
        "0.5",
        "--max-attempts",
        "2",
        "--rate",
        "0",
    ]);
    let text = exits_with(&output_of(run), 1);
    // The SDK names the connect timeout it was given: the flag reached every client.
    assert!(
        text.contains("connect timeout occurred after 500ms"),
        "{text}"
    );
    let rows = read_rows(&work, "results.csv");
    assert_eq!(rows.len(), 1, "{rows:?}");
    assert_eq!(rows[0]["error_code"], "ConnectionError");
    assert_eq!(rows[0]["error_message"], "the connection timed out");
    assert_eq!(
        rows[0]["attempts"], "2",
        "each attempt gave up on its own connect"
    );
}
