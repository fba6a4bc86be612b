"""Session 36's independent hostile sweep: output paths, standard input, `--set` values, YAML
text and terminal widths that a user or a script hands archspec, each refused with a located
error or done, never failing as archspec's own fault and never replacing what is not ours."""

from __future__ import annotations

from pathlib import Path

import pytest
from typer.testing import CliRunner

import archspec
from archspec.cli import app
from archspec.errors import ArchSpecError
from archspec.files import check_target

from .conftest import SPECS

PACKAGE = Path(archspec.__file__).resolve().parent
LENET = str(SPECS / "lenet5.yaml")


def test_force_never_writes_over_archspec_s_own_modules() -> None:
    """`archspec compile net.yaml -o .../archspec/api.py --force` replaced archspec's own
    module with the emitted one (the next `import archspec` ran it)."""
    for own in (PACKAGE / "api.py", PACKAGE / "specs", PACKAGE / "ops" / "new_module.py"):
        with pytest.raises(ArchSpecError) as caught:
            check_target(own, force=True)
        assert caught.value.error_code == "E604"
        assert "inside archspec's own package" in str(caught.value)


def test_no_output_lands_in_the_package_by_a_link(tmp_path: Path) -> None:
    """A new file in the package (through a link to one of its folders) was written."""
    (tmp_path / "ops").symlink_to(PACKAGE / "ops", target_is_directory=True)
    target = tmp_path / "ops" / "h36_written.py"
    try:
        result = CliRunner().invoke(app, ["compile", LENET, "-o", str(target), "--force"])
        assert result.exit_code == 1, result.output
        assert "error[E604]" in result.stderr and "own package" in result.stderr
        assert not (PACKAGE / "ops" / "h36_written.py").exists()
    finally:
        (PACKAGE / "ops" / "h36_written.py").unlink(missing_ok=True)
