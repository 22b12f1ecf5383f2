//! A loopback server (127.0.0.1 only, started by the test) serving every class of hostile
//! feed and page the hardening issue names, shared by `tests/ingest.rs` and
//! `benches/hostile.rs` so the test and the benchmark fetch the same things.
#![allow(dead_code)] // each includer uses a part

use std::io::{Read, Write};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use kessai::config::{FeedConfig, Limits, Settings};

/// A response header.
pub fn header(name: &str, value: &str) -> tiny_http::Header {
    tiny_http::Header::from_bytes(name.as_bytes(), value.as_bytes()).unwrap()
}

/// Answers a request path (None: 404).
pub type Handler = Arc<dyn Fn(&str) -> Option<tiny_http::ResponseBox> + Send + Sync>;

/// A loopback server answering from a handler; stops on drop.
pub struct Hostile {
    /// `http://127.0.0.1:PORT`.
    pub base: String,
    server: Arc<tiny_http::Server>,
    hits: Arc<Mutex<Vec<String>>>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl Hostile {
    /// Starts a server answering from `handler`.
    pub fn start(handler: Handler) -> Hostile {
        let server = Arc::new(tiny_http::Server::http("127.0.0.1:0").unwrap());
        let base = format!("http://{}", server.server_addr().to_ip().unwrap());
        let hits = Arc::new(Mutex::new(Vec::new()));
        let (s2, h2) = (server.clone(), hits.clone());
        let thread = std::thread::spawn(move || {
            for req in s2.incoming_requests() {
                let path = req.url().to_string();
                h2.lock().unwrap().push(path.clone());
                let handler = handler.clone();
                std::thread::spawn(move || {
                    let resp =
                        handler(&path).unwrap_or_else(|| tiny_http::Response::empty(404).boxed());
                    let _ = req.respond(resp);
                });
            }
        });
        Hostile {
            base,
            server,
            hits,
            thread: Some(thread),
        }
    }

    /// Starts the server of every hostile class ([`hostile_handler`]).
    pub fn every_class() -> Hostile {
        let base = Arc::new(Mutex::new(String::new()));
        // Made before any client asks, so no request waits for it.
        bomb();
        let h = Hostile::start(hostile_handler(base.clone()));
        *base.lock().unwrap() = h.base.clone();
        h
    }

    /// The absolute URL of `path`.
    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    /// Requests whose path starts with `prefix`.
    pub fn hits(&self, prefix: &str) -> usize {
        self.hits
            .lock()
            .unwrap()
            .iter()
            .filter(|p| p.starts_with(prefix))
            .count()
    }
}

impl Drop for Hostile {
    fn drop(&mut self) {
        self.server.unblock();
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

/// An RSS 2.0 document around `items`.
pub fn rss(items: &str) -> String {
    format!(
        "<?xml version=\"1.0\" encoding=\"UTF-8\"?><rss version=\"2.0\"><channel><title>t</title>{items}</channel></rss>"
    )
}

/// A 200 response with a content type.
pub fn xml_response(body: impl Into<Vec<u8>>, content_type: &str) -> tiny_http::ResponseBox {
    tiny_http::Response::from_data(body.into())
        .with_header(header("Content-Type", content_type))
        .boxed()
}

/// A reader of `n` bytes of `b`, produced lazily.
pub struct Fill(pub usize, pub u8);
impl Read for Fill {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let n = buf.len().min(self.0);
        buf[..n].fill(self.1);
        self.0 -= n;
        Ok(n)
    }
}

/// A feed that starts well and then drips: a 1 KiB write (tiny_http's buffer) every
/// `every`, at most `writes` times (bounded, so a client that never gives up still ends).
pub struct Drip {
    head: Vec<u8>,
    every: Duration,
    writes: usize,
}
impl Read for Drip {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        if !self.head.is_empty() {
            let n = buf.len().min(self.head.len());
            buf[..n].copy_from_slice(&self.head[..n]);
            self.head.drain(..n);
            return Ok(n);
        }
        if self.writes == 0 {
            return Ok(0);
        }
        self.writes -= 1;
        std::thread::sleep(self.every);
        let n = buf.len().min(1024);
        buf[..n].fill(b' ');
        Ok(n)
    }
}

/// 64 MiB of spaces, gzipped (about 64 KiB), made once per process.
pub fn bomb() -> &'static [u8] {
    static BOMB: std::sync::OnceLock<Vec<u8>> = std::sync::OnceLock::new();
    BOMB.get_or_init(|| {
        let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::best());
        let block = vec![b' '; 1 << 20];
        for _ in 0..64 {
            e.write_all(&block).unwrap();
        }
        e.finish().unwrap()
    })
}

