"""The rating page: one HTML page and its script, with nothing in them about the runs.

The page asks ``/api/next`` for a trial (an opaque token and the URLs of its images, which
are opaque tokens too), shows the images, measures the response time from the moment all
of them have loaded, and POSTs the answer as JSON to ``/api/answer``. Keys: ← / → / space
in pairs mode, r / g in real-or-fake mode; buttons do the same. The rater's name is kept in
the browser's localStorage (or given by ``--rater``) and sent with every answer; the trial
being shown is kept in sessionStorage, so a reload replaces it instead of leaving it pending.
"""

from __future__ import annotations

import html

from analysis.rating.store import CANT_TELL, GENERATED, PAIRS, RATER_MAX_LENGTH, REAL, REAL_OR_FAKE

__all__ = ["page_html", "APP_JS", "STYLE"]

STYLE = """
* { box-sizing: border-box; }
html, body { height: 100%; margin: 0; }
body { font-family: system-ui, -apple-system, "Segoe UI", sans-serif; background: #f3f3f1;
       color: #1d1d1d; display: flex; flex-direction: column; }
header { display: flex; align-items: center; gap: 1.5em; padding: 0.55em 1.4em; background: #fff;
         border-bottom: 1px solid #ddd; }
.task { flex: 1; font-size: 1.3em; font-weight: 600; }
.rater { font-size: 0.9em; color: #555; }
.rater input { font: inherit; width: 13em; padding: 0.25em 0.4em; margin-left: 0.4em;
               border: 1px solid #bbb; border-radius: 4px; }
.count { font-size: 0.9em; color: #666; min-width: 12em; text-align: right; }
main { flex: 1; min-height: 0; display: flex; align-items: center; justify-content: center;
       gap: 2.5vw; padding: 1vh 1vw; }
main img { display: block; image-rendering: pixelated; background: #fff;
           box-shadow: 0 1px 5px rgba(0, 0, 0, 0.25); visibility: hidden; }
body.ready main img { visibility: visible; }
body[data-mode="pairs"] main img { max-height: calc(100vh - 175px); max-width: 46vw; }
body[data-mode="real-or-fake"] main img { width: min(calc(100vh - 190px), 448px); height: auto; }
nav { display: flex; justify-content: center; gap: 1.2em; padding: 0.3em 0 0.4em; }
button { font: inherit; font-size: 1.1em; min-width: 11em; padding: 0.55em 1.4em; cursor: pointer;
         border: 1px solid #8a8a8a; border-radius: 8px; background: #fff; }
button:hover:not(:disabled), button:focus-visible { border-color: #2f5fd0; background: #edf2ff; }
button:disabled { opacity: 0.45; cursor: default; }
button.main { border-width: 2px; }
kbd { font-family: ui-monospace, monospace; font-size: 0.8em; padding: 0.05em 0.4em;
      border: 1px solid #aaa; border-bottom-width: 2px; border-radius: 4px; background: #f7f7f7; }
.hint { margin: 0 0 0.7em; text-align: center; font-size: 0.88em; color: #666; }
.hint.bad { color: #b00020; font-weight: 600; }
""".strip()

_TEXT = {
    PAIRS: {"task": "Which grid of images looks more realistic?",
            "images": ('<img id="img0" alt="left grid">', '<img id="img1" alt="right grid">'),
            "buttons": (("left", "<kbd>&larr;</kbd> Left"), (CANT_TELL, "<kbd>space</kbd> Can't tell"),
                        ("right", "Right <kbd>&rarr;</kbd>")),
            "hint": "Sides are random and the models behind them are hidden. "
                    "Keys: <kbd>&larr;</kbd> left, <kbd>&rarr;</kbd> right, "
                    "<kbd>space</kbd> can't tell."},
    REAL_OR_FAKE: {"task": "Is this image real or generated?",
                     "images": ('<img id="img0" alt="image to judge">',),
                     "buttons": ((REAL, "<kbd>R</kbd> Real"), (GENERATED, "<kbd>G</kbd> Generated")),
                     "hint": "Half of the images are real images from the data set, half come "
                             "from models. Keys: <kbd>R</kbd> real, <kbd>G</kbd> generated."},
}


