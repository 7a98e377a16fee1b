"""`auditor._lazy.lazy_module`: nothing is imported until an attribute is read, then the real module serves it."""

from __future__ import annotations

import subprocess
import sys


def _run(code: str) -> str:
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr
    return out.stdout.strip()


def test_the_module_is_imported_by_the_first_attribute_read() -> None:
    code = (
        "import sys\nfrom auditor._lazy import lazy_module\n"
        "m = lazy_module('colorsys')\nprint('colorsys' in sys.modules)\n"
        "print(m.rgb_to_hsv(1.0, 0.0, 0.0) == sys.modules['colorsys'].rgb_to_hsv(1.0, 0.0, 0.0))\n"
        "print(m.rgb_to_hsv is sys.modules['colorsys'].rgb_to_hsv)"
    )
    assert _run(code).split() == ["False", "True", "True"]


def test_threads_that_read_it_first_together_all_see_the_whole_module() -> None:
    code = (
        "import threading\nfrom auditor._lazy import lazy_module\n"
        "m = lazy_module('xml.dom.minidom')\nbarrier = threading.Barrier(8)\nseen = []\n"
        "def read():\n    barrier.wait()\n    seen.append(m.parseString('<a/>').documentElement.tagName)\n"
        "ts = [threading.Thread(target=read) for _ in range(8)]\n"
        "[t.start() for t in ts]\n[t.join() for t in ts]\nprint(seen.count('a'))"
    )
    assert _run(code) == "8"


def test_a_missing_attribute_is_an_attribute_error() -> None:
    code = (
        "from auditor._lazy import lazy_module\nm = lazy_module('colorsys')\n"
        "try:\n    m.no_such_name\nexcept AttributeError:\n    print('ok')"
    )
    assert _run(code) == "ok"
