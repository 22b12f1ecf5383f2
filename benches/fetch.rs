//! Fetch benchmark: `kessai fetch` beside `newsboat -x reload` on the same loopback feeds.
//!
//! A generator makes N feeds (default 200) of M items (default 50) of Japanese payment-
//! security news (RSS 2.0, UTF-8, ETag + Last-Modified, 304 on a matching If-None-Match or
//! If-Modified-Since) and serves them, and one article page per item, from a thread-per-
//! connection HTTP/1.1 server on 127.0.0.1. Each client runs under `/usr/bin/time -v`, cold
//! (empty store / cache) and warm (the same store / cache again), REPEAT times; the table
//! gives medians of wall time, CPU time (user + system) and peak RSS.
//!
//! kessai runs with `full_text = false` (newsboat reads only the feeds) and with tagging, as
//! `kessai fetch` always tags; one extra cold run with full text on fetches all N×M pages.
//!
//! `KESSAI_BENCH_BASELINE=/path/to/older/kessai` adds that binary's cold and warm runs to
//! every round (a before/after under the same machine load).
//!
//! Run (see benches/RESULTS.md):
//!   CARGO_PROFILE_DEV_OPT_LEVEL=2 cargo bench --profile dev --bench fetch -- [FEEDS ITEMS REPEAT]
//! Needs `/usr/bin/time` and, for the comparison, `newsboat` (Debian: apt-get install newsboat).

use std::fmt::Write as _;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::{Duration, Instant};

// ------------------------------------------------------------------ the generated feeds

#[path = "support/feedgen.rs"]
mod feedgen;
use feedgen::{Site, generate};

// ------------------------------------------------------------------ the server

const ETAG: &str = "\"bench-v1\"";
const LAST_MODIFIED: &str = "Fri, 30 Oct 2026 00:00:00 GMT";

struct Server {
    base: String,
    stop: Arc<AtomicBool>,
    requests: Arc<AtomicUsize>,
    not_modified: Arc<AtomicUsize>,
}

/// Thread per connection (no pool to starve), HTTP/1.1 keep-alive, GET only.
fn serve(feeds: usize, items: usize) -> Server {
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind 127.0.0.1");
    let base = format!("http://{}", listener.local_addr().expect("addr"));
    let site = Arc::new(generate(&base, feeds, items));
    let stop = Arc::new(AtomicBool::new(false));
    let requests = Arc::new(AtomicUsize::new(0));
    let not_modified = Arc::new(AtomicUsize::new(0));
    listener.set_nonblocking(true).expect("nonblocking");
    let (s, r, nm) = (stop.clone(), requests.clone(), not_modified.clone());
    std::thread::spawn(move || {
        while !s.load(Ordering::SeqCst) {
            match listener.accept() {
                Ok((sock, _)) => {
                    let (site, r, nm) = (site.clone(), r.clone(), nm.clone());
                    std::thread::spawn(move || {
                        let _ = connection(sock, &site, &r, &nm);
                    });
                }
                Err(_) => std::thread::sleep(Duration::from_millis(2)),
            }
        }
    });
    Server {
        base,
        stop,
        requests,
        not_modified,
    }
}

fn connection(
    sock: TcpStream,
    site: &Site,
    requests: &AtomicUsize,
    not_modified: &AtomicUsize,
) -> std::io::Result<()> {
    sock.set_nonblocking(false)?;
    // One write per response and no Nagle: otherwise a delayed ACK costs ~40 ms a request.
    sock.set_nodelay(true)?;
    sock.set_read_timeout(Some(Duration::from_secs(30)))?;
    let mut reader = BufReader::new(sock.try_clone()?);
    let mut writer = sock;
    loop {
        let mut line = String::new();
        if reader.read_line(&mut line)? == 0 {
            return Ok(());
        }
        let path = line.split_whitespace().nth(1).unwrap_or("/").to_string();
        let (mut inm, mut ims, mut close) = (None, None, false);
        loop {
            let mut h = String::new();
            if reader.read_line(&mut h)? == 0 {
                return Ok(());
            }
            let h = h.trim_end();
            if h.is_empty() {
                break;
            }
            if let Some((k, v)) = h.split_once(':') {
                match k.trim().to_ascii_lowercase().as_str() {
                    "if-none-match" => inm = Some(v.trim().to_string()),
                    "if-modified-since" => ims = Some(v.trim().to_string()),
                    "connection" => close = v.trim().eq_ignore_ascii_case("close"),
                    _ => {}
                }
            }
        }
        requests.fetch_add(1, Ordering::Relaxed);
        let body = route(site, &path);
        let head = match body {
            None => "HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\n".to_string(),
            Some(_) if inm.as_deref() == Some(ETAG) || ims.as_deref() == Some(LAST_MODIFIED) => {
                not_modified.fetch_add(1, Ordering::Relaxed);
                format!(
                    "HTTP/1.1 304 Not Modified\r\nETag: {ETAG}\r\nLast-Modified: {LAST_MODIFIED}\r\n"
                )
            }
            Some((b, ct)) => format!(
                "HTTP/1.1 200 OK\r\nContent-Type: {ct}\r\nContent-Length: {}\r\nETag: {ETAG}\r\nLast-Modified: {LAST_MODIFIED}\r\n",
                b.len()
            ),
        };
        writer.write_all(head.as_bytes())?;
        writer.write_all(if close {
            b"Connection: close\r\n\r\n"
        } else {
            b"\r\n"
        })?;
        if let Some((b, _)) = body
            && !head.starts_with("HTTP/1.1 304")
        {
            writer.write_all(b)?;
        }
        writer.flush()?;
        if close {
            return Ok(());
        }
    }
}

