"""Issue 12, section 5: the scripts under examples/ and benchmarks/ import the installed package, never each
other through ``sys.path`` (what several scripts need is library: ensemblekd.testbed).  The one allowed insertion
is a benchmark's ``--original DIR`` (a checkout of the original research code, not part of this repository)."""
import ast
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
SCRIPTS = sorted([*REPO.glob("examples/**/*.py"), *REPO.glob("benchmarks/*.py")])
SIBLINGS = {p.stem for p in SCRIPTS}


def _path_inserts(tree):
    for node in ast.walk(tree):
        if (isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute)
                and node.func.attr in ("insert", "append") and ast.unparse(node.func.value) == "sys.path"):
            yield node


@pytest.mark.parametrize("script", SCRIPTS, ids=lambda p: str(p.relative_to(REPO)))
def test_scripts_import_the_package_not_each_other(script):
    tree = ast.parse(script.read_text(encoding="utf-8"))
    for node in _path_inserts(tree):
        assert "args.original" in ast.unparse(node), f"{script.name}:{node.lineno}: {ast.unparse(node)}"
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            assert node.module.split(".")[0] not in SIBLINGS, f"{script.name}:{node.lineno}: from {node.module}"
        if isinstance(node, ast.Import):
            for alias in node.names:
                assert alias.name.split(".")[0] not in SIBLINGS, f"{script.name}:{node.lineno}: import {alias.name}"


def test_the_scripts_are_found():
    names = {str(p.relative_to(REPO)) for p in SCRIPTS}
    assert {"examples/zeroshot_mt/train.py", "benchmarks/trees.py", "examples/ed4udp/selection.py"} <= names


# every script's smoke test (issue 12, section 5): a new script without one fails here
SMOKE = {
    "benchmarks/decoding.py": "test_benchmark_scripts.py::test_decoding_benchmark_table_has_a_ratio_per_method",
    "benchmarks/deps.py": "test_benchmark_scripts.py::test_deps_benchmark_counts_identical_lines_against_the_original",
    "benchmarks/distill.py": "test_benchmark_scripts.py::test_distill_benchmark_training_part_reports_the_ratio",
    "benchmarks/objectives.py":
        "test_benchmark_scripts.py::test_objectives_benchmark_times_each_update_and_reports_ratios_to_seqkd",
    "benchmarks/mbr.py": "test_benchmark_scripts.py::test_mbr_benchmark_kernel_equals_the_sacrebleu_loop",
    "benchmarks/trees.py": "test_benchmark_scripts.py::test_trees_benchmark_twins_agree_and_original_is_compared",
    "examples/ed4udp/selection.py": "test_tree_scripts.py::test_selection_reports_test_uas_of_the_members_chosen_on_dev",
    "examples/parsing/distill.py": "test_tree_scripts.py::test_parsing_distill_trains_scores_and_resumes",
    "examples/zeroshot_mt/benchmark.py":
        "test_zeroshot_scripts.py::test_benchmark_rows_equal_translate_and_chart_is_optional",
    "examples/zeroshot_mt/ebbs_variants.py":
        "test_zeroshot_scripts.py::test_ebbs_variants_runs_and_its_scores_are_the_outputs_bleu",
    "examples/zeroshot_mt/distill.py": "test_zeroshot_distill_example.py::test_teachers_then_students_end_to_end",
    "examples/zeroshot_mt/teachers.py": "test_zeroshot_distill_example.py::test_teachers_then_students_end_to_end",
    "examples/zeroshot_mt/train.py": "test_zeroshot_train.py::test_kill_and_resume_matches_uninterrupted_run",
    "examples/zeroshot_mt/prepare.py": "test_zeroshot_train.py::test_prepare_evaluate_and_export_command_lines",
    "examples/zeroshot_mt/evaluate.py": "test_zeroshot_train.py::test_prepare_evaluate_and_export_command_lines",
    "examples/zeroshot_mt/export.py": "test_zeroshot_train.py::test_prepare_evaluate_and_export_command_lines",
}


def test_every_script_has_a_smoke_test():
    assert sorted(SMOKE) == sorted(str(p.relative_to(REPO)) for p in SCRIPTS)
    here = Path(__file__).parent
    for script, test in SMOKE.items():
        file, name = test.split("::")
        text = (here / file).read_text(encoding="utf-8")
        assert f"def {name}(" in text, test
        assert Path(script).stem in text, f"{test} does not run {script}"
