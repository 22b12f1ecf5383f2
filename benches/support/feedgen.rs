//! The fetch benchmarks' generator: N RSS 2.0 feeds of M items of Japanese payment-security
//! news, each item with an article page, the same bytes on every run. Shared by
//! `benches/fetch.rs` (served on loopback beside newsboat) and `benches/fetch_stages.rs`
//! (the same articles through each pipeline stage in one process).

use std::fmt::Write as _;

const SERVICES: &[&str] = &[
    "PayPay",
    "7pay",
    "ドコモ口座",
    "J-Coin Pay",
    "楽天ペイ",
    "LINE Pay",
    "メルペイ",
    "au PAY",
    "d払い",
    "ゆうちょ銀行",
    "Kyash",
    "FamiPay",
    "Suica",
    "nanaco",
    "WAON",
    "Bank Pay",
];
const EXCHANGES: &[&str] = &[
    "コインチェック",
    "Zaif",
    "DMMビットコイン",
    "bitFlyer",
    "BITPoint",
    "Liquid",
];
const THREATS: &[&str] = &[
    "不正利用",
    "不正アクセス",
    "フィッシング",
    "情報漏えい",
    "不正送金",
    "なりすまし",
    "ランサムウェア",
    "システム障害",
    "設定ミス",
    "脆弱性",
];
const CONTROLS: &[&str] = &[
    "二要素認証",
    "3Dセキュア",
    "eKYC",
    "IP制限",
    "コールドウォレット",
    "マルチシグ",
];
const ACTORS: &[&str] = &[
    "金融庁",
    "警察庁",
    "経済産業省",
    "個人情報保護委員会",
    "JPCERT/CC",
    "IPA",
];
const OPENERS: &[&str] = &[
    "同社によると、",
    "関係者の話では、",
    "発表によると、",
    "調査の結果、",
    "業界団体は、",
];
const CLOSERS: &[&str] = &[
    "再発防止策を急ぐ方針だ。",
    "利用者への補償を検討している。",
    "詳しい原因を調べている。",
    "対策の徹底を求めている。",
    "被害の全容はまだ分かっていない。",
];

/// A tiny deterministic generator, so every run serves the same bytes.
struct Rng(u64);
impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }
    fn pick<'a>(&mut self, xs: &[&'a str]) -> &'a str {
        xs[(self.next() % xs.len() as u64) as usize]
    }
}

struct Item {
    title: String,
    paragraphs: Vec<String>,
    published: String,
}

fn make_item(rng: &mut Rng, feed: usize, i: usize) -> Item {
    let svc = rng.pick(SERVICES);
    let ex = rng.pick(EXCHANGES);
    let th = rng.pick(THREATS);
    let ct = rng.pick(CONTROLS);
    let ac = rng.pick(ACTORS);
    let n = 100 + rng.next() % 90_000;
    let yen = 1 + rng.next() % 900;
    let title = format!("{svc}で{th}、約{n}件に影響　{ac}が{ct}の導入を要請");
    let mut paragraphs = Vec::new();
    for p in 0..4 {
        let mut s = String::new();
        for _ in 0..3 {
            let _ = write!(
                s,
                "{}{svc}の{th}について、{ac}は{}月{}日、被害額が約{yen}億円に上ると明らかにした。{ex}でも同様の{}が確認されており、{ct}を使っていない口座が狙われた。{}",
                rng.pick(OPENERS),
                1 + rng.next() % 12,
                1 + rng.next() % 28,
                rng.pick(THREATS),
                rng.pick(CLOSERS)
            );
        }
        let _ = p;
        paragraphs.push(s);
    }
    let day = 1 + (feed * 7 + i) % 28;
    let hour = (feed + i) % 24;
    Item {
        title,
        paragraphs,
        published: format!("{:02} Oct 2026 {hour:02}:{:02}:00 +0900", day, i % 60),
    }
}

fn escape(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
}

/// The generated site: feed bodies, and per feed the page bodies of its items.
pub struct Site {
    /// One RSS document per feed.
    pub feeds: Vec<Vec<u8>>,
    /// Per feed, one HTML page per item.
    pub pages: Vec<Vec<Vec<u8>>>,
}

/// Generates `feeds` feeds of `items` items whose links start with `base`.
pub fn generate(base: &str, feeds: usize, items: usize) -> Site {
    let mut rng = Rng(0x9E37_79B9_7F4A_7C15);
    let mut out = Site {
        feeds: Vec::new(),
        pages: Vec::new(),
    };
    for f in 0..feeds {
        let mut xml = format!(
            "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<rss version=\"2.0\"><channel><title>決済ニュース{f}</title><link>{base}/f{f}/</link><description>キャッシュレス決済のセキュリティ情報</description>\n"
        );
        let mut pages = Vec::new();
        for i in 0..items {
            let it = make_item(&mut rng, f, i);
            let link = format!("{base}/f{f}/a{i}.html");
            let _ = writeln!(
                xml,
                "<item><title>{}</title><link>{link}</link><guid>{link}</guid><pubDate>{}</pubDate><description>{}</description></item>",
                escape(&it.title),
                it.published,
                escape(&it.paragraphs.join(""))
            );
            let mut page = format!(
                "<!DOCTYPE html><html lang=\"ja\"><head><meta charset=\"utf-8\"><title>{}</title></head><body><header><nav><a href=\"/\">トップ</a> <a href=\"/news/\">ニュース</a></nav></header><main><article><h1>{}</h1><div class=\"article-body\">",
                escape(&it.title),
                escape(&it.title)
            );
            for p in &it.paragraphs {
                let _ = write!(page, "<p>{}</p>", escape(p));
            }
            page.push_str("</div></article><aside class=\"related\"><h2>関連記事</h2><ul><li><a href=\"/x\">別の記事の見出しがここに入る</a></li></ul></aside></main><footer>Copyright</footer></body></html>");
            pages.push(page.into_bytes());
        }
        xml.push_str("</channel></rss>\n");
        out.feeds.push(xml.into_bytes());
        out.pages.push(pages);
    }
    out
}