fn route<'a>(site: &'a Site, path: &str) -> Option<(&'a [u8], &'static str)> {
    let rest = path.strip_prefix("/f")?;
    let (f, tail) = rest.split_once('/')?;
    let f: usize = f.parse().ok()?;
    if tail == "feed.xml" {
        return site
            .feeds
            .get(f)
            .map(|b| (b.as_slice(), "application/rss+xml; charset=utf-8"));
    }
    let i: usize = tail
        .strip_prefix('a')?
        .strip_suffix(".html")?
        .parse()
        .ok()?;
    site.pages
        .get(f)?
        .get(i)
        .map(|b| (b.as_slice(), "text/html; charset=utf-8"))
}

// ------------------------------------------------------------------ measuring

#[derive(Debug, Clone, Copy)]
struct Measure {
    wall: f64,
    cpu: f64,
    rss_mb: f64,
}

/// Runs a command under `/usr/bin/time -v` and reads wall time, CPU time and peak RSS.
fn measure(cmd: Command, what: &str) -> Measure {
    let out_path = std::env::temp_dir().join(format!("kessai-bench-time-{}", std::process::id()));
    let program = cmd.get_program().to_owned();
    let args: Vec<_> = cmd.get_args().map(|a| a.to_owned()).collect();
    let envs: Vec<_> = cmd
        .get_envs()
        .filter_map(|(k, v)| v.map(|v| (k.to_owned(), v.to_owned())))
        .collect();
    let mut timed = Command::new("/usr/bin/time");
    timed
        .arg("-v")
        .arg("-o")
        .arg(&out_path)
        .arg(program)
        .args(args);
    for (k, v) in envs {
        timed.env(k, v);
    }
    if let Some(dir) = cmd.get_current_dir() {
        timed.current_dir(dir);
    }
    let started = Instant::now();
    let output = timed.output().unwrap_or_else(|e| panic!("{what}: {e}"));
    let wall_measured = started.elapsed().as_secs_f64();
    let report = std::fs::read_to_string(&out_path).unwrap_or_default();
    let _ = std::fs::remove_file(&out_path);
    if !output.status.success() {
        eprintln!(
            "{what} exited with {}:\n{}\n{}",
            output.status,
            String::from_utf8_lossy(&output.stdout),
            String::from_utf8_lossy(&output.stderr)
        );
    }
    let field = |name: &str| {
        report
            .lines()
            .find_map(|l| l.trim().strip_prefix(name).map(|v| v.trim().to_string()))
    };
    let num = |name: &str| {
        field(name)
            .and_then(|v| v.parse::<f64>().ok())
            .unwrap_or(0.0)
    };
    let wall = field("Elapsed (wall clock) time (h:mm:ss or m:ss):")
        .map(|v| {
            v.split(':')
                .map(|p| p.parse::<f64>().unwrap_or(0.0))
                .fold(0.0, |acc, x| acc * 60.0 + x)
        })
        .unwrap_or(wall_measured);
    Measure {
        wall,
        cpu: num("User time (seconds):") + num("System time (seconds):"),
        rss_mb: num("Maximum resident set size (kbytes):") / 1024.0,
    }
}

/// One line per measured run, with the machine's load average when it ended.
fn print_run(round: usize, what: &str, m: Measure) {
    let load = std::fs::read_to_string("/proc/loadavg")
        .ok()
        .and_then(|l| l.split_whitespace().next().map(str::to_string))
        .unwrap_or_else(|| "?".into());
    println!(
        "round {round}: {what}: {:.2} s wall, {:.2} s CPU, {:.0} MB (load {load})",
        m.wall, m.cpu, m.rss_mb
    );
}

