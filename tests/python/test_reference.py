"""pairrm.PairRM and pairrm.Blender against LLM-Blender's recorded results on
every fixture case, within the shared tolerance."""

from collections import defaultdict

import numpy as np

import pairrm
from conftest import FIXTURES, TOLERANCE, close


def test_tokenize(case):
    _, expected, model = case
    for c in expected["tokenize"]:
        assert model.tokenize(c["text"]) == c["ids"], c["text"]


def test_rank_scores_and_ranks(case):
    name, expected, model = case
    for c in expected["rank"]:
        scores = model.rank([c["input"]], [c["candidates"]], instructions=[c["instruction"]],
                            return_scores=True)
        assert scores.dtype == np.float32 and scores.shape == (1, len(c["candidates"]))
        close(scores[0], c["scores"])
        ranks = model.rank([c["input"]], [c["candidates"]], instructions=[c["instruction"]])
        assert ranks.dtype == np.int32
        assert ranks[0].tolist() == c["ranks"], (name, c["candidates"])


def test_rank_many_inputs_in_one_call(case):
    _, expected, model = case
    groups = defaultdict(list)
    for c in expected["rank"]:
        groups[len(c["candidates"])].append(c)
    for cases in groups.values():
        scores = model.rank([c["input"] for c in cases], [c["candidates"] for c in cases],
                            instructions=[c["instruction"] for c in cases], return_scores=True,
                            batch_size=3, disable_tqdm=True)
        close(scores, [c["scores"] for c in cases])


def test_compare_in_every_mode(case):
    _, expected, model = case
    names = {"ab": "[A,B]", "ba": "[B,A]", "both": "[A,B]+[B,A]"}
    by_mode = defaultdict(list)
    for c in expected["compare"]:
        by_mode[c["mode"]].append(c)
    for mode, cases in by_mode.items():
        args = ([c["input"] for c in cases], [c["a"] for c in cases], [c["b"] for c in cases])
        kwargs = dict(instructions=[c["instruction"] for c in cases], mode=names[mode])
        logits = model.compare(*args, return_logits=True, **kwargs)
        assert logits.dtype == np.float32
        close(logits, [c["value"] for c in cases])
        wins = model.compare(*args, **kwargs)
        assert wins.dtype == np.bool_
        for c, won in zip(cases, wins):
            if abs(c["value"]) > TOLERANCE:
                assert won == (c["value"] > 0)


def test_compare_conversations(case):
    _, expected, model = case
    cases = expected["conversations"]
    logits = model.compare_conversations([c["a"] for c in cases], [c["b"] for c in cases],
                                         return_logits=True)
    close(logits, [c["value"] for c in cases])


def test_best_of_n(case):
    _, expected, model = case
    for c in expected["best_of_n"]:
        cands = c["candidates"]
        if c["mode"] == "bubble":
            # The reference's random visiting order, recorded: the same pass.
            assert model._model.bubble(c["instruction"], c["input"], cands, c["order"])[0] == c["best"]
        else:
            best = model.get_best_of_n([c["input"]], [cands], instructions=[c["instruction"]],
                                       pairrm_cmp_type="full")
            assert best == [cands[c["best"]]]


def test_best_and_worst_of_n_follow_the_ranking(case):
    _, expected, model = case
    c = next(c for c in expected["rank"] if len(set(c["scores"])) == len(c["scores"]) >= 3)
    order = np.argsort(-np.array(c["scores"]))
    cands = c["candidates"]
    args = ([c["input"]], [cands])
    best = model.get_best_of_n(*args, instructions=[c["instruction"]], pairrm_cmp_type="full",
                               return_all=True)
    # As the reference, "full" gives an array of candidates with return_all.
    assert isinstance(best, np.ndarray) and best.tolist() == [[cands[k] for k in order]]
    worst = model.get_worst_of_n(*args, instructions=[c["instruction"]], pairrm_cmp_type="full")
    assert worst == [cands[order[-1]]]
    # A seeded bubble pass: return_all lists every candidate once, the kept
    # one first, and the same seed gives the same pass.
    for seed in range(3):
        everyone = model.get_best_of_n(*args, instructions=[c["instruction"]], seed=seed,
                                       return_all=True)[0]
        assert sorted(everyone) == sorted(cands)
        assert model.get_best_of_n(*args, instructions=[c["instruction"]], seed=seed) == [everyone[0]]


def test_rank_with_ref(case):
    _, expected, model = case
    for c in expected["rank_with_ref"]:
        assert c["ref_mode"] == "longest"
        scores = model.rank_with_ref([c["input"]], [c["candidates"]], instructions=[c["instruction"]],
                                     return_scores=True)
        close(scores[0], c["scores"])
        ranks = model.rank_with_ref([c["input"]], [c["candidates"]], instructions=[c["instruction"]])
        assert ranks.dtype == np.int32 and ranks.shape == (1, len(c["candidates"]))
        # An explicit reference equal to the longest candidate is the same thing.
        longest = max(c["candidates"], key=len)
        again = model.rank_with_ref([c["input"]], [c["candidates"]], instructions=[c["instruction"]],
                                    return_scores=True, ref_candidates=[longest])
        close(again, scores)
        # Other keywords go to compare, as in the reference: one order only.
        one = model.rank_with_ref([c["input"]], [c["candidates"]], instructions=[c["instruction"]],
                                  return_scores=True, mode="[A,B]")
        logits = model.compare([c["input"]] * len(c["candidates"]), [longest] * len(c["candidates"]),
                               c["candidates"], instructions=[c["instruction"]] * len(c["candidates"]),
                               mode="[A,B]", return_logits=True)
        close(one[0], -logits)


def test_blender_is_a_drop_in():
    expected = __import__("json").loads((FIXTURES / "tiny-ranker" / "expected.json").read_text())
    blender = pairrm.Blender()
    blender.loadranker(str(FIXTURES / "tiny-ranker"), device="cpu")
    c = expected["rank"][0]
    close(blender.rank([c["input"]], [c["candidates"]], instructions=[c["instruction"]],
                       return_scores=True)[0], c["scores"])
    c = next(c for c in expected["compare"] if c["mode"] == "both")
    close(blender.compare([c["input"]], [c["a"]], [c["b"]], instructions=[c["instruction"]],
                          return_logits=True), [c["value"]])
    assert blender.rank.__doc__ == pairrm.PairRM.rank.__doc__
