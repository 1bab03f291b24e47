"""pairrm.PairRMJudge against TRL's PairRMJudge as recorded by the reference
script (TRL's steps over LLM-Blender's rank on the fixtures)."""

import pytest

import pairrm
from conftest import FIXTURES, close


def test_judge_matches_trl(case):
    name, expected, model = case
    assert expected["judge"], f"{name}: no judge cases recorded"
    for c in expected["judge"]:
        judge = pairrm.PairRMJudge(model, seed=c["seed"] or 0)
        got = judge.judge(c["prompts"], c["completions"], shuffle_order=c["shuffle_order"],
                          return_scores=c["return_scores"], temperature=c["temperature"])
        if c["return_scores"]:
            close(got, c["result"])
        else:
            assert got == c["result"], c
            assert all(isinstance(x, int) for x in got)


def test_judge_takes_a_folder_or_a_blender(models):
    judge = pairrm.PairRMJudge(str(FIXTURES / "tiny-hf"), device="cpu")
    blender = pairrm.Blender()
    blender.loadranker(str(FIXTURES / "tiny-hf"), device="cpu")
    prompts, pairs = ["Say hi."], [["Hello!", "Go away."]]
    assert judge.judge(prompts, pairs) == pairrm.PairRMJudge(blender).judge(prompts, pairs)


def test_judge_refuses_other_than_two_completions(models):
    judge = pairrm.PairRMJudge(models["tiny-hf"])
    with pytest.raises(ValueError, match="exactly 2 completions"):
        judge.judge(["a", "b"], [["x", "y"], ["x", "y", "z"]])
    assert judge.judge([], []) == []
