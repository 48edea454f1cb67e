"""What a visitor sees, in a real browser: Debian's Chromium, headless, driven by selenium through chromedriver.

``fedi serve`` runs in its own process on the sample archive (config.example.toml + outbox/, copied), with
replies stored beforehand through the same code the inbox uses (one of them hostile). The browser opens the
profile page and a talk page on a 375-pixel-wide phone screen and checks the title, the video with its WebM
source and poster, the approved replies in order with their authors, the counts; that nothing hostile ran (no
alert, no injected element, no script but fedi's own player script, no console error) and that nothing scrolls
sideways. On the talk with sample captions and chapters it checks the tracks, that a chapter click seeks the
player, and the transcript page. A talk whose file is a real WebM clip (recorded by Chromium itself) is framed
as a Mastodon card frames it, from another origin: the embed page plays there, with its tracks, and fills the
frame. Screenshots go to the test's temporary folder.

The browser reaches nothing but 127.0.0.1: every other host goes to a dead proxy and resolves nowhere (the
sample's video files are placeholders on videos.example.org). ``.ci/run`` installs ``chromium`` and
``chromium-driver``; without them the test is skipped.
"""

from __future__ import annotations

import asyncio
import base64
import datetime as dt
import http.server
import json
import shutil
import socket
import subprocess
import sys
import threading
import time
import urllib.request
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import replace
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest

from fedi import config as config_mod
from fedi import interactions, publish
from fedi.config import urls_for
from fedi.inbox import Inbound
from fedi.store import open_store
from fedi.talks import load_archive
from fedi.verify import Signer
from tests.conftest import ROOT

CHROMIUM = Path("/usr/bin/chromium")
CHROMEDRIVER = Path("/usr/bin/chromedriver")
WIDTH = 375
SLUG = "stiegler"
AS = "https://www.w3.org/ns/activitystreams"
PUBLIC = f"{AS}#Public"

webdriver = pytest.importorskip("selenium.webdriver", reason="selenium is not installed (pip install -e '.[test]')")
if not (CHROMIUM.exists() and CHROMEDRIVER.exists()):
    pytest.skip("Chromium is not installed: apt-get install chromium chromium-driver (.ci/run does)",
                allow_module_level=True)

from selenium.common.exceptions import NoAlertPresentException  # noqa: E402
from selenium.webdriver.common.by import By  # noqa: E402
from selenium.webdriver.support.wait import WebDriverWait  # noqa: E402

HOSTILE_HTML = (
    '<p>Attention<script>alert("script")</script><img src=x onerror=alert("img")>'
    '<a href="javascript:alert(\'link\')" onclick="alert(\'click\')">cliquez</a>'
    '<style>body{display:none}</style><span style="display:block;width:5000px">large</span>'
    '<iframe src="https://evil.example/"></iframe><svg onload=alert("svg")></svg>'
    '<form action="https://evil.example/"><input value="x"></form></p>'
    "<p>" + "mot" * 200 + "</p><pre><code>" + "code_sans_espace" * 30 + "</code></pre><p><strong>pas <em>fermé"
)
HOSTILE_NAME = "\u202eevE\u200b <img src=x onerror=alert('name')>"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def sample_archive(root: Path, port: int) -> Path:
    """A copy of the shipped sample archive, served at http://127.0.0.1:PORT."""
    text = (ROOT / "config.example.toml").read_text(encoding="utf-8")
    text = text.replace('base_url = "http://127.0.0.1:8080"', f'base_url = "http://127.0.0.1:{port}"')
    text = text.replace("port = 8080", f"port = {port}").replace("watch_seconds = 5", "watch_seconds = 0")
    assert f"127.0.0.1:{port}" in text
    path = root / "config.toml"
    path.write_text(text, encoding="utf-8")
    shutil.copytree(ROOT / "outbox", root / "outbox")
    return path


def note(n: int, actor: str, in_reply_to: str, content: str, published: str) -> dict[str, Any]:
    """A Create{Note} as Mastodon sends it (docs/receivers.md, Mastodon: activities)."""
    note_id = f"{actor}/statuses/{n}"
    return {"@context": AS, "id": f"{note_id}/activity", "type": "Create", "actor": actor,
            "object": {"id": note_id, "type": "Note", "attributedTo": actor, "inReplyTo": in_reply_to,
                       "content": content, "contentMap": {"fr": content}, "published": published,
                       "url": f"https://{urlsplit(actor).netloc}/@x/{n}", "to": [PUBLIC], "cc": []}}


