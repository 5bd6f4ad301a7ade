"""The README's Python snippet runs as written, and the public API it shows."""

import re
from pathlib import Path

import pytest

README = Path(__file__).resolve().parents[1] / "README.md"


def test_readme_python_snippet_runs(tmp_path, monkeypatch):
    blocks = re.findall(r"```python\n(.*?)```", README.read_text(), flags=re.S)
    assert blocks, "README has no python snippet"
    monkeypatch.chdir(tmp_path)
    ns: dict = {}
    exec(compile(blocks[0], "README.md", "exec"), ns)
    assert tuple(ns["videos"].shape) == (2, 96, 3, 16, 16)
    assert (tmp_path / "runs/api-example/synthesized.mp4").is_file()
    assert ns["run"].epoch == 20 and ns["run"].model.config.state_dim == 8  # the keywords reached the run


def test_the_public_verbs_are_there_and_typed():
    import inspect

    import dyngen

    for name in dyngen.__all__:
        verb = getattr(dyngen, name)
        assert callable(verb) and verb.__doc__, name
        hints = inspect.signature(verb)
        assert hints.return_annotation is not inspect.Signature.empty, name


@pytest.mark.slow
def test_importing_dyngen_loads_no_torch():
    """The verbs load on first use, so ``import dyngen`` (and ``dyngen --version``) stays light."""
    import subprocess
    import sys

    out = subprocess.run([sys.executable, "-c", "import dyngen, sys; print('torch' in sys.modules)"],
                         capture_output=True, text=True, check=True)  # fmt: skip
    assert out.stdout.strip() == "False"


def test_readme_starts_with_the_two_commands():
    text = README.read_text()
    first = text.index("```bash")
    assert "dyngen demo" in text[first : first + 400]
    assert "pytest" in text[first : first + 800]
