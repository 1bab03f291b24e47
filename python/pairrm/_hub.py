"""Model folders: a local path, or a Hugging Face hub repo fetched with
``huggingface_hub`` (which honours ``HF_ENDPOINT`` and ``HF_HUB_OFFLINE``)."""

import os

# What PairRM needs from a repo: the config, the weights, and the tokenizer as
# tokenizer.json or as spm.model + added_tokens.json (llm-blender/PairRM has
# the latter, PairRM-hf both).
_REQUIRED = ("config.json", "model.safetensors")
_OPTIONAL = ("tokenizer.json", "spm.model", "added_tokens.json",
             "special_tokens_map.json", "tokenizer_config.json")


def resolve(path_or_repo, revision=None, cache_dir=None):
    """A local folder as it is; anything else is taken as a hub repo id
    (downloaded to ``cache_dir``, default huggingface_hub's cache)."""
    path = os.fspath(path_or_repo)
    if os.path.isdir(path):
        return path
    if os.path.exists(path) or path.startswith((".", "/", "~")) or path.count("/") > 1:
        raise FileNotFoundError(f"{path} is not a model folder")
    try:
        from huggingface_hub import hf_hub_download
    except ImportError as e:
        raise ImportError(
            f"{path!r} is not a local folder; to fetch it from the Hugging Face hub, "
            "install huggingface_hub (pip install 'pairrm[hub]')") from e
    folder = None
    for name in _REQUIRED + _OPTIONAL:
        try:
            got = hf_hub_download(path, name, revision=revision, cache_dir=cache_dir)
        except Exception as e:  # noqa: BLE001 - only a missing optional file is skipped
            if name in _REQUIRED or not _missing(e):
                raise
            continue
        folder = os.path.dirname(got)
    return folder


def _missing(error):
    """Whether a hub error says the file is not there (a 404), across
    huggingface_hub versions' exception names."""
    status = getattr(getattr(error, "response", None), "status_code", None)
    return status == 404 or "EntryNotFound" in type(error).__name__
