#!/usr/bin/env python3
"""Render the kessai sample corpus: feeds, article pages and labels, from src/*.toml.

Usage:
    python3 assets/corpus/generate.py          # (re)write sites/ and labels.toml
    python3 assets/corpus/generate.py --check  # verify they match the sources; write nothing

Python 3.11+, standard library only. The output is deterministic: the same sources give
the same bytes, so `--check` can run in CI. Every outlet's files are encoded in the outlet's
encoding (outlets.toml) and the charset is declared exactly the ways outlets.toml says.
Any character that the target encoding cannot carry makes the run fail with the article,
the field and the character named.
"""

from __future__ import annotations

import argparse
import codecs
import datetime as dt
import hashlib
import html
import json
import os
import re
import sys
import tomllib
from pathlib import Path
from xml.sax.saxutils import escape as xml_escape, quoteattr

HERE = Path(__file__).resolve().parent
SRC = HERE / "src"
SITES = HERE / "sites"
LABELS = HERE / "labels.toml"
OUTLETS = HERE / "outlets.toml"

BASE = "{{BASE}}"
KINYU_PAGE_SIZE = 20
JST = dt.timezone(dt.timedelta(hours=9))
EARLIEST = dt.datetime(2018, 1, 1, tzinfo=JST)
LATEST = dt.datetime(2026, 10, 31, 23, 59, 59, tzinfo=JST)

# Canonical taxonomy ids (team brief). The tagger's assets/taxonomy.toml must agree.
TAXONOMY = {
    "service": """j-coin-pay 7pay paypay line-pay rakuten-pay d-barai au-pay merpay yucho-pay
        famipay kyash docomo-koza bank-pay suica nanaco waon origami-pay amazon-pay
        japan-post-bank sbi-securities mufg-bank""",
    "exchange": "coincheck zaif dmm-bitcoin bitflyer bitpoint liquid sbi-vc binance-japan",
    "threat": """unauthorized-access account-takeover fraudulent-use data-leak asset-theft
        ransomware phishing insider misconfiguration outage vulnerability""",
    "control": "2fa 3d-secure ekyc ip-restriction cold-wallet multisig",
    "actor": """fsa meti npa ppc mizuho seven-and-i ntt-docomo softbank z-holdings line-corp
        rakuten japan-post jpcert ipa""",
    "incident": """7pay-2019 j-coin-pay-2019 docomo-koza-2020 paypay-merchant-data-2020
        line-pay-github-2021 coincheck-nem-2018 zaif-2018 dmm-bitcoin-2024 sbi-securities-2020
        japan-post-bank-2020 bitpoint-2019 liquid-quoine-2021 paypay-card-fraud-2018
        securities-account-takeover-2025 coincheck-domain-hijack-2020""",
}
FAMILY_OF = {tag: fam for fam, ids in TAXONOMY.items() for tag in ids.split()}
WEEKDAYS_JA = "月火水木金土日"
SLUG_RE = re.compile(r"^[a-z0-9][a-z0-9-]{2,100}$")


class CorpusError(Exception):
    """A source or rendering problem; the message names the file, article and field."""


# ---------------------------------------------------------------------------------------
# Encodings: WHATWG-compatible tables restricted to JIS X 0208 (+ ASCII, half-width kana)
# ---------------------------------------------------------------------------------------


def _jis0208_table() -> dict[str, tuple[int, int]]:
    """char -> (row, cell), 1-based, for JIS X 0208 rows 1-8 and 16-84.

    Built by decoding every Shift_JIS code with cp932, which is the mapping that browsers
    and encoding_rs use (e.g. 0x8160 is U+FF5E ～, not U+301C 〜). Rows 9-15 and 85-94
    (NEC/IBM extensions such as ① and ㈱) are left out on purpose: they are not JIS X 0208.
    """
    table: dict[str, tuple[int, int]] = {}
    for row in list(range(1, 9)) + list(range(16, 85)):
        for cell in range(1, 95):
            pointer = (row - 1) * 94 + (cell - 1)
            lead, trail = divmod(pointer, 188)
            b1 = lead + (0x81 if lead < 0x1F else 0xC1)
            b2 = trail + (0x40 if trail < 0x3F else 0x41)
            try:
                ch = bytes([b1, b2]).decode("cp932")
            except UnicodeDecodeError:
                continue
            if len(ch) == 1 and ch not in table:
                table[ch] = (row, cell)
    return table


JIS0208 = _jis0208_table()
UNSAFE_HINTS = {
    "\u301c": "use ～ (U+FF5E) instead of 〜 (U+301C)",
    "\u2212": "use - or ー instead of − (U+2212)",
    "\u2014": "use ― (U+2015) instead of — (U+2014)",
    "\u00a5": "write 円 instead of ¥",
}


def _encode_char(ch: str, encoding: str) -> bytes:
    o = ord(ch)
    if o < 0x80:
        if ch == "\\" and encoding == "shift_jis":
            raise KeyError(ch)  # 0x5C is ¥ for many Shift_JIS readers
        return bytes([o])
    if 0xFF61 <= o <= 0xFF9F:  # half-width katakana
        b = o - 0xFF61 + 0xA1
        return bytes([b]) if encoding == "shift_jis" else bytes([0x8E, b])
    row, cell = JIS0208[ch]
    if encoding == "euc-jp":
        return bytes([row + 0xA0, cell + 0xA0])
    pointer = (row - 1) * 94 + (cell - 1)
    lead, trail = divmod(pointer, 188)
    return bytes([lead + (0x81 if lead < 0x1F else 0xC1), trail + (0x40 if trail < 0x3F else 0x41)])


def encode_text(text: str, encoding: str, where: str) -> bytes:
    """Encodes text for an outlet; fails loudly, naming the place, on any unencodable char."""
    if encoding == "utf-8":
        return text.encode("utf-8")
    out = bytearray()
    for i, ch in enumerate(text):
        try:
            out += _encode_char(ch, encoding)
        except KeyError:
            line = text.count("\n", 0, i) + 1
            hint = UNSAFE_HINTS.get(ch, "not in JIS X 0208")
            context = text[max(0, i - 12) : i + 12].replace("\n", " ")
            raise CorpusError(
                f"{where}: character {ch!r} (U+{ord(ch):04X}) at line {line} (…{context}…) cannot be "
                f"encoded in {encoding}: {hint}"
            ) from None
    return bytes(out)


def decode_bytes(data: bytes, encoding: str) -> str:
    """Decodes the way a browser would (used to prove every file round-trips)."""
    if encoding == "utf-8":
        return data.decode("utf-8")
    if encoding == "shift_jis":
        return data.decode("cp932")
    # EUC-JP: map back through the same table.
    rev = {v: k for k, v in JIS0208.items()}
    out, i = [], 0
    while i < len(data):
        b = data[i]
        if b < 0x80:
            out.append(chr(b))
            i += 1
        elif b == 0x8E:
            out.append(chr(data[i + 1] - 0xA1 + 0xFF61))
            i += 2
        else:
            out.append(rev[(b - 0xA0, data[i + 1] - 0xA0)])
            i += 2
    return "".join(out)


# ---------------------------------------------------------------------------------------
# Sources
# ---------------------------------------------------------------------------------------


def load_outlets() -> list[dict]:
    with open(OUTLETS, "rb") as f:
        outlets = tomllib.load(f)["outlet"]
    for o in outlets:
        codecs.lookup(o["encoding"])  # fails loudly on a typo
        codecs.lookup(o["feed_encoding"])
    return outlets


