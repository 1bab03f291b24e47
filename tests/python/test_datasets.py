"""Dataset win rates: PairRM.evaluate_pairs against the reference's values
and the CLI's numbers; the Ray path against `pairrm winrate`."""

import json
import subprocess

import pytest

from conftest import FIXTURES, cli, close

PAIRS = FIXTURES / "datasets" / "pairs.jsonl"


def read_rows():
    return [json.loads(line) for line in PAIRS.read_text(encoding="utf-8").splitlines() if line.strip()]


def winrate_cli(*args):
    out = subprocess.run([cli(), "winrate", "--model", str(FIXTURES / "tiny-hf"), *args],
                         input=PAIRS.read_bytes(), capture_output=True, check=True).stdout
    lines = [json.loads(line) for line in out.decode().splitlines()]
    return lines[:-1], lines[-1]["summary"]


def test_evaluate_pairs_matches_the_reference_and_the_cli(models):
    reference = json.loads((FIXTURES / "tiny-hf" / "dataset.json").read_text())
    rows, summary = models["tiny-hf"].evaluate_pairs(read_rows(), seed=3)
    close([r["value"] for r in rows], [r["value"] for r in reference["pairs"]])
    for got, want in zip(rows, reference["pairs"]):
        assert (got["tokens_a"], got["tokens_b"], got["truncated"]) == \
            (want["tokens_a"], want["tokens_b"], want["truncated"])
    for key, want in reference["summary"].items():
        assert summary[key] == pytest.approx(want), key
    cli_rows, cli_summary = winrate_cli("--seed", "3")
    close([r["value"] for r in rows], [r["value"] for r in cli_rows])
    assert [r["winner"] for r in rows] == [r["winner"] for r in cli_rows]
    assert summary["ci"] == pytest.approx(cli_summary["ci"])
    assert summary["seed"] == 3


def test_evaluate_pairs_with_a_tie_band(models):
    rows, summary = models["tiny-hf"].evaluate_pairs(read_rows(), tie_band=0.5, disable_tqdm=True)
    cli_rows, cli_summary = winrate_cli("--tie-band", "0.5")
    assert [r["winner"] for r in rows] == [r["winner"] for r in cli_rows]
    assert (summary["wins"], summary["losses"], summary["ties"]) == \
        (cli_summary["wins"], cli_summary["losses"], cli_summary["ties"])


def test_ray_winrate_matches_the_cli():
    import ray

    import pairrm.ray

    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False, ignore_reinit_error=True)
    try:
        ds = ray.data.from_items(read_rows(), override_num_blocks=8)
        scored, summary = pairrm.ray.winrate(ds, str(FIXTURES / "tiny-hf"), seed=5, concurrency=2,
                                             batch_size=4)
        cli_rows, cli_summary = winrate_cli("--seed", "5")
        got = scored.take_all()
        assert [r["instruction"] for r in got] == [r["instruction"] for r in read_rows()]
        close([r["value"] for r in got], [r["value"] for r in cli_rows])
        assert [r["winner"] for r in got] == [r["winner"] for r in cli_rows]
        for key in ("n", "wins", "losses", "ties", "win_rate", "ci", "truncated",
                    "mean_tokens_a", "mean_tokens_b", "seed"):
            assert summary[key] == pytest.approx(cli_summary[key]), key

        rankings = [json.loads(x) for x in (FIXTURES / "datasets" / "rankings.jsonl").read_text().splitlines()
                    if x.strip()]
        ranked = pairrm.ray.rank_rows(ray.data.from_items(rankings), str(FIXTURES / "tiny-hf")).take_all()
        model = pairrm.PairRM.load(FIXTURES / "tiny-hf")
        key = lambda r: json.dumps([r["instruction"], list(r["candidates"])])  # noqa: E731
        assert len(ranked) == len(rankings)
        for row, want in zip(sorted(ranked, key=key), sorted(rankings, key=key)):
            n = len(want["candidates"])
            scores = model.rank([want.get("input", "")], [want["candidates"]],
                                instructions=[want["instruction"]], return_scores=True)[0]
            close(row["scores"], scores, 1e-6)
            assert len(row["ranks"]) == n
    finally:
        ray.shutdown()