/// Every terminal attack in one string: OSC 0/2 (title), OSC 52 (clipboard), OSC 8
/// (hyperlink), CSI clear screen and cursor moves, 8-bit C1 CSI/OSC, a bidi override and
/// isolate, a BEL, a carriage return, DEL.
pub const ESCAPES: &str = "\u{1b}]0;pwned-title\u{7}\u{1b}]2;pwned-title2\u{1b}\\\u{1b}]52;c;cHduZWQ=\u{7}\u{1b}]8;;http://127.0.0.1:9/evil\u{1b}\\link\u{1b}]8;;\u{1b}\\\u{1b}[2J\u{1b}[H\u{1b}[10;10H\u{1b}[31m\u{9b}2J\u{9d}0;c1-title\u{9c}\u{202e}gnp.exe\u{202c}\u{2066}x\u{2069}\u{7}\r\u{7f}";

/// Whether `s` holds anything a terminal would act on: ESC, C0/C1 controls (other than
/// newline and tab) or bidi controls.
pub fn has_terminal_controls(s: &str) -> bool {
    s.chars()
        .any(|c| (c.is_control() && c != '\n' && c != '\t') || kessai::sanitize::is_bidi_control(c))
}

/// The server of every hostile class, plus good feeds and pages. `base` is filled in with
/// the server's base URL once it is known (links in feeds are absolute).
pub fn hostile_handler(base: Arc<Mutex<String>>) -> Handler {
    Arc::new(move |path: &str| {
        let base = base.lock().unwrap().clone();
        let item = |i: usize, title: &str| {
            format!(
                "<item><title>{title}</title><link>{base}/page/{i}</link><guid>g{i}</guid><description>要約{i}：決済サービスで不正利用が発生した。</description></item>"
            )
        };
        Some(match path {
            "/good.xml" => xml_response(
                rss(&(1..=3).map(|i| item(i, &format!("正常な記事{i}"))).collect::<String>()),
                "application/rss+xml; charset=utf-8",
            ),
            "/good-atom.xml" => xml_response(
                format!(
                    "<?xml version=\"1.0\" encoding=\"UTF-8\"?><feed xmlns=\"http://www.w3.org/2005/Atom\"><title>atom</title><id>urn:a</id><updated>2026-11-27T00:00:00Z</updated>{}</feed>",
                    (20..=24)
                        .map(|i| format!("<entry><title>Atomの記事{i}</title><id>urn:a:{i}</id><updated>2026-11-27T00:00:00Z</updated><link href=\"{base}/page/{i}\"/><summary>Atom要約{i}</summary></entry>"))
                        .collect::<String>()
                ),
                "application/atom+xml",
            ),
            p if p.starts_with("/page/") => tiny_http::Response::from_string(
                "<html><body><div class=\"article-body\"><p>本文の段落です。キャッシュレス決済の不正利用について、事業者が調査結果を公表した。</p><p>二つ目の段落です。被害額は約1,000万円に上るという。</p></div><aside class=\"related\"><h2>関連記事</h2></aside></body></html>"
            )
            .with_header(header("Content-Type", "text/html; charset=utf-8"))
            .boxed(),
            "/deep-page.xml" => xml_response(
                rss(&format!(
                    "<item><title>深い入れ子のページ</title><link>{base}/deep/1</link></item>"
                )),
                "application/rss+xml",
            ),
            "/deep/1" => {
                let n = 200_000;
                tiny_http::Response::from_string(format!(
                    "<html><body>{}<p>入れ子の奥にある本文の段落。決済の不正利用の記事である。</p>{}</body></html>",
                    "<div>".repeat(n),
                    "</div>".repeat(n)
                ))
                .boxed()
            }
            "/bomb.xml" => tiny_http::Response::from_data(bomb().to_vec())
                .with_header(header("Content-Encoding", "gzip"))
                .boxed(),
            "/big.xml" => tiny_http::Response::new(200.into(), vec![], Fill(64 << 20, b' '), None, None)
                .boxed(),
            // No end at all (chunked, no length): only the client's limit stops it.
            "/endless.xml" => tiny_http::Response::new(
                200.into(),
                vec![header("Content-Type", "application/rss+xml")],
                std::io::Cursor::new(rss("").into_bytes()).chain(Fill(usize::MAX, b' ')),
                None,
                None,
            )
            .boxed(),
            // One KiB every 300 ms: never done before any sane deadline.
            "/drip.xml" => tiny_http::Response::new(
                200.into(),
                vec![header("Content-Type", "application/rss+xml")],
                Drip {
                    head: b"<?xml version=\"1.0\"?><rss version=\"2.0\"><channel><title>drip</title>".to_vec(),
                    every: Duration::from_millis(300),
                    writes: 2000,
                },
                None,
                None,
            )
            .boxed(),
            "/loop-a.xml" => tiny_http::Response::empty(302)
                .with_header(header("Location", "/loop-b.xml"))
                .boxed(),
            "/loop-b.xml" => tiny_http::Response::empty(302)
                .with_header(header("Location", "/loop-a.xml"))
                .boxed(),
            "/to-file.xml" => tiny_http::Response::empty(302)
                .with_header(header("Location", "file:///etc/passwd"))
                .boxed(),
            "/html.xml" => tiny_http::Response::from_string(
                "<!DOCTYPE html><html><head><title>ようこそ</title></head><body><p>フィードではありません</p></body></html>",
            )
            .with_header(header("Content-Type", "text/html"))
            .boxed(),
            "/mislabelled.xml" => {
                let doc = rss(&item(10, "シフトJISなのにUTF-8と名乗るフィード"));
                let (bytes, _, _) = encoding_rs::SHIFT_JIS.encode(&doc);
                xml_response(bytes.into_owned(), "application/rss+xml; charset=utf-8")
            }
            "/binary.xml" => xml_response(
                (0..4096u32).map(|i| (i.wrapping_mul(2_654_435_761) >> 13) as u8).collect::<Vec<u8>>(),
                "application/rss+xml",
            ),
            "/garbage.xml" => xml_response(
                (0..4096).map(|i| [0x80u8, 0xA0, 0xFD, 0xFF][i % 4]).collect::<Vec<u8>>(),
                "application/rss+xml",
            ),
            "/empty.xml" => xml_response(Vec::new(), "application/rss+xml"),
            "/403.xml" => tiny_http::Response::from_string("no").with_status_code(403).boxed(),
            "/404.xml" => tiny_http::Response::from_string("gone").with_status_code(404).boxed(),
            "/500.xml" => tiny_http::Response::from_string("oops").with_status_code(500).boxed(),
            "/503.xml" => tiny_http::Response::from_string("busy").with_status_code(503).boxed(),
            "/laughs.xml" => xml_response(
                format!(
                    "<?xml version=\"1.0\"?><!DOCTYPE rss [<!ENTITY a \"aaaaaaaaaa\">{}]><rss version=\"2.0\"><channel><title>&e9;</title></channel></rss>",
                    (1..10)
                        .map(|i| format!("<!ENTITY e{i} \"{}\">", format!("&e{};", i - 1).replace("&e0;", "&a;").repeat(10)))
                        .collect::<String>()
                ),
                "application/rss+xml",
            ),
            "/xxe.xml" => xml_response(
                "<?xml version=\"1.0\"?><!DOCTYPE rss [<!ENTITY xxe SYSTEM \"file:///etc/passwd\">]><rss version=\"2.0\"><channel><title>t</title><item><title>&xxe;</title><link>/x</link></item></channel></rss>",
                "application/rss+xml",
            ),
            "/truncated.xml" => {
                let doc = rss(&(1..=3).map(|i| item(100 + i, "途中で切れるフィード")).collect::<String>());
                xml_response(doc[..doc.len() - 40].to_string(), "application/rss+xml")
            }
            "/one-guid.xml" => xml_response(
                rss(&(0..1000)
                    .map(|i| format!("<item><title>同じGUID {i}</title><link>{base}/page/500</link><guid>same-guid</guid></item>"))
                    .collect::<String>()),
                "application/rss+xml",
            ),
            // 1,000 distinct items: more than any sane max_items_per_feed.
            "/many.xml" => xml_response(
                rss(&(0..1000)
                    .map(|i| format!("<item><title>大量の記事{i}</title><link>{base}/many/{i}</link><guid>many-{i}</guid><description>大量フィードの要約{i}。</description></item>"))
                    .collect::<String>()),
                "application/rss+xml",
            ),
            // A 5,000-character title and an article page far longer than max_body_chars.
            "/long.xml" => xml_response(
                rss(&format!(
                    "<item><title>{}</title><link>{base}/long-page/1</link><guid>long-1</guid><description>長い記事の要約。</description></item>",
                    "長い見出し".repeat(1000)
                )),
                "application/rss+xml",
            ),
            "/long-page/1" => tiny_http::Response::from_string(format!(
                "<html><body><article>{}</article></body></html>",
                "<p>長い本文の段落です。決済サービスの不正利用について事業者が詳しく説明した。同じ段落が何度も続く。</p>".repeat(2000)
            ))
            .with_header(header("Content-Type", "text/html; charset=utf-8"))
            .boxed(),
            "/escapes.xml" => xml_response(
                rss(&format!(
                    "<item><title>\u{1b}]0;pwned\u{7}\u{1b}[2J赤字 &lt;script&gt;alert(1)&lt;/script&gt;\u{202e}逆順</title><link>{base}/page/600</link><description>\u{1b}[31m本文\u{9b}31m</description></item>"
                )),
                "application/rss+xml",
            ),
            // Titles and a page body full of escape sequences and markup, raw and as
            // numeric character references (which the XML parser turns back into ESC).
            "/escape-page.xml" => {
                let refs: String = ESCAPES
                    .chars()
                    .map(|c| if c.is_control() || c as u32 >= 0x2000 { format!("&#{};", c as u32) } else { escape_xml(c) })
                    .collect();
                xml_response(
                    rss(&format!(
                        "<item><title>制御文字{refs}の見出し</title><link>{base}/escape-page/1</link><guid>esc-1</guid><description>&lt;img src=x onerror=alert(1)&gt;要約{refs}</description></item><item><title><![CDATA[<b onmouseover=\"alert(1)\">CDATA見出し</b>]]></title><link>{base}/escape-page/2</link><guid>esc-2</guid></item>"
                    )),
                    "application/rss+xml",
                )
            }
            p if p.starts_with("/escape-page/") => tiny_http::Response::from_string(format!(
                "<html><head><title>{e}</title><script>alert(1)</script></head><body><article><p>危険な本文{e}です。決済サービスの不正利用について説明する段落。</p><p onclick=\"alert(1)\">二つ目の段落<a href=\"javascript:alert(1)\">リンク</a>{e}も続く。被害は拡大している。</p><iframe src=\"file:///etc/passwd\"></iframe></article></body></html>",
                e = ESCAPES
            ))
            .with_header(header("Content-Type", "text/html; charset=utf-8"))
            .boxed(),
            // A link that leaves loopback: only for library tests with a loopback scope.
            "/offsite.xml" => xml_response(
                rss(
                    "<item><title>外部サイトの記事</title><link>https://example.com/news/1</link><description>外部サイトにある記事の要約である。決済の不正利用が起きた。</description></item>",
                ),
                "application/rss+xml",
            ),
            _ => return None,
        })
    })
}

