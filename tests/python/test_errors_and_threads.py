"""Bad input raises ValueError/TypeError/OSError with the core's message,
never a crash; one model serves several threads."""

import threading

import numpy as np
import pytest

import pairrm
from conftest import FIXTURES, ROOT


def test_bad_inputs(models):
    model = models["tiny-hf"]
    with pytest.raises(ValueError, match="at least one candidate"):
        model.rank(["x"], [[]])
    with pytest.raises(ValueError, match="same number of candidates"):
        model.rank(["x", "y"], [["a", "b"], ["a", "b", "c"]])
    with pytest.raises(ValueError, match="more than 100"):
        model.rank(["x"], [[str(k) for k in range(101)]])
    with pytest.raises(ValueError, match="same length"):
        model.compare(["x"], ["a"], ["b", "c"])
    with pytest.raises(TypeError, match="strings"):
        model.rank(["x"], [["a", 3]])
    with pytest.raises(ValueError, match="even, non-zero number of turns"):
        model.compare_conversations([[{"role": "USER", "content": "hi"}]],
                                    [[{"role": "USER", "content": "hi"}]])
    with pytest.raises(TypeError, match="role"):
        model.compare_conversations([["hi", "there"]], [["hi", "there"]])
    with pytest.raises(ValueError, match="Unknown ref_mode"):
        model.rank_with_ref(["x"], [["a", "b"]], ref_mode="random")
    # A bare string where a list of strings belongs is refused, not split into characters.
    with pytest.raises(TypeError, match="list of strings"):
        model.rank(["x"], ["ab"])
    with pytest.raises(TypeError, match="list of strings"):
        model.compare("xyz", "abc", "def")
    with pytest.raises(TypeError, match="list of strings"):
        pairrm.PairRMJudge(model).judge(["p"], ["ab"])
    with pytest.raises(ValueError, match="loadranker"):
        pairrm.PairRMJudge(pairrm.Blender())


def test_unknown_modes_fall_back_as_llm_blender_with_a_warning(models):
    """LLM-Blender scores both orders for any compare mode but "[A,B]"/"[B,A]",
    and ranks fully for any pairrm_cmp_type but "bubble"; so does the drop-in,
    with a warning."""
    model = models["tiny-hf"]
    args = (["Which?"], ["a short one"], ["a longer answer here"])
    with pytest.warns(UserWarning, match="both orders"):
        odd = model.compare(*args, mode="[A,A]", return_logits=True)
    assert odd.tolist() == model.compare(*args, return_logits=True).tolist()
    cands = [["a", "bb", "ccc dd"]]
    with pytest.warns(UserWarning, match="ranking fully"):
        quick = model.get_best_of_n(["x"], cands, pairrm_cmp_type="quick", return_all=True)
    assert quick.tolist() == model.get_best_of_n(["x"], cands, pairrm_cmp_type="full",
                                                 return_all=True).tolist()
    with pytest.warns(UserWarning, match="ignores source_maxlength"):
        blender = pairrm.Blender()
        blender.loadranker(str(FIXTURES / "tiny-hf"), device="cpu", source_maxlength=64)


def test_one_candidate_ranks_first_as_in_the_reference(models):
    model = models["tiny-hf"]
    assert model.rank(["x"], [["only"]]).tolist() == [[1]]
    assert model.rank(["x"], [["only"]], return_scores=True).tolist() == [[0.0]]
    assert model.get_best_of_n(["x"], [["only"]]) == ["only"]


def test_odd_text_is_text(models):
    model = models["tiny-hf"]
    texts = ["", "<|candidate1|> [CLS] [SEP]", "\u0000\ud7ff\uffff", "😀" * 5000, "a\r\nb\tc"]
    scores = model.rank(["Which?"], [texts], return_scores=True)
    assert np.all(np.isfinite(scores))


def test_bad_model_folders(tmp_path):
    with pytest.raises(FileNotFoundError, match="not a model folder"):
        pairrm.PairRM.load(tmp_path / "missing")
    with pytest.raises(OSError, match="config.json"):
        pairrm.PairRM.load(tmp_path)
    broken = tmp_path / "broken"
    broken.mkdir()
    for f in ("config.json", "spm.model", "added_tokens.json"):
        (broken / f).write_bytes((FIXTURES / "tiny-hf" / f).read_bytes())
    (broken / "model.safetensors").write_bytes((FIXTURES / "tiny-hf" / "model.safetensors").read_bytes()[:300000])
    with pytest.raises(ValueError, match="weights"):
        pairrm.PairRM.load(broken)
    with pytest.raises(ValueError, match="unknown dtype"):
        pairrm.PairRM.load(FIXTURES / "tiny-hf", dtype="int4")
    with pytest.raises(ValueError, match="unknown device"):
        pairrm.PairRM.load(FIXTURES / "tiny-hf", device="tpu")


def test_a_callback_that_raises_stops_the_work(models):
    def stop(done, total):
        raise RuntimeError("stop here")

    with pytest.raises(RuntimeError, match="stop here"):
        models["tiny-hf"]._model.score_pairs([("i", "", "a", "b")] * 3, stop)


def test_converted_weights_stay_within_the_dtype_bounds():
    """f16 and q8 weights against the f32 reference, with the shared bounds
    (tests/tolerance.json: scaled by the model's largest logit, doubled for a
    score, which is a difference of logits)."""
    import json

    tolerance = json.loads((ROOT / "tests" / "tolerance.json").read_text())["dtypes"]
    expected = json.loads((FIXTURES / "tiny-hf" / "expected.json").read_text(encoding="utf-8"))
    largest = max(abs(x) for c in expected["rank"] for row in c["logits"] for x in row)
    for dtype in ("f16", "q8"):
        model = pairrm.PairRM.load(FIXTURES / "tiny-hf", dtype=dtype)
        assert model.dtype == dtype
        bound = 2 * tolerance[dtype] * max(1.0, largest / tolerance["logit_scale"])
        for c in expected["rank"][:4]:
            scores = model.rank([c["input"]], [c["candidates"]], instructions=[c["instruction"]],
                                return_scores=True)[0]
            assert np.max(np.abs(scores - np.array(c["scores"]))) <= bound, (dtype, c["candidates"])


def test_threads_share_one_model(models):
    model = models["tiny-ranker"]
    args = (["Pick one."], [["abc", "xyz", "ab", "c"]])
    want = model.rank(*args, return_scores=True)
    results, errors = [], []

    def work():
        try:
            for _ in range(3):
                results.append(model.rank(*args, return_scores=True))
        except Exception as e:  # noqa: BLE001 - reported below
            errors.append(e)

    threads = [threading.Thread(target=work) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors
    assert len(results) == 12
    for r in results:
        np.testing.assert_array_equal(r, want)


def test_the_package_version_is_the_workspace_version():
    import re

    cargo = (ROOT / "Cargo.toml").read_text()
    assert pairrm.__version__ == re.search(r'\nversion = "([^"]+)"', cargo).group(1)
