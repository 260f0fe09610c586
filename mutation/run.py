"""Mutation testing of the pure decision modules, one module at a time, with mutmut.

    python mutation/run.py                          # every module of modules.toml
    python mutation/run.py actors/job.py            # one (or a few)
    python mutation/run.py --jobs 2 ...             # two mutants at a time

Each module is tested in a scratch copy of the project (``build/mutation/<module>/``,
so nothing in the working tree is ever mutated): mutmut mutates that module only and
runs each mutant against the module's own tests (``modules.toml``), never the
integration tests.  The copy stays until the next run of the module: its
``survivors.txt`` shows every survivor's diff, and ``mutmut browse`` works there.

A survivor listed in ``equivalent.toml`` (the same change in the same function, with
the reason the behaviour cannot differ) does not count; the module passes when its
tests kill at least ``threshold`` of the others.  Exits 1 when a module falls short,
2 when mutmut could not run.
"""

from __future__ import annotations

import argparse
import configparser
import json
import shutil
import subprocess
import sys
import tomllib
from dataclasses import dataclass, field
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
SCRATCH = ROOT / "build" / "mutation"
# What a scratch copy leaves out: the environment, generated data, and what no unit test imports.
LEFT_OUT = {
    ".venv",
    ".git",
    "build",
    ".stamps",
    "photomark-data",
    "bench",
    "samples",
    "docker",
    "mutants",
    "__pycache__",
    ".hypothesis",
    ".pytest_cache",
    ".ruff_cache",
}
KILLED = {"killed", "timeout", "caught by type check", "segfault"}


@dataclass(frozen=True)
class Equivalent:
    module: str
    function: str
    change: tuple[str, ...]
    reason: str


@dataclass
class Outcome:
    module: str
    statuses: dict[str, str] = field(default_factory=dict)  # mutant name -> mutmut's status
    diffs: dict[str, str] = field(default_factory=dict)  # survivor name -> its diff
    equivalent: dict[str, str] = field(default_factory=dict)  # survivor name -> why it is equivalent

    @property
    def killed(self) -> int:
        return sum(1 for status in self.statuses.values() if status in KILLED)

    @property
    def survivors(self) -> list[str]:
        return sorted(name for name, status in self.statuses.items() if status not in KILLED)

    @property
    def unexplained(self) -> list[str]:
        return [name for name in self.survivors if name not in self.equivalent]

    @property
    def score(self) -> float:
        counted = len(self.statuses) - len(self.equivalent)
        return self.killed / counted if counted else 1.0


def load_modules() -> tuple[dict[str, list[str]], float]:
    config = tomllib.loads((HERE / "modules.toml").read_text())
    return config["modules"], float(config.get("settings", {}).get("threshold", 0.9))


def load_equivalents() -> list[Equivalent]:
    path = HERE / "equivalent.toml"
    if not path.exists():
        return []
    return [
        Equivalent(item["module"], item["function"], tuple(line.strip() for line in item["change"]), item["reason"])
        for item in tomllib.loads(path.read_text()).get("equivalent", [])
    ]


def function_of(mutant: str, module: str) -> str:
    """``actors.job.xǁJobǁencode__mutmut_2`` -> ``Job.encode``; ``actors.job.x_decode__mutmut_3`` -> ``decode``."""
    name = mutant.removeprefix(module.removesuffix(".py").replace("/", ".") + ".").rsplit("__mutmut_", 1)[0]
    if name.startswith("xǁ"):
        return name[2:].replace("ǁ", ".")
    return name.removeprefix("x_")


def change_of(diff: str) -> tuple[str, ...]:
    """The changed lines of a mutant's diff, stripped: what names a mutation whatever its number."""
    return tuple(
        line[1:].strip() for line in diff.splitlines() if line[:1] in "+-" and not line.startswith(("+++", "---"))
    )


def scratch_copy(module: str, tests: list[str]) -> Path:
    """A fresh copy of the project with a mutmut section that mutates ``module`` and runs ``tests``."""
    where = SCRATCH / module.removesuffix(".py").replace("/", ".")
    if where.exists():
        shutil.rmtree(where)
    where.mkdir(parents=True)
    packages = []
    for item in sorted(ROOT.iterdir()):
        if item.name in LEFT_OUT or item.name.endswith(".egg-info"):
            continue
        if item.is_dir() and (item / "__init__.py").exists():
            packages.append(item.name)
        if item.is_dir() and (item.name == "tests" or item.name in packages):
            shutil.copytree(item, where / item.name, ignore=shutil.ignore_patterns(*LEFT_OUT))
        elif item.name in ("setup.cfg", "pyproject.toml"):
            shutil.copy2(item, where / item.name)
    config = configparser.ConfigParser(interpolation=None)
    config.read(where / "setup.cfg")
    config.remove_section("mutmut")
    config["mutmut"] = {
        "source_paths": "\n" + "\n".join(packages),
        "only_mutate": module,
        "pytest_add_cli_args_test_selection": "\n" + "\n".join(tests),
        # The tests import pykka and grpc through the conftest: fork workers from a clean server process.
        "process_isolation": "forkserver",
        "use_git_change_detection": "false",
        # A mutant that loops (``i += 0``) is stopped after ~10x its tests' CPU time plus 5 s, not 30x plus 30 s.
        "timeout_multiplier": "5",
        "timeout_constant": "0.5",
    }
    with open(where / "setup.cfg", "w") as out:
        config.write(out)
    return where