def parse_published(value: str, where: str) -> dt.datetime:
    try:
        d = dt.datetime.fromisoformat(value)
    except ValueError:
        raise CorpusError(f"{where}: published {value!r} is not RFC 3339") from None
    if d.utcoffset() != dt.timedelta(hours=9):
        raise CorpusError(f"{where}: published {value!r} must carry +09:00 (JST)")
    if not (EARLIEST <= d <= LATEST):
        raise CorpusError(f"{where}: published {value!r} is outside 2018-01 … 2026-10")
    return d


def load_articles(outlets: list[dict]) -> dict[str, list[dict]]:
    """outlet id -> articles, newest first. Validates every field the rules name."""
    ids = {o["id"] for o in outlets}
    by_outlet: dict[str, list[dict]] = {o["id"]: [] for o in outlets}
    for path in sorted(SRC.glob("*.toml")):
        outlet_id, _, writer = path.stem.rpartition(".")
        if outlet_id not in ids or not writer:
            raise CorpusError(f"{path.name}: file name must be <outlet>.<writer>.toml with a known outlet")
        with open(path, "rb") as f:
            try:
                data = tomllib.load(f)
            except tomllib.TOMLDecodeError as e:
                raise CorpusError(f"{path.name}: {e}") from None
        for n, a in enumerate(data.get("article", []), 1):
            where = f"{path.name} article {n} ({a.get('slug', '?')})"
            for key in ("slug", "published", "title", "summary", "body", "tags"):
                if key not in a:
                    raise CorpusError(f"{where}: missing {key}")
            unknown = set(a) - {"slug", "published", "title", "summary", "body", "related", "tags", "incident"}
            if unknown:
                raise CorpusError(f"{where}: unknown keys {sorted(unknown)}")
            if not SLUG_RE.match(a["slug"]):
                raise CorpusError(f"{where}: slug must be lowercase ASCII letters, digits and -")
            a["_dt"] = parse_published(a["published"], where)
            if not isinstance(a["body"], list) or not a["body"] or not all(
                isinstance(p, str) and p.strip() for p in a["body"]
            ):
                raise CorpusError(f"{where}: body must be a non-empty list of paragraphs")
            for field in ("title", "summary"):
                if not a[field].strip() or "\n" in a[field]:
                    raise CorpusError(f"{where}: {field} must be one non-empty line")
            a.setdefault("related", [])
            bad = [t for t in a["tags"] if t not in FAMILY_OF]
            if bad:
                raise CorpusError(f"{where}: unknown taxonomy ids {bad}")
            if len(set(a["tags"])) != len(a["tags"]):
                raise CorpusError(f"{where}: duplicate tags")
            inc = a.get("incident")
            incident_tags = [t for t in a["tags"] if FAMILY_OF[t] == "incident"]
            if inc is not None:
                if FAMILY_OF.get(inc) != "incident":
                    raise CorpusError(f"{where}: incident {inc!r} is not an incident id")
                if inc not in a["tags"]:
                    raise CorpusError(f"{where}: incident {inc!r} must also be in tags")
            elif incident_tags:
                raise CorpusError(f"{where}: incident tags {incident_tags} without incident = ...")
            a["_outlet"] = outlet_id
            a["_file"] = path.name
            by_outlet[outlet_id].append(a)
    for outlet_id, arts in by_outlet.items():
        seen: dict[str, str] = {}
        for a in arts:
            if a["slug"] in seen:
                raise CorpusError(f"{outlet_id}: slug {a['slug']!r} in both {seen[a['slug']]} and {a['_file']}")
            seen[a["slug"]] = a["_file"]
        arts.sort(key=lambda a: (a["_dt"], a["slug"]), reverse=True)
    return by_outlet


# ---------------------------------------------------------------------------------------
# Shared helpers
# ---------------------------------------------------------------------------------------


def h(text: str) -> str:
    return html.escape(text, quote=True)


def x(text: str) -> str:
    return xml_escape(text)


def xa(text: str) -> str:
    return quoteattr(text)


def article_path(outlet_id: str, slug: str) -> str:
    return f"/{outlet_id}/articles/{slug}.html"


def article_url(outlet_id: str, slug: str) -> str:
    return BASE + article_path(outlet_id, slug)


def rfc822(d: dt.datetime) -> str:
    days = ["Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun"]
    months = ["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"]
    return f"{days[d.weekday()]}, {d.day:02d} {months[d.month - 1]} {d.year} {d:%H:%M:%S} +0900"


def stable_pick(seed: str, items: list, n: int) -> list:
    """n items chosen by hash order: the same seed always gives the same choice."""
    keyed = sorted(items, key=lambda it: hashlib.sha256((seed + "|" + it["slug"]).encode()).hexdigest())
    return keyed[:n]


def section_of(a: dict) -> str:
    fams = {FAMILY_OF[t] for t in a["tags"]}
    if a.get("incident"):
        return "事件・事故"
    if "threat" in fams or "control" in fams:
        return "セキュリティ"
    if "exchange" in fams:
        return "暗号資産"
    if {"fsa", "meti", "npa", "ppc"} & set(a["tags"]):
        return "規制・政策"
    return "サービス・業界"


def author_of(outlet: dict, a: dict) -> str:
    pool = AUTHORS[outlet["id"]]
    return pool[int(hashlib.sha256(a["slug"].encode()).hexdigest(), 16) % len(pool)]


AUTHORS = {
    "paysec": ["編集部 佐々木", "編集部 高橋", "客員記者 森田"],
    "fintech-journal": ["竹内 亮介", "小野寺 美和", "松本 健太郎", "フィンテック・ジャーナル編集部"],
    "cryptowatch": ["暗号資産ウォッチ編集部", "中川 悠", "ライター 岡部"],
    "cashless-now": ["キャッシュレス・ナウ編集部", "三浦 かおり", "藤田 翔"],
    "kinyu-shimbun": ["本紙記者", "経済部", "本紙 金融取材班"],
    "sec-blog": ["管理人"],
    "bank-it": ["銀行ITニュース編集部", "記者 村上", "記者 川口"],
    "press": ["広報部"],
}


def related_links(outlet: dict, a: dict, by_title: dict[str, dict]) -> list[tuple[str, str]]:
    """(title, href) for the 関連記事 box: a same-outlet article of that title, else the top."""
    out = []
    for title in a["related"]:
        target = by_title.get(title)
        href = article_url(outlet["id"], target["slug"]) if target else f"{BASE}/{outlet['id']}/"
        out.append((title, href))
    return out


def ranking_links(outlet: dict, a: dict, arts: list[dict]) -> list[tuple[str, str]]:
    others = [b for b in arts if b["slug"] != a["slug"]]
    return [(b["title"], article_url(outlet["id"], b["slug"])) for b in stable_pick(a["slug"], others, 5)]


def share_url(outlet: dict, a: dict, to: str) -> str:
    return f"{BASE}/{outlet['id']}/share?to={to}&url={article_path(outlet['id'], a['slug'])}"


def jp_date(d: dt.datetime, with_time: bool = False, weekday: bool = False) -> str:
    s = f"{d.year}年{d.month}月{d.day}日"
    if weekday:
        s += f"（{WEEKDAYS_JA[d.weekday()]}）"
    if with_time:
        s += f" {d.hour}時{d.minute:02d}分"
    return s


def charset_name(encoding: str) -> str:
    return {"utf-8": "UTF-8", "shift_jis": "Shift_JIS", "euc-jp": "EUC-JP"}[encoding]


