"""The blind-rating server: pair schedule, resume, concurrent writers, safety, blindness,
rendering, and bad input before any serving."""

import http.client
import io
import json
import multiprocessing
import re
import sys
import threading
from collections import Counter
from itertools import combinations
from pathlib import Path

import matplotlib.image as mpimg
import numpy as np
import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent))  # analysis_fixtures, any import mode

from analysis_fixtures import eval_summary, make_study, write_run, write_sweep_file, sweep_yaml  # noqa: E402

from analysis import load_runs  # noqa: E402
from analysis.__main__ import main  # noqa: E402
from analysis.errors import RatingError  # noqa: E402
from analysis.rating.schedule import Configuration, choose_pair, count_shown  # noqa: E402
from analysis.rating.server import make_server, start_in_thread  # noqa: E402
from analysis.rating.session import RatingSession  # noqa: E402
from analysis.rating.store import RATINGS_FILE, append_rating, read_ratings  # noqa: E402

TEST_IMAGES = np.random.default_rng(0).integers(0, 256, size=(50, 1, 28, 28), dtype=np.uint8)


def _real(dataset):
    return TEST_IMAGES


@pytest.fixture(scope="module")
def study(tmp_path_factory) -> Path:
    return make_study(tmp_path_factory.mktemp("runs"))


@pytest.fixture()
def runs_copy(study, tmp_path) -> Path:
    """A fresh copy per test, so ratings.jsonl starts empty."""
    import shutil

    return Path(shutil.copytree(study, tmp_path / "runs"))


def _answer_all(session, choices):
    """Answer one trial per choice through the session; returns the lines written."""
    for choice in choices:
        trial = session.next_trial()
        session.answer({"trial": trial["trial"], "choice": choice, "response_ms": 800, "rater": "t"})
    return read_ratings(session.log.path)


# --------------------------------------------------------------------------- schedule

def _configs(sweep, k):
    return [Configuration(sweep=sweep, label=f"c{i}", runs=(f"{sweep}-r{i}a", f"{sweep}-r{i}b"))
            for i in range(k)]


def test_every_pair_once_before_any_repeats_and_balanced():
    configs = _configs("s", 5)
    config_of = {run: c for c in configs for run in c.runs}
    rng = np.random.default_rng(0)
    shown, pairs = [], 10  # 5 choose 2
    for step in range(3 * pairs):
        left, right = choose_pair(configs, count_shown(shown, config_of, mode="pairs"), rng)
        shown.append({"mode": "pairs", "left": left.runs[step % 2], "right": right.runs[0]})
        counts = count_shown(shown, config_of, mode="pairs")
        done_rounds = (step + 1) // pairs
        assert min(counts.pairs.values()) >= done_rounds if len(counts.pairs) == pairs else True
        assert max(counts.pairs.values()) <= done_rounds + 1          # no repeat before a round ends
        per_config = [counts.configurations[("s", c.label)] for c in configs]
        assert max(per_config) - min(per_config) <= 2                  # balanced at every step
        if (step + 1) % pairs == 0:
            assert set(counts.pairs.values()) == {done_rounds}
            assert per_config == [4 * done_rounds] * 5                 # k − 1 per round
    sides = Counter(entry["left"][:-1] for entry in shown)
    assert len(sides) == 5  # every configuration appeared on the left


def test_pairs_stay_within_a_question():
    configs = _configs("a", 2) + _configs("b", 3)
    config_of = {run: c for c in configs for run in c.runs}
    rng, shown = np.random.default_rng(1), []
    for _ in range(4):  # 1 + 3 pairs: one round
        left, right = choose_pair(configs, count_shown(shown, config_of, mode="pairs"), rng)
        assert left.sweep == right.sweep
        shown.append({"mode": "pairs", "left": left.runs[0], "right": right.runs[0]})
    assert set(count_shown(shown, config_of, mode="pairs").pairs.values()) == {1}