def run_module(module: str, tests: list[str], jobs: int, equivalents: list[Equivalent]) -> Outcome:
    missing = [path for path in [module, *tests] if not (ROOT / path).exists()]
    if missing:
        sys.exit(f"{module}: missing {', '.join(missing)} (see mutation/modules.toml)")
    where = scratch_copy(module, tests)
    print(f"== {module}: mutants against {' '.join(tests)} (in {where.relative_to(ROOT)})", flush=True)
    with open(where / "run.log", "w") as log:
        code = subprocess.call(
            [sys.executable, "-m", "mutmut", "run", "--max-children", str(jobs)],
            cwd=where,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
    meta = where / "mutants" / (module + ".meta")
    if code != 0 or not meta.exists():
        tail = (where / "run.log").read_text(errors="replace")[-3000:]
        print(tail)
        print(f"{module}: mutmut failed (exit {code}); the log is {where / 'run.log'}")
        sys.exit(2)
    from mutmut.stats import status_by_exit_code

    outcome = Outcome(module)
    for name, exit_code in json.loads(meta.read_text())["exit_code_by_key"].items():
        outcome.statuses[name] = status_by_exit_code[exit_code]
    if outcome.survivors:
        shown = subprocess.run(
            [sys.executable, str(Path(__file__).resolve()), "--diffs", *outcome.survivors],
            cwd=where,
            capture_output=True,
            text=True,
            check=True,
        )
        outcome.diffs = json.loads(shown.stdout)
    for name in outcome.survivors:
        change, function = change_of(outcome.diffs.get(name, "")), function_of(name, module)
        for known in equivalents:
            if (known.module, known.function, known.change) == (module, function, change):
                outcome.equivalent[name] = known.reason
    report(outcome, where)
    return outcome


def report(outcome: Outcome, where: Path) -> None:
    lines = []
    for name in outcome.survivors:
        status = outcome.statuses[name]
        reason = outcome.equivalent.get(name)
        lines.append(f"-- {name} ({status}{', equivalent: ' + reason if reason else ''})")
        lines.append(outcome.diffs.get(name, "(no diff)"))
        if reason is None:
            lines.append("   to accept it as equivalent, add to mutation/equivalent.toml:")
            lines.append("[[equivalent]]")
            lines.append(f'module = "{outcome.module}"')
            lines.append(f'function = "{function_of(name, outcome.module)}"')
            lines.append(f"change = {json.dumps(list(change_of(outcome.diffs.get(name, ''))), ensure_ascii=False)}")
            lines.append('reason = "..."')
    (where / "survivors.txt").write_text("\n".join(lines) + "\n")
    for name in outcome.unexplained:
        print(f"   survived: {name}")
        print("      " + "\n      ".join(outcome.diffs.get(name, "(no diff)").splitlines()[3:]))


def diffs(names: list[str]) -> None:
    """Prints the diff of each mutant as JSON (run in a scratch copy, where mutmut finds its config)."""
    from mutmut.mutation.diff_apply import get_diff_for_mutant

    print(json.dumps({name: get_diff_for_mutant(name) for name in names}))


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("modules", nargs="*", help="modules of mutation/modules.toml (default: all)")
    parser.add_argument("--jobs", type=int, default=1, help="mutants tested at once (default 1: the machine is shared)")
    parser.add_argument("--diffs", nargs="+", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.diffs:
        diffs(args.diffs)
        return 0
    modules, threshold = load_modules()
    chosen = [module.removeprefix("./") for module in args.modules] or list(modules)
    unknown = [module for module in chosen if module not in modules]
    if unknown:
        parser.error(f"not in mutation/modules.toml: {', '.join(unknown)} (known: {', '.join(modules)})")
    equivalents = load_equivalents()
    outcomes = [run_module(module, modules[module], args.jobs, equivalents) for module in chosen]
    print()
    print(f"{'module':32} {'mutants':>7} {'killed':>6} {'survived':>8} {'equiv.':>6} {'score':>6}")
    for o in outcomes:
        print(
            f"{o.module:32} {len(o.statuses):7} {o.killed:6} {len(o.survivors):8} {len(o.equivalent):6} "
            f"{o.score:6.1%}{'' if o.score >= threshold else '  < ' + format(threshold, '.0%')}"
        )
    short = [o.module for o in outcomes if o.score < threshold]
    if short:
        print(f"under {threshold:.0%} of the non-equivalent mutants killed: {', '.join(short)}")
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
