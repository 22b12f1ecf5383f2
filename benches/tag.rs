//! Tokenizing + tagging speed against lindera's bare segmentation of the same text.
//!
//! `cargo bench --bench tag` (release). The text is every article of the sample corpus
//! (title, summary, body), repeated to a few MB. Three timings over the same articles:
//! lindera alone (IPADIC, no user dictionary, no folding), `Tokenizer::terms` (folding,
//! user dictionary, offsets) and `Tagger::analyze` (terms + matching + incidents + facts).
//! After a warm-up pass, three interleaved rounds; the best round of each counts. MB/s on
//! one core.

use std::path::PathBuf;
use std::time::Instant;

use chrono::{DateTime, Utc};
use kessai::model::{ArticleDraft, FeedId};
use kessai::tag::Tagger;
use kessai::tokenize::Tokenizer;
use lindera::dictionary::load_dictionary;
use lindera::mode::Mode;
use lindera::segmenter::Segmenter;

const TARGET_BYTES: usize = 4 * 1024 * 1024;
const ROUNDS: usize = 3;

fn drafts() -> Vec<ArticleDraft> {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("assets/corpus/src");
    let mut files: Vec<PathBuf> = std::fs::read_dir(&dir)
        .expect("corpus sources")
        .map(|e| e.expect("entry").path())
        .filter(|p| p.extension().is_some_and(|e| e == "toml"))
        .collect();
    files.sort();
    let mut out = Vec::new();
    for f in files {
        let table: toml::Table =
            toml::from_str(&std::fs::read_to_string(&f).expect("read")).expect("parse");
        for a in table["article"].as_array().expect("articles") {
            let s = |k: &str| {
                a.get(k)
                    .and_then(|v| v.as_str())
                    .unwrap_or_default()
                    .to_string()
            };
            let body: Vec<&str> = a["body"]
                .as_array()
                .map(|b| b.iter().filter_map(|p| p.as_str()).collect())
                .unwrap_or_default();
            let published: DateTime<Utc> = DateTime::parse_from_rfc3339(&s("published"))
                .expect("date")
                .with_timezone(&Utc);
            out.push(ArticleDraft {
                feed: FeedId::new("bench"),
                url: s("slug"),
                guid: None,
                title: s("title"),
                summary: s("summary"),
                body: body.join("\n\n"),
                published,
                fetched: published,
                content_hash: String::new(),
            });
        }
    }
    out
}

fn texts(d: &ArticleDraft) -> [&str; 3] {
    [&d.title, &d.summary, &d.body]
}

fn main() {
    let base = drafts();
    let base_bytes: usize = base
        .iter()
        .map(|d| texts(d).iter().map(|t| t.len()).sum::<usize>())
        .sum();
    let rounds = TARGET_BYTES.div_ceil(base_bytes.max(1));
    let articles: Vec<&ArticleDraft> = (0..rounds).flat_map(|_| base.iter()).collect();
    let bytes = base_bytes * rounds;
    let mb = bytes as f64 / 1e6;

    let dictionary = load_dictionary("embedded://ipadic").expect("IPADIC");
    let bare = Segmenter::new(Mode::Normal, dictionary, None);
    let tokenizer = Tokenizer::shared();
    let tagger = Tagger::shared();

    // Warm-up: page the dictionary in, build the shared tokenizer and taxonomy.
    for d in &base {
        for t in texts(d) {
            let _ = bare.segment(t.into()).map(|v| v.len());
            let _ = tokenizer.terms(t).len();
        }
        let _ = tagger.analyze(d);
    }

    // Three rounds, interleaved, best time of each: the machine is shared, and the
    // fastest round is the one least disturbed by other processes.
    let (mut bare_s, mut terms_s, mut tag_s) = (f64::MAX, f64::MAX, f64::MAX);
    let (mut n_bare, mut n_terms, mut n_tags) = (0usize, 0usize, 0usize);
    for _ in 0..ROUNDS {
        let t0 = Instant::now();
        n_bare = 0;
        for d in &articles {
            for t in texts(d) {
                n_bare += bare.segment(t.into()).map_or(0, |v| v.len());
            }
        }
        bare_s = bare_s.min(t0.elapsed().as_secs_f64());

        let t0 = Instant::now();
        n_terms = 0;
        for d in &articles {
            for t in texts(d) {
                n_terms += tokenizer.terms(t).len();
            }
        }
        terms_s = terms_s.min(t0.elapsed().as_secs_f64());

        let t0 = Instant::now();
        n_tags = 0;
        for d in &articles {
            n_tags += tagger.analyze(d).tags.len();
        }
        tag_s = tag_s.min(t0.elapsed().as_secs_f64());
    }

    println!(
        "text: {} articles, {:.2} MB ({} passes over the corpus), best of {} rounds",
        articles.len(),
        mb,
        rounds,
        ROUNDS
    );
    println!(
        "{:<34} {:>8} {:>9} {:>10}",
        "", "seconds", "MB/s", "vs bare"
    );
    for (name, s, n) in [
        ("lindera bare segmentation", bare_s, n_bare),
        ("Tokenizer::terms", terms_s, n_terms),
        ("Tagger::analyze (tokens+tags+facts)", tag_s, n_tags),
    ] {
        println!(
            "{:<34} {:>8.3} {:>9.2} {:>9.2}x   ({} items)",
            name,
            s,
            mb / s,
            bare_s / s,
            n
        );
    }
}