def head_charset(outlet: dict) -> str:
    """The <head> charset declaration of article pages, per page_declares."""
    decl = outlet["page_declares"]
    name = charset_name(outlet["encoding"])
    if "meta-http-equiv" in decl:
        return f'<meta http-equiv="Content-Type" content="text/html; charset={name}">\n'
    if "meta-charset" in decl:
        return f'<meta charset="{name}">\n'
    return ""


# ---------------------------------------------------------------------------------------
# Article page templates, one per outlet
# ---------------------------------------------------------------------------------------


def page_paysec(o, a, rel, rank):
    d = a["_dt"]
    body = "<br><br>\n".join(h(p) for p in a["body"])
    rel_rows = "".join(
        f'<tr><td class="list">・<a href="{h(u)}">{h(t)}</a></td></tr>\n' for t, u in rel
    ) or '<tr><td class="list">（関連記事はありません）</td></tr>\n'
    rank_rows = "".join(
        f'<tr><td class="rank">{i}</td><td class="list"><a href="{h(u)}">{h(t)}</a></td></tr>\n'
        for i, (t, u) in enumerate(rank, 1)
    )
    return f"""<!DOCTYPE HTML PUBLIC "-//W3C//DTD HTML 4.01 Transitional//EN" "http://www.w3.org/TR/html4/loose.dtd">
<html lang="ja">
<head>
{head_charset(o)}<title>{h(a["title"])} - {h(o["name"])}</title>
<meta name="description" content="{h(a["summary"])}">
<link rel="stylesheet" href="{BASE}/paysec/css/old.css" type="text/css">
</head>
<body bgcolor="#ffffff" topmargin="0" leftmargin="0">
<a name="top"></a>
<table width="900" border="0" cellspacing="0" cellpadding="0" align="center">
<tr><td colspan="3" class="banner"><a href="{BASE}/paysec/"><b>決済セキュリティ通信</b></a>　<font size="2">カード・電子決済の安全を考える業界ニュース</font></td></tr>
<tr><td colspan="3" class="gnavi"><a href="{BASE}/paysec/">トップ</a> | <a href="{BASE}/paysec/news/">ニュース</a> | <a href="{BASE}/paysec/column/">コラム</a> | <a href="{BASE}/paysec/event/">セミナー情報</a> | <a href="{BASE}/paysec/mail/">メールマガジン</a> | <a href="{BASE}/paysec/feed.rdf">RSS</a></td></tr>
<tr><td colspan="3" class="pankuzu"><font size="2"><a href="{BASE}/paysec/">トップ</a> &gt; <a href="{BASE}/paysec/news/">ニュース</a> &gt; {h(section_of(a))} &gt; {h(a["title"])}</font></td></tr>
<tr>
<td width="160" valign="top" class="menu">
<table width="150" border="0" cellspacing="0" cellpadding="2">
<tr><td class="menutitle">カテゴリ</td></tr>
<tr><td><a href="{BASE}/paysec/cat/incident/">事件・事故</a></td></tr>
<tr><td><a href="{BASE}/paysec/cat/security/">セキュリティ</a></td></tr>
<tr><td><a href="{BASE}/paysec/cat/service/">サービス・業界</a></td></tr>
<tr><td><a href="{BASE}/paysec/cat/policy/">規制・政策</a></td></tr>
<tr><td class="menutitle">PR</td></tr>
<tr><td><font size="2">PR：加盟店向け決済端末のご相談はお気軽に。導入実績多数。</font></td></tr>
</table>
</td>
<td width="560" valign="top">
<h2 class="midashi">{h(a["title"])}</h2>
<font size="2">{jp_date(d, with_time=True)}　{h(author_of(o, a))}</font>
<hr size="1" noshade>
<table width="100%" border="0" cellspacing="0" cellpadding="8"><tr><td class="honbun">
{body}
</td></tr></table>
<hr size="1" noshade>
<font size="2"><a href="{h(share_url(o, a, "twitter"))}">ツイート</a> | <a href="{h(share_url(o, a, "hatena"))}">はてなブックマーク</a> | <a href="{h(share_url(o, a, "line"))}">LINEで送る</a></font>
<table width="100%" border="0" cellspacing="0" cellpadding="2">
<tr><td class="boxtitle">関連記事</td></tr>
{rel_rows}</table>
<table width="100%" border="0" cellspacing="0" cellpadding="2"><tr><td class="pr"><font size="2">PR　不正検知サービスの資料請求はこちら</font></td></tr></table>
</td>
<td width="180" valign="top" class="side">
<table width="170" border="0" cellspacing="0" cellpadding="2">
<tr><td colspan="2" class="boxtitle">アクセスランキング</td></tr>
{rank_rows}</table>
<table width="170" border="0" cellspacing="0" cellpadding="2"><tr><td class="pr"><font size="2">PR</font><br><font size="2">法人カードの比較なら</font></td></tr></table>
</td>
</tr>
<tr><td colspan="3" align="right"><font size="2"><a href="#top">▲PAGE TOP</a></font></td></tr>
<tr><td colspan="3" class="footer" align="center"><font size="2"><a href="{BASE}/paysec/company.html">会社概要</a> | <a href="{BASE}/paysec/privacy.html">プライバシーポリシー</a> | <a href="{BASE}/paysec/ad.html">広告掲載について</a> | <a href="{BASE}/paysec/contact.html">お問い合わせ</a><br>Copyright (C) 2003-2026 決済セキュリティ通信 All Rights Reserved.</font></td></tr>
</table>
</body>
</html>
"""


def _list_items(items, cls="") -> str:
    c = f' class="{cls}"' if cls else ""
    return "".join(f'<li{c}><a href="{h(u)}">{h(t)}</a></li>\n' for t, u in items)


