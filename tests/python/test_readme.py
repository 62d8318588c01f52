"""The README's Python example, taken from README.md as written (its ```python block and the
```text block after it), runs from the checkout's root and prints what the README shows:
the zoo's answer and each model's weight."""

import re
import subprocess
import sys

from conftest import ROOT


def readme_example():
    text = (ROOT / "README.md").read_text(encoding="utf-8")
    m = re.search(r"^```python\n(.*?import coolfusion.*?)^```\n```text\n(.*?)^```\n", text,
                  re.M | re.S)
    assert m, "README.md has no ```python block with `import coolfusion` and its ```text output"
    return m.group(1), m.group(2)


def test_the_readme_example_prints_what_the_readme_shows():
    program, shown = readme_example()
    assert len(program.strip().splitlines()) <= 10
    p = subprocess.run([sys.executable, "-c", program], cwd=ROOT, capture_output=True,
                       text=True, timeout=120)
    assert p.returncode == 0, p.stderr
    assert p.stdout == shown
    assert p.stdout.splitlines()[0] == "15"