def actor_doc(actor: str, name: str, icon: str) -> dict[str, Any]:
    user = actor.rsplit("/", 1)[1]
    return {"id": actor, "type": "Person", "inbox": f"{actor}/inbox", "preferredUsername": user, "name": name,
            "url": f"https://{urlsplit(actor).netloc}/@{user}", "icon": {"type": "Image", "url": icon}}


async def seed(config_path: Path) -> dict[str, str]:
    """Publish the sample, then receive replies through the inbox's own handler; approve, hide, like, boost."""
    config = config_mod.load(config_path)
    entries, problems = load_archive(config.archive.dir, config.archive.language)
    assert not problems
    base = config.server.base_url
    talk = f"{base}/talks/{SLUG}"
    alice, bob, eve, carl = (f"https://{host}/users/{user}" for host, user in (
        ("mastodon.example", "alice"), ("tube.example", "bob"), ("evil.example", "eve"), ("spam.example", "carl")))
    local_avatar = f"{base}/static/poster.jpg"  # the browser fetches avatars: keep them on 127.0.0.1
    docs = {
        alice: actor_doc(alice, "Alice Martin", local_avatar),
        bob: actor_doc(bob, "Bob", local_avatar),
        eve: actor_doc(eve, HOSTILE_NAME, "javascript:alert('avatar')"),
        carl: actor_doc(carl, "Carl", local_avatar),
    }
    first = note(1, alice, talk, '<p>Très <em>belle</em> intervention, merci <a href="https://ex.example/a">'
                 "(lien)</a>.</p>", "2024-01-02T10:00:00Z")
    answer = note(2, bob, first["object"]["id"], "<p>Je suis d’accord.</p>", "2024-01-02T11:00:00Z")
    hostile = note(3, eve, talk, HOSTILE_HTML, "2024-01-02T12:00:00Z")
    waiting = note(4, carl, talk, "<p>En attente de modération</p>", "2024-01-02T13:00:00Z")
    hidden = note(5, carl, talk, "<p>Message caché</p>", "2024-01-02T14:00:00Z")
    now = dt.datetime.now(dt.UTC)
    async with open_store(config.store.url) as store:
        await publish.sync(config, urls_for(config), store, entries, now)
        for actor, doc in docs.items():
            await store.cache_actor(actor, doc, [], now)
        for activity in (first, answer, hostile, waiting, hidden):
            actor = activity["actor"]
            signer = Signer(actor, f"{actor}#main-key", urlsplit(actor).netloc)
            await interactions.on_create(Inbound(config, urls_for(config), store, now, signer,
                                                 interactions.dispatcher()), activity)
        for activity in (first, answer, hostile):
            await store.set_comment_state(activity["object"]["id"], "approved")
        await store.set_comment_state(hidden["object"]["id"], "hidden")
        for n, actor in enumerate((alice, bob)):
            await store.add_reaction("like", f"{actor}#likes/{n}", actor, SLUG, now)
        await store.add_reaction("announce", f"{alice}/statuses/9/activity", alice, SLUG, now)
        assert [c.state for c in await store.comments(SLUG, state=None)] == [
            "approved", "approved", "approved", "pending", "hidden"]
    return {"base": base, "talk": talk}


@contextmanager
def serving(tmp_path: Path, prepare: Callable[[Path], None] | None = None) -> Iterator[dict[str, str]]:
    """``fedi serve`` in its own process on the seeded sample archive (``prepare`` may add to the archive
    folder first); yields its base URL."""
    port = free_port()
    root = tmp_path / "archive"
    root.mkdir()
    config_path = sample_archive(root, port)
    if prepare is not None:
        prepare(root / "outbox")
    urls = asyncio.run(seed(config_path))
    log = (tmp_path / "serve.log").open("w")
    proc = subprocess.Popen([sys.executable, "-m", "fedi.cli", "--config", str(config_path), "serve"],
                            stdout=log, stderr=subprocess.STDOUT, cwd=tmp_path)
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                with urllib.request.urlopen(urls["base"] + "/nodeinfo/2.1", timeout=2):
                    break
            except OSError:
                if proc.poll() is not None or time.monotonic() > deadline:
                    raise AssertionError((tmp_path / "serve.log").read_text()) from None
                time.sleep(0.1)  # waiting for another process to listen: nothing to await instead
        yield urls
    finally:
        proc.terminate()
        proc.wait(timeout=10)
        log.close()