fn escape_xml(c: char) -> String {
    match c {
        '<' => "&lt;".into(),
        '>' => "&gt;".into(),
        '&' => "&amp;".into(),
        c => c.to_string(),
    }
}

/// One hostile feed of the one-fetch-over-everything run: its name, path, and what its
/// line in the fetch report must say.
pub struct Class {
    /// Feed name.
    pub name: &'static str,
    /// Path on the hostile server.
    pub path: &'static str,
    /// `FAILED` (nothing stored), `LIMIT` (a limit hit, what fit stored) or `ok`.
    pub status: &'static str,
    /// Words the line must contain (the reason).
    pub reason: &'static str,
    /// Articles it stores (new).
    pub stores: usize,
    /// Fetch its pages (false for the 1,000-item feed, to keep the run short).
    pub full_text: bool,
}

const fn class(
    name: &'static str,
    path: &'static str,
    status: &'static str,
    reason: &'static str,
    stores: usize,
) -> Class {
    Class {
        name,
        path,
        status,
        reason,
        stores,
        full_text: true,
    }
}

/// Every class, under [`test_limits`].
pub fn classes() -> Vec<Class> {
    vec![
        class("good", "/good.xml", "ok", "", 3),
        class("good-atom", "/good-atom.xml", "ok", "", 5),
        class("drip", "/drip.xml", "FAILED", "timed out after 5 s", 0),
        class("bomb", "/bomb.xml", "FAILED", "after decompression", 0),
        class("big", "/big.xml", "FAILED", "on the wire", 0),
        class("endless", "/endless.xml", "FAILED", "on the wire", 0),
        class("loop", "/loop-a.xml", "FAILED", "redirect loop", 0),
        class(
            "to-file",
            "/to-file.xml",
            "FAILED",
            "\"file\" is not http or https",
            0,
        ),
        class("xxe", "/xxe.xml", "FAILED", "declares entities", 0),
        class("laughs", "/laughs.xml", "FAILED", "declares entities", 0),
        class("truncated", "/truncated.xml", "FAILED", "truncated", 0),
        class("binary", "/binary.xml", "FAILED", "binary data", 0),
        class("garbage", "/garbage.xml", "FAILED", "not valid in any", 0),
        class("empty", "/empty.xml", "FAILED", "empty body", 0),
        class("html", "/html.xml", "FAILED", "not a feed: an HTML page", 0),
        class("http-403", "/403.xml", "FAILED", "HTTP 403 Forbidden", 0),
        class("http-404", "/404.xml", "FAILED", "HTTP 404 Not Found", 0),
        class("http-500", "/500.xml", "FAILED", "HTTP 500", 0),
        class("http-503", "/503.xml", "FAILED", "HTTP 503", 0),
        // Decoded right (and a note says so), not stored as mojibake.
        class("mislabelled", "/mislabelled.xml", "ok", "", 1),
        class("one-guid", "/one-guid.xml", "ok", "", 1),
        class("deep-page", "/deep-page.xml", "ok", "", 1),
        class("escapes", "/escapes.xml", "ok", "", 1),
        class("escape-page", "/escape-page.xml", "ok", "", 2),
        Class {
            full_text: false,
            ..class(
                "many",
                "/many.xml",
                "LIMIT",
                "limit: 1,000 items > limits.max_items_per_feed 200; kept the first 200",
                200,
            )
        },
        class(
            "long",
            "/long.xml",
            "LIMIT",
            "limit: 1 title(s) longer than limits.max_title_chars 300; stored the first 300 characters; limit: 1 article body(ies) longer than limits.max_body_chars 20,000",
            1,
        ),
    ]
}