def test_a_new_session_continues_the_schedule(runs_copy):
    first = RatingSession(runs_copy, sweep="gan_width", seed=0)
    lines = _answer_all(first, ["left", "right"])
    labels = {run: c.label for c in first.configurations for run in c.runs}
    done = {frozenset((labels[e["left"]], labels[e["right"]])) for e in lines}
    assert len(done) == 2                       # two of the three pairs, no repeat
    second = RatingSession(runs_copy, sweep="gan_width", seed=0)  # a later session
    lines = _answer_all(second, ["can't tell"])
    last = frozenset((labels[lines[-1]["left"]], labels[lines[-1]["right"]]))
    everything = {frozenset(p) for p in combinations(sorted(set(labels.values())), 2)}
    assert everything - done == {last}           # the one pair not rated yet
    assert len(lines) == 3 and lines[-1]["choice"] == "can't tell"


def test_pending_trials_are_not_given_twice(runs_copy):
    session = RatingSession(runs_copy, sweep="gan_width", seed=3)
    shown = [session.next_trial() for _ in range(3)]   # three raters, none answered yet
    pairs = {frozenset(session._trials[t["trial"]].shown.values()) for t in shown}
    labels = [frozenset(session.config_of[r].label for r in p) for p in pairs]
    assert len(set(labels)) == 3


def test_a_reloaded_page_does_not_leave_its_pair_pending(runs_copy):
    session = RatingSession(runs_copy, sweep="gan_width", seed=3)

    def labels(trial):
        return frozenset(session.config_of[r].label for r in session._trials[trial["trial"]].shown.values())
    first = session.next_trial()
    again = session.next_trial(replaces=first["trial"])        # the same page, reloaded
    assert first["trial"] not in session._trials and session.image(first["images"][0][5:-4]) is None
    third = session.next_trial(replaces="not-a-token")          # unknown tokens are ignored
    assert len({labels(again), labels(third)}) == 2


def test_rating_lines_hold_runs_sides_choice_time_and_rater(runs_copy):
    session = RatingSession(runs_copy, sweep="gan_scaling", seed=0)
    (line,) = _answer_all(session, ["left"])
    runs = load_runs(runs_copy)
    ids = set(runs["run_id"])
    assert line["mode"] == "pairs" and line["sweep"] == "gan_scaling" and line["choice"] == "left"
    assert {line["left"], line["right"]} <= ids and line["left"] != line["right"]
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ", line["time"])
    assert line["response_ms"] == 800 and line["rater"] == "t" and line["session"] == session.session
    usable = set(runs[(runs.status == "finished") & runs.set_aside.isna()]["run_id"])
    assert {line["left"], line["right"]} <= usable   # the set-aside run is never shown


def test_real_or_fake_is_half_real_with_identical_rendering(runs_copy):
    session = RatingSession(runs_copy, mode="real-or-fake", seed=0, real_images=_real)
    sizes = set()
    for _ in range(20):
        trial = session.next_trial()
        png = session.image(trial["images"][0][5:-4])
        sizes.add(mpimg.imread(io.BytesIO(png)).shape)
        session.answer({"trial": trial["trial"], "choice": "real", "response_ms": 500, "rater": "t"})
    lines = read_ratings(session.log.path)
    assert Counter(e["truth"] for e in lines) == {"real": 10, "generated": 10}
    assert len(sizes) == 1                                   # same size and format for both
    real = [e for e in lines if e["truth"] == "real"]
    assert all(e["run"] == "real" and 0 <= e["test_index"] < 50 and e["dataset"] == "fashion_mnist"
               for e in real)
    generated = [e for e in lines if e["truth"] == "generated"]
    assert all(e["run"] in session.config_of and 0 <= e["sample_index"] < 64 for e in generated)
    shown = Counter(session.config_of[e["run"]].label for e in generated)
    assert max(shown.values()) - min(shown.values()) <= 1    # configurations equally often


# --------------------------------------------------------------------------- concurrency

def _write_many(path, writer, count):
    for i in range(count):
        append_rating(path, {"mode": "pairs", "sweep": "s", "left": f"{writer}-{i}", "right": "x" * 10_000,
                             "choice": "left", "time": "2026-01-01T00:00:00Z", "response_ms": i,
                             "rater": writer, "session": "s"})