@pytest.fixture
def server(tmp_path: Path) -> Iterator[dict[str, str]]:
    """``fedi serve`` on the seeded sample archive."""
    with serving(tmp_path) as urls:
        yield urls


@pytest.fixture
def browser(tmp_path: Path):
    options = webdriver.ChromeOptions()
    options.binary_location = str(CHROMIUM)
    for flag in ("--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync",
                 "--disable-default-apps", "--disable-extensions", "--no-default-browser-check",
                 "--disable-features=MediaRouter,OptimizationHints,Translate",
                 f"--user-data-dir={tmp_path / 'chromium-profile'}", f"--window-size={WIDTH},812",
                 # nothing leaves 127.0.0.1: other hosts go to a dead proxy and resolve nowhere
                 "--proxy-server=http://127.0.0.1:9", "--proxy-bypass-list=127.0.0.1",
                 "--host-resolver-rules=MAP * ~NOTFOUND, EXCLUDE 127.0.0.1"):
        options.add_argument(flag)
    options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    service = webdriver.ChromeService(executable_path=str(CHROMEDRIVER), log_output=str(tmp_path / "driver.log"))
    driver = webdriver.Chrome(options=options, service=service)
    try:
        # a phone's viewport, and a record of any dialog a script might open (DevTools scripts ignore the CSP)
        driver.execute_cdp_cmd("Emulation.setDeviceMetricsOverride",
                               {"width": WIDTH, "height": 812, "deviceScaleFactor": 2, "mobile": True})
        driver.execute_cdp_cmd("Page.addScriptToEvaluateOnNewDocument", {"source": (
            "window.__dialogs = [];"
            "for (const name of ['alert', 'confirm', 'prompt', 'print']) {"
            "  const original = window[name];"
            "  window[name] = function (...args) { window.__dialogs.push([name, String(args[0])]); };"
            "}")})
        yield driver
    finally:
        driver.quit()


CONSOLE: list[dict[str, Any]] = []
"""Every console entry read so far (the log is drained when read), saved beside the screenshots."""


def problems(driver: Any) -> list[str]:
    """Console messages of level SEVERE, but for the sample's placeholder media on hosts other than 127.0.0.1
    (the browser may not reach them, by design) and the browser's own request for /favicon.ico."""
    found = []
    entries = driver.get_log("browser")
    CONSOLE.extend(entries)
    for entry in entries:
        if entry["level"] != "SEVERE":
            continue
        message = entry["message"]
        urls = [w for w in message.split() if w.startswith(("http://", "https://"))]
        if urls and all(not urlsplit(u).netloc.startswith("127.0.0.1") or urlsplit(u).path == "/favicon.ico"
                        for u in urls):
            continue
        found.append(message)
    return found


def check_visitor_safe(driver: Any) -> None:
    """No dialog, no script, no injected element or handler, no console error, no sideways scrolling."""
    try:
        text = driver.switch_to.alert.text
        raise AssertionError(f"an alert is open: {text}")
    except NoAlertPresentException:
        pass
    assert driver.execute_script("return window.__dialogs") == []
    scripts = driver.execute_script("return Array.from(document.scripts).map(s => s.src)")
    assert all(urlsplit(src).path == "/static/player.js" for src in scripts), scripts  # fedi's own, nothing else
    injected = driver.execute_script(
        "return Array.from(document.querySelectorAll('*')).filter(e => Array.from(e.attributes)"
        ".some(a => a.name.startsWith('on') || a.value.trim().toLowerCase().startsWith('javascript:')))"
        ".map(e => e.outerHTML.slice(0, 120))")
    assert injected == []
    assert driver.find_elements(By.CSS_SELECTOR, "iframe, form, svg, object, embed, style:not(head style)") == []
    assert problems(driver) == []
    width = driver.execute_script("return [window.innerWidth, document.documentElement.scrollWidth]")
    assert width[0] == WIDTH and width[1] <= WIDTH, f"the page scrolls sideways: {width}"


