"""The README's API reference lists every name gradprops exports, and nothing it does not export."""

import re
import subprocess
import sys
from pathlib import Path

import pytest

import gradprops
from gradprops import strategies as gst

README = (Path(__file__).resolve().parents[1] / "README.md").read_text()
SECTION = README.split("## API reference", 1)[1].split("\n## ", 1)[0]
#: the first cell of each row of its table: what is listed
REFERENCE = "\n".join(line.split(" | ")[0] for line in SECTION.splitlines() if line.startswith("| `"))


def test_every_exported_name_is_in_the_api_reference():
    listed = set(re.findall(r"`(?:gradprops|gst)\.([A-Za-z_]+)", REFERENCE))
    missing = {f"gradprops.{n}" for n in gradprops.__all__ if n not in listed}
    missing |= {f"gst.{n}" for n in gst.__all__ if n not in listed}
    assert not missing, f"exported but not in the README's API reference: {sorted(missing)}"


def test_the_api_reference_lists_only_exported_names():
    for name in re.findall(r"`gradprops\.([A-Za-z_]+)", REFERENCE):
        assert name in gradprops.__all__, f"gradprops.{name} is in the API reference but not exported"
    for name in re.findall(r"`gst\.([A-Za-z_]+)", REFERENCE):
        assert name in gst.__all__, f"gst.{name} is in the API reference but not exported"


def test_every_exported_name_loads_from_its_home_and_import_alone_loads_no_torch():
    code = ("import sys, gradprops\n"
            "assert 'torch' not in sys.modules, 'import gradprops loaded torch'\n"
            "for name in gradprops.__all__:\n"
            "    getattr(gradprops, name)\n"
            "assert callable(gradprops.check) and gradprops.strategies.inputs\n"
            "from gradprops import *\n"
            "print(len(gradprops.__all__))\n")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=False)
    assert done.returncode == 0, done.stderr
    assert int(done.stdout) == len(gradprops.__all__)
    assert set(gradprops._HOMES) == set(gradprops.__all__) - {"__version__"}
    assert gradprops.check.__module__ == "gradprops.checking"  # a function, not the module of that name


def test_an_unknown_name_is_an_attribute_error():
    with pytest.raises(AttributeError, match="no attribute 'chek'"):
        gradprops.chek  # noqa: B018