def page_fintech(o, a, rel, rank):
    d = a["_dt"]
    body = "".join(f"<p>{h(p)}</p>\n" for p in a["body"])
    share = f"""<div class="share-bar">
<a class="share share--x" href="{h(share_url(o, a, "twitter"))}">ツイート</a>
<a class="share share--hatena" href="{h(share_url(o, a, "hatena"))}">はてなブックマーク</a>
<a class="share share--line" href="{h(share_url(o, a, "line"))}">LINEで送る</a>
<a class="share share--fb" href="{h(share_url(o, a, "facebook"))}">シェア</a>
</div>
"""
    ranking = "".join(
        f'<li><span class="ranking__no">{i}</span><a href="{h(u)}">{h(t)}</a></li>\n'
        for i, (t, u) in enumerate(rank, 1)
    )
    return f"""<!DOCTYPE html>
<html lang="ja">
<head>
<title>{h(a["title"])} | {h(o["name"])}</title>
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta name="description" content="{h(a["summary"])}">
<meta property="og:title" content="{h(a["title"])}">
<meta property="og:type" content="article">
<link rel="canonical" href="{article_url(o["id"], a["slug"])}">
<link rel="alternate" type="application/rss+xml" title="{h(o["name"])}" href="{BASE}{o["feed"]}">
</head>
<body class="page-article">
<header class="site-header">
<div class="site-header__inner"><a class="logo" href="{BASE}/fintech-journal/">フィンテック・ジャーナル</a>
<form class="search" action="{BASE}/fintech-journal/search"><input type="text" name="q" placeholder="記事を検索"><button>検索</button></form></div>
<nav class="global-nav"><ul>
<li><a href="{BASE}/fintech-journal/">ホーム</a></li>
<li><a href="{BASE}/fintech-journal/payment/">決済</a></li>
<li><a href="{BASE}/fintech-journal/banking/">銀行・証券</a></li>
<li><a href="{BASE}/fintech-journal/crypto/">暗号資産</a></li>
<li><a href="{BASE}/fintech-journal/security/">セキュリティ</a></li>
<li><a href="{BASE}/fintech-journal/policy/">政策・規制</a></li>
<li><a href="{BASE}/fintech-journal/event/">イベント</a></li>
</ul></nav>
</header>
<div class="ad ad--leaderboard"><span class="ad__label">PR</span> 中小企業のキャッシュレス導入を支援します - 決済代行サービス比較</div>
<ol class="breadcrumb">
<li><a href="{BASE}/fintech-journal/">ホーム</a></li>
<li><a href="{BASE}/fintech-journal/news/">ニュース</a></li>
<li>{h(section_of(a))}</li>
<li>{h(a["title"])}</li>
</ol>
<div class="layout">
<main class="layout__main">
<article class="article">
<h1 class="article__title">{h(a["title"])}</h1>
<div class="article-meta"><span class="article-meta__author">{h(author_of(o, a))}</span> <time datetime="{a["published"]}">{d:%Y.%m.%d %H:%M}</time></div>
{share}<div class="article-body">
{body}</div>
{share}</article>
<aside class="related">
<h2>関連記事</h2>
<ul>
{_list_items(rel)}</ul>
</aside>
<div class="ad ad--rectangle"><span class="ad__label">広告</span> 法人向けクラウド会計、いまなら3カ月無料</div>
</main>
<aside class="layout__side">
<section class="ranking">
<h2>アクセスランキング</h2>
<ol>
{ranking}</ol>
</section>
<section class="newsletter"><h2>メールマガジン</h2><p>平日毎朝、フィンテックの主要ニュースをお届けします。</p><a href="{BASE}/fintech-journal/newsletter/">登録する（無料）</a></section>
<div class="ad ad--side"><span class="ad__label">PR</span> 経理担当者向けセミナー開催中</div>
</aside>
</div>
<p class="pagetop"><a href="#">PAGE TOP</a></p>
<footer class="site-footer">
<ul>
<li><a href="{BASE}/fintech-journal/about/">会社概要</a></li>
<li><a href="{BASE}/fintech-journal/privacy/">プライバシーポリシー</a></li>
<li><a href="{BASE}/fintech-journal/terms/">利用規約</a></li>
<li><a href="{BASE}/fintech-journal/ad/">広告掲載</a></li>
</ul>
<p class="copyright">Copyright &copy; 2026 Fintech Journal Inc. All rights reserved.</p>
</footer>
</body>
</html>
"""


def page_cryptowatch(o, a, rel, rank):
    d = a["_dt"]
    body = "".join(f"<p>{h(p)}</p>\n" for p in a["body"])
    ranking = "".join(f'<li class="rank-{i}"><a href="{h(u)}">{h(t)}</a></li>\n' for i, (t, u) in enumerate(rank, 1))
    return f"""<!DOCTYPE html>
<html lang="ja">
<head>
{head_charset(o)}<title>{h(a["title"])} ｜ {h(o["name"])}</title>
<meta name="description" content="{h(a["summary"])}">
<link rel="alternate" type="application/atom+xml" href="{BASE}{o["feed"]}">
</head>
<body class="single single-post">
<div id="page" class="site">
<div id="masthead" class="site-header">
<p class="site-title"><a href="{BASE}/cryptowatch/">暗号資産ウォッチ</a></p>
<p class="site-description">ビットコイン・暗号資産の最新ニュースと解説</p>
<div id="site-navigation" class="main-navigation"><ul id="menu-global" class="menu">
<li><a href="{BASE}/cryptowatch/">ホーム</a></li>
<li><a href="{BASE}/cryptowatch/category/news/">ニュース</a></li>
<li><a href="{BASE}/cryptowatch/category/exchange/">取引所</a></li>
<li><a href="{BASE}/cryptowatch/category/regulation/">規制</a></li>
<li><a href="{BASE}/cryptowatch/category/beginner/">初心者向け</a></li>
<li><a href="{BASE}/cryptowatch/price/">相場</a></li>
</ul></div>
</div>
<div class="breadcrumbs"><a href="{BASE}/cryptowatch/">ホーム</a> ＞ <a href="{BASE}/cryptowatch/category/news/">ニュース</a> ＞ {h(section_of(a))} ＞ <span>{h(a["title"])}</span></div>
<div id="content" class="site-content">
<main id="main" class="site-main">
<article class="post type-post status-publish">
<header class="entry-header">
<h1 class="entry-title">{h(a["title"])}</h1>
<div class="entry-meta"><span class="posted-on">{jp_date(d)}</span> <span class="byline">by {h(author_of(o, a))}</span></div>
</header>
<div class="entry-content">
{body}</div>
<footer class="entry-footer">
<div class="sns-share"><span>この記事をシェア</span>
<a class="tw" href="{h(share_url(o, a, "twitter"))}">ツイート</a>
<a class="hb" href="{h(share_url(o, a, "hatena"))}">はてなブックマーク</a>
<a class="ln" href="{h(share_url(o, a, "line"))}">LINEで送る</a></div>
</footer>
</article>
<div class="related-posts">
<h3>関連記事</h3>
<ul>
{_list_items(rel)}</ul>
</div>
<div class="pr-box"><span>PR</span> 暗号資産の確定申告、専門家に相談しませんか</div>
</main>
<aside id="secondary" class="widget-area">
<section class="widget widget_ranking"><h2 class="widget-title">アクセスランキング</h2>
<ol>
{ranking}</ol></section>
<section class="widget widget_pr"><h2 class="widget-title">PR</h2><p>ハードウェアウォレット取扱店</p></section>
</aside>
</div>
<div id="page-top"><a href="#page">PAGE TOP</a></div>
<footer id="colophon" class="site-footer">
<a href="{BASE}/cryptowatch/about/">会社概要</a> / <a href="{BASE}/cryptowatch/privacy/">プライバシーポリシー</a> / <a href="{BASE}/cryptowatch/disclaimer/">免責事項</a>
<p class="site-info">Copyright &copy; 2017-2026 暗号資産ウォッチ All Rights Reserved.</p>
</footer>
</div>
</body>
</html>
"""