fn median(mut xs: Vec<Measure>) -> Measure {
    let mid = |v: &mut Vec<f64>| {
        v.sort_by(|a, b| a.total_cmp(b));
        v[v.len() / 2]
    };
    let mut w: Vec<f64> = xs.iter().map(|m| m.wall).collect();
    let mut c: Vec<f64> = xs.iter().map(|m| m.cpu).collect();
    let mut r: Vec<f64> = xs.iter().map(|m| m.rss_mb).collect();
    xs.clear();
    Measure {
        wall: mid(&mut w),
        cpu: mid(&mut c),
        rss_mb: mid(&mut r),
    }
}

fn kessai_config(base: &str, feeds: usize, full_text: bool) -> String {
    let mut s = String::from(
        "[settings]\nconcurrency = 8\nper_host_concurrency = 8\nretries = 1\n\n[limits]\nrequest_timeout_secs = 60\n\n",
    );
    for f in 0..feeds {
        let _ = writeln!(
            s,
            "[[feed]]\nname = \"bench-{f}\"\nurl = \"{base}/f{f}/feed.xml\"\nformat = \"rss\"\nfull_text = {full_text}\n"
        );
    }
    s
}

fn kessai_run(dir: &Path, config: &Path, store: &Path) -> Command {
    kessai_run_with(Path::new(env!("CARGO_BIN_EXE_kessai")), dir, config, store)
}

fn kessai_run_with(bin: &Path, dir: &Path, config: &Path, store: &Path) -> Command {
    let mut c = Command::new(bin);
    c.current_dir(dir)
        .arg("--config")
        .arg(config)
        .arg("--store")
        .arg(store)
        .arg("fetch")
        .arg("--quiet")
        .env_remove("KESSAI_STORE")
        .env_remove("KESSAI_CONFIG");
    c
}

fn newsboat_run(dir: &Path, urls: &Path, conf: &Path, cache: &Path) -> Command {
    let mut c = Command::new("newsboat");
    c.current_dir(dir)
        .env("HOME", dir)
        .arg("-x")
        .arg("reload")
        .arg("-u")
        .arg(urls)
        .arg("-C")
        .arg(conf)
        .arg("-c")
        .arg(cache);
    c
}

fn fresh_dir(root: &Path, name: &str) -> PathBuf {
    let d = root.join(name);
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir_all(&d).expect("mkdir");
    d
}

