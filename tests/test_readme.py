"""The README's Python snippet runs as written, on CamVid (only the work directory is substituted,
and the loader is cut to two batches so the test stays short)."""

from __future__ import annotations

import itertools
import re
import shutil

from conftest import REPO


def _snippet() -> str:
    text = (REPO / "README.md").read_text()
    start = text.index("In your own training loop")
    return re.search(r"```python\n(.*?)```", text[start:], re.S).group(1)


def test_readme_training_snippet_runs(camvid_stores, tmp_path, monkeypatch):
    from lt_data import dataset

    work = tmp_path / "camvid"
    shutil.copytree(camvid_stores, work)  # after `lt-data stats`, `buckets` and `bank build`, as the snippet says
    code = _snippet()
    assert 'work = "work/camvid"' in code and "normalize(images)" in code
    real = dataset.make_loader
    batches = []

    def two_batches(*args, **kwargs):
        loader = real(*args, **kwargs)
        for b in itertools.islice(loader, 2):
            batches.append(b)
            yield b

    monkeypatch.setattr(dataset, "make_loader", two_batches)
    scope: dict = {}
    exec(compile(code.replace('"work/camvid"', repr(str(work))), "README.md", "exec"), scope)
    assert len(batches) == 2
    assert scope["loss"].isfinite() and scope["loss"].requires_grad
    assert any(len(b["plan"]) for b in batches), "objects were pasted"


def _readme_commands() -> list[list[str]]:
    """Every ``lt-data ...`` command of the README's shell blocks (indented lines), split as a shell
    would: continuation lines joined, ``;`` separated, comments and ``[optional]`` brackets dropped."""
    import shlex

    text = (REPO / "README.md").read_text().replace("\\\n", " ")
    commands = []
    for line in text.splitlines():
        if not line.startswith("    ") or "lt-data " not in line:
            continue
        for part in re.split(r";|&&", line.split(" #", 1)[0]):
            part = re.sub(r"\[(--[^\]]+)\]", r"\1", part.strip())
            words = shlex.split(part)
            if words and words[0].endswith("lt-data"):
                commands.append(words[1:])
    return commands


def test_every_readme_command_parses():
    """Each command line of the README names a real command whose options and choices accept it
    (click parses it fully; nothing runs), so the README cannot drift from the CLI."""
    import typer

    from lt_data.entry.cli import app

    commands = _readme_commands()
    assert len(commands) >= 20 and ["demo"] in commands
    root = typer.main.get_command(app)
    for argv in commands:
        cmd, rest, name = root, list(argv), "lt-data"
        while hasattr(cmd, "commands") and rest and rest[0] in cmd.commands:
            name += " " + rest[0]
            cmd = cmd.commands[rest.pop(0)]
        assert not hasattr(cmd, "commands"), f"README: {' '.join(argv)} names no command"
        cmd.make_context(name, rest)  # raises click's UsageError for an unknown option or a bad choice


def test_readme_references_are_the_reports():
    """One list of citations: the README's References section is lt_data.core.references' rendering."""
    from lt_data.core.references import REFERENCES, render_markdown

    text = (REPO / "README.md").read_text()
    body = render_markdown().split("\n", 1)[1].strip()
    assert body in text
    for cited in ("AUCSeg", "PAT", "DAFormer", "LVIS", "VIPriors"):
        assert cited in body
    assert sum(1 for line in body.splitlines() if re.match(r"\d+\. ", line)) == len(REFERENCES)


def test_readme_code_fences_open_and_close_on_their_own_lines():
    fences = [line for line in (REPO / "README.md").read_text().splitlines() if line.lstrip().startswith("```")]
    assert len(fences) % 2 == 0 and len(fences) >= 6
    assert all(f == "```" for f in fences[1::2]), fences[1::2]  # a closing fence holds nothing else
    assert all(re.fullmatch(r"```[a-z]*", f) for f in fences[0::2]), fences[0::2]