def page_cashless(o, a, rel, rank):
    d = a["_dt"]
    lead, rest = a["body"][0], a["body"][1:]
    body = "".join(f"<p>{h(p)}</p>\n" for p in rest)
    cards = "".join(
        f'<li class="c-card"><a href="{h(u)}"><span class="c-card__title">{h(t)}</span></a></li>\n' for t, u in rel
    )
    ranking = "".join(
        f'<li class="c-rank__item"><span class="c-rank__num">{i}</span><a href="{h(u)}">{h(t)}</a></li>\n'
        for i, (t, u) in enumerate(rank, 1)
    )
    return f"""<!doctype html>
<html lang="ja">
<head>
{head_charset(o)}<meta name="viewport" content="width=device-width,initial-scale=1">
<title>{h(a["title"])}｜{h(o["name"])}</title>
<meta name="description" content="{h(a["summary"])}">
</head>
<body>
<header class="l-header">
<a class="l-header__logo" href="{BASE}/cashless-now/">キャッシュレス・ナウ</a>
<nav class="l-header__tabs"><a href="{BASE}/cashless-now/">新着</a><a href="{BASE}/cashless-now/campaign/">キャンペーン</a><a href="{BASE}/cashless-now/qr/">QRコード決済</a><a href="{BASE}/cashless-now/card/">カード</a><a href="{BASE}/cashless-now/security/">安全に使う</a><a href="{BASE}/cashless-now/ranking/">ランキング</a></nav>
</header>
<nav aria-label="パンくずリスト" class="c-breadcrumb"><ul><li><a href="{BASE}/cashless-now/">TOP</a></li><li><a href="{BASE}/cashless-now/news/">ニュース</a></li><li>{h(section_of(a))}</li></ul></nav>
<div class="l-main">
<article class="c-article">
<h1 class="c-article__title">{h(a["title"])}</h1>
<p class="c-article__info"><time datetime="{a["published"]}">{d:%Y/%m/%d}</time> <span>{h(author_of(o, a))}</span></p>
<ul class="c-share c-share--top"><li><a href="{h(share_url(o, a, "twitter"))}">ツイート</a></li><li><a href="{h(share_url(o, a, "hatena"))}">はてなブックマーク</a></li><li><a href="{h(share_url(o, a, "line"))}">LINEで送る</a></li></ul>
<p class="c-article__lead">{h(lead)}</p>
<section class="c-article__body">
{body}</section>
<ul class="c-share c-share--bottom"><li><a href="{h(share_url(o, a, "twitter"))}">ツイート</a></li><li><a href="{h(share_url(o, a, "hatena"))}">はてなブックマーク</a></li><li><a href="{h(share_url(o, a, "line"))}">LINEで送る</a></li></ul>
</article>
<section class="c-related"><h2>関連記事 この記事を読んだ人はこんな記事も</h2><ul>
{cards}</ul></section>
<div class="c-pr"><span class="c-pr__label">PR</span>ポイント二重取りの裏ワザ、公式アプリでチェック</div>
<section class="c-rank"><h2>アクセスランキング</h2><ol>
{ranking}</ol></section>
<section class="c-newsletter"><h2>ニュースレター</h2><p>お得なキャンペーン情報を毎週金曜日にお届けします。</p><form action="{BASE}/cashless-now/newsletter"><input type="email" name="email"><button>登録</button></form></section>
</div>
<a class="c-pagetop" href="#">PAGE TOP</a>
<footer class="l-footer"><ul><li><a href="{BASE}/cashless-now/company/">運営会社（会社概要）</a></li><li><a href="{BASE}/cashless-now/privacy/">プライバシーポリシー</a></li><li><a href="{BASE}/cashless-now/contact/">お問い合わせ</a></li></ul><small>Copyright &copy; Cashless Now. All Rights Reserved.</small></footer>
</body>
</html>
"""


def page_kinyu(o, a, rel, rank):
    d = a["_dt"]
    body = "".join(f"<p>{h(p)}</p>\n" for p in a["body"])
    ranking = "".join(
        f'<div class="rank-item"><span class="no">{i}位</span><a href="{h(u)}">{h(t)}</a></div>\n'
        for i, (t, u) in enumerate(rank, 1)
    )
    return f"""<!DOCTYPE html>
<html lang="ja">
<head>
{head_charset(o)}<title>{h(a["title"])}：週刊金融新報</title>
<meta name="keywords" content="金融,銀行,決済,フィンテック,週刊金融新報">
</head>
<body>
<div id="wrapper">
<div id="header"><div class="logo"><a href="{BASE}/kinyu-shimbun/">週刊金融新報</a></div>
<div class="header-sub">金融界の今を伝える専門紙　毎週月曜発行</div></div>
<div id="menu"><a href="{BASE}/kinyu-shimbun/">トップ</a>｜<a href="{BASE}/kinyu-shimbun/news/index.html">ニュース一覧</a>｜<a href="{BASE}/kinyu-shimbun/bank/">銀行</a>｜<a href="{BASE}/kinyu-shimbun/shoken/">証券</a>｜<a href="{BASE}/kinyu-shimbun/kessai/">決済</a>｜<a href="{BASE}/kinyu-shimbun/jinji/">人事</a>｜<a href="{BASE}/kinyu-shimbun/koudoku/">購読のご案内</a></div>
<div id="pankuzu"><a href="{BASE}/kinyu-shimbun/">トップ</a> ＞ <a href="{BASE}/kinyu-shimbun/news/index.html">ニュース</a> ＞ {h(section_of(a))}</div>
<div id="contents">
<div id="left">
<div class="kiji">
<h1 class="midashi">{h(a["title"])}</h1>
<p class="hizuke">{jp_date(d, weekday=True)}付　{h(author_of(o, a))}</p>
<div class="share"><a href="{h(share_url(o, a, "twitter"))}">ツイート</a> <a href="{h(share_url(o, a, "hatena"))}">はてなブックマーク</a> <a href="{h(share_url(o, a, "line"))}">LINEで送る</a></div>
<div class="kiji-honbun">
{body}</div>
<p class="kiji-note">本紙の記事・写真の無断転載を禁じます。</p>
</div>
<div class="kanren">
<div class="box-title">関連記事</div>
<ul>
{_list_items(rel)}</ul>
</div>
<div class="koudoku">
<div class="box-title">購読のご案内</div>
<p>週刊金融新報は、銀行・証券・保険・決済の各業界で働く皆さまに向けて、毎週月曜日に最新の動向と解説をお届けしています。年間購読は送料込みでお得な価格です。お申し込みは販売部まで、電話またはウェブサイトのお申し込みフォームでどうぞ。</p>
</div>
</div>
<div id="right">
<div class="ranking"><div class="box-title">アクセスランキング</div>
{ranking}</div>
<div class="pr"><span>PR</span> 金融機関向け研修のご案内　コンプライアンスから最新フィンテックまで</div>
<div class="pr"><span>PR</span> 地域金融の未来を語るフォーラム参加者募集</div>
</div>
</div>
<div class="pagetop"><a href="#wrapper">PAGE TOP</a></div>
<div id="footer"><a href="{BASE}/kinyu-shimbun/kaisha/">会社概要</a>｜<a href="{BASE}/kinyu-shimbun/privacy/">プライバシーポリシー</a>｜<a href="{BASE}/kinyu-shimbun/koukoku/">広告のご案内</a><br>Copyright (C) 週刊金融新報社 All Rights Reserved.</div>
</div>
</body>
</html>
"""