def test_a_visitor_sees_the_archive_and_the_conversation(server: dict[str, str], browser: Any,
                                                         tmp_path: Path) -> None:
    """Profile and talk pages render on a phone, with the video, approved replies and counts, and nothing
    hostile runs."""
    driver = browser
    driver.get(server["base"] + "/")
    assert "Ars Industrialis" in driver.title
    talks = [a.get_attribute("href") for a in driver.find_elements(By.CSS_SELECTOR, "a[href*='/talks/']")]
    assert server["talk"] in talks
    driver.save_screenshot(str(tmp_path / "profile.png"))
    check_visitor_safe(driver)

    driver.get(server["talk"])
    title = driver.find_element(By.TAG_NAME, "h1").text
    assert title == "Bernard Stiegler — Logiciel libre et économie de la contribution"
    assert title in driver.title
    video = driver.find_element(By.TAG_NAME, "video")
    assert video.get_attribute("poster") == server["base"] + "/media/images/stiegler.jpg"
    sources = video.find_elements(By.CSS_SELECTOR, "source[type='video/webm']")
    assert [s.get_attribute("src").endswith(".webm") for s in sources] == [True]
    replies = driver.find_elements(By.CSS_SELECTOR, "article.reply")
    authors = [r.find_element(By.CSS_SELECTOR, ".reply-author").text for r in replies]
    assert authors == ["Alice Martin", "Bob", "evE <img src=x onerror=alert('name')>"], authors
    texts = [r.find_element(By.CSS_SELECTOR, ".reply-content").text for r in replies]
    assert texts[0] == "Très belle intervention, merci (lien)."
    assert texts[1] == "Je suis d’accord."
    assert texts[2].startswith("Attention") and "cliquez" in texts[2] and "pas fermé" in texts[2]
    assert all("attente" not in t and "caché" not in t for t in texts), "pending and hidden replies never show"
    nested = driver.find_elements(By.CSS_SELECTOR, "ol.replies ol.replies .reply-author")
    assert [a.text for a in nested] == ["Bob"], "the answer nests under the reply it answers"
    handles = [r.find_element(By.CSS_SELECTOR, ".handle").text for r in replies]
    assert handles == ["@alice@mastodon.example", "@bob@tube.example", "@eve@evil.example"]
    profile_links = [r.find_element(By.CSS_SELECTOR, ".reply-author a").get_attribute("href") for r in replies[:2]]
    assert profile_links == ["https://mastodon.example/@alice", "https://tube.example/@bob"]
    assert driver.find_element(By.CSS_SELECTOR, ".counts").text == "2 j’aime · 1 partage"
    hostile = replies[2]
    assert hostile.find_elements(By.CSS_SELECTOR, "img") == [], "neither the injected image nor the avatar"
    assert [a.get_attribute("href") for a in hostile.find_elements(By.CSS_SELECTOR, ".reply-content a")] == [None]
    driver.save_screenshot(str(tmp_path / "talk.png"))
    driver.execute_script("document.querySelector('.conversation').scrollIntoView()")
    driver.save_screenshot(str(tmp_path / "conversation.png"))
    check_visitor_safe(driver)
    (tmp_path / "console.json").write_text(json.dumps(CONSOLE, indent=1))


