"""A hub repo id is fetched with huggingface_hub, from the project's local
hub server (scripts/serve.mjs --hub), never the real hub."""

import json
import os
import socket
import subprocess
import sys
import time

from conftest import FIXTURES, ROOT

SCRIPT = """
import json, pairrm
model = pairrm.PairRM.load({repo!r})
print(json.dumps(model.rank(["Say hi."], [["Hello!", "Go away."]], return_scores=True).tolist()))
"""


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_a_hub_repo_id_loads_through_huggingface_hub(tmp_path, models):
    port = free_port()
    server = subprocess.Popen(["node", str(ROOT / "scripts" / "serve.mjs"), "--root", str(FIXTURES),
                               "--port", str(port), "--hub", f"/hub={FIXTURES}"],
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        for _ in range(100):
            try:
                socket.create_connection(("127.0.0.1", port), timeout=0.1).close()
                break
            except OSError:
                time.sleep(0.1)
        env = dict(os.environ, HF_ENDPOINT=f"http://127.0.0.1:{port}/hub", HF_HOME=str(tmp_path),
                   HF_HUB_DISABLE_TELEMETRY="1")
        run = lambda repo, **more: subprocess.run(  # noqa: E731
            [sys.executable, "-c", SCRIPT.format(repo=repo)], env=dict(env, **more), cwd=tmp_path,
            capture_output=True, text=True)
        out = run("tiny-hf")
        assert out.returncode == 0, out.stderr
        want = models["tiny-hf"].rank(["Say hi."], [["Hello!", "Go away."]], return_scores=True)
        assert json.loads(out.stdout) == want.tolist()
        # Fetched once: later loads work offline, from huggingface_hub's cache.
        assert run("tiny-hf", HF_HUB_OFFLINE="1").returncode == 0
        out = run("no-such-model")
        assert out.returncode != 0 and "404" in out.stderr, out.stderr
    finally:
        server.terminate()
        server.wait()