def page_secblog(o, a, rel, rank):
    d = a["_dt"]
    body = "".join(f"<p>{h(p)}</p>\n" for p in a["body"])
    ranking = "".join(f"<li><a href=\"{h(u)}\">{h(t)}</a></li>\n" for t, u in rank)
    wd = WEEKDAYS_JA[d.weekday()]
    return f"""<!DOCTYPE html PUBLIC "-//W3C//DTD XHTML 1.0 Transitional//EN" "http://www.w3.org/TR/xhtml1/DTD/xhtml1-transitional.dtd">
<html xmlns="http://www.w3.org/1999/xhtml" lang="ja" xml:lang="ja">
<head>
<title>{h(a["title"])} - セキュリティ事件簿ブログ</title>
<link rel="alternate" type="application/rss+xml" title="RSS" href="{BASE}{o["feed"]}" />
</head>
<body>
<div id="container">
<div id="blog-header">
<h1 id="blog-title"><a href="{BASE}/sec-blog/">セキュリティ事件簿ブログ</a></h1>
<div id="blog-description">情報セキュリティの事件・事故を記録し、ときどき考えるブログです。</div>
<div id="header-menu"><a href="{BASE}/sec-blog/">ホーム</a> | <a href="{BASE}/sec-blog/archives/">アーカイブ</a> | <a href="{BASE}/sec-blog/profile/">プロフィール</a> | <a href="{BASE}{o["feed"]}">RSS</a></div>
</div>
<div class="topicpath"><a href="{BASE}/sec-blog/">ホーム</a> &gt; <a href="{BASE}/sec-blog/category/">{h(section_of(a))}</a> &gt; {h(a["title"])}</div>
<div id="main">
<div class="blog-entry">
<div class="entry-date">{d:%Y/%m/%d}({wd}) {d:%H:%M}</div>
<h2 class="entry-title">{h(a["title"])}</h2>
<div class="entry-body">
{body}</div>
<div class="entry-footer">カテゴリ：<a href="{BASE}/sec-blog/category/">{h(section_of(a))}</a> | 投稿者：{h(author_of(o, a))} | <a href="#comments">コメント(0)</a> | <a href="#trackback">トラックバック(0)</a></div>
<div class="entry-share"><a href="{h(share_url(o, a, "twitter"))}">ツイート</a> <a href="{h(share_url(o, a, "hatena"))}">はてなブックマーク</a> <a href="{h(share_url(o, a, "line"))}">LINEで送る</a></div>
<div class="related-entries"><h3>関連記事</h3><ul>
{_list_items(rel)}</ul></div>
</div>
<div class="blog-ad">スポンサーリンク PR 格安SIMとスマホ決済のお得な組み合わせ</div>
</div>
<div id="sidebar">
<div class="side-box"><h3>人気記事ランキング（アクセスランキング）</h3><ol>
{ranking}</ol></div>
<div class="side-box"><h3>プロフィール</h3><p>元SIerのセキュリティ担当。事件のあらましを一次情報から追っています。</p></div>
<div class="side-box"><h3>ブログ村</h3><p>PR にほんブログ村 セキュリティ</p></div>
</div>
<div id="pagetop"><a href="#container">PAGE TOP</a></div>
<div id="footer">Powered by OldBlog ｜ <a href="{BASE}/sec-blog/about/">会社概要（運営者情報）</a> ｜ <a href="{BASE}/sec-blog/privacy/">プライバシーポリシー</a><br />Copyright (C) 2012-2026 セキュリティ事件簿ブログ</div>
</div>
</body>
</html>
"""


def page_bankit(o, a, rel, rank):
    d = a["_dt"]
    body = "".join(f"<p>{h(p)}</p>\n" for p in a["body"])
    ranking = "".join(f'<li><em>{i}</em><a href="{h(u)}">{h(t)}</a></li>\n' for i, (t, u) in enumerate(rank, 1))
    return f"""<!DOCTYPE html>
<html lang="ja">
<head>
{head_charset(o)}<title>{h(a["title"])} - 銀行ITニュース</title>
<meta name="description" content="{h(a["summary"])}">
</head>
<body>
<div id="header">
<div id="logo"><a href="{BASE}/bank-it/">銀行ITニュース</a></div>
<ul id="gnav">
<li><a href="{BASE}/bank-it/">トップ</a></li>
<li><a href="{BASE}/bank-it/system/">勘定系・システム</a></li>
<li><a href="{BASE}/bank-it/security/">セキュリティ</a></li>
<li><a href="{BASE}/bank-it/fintech/">フィンテック</a></li>
<li><a href="{BASE}/bank-it/interview/">インタビュー</a></li>
<li><a href="{BASE}/bank-it/rss/index.xml">RSS</a></li>
</ul>
</div>
<div id="topicpath"><a href="{BASE}/bank-it/">トップ</a> &gt; <a href="{BASE}/bank-it/news/">ニュース</a> &gt; {h(section_of(a))} &gt; <strong>{h(a["title"])}</strong></div>
<div id="wrap">
<div id="main-column">
<div class="ad-text">[PR] 金融機関のクラウド移行、相談会受付中</div>
<article id="news-detail">
<h1>{h(a["title"])}</h1>
<p class="date-author">{d:%Y-%m-%d} ｜ {h(author_of(o, a))}</p>
<div class="news-body">
{body}</div>
<ul class="share-buttons">
<li class="twitter"><a href="{h(share_url(o, a, "twitter"))}">ツイート</a></li>
<li class="hatena"><a href="{h(share_url(o, a, "hatena"))}">はてなブックマーク</a></li>
<li class="line"><a href="{h(share_url(o, a, "line"))}">LINEで送る</a></li>
</ul>
</article>
<div id="related">
<h2>関連記事</h2>
<ul>
{_list_items(rel)}</ul>
</div>
<div class="ad-text">[PR] 行内システムの脆弱性診断サービス</div>
</div>
<div id="side-column">
<div class="side-ranking"><h2>アクセスランキング</h2><ol>
{ranking}</ol></div>
<div class="side-banner">PR 銀行システム展示会 2026 事前登録受付中</div>
</div>
</div>
<div id="pagetop"><a href="#header">PAGE TOP</a></div>
<div id="footer"><p><a href="{BASE}/bank-it/company/">会社概要</a> | <a href="{BASE}/bank-it/privacy/">プライバシーポリシー</a> | <a href="{BASE}/bank-it/sitemap/">サイトマップ</a></p><p>Copyright (C) 2008-2026 Bank IT News. All Rights Reserved.</p></div>
</body>
</html>
"""


def page_press(o, a, rel, rank):
    d = a["_dt"]
    body = "".join(f"<p>{h(p)}</p>\n" for p in a["body"])
    return f"""<!DOCTYPE html>
<html lang="ja">
<head>
{head_charset(o)}<meta name="viewport" content="width=device-width, initial-scale=1">
<title>{h(a["title"])} | 決済事業者プレスリリース</title>
<meta name="description" content="{h(a["summary"])}">
</head>
<body>
<header class="header">
<div class="header__brand"><a href="{BASE}/press/">決済事業者プレスリリース</a></div>
<form class="header__search" action="{BASE}/press/search"><input name="q" placeholder="キーワード・企業名で検索"><button type="submit">検索</button></form>
<nav class="header__nav"><a href="{BASE}/press/">新着リリース</a> <a href="{BASE}/press/category/service/">サービス</a> <a href="{BASE}/press/category/campaign/">キャンペーン</a> <a href="{BASE}/press/category/ir/">IR・決算</a> <a href="{BASE}/press/category/notice/">お知らせ・お詫び</a></nav>
</header>
<nav class="breadcrumb"><a href="{BASE}/press/">ホーム</a> / <a href="{BASE}/press/releases/">リリース一覧</a> / {h(section_of(a))}</nav>
<div class="container">
<article class="release">
<p class="release__type">プレスリリース</p>
<h1 class="release__title">{h(a["title"])}</h1>
<p class="release__date"><time datetime="{a["published"]}">{jp_date(d, with_time=True)}</time></p>
<div class="release-body">
{body}</div>
<div class="release__contact"><h2>本件に関するお問い合わせ</h2><p>{h(author_of(o, a))}　報道関係者専用窓口（平日10時～17時）</p></div>
<div class="share"><a href="{h(share_url(o, a, "twitter"))}">ツイート</a><a href="{h(share_url(o, a, "hatena"))}">はてなブックマーク</a><a href="{h(share_url(o, a, "line"))}">LINEで送る</a></div>
</article>
<section class="related"><h2>関連記事</h2><ul>
{_list_items(rel)}</ul></section>
<aside class="sidebar">
<section class="ranking"><h2>アクセスランキング</h2><ol>
{_list_items(rank)}</ol></section>
<div class="banner">PR リリース配信プランのご案内</div>
</aside>
</div>
<a class="pagetop" href="#">PAGE TOP</a>
<footer class="footer"><a href="{BASE}/press/company/">会社概要</a> <a href="{BASE}/press/privacy/">プライバシーポリシー</a> <a href="{BASE}/press/terms/">利用規約</a><p>Copyright &copy; 2026 Press Release Hub, Inc.</p></footer>
</body>
</html>
"""


