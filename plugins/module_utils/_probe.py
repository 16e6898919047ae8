# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Several read-only commands in one module run (the ``probe`` module).

A converge that changes nothing spends most of its time starting modules: each ``command`` task that only reads
(``dpkg-query``, ``systemctl show``, ``stat``) costs a module run of its own. :func:`run_all` runs a set of named
commands concurrently (no shell) and returns what each printed and its exit code, in the shape of a registered
``command`` result, so the filters that read those keep working.
"""

from __future__ import annotations

import concurrent.futures
import dataclasses
import os
import subprocess
from typing import Any, Callable, Dict, List, Mapping, Optional, Sequence, Tuple

# At most this many commands at a time (the host's own work; a probe is a handful of short reads).
MAX_WORKERS = 8


class ProbeError(ValueError):
    """A command set that cannot be run (the message names the command and what to fix)."""


@dataclasses.dataclass(frozen=True)
class Command:
    name: str
    argv: Tuple[str, ...]
    ok_rcs: Optional[Tuple[int, ...]] = None  # None: any exit code is a result, not a failure
    stdin: Optional[str] = None


@dataclasses.dataclass
class Result:
    rc: int
    stdout: str
    stderr: str

    def as_dict(self) -> Dict[str, Any]:
        return {"rc": self.rc, "stdout": self.stdout, "stderr": self.stderr,
                "stdout_lines": self.stdout.splitlines(), "stderr_lines": self.stderr.splitlines()}


def parse(commands: Mapping[str, Any]) -> List[Command]:
    """The commands of the module's ``commands`` option: name -> argv (a list), or name -> ``{argv, stdin, ok_rcs}``."""
    if not commands:
        raise ProbeError("commands is empty: give at least one name -> argv")
    parsed = []
    for name, spec in commands.items():
        ok_rcs = stdin = None
        if isinstance(spec, Mapping):
            unknown = sorted(set(spec) - {"argv", "ok_rcs", "stdin"})
            if unknown:
                raise ProbeError("commands.%s: unknown key(s) %s (argv, stdin and ok_rcs are known)"
                                 % (name, ", ".join(unknown)))
            argv, ok_rcs, stdin = spec.get("argv"), spec.get("ok_rcs"), spec.get("stdin")
            if stdin is not None and not isinstance(stdin, str):
                raise ProbeError("commands.%s: stdin must be a text, got %s" % (name, type(stdin).__name__))
        else:
            argv = spec
        if isinstance(argv, (str, bytes)) or not isinstance(argv, Sequence) or not argv:
            raise ProbeError("commands.%s: argv must be a non-empty list of arguments (no shell), got %r"
                             % (name, type(argv).__name__))
        if ok_rcs is not None:
            try:
                ok_rcs = tuple(int(rc) for rc in ok_rcs)
            except (TypeError, ValueError):
                raise ProbeError("commands.%s: ok_rcs must be a list of exit codes" % name) from None
        parsed.append(Command(str(name), tuple(str(arg) for arg in argv), ok_rcs, stdin))
    return parsed


def _run(command: Command, timeout: float) -> Result:
    env = dict(os.environ, LC_ALL="C", LANG="C")
    try:
        if command.stdin is None:
            done = subprocess.run(list(command.argv), stdin=subprocess.DEVNULL, capture_output=True, env=env,
                                  timeout=timeout, check=False)
        else:
            done = subprocess.run(list(command.argv), input=command.stdin.encode("utf-8"), capture_output=True, env=env,
                                  timeout=timeout, check=False)
    except FileNotFoundError:
        return Result(127, "", "%s: command not found" % command.argv[0])
    except PermissionError as error:
        return Result(126, "", "%s: %s" % (command.argv[0], error.strerror))
    except subprocess.TimeoutExpired:
        return Result(124, "", "%s: no answer within %g s" % (command.argv[0], timeout))
    return Result(done.returncode, done.stdout.decode("utf-8", "replace").rstrip("\n"),
                  done.stderr.decode("utf-8", "replace").rstrip("\n"))


def run_all(commands: Sequence[Command], timeout: float = 60.0,
            runner: Callable[[Command, float], Result] = _run) -> Tuple[Dict[str, Result], List[str]]:
    """Each command's result by name, and a message for each whose exit code is not one of its ``ok_rcs``."""
    with concurrent.futures.ThreadPoolExecutor(max_workers=min(MAX_WORKERS, len(commands)) or 1) as pool:
        futures = {command.name: pool.submit(runner, command, timeout) for command in commands}
        results = {name: future.result() for name, future in futures.items()}
    failures = []
    for command in commands:
        result = results[command.name]
        if command.ok_rcs is not None and result.rc not in command.ok_rcs:
            detail = (result.stderr or result.stdout).strip().splitlines()
            failures.append("%s (%s) exited with %d%s" % (command.name, command.argv[0], result.rc,
                                                          ": " + detail[-1][:300] if detail else ""))
    return results, failures