/// Sane test values: short deadlines (but not so short that a loaded 2-core machine misses
/// them for good feeds), a few MiB, 200 items.
pub fn test_limits() -> Limits {
    Limits {
        connect_timeout_secs: 3,
        request_timeout_secs: 5,
        max_body_bytes: 4 << 20,
        max_decoded_bytes: 8 << 20,
        max_redirects: 5,
        max_items_per_feed: 200,
        max_title_chars: 300,
        max_summary_chars: 2_000,
        max_body_chars: 20_000,
        ..Limits::default()
    }
}

/// A feeds.toml with these settings and limits, every class of `server`, and `extra` feeds.
pub fn config_text(
    server: &Hostile,
    settings: &Settings,
    limits: &Limits,
    extra: &[FeedConfig],
) -> String {
    #[derive(serde::Serialize)]
    struct Head<'a> {
        settings: &'a Settings,
        limits: &'a Limits,
    }
    let mut text = toml::to_string(&Head { settings, limits }).unwrap();
    text.push('\n');
    for c in classes() {
        let mut f = FeedConfig::new(c.name, server.url(c.path));
        if !c.full_text {
            f.full_text = Some(false);
        }
        text.push_str(&f.to_toml_block());
        text.push('\n');
    }
    for f in extra {
        text.push_str(&f.to_toml_block());
        text.push('\n');
    }
    text
}