def test_concurrent_writers_lose_and_corrupt_nothing(tmp_path):
    path = tmp_path / RATINGS_FILE
    context = multiprocessing.get_context("fork")  # forked before any thread starts
    processes = [context.Process(target=_write_many, args=(path, f"process{i}", 150)) for i in range(2)]
    threads = [threading.Thread(target=_write_many, args=(path, f"thread{i}", 150)) for i in range(3)]
    for worker in processes + threads:
        worker.start()
    for worker in threads + processes:
        worker.join(timeout=120)
    assert all(p.exitcode == 0 for p in processes)
    lines = path.read_text().splitlines()
    assert len(lines) == 5 * 150
    entries = [json.loads(line) for line in lines]       # every line whole
    assert Counter(e["rater"] for e in entries) == {w: 150 for w in
                                                    ("thread0", "thread1", "thread2", "process0", "process1")}
    assert len({e["left"] for e in entries}) == 750


def test_a_half_written_last_line_is_left_for_later(tmp_path):
    path = tmp_path / RATINGS_FILE
    _write_many(path, "w", 2)
    with open(path, "a") as f:
        f.write('{"mode": "pairs", "swe')
    assert len(read_ratings(path)) == 2
    path.write_text(path.read_text() + '\n{"mode": "pairs"}\n')
    with pytest.raises(RatingError, match=r"ratings.jsonl:3: not a JSON line"):
        read_ratings(path)


# --------------------------------------------------------------------------- HTTP

@pytest.fixture()
def served(runs_copy):
    session = RatingSession(runs_copy, seed=0, rater="<b>Ann</b> & co")
    server = make_server(session, host="127.0.0.1", port=0)
    start_in_thread(server)
    yield {"session": session, "port": server.server_address[1], "root": runs_copy}
    server.shutdown()
    server.server_close()


def _request(port, method, path, body=None, headers=None):
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    headers = {"Content-Type": "application/json", **(headers or {})}
    conn.request(method, path, body=body, headers=headers if body is not None else (headers or {}))
    response = conn.getresponse()
    data = response.read()
    conn.close()
    return response.status, data, response.getheader("Content-Type")


def test_page_script_and_trials_reveal_no_configuration(served):
    runs = load_runs(served["root"])
    secret = set(runs["run_id"]) | set(runs["sweep"]) | set(runs["wandb_id"].dropna())
    secret |= {v for column in ("scaling", "dataset", "model", "budget") for v in runs[column].dropna()}
    secret |= {"samples.png", "samples.npz", str(served["root"])}
    texts = [_request(served["port"], "GET", path)[1].decode() for path in ("/", "/app.js")]
    trials = [_request(served["port"], "GET", "/api/next")[1].decode() for _ in range(6)]
    for text in texts + trials:
        for word in secret:
            assert not re.search(rf"(?<![A-Za-z0-9_]){re.escape(str(word))}(?![A-Za-z0-9_])", text), word
        assert not re.search(r"\bvae\b|\bgan\b", text, re.IGNORECASE)
    for trial in map(json.loads, trials):
        assert set(trial) == {"trial", "images", "answered", "total"}
        assert all(re.fullmatch(r"/img/[A-Za-z0-9_-]{22}\.png", url) for url in trial["images"])
    assert "&lt;b&gt;Ann&lt;/b&gt; &amp; co" in texts[0] and "<b>Ann" not in texts[0]


def test_grids_of_a_pair_are_alike_and_have_no_text_chunks(served):
    trial = json.loads(_request(served["port"], "GET", "/api/next")[1])
    pngs = [_request(served["port"], "GET", url) for url in trial["images"]]
    assert all(status == 200 and kind == "image/png" for status, _, kind in pngs)
    shapes = {mpimg.imread(io.BytesIO(data)).shape for _, data, _ in pngs}
    assert len(shapes) == 1 and min(next(iter(shapes))[:2]) >= 8 * 28 * 4  # 8 × 8 at ×4
    assert all(b"tEXt" not in data and b"iTXt" not in data for _, data, _ in pngs)