def test_captions_chapters_and_transcript(server: dict[str, str], browser: Any, tmp_path: Path) -> None:
    """The player carries the French captions (shown by default) and the chapters track; a click on a chapter
    seeks the player; the transcript page's timestamps open the talk page with its player at that moment."""
    driver = browser
    driver.get(server["talk"])
    video = driver.find_element(By.TAG_NAME, "video")
    tracks = video.find_elements(By.TAG_NAME, "track")
    assert [(t.get_attribute("kind"), t.get_attribute("srclang")) for t in tracks] == [
        ("captions", "fr"), ("chapters", "fr")]
    assert [urlsplit(t.get_attribute("src")).netloc for t in tracks] == [urlsplit(server["base"]).netloc] * 2
    text_tracks = driver.execute_script(
        "return Array.from(arguments[0].textTracks).map(t => [t.kind, t.language, t.label, t.mode])", video)
    # the captions are on by default; Chromium leaves a chapters track disabled until a player asks for it
    assert text_tracks[0] == ["captions", "fr", "Français", "showing"]
    assert text_tracks[1][:3] == ["chapters", "fr", "Chapitres"]
    # the caption file loads (HTMLTrackElement.LOADED) and its cues reach the player
    WebDriverWait(driver, 10).until(lambda d: d.execute_script(
        "return arguments[0].querySelector('track').readyState === 2", video))
    assert driver.execute_script("return arguments[0].textTracks[0].cues.length", video) > 10

    chapters = driver.find_elements(By.CSS_SELECTOR, ".chapters a[data-start]")
    assert [c.find_element(By.TAG_NAME, "time").text for c in chapters] == [
        "0:00", "3:30", "12:00", "21:00", "30:30", "37:00"]
    assert chapters[3].get_attribute("href").endswith(".webm#t=1260"), "without the script: the recording at 21:00"
    before = driver.current_url
    chapters[3].click()
    assert driver.execute_script("return arguments[0].currentTime", video) == 1260
    assert driver.current_url == server["talk"] + "#t=1260" and before == server["talk"], "the page stayed"
    driver.save_screenshot(str(tmp_path / "chapters.png"))
    check_visitor_safe(driver)

    transcript = driver.find_element(By.CSS_SELECTOR, ".transcripts a")
    assert transcript.text == "Français"
    transcript.click()
    assert driver.current_url == server["talk"] + "/transcript/fr"
    assert driver.find_element(By.TAG_NAME, "h1").text.startswith("Transcription")
    stamps = driver.find_elements(By.CSS_SELECTOR, "a.timestamp")
    assert stamps and stamps[0].text == "0:00"
    assert driver.execute_script("return document.scripts.length") == 0
    check_visitor_safe(driver)
    target = stamps[-1].get_attribute("href")
    seconds = int(target.rsplit("#t=", 1)[1])
    assert seconds > 0
    stamps[-1].click()
    WebDriverWait(driver, 10).until(lambda d: d.execute_script(
        "const v = document.querySelector('video'); return v !== null && v.currentTime === arguments[0]", seconds))


def test_seeded_replies_are_sanitized_in_the_store(tmp_path: Path) -> None:
    """The hostile reply went through the inbox's handler: what the store holds is already inert."""
    config_path = sample_archive(tmp_path, free_port())
    asyncio.run(seed(config_path))
    config = config_mod.load(config_path)

    async def read() -> list[Any]:
        async with open_store(config.store.url) as store:
            return await store.comments(SLUG, state=None)
    stored = asyncio.run(read())
    hostile = next(c for c in stored if "evil.example" in c.author_id)
    for bad in ("<script", "onerror", "javascript:", "<img", "<style", "style=", "<iframe", "<svg", "<form"):
        assert bad not in hostile.content_html.lower(), bad
    assert hostile.author_name == "evE <img src=x onerror=alert('name')>" and hostile.author_avatar is None
    assert replace(hostile, content_html="").state == "approved"


# the embed page, as a Mastodon card frames it --------------------------------------------------------

CLIP_ENTRY = """\
title = "Un court extrait pour le lecteur intégré"
speakers = ["Alice Martin"]
recorded = 2024-01-01
summary = "Deux secondes de couleurs, enregistrées par le navigateur lui-même."
thumbnail = "images/stiegler.jpg"

[[media]]
url = "media/clip.webm"
type = "video/webm"
width = 320
height = 180
"""

RECORD_CLIP = """
const done = arguments[arguments.length - 1];
const canvas = document.createElement('canvas');
canvas.width = 320; canvas.height = 180;
const paint = canvas.getContext('2d');
const recorder = new MediaRecorder(canvas.captureStream(25), {mimeType: 'video/webm;codecs=vp8'});
const parts = [];
let frame = 0;
recorder.ondataavailable = (event) => parts.push(event.data);
recorder.onstop = () => {
  const reader = new FileReader();
  reader.onload = () => done(reader.result.split(',')[1]);
  reader.readAsDataURL(new Blob(parts, {type: 'video/webm'}));
};
const timer = setInterval(() => { paint.fillStyle = `hsl(${frame++ * 9 % 360}, 80%, 50%)`;
                                  paint.fillRect(0, 0, 320, 180); }, 40);
recorder.start();
setTimeout(() => { clearInterval(timer); recorder.stop(); }, 2000);
"""
"""Two seconds of VP8 WebM recorded by Chromium from a canvas: a real file to play, with no binary in the
repository and no encoder to install."""