fn main() {
    let args: Vec<usize> = std::env::args()
        .skip(1)
        .filter_map(|a| a.parse().ok())
        .collect();
    let feeds = args.first().copied().unwrap_or(200);
    let items = args.get(1).copied().unwrap_or(50);
    let repeat = args.get(2).copied().unwrap_or(3).max(1);
    let server = serve(feeds, items);
    let root = std::env::temp_dir().join(format!("kessai-bench-fetch-{}", std::process::id()));
    std::fs::create_dir_all(&root).expect("mkdir");
    let feed_bytes: usize = {
        let mut n = 0;
        for f in 0..feeds {
            let mut s =
                TcpStream::connect(server.base.trim_start_matches("http://")).expect("connect");
            let _ = write!(
                s,
                "GET /f{f}/feed.xml HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"
            );
            let mut buf = Vec::new();
            let _ = s.read_to_end(&mut buf);
            n += buf.len();
        }
        n
    };
    println!(
        "{feeds} feeds x {items} items on {} ({:.1} MB of feeds), {repeat} run(s) each",
        server.base,
        feed_bytes as f64 / 1e6
    );

    let config_path = root.join("feeds.toml");
    std::fs::write(&config_path, kessai_config(&server.base, feeds, false)).expect("config");
    if let Ok(secs) = std::env::var("KESSAI_BENCH_SERVE_SECS") {
        // Profiling aid: serve for a while and let someone else run the clients.
        println!("serving; kessai config at {}", config_path.display());
        std::thread::sleep(Duration::from_secs(secs.parse().unwrap_or(300)));
        return;
    }
    let full_config = root.join("feeds-full.toml");
    std::fs::write(&full_config, kessai_config(&server.base, feeds, true)).expect("config");
    let urls = root.join("urls");
    let mut u = String::new();
    for f in 0..feeds {
        let _ = writeln!(u, "{}/f{f}/feed.xml", server.base);
    }
    std::fs::write(&urls, u).expect("urls");
    let nb_conf = root.join("newsboat.conf");
    std::fs::write(
        &nb_conf,
        "reload-threads 4\ndownload-retries 1\ndownload-timeout 60\n",
    )
    .expect("newsboat config");
    let have_newsboat = Command::new("newsboat").arg("-v").output().is_ok();

    // Optional: an older kessai binary measured in the same rounds (before/after on the
    // same machine load).
    let baseline = std::env::var_os("KESSAI_BENCH_BASELINE").map(PathBuf::from);
    let mut rows: Vec<(String, Measure)> = Vec::new();
    let (mut k_cold, mut k_warm, mut n_cold, mut n_warm, mut n_third) =
        (Vec::new(), Vec::new(), Vec::new(), Vec::new(), Vec::new());
    let (mut b_cold, mut b_warm) = (Vec::new(), Vec::new());
    // The cold runs of the tools follow each other in every round, so that the other load
    // on the machine hits them alike; the order rotates from round to round.
    for r in 0..repeat {
        let run_dir = fresh_dir(&root, &format!("run{r}"));
        let store = run_dir.join("store");
        let base_store = run_dir.join("store-baseline");
        let cache = run_dir.join("cache.db");
        let mut order = vec!["kessai", "newsboat", "baseline"];
        order.rotate_left(r % 3);
        for tool in order {
            match tool {
                "kessai" => {
                    let m = measure(kessai_run(&run_dir, &config_path, &store), "kessai cold");
                    print_run(r, "kessai cold", m);
                    k_cold.push(m);
                }
                "baseline" => {
                    if let Some(bin) = &baseline {
                        let m = measure(
                            kessai_run_with(bin, &run_dir, &config_path, &base_store),
                            "baseline cold",
                        );
                        print_run(r, "baseline kessai cold", m);
                        b_cold.push(m);
                    }
                }
                _ => {
                    if have_newsboat {
                        let m = measure(
                            newsboat_run(&run_dir, &urls, &nb_conf, &cache),
                            "newsboat cold",
                        );
                        print_run(r, "newsboat cold", m);
                        n_cold.push(m);
                    }
                }
            }
        }
        let before = server.not_modified.load(Ordering::SeqCst);
        let m = measure(kessai_run(&run_dir, &config_path, &store), "kessai warm");
        let warm_304 = server.not_modified.load(Ordering::SeqCst) - before;
        print_run(r, &format!("kessai warm ({warm_304} answers 304)"), m);
        k_warm.push(m);
        if let Some(bin) = &baseline {
            let m = measure(
                kessai_run_with(bin, &run_dir, &config_path, &base_store),
                "baseline warm",
            );
            print_run(r, "baseline kessai warm", m);
            b_warm.push(m);
        }
        if have_newsboat {
            let before = server.not_modified.load(Ordering::SeqCst);
            let m = measure(
                newsboat_run(&run_dir, &urls, &nb_conf, &cache),
                "newsboat second",
            );
            let second_304 = server.not_modified.load(Ordering::SeqCst) - before;
            print_run(r, &format!("newsboat second ({second_304} answers 304)"), m);
            n_warm.push(m);
            let before = server.not_modified.load(Ordering::SeqCst);
            let m = measure(
                newsboat_run(&run_dir, &urls, &nb_conf, &cache),
                "newsboat third",
            );
            let third_304 = server.not_modified.load(Ordering::SeqCst) - before;
            print_run(r, &format!("newsboat third ({third_304} answers 304)"), m);
            n_third.push(m);
        }
        // The stores of a round are not needed after it (disk space).
        let _ = std::fs::remove_dir_all(&run_dir);
    }
    rows.push((
        "kessai fetch, cold (tagging included)".into(),
        median(k_cold),
    ));
    rows.push(("kessai fetch, warm (second run)".into(), median(k_warm)));
    if baseline.is_some() {
        rows.push(("baseline kessai fetch, cold".into(), median(b_cold)));
        rows.push(("baseline kessai fetch, warm".into(), median(b_warm)));
    }
    if have_newsboat {
        rows.push(("newsboat -x reload, cold".into(), median(n_cold)));
        rows.push(("newsboat -x reload, second run".into(), median(n_warm)));
        rows.push(("newsboat -x reload, third run".into(), median(n_third)));
    }
    let full_dir = fresh_dir(&root, "full");
    let before = server.requests.load(Ordering::SeqCst);
    let full = measure(
        kessai_run(&full_dir, &full_config, &full_dir.join("store")),
        "kessai full text",
    );
    let page_requests = server.requests.load(Ordering::SeqCst) - before;
    rows.push((
        format!("kessai fetch, cold, full text on ({page_requests} requests)"),
        full,
    ));

    println!("\n| run | wall (median) | CPU user+sys | peak RSS |\n|---|---|---|---|");
    for (name, m) in &rows {
        println!(
            "| {name} | {:.2} s | {:.2} s | {:.0} MB |",
            m.wall, m.cpu, m.rss_mb
        );
    }
    server.stop.store(true, Ordering::SeqCst);
    let _ = std::fs::remove_dir_all(&root);
}
