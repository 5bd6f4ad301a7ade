"""The README's Python snippet runs as written."""

import re
from pathlib import Path

README = Path(__file__).resolve().parents[1] / "README.md"


def test_readme_python_snippet_runs(tmp_path, monkeypatch):
    blocks = re.findall(r"```python\n(.*?)```", README.read_text(), flags=re.S)
    assert blocks, "README has no python snippet"
    monkeypatch.chdir(tmp_path)
    ns: dict = {}
    exec(compile(blocks[0], "README.md", "exec"), ns)
    assert tuple(ns["videos"].shape) == (2, 96, 3, 16, 16)
    assert (tmp_path / "runs/api-example/synthesized.mp4").is_file()


def test_readme_starts_with_the_two_commands():
    text = README.read_text()
    first = text.index("```bash")
    assert "dyngen demo" in text[first : first + 400]
    assert "pytest" in text[first : first + 800]