@pytest.mark.parametrize("path", ["/../record.json", "/img/../../etc/passwd", "/%2e%2e/%2e%2e/etc/passwd",
                                  "/img/%2e%2e%2frecord.json.png", "//etc/passwd", "/etc/passwd",
                                  "/samples.png", "/img/AAAAAAAAAAAAAAAAAAAAAA.png", "/img/.png",
                                  "/api/answer", "/ratings.jsonl", "/api/next/..", "/app.js/"])
def test_other_paths_are_404(served, path):
    assert _request(served["port"], "GET", path)[0] == 404


def test_run_files_are_never_served(served):
    runs = load_runs(served["root"])
    for path in list(runs["samples_path"].dropna())[:3] + list(runs["samples_array_path"].dropna())[:3]:
        assert _request(served["port"], "GET", path)[0] == 404
        relative = Path(path).relative_to(served["root"].resolve())
        assert _request(served["port"], "GET", f"/{relative}")[0] == 404


def _answer(served, **fields):
    trial = json.loads(_request(served["port"], "GET", "/api/next")[1])
    body = {"trial": trial["trial"], "choice": "left", "response_ms": 900, "rater": "Ann", **fields}
    return trial, body


@pytest.mark.parametrize("change", [
    {"choice": "real"}, {"choice": None}, {"response_ms": -1}, {"response_ms": True},
    {"response_ms": "fast"}, {"response_ms": 1e12}, {"rater": ""}, {"rater": "x" * 41},
    {"rater": "bad\nname"}, {"rater": 7}, {"trial": "../../etc"}, {"extra": 1}])
def test_bad_answers_are_400(served, change):
    _, body = _answer(served, **change)
    status, data, _ = _request(served["port"], "POST", "/api/answer", json.dumps(body))
    assert status == 400 and b"Traceback" not in data and len(data) < 200
    assert not (served["root"] / RATINGS_FILE).exists()


@pytest.mark.parametrize("raw", [b"not json", b"[1, 2]", b"", b"{\"trial\": 1}", b"\xff\xfe"])
def test_bad_bodies_are_4xx(served, raw):
    status, data, _ = _request(served["port"], "POST", "/api/answer", raw)
    assert status == 400 and b"Traceback" not in data


def test_answers_are_saved_once(served):
    _, body = _answer(served)
    assert _request(served["port"], "POST", "/api/answer", json.dumps(body))[0] == 200
    assert _request(served["port"], "POST", "/api/answer", json.dumps(body))[0] == 409
    body["trial"] = "B" * 22
    assert _request(served["port"], "POST", "/api/answer", json.dumps(body))[0] == 404
    status = _request(served["port"], "POST", "/api/answer", json.dumps(body),
                      headers={"Content-Type": "text/plain"})[0]
    assert status == 415
    assert len(read_ratings(served["root"] / RATINGS_FILE)) == 1


def test_foreign_host_and_origin_are_refused(served):
    assert _request(served["port"], "GET", "/", headers={"Host": "evil.example"})[0] == 400
    _, body = _answer(served)
    status = _request(served["port"], "POST", "/api/answer", json.dumps(body),
                      headers={"Origin": "http://evil.example"})[0]
    assert status == 403


# --------------------------------------------------------------------------- bad input

def test_bad_input_is_refused_before_serving(study, tmp_path, capsys):
    with pytest.raises(RatingError, match="unknown sweep 'nope'; available: gan_scaling, gan_width, "
                                          "vae_beta"):
        RatingSession(study, sweep="nope")
    empty = tmp_path / "empty"
    empty.mkdir()
    assert main(["rate", str(empty), "--port", "0"]) == 1
    assert capsys.readouterr().err.startswith("error: no runs found")
    no_npz = tmp_path / "no_npz"
    write_run(no_npz, "s", config={"seed": 0}, summary=eval_summary(fid=20.0))
    (next(no_npz.glob("s/*/samples.npz"))).unlink()
    assert main(["rate", str(no_npz), "--port", "0"]) == 1
    err = capsys.readouterr().err
    assert "no finished runs with samples.npz" in err and err.count("\n") == 1