def page_html(mode: str, *, rater: str | None = None) -> str:
    """The page for ``mode``; ``rater`` (already checked) pre-fills the name, HTML-escaped."""
    text = _TEXT[mode]
    buttons = "\n".join(f'  <button type="button" class="main" '
                        f'data-choice="{html.escape(choice, quote=True)}" disabled>{label}</button>'
                        for choice, label in text["buttons"])
    value = html.escape(rater or "", quote=True)
    return f"""<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>Blind rating</title>
<style>
{STYLE}
</style>
</head>
<body data-mode="{html.escape(mode, quote=True)}">
<header>
  <div class="task">{text["task"]}</div>
  <label class="rater">Your name<input id="rater" maxlength="{RATER_MAX_LENGTH}" value="{value}"
    autocomplete="off" spellcheck="false"></label>
  <div id="count" class="count">loading&hellip;</div>
</header>
<main id="stage">
  {"".join(text["images"])}
</main>
<nav id="answers">
{buttons}
</nav>
<p id="status" class="hint">{text["hint"]}</p>
<script src="/app.js"></script>
</body>
</html>
"""


APP_JS = r"""
"use strict";
const mode = document.body.dataset.mode;
const KEYS = mode === "pairs"
  ? {"ArrowLeft": "left", "ArrowRight": "right", " ": "can't tell"}
  : {"r": "real", "R": "real", "g": "generated", "G": "generated"};
const rater = document.getElementById("rater");
const status = document.getElementById("status");
const hint = status.innerHTML;
const images = Array.from(document.querySelectorAll("#stage img"));
const buttons = Array.from(document.querySelectorAll("#answers button"));
let trial = null, shownAt = 0, busy = true;

if (!rater.value) rater.value = localStorage.getItem("lgm-rater") || "";
rater.addEventListener("change", () => localStorage.setItem("lgm-rater", rater.value.trim()));

function say(text, bad) {
  if (bad) { status.textContent = text; } else { status.innerHTML = hint; }
  status.classList.toggle("bad", !!bad);
}
function ready(on) {
  busy = !on;
  buttons.forEach((b) => { b.disabled = !on; });
  document.body.classList.toggle("ready", on);
}
function counted(answered, total) {
  document.getElementById("count").textContent =
    answered + " answered here \u00b7 " + total + " in all";
}

async function next() {
  ready(false);
  const previous = sessionStorage.getItem("lgm-trial");
  const url = "/api/next" + (previous ? "?replaces=" + encodeURIComponent(previous) : "");
  const response = await fetch(url, {cache: "no-store"});
  if (!response.ok) { say("Cannot load the next images: " + await response.text(), true); return; }
  trial = await response.json();
  sessionStorage.setItem("lgm-trial", trial.trial);
  counted(trial.answered, trial.total);
  let loaded = 0;
  images.forEach((img, i) => {
    img.onload = () => { if (++loaded === images.length) { shownAt = performance.now(); ready(true); } };
    img.onerror = () => say("An image failed to load; reload the page.", true);
    img.src = trial.images[i];
  });
}

async function answer(choice) {
  if (busy || !trial) return;
  const name = rater.value.trim();
  if (!name) {
    say("Please type your name first: it is saved with every answer.", true);
    rater.focus();
    return;
  }
  localStorage.setItem("lgm-rater", name);
  const elapsed = Math.round(performance.now() - shownAt);
  ready(false);
  const response = await fetch("/api/answer", {
    method: "POST", headers: {"Content-Type": "application/json"},
    body: JSON.stringify({trial: trial.trial, choice: choice, response_ms: elapsed, rater: name}),
  });
  if (!response.ok) { say("Not saved: " + await response.text(), true); ready(true); return; }
  say("", false);
  await next();
}

buttons.forEach((b) => b.addEventListener("click", () => { b.blur(); answer(b.dataset.choice); }));
document.addEventListener("keydown", (event) => {
  if (event.target === rater) { if (event.key === "Enter") rater.blur(); return; }
  const choice = KEYS[event.key];
  if (!choice || event.repeat || event.ctrlKey || event.metaKey || event.altKey) return;
  event.preventDefault();
  answer(choice);
});
next();
""".lstrip()
