//! Stopping under load: on SIGTERM no request a client has sent is cut,
//! new connections are refused, and the process ends within 10 s; a second
//! signal ends it at once.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::net::TcpStream;

use crate::helpers::{Served, TestDatabase, run_cli};

/// One answer read off a kept-alive connection.
struct Answer {
    status: u16,
    closes: bool,
}

/// One request written by hand, so that nothing retries it behind the
/// test's back (HTTP client pools resend on a connection closed early).
async fn ask(stream: &mut BufReader<TcpStream>, request: &[u8]) -> std::io::Result<Answer> {
    stream.get_mut().write_all(request).await?;
    let mut line = String::new();
    if stream.read_line(&mut line).await? == 0 {
        return Err(std::io::ErrorKind::UnexpectedEof.into());
    }
    let status = line
        .split(' ')
        .nth(1)
        .and_then(|s| s.parse().ok())
        .ok_or(std::io::ErrorKind::InvalidData)?;
    let (mut length, mut closes) = (0usize, false);
    loop {
        line.clear();
        if stream.read_line(&mut line).await? == 0 {
            return Err(std::io::ErrorKind::UnexpectedEof.into());
        }
        let header = line.trim_end().to_ascii_lowercase();
        if header.is_empty() {
            break;
        }
        if let Some(value) = header.strip_prefix("content-length:") {
            length = value
                .trim()
                .parse()
                .map_err(|_| std::io::ErrorKind::InvalidData)?;
        }
        if header == "connection: close" {
            closes = true;
        }
    }
    let mut body = vec![0; length];
    stream.read_exact(&mut body).await?;
    Ok(Answer { status, closes })
}

#[derive(Default)]
struct Tally {
    answered: AtomicUsize,
    /// Answers that were not 200.
    refused_answers: AtomicUsize,
    /// A request sent on a connection that had been serving, left unanswered.
    cut: AtomicUsize,
    /// Answers that told the client to close (the grace period's).
    closing_answers: AtomicUsize,
    /// Connections opened after the signal that were never served.
    new_connections_refused: AtomicUsize,
    /// The status of the last answer that was not 200.
    last_refusal: AtomicUsize,
}

/// Keeps one connection at a time busy with `request` until the server
/// refuses a new one after `signalled`.
async fn keep_asking(
    port: u16,
    request: Arc<Vec<u8>>,
    signalled: Arc<AtomicBool>,
    tally: Arc<Tally>,
) {
    loop {
        let after_signal = signalled.load(Ordering::SeqCst);
        let Ok(stream) = TcpStream::connect(("127.0.0.1", port)).await else {
            assert!(after_signal, "connection refused before the signal");
            tally.new_connections_refused.fetch_add(1, Ordering::SeqCst);
            return;
        };
        let mut stream = BufReader::new(stream);
        let mut served = 0;
        loop {
            match ask(&mut stream, &request).await {
                Ok(answer) => {
                    served += 1;
                    tally.answered.fetch_add(1, Ordering::SeqCst);
                    if answer.status != 200 {
                        tally.refused_answers.fetch_add(1, Ordering::SeqCst);
                        tally
                            .last_refusal
                            .store(answer.status.into(), Ordering::SeqCst);
                    }
                    if answer.closes {
                        tally.closing_answers.fetch_add(1, Ordering::SeqCst);
                        break;
                    }
                }
                // A connection the kernel queued but the server never took
                // up (the listener was closed): refused, not cut.
                Err(_) if served == 0 && after_signal => {
                    tally.new_connections_refused.fetch_add(1, Ordering::SeqCst);
                    return;
                }
                Err(e) => {
                    assert!(
                        signalled.load(Ordering::SeqCst),
                        "failed before the signal: {e}"
                    );
                    tally.cut.fetch_add(1, Ordering::SeqCst);
                    return;
                }
            }
        }
    }
}