PAGES = {
    "paysec": page_paysec,
    "fintech-journal": page_fintech,
    "cryptowatch": page_cryptowatch,
    "cashless-now": page_cashless,
    "kinyu-shimbun": page_kinyu,
    "sec-blog": page_secblog,
    "bank-it": page_bankit,
    "press": page_press,
}

DESCRIPTIONS = {
    "paysec": "カード・電子決済の安全を考える業界ニュース",
    "fintech-journal": "金融とテクノロジーの最前線を伝えるビジネスニュース",
    "cryptowatch": "ビットコイン・暗号資産の最新ニュースと解説",
    "cashless-now": "キャッシュレス決済のお得と安心を毎日お届け",
    "kinyu-shimbun": "金融界の今を伝える専門紙",
    "sec-blog": "情報セキュリティの事件・事故を記録し、ときどき考えるブログです。",
    "bank-it": "銀行・金融機関のIT、システム、セキュリティの専門ニュース",
    "press": "決済事業者の最新プレスリリース",
}


# ---------------------------------------------------------------------------------------
# Feeds
# ---------------------------------------------------------------------------------------


def xml_decl(o: dict) -> str:
    if "xml" in o["feed_declares"]:
        return f'<?xml version="1.0" encoding="{charset_name(o["feed_encoding"])}"?>\n'
    if o["feed_declares"]:  # declared elsewhere (header): a plain declaration
        return '<?xml version="1.0"?>\n'
    return ""  # declares nothing at all


def feed_rss1(o, arts):
    home = f"{BASE}/{o['id']}/"
    seq = "".join(f'<rdf:li rdf:resource={xa(article_url(o["id"], a["slug"]))}/>\n' for a in arts)
    items = "".join(
        f"""<item rdf:about={xa(article_url(o["id"], a["slug"]))}>
<title>{x(a["title"])}</title>
<link>{x(article_url(o["id"], a["slug"]))}</link>
<description>{x(a["summary"])}</description>
<dc:subject>{x(section_of(a))}</dc:subject>
<dc:creator>{x(author_of(o, a))}</dc:creator>
<dc:date>{a["published"]}</dc:date>
</item>
"""
        for a in arts
    )
    newest = arts[0]["published"] if arts else "2018-01-01T00:00:00+09:00"
    return f"""{xml_decl(o)}<rdf:RDF xmlns="http://purl.org/rss/1.0/" xmlns:rdf="http://www.w3.org/1999/02/22-rdf-syntax-ns#" xmlns:dc="http://purl.org/dc/elements/1.1/" xml:lang="ja">
<channel rdf:about={xa(BASE + o["feed"])}>
<title>{x(o["name"])}</title>
<link>{x(home)}</link>
<description>{x(DESCRIPTIONS[o["id"]])}</description>
<dc:language>ja</dc:language>
<dc:date>{newest}</dc:date>
<items>
<rdf:Seq>
{seq}</rdf:Seq>
</items>
</channel>
{items}</rdf:RDF>
"""


def feed_rss2(o, arts):
    home = f"{BASE}/{o['id']}/"

    def guid(a):
        if o["id"] == "fintech-journal":
            n = int(hashlib.sha256(a["slug"].encode()).hexdigest()[:8], 16) % 900000 + 100000
            return f'<guid isPermaLink="false">fj-{n}</guid>'
        return f'<guid isPermaLink="true">{x(article_url(o["id"], a["slug"]))}</guid>'

    items = "".join(
        f"""<item>
<title>{x(a["title"])}</title>
<link>{x(article_url(o["id"], a["slug"]))}</link>
{guid(a)}
<pubDate>{rfc822(a["_dt"])}</pubDate>
<category>{x(section_of(a))}</category>
<description>{x(a["summary"])}</description>
</item>
"""
        for a in arts
    )
    newest = rfc822(arts[0]["_dt"]) if arts else rfc822(EARLIEST)
    return f"""{xml_decl(o)}<rss version="2.0">
<channel>
<title>{x(o["name"])}</title>
<link>{x(home)}</link>
<description>{x(DESCRIPTIONS[o["id"]])}</description>
<language>ja</language>
<lastBuildDate>{newest}</lastBuildDate>
<generator>kessai sample corpus</generator>
{items}</channel>
</rss>
"""


def feed_atom(o, arts):
    home = f"{BASE}/{o['id']}/"
    entries = "".join(
        f"""<entry>
<title type="text">{x(a["title"])}</title>
<link rel="alternate" type="text/html" href={xa(article_url(o["id"], a["slug"]))}/>
<id>tag:{o["id"]}.kessai-sample.invalid,{a["_dt"]:%Y-%m-%d}:{a["slug"]}</id>
<published>{a["published"]}</published>
<updated>{a["published"]}</updated>
<author><name>{x(author_of(o, a))}</name></author>
<category term={xa(section_of(a))}/>
<summary type="text">{x(a["summary"])}</summary>
</entry>
"""
        for a in arts
    )
    newest = arts[0]["published"] if arts else "2018-01-01T00:00:00+09:00"
    return f"""{xml_decl(o)}<feed xmlns="http://www.w3.org/2005/Atom" xml:lang="ja">
<title>{x(o["name"])}</title>
<subtitle>{x(DESCRIPTIONS[o["id"]])}</subtitle>
<id>tag:{o["id"]}.kessai-sample.invalid,2018:feed</id>
<link rel="self" type="application/atom+xml" href={xa(BASE + o["feed"])}/>
<link rel="alternate" type="text/html" href={xa(home)}/>
<updated>{newest}</updated>
{entries}</feed>
"""


def feed_json(o, arts):
    feed = {
        "version": "https://jsonfeed.org/version/1.1",
        "title": o["name"],
        "home_page_url": f"{BASE}/{o['id']}/",
        "feed_url": BASE + o["feed"],
        "description": DESCRIPTIONS[o["id"]],
        "language": "ja",
        "items": [
            {
                "id": f"{o['id']}:{a['slug']}",
                "url": article_url(o["id"], a["slug"]),
                "title": a["title"],
                "summary": a["summary"],
                "content_text": a["summary"],
                "date_published": a["published"],
                "authors": [{"name": author_of(o, a)}],
                "tags": [section_of(a)],
            }
            for a in arts
        ],
    }
    return json.dumps(feed, ensure_ascii=False, indent=2) + "\n"