@pytest.fixture
def clip_server(tmp_path: Path, browser: Any) -> Iterator[dict[str, str]]:
    """The sample archive plus a talk whose local file is a real WebM clip, served by ``fedi serve``."""
    browser.set_script_timeout(30)
    clip = base64.b64decode(browser.execute_async_script(RECORD_CLIP))
    assert clip[:4] == bytes.fromhex("1a45dfa3") and len(clip) > 1000  # an EBML (WebM) file

    def add_clip(outbox: Path) -> None:
        (outbox / "media").mkdir()
        (outbox / "media" / "clip.webm").write_bytes(clip)
        (outbox / "clip.toml").write_text(CLIP_ENTRY, encoding="utf-8")
    with serving(tmp_path, add_clip) as urls:
        yield {**urls, "clip": f"{urls['base']}/talks/clip"}


PLAY = """
const done = arguments[arguments.length - 1];
const video = document.querySelector('video');
video.muted = true;
video.play().then(() => {
  const waited = Date.now();
  const check = () => video.currentTime > 0.5 ? done(['playing', video.currentTime, video.videoWidth])
    : Date.now() - waited > 10000 ? done(['stuck', video.currentTime, video.readyState]) : setTimeout(check, 50);
  check();
}, (error) => done(['refused', String(error), video.networkState]));
"""


def test_the_embed_page_plays_in_a_card_frame_on_a_phone(clip_server: dict[str, str], browser: Any,
                                                          tmp_path: Path) -> None:
    """The talk page's oEmbed answer frames the embed page; in that frame, on a phone, the player fills the
    frame, plays the talk's file, and links back to the talk page. The embed page alone fills the screen."""
    driver = browser
    driver.get(clip_server["clip"])
    link = driver.find_element(By.CSS_SELECTOR, "link[type='application/json+oembed']").get_attribute("href")
    with urllib.request.urlopen(link, timeout=5) as resp:
        card = json.load(resp)
    embed = f"{clip_server['clip']}/embed"
    assert card["type"] == "video" and f'src="{embed}"' in card["html"]
    assert (card["width"], card["height"]) == (320, 180)

    # the card as Mastodon shows it: the oEmbed html in a page of another origin (another port)
    host = f"<!doctype html><meta name=viewport content='width=device-width'><body style='margin:0'>{card['html']}"
    with other_origin(host) as page:
        driver.get(page)
        framed(driver, clip_server, embed)
    driver.get(embed)
    width = driver.execute_script("return [document.querySelector('video').getBoundingClientRect().width, "
                                  "window.innerWidth, document.documentElement.scrollWidth]")
    assert width == [WIDTH, WIDTH, WIDTH], width
    assert driver.execute_async_script(PLAY)[0] == "playing"
    assert driver.execute_script("return document.scripts.length") == 0
    assert problems(driver) == []
    driver.save_screenshot(str(tmp_path / "embed.png"))


@contextmanager
def other_origin(html: str) -> Iterator[str]:
    """A page served from another port of 127.0.0.1 (another origin, as a Mastodon server is)."""
    body = html.encode()

    class Page(http.server.BaseHTTPRequestHandler):
        def do_GET(self) -> None:  # noqa: N802 - the standard library's name
            self.send_response(200)
            self.send_header("Content-Type", "text/html; charset=utf-8")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args: Any) -> None:
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Page)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/"
    finally:
        server.shutdown()
        server.server_close()


def framed(driver: Any, clip_server: dict[str, str], embed: str) -> None:
    """Inside the card's frame: the poster, the talk's source, a player filling the frame that plays."""
    driver.switch_to.frame(driver.find_element(By.TAG_NAME, "iframe"))
    video = WebDriverWait(driver, 10).until(lambda d: d.find_element(By.TAG_NAME, "video"),
                                            message=f"no player in the frame: {driver.page_source[:300]}")
    assert video.get_attribute("poster") == clip_server["base"] + "/media/images/stiegler.jpg"
    sources = [s.get_attribute("src") for s in video.find_elements(By.TAG_NAME, "source")]
    assert sources == [clip_server["base"] + "/media/media/clip.webm"]
    size = driver.execute_script("const r = document.querySelector('video').getBoundingClientRect();"
                                 "return [r.width, r.height, window.innerWidth, window.innerHeight]")
    assert size[2:] == [320, 180] and size[0] == 320 and size[1] > 100, size
    state = driver.execute_async_script(PLAY)
    assert state[0] == "playing" and state[2] == 320, state
    back = driver.find_element(By.CSS_SELECTOR, "a.embed-link")
    assert back.get_attribute("href") == clip_server["clip"] and back.get_attribute("target") == "_blank"
    driver.switch_to.default_content()