#[tokio::test]
async fn sigterm_under_load_cuts_no_request_and_stops_within_10_s() {
    let db = TestDatabase::create(crate::helpers::Backend::Sqlite)
        .await
        .unwrap();
    let env = [("MONBAN_DATABASE_URL", db.url.as_str())];
    let client = run_cli(
        &[
            "client",
            "create",
            "--name",
            "load",
            "--token-format",
            "opaque",
            "--json",
        ],
        &env,
        None,
    )
    .ok_json();
    let (served, _dir) = Served::start(&db.url, &[("MONBAN_RATE_LIMIT_TOKEN", "off")]);
    served.wait_ready().await;
    let port = served.port;
    let (id, secret) = (
        client["client_id"].as_str().unwrap(),
        client["client_secret"].as_str().unwrap(),
    );
    let basic = {
        use base64::Engine;
        let pair = format!(
            "{}:{}",
            crate::helpers::urlencode(id),
            crate::helpers::urlencode(secret)
        );
        base64::engine::general_purpose::STANDARD.encode(pair)
    };
    let form = "grant_type=client_credentials";
    // Token requests write to the database; JWKS ones are the quick kind.
    let token = format!(
        "POST /token HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Basic {basic}\r\nContent-Type: application/x-www-form-urlencoded\r\nContent-Length: {}\r\n\r\n{form}",
        form.len()
    );
    let jwks = "GET /jwks HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n".to_owned();
    let signalled = Arc::new(AtomicBool::new(false));
    let tally = Arc::new(Tally::default());
    let workers: Vec<_> = (0..16)
        .map(|i| {
            let request = Arc::new(if i % 2 == 0 { &token } else { &jwks }.clone().into_bytes());
            tokio::spawn(keep_asking(
                port,
                request,
                Arc::clone(&signalled),
                Arc::clone(&tally),
            ))
        })
        .collect();
    tokio::time::sleep(Duration::from_millis(1500)).await;
    let before = tally.answered.load(Ordering::SeqCst);
    signalled.store(true, Ordering::SeqCst);
    let stopping = Instant::now();
    served.signal("TERM");
    for worker in workers {
        worker.await.unwrap();
    }
    let (code, _, stderr) =
        tokio::task::spawn_blocking(move || served.exited_within(Duration::from_secs(10)))
            .await
            .unwrap();
    let took = stopping.elapsed();
    let t = |n: &AtomicUsize| n.load(Ordering::SeqCst);
    let summary = format!(
        "{} answered ({before} before the signal), {} not 200 (last: {}), {} cut, {} closing answers, {} new connections refused, stopped in {took:?}",
        t(&tally.answered),
        t(&tally.refused_answers),
        t(&tally.last_refusal),
        t(&tally.cut),
        t(&tally.closing_answers),
        t(&tally.new_connections_refused),
    );
    eprintln!("{summary}");
    assert_eq!(code, 0, "{summary}: {stderr}");
    assert!(before > 100, "the load ran: {summary}");
    assert_eq!(t(&tally.cut), 0, "{summary}");
    assert_eq!(t(&tally.refused_answers), 0, "{summary}");
    assert!(t(&tally.closing_answers) >= 1, "{summary}");
    assert_eq!(t(&tally.new_connections_refused), 16, "{summary}");
    assert!(took < Duration::from_secs(10), "{summary}");
    assert!(stderr.contains("shutting down"), "{stderr}");
    assert!(stderr.contains("monban stopped"), "{stderr}");
}

/// A request whose body never comes keeps a graceful stop waiting, up to
/// its limit; a second signal ends the process at once.
#[tokio::test]
async fn a_stuck_request_delays_the_stop_by_10_s_at_most_and_a_second_signal_not_at_all() {
    let db = TestDatabase::create(crate::helpers::Backend::Sqlite)
        .await
        .unwrap();
    for second in [None, Some("TERM"), Some("INT")] {
        let (served, _dir) = Served::start(&db.url, &[]);
        served.wait_ready().await;
        let mut stuck = TcpStream::connect(("127.0.0.1", served.port))
            .await
            .unwrap();
        stuck
            .write_all(
                b"POST /token HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/x-www-form-urlencoded\r\nContent-Length: 100\r\n\r\ngrant",
            )
            .await
            .unwrap();
        tokio::time::sleep(Duration::from_millis(200)).await;
        served.signal("TERM");
        let mut signalled = Instant::now();
        let limit = match second {
            None => Duration::from_secs(10),
            Some(signal) => {
                tokio::time::sleep(Duration::from_millis(2500)).await;
                served.signal(signal);
                signalled = Instant::now();
                Duration::from_secs(1)
            }
        };
        let (code, _, stderr) =
            tokio::task::spawn_blocking(move || served.exited_within(Duration::from_secs(12)))
                .await
                .unwrap();
        let took = signalled.elapsed();
        assert!(took < limit, "{second:?}: stopped after {took:?}");
        match second {
            None => {
                assert!(
                    took > Duration::from_secs(5),
                    "the stuck request was waited for: {took:?}"
                );
                assert_eq!(code, 0, "{stderr}");
                assert!(stderr.contains("still in flight"), "{stderr}");
            }
            Some(_) => {
                assert_eq!(code, 1, "{second:?}: {stderr}");
                assert!(stderr.contains("second stop signal"), "{stderr}");
            }
        }
        drop(stuck);
    }
}
