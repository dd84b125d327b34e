"""One module source, many kernels: a build matrix planned from a small TOML file (or the command
line), run here on kmodtui's own detached builds, or handed to CI runners as a GitHub Actions
workflow or a GitLab CI pipeline; and the results of every cell merged into one report.

The matrix file (`kmodtui-matrix.toml` beside the source, documented in the README):

    source = "."                      # the module source (relative to the file)
    kernels = ["6.1.0-56-amd64", "/usr/src/linux-headers-6.12.117+deb13-amd64"]
    arches = ["x86_64"]               # optional: cross-build cells (arm64, ...)
    modes = ["kbuild", "deb"]         # optional (default: kbuild)

Cells outside the kernel range the source declares (META's Linux-Minimum/-Maximum, dkms.conf's
BUILD_EXCLUSIVE_KERNEL) are listed as skipped, with the reason.
"""

from kmodtui.core.build.matrix.cells import (
    CONTAINER,
    KEYS,
    MATRIX_FILE,
    Cell,
    Matrix,
    check_names,
    load_matrix,
    plan,
    plan_json,
    refuse_wrong_arch,
    run,
)
from kmodtui.core.build.matrix.ci import (
    GITHUB_MAX_JOBS,
    GITLAB_MAX_JOBS,
    export_github,
    export_gitlab,
    repository_root,
    shards,
)
from kmodtui.core.build.matrix.report import OUTCOMES, report_html, report_markdown, report_rows
from kmodtui.core.build.matrix.wheel import write_running_wheel

__all__ = ["CONTAINER", "GITHUB_MAX_JOBS", "GITLAB_MAX_JOBS", "KEYS", "MATRIX_FILE", "OUTCOMES", "Cell", "Matrix",
           "check_names", "export_github", "export_gitlab", "load_matrix", "plan", "plan_json", "report_html",
           "refuse_wrong_arch", "report_markdown", "report_rows", "repository_root", "run", "shards",
           "write_running_wheel"]