def test_pairs_need_two_configurations(tmp_path, capsys):
    write_sweep_file(tmp_path, sweep_yaml("one", question="q?", expected="e",
                                          prediction={"metric": "eval/fid", "kind": "pairwise",
                                                      "parameter": "scaling", "better": "zero_one",
                                                      "worse": "minus_one_one"},
                                          parameters={"seed": {"values": [0, 1]}}))
    for seed in (0, 1):
        write_run(tmp_path, "one", config={"seed": seed}, summary=eval_summary(fid=20.0 + seed))
    assert main(["rate", str(tmp_path), "--sweep", "one", "--port", "0"]) == 1
    err = capsys.readouterr().err
    assert "at least 2 configurations" in err and "one (1 configuration)" in err
    RatingSession(tmp_path, mode="real-or-fake", real_images=_real)  # one is enough there


def test_a_port_in_use_is_a_clear_error(study, capsys):
    import socket

    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        assert main(["rate", str(study), "--port", str(port)]) == 1
    err = capsys.readouterr().err
    assert err.startswith(f"error: cannot listen on 127.0.0.1:{port}") and "--port" in err


def test_cli_usage_errors(study):
    for argv in (["rate", str(study), "--rater", "x" * 41], ["rate", str(study), "--port", "99999"],
                 ["rate", str(study), "--mode", "thumbs"]):
        with pytest.raises(SystemExit) as exit_info:
            main(argv)
        assert exit_info.value.code == 2


# --------------------------------------------------------------------------- rendering

def _samples(n, *, conditional, value=100):
    from analysis.rating.images import Samples

    labels = np.repeat(np.arange(10), n // 10) if conditional else np.zeros(0, dtype=np.int64)
    images = np.full((n, 1, 28, 28), value, dtype=np.uint8)
    images[:, 0, 0, 0] = np.arange(n)  # each image marked by its index
    return Samples(images=images, labels=labels)


def test_conditional_pairs_show_the_same_class_rows():
    from analysis.rating.images import pair_arrays

    a, b, columns = pair_arrays(_samples(100, conditional=True), _samples(100, conditional=True, value=9),
                                np.random.default_rng(0))
    assert columns == 10 and a.shape == b.shape == (100, 1, 28, 28)
    assert np.array_equal(a[:, 0, 0, 0], np.arange(100)) and np.array_equal(b[:, 0, 0, 0], np.arange(100))


def test_conditional_and_unconditional_are_shown_alike():
    from analysis.rating.images import pair_arrays

    a, b, columns = pair_arrays(_samples(100, conditional=True), _samples(64, conditional=False),
                                np.random.default_rng(0))
    assert columns == 8 and a.shape == b.shape == (64, 1, 28, 28)
    assert not np.array_equal(np.sort(a[:, 0, 0, 0]), np.arange(64))   # a random 64 of the 100, mixed classes
    assert len(set(a[:, 0, 0, 0])) == 64 and np.array_equal(b[:, 0, 0, 0], np.arange(64))


def test_rendering_is_nearest_neighbour_upscaling_of_the_array():
    from analysis.rating.images import GRID_SCALE, IMAGE_SCALE, grid_png, image_png

    rng = np.random.default_rng(0)
    images = rng.integers(0, 256, size=(4, 1, 28, 28), dtype=np.uint8)
    decoded = np.round(mpimg.imread(io.BytesIO(grid_png(images, 2))) * 255).astype(int)
    assert decoded.shape[:2] == ((2 * 30 + 2) * GRID_SCALE,) * 2      # 2 × 2 of 28 + 2-pixel gaps
    pad = 2 * GRID_SCALE
    first = decoded[pad:pad + 28 * GRID_SCALE:GRID_SCALE, pad:pad + 28 * GRID_SCALE:GRID_SCALE, 0]
    assert np.array_equal(first, images[0, 0])
    block = decoded[pad:pad + GRID_SCALE, pad:pad + GRID_SCALE, 0]
    assert (block == images[0, 0, 0, 0]).all()                          # one pixel → a 4 × 4 block
    single = mpimg.imread(io.BytesIO(image_png(images[1])))
    assert single.shape[:2] == (32 * IMAGE_SCALE,) * 2