def kinyu_list_pages(o, arts) -> dict[str, str]:
    """The html-list outlet: /news/index.html, index_2.html, ... 20 links per page."""
    pages = {}
    chunks = [arts[i : i + KINYU_PAGE_SIZE] for i in range(0, len(arts), KINYU_PAGE_SIZE)] or [[]]
    names = ["index.html"] + [f"index_{n}.html" for n in range(2, len(chunks) + 1)]
    for n, chunk in enumerate(chunks):
        lis = "".join(
            f'<li><span class="date">{a["_dt"]:%Y年%m月%d日}</span> <a href="{h(article_url(o["id"], a["slug"]))}">{h(a["title"])}</a></li>\n'
            for a in chunk
        )
        nav = []
        if n > 0:
            nav.append(f'<a href="{BASE}/kinyu-shimbun/news/{names[n - 1]}" rel="prev">&lt;&lt; 前へ</a>')
        nav.append(f"{n + 1} / {len(chunks)} ページ")
        if n + 1 < len(chunks):
            nav.append(f'<a href="{BASE}/kinyu-shimbun/news/{names[n + 1]}" rel="next">次へ &gt;&gt;</a>')
        link_next = (
            f'<link rel="next" href="{BASE}/kinyu-shimbun/news/{names[n + 1]}">\n' if n + 1 < len(chunks) else ""
        )
        pages[names[n]] = f"""<!DOCTYPE html>
<html lang="ja">
<head>
<meta charset="{charset_name(o["feed_encoding"])}">
<title>ニュース一覧（{n + 1}ページ目）：週刊金融新報</title>
{link_next}</head>
<body>
<div id="wrapper">
<div id="header"><div class="logo"><a href="{BASE}/kinyu-shimbun/">週刊金融新報</a></div>
<div class="header-sub">金融界の今を伝える専門紙　毎週月曜発行</div></div>
<div id="menu"><a href="{BASE}/kinyu-shimbun/">トップ</a>｜<a href="{BASE}/kinyu-shimbun/news/index.html">ニュース一覧</a>｜<a href="{BASE}/kinyu-shimbun/koudoku/">購読のご案内</a></div>
<div id="pankuzu"><a href="{BASE}/kinyu-shimbun/">トップ</a> ＞ ニュース一覧</div>
<div id="contents">
<h1>ニュース一覧</h1>
<ul class="news-list">
{lis}</ul>
<div class="pager">{" ｜ ".join(nav)}</div>
</div>
<div class="pagetop"><a href="#wrapper">PAGE TOP</a></div>
<div id="footer"><a href="{BASE}/kinyu-shimbun/kaisha/">会社概要</a>｜<a href="{BASE}/kinyu-shimbun/privacy/">プライバシーポリシー</a><br>Copyright (C) 週刊金融新報社 All Rights Reserved.</div>
</div>
</body>
</html>
"""
    return pages


# ---------------------------------------------------------------------------------------
# Rendering
# ---------------------------------------------------------------------------------------


def render(outlets: list[dict], by_outlet: dict[str, list[dict]]) -> dict[str, bytes]:
    """relative path under sites/ -> exact bytes."""
    files: dict[str, bytes] = {}

    def put(rel: str, text: str, encoding: str, where: str):
        data = encode_text(text, encoding, where)
        if decode_bytes(data, encoding) != text:
            raise CorpusError(f"{where}: does not round-trip through {encoding}")
        if data.count(BASE.encode()) != text.count(BASE):
            raise CorpusError(f"{where}: {BASE} placeholder garbled by encoding")
        files[rel] = data

    for o in outlets:
        arts = by_outlet[o["id"]]
        # Check each source field first, so an error names the article the text is in
        # (a title also appears in other pages' ranking boxes).
        for a in arts:
            fields = [("title", a["title"]), ("summary", a["summary"])]
            fields += [(f"body[{i}]", p) for i, p in enumerate(a["body"])]
            fields += [(f"related[{i}]", r) for i, r in enumerate(a["related"])]
            for name, value in fields:
                encode_text(value, o["encoding"], f"{a['_file']} {a['slug']} {name}")
                if name in ("title", "summary"):
                    encode_text(value, o["feed_encoding"], f"{a['_file']} {a['slug']} {name} (feed)")
        by_title = {a["title"]: a for a in arts}
        for a in arts:
            rel = related_links(o, a, by_title)
            rank = ranking_links(o, a, arts)
            text = PAGES[o["id"]](o, a, rel, rank)
            put(f"{o['id']}/articles/{a['slug']}.html", text, o["encoding"], f"{a['_file']} {a['slug']} (page)")
        fmt = o["format"]
        feed_rel = o["feed"].lstrip("/")
        where = f"{o['id']} feed"
        if fmt == "rss1":
            put(feed_rel, feed_rss1(o, arts), o["feed_encoding"], where)
        elif fmt == "rss2":
            put(feed_rel, feed_rss2(o, arts), o["feed_encoding"], where)
        elif fmt == "atom":
            put(feed_rel, feed_atom(o, arts), o["feed_encoding"], where)
        elif fmt == "json":
            put(feed_rel, feed_json(o, arts), o["feed_encoding"], where)
        elif fmt == "html-list":
            folder = feed_rel.rsplit("/", 1)[0]
            for name, text in kinyu_list_pages(o, arts).items():
                put(f"{folder}/{name}", text, o["feed_encoding"], f"{where} {name}")
        else:
            raise CorpusError(f"{o['id']}: unknown format {fmt!r}")
    return files


def toml_str(s: str) -> str:
    # JSON string escapes (\" \\ \n \uXXXX) are valid TOML basic-string escapes.
    return json.dumps(s, ensure_ascii=False)


def render_labels(outlets: list[dict], by_outlet: dict[str, list[dict]]) -> bytes:
    lines = [
        "# Expected labels of every sample article. GENERATED by assets/corpus/generate.py from",
        "# assets/corpus/src/*.toml; edit the sources, then run the generator.",
        "# incident = the real incident the article reports (absent for non-incident articles);",
        "# articles with the same incident report the same event.",
        "",
    ]
    for o in outlets:
        for a in sorted(by_outlet[o["id"]], key=lambda a: (a["_dt"], a["slug"])):
            lines.append("[[article]]")
            lines.append(f"outlet = {toml_str(o['id'])}")
            lines.append(f"slug = {toml_str(a['slug'])}")
            lines.append(f"url_path = {toml_str(article_path(o['id'], a['slug']))}")
            lines.append(f"title = {toml_str(a['title'])}")
            lines.append(f"published = {toml_str(a['published'])}")
            lines.append("tags = [" + ", ".join(toml_str(t) for t in a["tags"]) + "]")
            if a.get("incident"):
                lines.append(f"incident = {toml_str(a['incident'])}")
            lines.append("")
    return ("\n".join(lines).rstrip("\n") + "\n").encode("utf-8")


def existing_files() -> dict[str, bytes]:
    out = {}
    if SITES.exists():
        for p in sorted(SITES.rglob("*")):
            if p.is_file():
                out[p.relative_to(SITES).as_posix()] = p.read_bytes()
    return out


def main(argv: list[str]) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--check", action="store_true", help="verify sites/ and labels.toml are up to date")
    args = ap.parse_args(argv)
    try:
        outlets = load_outlets()
        by_outlet = load_articles(outlets)
        files = render(outlets, by_outlet)
        labels = render_labels(outlets, by_outlet)
    except CorpusError as e:
        print(f"generate.py: {e}", file=sys.stderr)
        return 2
    have = existing_files()
    if args.check:
        problems = [f"missing: sites/{p}" for p in sorted(set(files) - set(have))]
        problems += [f"stale extra file: sites/{p}" for p in sorted(set(have) - set(files))]
        problems += [f"differs: sites/{p}" for p in sorted(set(files) & set(have)) if files[p] != have[p]]
        if not LABELS.exists() or LABELS.read_bytes() != labels:
            problems.append("differs: labels.toml")
        if problems:
            print("generate.py --check: corpus is out of date; run python3 assets/corpus/generate.py", file=sys.stderr)
            for p in problems[:50]:
                print("  " + p, file=sys.stderr)
            return 1
        total = sum(len(v) for v in by_outlet.values())
        print(f"generate.py --check: up to date ({total} articles, {len(files)} files)")
        return 0
    for rel in sorted(set(have) - set(files)):
        (SITES / rel).unlink()
    for rel, data in files.items():
        path = SITES / rel
        if have.get(rel) != data:
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_bytes(data)
    for d in sorted((p for p in SITES.rglob("*") if p.is_dir()), reverse=True):
        if not any(d.iterdir()):
            d.rmdir()
    LABELS.write_bytes(labels)
    total = sum(len(v) for v in by_outlet.values())
    print(f"generate.py: wrote {len(files)} files for {total} articles to {SITES.relative_to(HERE.parent.parent)}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
